"""Key pairs and their certificate files: what a hand-edited, corrupt or missing file gives (a
CertificateError naming it, never a traceback or a stale pair), and how the secret is written
(0600 from creation, never through a planted link, in a folder only its owner may write).
Found in review."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from recorder.errors import CertificateError
from recorder.keys import KeyPair


@pytest.mark.parametrize(
    ("public", "private", "says"),
    [
        (b";" * 40, None, "is not z85 text"),
        (KeyPair.generate().public, b";" * 40, "is not z85 text"),
        (KeyPair.generate().public, KeyPair.generate().private, "does not belong"),
    ],
    ids=["bad-public", "bad-secret", "mixed-pair"],
)
def test_a_key_that_is_not_a_curve_key_is_refused(
    public: bytes, private: bytes | None, says: str
) -> None:
    with pytest.raises(CertificateError, match=says):
        KeyPair(public, private)


def test_a_hand_edited_certificate_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "bot.key"
    KeyPair.generate().save_certificate(path)
    secret = Path(f"{path}_secret")
    text = secret.read_text()
    edited = text.replace(text.split('secret-key = "')[1][:5], ";;;;;")
    secret.write_text(edited)
    with pytest.raises(CertificateError, match=f"{secret}: the secret key is not z85") as refused:
        KeyPair.load_certificate(path)
    assert edited.split('secret-key = "')[1][:40] not in str(refused.value)  # never echoed


def test_a_corrupt_or_missing_certificate_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("metadata\ncurve\n    public-key\n")  # a line zmq.auth cannot split
    with pytest.raises(CertificateError, match=f"{bad} is not a ZeroMQ CURVE certificate"):
        KeyPair.load_certificate(bad)
    with pytest.raises(CertificateError, match="does not exist; create it with"):
        KeyPair.load_certificate(tmp_path / "missing.key")


def test_overwriting_with_a_public_only_pair_leaves_no_old_secret(tmp_path: Path) -> None:
    path = tmp_path / "exchange.key"
    KeyPair.generate().save_certificate(path)
    fresh = KeyPair(KeyPair.generate().public)
    fresh.save_certificate(path, overwrite=True)
    assert KeyPair.load_certificate(path) == fresh  # not the old pair from a stale _secret


def test_the_secret_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.write_text("")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "bot.key_secret.tmp").symlink_to(outside)
    pair = KeyPair.generate()
    pair.save_certificate(keys / "bot.key")
    assert pair.private is not None and outside.read_text() == ""
    secret = keys / "bot.key_secret"
    assert not secret.is_symlink() and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert KeyPair.load_certificate(keys / "bot.key") == pair


def test_the_keys_folder_is_the_owners_alone_whatever_the_umask(tmp_path: Path) -> None:
    code = (
        "import os, sys; from pathlib import Path; os.umask(0);"
        "from recorder.keys import KeyPair;"
        "KeyPair.generate().save_certificate(Path(sys.argv[1]) / 'var' / 'keys' / 'p.key')"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    folder = tmp_path / "var" / "keys"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "p.key_secret").stat().st_mode) == 0o600
    assert os.access(folder / "p.key", os.R_OK)


@pytest.mark.parametrize("bad", [";" * 40, "é" * 40, "short"])
def test_a_bad_bot_key_in_the_configuration_is_named(tmp_path: Path, bad: str) -> None:
    from recorder.capture.runner import capture_keys
    from recorder.config import CaptureConfig, Config
    from recorder.errors import ConfigError

    good = KeyPair.generate().public_text
    capture = CaptureConfig(
        server_key=tmp_path / "capture.key",
        participant_key=tmp_path / "participant.key",
        bot_keys_dir=tmp_path / "bots",
        bot_keys=f"{good}, {bad}",
    )
    with pytest.raises(ConfigError, match=r"\[capture\] bot_keys: .* is not a bot's public key"):
        capture_keys(Config(capture=capture))
