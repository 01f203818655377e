"""Configuration: defaults < file < environment < flags; clear errors naming key, source, type."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.config import Config, load_config
from recorder.errors import ConfigError


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config.toml here
    config = load_config(None, environ={})
    assert config.source is None
    assert isinstance(config, Config)
    assert config.journal.durability == "safe"


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[journal]\npath = "file.journal"\ndurability = "strict"\n[sim]\nseed = 1\n')
    env = {"RECORDER_JOURNAL__PATH": "env.journal", "RECORDER_SIM__SEED": "2"}
    config = load_config(file, environ=env, overrides={("journal", "path"): Path("flag.journal")})
    assert config.journal.path == Path("flag.journal")  # flag beats env
    assert config.sim.seed == 2  # env beats file
    assert config.journal.durability == "strict"  # file beats default
    assert config.source == file


def test_recorder_config_env_picks_the_file(tmp_path: Path) -> None:
    file = tmp_path / "picked.toml"
    file.write_text("[sim]\nmakers = 9\n")
    assert load_config(environ={"RECORDER_CONFIG": str(file)}).sim.makers == 9
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(environ={"RECORDER_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[journal]\nspeed = 3\n", "unknown key journal.speed in {file}"),
        ("[jornal]\npath = 'x'\n", "unknown section [jornal] in {file}"),
        ("[journal]\nfast_batch = 'lots'\n", "journal.fast_batch in {file} must be an integer"),
        ("[journal]\ndurability = 'maybe'\n", "must be one of 'strict', 'safe', 'fast'"),
        ("[journal]\nfast_batch = true\n", "must be an integer"),
        ("[journal]\npath = 3\n", "journal.path in {file} must be a path"),
        ("journal = 3\n", "must be a table"),
        ("[journal\n", "is not valid TOML"),
    ],
)
def test_file_errors_name_key_file_and_type(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    assert message.format(file=file) in str(info.value)


def test_environment_values_are_parsed_and_checked(tmp_path: Path) -> None:
    assert load_config(environ={"RECORDER_JOURNAL__FAST_BATCH": "17"}).journal.fast_batch == 17
    with pytest.raises(ConfigError, match="RECORDER_JOURNAL__FAST_BATCH must be an integer"):
        load_config(environ={"RECORDER_JOURNAL__FAST_BATCH": "x"})
    with pytest.raises(ConfigError, match="unknown section \\[nope\\]"):
        load_config(environ={"RECORDER_NOPE__X": "1"})
    with pytest.raises(ConfigError, match=r"unknown key journal\.nope"):
        load_config(environ={"RECORDER_JOURNAL__NOPE": "1"})


def test_config_is_frozen() -> None:
    config = load_config(environ={})
    with pytest.raises(AttributeError):
        config.journal.path = Path("x")  # type: ignore[misc]


def test_shipped_config_toml_loads() -> None:
    shipped = Path(__file__).resolve().parents[1] / "config.toml"
    assert load_config(shipped, environ={}).source == shipped


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    file = tmp_path / "latin1.toml"
    file.write_bytes(b'[journal]\npath = "caf\xe9.journal"\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml is not UTF-8 text \(byte 0xe9"):
        load_config(file, environ={})
