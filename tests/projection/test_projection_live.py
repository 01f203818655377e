"""End to end over real sockets: two SDK bots trade on the simulator's server, each journaling
through its embedded tap; each journal's projection equals the server's engine exactly."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recorder.client import FROM_CONFIG, Commands, Context, MessageProcessor
from recorder.config import ClientConfig, Config, JournalConfig, SimConfig
from recorder.core.frames import Channel
from recorder.core.orders import OrderStatus
from recorder.core.state import AnomalyKind, View
from recorder.journal import open_journal
from recorder.keys import KeyPair
from recorder.projection import project
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb

WAIT = 10.0
"""Every wait is on an event or a condition, bounded by this (seconds)."""
LOOPBACK = "tcp://127.0.0.1:*"
Envelope = pb.Envelope


class Watch(MessageProcessor):
    """Records the highest market seq seen (reports and tops); wakes waiters on heartbeats."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.market: dict[str, int] = {}  # run_id -> highest seq of a report or a top

    def _market(self, msg: Envelope) -> None:
        with self.cond:
            self.market[msg.run_id] = max(self.market.get(msg.run_id, 0), msg.seq)
            self.cond.notify_all()

    def wait_market(self, run_id: str, seq: int) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.market.get(run_id, 0) >= seq, WAIT)

    def wait_until(self, predicate: Callable[[], bool]) -> bool:
        """Re-check ``predicate`` at every heartbeat (every 200 ms), up to ``WAIT``."""
        with self.cond:
            return self.cond.wait_for(predicate, WAIT)

    def handle_public_report(self, msg: Envelope) -> None:
        self._market(msg)

    def handle_book_top(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        self._market(msg)

    def handle_heartbeat(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        with self.cond:
            self.cond.notify_all()

    def handle_run_change(self, run_id: str, prev_run_id: str) -> None: ...
    def handle_action_report(self, msg: Envelope, prev_msg: Envelope | None) -> None: ...
    def handle_contract_detail(self, msg: Envelope, prev_msg: Envelope | None) -> None: ...
    def handle_status_message(self, msg: Envelope, prev_msg: Envelope | None) -> None: ...
    def handle_batch_message(self, msg: Envelope, prev_msg: Envelope | None) -> None: ...
    def handle_book_state_snapshot(self, msg: Envelope, prev_msg: Envelope | None) -> None: ...


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[SimServer, list[tuple[KeyPair, Context, Watch]]]]:
    """A simulator server (no background liquidity) and two started SDK bots."""
    bots = [KeyPair.generate() for _ in range(2)]
    config = SimConfig(order_bind=LOOPBACK, market_bind=LOOPBACK, control_bind=LOOPBACK,
                       heartbeat_ms=200, makers=0, takers=0, contracts=3)  # fmt: skip
    server = SimServer(config, keys=KeyPair.generate(), participants=[b.public for b in bots],
                       liquidity=False, record_frames=True)  # fmt: skip
    endpoints = server.start()
    started: list[tuple[KeyPair, Context, Watch]] = []
    try:
        for i, keys in enumerate(bots):
            assert keys.private is not None
            watch = Watch()
            client = Config(
                journal=JournalConfig(path=tmp_path / f"bot{i}.journal"),
                client=ClientConfig(ack_timeout_ms=500, backoff_cap_ms=1000),
            )
            context = Context(endpoints.order, keys.private, keys.public, server.public_key,
                              watch, market_endpoint=endpoints.market, journal=FROM_CONFIG,
                              config=client)  # fmt: skip
            context.start()
            started.append((keys, context, watch))
        for _, context, watch in started:  # the SUB is live once a market frame is journaled
            with open_journal(context.config.journal.path, readonly=True) as journal:
                assert watch.wait_until(
                    lambda j=journal: any(f.channel is Channel.MARKET for f in j.frames())
                )
        yield server, started
    finally:
        for _, context, _ in started:
            context.stop()
            context.join(WAIT)
        server.stop()


def trade(server: SimServer, bots: list[tuple[KeyPair, Context, Watch]], rounds: int) -> None:
    rng = random.Random(5)
    cmds = [Commands(context) for _, context, _ in bots]
    ticks = {c.contract_id: c.tick_cents for c in server.call(lambda: server.engine.contracts)}
    for n in range(rounds):
        if n == rounds // 2:
            server.restart()
        i = rng.randrange(len(bots))
        cmd, key = cmds[i], bots[i][0].public
        cid = rng.randint(1, 3)
        tick = ticks[cid]
        mine = server.open_orders(key)
        roll = rng.random()
        if roll < 0.5 or not mine:
            tif = pb.IOC if rng.random() < 0.2 else pb.GTC
            item = cmd.limit_order(contract_id=cid, size=rng.randint(1, 5),
                                   price_in_cents=5000 + rng.randint(-4, 4) * tick,
                                   is_ask=rng.random() < 0.5, time_in_force=tif)  # fmt: skip
        elif roll < 0.7:
            entry = rng.choice(mine)
            item = cmd.cancel_order(contract_id=entry.contract_id, entry_id=entry.entry_id)
        elif roll < 0.85:
            entry = rng.choice(mine)
            price = entry.price_in_cents + rng.choice((-1, 1)) * ticks[entry.contract_id]
            item = cmd.cancel_replace(contract_id=entry.contract_id, entry_id=entry.entry_id,
                                      size=rng.randint(1, 5), price_in_cents=price)  # fmt: skip
        elif roll < 0.95:
            bodies = [pb.LimitOrder(contract_id=cid, size=1, price_in_cents=5000 + k * tick,
                                    is_ask=bool(k % 2)) for k in range(-2, 3)]  # fmt: skip
            item, _ = cmd.batch(bodies)
        else:
            item = cmd.cancel_all(cid)
        assert item.wait_acked(WAIT)
    for cmd in cmds:  # the last reply on each order channel comes after every earlier one
        assert cmd.get_open_orders().wait_done(WAIT)


def test_journals_recorded_through_sockets_project_to_the_engine(
    live: tuple[SimServer, list[tuple[KeyPair, Context, Watch]]],
) -> None:
    server, bots = live
    trade(server, bots, rounds=300)
    run_id = server.run_id
    # The last report or top of the run (what Watch records; a heartbeat published after it
    # has a higher seq, and Watch cannot tell the market's heartbeats from the order channel's).
    market = [Envelope.FromString(f.data) for f in server.frames() if f.participant is None]
    last_market_seq = max(m.seq for m in market if m.run_id == run_id
                          and m.WhichOneof("body") in ("action_report", "book_top"))  # fmt: skip
    for _, context, watch in bots:
        assert watch.wait_market(run_id, last_market_seq), (
            f"market seq {last_market_seq} of run {run_id} never reached the bot: it saw"
            f" {watch.market}"
        )
        context.stop()
        context.join(WAIT)
    run_cancelled = 0
    for i, (keys, context, _) in enumerate(bots):
        with open_journal(context.config.journal.path, readonly=True) as journal:
            state = project(journal, view=View.EXCHANGE)
        assert state.run_id == run_id
        truth = sorted(
            (o.entry_id, o.price_in_cents, o.size) for o in server.open_orders(keys.public)
        )
        mine = sorted((o.entry_id, o.price_in_cents, o.open_size) for o in state.open_orders)
        assert mine == truth, f"bot {i}"
        for cid, book in state.books.items():
            engine = server.book(cid)
            assert book.synced and book.clock == engine.clock
            assert [(e.entry_id, e.size) for e in book.entries] == [
                (o.entry_id, o.size) for o in engine.bids + engine.asks
            ]
        fills = [(f.trade_id, f.entry_id, f.filled_size) for f in server.fills(keys.public)]
        assert [(f.trade_id, f.entry_id, f.size) for f in state.fills][-len(fills) :] == fills
        run_cancelled += sum(o.status is OrderStatus.RUN_CANCELLED for o in state.orders)
        kinds = {a.kind for a in state.anomalies}
        assert not kinds & {AnomalyKind.ILLEGAL_TRANSITION, AnomalyKind.BOOK_TOP_MISMATCH}
    assert run_cancelled  # the restart in the middle cancelled resting orders
