"""Fault injection on the running server (Python API and control socket), over real sockets."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from lxclient import Client, limit

from recorder.core.frames import Channel
from recorder.errors import SimulatorError
from recorder.keys import KeyPair
from recorder.sim.control import ControlClient
from recorder.sim.faults import FaultKind
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb


def seqs_of(client: Client) -> list[int]:
    return [pb.Envelope.FromString(d).seq for d in client.received]


def test_drop_next_makes_a_gap_that_replay_fills(
    server: SimServer, alice: Client, caplog: pytest.LogCaptureFixture
) -> None:
    alice.request(limit(size=1, price=4000))
    server.drop_next(alice.key, 2)
    with caplog.at_level(logging.WARNING, logger="recorder.sim.faults"):
        alice.request(limit(size=1, price=4001))  # ACK and INSERTED dropped
    seqs = seqs_of(alice)
    missing = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
    assert missing == [6, 7]  # 1..5: the first order's ACK and report, the ping's three
    assert "dropped order seq 6" in caplog.text
    replay = alice.request(pb.MessageReplay(from_seq=6, to_seq=7))
    assert [(e.seq, e.is_replay, e.WhichOneof("body")) for e in replay[1:-1]] == [
        (6, True, "status"),
        (7, True, "action_report"),
    ]
    events = server.fault_events()
    assert [e.kind for e in events] == [FaultKind.DROP_NEXT, FaultKind.DROP_NEXT]


def test_drop_ack_then_resend_gets_a_duplicate_ack(server: SimServer, alice: Client) -> None:
    """S1: the ACK is lost; the resent request is answered ACK duplicate and not re-executed."""
    server.drop_ack(alice.key)
    mid = uuid.uuid4().hex
    first = alice.request(limit(size=1), mid=mid)
    assert [e.WhichOneof("body") for e in first] == ["action_report"]  # the ACK never came
    again = alice.request(limit(size=1), mid=mid)
    assert [(e.status.code, e.status.duplicate) for e in again] == [(pb.ACK, True)]
    assert len(server.open_orders(alice.key)) == 1


def test_drop_requests_loses_them_before_execution(server: SimServer, alice: Client) -> None:
    server.drop_requests(alice.key, 1)
    mid = alice.send(limit(size=1))
    assert alice.silent(0.3)
    replies = alice.request(limit(size=1), mid=mid)  # the resend executes for the first time
    assert [(e.status.code, e.status.duplicate) for e in replies[:1]] == [(pb.ACK, False)]


def test_drop_after_ack_is_scenario_s2(server: SimServer, alice: Client, bob: Client) -> None:
    server.drop_after_ack(alice.key)
    mid = alice.send(limit(size=2, price=5000))
    ack = alice.recv()
    assert (ack.mid, ack.status.code) == (mid, pb.ACK)
    bob.request(limit(is_ask=True, size=2, price=5000))  # fills alice: her reports are dropped
    assert alice.silent(0.4)
    recovered = alice.request(pb.MessageReplay(mids=[mid]))  # a new request ends the window
    reports = [e.action_report for e in recovered if e.WhichOneof("body") == "action_report"]
    assert [(r.status_type, r.size) for r in reports] == [(pb.INSERTED, 2), (pb.CROSS, 0)]


def test_drop_market_makes_a_market_seq_and_clock_gap(server: SimServer, alice: Client) -> None:
    alice.market_ready()
    server.drop_market(2)
    alice.request(limit(size=1, price=4000))  # INSERTED + BookTop: both dropped
    alice.request(limit(size=1, price=4100))
    report = alice.market_recv()
    assert report.action_report.clock == 2
    before = [pb.Envelope.FromString(d).seq for d in alice.market]
    assert before[-1] - before[-2] == 3  # the heartbeat before, then two missing seqs


def test_duplicate_and_delay(server: SimServer, alice: Client) -> None:
    server.duplicate_next(alice.key, 1)
    alice.request(limit(size=1))
    seqs = seqs_of(alice)
    assert seqs[0] == seqs[1] == 1 and alice.received[0] == alice.received[1]
    server.delay(alice.key, 300, 1)
    started = time.monotonic()
    mid = alice.send(limit(size=1, price=4000))
    ack = alice.recv()
    assert ack.mid == mid and time.monotonic() - started >= 0.25
    report = alice.recv()
    assert report.seq == ack.seq + 1  # what followed waited behind it: order kept


def test_disconnect_then_reconnect_continues_the_stream(
    server: SimServer, alice: Client, alice_keys: KeyPair, clients: list[Client]
) -> None:
    alice.request(limit(size=1))
    server.disconnect(alice.key)
    alice.send(limit(size=1, price=4000))  # on a dead connection: never executed
    assert alice.silent(0.3)
    again = Client(server, alice_keys)
    clients.append(again)
    replies = again.request(pb.GetOpenOrders())
    assert len(replies[1].open_orders_snapshot.entries) == 1
    assert replies[0].seq > max(seqs_of(alice))


def test_garbage_bytes_and_restart_through_the_control_socket(
    server: SimServer, alice: Client
) -> None:
    assert server.endpoints is not None
    control = ControlClient(server.endpoints.control)
    alice.request(limit(size=1))
    old_run = server.run_id
    assert control.request("garbage", participant=alice.key, size=7) == 7
    alice.dealer.poll(2000)
    garbage = alice.dealer.recv()
    assert len(garbage) == 7
    new_run = control.request("restart")
    assert new_run != old_run and server.run_id == new_run
    status = control.request("status")
    assert status["run_id"] == new_run and old_run in status["previous_run_ids"]
    control.request("drop_next", participant=alice.key, count=1)
    assert control.request("status")["armed"] == [alice.key]
    events = control.request("events")
    assert [e["kind"] for e in events] == ["garbage", "restart"]
    with pytest.raises(SimulatorError, match="unknown op"):
        control.request("explode")
    with pytest.raises(SimulatorError, match="unknown participant"):
        control.request("drop_ack", participant="x" * 40)


def test_garbage_on_the_market_channel(server: SimServer, alice: Client) -> None:
    alice.market_ready()
    data = server.send_garbage(None, 5, Channel.MARKET)
    while alice.sub is not None and alice.sub.poll(2000):
        if alice.sub.recv() == data:
            break
    else:
        pytest.fail("the garbage never arrived")


def test_background_liquidity_keeps_books_alive(make_server: type[SimServer]) -> None:
    server = make_server(liquidity=True, makers=2, takers=1, liquidity_interval_ms=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        books = [server.book(c) for c in (1, 2, 3)]
        traded = any(server.fills(p) for p in ("maker-1", "maker-2"))
        if traded and all(b.clock > 5 for b in books):
            break
        server.call(lambda: None)
    assert traded and all(b.clock > 5 for b in books)


def test_drop_next_replies_only_lets_heartbeats_and_others_trades_pass() -> None:
    """Pure: ``replies_only`` counts the participant's own replies, nothing else to it."""
    from recorder.sim.exchange import Delivery
    from recorder.sim.faults import FaultPlan

    def order(to: str, seq: int) -> Delivery:
        return Delivery(to, Channel.ORDER, seq, b"m%d" % seq)

    plan = FaultPlan()
    plan.drop_next("alice", 2, replies_only=True)
    heartbeat = plan.filter(None, [order("alice", 1)], wall_ns=1)
    others_trade = plan.filter("bob", [order("bob", 1), order("alice", 2)], wall_ns=2)
    own = plan.filter("alice", [order("alice", 3), order("alice", 4), order("alice", 5)], 3)
    assert [t.delivery.seq for t in heartbeat] == [1]
    assert [(t.delivery.to, t.delivery.seq) for t in others_trade] == [("bob", 1), ("alice", 2)]
    assert [t.delivery.seq for t in own] == [5]  # 3 and 4 dropped, then disarmed
    assert plan.armed() == [] and plan.idle
    assert [e.kind for e in plan.events] == [FaultKind.DROP_NEXT] * 2
    # Without it every message to the participant counts, a heartbeat first.
    plan.drop_next("alice", 1)
    assert plan.filter(None, [order("alice", 6)], wall_ns=4) == []


def test_drop_next_replies_only_through_the_control_socket(
    server: SimServer, alice: Client
) -> None:
    assert server.endpoints is not None
    control = ControlClient(server.endpoints.control)
    control.request("drop_next", participant=alice.key, count=1, replies_only=True)
    assert control.request("status")["armed"] == [alice.key]
    with pytest.raises(SimulatorError, match="replies_only must be true or false"):
        control.request("drop_next", participant=alice.key, count=1, replies_only="yes")
    mid = uuid.uuid4().hex
    replies = [e for e in alice.request(limit(size=1), mid=mid) if e.mid == mid]
    assert [e.WhichOneof("body") for e in replies] == ["action_report"]  # its ACK was dropped
    assert "a reply" in control.request("events")[-1]["detail"]
