"""A bug in the simulator's background work — heartbeats, liquidity, the release of delayed
deliveries, the fault layer — no longer ends its loop for every participant (docs/protocol.md,
"Background work the simulator fails on"): the step is counted, logged and skipped once.

Each bug is planted with monkeypatch, to fire once (or on every tick, for the log's rate limit);
everything else is the real simulator over real sockets. On the old code the first failure
ended the loop thread, so every later request, status included, went unanswered.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lxclient import Client, envelope_bytes, limit
from waiting import until

from recorder.keys import KeyPair
from recorder.sim.engine import Engine
from recorder.sim.exchange import Exchange, Now
from recorder.sim.liquidity import Liquidity
from recorder.sim.model import default_contracts
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb

NOW = Now(1_700_000_000_000_000_000, 1)


class Planted:
    """A bug planted in ``real``: it raises on the first ``times`` calls (0: on every call) that
    ``when`` picks."""

    def __init__(
        self,
        real: Callable[..., Any],
        times: int = 1,
        when: Callable[..., bool] = lambda *args: True,
    ) -> None:
        self.real = real
        self.times = times
        self.when = when
        self.calls = 0
        self.fired = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.when(*args):
            return self.real(*args, **kwargs)
        self.calls += 1
        if not self.times or self.calls <= self.times:
            self.fired.set()
            raise RuntimeError(f"a planted bug ({self.calls})")
        return self.real(*args, **kwargs)


def connect(server: SimServer, keys: KeyPair, clients: list[Client]) -> Client:
    client = Client(server, keys, market=True)
    clients.append(client)
    assert client.request(pb.GetContracts(contract_id=1)) != []  # connected: gets heartbeats
    return client


def internal_errors(server: SimServer) -> tuple[int, dict[str, int]]:
    status = server.status()
    return status["internal_errors"], status["internal_errors_by_step"]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("recorder.sim") and r.exc_info]


@pytest.fixture
def sim_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.ERROR, logger="recorder.sim")
    yield caplog


BeatsFailing = Callable[..., tuple[SimServer, Client, Planted]]


@pytest.fixture
def beats_failing(
    make_server: Callable[..., SimServer],
    alice_keys: KeyPair,
    clients: list[Client],
    monkeypatch: pytest.MonkeyPatch,
) -> BeatsFailing:
    """``beats_failing(heartbeat_ms, times=1)``: a simulator heartbeating every
    ``heartbeat_ms``, alice connected, and a bug planted in its heartbeats (:class:`Planted`)."""

    def make(heartbeat_ms: int, times: int = 1) -> tuple[SimServer, Client, Planted]:
        server = make_server(heartbeat_ms=heartbeat_ms)
        alice = connect(server, alice_keys, clients)
        planted = Planted(server.exchange.heartbeats, times=times)
        monkeypatch.setattr(server.exchange, "heartbeats", planted)
        return server, alice, planted

    return make


def test_a_failed_heartbeat_step_is_skipped_once_and_the_loop_serves_on(
    beats_failing: BeatsFailing, sim_logs: pytest.LogCaptureFixture
) -> None:
    server, alice, planted = beats_failing(10)
    assert planted.fired.wait(5)

    assert alice.request(limit(price=4000))[0].status.code == pb.ACK
    beat = alice.recv_until(lambda e: e.WhichOneof("body") == "heartbeat", heartbeats=True)[-1]
    assert beat.heartbeat.interval_ms == 10  # the heartbeats go on
    assert internal_errors(server) == (1, {"heartbeats": 1})
    (logged,) = tracebacks(sim_logs)
    assert "heartbeats" in logged.getMessage()
    assert logged.exc_info is not None and "planted" in str(logged.exc_info[1])


def test_a_failed_liquidity_step_is_skipped_once_and_the_bots_trade_on(
    make_server: Callable[..., SimServer],
    monkeypatch: pytest.MonkeyPatch,
    sim_logs: pytest.LogCaptureFixture,
) -> None:
    server = make_server(liquidity=True, makers=2, takers=1, liquidity_interval_ms=2)
    planted = Planted(server.liquidity.next_request)
    monkeypatch.setattr(server.liquidity, "next_request", planted)
    assert planted.fired.wait(5)

    market_seq = server.status()["market_seq"]
    assert until(lambda: server.status()["market_seq"] > market_seq)
    assert internal_errors(server) == (1, {"liquidity": 1})
    (logged,) = tracebacks(sim_logs)
    assert "liquidity" in logged.getMessage()


def test_a_failed_release_of_a_delayed_message_loses_it_to_a_gap_that_replay_fills(
    server: SimServer,
    alice: Client,
    monkeypatch: pytest.MonkeyPatch,
    sim_logs: pytest.LogCaptureFixture,
) -> None:
    """The message whose release failed took its seq: a gap, which MessageReplay fills."""
    assert alice.request(limit(price=4000))[0].status.code == pb.ACK  # connected
    last = server.exchange.last_seq(alice.key)
    server.delay(alice.key, 30)  # holds the next message (the ACK), and the rest behind it
    planted = Planted(server._send, when=lambda delivery, now: delivery.to == alice.key)
    monkeypatch.setattr(server, "_send", planted)

    mid = alice.send(limit(price=4100))
    assert planted.fired.wait(5)
    report = alice.recv()  # the ACK was lost to the failure; the rest was released
    assert (report.seq, report.mid, report.WhichOneof("body")) == (last + 2, mid, "action_report")
    replayed = alice.request(pb.MessageReplay(from_seq=last + 1, to_seq=last + 1))
    assert [(e.seq, e.is_replay, e.mid) for e in replayed[1:-1]] == [(last + 1, True, mid)]
    assert replayed[1].status.code == pb.ACK
    assert internal_errors(server) == (1, {"delayed": 1})
    assert len(tracebacks(sim_logs)) == 1


def test_a_failed_fault_filter_sends_nothing_of_an_executed_request_and_replay_fills_it(
    server: SimServer,
    alice: Client,
    bob_keys: KeyPair,
    monkeypatch: pytest.MonkeyPatch,
    sim_logs: pytest.LogCaptureFixture,
) -> None:
    """The request ran and its replies were sequenced; only their sending failed."""
    assert alice.request(limit(price=4000))[0].status.code == pb.ACK
    last = server.exchange.last_seq(alice.key)
    server.drop_ack(bob_keys.public)  # a fault armed: the fault layer filters every delivery
    planted = Planted(server.faults.filter)
    monkeypatch.setattr(server.faults, "filter", planted)

    mid = alice.send(limit(price=4100))
    assert planted.fired.wait(5)
    after = alice.request(limit(price=4200))
    assert after[0].seq == last + 3 and after[0].status.code == pb.ACK  # 2 seqs never sent
    assert [o.price_in_cents for o in server.book(1).bids] == [4200, 4100, 4000]
    replayed = alice.request(pb.MessageReplay(from_seq=last + 1, to_seq=last + 2))
    assert [(e.seq, e.mid, e.WhichOneof("body")) for e in replayed[1:-1]] == [
        (last + 1, mid, "status"),
        (last + 2, mid, "action_report"),
    ]
    assert internal_errors(server) == (1, {"orders": 1})
    assert len(tracebacks(sim_logs)) == 1


def test_a_liquidity_failure_that_changed_a_book_is_undone_by_a_new_run(
    make_server: Callable[..., SimServer],
    monkeypatch: pytest.MonkeyPatch,
    sim_logs: pytest.LogCaptureFixture,
) -> None:
    """A bot's order fails halfway through a fill (the maker's entry shrank, nobody was told)
    and so does its answer, so the failure escapes the exchange: the run is restarted, as the
    request path does (old code: the run went on with the half-filled entry)."""
    bad = uuid.uuid4().hex
    script = [
        ("maker-1", envelope_bytes(limit(is_ask=True, size=5, price=5000), uuid.uuid4().hex)),
        ("taker-1", envelope_bytes(limit(size=2, price=5000, ioc=True), bad)),
    ]

    def next_request() -> tuple[str, bytes]:
        if script:
            return script.pop(0)
        return "maker-1", envelope_bytes(pb.GetContracts(contract_id=1), uuid.uuid4().hex)

    real_report = Engine._report

    def report(engine: Engine, *args: Any) -> None:
        if args[6] == bad:  # the taker's CROSS: the maker's is done
            raise RuntimeError("a planted engine bug, halfway through a fill")
        real_report(engine, *args)

    refuse = Planted(Exchange._refuse, times=0)
    monkeypatch.setattr(Engine, "_report", report)
    monkeypatch.setattr(Exchange, "_refuse", refuse)
    monkeypatch.setattr(Liquidity, "next_request", lambda self, *args: next_request())
    server = make_server(liquidity=True, makers=1, takers=1, liquidity_interval_ms=5)
    old_run = server.run_id
    assert refuse.fired.wait(5)

    assert server.status()["previous_run_ids"] == [old_run]
    assert not server.engine.spoiled
    view = server.book(1)
    assert view.bids == () and view.asks == ()  # the half-filled ask went with the old run
    assert server.fills("maker-1") == []
    assert internal_errors(server) == (1, {"liquidity": 1})
    (logged,) = tracebacks(sim_logs)
    assert bad in logged.getMessage() and "taker-1" in logged.getMessage()
    assert "restarted" in logged.getMessage()


def test_a_failure_on_every_tick_logs_one_traceback_then_a_count(
    beats_failing: BeatsFailing, sim_logs: pytest.LogCaptureFixture
) -> None:
    server, alice, planted = beats_failing(1, times=0)
    assert until(lambda: planted.calls >= 30)

    assert alice.request(limit(price=4000))[0].status.code == pb.ACK
    server.stop()
    count = planted.calls
    assert len(tracebacks(sim_logs)) == 1
    logged = [r for r in sim_logs.records if r.name.startswith("recorder.sim")]
    assert len(logged) <= 3  # the first, at most one count per 10 s, and the count at the stop
    assert f"{count - 1} more" in logged[-1].getMessage()  # none goes unreported


def test_heartbeats_that_fail_take_back_their_beat_numbers() -> None:
    """Sequencing is all or nothing, beats too: the beat after a failed one is the next."""
    exchange = Exchange(Engine(default_contracts(1)), lambda: uuid.uuid4().hex)
    exchange.add_participant("alice")
    exchange.attach("alice")
    real_emit = exchange._emit
    exchange._emit = Planted(real_emit)  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="planted"):
        exchange.heartbeats(NOW)
    beats = [pb.Envelope.FromString(d.data) for d in exchange.heartbeats(NOW)]
    assert [(e.seq, e.heartbeat.beat) for e in beats] == [(1, 1), (1, 1)]
