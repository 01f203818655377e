"""Replay throughput: frames per second from a journal into a no-op ``MessageProcessor``.

The journal is one bot's capture written by the simulator's pure session driver
(:mod:`recorder.sim.session`: the bot among makers and takers on 4 contracts, run restarts, dropped
order frames replayed and dropped market frames resynced) through ``Journal.append``, cached in
``--workdir``. Measured, interleaved, medians of ``--repeat`` runs:

* **scan**: ``Journal.rows`` alone — the floor;
* **scan + parse**: the same plus ``Envelope.FromString`` on every payload — the ceiling of any
  replay that hands envelopes to handlers;
* **replay**: :class:`recorder.replay.Replayer` into a no-op processor (every handler called with
  the live ``msg`` / ``prev_msg``: sequencing, MID store, silence watch);
* **replay + state**: the same with the projector kept in step (``Replayer.state()`` at the start).

    python bench/replay.py            # 1,000,000 frames, 3 repeats, updates docs/benchmarks.md
    python bench/replay.py --quick    # 100,000 frames, 1 repeat, prints only
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, median, table, write_section

from recorder.core.frames import FrameFlag, FrameRecord
from recorder.errors import RemoteProtocolError
from recorder.examples.processors import NullProcessor
from recorder.journal import Journal, open_journal
from recorder.journal.migrate import current_revision, head_revision, upgrade
from recorder.replay import Replayer
from recorder.sim.faults import FaultKind
from recorder.sim.session import ScheduledFault, Session, SessionConfig
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import frame_meta

BOT = "client-1"
TARGET = 150_000


class NoOp(NullProcessor):
    """Every handler returns at once (``on_call`` does nothing)."""


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
    for stale in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        stale.unlink(missing_ok=True)
    session = Session(sim_config(seed))
    written = 0
    with open_journal(tmp, durability="fast", create=True) as j:
        sid = j.start_session(venue="lx1", capture_point="bench", participant=BOT)
        batch: list[FrameRecord] = []
        while written + len(batch) < frames:
            for f in session.step():
                if f.participant not in (None, BOT):
                    continue
                try:
                    m = frame_meta(f.data)
                    meta = (m.run_id, m.seq, m.mid, m.kind, m.is_replay, 0)
                except RemoteProtocolError:
                    meta = ("", 0, "", "", False, int(FrameFlag.MALFORMED))
                batch.append(FrameRecord(sid, f.channel, f.direction, f.wall_ns, f.mono_ns,
                                         *meta, f.data))  # fmt: skip
            if len(batch) >= 5000:
                take = batch[: frames - written]
                j.append(take)
                written += len(take)
                batch = []
        if written < frames:
            j.append(batch[: frames - written])
        j.end_session(sid, "bench journal complete")
    tmp.rename(path)
    for suffix in ("-wal", "-shm", "-writer.lock"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def journal_for(workdir: Path, frames: int) -> Path:
    """The cached journal of ``frames`` frames (generated on first use)."""
    path = workdir / f"replay-{frames}.journal"
    if path.exists():
        if current_revision(path) != head_revision():  # before apsw opens it (rule 5)
            print(f"upgrading {path} to the current schema ...", flush=True)
            upgrade(path)
    else:
        t = time.perf_counter()
        print(f"generating {frames:,} frames into {path} ...", flush=True)
        generate(path, frames)
        print(f"  done in {time.perf_counter() - t:.1f} s", flush=True)
    return path


def scan(j: Journal) -> int:
    n = 0
    for _ in j.rows():
        n += 1
    return n


def scan_parse(j: Journal) -> int:
    parse = pb.Envelope.FromString
    n = 0
    for row in j.rows():
        if not row[11]:
            parse(row[12])
        n += 1
    return n


def replay(j: Journal) -> int:
    return Replayer(j, NoOp()).run().frames


def replay_state(j: Journal) -> int:
    replayer = Replayer(j, NoOp())
    n = 0
    for position in replayer.steps():
        if position == 1:
            replayer.state()  # from now on the projector is kept in step
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100k frames, 1 repeat, no docs")
    ap.add_argument("--frames", type=int, default=None, help="journal size (1,000,000)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per measure (3)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/recorder-bench"))
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args()
    frames = args.frames or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (1 if args.quick else 3)
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = journal_for(args.workdir, frames)
    measures: dict[str, Callable[[Journal], int]] = {
        "scan only (Journal.rows)": scan,
        "scan + protobuf parse": scan_parse,
        "replay into a no-op processor": replay,
        "replay + projector state kept in step": replay_state,
    }
    times: dict[str, list[float]] = {name: [] for name in measures}
    with open_journal(path, readonly=True) as j:
        n = j.head_position()
        kinds = sum(1 for r in j.rows() if r[2] == "market")
        for _ in range(repeat):
            for name, fn in measures.items():
                gc.collect()
                t = time.perf_counter()
                done = fn(j)
                times[name].append(time.perf_counter() - t)
                assert done == n, (name, done, n)
    rows: list[list[Any]] = []
    rates: dict[str, float] = {}
    for name in measures:
        seconds = median(times[name])
        rates[name] = n / seconds
        rows.append([name, f"{n / seconds:,.0f} frames/s", f"{seconds:.2f} s"])
    rate = rates["replay into a no-op processor"]
    verdict = "met" if rate >= TARGET else "NOT met"
    rows.append(["replay / scan + parse", f"{rate / rates['scan + protobuf parse']:.0%}", ""])
    body = "\n".join(
        [
            "## Replay (`bench/replay.py`)",
            "",
            f"{machine()}; medians of {repeat} interleaved runs over a {n:,}-frame journal "
            f"({kinds / n:.0%} market channel) written by the simulator's session driver "
            "(one bot among makers and takers, run restarts, replayed gaps, resynced books).",
            "",
            table(["measure", "median", "time"], rows),
            "",
            f"Replay into a no-op processor: **{rate:,.0f} frames/s** (target >= "
            f"{TARGET:,}: {verdict}). Every frame is parsed and goes through the live dispatch "
            "(silence watch, per-channel sequencer, MID store for `prev_msg`) before its handler "
            "is called.",
        ]
    )
    print(body)
    if not args.quick and not args.no_docs:
        write_section("replay", body)


if __name__ == "__main__":
    main()
