"""``recorder capture`` as a process: embedded upstream, status, a bot, SIGTERM ends it cleanly."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from plain_bot import PB, PlainBot, limit

from recorder.cli import main
from recorder.journal import open_journal
from recorder.journal.spool import spool_path
from recorder.journal.verify import verify
from recorder.keys import KeyPair

RECORDER = [sys.executable, "-c", "from recorder.cli import main; main()"]


def write_config(folder: Path) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f"""
[journal]
path = "{folder / "capture.journal"}"
durability = "safe"
[keys]
dir = "{folder / "keys"}"
[exchange]
server_key = "{folder / "keys" / "exchange.key"}"
[sim]
order_bind = "tcp://127.0.0.1:*"
market_bind = "tcp://127.0.0.1:*"
control_bind = "tcp://127.0.0.1:*"
heartbeat_ms = 100
makers = 1
takers = 1
[capture]
order_bind = "tcp://127.0.0.1:*"
market_bind = "tcp://127.0.0.1:*"
status_bind = "tcp://127.0.0.1:*"
server_key = "{folder / "keys" / "capture.key"}"
participant_key = "{folder / "keys" / "participant.key"}"
bot_keys_dir = "{folder / "keys" / "bots"}"
status_log_s = 0.2
"""
    )
    return config


def _connect_bot(proc: subprocess.Popen[str], folder: Path) -> tuple[dict[str, str], PlainBot]:
    """Read what ``recorder capture`` prints (the endpoints, then "ready"); connect a plain bot
    with the participant's key."""
    assert proc.stdout is not None
    printed: dict[str, str] = {}
    for line in proc.stdout:
        if line.strip() == "ready":
            break
        key, _, value = line.partition(" ")
        printed[key] = value.strip()
    participant = KeyPair.load_certificate(folder / "keys" / "participant.key")
    assert participant.private is not None
    bot = PlainBot(
        printed["orders"], printed["market"], server_key=printed["server"].encode(),
        public=participant.public, secret=participant.private,
    )  # fmt: skip
    return printed, bot


def test_capture_command_serves_a_bot_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {**os.environ, "RECORDER_CONFIG": str(config)}
    proc = subprocess.Popen(
        [*RECORDER, "capture"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        printed, bot = _connect_bot(proc, tmp_path)
        try:
            replies = bot.request("limit_order", limit(1, is_ask=False, size=1, price=4000))
            assert replies[0].status.code == PB.ACK
            bot.market_recv()
            status = CliRunner().invoke(
                main, ["--config", str(config), "capture", "status", "--status", printed["status"],
                       "--json"],
            )  # fmt: skip
            assert status.exit_code == 0, status.output
            figures = json.loads(status.output)
            assert figures["bots_connected"] == 1 and figures["frames"] > 0
            assert figures["journal_bytes"] > 0 and figures["open_gaps"] >= 0
        finally:
            bot.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped   SIGTERM" in out
    assert 'msg="capture started"' in err and 'msg="capture stopped"' in err
    with open_journal(tmp_path / "capture.journal", readonly=True) as journal:
        session = journal.sessions()[-1]
        assert session.end_reason == "SIGTERM" and session.ended_wall_ns
        frames = list(journal.frames())
        assert bot.sent[0] in {f.payload for f in frames}
        assert set(bot.received) <= {f.payload for f in frames}
        assert verify(journal).ok


def test_a_killed_capture_service_loses_no_frame_it_forwarded(tmp_path: Path) -> None:
    """SIGKILL mid-session: the committer process finishes what it was handed, the next open
    merges the spool, and every frame the bot sent or received is in the journal."""
    config = write_config(tmp_path)
    env = {**os.environ, "RECORDER_CONFIG": str(config)}
    proc = subprocess.Popen(
        [*RECORDER, "capture"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env,
    )  # fmt: skip
    try:
        printed, bot = _connect_bot(proc, tmp_path)
        try:
            for price in range(4000, 4040):
                replies = bot.request("limit_order", limit(1, is_ask=False, size=1, price=price))
                assert replies[0].status.code == PB.ACK
            status = json.loads(
                CliRunner()
                .invoke(main, ["capture", "status", "--status", printed["status"], "--json"])
                .output
            )
            committer = os.pidfd_open(status["committer_pid"])
        finally:
            bot.close()
        proc.kill()
        proc.wait()
        select.select([committer], [], [])  # the committer, alone now, finishes and exits
        os.close(committer)
    finally:
        if proc.poll() is None:
            proc.kill()
    with open_journal(tmp_path / "capture.journal", readonly=True) as journal:
        session = journal.sessions()[-1]
        assert not session.ended_wall_ns  # killed: the session never ended
        payloads = {f.payload for f in journal.frames()}
        assert set(bot.sent) <= payloads
        assert set(bot.received) <= payloads
        assert verify(journal).ok


def test_ctrl_c_on_the_process_group_stops_capture_cleanly(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole group, the committer process too: the service still
    commits everything, ends its session and leaves no spool behind."""
    config = write_config(tmp_path)
    env = {**os.environ, "RECORDER_CONFIG": str(config)}
    proc = subprocess.Popen(
        [*RECORDER, "capture"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, start_new_session=True,
    )  # fmt: skip
    try:
        _, bot = _connect_bot(proc, tmp_path)
        try:
            replies = bot.request("limit_order", limit(1, is_ask=False, size=1, price=4000))
            assert replies[0].status.code == PB.ACK
        finally:
            bot.close()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    journal_path = tmp_path / "capture.journal"
    assert not spool_path(journal_path).exists(), err
    with open_journal(journal_path, readonly=True) as journal:
        assert journal.sessions()[-1].end_reason == "SIGINT"
        assert set(bot.sent) | set(bot.received) <= {f.payload for f in journal.frames()}


def test_capture_status_without_a_service_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["capture", "status", "--status", "tcp://127.0.0.1:9"], catch_exceptions=False
    )
    assert result.exit_code == 1 and "no capture service answered" in result.output
