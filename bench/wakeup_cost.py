"""What a piece of work costs right after the thread slept, against the same work in a hot loop.

The capture loop and the SDK's I/O thread sleep in ``poll`` between messages and then run their
per-message work once. On these machines that work costs several times what a hot loop measures
(the caches, the branch predictors and the CPU's clock do not stay warm for a sleeping thread).
This bench measures it directly: each piece of work runs once after the thread blocked in
``select`` for a given time, and its p50 is compared with a back-to-back loop — a journal
``append_one`` (``safe``, the capture's committer process), an LX/1 envelope parse, and plain
Python arithmetic as a control that touches nothing of ours.

    python bench/wakeup_cost.py            # 3,000 samples per cell, updates docs/benchmarks.md
    python bench/wakeup_cost.py --quick    # 500 samples per cell, prints only
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, median, publish, table

from recorder.core.frames import Channel, Direction
from recorder.journal import open_journal
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import make_envelope
from recorder.venues.lx.records import to_record

SLEEPS_US = (0, 50, 300, 1000)
"""How long the thread blocks before each sample (0: a hot loop)."""


def sample(work: Callable[[], object], sleep_us: int, count: int) -> float:
    """The p50 (µs) of ``work`` run once after each ``sleep_us`` blocked in ``select``."""
    wake_r, _wake_w = os.pipe()
    clock = time.perf_counter_ns
    out = []
    for _ in range(count):
        if sleep_us:
            select.select([wake_r], [], [], sleep_us / 1e6)
        t0 = clock()
        work()
        out.append(clock() - t0)
    os.close(wake_r)
    os.close(_wake_w)
    return median(out) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 samples per cell, no doc")
    args = parser.parse_args()
    count = 500 if args.quick else 3000
    envelope = make_envelope(
        pb.LimitOrder(contract_id=1, size=1, price_in_cents=100), mid=uuid.uuid4().hex, seq=1
    )
    data = envelope.SerializeToString()
    record = to_record(
        data, session_id=1, channel=Channel.ORDER, direction=Direction.OUT, wall_ns=1, mono_ns=2,
        flags=0, envelope=envelope,
    )  # fmt: skip
    parse = pb.Envelope.FromString
    with tempfile.TemporaryDirectory() as tmp:
        journal = open_journal(Path(tmp) / "wake.journal", committer="process")
        appended = [0]

        def append() -> None:
            journal.append_one(record)
            appended[0] += 1
            if appended[0] % 64 == 0:
                journal.commit_pending(32, 0.005)  # as the capture loop hands rows over

        works: list[tuple[str, Callable[[], object]]] = [
            ("journal append_one (safe)", append),
            ("LX/1 envelope parse", lambda: parse(data)),
            ("control: sum(range(200))", lambda: sum(range(200))),
            ("control: nothing (a call)", lambda: None),
        ]
        cells = {
            (name, s): sample(work, s, count) for s in SLEEPS_US for name, work in works
        }  # the sleeps in the outer loop: a slow phase of the machine falls on every work alike
        journal.close()
    rows = []
    for name, _ in works:
        hot = cells[(name, 0)]
        rows.append(
            [name, f"{hot:.1f}"]
            + [f"{cells[(name, s)]:.1f} ({cells[(name, s)] / hot:.1f}x)" for s in SLEEPS_US[1:]]
        )
    body = "\n".join(
        [
            "## Work after a wake-up (`bench/wakeup_cost.py`)",
            "",
            f"{machine()}; p50 of {count:,} samples per cell, microseconds (and the ratio to the"
            " hot loop). Each sample runs the work once after the thread blocked in `select` for"
            " the time given; *hot* runs it back to back.",
            "",
            table(["work", "hot", *(f"after {s} µs asleep" for s in SLEEPS_US[1:])], rows),
            "",
            "The capture loop and the SDK's I/O thread run each message's work once per wake-up,"
            " a few hundred microseconds apart: their per-message Python costs what the right-hand"
            " columns say, not what a hot micro-benchmark says. The controls show it is the"
            " machine's, not the journal's: the empty call is the fixed part of the cost of"
            " waking, the arithmetic how much slower code runs for a while after it.",
        ]
    )
    publish("wakeup_cost", body, write=not args.quick)


if __name__ == "__main__":
    main()
