"""Realistic journals for the benchmarks, generated once with the simulator's session driver and
cached (``/tmp/recorder-bench`` by default): one bot's capture among market makers and takers on
four contracts, with run restarts, dropped order frames (replayed) and dropped market frames
(resynced) throughout.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from recorder.core.frames import FrameRecord
from recorder.journal import open_journal
from recorder.journal.migrate import current_revision, head_revision, upgrade
from recorder.sim.faults import FaultKind
from recorder.sim.session import ScheduledFault, Session, SessionConfig
from recorder.venues.lx.records import to_record

BOT = "client-1"
WORKDIR = Path("/tmp/recorder-bench")


def sim_config(seed: int) -> SessionConfig:
    """One bot trading among 6 background bots on 4 contracts; restarts and faults throughout."""
    steps = 10_000_000
    faults: list[ScheduledFault] = []
    for at in range(20_000, steps, 40_000):
        faults.append(ScheduledFault(at, FaultKind.DROP_NEXT, BOT, count=8))
        faults.append(ScheduledFault(at + 20_000, FaultKind.DROP_MARKET, count=2))
    return SessionConfig(
        seed=seed, steps=steps, contracts=4, clients=1, makers=4, takers=2, client_share=0.25,
        heartbeat_every=50, restart_at=tuple(range(300_000, steps, 300_000)), faults=tuple(faults),
    )  # fmt: skip


def generate(path: Path, frames: int, seed: int = 7) -> None:
    """Write the first ``frames`` frames the bot sees and sends into a new journal at ``path``."""
    logging.getLogger("recorder.sim").setLevel(logging.ERROR)
    tmp = path.with_suffix(".partial")
    for suffix in ("", "-wal", "-shm", "-writer.lock"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    session = Session(sim_config(seed))
    written = 0
    with open_journal(tmp, durability="fast") as journal:
        sid = journal.start_session(venue="lx1", capture_point="bench", participant=BOT)
        batch: list[FrameRecord] = []
        while written < frames:
            for f in session.step():
                if f.participant in (None, BOT):
                    batch.append(
                        to_record(f.data, session_id=sid, channel=f.channel,
                                  direction=f.direction, wall_ns=f.wall_ns, mono_ns=f.mono_ns)
                    )  # fmt: skip
            if len(batch) >= 5000 or written + len(batch) >= frames:
                take = batch[: frames - written]
                journal.append(take)
                written += len(take)
                batch = []
        journal.end_session(sid, "bench journal complete")
    tmp.rename(path)
    for suffix in ("-wal", "-shm", "-writer.lock"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def journal_for(frames: int, workdir: Path = WORKDIR) -> Path:
    """The cached journal of ``frames`` frames: generated on first use, upgraded if it is old."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"sim-{frames}.journal"
    if path.exists():
        if current_revision(path) != head_revision():  # before apsw opens it (rule 5)
            print(f"upgrading {path} to the current schema ...", flush=True)
            upgrade(path)
    else:
        started = time.perf_counter()
        print(f"generating {frames:,} frames into {path} ...", flush=True)
        generate(path, frames)
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return path
