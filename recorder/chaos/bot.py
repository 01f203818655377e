"""The chaos bot: one trading process the chaos harness starts, SIGKILLs and restarts.

``python -m recorder.chaos.bot ARGS`` connects a :class:`~recorder.client.Context` (journal
``--journal``, durability ``safe``) to the simulator and trades at random (seeded) until told
otherwise on stdin, one command per line:

* ``quiet`` — stop sending new requests (the bot answers ``quiet`` on stdout);
* ``stop`` — stop the context cleanly and exit.

It prints ``ready`` on stdout once ``Context.start()`` returned (on a journal with history:
after the crash recovery reconciled the state). The harness synchronises on these lines only.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from pathlib import Path

from recorder.client import GTC, IOC, Commands, Context, MessageProcessor
from recorder.config import ClientConfig, Config, JournalConfig
from recorder.errors import ClientClosedError
from recorder.venues.lx import lx1_pb2 as pb

Envelope = pb.Envelope


class QuietProcessor(MessageProcessor):
    """Handles everything by doing nothing: the state lives in the journal's projection."""

    def handle_run_change(self, run_id: str, prev_run_id: str) -> None:
        """Nothing to purge: the projection cancelled the old run's orders."""

    def handle_action_report(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Ignored."""

    def handle_contract_detail(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Ignored."""

    def handle_status_message(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Ignored."""

    def handle_batch_message(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Ignored."""

    def handle_book_top(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Ignored."""

    def handle_book_state_snapshot(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Ignored."""

    def handle_heartbeat(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Ignored."""


TICKS = (1, 5, 10)


def trade_once(cmd: Commands, context: Context, rng: random.Random, contracts: int) -> None:
    """One random request: mostly limit orders, some cancels, replaces, batches."""
    cid = rng.randint(1, contracts)
    tick = TICKS[(cid - 1) % 3]
    roll = rng.random()
    open_orders = context.open_orders()
    if roll < 0.55 or not open_orders:
        price = tick * rng.randint(4950 // tick, 5050 // tick)
        tif = IOC if rng.random() < 0.2 else GTC
        cmd.limit_order(
            contract_id=cid,
            is_ask=rng.random() < 0.5,
            size=rng.randint(1, 5),
            price_in_cents=price,
            time_in_force=tif,
        )
    elif roll < 0.8:
        order = rng.choice(open_orders)
        cmd.cancel_order(contract_id=order.contract_id, entry_id=order.entry_id)
    elif roll < 0.9:
        order = rng.choice(open_orders)
        otick = TICKS[(order.contract_id - 1) % 3]
        cmd.cancel_replace(
            contract_id=order.contract_id,
            entry_id=order.entry_id,
            size=rng.randint(1, 5),
            price_in_cents=otick * rng.randint(4950 // otick, 5050 // otick),
        )
    elif roll < 0.97:
        bodies: list[pb.LimitOrder] = []
        for _ in range(rng.randint(2, 4)):
            bcid = rng.randint(1, contracts)
            btick = TICKS[(bcid - 1) % 3]
            bodies.append(
                pb.LimitOrder(
                    contract_id=bcid,
                    is_ask=rng.random() < 0.5,
                    size=rng.randint(1, 3),
                    price_in_cents=btick * rng.randint(4950 // btick, 5050 // btick),
                    time_in_force=GTC,
                )
            )
        cmd.batch(bodies)
    else:
        cmd.cancel_all(cid)


def main(argv: list[str] | None = None) -> int:
    """Run one chaos bot (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m recorder.chaos.bot")
    ap.add_argument("--order", required=True)
    ap.add_argument("--market", required=True)
    ap.add_argument("--server-key", required=True)
    ap.add_argument("--private", required=True)
    ap.add_argument("--public", required=True)
    ap.add_argument("--journal", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--contracts", type=int, default=3)
    ap.add_argument("--heartbeat-ms", type=int, default=100)
    ap.add_argument("--pace-ms", type=int, default=15)
    args = ap.parse_args(argv)
    config = Config(
        journal=JournalConfig(path=Path(args.journal), durability="safe"),
        client=ClientConfig(
            ack_timeout_ms=150,
            backoff_cap_ms=600,
            default_heartbeat_ms=args.heartbeat_ms,
            heartbeat_factor=4,
        ),
    )
    context = Context(
        args.order,
        args.private.encode(),
        args.public.encode(),
        args.server_key.encode(),
        QuietProcessor,
        market_endpoint=args.market,
        config=config,
    )
    context.start(reconcile_timeout=60.0)
    cmd = Commands(context)
    cmd.get_contracts()
    quiet = threading.Event()
    stop = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            word = line.strip()
            if word == "quiet":
                quiet.set()
            elif word == "stop":
                break
        quiet.set()
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    print("ready", flush=True)
    rng = random.Random(args.seed)
    pace = args.pace_ms / 1000
    while not quiet.is_set():
        try:
            trade_once(cmd, context, rng, args.contracts)
        except ClientClosedError:
            break
        quiet.wait(pace * rng.uniform(0.5, 1.5))
    print("quiet", flush=True)
    stop.wait()
    context.stop()
    context.join(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
