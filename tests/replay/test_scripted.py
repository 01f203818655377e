"""Replay against live on a scripted SDK session that exercises what the demo may not: batches,
cancel-all, queries, a lost ACK (S1 resend, duplicate ACK), a dropped report (order-channel gap
replayed), garbage from the exchange, a run change — and then a second bot process (a new
context) writing to the same journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from calllog import logged, without_silence_ms
from scripted import CLIENT, sdk_context

from recorder.client import IOC, Commands
from recorder.config import SimConfig
from recorder.examples.processors import CallCounter
from recorder.journal import open_journal
from recorder.keys import KeyPair
from recorder.replay import Replayer
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb

WAIT = 10.0
LOOPBACK = "tcp://127.0.0.1:*"
Logged = logged(CallCounter)


@pytest.fixture
def keys() -> tuple[KeyPair, KeyPair]:
    return KeyPair.generate(), KeyPair.generate()


@pytest.fixture
def server(keys: tuple[KeyPair, KeyPair]) -> Iterator[SimServer]:
    config = SimConfig(
        order_bind=LOOPBACK, market_bind=LOOPBACK, control_bind=LOOPBACK,
        heartbeat_ms=3000, makers=0, takers=0, contracts=3,
    )  # fmt: skip
    server = SimServer(config, keys=keys[0], participants=[keys[1].public], liquidity=False)
    server.start()
    yield server
    server.stop()


def _session_one(cmd: Commands, server: SimServer, bot: KeyPair) -> None:
    assert cmd.get_contracts().wait_done(WAIT)
    resting = cmd.limit_order(contract_id=1, size=5, price_in_cents=5000, is_ask=True)
    assert resting.wait_acked(WAIT)
    taker = cmd.limit_order(contract_id=1, size=2, price_in_cents=5000, time_in_force=IOC)
    assert taker.wait_done(WAIT)  # a self-trade: fills on both sides
    batch, inner = cmd.batch(
        [pb.LimitOrder(contract_id=2, size=1, price_in_cents=4990 + i * 5, time_in_force=pb.GTC)
         for i in range(3)]
    )  # fmt: skip
    assert batch.wait_done(WAIT) and all(i.wait_acked(WAIT) for i in inner)
    assert cmd.cancel_order(contract_id=2, entry_id=inner[0].mid).wait_done(WAIT)
    replace = cmd.cancel_replace(contract_id=1, entry_id=resting.mid, size=4, price_in_cents=5010)
    assert replace.wait_acked(WAIT)
    assert cmd.get_book_state(1).wait_done(WAIT)
    assert cmd.get_open_orders().wait_done(WAIT)
    server.drop_ack(bot.public)  # S1: the ACK is lost, the order is resent, a duplicate ACK
    # ... and the report behind it, so nothing reveals it (replies only: a heartbeat passes)
    server.drop_next(bot.public, 1, replies_only=True)
    lost_ack = cmd.limit_order(contract_id=3, size=1, price_in_cents=4000)
    assert lost_ack.wait_acked(WAIT) and lost_ack.resends >= 1
    server.drop_next(bot.public, 1, replies_only=True)  # a dropped reply: a gap, replayed
    dropped = cmd.limit_order(contract_id=3, size=1, price_in_cents=4010)
    follow = cmd.get_open_orders(3)
    assert follow.wait_done(WAIT) and dropped.wait_acked(WAIT)
    server.send_garbage(bot.public, 12)
    assert cmd.cancel_all(0).wait_done(WAIT)
    server.restart()  # a run change, seen on the next message
    after = cmd.limit_order(contract_id=1, size=1, price_in_cents=5000)
    assert after.wait_acked(WAIT)


def test_scripted_sessions_replay_exactly(
    server: SimServer, keys: tuple[KeyPair, KeyPair], tmp_path: Path
) -> None:
    journal = tmp_path / "scripted.journal"
    bot = keys[1]
    first = Logged()
    with sdk_context(server, bot, first, journal) as context:
        _session_one(Commands(context), server, bot)
    second = Logged()  # another process of the bot: a new context on the same journal
    with sdk_context(server, bot, second, journal) as context:
        cmd = Commands(context)
        assert cmd.get_open_orders().wait_done(WAIT)
        assert cmd.limit_order(contract_id=2, size=1, price_in_cents=5000).wait_acked(WAIT)
    live = without_silence_ms(first.calls + second.calls)  # type: ignore[attr-defined]
    names = {c[0] for c in live}
    wanted = {"handle_batch_message", "handle_gap", "handle_replay_done", "handle_run_change"}
    wanted |= {"handle_protocol_error", "handle_book_state_snapshot", "handle_open_orders"}
    assert wanted <= names, names
    replayed = Logged()
    with open_journal(journal, readonly=True) as j:
        assert len(j.sessions()) == 2
        result = Replayer(j, replayed, client_config=CLIENT).run()
    assert without_silence_ms(replayed.calls) == live  # type: ignore[attr-defined]
    assert result.handler_errors == 0
