"""A request the simulator fails on (its handling raises: a bug) is answered, and the loop serves
on (docs/protocol.md, "A request the simulator fails on").

The bug is planted with monkeypatch, on one request only; everything else is the real simulator:
over real sockets for the loop, on the pure exchange for what a failure leaves behind.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from lxclient import Client, limit

from recorder.errors import SimulatorError
from recorder.sim import engine as engine_module
from recorder.sim import exchange as exchange_module
from recorder.sim.control import ControlClient
from recorder.sim.engine import Engine
from recorder.sim.exchange import Exchange, Now, RequestFailure
from recorder.sim.model import Outbound, default_contracts
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import MVERSION

NOW = Now(1_700_000_000_000_000_000, 1)


def failing_on(mid: str, calls: list[str]) -> engine_module._Handler:
    """The real LimitOrder handler, except that it raises for ``mid`` (before touching a book)."""
    real = engine_module._HANDLERS["limit_order"]

    def handler(
        engine: Engine, participant: str, mid_: str, envelope: pb.Envelope, out: list[Outbound]
    ) -> tuple[int, str]:
        if mid_ == mid:
            calls.append(mid_)
            raise RuntimeError("a planted engine bug")
        return real(engine, participant, mid_, envelope, out)

    return handler


def assert_refused(envelope: pb.Envelope, mid: str, *, duplicate: bool = False) -> None:
    assert envelope.mid == mid
    assert envelope.WhichOneof("body") == "status"
    assert envelope.status.code == pb.REJECT_MALFORMED
    assert envelope.status.message.startswith("internal error")
    assert envelope.status.duplicate is duplicate


def test_a_request_that_raises_is_refused_and_everyone_is_served_on(
    server: SimServer,
    alice: Client,
    bob: Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = uuid.uuid4().hex
    calls: list[str] = []
    monkeypatch.setitem(engine_module._HANDLERS, "limit_order", failing_on(bad, calls))
    run_id = server.run_id
    caplog.set_level(logging.ERROR, logger="recorder.sim.server")

    alice.send(limit(price=4000), bad)
    replies = alice.request(limit(price=4100))  # the same participant, right behind it
    assert_refused(replies[0], bad)
    assert replies[0].run_id == run_id  # it had changed nothing: the run goes on
    assert [e.WhichOneof("body") for e in replies[1:]] == ["status", "action_report"]
    assert replies[1].status.code == pb.ACK
    assert bob.request(limit(price=4200))[0].status.code == pb.ACK  # another participant

    # Final, as every rejection: a resend is answered as a duplicate and never executed.
    again = alice.request(limit(price=4000), bad)
    assert len(again) == 1
    assert_refused(again[0], bad, duplicate=True)
    assert calls == [bad]
    assert [o.price_in_cents for o in server.book(1).bids] == [4200, 4100]
    seqs = [pb.Envelope.FromString(d).seq for d in alice.received]
    assert seqs == list(range(1, len(seqs) + 1))  # the refusal took its place in the stream

    logged = [r for r in caplog.records if r.name == "recorder.sim.server"]
    assert len(logged) == 1
    assert bad in logged[0].getMessage() and alice.key in logged[0].getMessage()
    assert logged[0].exc_info is not None and "planted" in str(logged[0].exc_info[1])


def test_a_request_that_raises_half_applied_is_undone_by_a_new_run(
    server: SimServer,
    alice: Client,
    bob: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Matching has no undo: a request that failed after it had filled a resting entry (bob's
    entry shrank, nobody was told) is undone by restarting the run (§6) before the answer."""
    assert bob.request(limit(is_ask=True, size=5, price=5000))[0].status.code == pb.ACK
    old_run = server.run_id
    bad = uuid.uuid4().hex
    real_report = Engine._report

    def report(engine: Engine, *args: Any) -> None:
        if args[6] == bad:  # its first report is the taker's CROSS: the maker's is done
            raise RuntimeError("a planted engine bug, halfway through a fill")
        real_report(engine, *args)

    monkeypatch.setattr(Engine, "_report", report)

    alice.send(limit(size=2, price=5000), bad)
    replies = alice.request(limit(price=4000))
    assert_refused(replies[0], bad)
    assert replies[0].run_id != old_run and replies[0].seq == 1  # the first message of a new run
    assert server.status()["previous_run_ids"] == [old_run]
    assert replies[1].status.code == pb.ACK and replies[1].run_id == replies[0].run_id
    # Nothing of the failed request survives: bob's half-filled entry went with the old run.
    view = server.book(1)
    assert [(o.price_in_cents, o.size) for o in view.bids] == [(4000, 1)] and view.asks == ()
    assert server.fills(bob.key) == [] and server.fills(alice.key) == []
    assert not server.engine.spoiled

    later = bob.request(limit(is_ask=True, size=1, price=6000))
    assert later[0].status.code == pb.ACK and later[0].run_id == replies[0].run_id
    again = alice.request(limit(size=2, price=5000), bad)  # remembered in the new run
    assert len(again) == 1
    assert_refused(again[0], bad, duplicate=True)


