"""Upstream gaps are filled by the service; garbage is journaled and forwarded; unknown keys get
nothing."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from capture_stack import Stack, wait_until
from plain_bot import PB as pb
from plain_bot import limit

from recorder.core.frames import Channel, Direction, FrameFlag
from recorder.journal.verify import verify
from recorder.keys import KeyPair
from recorder.sim.faults import FaultKind


def envelopes(data: list[bytes]) -> list[Any]:
    out = []
    for d in data:
        with contextlib.suppress(Exception):
            out.append(pb.Envelope.FromString(d))
    return out


def test_order_channel_gap_is_filled_and_the_bot_only_sees_late_messages(
    make_stack: Callable[..., Stack],
) -> None:
    # No heartbeats: the three replies dropped below must be three consecutive seqs, and a
    # heartbeat (an order-channel message with a seq too) sent between the order's report and
    # the ping's ACK would pass the drop (replies only) and split the gap in two (seen: 9..10
    # and 12..12). The ping's later replies reveal the gap.
    stack = make_stack(heartbeat_ms=60_000)
    bot = stack.bot(market=False)
    bot.ping()
    # The order's ACK and report and the ping's ACK (bot.request sends the order and a ping).
    stack.sim.drop_next(stack.who, 3, replies_only=True)
    order = bot.request("limit_order", limit(1, is_ask=False, size=2, price=4000))
    assert [e.WhichOneof("body") for e in order] == ["status", "action_report"]
    assert all(e.is_replay for e in order)  # late, as replayed, but in order and complete
    bot.ping()
    stack.stop()

    frames = list(stack.journal.frames())
    own = {f.mid for f in frames if f.direction is Direction.OUT} - {
        e.mid for e in envelopes(bot.sent)
    }
    # every seq the exchange sent this participant since the bot's first request reached the
    # bot, once and in seq order, but the replies to the service's own requests
    first = min(f.position for f in frames if f.payload == bot.sent[0])
    last = max(f.position for f in frames if f.payload == bot.received[-1])
    expected = sorted(
        {
            f.seq
            for f in frames
            if f.channel is Channel.ORDER and f.direction is Direction.IN
            and first < f.position <= last and f.mid not in own
        }
    )  # fmt: skip
    assert [e.seq for e in envelopes(bot.received)] == expected
    assert expected == list(range(expected[0], expected[-1] + 1)) or own
    sent_by_exchange = [pb.Envelope.FromString(d) for d in stack.sim.exchange.sent(stack.who)]
    assert {e.seq for e in sent_by_exchange if e.mid not in own} >= set(expected)
    gaps = [g for g in stack.journal.gaps() if g.channel == "order"]
    assert [(g.from_seq, g.to_seq, g.state) for g in gaps] == [
        (gaps[0].from_seq, gaps[0].from_seq + 2, "filled")
    ]
    assert gaps[0].requested_wall_ns and gaps[0].closed_wall_ns
    replays = [f for f in stack.journal.frames() if f.kind == "MessageReplay"]
    assert len(replays) == 1 and replays[0].mid in own
    # the gap's life is in the ledger, and the session and its gap are what it says
    events = stack.journal.ledger()
    assert [e.kind for e in events if e.kind.startswith("gap_") and e.row_id == gaps[0].id] == [
        "gap_opened", "gap_requested", "gap_filled"
    ]  # fmt: skip
    report = verify(stack.journal)
    assert report.ok, report.breaks


def test_market_gap_is_resynced_with_book_snapshots(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    bot = stack.bot()
    bot.request("limit_order", limit(1, is_ask=True, size=3, price=5100))
    bot.market_recv()
    sim = stack.sim

    def arm() -> int:
        sim.faults.drop_market(2)
        return sim.exchange.market_seq

    armed_at = sim.call(arm)
    seen = 0
    while seen <= armed_at + 2:  # the first market message after the two dropped ones
        envelope = bot.market_recv()
        seen = envelope.seq if envelope is not None else seen
    bot.ping()  # after the service's GetBookState requests on the same upstream connection
    stack.stop()

    market_gaps = [g for g in stack.journal.gaps() if g.channel == "market"]
    assert market_gaps and all(g.state == "filled" for g in market_gaps)
    assert "GetBookState" in market_gaps[-1].reason or "resynced" in market_gaps[-1].reason
    snapshots = [f for f in stack.journal.frames() if f.kind == "BookStateSnapshot"]
    assert {
        pb.Envelope.FromString(f.payload).book_state_snapshot.contract_id for f in snapshots
    } >= {1, 2, 3}
    assert not [e for e in envelopes(bot.received) if e.WhichOneof("body") == "book_state_snapshot"]


CORRUPT_BODY = b"r\x05\x00\x00\x00\x00\x00"
"""An envelope header that parses around a body that does not (a GetContracts)."""


def test_garbage_is_journaled_and_forwarded_without_stopping_the_service(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    bot = stack.bot()
    bot.ping()
    bot.market_recv()
    junk = stack.sim.send_garbage(stack.who, 24, Channel.ORDER)
    market_junk = stack.sim.send_garbage(None, 12, Channel.MARKET)
    bot.send_raw(b"\xff\xfe not an envelope")
    bot.send_raw(b"part one", b"part two")
    bot.send_raw(CORRUPT_BODY)
    replies = bot.ping()
    rejects = [e for e in replies if e.WhichOneof("body") == "status" and e.mid == ""]
    assert [r.status.code for r in rejects] == [pb.REJECT_MALFORMED] * 3
    assert junk in bot.received
    while market_junk not in bot.market:
        bot.market_recv()
    order = bot.request("limit_order", limit(1, is_ask=False, size=1, price=4500))
    assert order[0].status.code == pb.ACK  # still serving
    stack.stop()

    frames = list(stack.journal.frames())
    bad = [(f.channel, f.direction, f.payload, f.flags) for f in frames if f.flags]
    assert (Channel.ORDER, Direction.IN, junk, FrameFlag.MALFORMED) in bad
    assert (Channel.MARKET, Direction.IN, market_junk, FrameFlag.MALFORMED) in bad
    assert (Channel.ORDER, Direction.OUT, b"\xff\xfe not an envelope", FrameFlag.MALFORMED) in bad
    assert (Channel.ORDER, Direction.OUT, CORRUPT_BODY, FrameFlag.MALFORMED) in bad
    multi = [b for b in bad if b[2] == b"part onepart two"]
    assert multi and multi[0][3] & FrameFlag.MULTIPART


def test_a_bot_with_an_unknown_key_gets_nothing(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    stranger = stack.bot(KeyPair.generate())
    stranger.ping_send()
    friend = stack.bot()
    friend.ping()
    for _ in range(3):  # three market messages later (heartbeats every 100 ms)
        friend.market_recv()
    friend.ping()
    assert not stranger.dealer.poll(0) and stranger.sub is not None and not stranger.sub.poll(0)
    stack.stop()
    assert stranger.sent[0] not in {f.payload for f in stack.journal.frames()}
    assert stack.service.status().bots_connected in (0, 1)


def test_a_bots_replay_filling_the_gap_leaves_the_other_bot_its_reply(
    make_stack: Callable[..., Stack], second_bot_keys: KeyPair
) -> None:
    stack = make_stack(heartbeat_ms=60_000)  # nothing but a's replay reveals the gap
    a, b = stack.bot(market=False), stack.bot(second_bot_keys, market=False)
    a.ping()
    b.ping()
    stack.sim.drop_next(stack.who, 1, replies_only=True)
    # a request with one reply: a cancel of an unknown entry, REJECT_UNKNOWN_ENTRY
    cancel = b.send("cancel_order", pb.CancelOrder(contract_id=1, entry_id=uuid.uuid4().hex))
    lost = stack.exchange_seq_of(cancel)
    replay = a.send("message_replay", pb.MessageReplay(run_id=stack.sim.run_id, from_seq=1))
    got_a = a.recv_until(lambda e: e.mid == replay and e.HasField("replay_done"))
    assert [e.seq for e in got_a if e.is_replay] == list(range(1, lost + 1))  # a's own replay
    # its copy of the lost seq fills the service's gap: b gets it (late, flagged), once
    got_b = b.ping()
    assert [(e.seq, e.is_replay, e.status.code) for e in got_b if e.mid == cancel] == [
        (lost, True, pb.REJECT_UNKNOWN_ENTRY)
    ]
    assert len({e.seq for e in got_b}) == len(got_b)
    stack.stop()
    gaps = [g for g in stack.journal.gaps() if g.channel == "order"]
    assert [(g.from_seq, g.to_seq, g.state) for g in gaps] == [(lost, lost, "filled")]


def test_a_bots_replayed_frames_reach_it_when_its_replays_ack_is_lost(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(heartbeat_ms=60_000)
    bot = stack.bot(market=False)
    bot.ping()
    bot.ping()
    stack.sim.drop_ack(stack.who)  # the replay's
    mid = bot.send("message_replay", pb.MessageReplay(run_id=stack.sim.run_id, from_seq=1))
    got = bot.recv_until(lambda e: e.mid == mid and e.HasField("replay_done"))
    done = got[-1].replay_done  # the replies to the service's GetContracts and to two pings
    assert done.count > 6
    assert [e.seq for e in got if e.is_replay and e.mid != mid] == list(range(1, done.count + 1))
    # the lost ACK is a gap the service fills: the bot gets it late, as replayed
    ack = next(e for e in got if e.mid == mid)
    assert ack.is_replay and ack.status.code == pb.ACK


def test_a_replay_of_a_later_gap_does_not_write_off_an_earlier_one(
    make_stack: Callable[..., Stack],
) -> None:
    # Heartbeats every 100 ms are the only order-channel traffic: gap 1 is a dropped heartbeat
    # whose MessageReplay is lost (retried after replay_timeout_ms), gap 2 another one,
    # replayed at once. Its complete ReplayDone wrote off gap 1 as well (abandon up to its
    # to_seq), so the exchange's copy of gap 1's seq, replayed later, never reached the bot.
    stack = make_stack()
    bot = stack.bot(market=False)
    bot.ping()
    before = stack.status_when(
        lambda s: s.market > 0 and s.open_gaps == 0 and s.pending_requests == 0
    ).gaps_detected
    sim = stack.sim

    def arm_first() -> None:
        sim.faults.drop_next(stack.who, 1)  # a heartbeat: gap 1 ...
        sim.faults.drop_requests(stack.who, 1)  # ... whose MessageReplay is lost

    sim.call(arm_first)
    wait_until(lambda: any(e.kind is FaultKind.DROP_REQUESTS for e in sim.fault_events()) or None)
    sim.drop_next(stack.who, 1)  # another heartbeat: gap 2
    stack.status_when(lambda s: s.gaps_detected == before + 2 and s.open_gaps == 0)
    stack.status_when(lambda s: s.pending_requests == 0)
    bot.ping()
    stack.stop()
    lost = sorted(
        int(e.detail.split()[3]) for e in sim.fault_events() if e.kind is FaultKind.DROP_NEXT
    )
    assert len(lost) == 2
    got = envelopes(bot.received)
    assert {e.seq for e in got if e.is_replay} >= set(lost), "a dropped seq never reached the bot"
    gaps = [g for g in stack.journal.gaps() if g.channel == "order"]
    assert [(g.from_seq, g.to_seq, g.state) for g in gaps] == [(s, s, "filled") for s in lost]


def test_a_market_gap_of_a_replaced_run_is_not_filled_by_the_next_runs_snapshots(
    make_stack: Callable[..., Stack],
) -> None:
    # A market gap whose GetBookState requests are all lost; the exchange restarts before they
    # are retried. The retries (replay_timeout_ms later) were answered with the new run's
    # books, and the old run's gap was recorded "filled".
    stack = make_stack()
    bot = stack.bot()
    bot.ping()
    stack.status_when(lambda s: s.market > 0 and s.open_gaps == 0 and s.pending_requests == 0)
    sim = stack.sim
    old_run = sim.run_id

    def arm() -> int:
        sim.faults.drop_market(1)  # a market gap ...
        sim.faults.drop_requests(stack.who, 3)  # ... whose 3 GetBookState are lost
        return int(sim.exchange.market_seq)

    armed_at = sim.call(arm)
    wait_until(
        lambda: sum(e.kind is FaultKind.DROP_REQUESTS for e in sim.fault_events()) == 3 or None
    )
    sim.restart()  # the run ends before any snapshot of it came
    stack.status_when(lambda s: s.open_gaps == 0 and s.pending_requests == 0)
    stack.stop()
    (gap,) = [
        g
        for g in stack.journal.gaps()
        if g.channel == "market" and g.run_id == old_run and g.from_seq == armed_at + 1
    ]
    assert (gap.state, gap.reason) == ("unrecoverable", "the exchange run changed")


def _garbage_rejects(envelopes: list[Any]) -> list[tuple[int, bool]]:
    """The (seq, is_replay) of the empty-mid REJECT_MALFORMED among ``envelopes``."""
    return [
        (e.seq, e.is_replay)
        for e in envelopes
        if e.mid == "" and e.HasField("status") and e.status.code == pb.REJECT_MALFORMED
    ]


def test_a_replayed_garbage_reject_goes_to_the_bot_whose_garbage_it_answers(
    make_stack: Callable[..., Stack], second_bot_keys: KeyPair
) -> None:
    # An empty-mid REJECT_MALFORMED is routed by the order of the garbage it answers. One that
    # is lost and replayed into the service's gap answers the older garbage: that bot gets it,
    # and the reject held behind it goes to the other.
    stack = make_stack(heartbeat_ms=60_000)
    a, b = stack.bot(market=False), stack.bot(second_bot_keys, market=False)
    a.ping()
    b.ping()
    stack.sim.drop_ack(stack.who)  # the reject of a's garbage: a gap

    def rejects_sent() -> int | None:
        sent = stack.sim.call(lambda: stack.sim.exchange.sent(stack.who))
        found = _garbage_rejects([pb.Envelope.FromString(data) for data in sent])
        return found[-1][0] if found else None

    a.send_raw(b"\xff\xfe garbage from a")
    lost = wait_until(rejects_sent)  # the exchange has answered a's garbage (not on the wire)
    b.send_raw(b"\xff\xfe garbage from b")
    assert _garbage_rejects(b.ping()) == [(lost + 1, False)]
    assert _garbage_rejects(a.ping()) == [(lost, True)]
    stack.stop()
    gaps = [g for g in stack.journal.gaps() if g.channel == "order"]
    assert [(g.from_seq, g.to_seq, g.state) for g in gaps] == [(lost, lost, "filled")]
