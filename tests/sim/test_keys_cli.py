"""KeyPair certificates, ``recorder keys generate`` and ``recorder sim`` from the command line."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq.auth
from click.testing import CliRunner

from recorder.cli import main
from recorder.cli import sim as sim_cli
from recorder.errors import CertificateError
from recorder.keys import KeyPair, public_keys_in
from recorder.sim.control import ControlClient


def test_keypair_round_trip_and_zmq_auth_format(tmp_path: Path) -> None:
    pair = KeyPair.generate()
    secret = pair.save_certificate(tmp_path / "bot.key")
    assert secret == tmp_path / "bot.key_secret"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert KeyPair.load_certificate(tmp_path / "bot.key") == pair  # picks up the secret
    assert KeyPair.load_certificate(secret) == pair
    assert zmq.auth.load_certificate(secret) == (pair.public, pair.private)
    assert zmq.auth.load_certificate(tmp_path / "bot.key") == (pair.public, None)
    assert "secret-key" not in (tmp_path / "bot.key").read_text()
    with pytest.raises(CertificateError, match="exists"):
        pair.save_certificate(tmp_path / "bot.key")
    (tmp_path / "junk.key").write_text("nonsense")
    with pytest.raises(CertificateError):
        KeyPair.load_certificate(tmp_path / "junk.key")
    with pytest.raises(CertificateError):
        KeyPair.load_certificate(tmp_path / "missing.key")


def test_keys_generate_command(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["keys", "generate", "alice", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pair = KeyPair.load_certificate(tmp_path / "alice.key")
    assert pair.public_text in result.output and pair.private is not None
    again = runner.invoke(main, ["keys", "generate", "alice", "--dir", str(tmp_path)])
    assert again.exit_code == 1 and "exists" in again.output
    assert [k.public for k in public_keys_in(tmp_path)] == [pair.public]


def test_recorder_sim_runs_takes_faults_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[exchange]\nserver_key = "{tmp_path}/keys/exchange.key"\n'
        f'[keys]\ndir = "{tmp_path}/keys"\n'
        '[sim]\norder_bind = "tcp://127.0.0.1:*"\nmarket_bind = "tcp://127.0.0.1:*"\n'
        'control_bind = "tcp://127.0.0.1:*"\n'
    )
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "recorder"),
            "--config",
            str(config),
            "sim",
            "--contracts",
            "5",
            "--seed",
            "7",
            "--makers",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: dict[str, str] = {}
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while "control" not in lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            key, _, value = line.strip().partition(" ")
            lines[key] = value.strip()
        assert "control" in lines, proc.stderr.read() if proc.stderr else ""
        assert (tmp_path / "keys" / "exchange.key_secret").exists()
        assert (tmp_path / "keys" / "participant.key").exists()
        control = ControlClient(lines["control"])
        status = control.request("status")
        assert status["run_id"] == lines["run"]
        assert {"maker-1", "maker-2", "maker-3", "taker-1"} <= set(status["participants"])
        runner = CliRunner()
        result = runner.invoke(
            main,
            [
                "--config",
                str(config),
                "sim",
                "fault",
                "drop-next",
                "5",
                "-p",
                "participant",
                "--control",
                lines["control"],
            ],
        )
        assert result.exit_code == 0, result.output
        result = runner.invoke(
            main,
            ["--config", str(config), "sim", "fault", "restart", "--control", lines["control"]],
        )
        assert result.exit_code == 0, result.output
        assert control.request("status")["run_id"] != lines["run"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_every_fault_command_sends_its_op(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(sim_cli, "_fault", lambda _app, _ep, op, **args: sent.append((op, args)))
    key = KeyPair.generate().public_text
    runner = CliRunner()
    cases = [
        (["drop-next", "3", "-p", key],
         ("drop_next", {"count": 3, "replies_only": False, "participant": key})),
        (["drop-next", "3", "--replies-only", "-p", key],
         ("drop_next", {"count": 3, "replies_only": True, "participant": key})),
        (["drop-ack", "-p", key], ("drop_ack", {"participant": key})),
        (["drop-after-ack", "-p", key], ("drop_after_ack", {"participant": key})),
        (["drop-requests", "2", "-p", key], ("drop_requests", {"count": 2, "participant": key})),
        (["drop-market", "4"], ("drop_market", {"count": 4})),
        (["duplicate", "-p", key], ("duplicate", {"count": 1, "participant": key})),
        (["delay", "50", "--count", "2", "-p", key],
         ("delay", {"ms": 50, "count": 2, "participant": key})),
        (["disconnect", "-p", key], ("disconnect", {"participant": key})),
        (["restart"], ("restart", {})),
        (["garbage", "--size", "8"], ("garbage", {"size": 8, "participant": None})),
        (["clear", "-p", key], ("clear", {"participant": key})),
    ]  # fmt: skip
    for argv, expected in cases:
        result = runner.invoke(main, ["sim", "fault", *argv])
        assert result.exit_code == 0, (argv, result.output)
        assert sent.pop() == expected
    result = runner.invoke(main, ["sim", "fault", "drop-ack"])
    assert result.exit_code == 2 and "--participant" in result.output
