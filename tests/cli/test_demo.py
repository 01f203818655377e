"""``recorder demo`` runs end to end (short) the way the README says — a market-making bot on the
SDK against the embedded simulator, with an outage and an exchange restart — and leaves a
journal that verifies and projects to what it printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from recorder.journal import open_journal
from recorder.journal.verify import verify
from recorder.projection import project


def test_demo_from_a_fresh_directory(tmp_path: Path) -> None:
    # The README's command with its defaults, in a directory with nothing in it (a fresh
    # clone has no var/): only --seconds is shortened.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDER_")}
    result = subprocess.run(
        [sys.executable, "-c", "from recorder.cli import main; main()", "demo", "--seconds", "4"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    journal = tmp_path / "var" / "demo.journal"
    assert "verify: OK" in out
    assert "outage: the exchange cut the bot's order connection" in out
    assert "exchange restart: new run" in out
    assert "the SDK noticed the silence, reconnected" in out
    for table in ("books", "the bot's open orders", "positions", "gap ledger"):
        assert table in out
    for command in ("recorder verify --journal var/demo.journal", "recorder replay --journal",
                    "recorder audit --journal", "recorder export --journal"):  # fmt: skip
        assert command in out
    with open_journal(journal, readonly=True) as j:
        report = verify(j)
        sessions = j.sessions()
        kinds = {f.kind for f in j.frames()}
        gaps = j.gaps()
    assert report.ok and report.frames > 500
    assert len(sessions) == 2  # the reconnect after the outage
    assert {"LimitOrder", "CancelReplace", "Status", "ActionReport", "BookTop"} <= kinds
    assert gaps and all(g.state in ("filled", "unrecoverable") for g in gaps)
    state = project(journal)
    assert len(state.fills) > 0 and f"({len(state.fills)} fills)" in out
    assert f"the bot's open orders ({len(state.open_orders)})" in out
