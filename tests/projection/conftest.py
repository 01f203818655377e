"""Fixtures for projection tests: journals written from simulator sessions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from recorder.core.frames import FrameRecord
from recorder.journal import Journal, open_journal
from recorder.sim.faults import FaultKind
from recorder.sim.session import ScheduledFault, Session, SessionConfig, WireFrame
from recorder.venues.lx.records import to_record

ME = "client-1"


def records(session_id: int, frames: Iterable[WireFrame], who: str = ME) -> list[FrameRecord]:
    """Journal records of what ``who`` sent and received."""
    return [
        to_record(f.data, session_id=session_id, channel=f.channel, direction=f.direction,
                  wall_ns=f.wall_ns, mono_ns=f.mono_ns)
        for f in frames
        if f.participant in (None, who)
    ]  # fmt: skip


def config(seed: int = 3, steps: int = 6000) -> SessionConfig:
    """A busy session with a restart and gaps (replayed and lost)."""
    f = ScheduledFault
    return SessionConfig(
        seed=seed,
        steps=steps,
        clients=2,
        restart_at=(steps // 2,),
        faults=(
            f(steps // 10, FaultKind.DROP_NEXT, ME, count=5),
            f(steps // 7, FaultKind.DROP_MARKET, count=2),
            f(steps // 4, FaultKind.DELAY, ME, delay_ms=20, count=3),
        ),
    )


@pytest.fixture
def journal_factory(tmp_path: Path) -> Iterator[Callable[..., tuple[Journal, Session]]]:
    """``journal_factory(seed=..., steps=...)`` -> (an open journal of client-1's frames, the
    finished simulator session)."""
    opened: list[Journal] = []

    def make(
        seed: int = 3, steps: int = 6000, name: str = "sim.journal"
    ) -> tuple[Journal, Session]:
        logging.getLogger("recorder.sim").setLevel(logging.ERROR)
        j = open_journal(tmp_path / name, durability="fast", create=True)
        opened.append(j)
        sid = j.start_session(venue="lx1", capture_point="test", participant=ME)
        session = Session(config(seed, steps))
        batch = records(sid, session.run())
        for i in range(0, len(batch), 5000):
            j.append(batch[i : i + 5000])
        j.flush()
        return j, session

    yield make
    for j in opened:
        j.close()
