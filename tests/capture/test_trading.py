"""A plain-pyzmq bot trades through the capture service: the journal holds exactly its traffic."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from capture_stack import Stack
from plain_bot import PB as pb
from plain_bot import limit

from recorder.core.frames import Channel, Direction
from recorder.journal.verify import verify
from recorder.keys import KeyPair
from recorder.projection import project


def is_subsequence(part: Sequence[bytes], whole: Sequence[bytes]) -> bool:
    """True when ``part`` appears in ``whole`` in the same order (not necessarily adjacent)."""
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


def trade(bot: object) -> None:
    """A trading session: contracts, resting orders, crosses, a replace, a batch, cancels."""
    b = bot  # type: ignore[assignment]
    b.request("get_contracts", pb.GetContracts())
    bid = b.send("limit_order", limit(1, is_ask=False, size=5, price=4990))
    ask = b.send("limit_order", limit(1, is_ask=True, size=3, price=5010))
    b.ping()
    b.request("limit_order", limit(1, is_ask=True, size=2, price=4990))  # crosses our own bid
    b.request(
        "cancel_replace", pb.CancelReplace(contract_id=1, entry_id=ask, size=4, price_in_cents=5020)
    )
    batch = pb.Batch()
    for i in range(3):
        inner = batch.messages.add(mid=f"{i + 1:032x}", mversion="1.0")
        inner.limit_order.CopyFrom(
            limit(2, is_ask=i % 2 == 1, size=1, price=5000 + (10 if i % 2 else -10) * (i + 1))
        )
    b.request("batch", batch)
    b.request("cancel_order", pb.CancelOrder(contract_id=1, entry_id=bid))
    b.request("get_open_orders", pb.GetOpenOrders())
    b.request("limit_order", limit(3, is_ask=False, size=7, price=4900))


def test_bot_traffic_is_journaled_byte_for_byte(
    make_stack: Callable[..., Stack], counterparty_keys: KeyPair
) -> None:
    stack = make_stack()
    other = stack.direct(counterparty_keys)  # trades with the simulator directly
    bot = stack.bot()
    bot.market_recv()  # the subscription is live
    for price in (4995, 5000, 5005):
        other.request("limit_order", limit(1, is_ask=True, size=2, price=price))
        other.request("limit_order", limit(2, is_ask=False, size=2, price=price - 20))
    trade(bot)
    bot.request("limit_order", limit(1, is_ask=False, size=3, price=5000, ioc=True))
    bot.request("limit_order", limit(2, is_ask=True, size=1, price=4900))
    bot.ping()
    stack.market_barrier(bot)  # the engine is quiet: everything it sent is journaled
    stack.stop()

    frames = list(stack.journal.frames())
    order_out = [
        f.payload for f in frames if f.channel is Channel.ORDER and f.direction is Direction.OUT
    ]
    order_in = [
        f.payload for f in frames if f.channel is Channel.ORDER and f.direction is Direction.IN
    ]
    market = [f.payload for f in frames if f.channel is Channel.MARKET]
    # everything the bot sent and received is in the journal, byte for byte, in order
    assert is_subsequence(bot.sent, order_out)
    assert is_subsequence(bot.received, order_in)
    assert is_subsequence(bot.market, market)
    assert len(bot.market) > 10 and any(
        f.kind == "ActionReport" for f in frames if f.channel is Channel.MARKET
    )
    # what the bot did not get is the service's own business (replies to its own requests)
    own = {f.mid for f in frames if f.direction is Direction.OUT and f.payload not in set(bot.sent)}
    first = min(f.position for f in frames if f.payload == bot.sent[0])
    last = max(f.position for f in frames if f.payload == bot.received[-1])
    received = set(bot.received)
    missing = [
        f
        for f in frames
        if f.channel is Channel.ORDER and f.direction is Direction.IN
        and first < f.position <= last and f.payload not in received
    ]  # fmt: skip
    assert all(f.mid in own for f in missing), [f.kind for f in missing if f.mid not in own]
    # the journal's order channel is exactly what the exchange logged for this participant
    # (each direction in its order; the two directions interleave differently on each side)
    wire = stack.sim.frames(stack.who)
    # (the exchange may have sent a heartbeat more after the service stopped: a prefix)
    for direction in Direction:
        logged = [w.data for w in wire if w.channel is Channel.ORDER and w.direction is direction]
        journaled = [
            f.payload for f in frames if f.channel is Channel.ORDER and f.direction is direction
        ]
        assert journaled == logged[: len(journaled)]
    assert is_subsequence(market, [w.data for w in wire if w.channel is Channel.MARKET])
    assert verify(stack.journal).ok

    state = project(stack.journal)
    truth = stack.sim.open_orders(stack.who)
    assert sorted(o.entry_id for o in state.open_orders) == sorted(o.entry_id for o in truth)
    assert len(state.fills) == len(stack.sim.fills(stack.who)) > 0
    for cid, book in state.books.items():
        assert book.synced
        engine = stack.sim.book(cid)
        assert [(e.entry_id, e.size) for e in book.entries] == [
            (o.entry_id, o.size) for o in engine.bids + engine.asks
        ]
    session = stack.journal.sessions()[-1]
    assert session.end_reason == "test finished"
