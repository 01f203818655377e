"""``recorder demo``: the main job, end to end, on a fresh machine.

This first version drives the bundled simulator's pure session driver (seeded market makers,
takers and two trading clients, with one injected order-channel gap and one exchange restart),
journals everything ``client-1`` sent and received exactly as a capture point would — one session,
both channels, both clocks — then verifies the journal and shows one order's whole story. The
live demo (a market-making bot on the SDK against the simulator over CURVE sockets) replaces the
driver once the SDK lands; the journal it writes reads the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recorder.journal import Journal, open_journal
from recorder.journal.verify import VerifyReport, verify
from recorder.journal.writer import Durability
from recorder.sim.faults import FaultKind
from recorder.sim.session import ScheduledFault, Session, SessionConfig, frames_for
from recorder.venues.lx.records import to_record

PARTICIPANT = "client-1"


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo did: the journal it wrote, how much, and ``verify``'s verdict."""

    journal: Path
    frames: int
    sessions: int
    report: VerifyReport
    sample_mid: str


def run_demo(
    journal_path: Path,
    *,
    steps: int = 20_000,
    seed: int = 7,
    durability: Durability = "safe",
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Simulate ``steps`` exchange steps and journal ``client-1``'s traffic into a new file."""
    for suffix in ("", "-wal", "-shm", "-writer.lock"):
        Path(f"{journal_path}{suffix}").unlink(missing_ok=True)
    config = SessionConfig(
        seed=seed,
        steps=steps,
        restart_at=(steps * 2 // 3,),
        faults=(ScheduledFault(steps // 3, FaultKind.DROP_NEXT, PARTICIPANT, count=5),),
    )
    session = Session(config)
    with open_journal(journal_path, durability=durability) as journal:
        sid = journal.start_session(
            venue="lx1", capture_point="demo", participant=PARTICIPANT, order_endpoint="sim"
        )
        batch = []
        while session.step_no < steps:
            for frame in frames_for(PARTICIPANT, session.step()):
                batch.append(
                    to_record(
                        frame.data,
                        session_id=sid,
                        channel=frame.channel,
                        direction=frame.direction,
                        wall_ns=frame.wall_ns,
                        mono_ns=frame.mono_ns,
                    )
                )
            if len(batch) >= 500 or session.step_no == steps:
                journal.append(batch)
                batch = []
                if progress is not None:
                    progress(session.step_no, steps)
        journal.end_session(sid, "demo finished")
    with open_journal(journal_path, readonly=True) as journal:
        report = verify(journal)
        return DemoResult(
            journal_path, report.frames, len(journal.sessions()), report, _mid(journal)
        )


def _mid(journal: Journal) -> str:
    """A request with a rich story: the order with the most frames."""
    best, best_count = "", 0
    for frame in journal.frames():
        if frame.kind == "LimitOrder":
            count = len(journal.by_mid(frame.mid))
            if count > best_count:
                best, best_count = frame.mid, count
                if count >= 4:
                    break
    return best
