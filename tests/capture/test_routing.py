"""Several bots of one participant share the service: replies go back to whoever asked."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from capture_stack import Stack
from plain_bot import PB as pb
from plain_bot import limit

from recorder.capture import SERVICE, Routes
from recorder.capture.intake import record_of
from recorder.capture.routing import GarbageReply
from recorder.capture.status import query_status
from recorder.core.frames import Channel, Direction, FrameFlag, FrameRecord


def mids(envs: list[Any]) -> set[str]:
    return {e.mid for e in envs}


def test_replies_go_to_the_bot_that_asked(
    make_stack: Callable[..., Stack], second_bot_keys: Any
) -> None:
    stack = make_stack()
    a, b = stack.bot(), stack.bot(second_bot_keys)
    a.ping()
    b.ping()
    a_order = a.request("limit_order", limit(1, is_ask=False, size=2, price=4000))
    b_order = b.request("limit_order", limit(1, is_ask=True, size=2, price=6000))
    b_mid = b_order[0].mid
    assert mids(a_order) == {a_order[0].mid} and mids(b_order) == {b_mid}
    # a cancels everything, b's order included: b hears of its own order's end
    cancel = a.request("cancel_all", pb.CancelAll())
    reports = [e for e in cancel if e.WhichOneof("body") == "action_report"]
    assert {r.action_report.entry_id for r in reports} == {a_order[0].mid, b_mid}
    seen_by_b = b.recv_until(lambda e: e.WhichOneof("body") == "action_report")
    assert seen_by_b[-1].action_report.entry_id == b_mid
    assert seen_by_b[-1].action_report.status_type == pb.CANCELLED
    # a's own MessageReplay: the replayed frames go to a only
    replay = a.request("message_replay", pb.MessageReplay(run_id=stack.sim.run_id, from_seq=1))
    assert any(e.is_replay for e in replay) and replay[-1].WhichOneof("body") == "replay_done"
    tail = b.ping()
    assert not any(e.is_replay for e in tail)
    # heartbeats reach both
    for bot in (a, b):
        bot.recv_until(lambda e: e.WhichOneof("body") == "heartbeat")
    # The status socket's answer counts the connections: the loop reads the sockets' events
    # (each bot's handshake came before its first message) before it answers.
    assert stack.service.endpoints is not None
    remote = query_status(stack.service.endpoints.status)
    assert remote.bots_connected == 2 and remote.market_subscribers == 2
    assert remote.session_id == stack.service.session_id and remote.frames > 0


def record(
    kind: str, mid: str, *, seq: int = 0, replay: bool = False, payload: bytes = b""
) -> FrameRecord:
    return FrameRecord(
        1, Channel.ORDER, Direction.IN, 0, 0, "r" * 32, seq, mid, kind, replay, 0, payload
    )


def delivered(routes: Routes, record: FrameRecord) -> tuple[bytes, ...]:
    """Where ``record`` goes when it is delivered at once (an empty-mid ``Status``'s bot is
    decided then)."""
    targets = routes.targets(record)
    return routes.garbage_sender(targets) if isinstance(targets, GarbageReply) else targets


def test_routes_table() -> None:
    routes = Routes()
    m1, m2, own = "a" * 32, "b" * 32, "c" * 32
    routes.request(
        b"A",
        FrameRecord(1, Channel.ORDER, Direction.OUT, 0, 0, "", 1, m1, "LimitOrder", False, 0, b""),
    )
    routes.request(
        b"B",
        FrameRecord(1, Channel.ORDER, Direction.OUT, 0, 0, "", 1, m2, "LimitOrder", False, 0, b""),
    )
    routes.request(
        b"B", FrameRecord(1, Channel.ORDER, Direction.OUT, 0, 0, "", 0, "", "", False, 1, b"junk")
    )
    routes.own(own, "GetBookState")
    assert routes.targets(record("Status", m1)) == (b"A",)
    assert routes.targets(record("ActionReport", m2)) == (b"B",)
    assert routes.targets(record("BookStateSnapshot", own)) == ()
    assert routes.targets(record("Heartbeat", "")) == (b"A", b"B")
    assert routes.targets(record("Status", "")) == GarbageReply()  # decided when delivered
    assert delivered(routes, record("Status", "")) == (b"B",)  # the bot that sent garbage
    assert delivered(routes, record("Status", "")) == (b"A", b"B")
    assert routes.targets(record("ActionReport", "d" * 32)) == (b"A", b"B")  # unknown mid
    routes.forget(b"A")
    assert routes.targets(record("Status", m1)) == (b"B",)
    assert SERVICE == b""


def out(mid: str, kind: str = "LimitOrder") -> FrameRecord:
    return FrameRecord(1, Channel.ORDER, Direction.OUT, 0, 0, "", 1, mid, kind, False, 0, b"")


def test_the_oldest_mids_are_forgotten_first_and_then_route_to_every_bot() -> None:
    routes = Routes(max_mids=3)
    first, second, third, fourth, fifth = (f"{i:032x}" for i in range(1, 6))
    routes.request(b"A", out(first, "CancelAll"))
    routes.request(b"B", out(second))
    routes.request(b"A", out(third))
    routes.request(b"B", out(first, "CancelAll"))  # a mid seen again keeps its age (and owner B)
    assert routes.targets(record("Status", first)) == (b"B",)
    routes.request(b"B", out(fourth))  # forgets the oldest: first
    assert routes.targets(record("ActionReport", first)) == (b"A", b"B")
    assert routes.targets(record("Status", second)) == (b"B",)
    routes.request(b"A", out(fifth))  # then second
    assert routes.targets(record("Status", second)) == (b"A", b"B")
    assert [routes.targets(record("Status", m)) for m in (third, fourth, fifth)] == [
        (b"A",), (b"B",), (b"A",),
    ]  # fmt: skip


def test_a_gone_bots_order_fill_reaches_the_bots_still_connected(
    make_stack: Callable[..., Stack], counterparty_keys: Any
) -> None:
    # no heartbeat in the window: broadcast, it would find the old connection gone first
    stack = make_stack(heartbeat_ms=60_000)
    first = stack.bot(market=False)
    first.ping()
    order = first.request("limit_order", limit(1, is_ask=False, size=2, price=4000))
    assert order[-1].action_report.status_type == pb.INSERTED
    first.close()  # the bot goes away, and comes back on a new connection
    stack.status_when(lambda status: status.bots_connected == 0)
    again = stack.bot(market=False)
    again.ping()
    # the fill is sent to the old connection first, which is gone: then to every bot
    other = stack.direct(counterparty_keys)
    other.request("limit_order", limit(1, is_ask=True, size=2, price=4000, ioc=True))
    fill = again.recv_until(lambda e: e.mid == order[0].mid)
    assert fill[-1].action_report.status_type == pb.CROSS


ANSWERED_UNDER_THEIR_MID = {
    "no body": {"mversion": "1.0"},
    "version 2": {"mversion": "2.0", "get_contracts": pb.GetContracts(contract_id=1)},
    "seq out of range": {
        "mversion": "1.0", "seq": 2**64 - 1, "get_contracts": pb.GetContracts(contract_id=1),
    },
}  # fmt: skip
"""Malformed requests (journaled flagged) that the exchange answers under their mid all the same:
REJECT_MALFORMED, REJECT_VERSION, executed."""


@pytest.mark.parametrize("fields", ANSWERED_UNDER_THEIR_MID.values(), ids=ANSWERED_UNDER_THEIR_MID)
def test_a_malformed_request_answered_under_its_mid_is_routed_by_it(
    make_stack: Callable[..., Stack], second_bot_keys: Any, fields: dict[str, Any]
) -> None:
    stack = make_stack()
    a, b = stack.bot(market=False), stack.bot(second_bot_keys, market=False)
    a.ping()
    b.ping()
    mid = uuid.uuid4().hex
    a.send_raw(pb.Envelope(mid=mid, timestamp=time.time_ns(), **fields).SerializeToString())
    assert mid in mids(a.ping())
    # a is not waiting for an empty-mid REJECT_MALFORMED: b's garbage gets its own
    b.send_raw(b"\xff\xfe garbage from b")
    got_b = b.ping()
    assert mid not in mids(got_b)
    assert [e.status.code for e in got_b if e.mid == "" and e.HasField("status")] == [
        pb.REJECT_MALFORMED
    ]
    assert not [e for e in a.ping() if e.mid == "" and e.HasField("status")]


def inbound(data: bytes) -> FrameRecord:
    return record_of(data, 1, Channel.ORDER, Direction.IN)


def outbound(data: bytes, flags: int = 0) -> FrameRecord:
    return record_of(data, 1, Channel.ORDER, Direction.OUT, flags)


def envelope(mid: str, *, mversion: str = "1.0", seq: int = 1, **body: Any) -> bytes:
    return pb.Envelope(mid=mid, seq=seq, mversion=mversion, **body).SerializeToString()


def test_routes_learn_a_malformed_request_under_the_mid_the_exchange_answers_it_by() -> None:
    routes = Routes()
    no_body, version_2, too_far, entry = (f"{i:032x}" for i in range(1, 5))
    cancel = pb.CancelOrder(contract_id=1, entry_id=entry)
    contracts = pb.GetContracts()
    routes.request(b"B", out(entry))
    answered_under_their_mid = [
        outbound(envelope(no_body)),  # REJECT_MALFORMED
        outbound(envelope(version_2, mversion="2.0", get_contracts=contracts)),  # REJECT_VERSION
        outbound(envelope("not hex", mversion="2.0", get_contracts=contracts)),  # the same
        outbound(envelope(too_far, seq=2**64 - 1, cancel_order=cancel)),  # executed
    ]
    answered_with_an_empty_mid = [
        outbound(b"\xff\xfe"),  # not an envelope
        outbound(envelope("", mversion="2.0", get_contracts=contracts)),
        outbound(envelope("e" * 32, cancel_order=cancel), FrameFlag.MULTIPART),
    ]
    for request in answered_under_their_mid + answered_with_an_empty_mid:
        assert request.flags  # journaled flagged, forwarded as it came
        routes.request(b"A", request)
    for mid in (no_body, version_2, "not hex"):
        assert routes.targets(record("Status", mid)) == (b"A",)
    report = envelope(too_far, action_report=pb.ActionReport(entry_id=entry))
    assert routes.targets(inbound(report)) == (b"A", b"B")  # learned as a cancel
    assert [delivered(routes, record("Status", "")) for _ in range(4)] == [
        (b"A",), (b"A",), (b"A",), (b"B", b"A"),
    ]  # fmt: skip


def test_replayed_frames_go_to_the_bot_whose_replay_they_answer() -> None:
    routes = Routes()
    a_order, b_order, a_replay, b_replay, own = (f"{i:032x}" for i in range(1, 6))
    routes.request(b"A", out(a_order))
    routes.request(b"B", out(b_order))
    routes.request(b"A", out(a_replay, "MessageReplay"))
    routes.own(own, "MessageReplay")
    routes.request(b"B", out(b_replay, "MessageReplay"))
    ack = envelope(a_replay, status=pb.Status(code=pb.ACK))
    assert routes.targets(inbound(ack)) == (b"A",)
    replayed = record("ActionReport", b_order, replay=True)
    assert routes.targets(replayed) == (b"A",) and routes.replayer == b"A"
    assert routes.by_mid(replayed) == (b"B",)  # whom it is for when it fills a gap
    assert routes.targets(record("ReplayDone", a_replay)) == (b"A",)
    # the service's replay: its ACK was lost, it is the oldest one outstanding: by mid
    assert routes.replayer is None
    assert routes.targets(record("ActionReport", a_order, replay=True)) == (b"A",)
    assert routes.targets(record("ReplayDone", own)) == ()
    # B's replay, its ACK lost too: B's
    assert routes.targets(record("ActionReport", a_order, replay=True)) == (b"B",)
    routes.forget(b"B")
    assert routes.replayer is None
    assert routes.targets(record("ActionReport", a_order, replay=True)) == (b"A",)


def test_an_empty_mid_reject_takes_its_senders_turn_only_when_delivered() -> None:
    routes = Routes()
    routes.request(b"A", outbound(b"\xff\xfe from a"))
    routes.request(b"B", outbound(b"\xff\xfe from b"))
    held = routes.targets(record("Status", "", seq=3))  # arrived behind a gap: not delivered
    replayed = routes.by_mid(record("Status", "", seq=2, replay=True), b"B")  # B's own replay
    assert held == GarbageReply() and replayed == GarbageReply((b"B",))
    # delivered in seq order: the replayed reject answers the older garbage, a's
    assert routes.garbage_sender(replayed) == (b"A",)
    assert routes.garbage_sender(held) == (b"B",)
    # nobody waits any more: every bot, but the one whose replay brought it
    assert routes.garbage_sender(GarbageReply((b"B",))) == (b"A",)


def test_a_replay_asked_on_a_lost_connection_answers_nothing_after_the_reconnection() -> None:
    routes = Routes()
    order, replay = (f"{i:032x}" for i in range(1, 3))
    routes.request(b"A", out(order))
    routes.request(b"B", out(replay, "MessageReplay"))  # never answered: the connection is lost
    assert routes.replayer == b"B"
    routes.reconnected()
    # the service's own replay on the new connection brings a's report: it is a's, not b's
    assert routes.replayer is None
    assert routes.by_mid(record("ActionReport", order, replay=True)) == (b"A",)