def test_a_failed_batch_leaves_its_inner_mids_unremembered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that fails before a book changed runs nothing inside: its inner mids are new."""
    exchange = Exchange(Engine(default_contracts(3)), lambda: uuid.uuid4().hex)
    exchange.add_participant("alice")
    bad = uuid.uuid4().hex
    monkeypatch.setitem(engine_module._HANDLERS, "limit_order", failing_on(bad, []))
    inner = [uuid.uuid4().hex, uuid.uuid4().hex, bad]
    batch = pb.Envelope(
        mid=uuid.uuid4().hex,
        mversion=MVERSION,
        batch=pb.Batch(
            messages=[
                pb.Envelope(mid=inner[0], cancel_all=pb.CancelAll()),  # no open entry: no change
                pb.Envelope(mid=inner[1], cancel_order=pb.CancelOrder(contract_id=1)),  # rejected
                pb.Envelope(mid=bad, limit_order=limit()),
            ]
        ),
    )
    (answer,) = exchange.receive("alice", [batch.SerializeToString()], NOW)
    assert_refused(pb.Envelope.FromString(answer.data), batch.mid)
    assert [exchange.engine.seen(m) for m in inner] == [None, None, None]
    assert exchange.engine.seen(batch.mid) is not None
    assert [(f.participant, f.mid, f.restarted) for f in exchange.failures] == [
        ("alice", batch.mid, False)
    ]


def test_a_replay_that_fails_leaves_no_seq_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A MessageReplay failing after its replayed messages were built: no ACK was counted, so the
    refusal is the next seq and the stream has no message nobody received."""
    exchange = Exchange(Engine(default_contracts(3)), lambda: uuid.uuid4().hex)
    exchange.add_participant("alice")
    order = pb.Envelope(mid=uuid.uuid4().hex, mversion=MVERSION, limit_order=limit())
    assert len(exchange.receive("alice", [order.SerializeToString()], NOW)) == 4  # 2 to alice
    assert exchange.last_seq("alice") == 2

    def broken(**fields: object) -> pb.ReplayDone:
        raise RuntimeError("a planted sequencing bug")

    monkeypatch.setattr(exchange_module.pb, "ReplayDone", broken)
    replay = pb.Envelope(mid=uuid.uuid4().hex, mversion=MVERSION, message_replay=pb.MessageReplay())
    (answer,) = exchange.receive("alice", [replay.SerializeToString()], NOW)
    refusal = pb.Envelope.FromString(answer.data)
    assert_refused(refusal, replay.mid)
    assert refusal.seq == 3 and exchange.last_seq("alice") == 3
    assert exchange.sent("alice")[2] == answer.data
    failure = exchange.failures[0]
    assert isinstance(failure, RequestFailure) and isinstance(failure.error, RuntimeError)


def test_a_control_request_that_raises_is_answered_and_the_loop_serves_on(
    server: SimServer,
) -> None:
    assert server.endpoints is not None
    control = ControlClient(server.endpoints.control)
    with pytest.raises(SimulatorError, match="internal error: OverflowError"):
        control.request("events", last=float("inf"))  # valid JSON (Infinity), not a count
    assert control.request("status")["run_id"] == server.run_id
