"""Kill tests: a child appending is SIGKILLed at random points; what the journal promised stays.

``safe`` and ``strict``: every frame whose ``append`` returned is in the journal, intact, and the
chain verifies. ``fast``: what survives is an intact, verifiable prefix (its promise is weaker).
"""

from __future__ import annotations

import hashlib
import os
import random
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recorder.journal import open_journal
from recorder.journal.verify import verify

CHILD = Path(__file__).with_name("appender_child.py")


def _run_and_kill(
    path: Path, durability: str, batch: int, kill_after: int, *extra: str
) -> dict[int, str]:
    """Start the child, read ``kill_after`` acknowledgements, SIGKILL it; return what it acked.

    With a committer process (``safe+process``) only the appender is killed; this returns once
    its committer, left alone, has finished and exited."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), durability, str(batch), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    acked: dict[int, str] = {}
    assert child.stdout is not None
    committer = None
    try:
        for line in child.stdout:
            position, digest = line.split()
            if position == "committer":
                committer = os.pidfd_open(int(digest))
                continue
            acked[int(position)] = digest
            if len(acked) >= kill_after:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        if committer is not None:
            select.select([committer], [], [])  # readable once the committer has exited
            os.close(committer)
    # Lines already in the pipe were acknowledged before the kill, too.
    rest = child.stdout.read()
    for line in rest.splitlines():
        parts = line.split()
        if len(parts) == 2:
            acked[int(parts[0])] = parts[1]
    return acked


@pytest.mark.parametrize(
    "durability", ["safe", "strict", "safe+process", "safe:wire", "safe+process:wire"]
)
def test_every_acknowledged_frame_survives_sigkill(tmp_path: Path, durability: str) -> None:
    rng = random.Random(f"kill-{durability}")
    path = tmp_path / "kill.journal"
    total_acked = 0
    for round_ in range(6):
        acked = _run_and_kill(path, durability, rng.choice([1, 7, 64]), rng.randrange(1, 400))
        total_acked += len(acked)
        with open_journal(path, readonly=True) as journal:
            stored = {f.position: f.payload for f in journal.frames()}
            report = verify(journal)
        missing = [p for p in acked if p not in stored]
        assert not missing, f"round {round_}: acknowledged positions lost: {missing[:5]}"
        for position, digest in acked.items():
            assert hashlib.sha256(stored[position]).hexdigest() == digest
        chain_breaks = [b for b in report.breaks if b.kind in ("hash", "position")]
        assert not chain_breaks, chain_breaks
    assert total_acked > 0


@pytest.mark.parametrize("durability", ["safe", "strict", "fast", "safe+process:wire"])
def test_the_ledger_verifies_after_sigkill(tmp_path: Path, durability: str) -> None:
    """Sessions and gaps written among the frames, the writer killed anywhere: every event names
    a position the journal holds once its spool is merged, and every row is what its events say
    (a gap left open by the kill is the one break allowed)."""
    rng = random.Random(f"kill-ledger-{durability}")
    path = tmp_path / "ledger.journal"
    for _ in range(3):
        _run_and_kill(path, durability, rng.choice([1, 7]), rng.randrange(20, 300), "events")
        with open_journal(path, readonly=True) as journal:
            report = verify(journal)
            events = journal.ledger()
        assert [b for b in report.breaks if b.kind != "gap"] == [], report.breaks
        assert len(events) > 1 and max(e.position for e in events) <= report.head_position


def test_fast_mode_keeps_an_intact_prefix_after_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "fast.journal"
    for kill_after in (50, 500, 3000):
        acked = _run_and_kill(path, "fast", 16, kill_after)
        with open_journal(path, readonly=True) as journal:
            report = verify(journal)
            stored = {f.position: f.payload for f in journal.frames()}
        assert not [b for b in report.breaks if b.kind in ("hash", "position")]
        for position in stored:
            if position in acked:
                assert hashlib.sha256(stored[position]).hexdigest() == acked[position]
