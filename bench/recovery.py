"""Recovery bench: time from a bot's restart to "reconciled".

A journal of N frames (100k and 1M; ``--quick``: 100k only) holds the history of an earlier
run (public reports and book tops, journaled directly) and then the bot's own session in the
current run of an in-process simulator (a few resting orders). While the bot is stopped, a
second connection with the same key makes the exchange send 10,000 order-channel messages the
journal does not have (5,000 ``GetBookState``: an ACK and a snapshot each). The timed part is
``Context.start()`` on that journal: rebuild the state (checkpoint + tail, or — "cold" — every
frame, checkpoints deleted), connect, replay the 10,000 missing messages (4 chunks of 2,500, at
most 2 in flight), resync the books, and return once ``handle_reconciled`` ran. Medians.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import machine, median, table, write_section

from recorder.chaos.bot import QuietProcessor
from recorder.client import Commands, Context
from recorder.config import ClientConfig, Config, JournalConfig, SimConfig
from recorder.core.frames import Channel, Direction
from recorder.journal import open_journal
from recorder.keys import KeyPair
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.records import to_record

GAP = 10_000
LOOPBACK = "tcp://127.0.0.1:*"


def fill_history(path: Path, frames: int) -> None:
    """Journal ``frames`` market frames of an earlier run (a session that ended)."""
    run = "f" * 32
    with open_journal(path) as journal:
        session = journal.start_session(venue="lx1", capture_point="sdk")
        batch = []
        clocks = {1: 0, 2: 0, 3: 0}
        for seq in range(1, frames + 1):
            cid = seq % 3 + 1
            clocks[cid] += 1
            env = pb.Envelope(seq=seq, run_id=run, mversion="1.0", timestamp=seq)
            if seq % 4 == 3:
                t = env.book_top
                t.contract_id, t.clock = cid, clocks[cid]
                clocks[cid] -= 1  # a top does not move the clock
            else:
                r = env.action_report
                r.contract_id, r.clock, r.price_in_cents = cid, clocks[cid], 5000 + seq % 7
                r.entry_id = f"{seq // 2:032x}"
                r.status_type = pb.INSERTED if seq % 2 else pb.CANCELLED
                r.size = 1 if seq % 2 else 0
            batch.append(
                to_record(
                    env.SerializeToString(), session_id=session, channel=Channel.MARKET,
                    direction=Direction.IN, wall_ns=seq, mono_ns=seq,
                )
            )  # fmt: skip
            if len(batch) == 5000:
                journal.append(batch)
                batch = []
        if batch:
            journal.append(batch)
        journal.end_session(session, "history")


def context(server: SimServer, keys: KeyPair, journal: Path | None) -> Context:
    assert server.endpoints is not None and keys.private is not None
    config = Config(
        journal=JournalConfig(path=journal or Path("unused"), durability="safe"),
        client=ClientConfig(default_heartbeat_ms=1000),
    )
    return Context(
        server.endpoints.order, keys.private, keys.public, server.public_key, QuietProcessor(),
        market_endpoint=server.endpoints.market, journal=journal, config=config,
    )  # fmt: skip


def make_gap(server: SimServer, keys: KeyPair) -> None:
    """10,000 order-channel messages to the participant that the journal never sees."""
    other = context(server, keys, None)
    other.start()
    cmd = Commands(other)
    items = [cmd.get_book_state(1 + i % 3) for i in range(GAP // 2)]
    for item in items:
        item.wait_done(60)
    other.stop()
    other.join(10)


def measure(frames: int, repeats: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"checkpoint": [], "cold": []}
    exchange, keys = KeyPair.generate(), KeyPair.generate()
    cfg = SimConfig(
        order_bind=LOOPBACK, market_bind=LOOPBACK, control_bind=LOOPBACK, heartbeat_ms=1000,
        makers=0, takers=0,
    )  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimServer(cfg, keys=exchange, participants=[keys.public], liquidity=False) as server,
    ):
        path = Path(tmp) / "bench.journal"
        fill_history(path, frames)
        first = context(server, keys, path)
        first.start(reconcile_timeout=600)
        cmd = Commands(first)
        for i in range(20):
            cmd.limit_order(contract_id=1, size=1, price_in_cents=4000 + i).wait_acked(10)
        first.stop()
        first.join(60)
        for mode in ("checkpoint", "cold") * repeats:
            make_gap(server, keys)
            if mode == "cold":
                with open_journal(path) as journal:
                    journal.delete_checkpoints()
            ctx = context(server, keys, path)
            t0 = time.perf_counter()
            ctx.start(reconcile_timeout=600)
            elapsed = time.perf_counter() - t0
            report = ctx.last_reconcile
            assert ctx.reconciled.is_set() and report is not None, "not reconciled"
            replayed = sum(hi - lo + 1 for lo, hi in report.replay_ranges)
            assert replayed >= GAP, f"only {replayed} seqs replayed"
            assert len(ctx.open_orders()) == 20
            ctx.stop()
            ctx.join(120)
            out[mode].append(elapsed)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100k frames only, 2 repeats")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args()
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    repeats = 2 if args.quick else 3
    rows = []
    for frames in sizes:
        got = measure(frames, repeats)
        row = [f"{frames:,}", f"{GAP:,}", f"{median(got['checkpoint']):.2f}",
               f"{median(got['cold']):.2f}", repeats]  # fmt: skip
        print(row, flush=True)
        rows.append(row)
    body = "\n\n".join(
        [
            "## Recovery: bot restart to reconciled (`bench/recovery.py`)",
            machine(),
            "Time from `Context.start()` on an existing journal to its return after "
            "`handle_reconciled` (state rebuilt from the journal, 10,000 missing order-channel "
            "messages replayed in chunks of 2,500, books resynced). Median seconds; *checkpoint*: "
            "the checkpoint written at the last clean stop plus the tail; *cold*: every "
            "checkpoint deleted, the whole journal projected.",
            table(
                ["journal frames", "gap (messages)", "with checkpoint (s)", "cold (s)", "repeats"],
                rows,
            ),
        ]
    )
    if not args.no_write:
        write_section("recovery", body)
    print(body)


if __name__ == "__main__":
    main()
