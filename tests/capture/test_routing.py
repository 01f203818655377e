"""Several bots of one participant share the service: replies go back to whoever asked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from capture_stack import Stack
from plain_bot import PB as pb
from plain_bot import limit

from recorder.capture import SERVICE, Routes
from recorder.capture.status import query_status
from recorder.core.frames import Channel, Direction, FrameRecord


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
    assert routes.targets(record("Status", "")) == (b"B",)  # the bot that sent garbage
    assert routes.targets(record("Status", "")) == (b"A", b"B")
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
