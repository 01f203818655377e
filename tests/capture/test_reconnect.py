"""Upstream loss: the service notices the exchange's silence, reconnects, and the bots trade on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from capture_stack import Stack
from plain_bot import PB as pb
from plain_bot import limit

from recorder.capture.upstream import RECONNECT_REASON
from recorder.core.frames import Channel, Direction
from recorder.journal.verify import verify
from recorder.keys import KeyPair

WATCH = {"heartbeat_ms": 100, "heartbeat_factor": 3, "reconnect_backoff_cap_ms": 1000}
"""The simulator's heartbeats (100 ms): silent after 300 ms."""


@pytest.fixture
def stacks(make_stack: Callable[..., Stack]) -> Callable[..., Stack]:
    """Stacks whose service watches the simulator's 100 ms heartbeats (``WATCH``)."""
    return lambda **options: make_stack(service={**WATCH, **options})


def test_a_restarted_exchange_is_reconnected_and_the_bot_trades_on(
    stacks: Callable[..., Stack], participant_keys: KeyPair, counterparty_keys: KeyPair
) -> None:
    stack = stacks()
    bot = stack.bot(market=False)
    (ack, _) = bot.request("limit_order", limit(1, is_ask=True, size=1, price=5200))
    old_run = ack.run_id
    # The exchange goes away with its state, long enough for the service to notice, and a new
    # process comes up on the same endpoints (a new run).
    new_run = stack.restart_exchange(
        [participant_keys.public, counterparty_keys.public],
        while_down=lambda: stack.status_when(lambda s: s.upstream == "silent"),
    )
    assert new_run != old_run
    bot.recv_until(lambda e: e.run_id == new_run)  # the run change reaches the bot
    order = bot.request("limit_order", limit(1, is_ask=False, size=1, price=4800))
    assert [(e.run_id, e.status.code) for e in order if e.HasField("status")] == [(new_run, pb.ACK)]
    status = stack.status_when(lambda s: s.upstream == "connected" and s.reconnects > 0)
    stack.stop()

    sessions = stack.journal.sessions()
    assert len(sessions) == status.reconnects + 1
    assert all(s.end_reason.startswith(RECONNECT_REASON) for s in sessions[:-1])
    frames = list(stack.journal.frames())
    inbound = [f for f in frames if f.direction is Direction.IN and f.run_id]
    assert {f.run_id for f in inbound if f.session_id == sessions[0].id} == {old_run}
    assert {f.run_id for f in inbound if f.session_id == sessions[-1].id} == {new_run}
    (second,) = [f for f in frames if f.payload == bot.sent[-2]]  # the order after the restart
    assert second.session_id == sessions[-1].id
    assert status.to_exchange and status.session_id == sessions[-1].id
    report = verify(stack.journal)
    assert report.ok, report.breaks


def test_a_dropped_connection_is_noticed_and_the_outage_is_replayed_to_the_bot(
    stacks: Callable[..., Stack], counterparty_keys: KeyPair
) -> None:
    stack = stacks()
    bot = stack.bot(market=False)
    resting = bot.request("limit_order", limit(1, is_ask=True, size=2, price=5000))
    mid = resting[0].mid
    taker = stack.direct(counterparty_keys)
    taker.ping()
    # The exchange forgets the service's connection (it stays up): no heartbeat, no reply
    # reaches the service on it. The trade against the bot's order meanwhile is a report the
    # exchange keeps in the participant's stream.
    stack.sim.disconnect(stack.who)
    taker.request("limit_order", limit(1, is_ask=False, size=2, price=5000, ioc=True))
    connected = stack.sim.status()["participants"][stack.who]["connected"]
    assert not connected, "the service reconnected before the trade: nothing was missed"
    fill = stack.exchange_seq_of(mid)  # the report of the fill, sent to nobody

    late = bot.recv_until(lambda e: e.mid == mid and e.is_replay)
    assert (late[-1].seq, late[-1].HasField("action_report")) == (fill, True)
    status = stack.status_when(
        lambda s: s.upstream == "connected" and s.open_gaps == 0 and s.pending_requests == 0
    )
    assert status.reconnects == 1
    assert bot.request("limit_order", limit(1, is_ask=True, size=1, price=5100))[0].status.code == (
        pb.ACK
    )  # still trading, on the new connection
    stack.stop()

    first, second = stack.journal.sessions()
    assert first.end_reason.startswith(f"{RECONNECT_REASON}: no order message for ")
    gaps = [g for g in stack.journal.gaps() if g.channel == Channel.ORDER.value]
    assert [(g.session_id, g.state) for g in gaps] == [(second.id, "filled")]
    assert gaps[0].from_seq <= fill <= gaps[0].to_seq
    (replayed,) = [
        f for f in stack.journal.frames() if f.seq == fill and f.is_replay and f.kind != "Status"
    ]
    assert replayed.session_id == second.id
    report = verify(stack.journal)
    assert report.ok, report.breaks


def test_no_reconnect_while_heartbeats_flow(stacks: Callable[..., Stack]) -> None:
    stack = stacks()
    bot = stack.bot()
    bot.ping()
    # 1.5 s of heartbeats on both channels: five times the silence threshold
    stack.status_when(lambda s: s.market >= 15)
    bot.ping()
    status = stack.status_when(lambda s: True)
    assert (status.upstream, status.reconnects) == ("connected", 0)
    stack.stop()
    (session,) = stack.journal.sessions()
    assert session.end_reason == "test finished"


def test_the_service_follows_the_heartbeat_interval_the_exchange_announces(
    stacks: Callable[..., Stack],
) -> None:
    # Configured for heartbeats every 10 s (silent after 30 s), the service hears the
    # simulator's announce 100 ms: a dropped connection is noticed in a fraction of a second.
    stack = stacks(heartbeat_ms=10_000, reconnect_backoff_cap_ms=60_000)
    bot = stack.bot(market=False)
    bot.ping()
    assert stack.status_when(lambda s: True).heartbeat_ms in (10_000, 100)
    stack.status_when(lambda s: s.heartbeat_ms == 100)  # the simulator's heartbeats say so
    stack.sim.disconnect(stack.who)
    stack.status_when(lambda s: s.reconnects >= 1)
    stack.stop()
    reason = stack.journal.sessions()[0].end_reason
    assert reason.startswith(f"{RECONNECT_REASON}: no order message for ")
    assert int(reason.split(" for ")[1].split(" ms")[0]) < 3000
