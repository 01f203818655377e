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
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _journals import journal_for
from _report import machine, median, publish, table

from recorder.examples.processors import NullProcessor
from recorder.journal import Journal, open_journal
from recorder.replay import Replayer
from recorder.venues.lx import lx1_pb2 as pb

TARGET = 150_000


class NoOp(NullProcessor):
    """Every handler returns at once (``on_call`` does nothing)."""


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
    path = journal_for(frames, args.workdir)
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
    publish("replay", body, write=not args.quick and not args.no_docs)


if __name__ == "__main__":
    main()
