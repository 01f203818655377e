"""The simulator's server: the pure exchange behind real ZeroMQ + CurveZMQ sockets.

:class:`SimServer` binds the order channel (ROUTER), the market channel (PUB) — both CURVE
servers with a ZAP allow-list of participant public keys — and a plain REP control socket
(:mod:`recorder.sim.control`). One thread (the *loop*) owns the sockets and the
:class:`~recorder.sim.exchange.Exchange`; everything else talks to it through :meth:`call`.

Who is who: ZeroMQ's ROUTER knows a connection by its routing id, LX/1 knows a participant by
its CURVE public key. The first message of every new routing id is read as a ``zmq.Frame`` and
its ``User-Id`` property (set by the ZAP handler to the z85 public key) names the participant;
later messages of that routing id are read as plain bytes. Order-channel seqs belong to the
participant, not to the connection: a reconnecting participant continues its stream, and
replies go to the participant's most recently active connection.

Use it in-process (tests, the demo)::

    server = SimServer(SimConfig(order_bind="tcp://127.0.0.1:*", ...), keys=KeyPair.generate(),
                       participants=[client.public])
    endpoints = server.start()          # binds, starts the loop thread, returns the endpoints
    ...
    server.stop()

or in the foreground with :meth:`serve_forever` (``recorder sim``; Ctrl-C stops it cleanly).

A request the exchange fails on (a bug) is answered by the exchange itself
(:class:`~recorder.sim.exchange.RequestFailure`); the loop logs it, with the participant and the
mid, and serves on. Should even that answer fail, the request is logged and left unanswered.
A bug in any other step of the loop (:class:`~recorder.sim.failures.Step`: the heartbeats, the
liquidity bots, the release of delayed deliveries, the fault layer, sending) skips that step
once and the loop serves on; what the step had sequenced counts as sent (a gap that replay
fills), and a failure that had changed a book restarts the run, as a request's does. Every
failure is counted (``internal_errors`` in :meth:`SimServer.status`) and logged through
:class:`~recorder.sim.failures.FailureLog`: the first of its kind with its traceback, then counts.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

import zmq
import zmq.auth.thread

from recorder.config import SimConfig
from recorder.core.frames import Channel, Direction
from recorder.errors import SimulatorError
from recorder.keys import KeyPair
from recorder.sim.engine import Engine
from recorder.sim.exchange import Delivery, Exchange, Now, request_mid
from recorder.sim.failures import FailureLog, Report, Step
from recorder.sim.faults import FaultKind, FaultPlan, Transmission
from recorder.sim.liquidity import Liquidity, LiquidityConfig
from recorder.sim.model import BookView, Fill, RestingOrder, default_contracts
from recorder.sim.session import WireFrame

log = logging.getLogger("recorder.sim.server")

T = TypeVar("T")

ZAP_DOMAIN = "lx1"
"""The ZAP domain of both channels."""

_BURST = 512
"""The most order-channel messages handled between two looks at the timers."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the server listens (ports resolved when bound to ``*``)."""

    order: str
    market: str
    control: str


class _AllowList:
    """The ZAP credentials provider: a set of z85 public keys, changeable at run time."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        self._keys = set(keys)
        self._lock = threading.Lock()

    def add(self, key: bytes) -> None:
        with self._lock:
            self._keys.add(key)

    def callback(self, domain: str, key: bytes) -> bool:
        with self._lock:
            allowed = key in self._keys
        if not allowed:
            log.warning("refused CURVE key %s (not on the allow-list)", key.decode("ascii"))
        return allowed


class SimServer:
    """The LX/1 exchange simulator on real sockets (see the module docstring).

    ``participants`` are the public keys (z85 bytes or text) allowed to connect; more can be
    added with :meth:`allow`. ``liquidity`` runs ``config.makers`` makers and ``config.takers``
    takers every ``config.liquidity_interval_ms`` (seeded by ``config.seed``).
    ``record_frames`` keeps every frame sent to and received from each participant in
    :meth:`frames` (for byte-for-byte end-to-end checks).
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        keys: KeyPair,
        participants: Iterable[bytes | str] = (),
        liquidity: bool = True,
        record_frames: bool = False,
    ) -> None:
        self.config = config = config or SimConfig()
        if keys.private is None:
            raise SimulatorError("the simulator needs its private key; load the secret certificate")
        self.keys = keys
        allowed = [k.encode("ascii") if isinstance(k, str) else k for k in participants]
        self._allow = _AllowList(allowed)
        contracts = default_contracts(config.contracts)
        self.engine = Engine(contracts)
        self.exchange = Exchange(
            self.engine,
            lambda: uuid.uuid4().hex,
            heartbeat_ms=config.heartbeat_ms,
            replay_cap=config.replay_cap,
        )
        for key in allowed:
            self.exchange.add_participant(key.decode("ascii"))
        self.liquidity = Liquidity(contracts, LiquidityConfig(config.makers, config.takers))
        for bot in self.liquidity.participants:
            self.exchange.add_participant(bot)
        self._rng = random.Random(config.seed)
        self._liquidity_on = liquidity and bool(self.liquidity.participants)
        self.faults = FaultPlan()
        self._failures = FailureLog()
        self._record = record_frames
        self._frames: list[WireFrame] = []
        self._frames_lock = threading.Lock()
        self._routes: dict[str, bytes] = {}  # participant -> routing id of its latest connection
        self._peers: dict[bytes, str] = {}  # routing id -> participant
        self._dead: set[bytes] = set()  # routing ids cut by a DISCONNECT fault
        self._delayed: list[tuple[int, int, Transmission]] = []
        self._delay_order = 0
        self._calls: SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = SimpleQueue()
        self._wake_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self.endpoints: Endpoints | None = None
        self.received = 0
        """Requests received on the order channel (a counter for benchmarks)."""

    # ------------------------------------------------------------------ lifecycle

    @property
    def public_key(self) -> bytes:
        """The exchange's public key (z85), which clients pass as their ``curve_serverkey``."""
        return self.keys.public

    def start(self) -> Endpoints:
        """Bind the sockets and start the loop thread; return the bound endpoints."""
        if self._thread is not None:
            raise SimulatorError("the simulator is already running")
        config = self.config
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._ctx = ctx
        self._auth = zmq.auth.thread.ThreadAuthenticator(ctx, log=log)
        self._auth.start()
        self._auth.configure_curve_callback(ZAP_DOMAIN, credentials_provider=self._allow)
        try:
            self._router = self._curve_socket(ctx, zmq.ROUTER, config.order_bind)
            self._pub = self._curve_socket(ctx, zmq.PUB, config.market_bind)
            self._control = ctx.socket(zmq.REP)
            self._control.linger = 0
            self._control.bind(config.control_bind)
        except zmq.ZMQError as exc:
            self._close()
            raise SimulatorError(
                f"cannot bind the simulator's sockets ({exc}); is another simulator running on "
                f"{config.order_bind}, {config.market_bind} or {config.control_bind}?"
            ) from exc
        wake_endpoint = f"inproc://sim-wake-{id(self)}"
        self._wake_pull = ctx.socket(zmq.PULL)
        self._wake_pull.bind(wake_endpoint)
        self._wake_push = ctx.socket(zmq.PUSH)
        self._wake_push.linger = 0
        self._wake_push.connect(wake_endpoint)
        self.endpoints = Endpoints(
            self._router.getsockopt_string(zmq.LAST_ENDPOINT),
            self._pub.getsockopt_string(zmq.LAST_ENDPOINT),
            self._control.getsockopt_string(zmq.LAST_ENDPOINT),
        )
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="lx1-sim", daemon=True)
        self._thread.start()
        log.info(
            "simulator run %s: orders on %s, market on %s, control on %s",
            self.exchange.run_id,
            self.endpoints.order,
            self.endpoints.market,
            self.endpoints.control,
        )
        return self.endpoints

    def _curve_socket(
        self, ctx: zmq.Context[zmq.Socket[bytes]], kind: int, endpoint: str
    ) -> zmq.Socket[bytes]:
        sock = ctx.socket(kind)
        sock.linger = 0
        sock.curve_server = True
        sock.curve_publickey = self.keys.public
        assert self.keys.private is not None
        sock.curve_secretkey = self.keys.private
        sock.zap_domain = ZAP_DOMAIN.encode("ascii")
        if kind == zmq.ROUTER:
            sock.rcvhwm = 0
        sock.sndhwm = 0
        sock.bind(endpoint)
        return sock

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop thread and close every socket (idempotent)."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wake()
        thread.join(timeout)
        if thread.is_alive():
            raise SimulatorError(f"the simulator loop did not stop within {timeout} s")
        self._thread = None
        self._close()
        log.info("simulator stopped")

    def serve_forever(self) -> None:
        """Run in the foreground until :meth:`stop` or Ctrl-C."""
        if self._thread is None:
            self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.2)
        except KeyboardInterrupt:
            log.info("interrupted")
        finally:
            self.stop()

    def __enter__(self) -> SimServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _close(self) -> None:
        auth: zmq.auth.thread.ThreadAuthenticator | None = getattr(self, "_auth", None)
        if auth is not None:
            auth.stop()
            del self._auth
        if self._ctx is not None:
            self._ctx.destroy(linger=0)
            self._ctx = None

    # ------------------------------------------------------------------ calls into the loop

    def call(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        """Run ``fn`` in the loop thread (where the exchange lives) and return its result."""
        if self._thread is None:
            return fn()
        if threading.current_thread() is self._thread:
            return fn()
        future: Future[T] = Future()
        self._calls.put((fn, future))
        self._wake()
        return future.result(timeout)

    def _wake(self) -> None:
        with self._wake_lock:
            if self._ctx is not None:
                self._wake_push.send(b"", zmq.NOBLOCK)

    def allow(self, public_key: bytes | str) -> None:
        """Add a participant's public key to the allow-list (and the engine)."""
        key = public_key.encode("ascii") if isinstance(public_key, str) else public_key
        self._allow.add(key)
        self.call(lambda: self.exchange.add_participant(key.decode("ascii")))

    # ------------------------------------------------------------------ ground truth

    @property
    def run_id(self) -> str:
        """The current run id."""
        return self.call(lambda: self.exchange.run_id)

    def book(self, contract_id: int) -> BookView:
        """The engine's book of one contract."""
        return self.call(lambda: self.engine.book(contract_id))

    def open_orders(self, participant: bytes | str, contract_id: int = 0) -> list[RestingOrder]:
        """A participant's open entries, as the engine holds them."""
        return self.call(lambda: self.engine.open_orders(_text(participant), contract_id))

    def fills(self, participant: bytes | str) -> list[Fill]:
        """A participant's fills in this run."""
        return self.call(lambda: self.engine.fills(_text(participant)))

    def frames(self, participant: bytes | str | None = None) -> list[WireFrame]:
        """Logged frames (``record_frames=True``): all, or one participant's and the market's."""
        with self._frames_lock:
            frames = list(self._frames)
        if participant is None:
            return frames
        who = _text(participant)
        return [f for f in frames if f.participant in (None, who)]

    # ------------------------------------------------------------------ faults (Python API)

    def drop_next(
        self, participant: bytes | str, count: int, *, replies_only: bool = False
    ) -> None:
        """Drop the next ``count`` order-channel messages to the participant (a seq gap); with
        ``replies_only``, the next ``count`` replies to its own requests (heartbeats pass)."""
        who = _text(participant)
        self.call(lambda: self.faults.drop_next(who, count, replies_only=replies_only))

    def drop_ack(self, participant: bytes | str) -> None:
        """Drop the first reply to the participant's next request (S1)."""
        self.call(lambda: self.faults.drop_ack(_text(participant)))

    def drop_after_ack(self, participant: bytes | str) -> None:
        """Deliver the next request's ACK, then drop until the participant's next request (S2)."""
        self.call(lambda: self.faults.drop_after_ack(_text(participant)))

    def drop_requests(self, participant: bytes | str, count: int) -> None:
        """Lose the participant's next ``count`` requests before they are executed."""
        self.call(lambda: self.faults.drop_requests(_text(participant), count))

    def drop_market(self, count: int) -> None:
        """Drop the next ``count`` market-channel messages (a market seq and clock gap)."""
        self.call(lambda: self.faults.drop_market(count))

    def duplicate_next(self, participant: bytes | str, count: int = 1) -> None:
        """Send each of the next ``count`` order-channel messages to the participant twice."""
        self.call(lambda: self.faults.duplicate_next(_text(participant), count))

    def delay(self, participant: bytes | str, delay_ms: int, count: int = 1) -> None:
        """Hold the next ``count`` order-channel messages to the participant ``delay_ms``."""
        self.call(lambda: self.faults.delay(_text(participant), delay_ms, count))

    def disconnect(self, participant: bytes | str) -> None:
        """Cut the participant's connections: nothing more is sent to or read from them.

        The participant must reconnect (a new connection); what the exchange produced for it
        meanwhile is in its seq stream and can be replayed.
        """
        self.call(lambda: self._disconnect(_text(participant)))

    def restart(self) -> str:
        """Restart the run (docs/protocol.md §6); returns the new run_id."""
        return self.call(self._restart)

    def send_garbage(
        self,
        participant: bytes | str | None,
        size: int = 16,
        channel: Channel = Channel.ORDER,
        *,
        parts: int = 1,
    ) -> bytes:
        """Send ``size`` random bytes (not an envelope, no seq) to the participant or the market,
        as one ZeroMQ message of ``parts`` frames (LX/1 messages have one: more is a protocol
        error too); returns the bytes, joined."""
        return self.call(lambda: self._garbage(participant, size, channel, parts))

    def beat(self) -> None:
        """Send heartbeats on both channels now (tests use it to synchronise)."""
        self.call(self._beat)

    def fault_events(self) -> list[Any]:
        """Every fault that fired so far (:class:`~recorder.sim.faults.FaultEvent`)."""
        return self.call(lambda: list(self.faults.events))

    def status(self) -> dict[str, Any]:
        """A summary: run, participants with their seqs and connections, armed faults, and the
        failures inside the simulator (``internal_errors``, and by loop step)."""
        return self.call(self._status)

    # ------------------------------------------------------------------ loop-thread internals

    def _now(self) -> Now:
        return Now(time.time_ns(), time.monotonic_ns())

    def _disconnect(self, participant: str) -> None:
        rids = [rid for rid, who in self._peers.items() if who == participant]
        self._dead.update(rids)
        self._routes.pop(participant, None)
        self.exchange.detach(participant)
        self.faults.record(
            time.time_ns(),
            FaultKind.DISCONNECT,
            participant,
            f"cut {len(rids)} connection(s); the participant must reconnect",
        )

    def _restart(self) -> str:
        run_id = self.exchange.restart()
        self.faults.record(time.time_ns(), FaultKind.RESTART, None, f"new run {run_id}")
        return run_id

    def _garbage(
        self, participant: bytes | str | None, size: int, channel: Channel, parts: int = 1
    ) -> bytes:
        parts = max(parts, 1)
        data = self._rng.randbytes(max(size, parts))
        n = len(data)
        frames = [data[i * n // parts : (i + 1) * n // parts] for i in range(parts)]
        now = self._now()
        who = None if participant is None else _text(participant)
        if channel is Channel.MARKET or who is None:
            self._log(None, Channel.MARKET, Direction.IN, data, now)  # logged, then sent
            self._pub.send_multipart(frames)
        else:
            rid = self._routes.get(who)
            if rid is None:
                raise SimulatorError(f"participant {who} is not connected")
            self._log(who, Channel.ORDER, Direction.IN, data, now)
            self._router.send_multipart([rid, *frames])
        self.faults.record(
            now.wall_ns,
            FaultKind.GARBAGE,
            who,
            f"sent {len(data)} garbage bytes in {len(frames)} frame(s) on {channel}",
        )
        return data

    def _status(self) -> dict[str, Any]:
        exchange = self.exchange
        return {
            "run_id": exchange.run_id,
            "previous_run_ids": list(exchange.previous_run_ids),
            "market_seq": exchange.market_seq,
            "participants": {
                p: {"seq": exchange.last_seq(p), "connected": p in self._routes}
                for p in self.engine.participants
            },
            "armed": self.faults.armed(),
            "fault_events": len(self.faults.events),
            "internal_errors": self._failures.total,
            "internal_errors_by_step": {str(s): n for s, n in self._failures.counts.items()},
        }

    def _log(
        self, participant: str | None, channel: Channel, direction: Direction, data: bytes, now: Now
    ) -> None:
        if self._record:
            frame = WireFrame(0, participant, channel, direction, data, now.wall_ns, now.mono_ns)
            with self._frames_lock:
                self._frames.append(frame)

    def _run(self) -> None:
        from recorder.sim.control import handle_control

        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._control, zmq.POLLIN)
        poller.register(self._wake_pull, zmq.POLLIN)
        heartbeat_ns = self.config.heartbeat_ms * 1_000_000
        liquidity_ns = max(self.config.liquidity_interval_ms, 1) * 1_000_000
        mono = time.monotonic_ns()
        next_beat = mono + heartbeat_ns
        next_liquidity = mono + liquidity_ns
        control = self._control

        def answer_control() -> None:
            control.send(handle_control(self, control.recv()))

        # Each step is guarded (a bug skips it once, see _guarded); its timer is set first, so
        # a step that fails on every tick still runs once a tick, not on every turn.
        try:
            while not self._stopping.is_set():
                mono = time.monotonic_ns()
                deadline = next_beat
                if self._liquidity_on:
                    deadline = min(deadline, next_liquidity)
                if self._delayed:
                    deadline = min(deadline, self._delayed[0][0] - time.time_ns() + mono)
                timeout = max(0, (deadline - mono) // 1_000_000)
                events = dict(poller.poll(timeout))
                if self._router in events:
                    self._guarded(Step.ORDERS, self._drain_router)
                if self._wake_pull in events:
                    self._drain_calls()
                if control in events:
                    self._guarded(Step.CONTROL, answer_control)
                mono = time.monotonic_ns()
                if mono >= next_beat:
                    next_beat = mono + heartbeat_ns
                    self._guarded(Step.HEARTBEATS, self._beat)
                if self._liquidity_on and mono >= next_liquidity:
                    next_liquidity = mono + liquidity_ns
                    self._guarded(Step.LIQUIDITY, self._trade)
                if self._delayed:
                    self._guarded(Step.DELAYED, lambda: self._flush_delayed(time.time_ns()))
        except Exception:  # pragma: no cover - a bug outside every step; keep the traceback
            log.exception("simulator loop failed")
            raise
        finally:
            self._drain_calls()
            for report in self._failures.pending(time.monotonic_ns()):
                _log_failure(report)

    def _guarded(self, step: Step, work: Callable[[], None]) -> None:
        """Run one step of the loop; a failure (a bug) skips the rest of it, this once.

        What the step had sequenced before it failed stays in the replay record, sent or not (a
        gap the participant recovers, as after a dropped message); if it had changed a book,
        the run is restarted, so nothing of it survives (see :meth:`_undo_if_spoiled`).
        """
        try:
            work()
        except Exception as exc:
            undone = self._undo_if_spoiled(step)
            self._failed(
                step, exc, f"the {step} step failed inside the simulator{undone}; skipped once"
            )

    def _undo_if_spoiled(self, step: Step) -> str:
        """After a failure: if it had changed a book with no undo (the engine is spoiled),
        restart the run, as a failed request does; returns what the failure's log adds."""
        if not self.engine.spoiled:
            return ""
        try:
            run_id = self.exchange.restart()
        except Exception as exc:
            self._failed(step, exc, "restarting the run to undo a failure failed")
            return " (it had changed a book, and restarting the run failed)"
        return f" (it had changed a book: the run was restarted, new run {run_id})"

    def _failed(self, step: Step, error: BaseException, detail: str) -> None:
        """Count a failure inside the simulator and log it, if its kind is not being counted."""
        report = self._failures.note(step, error, time.monotonic_ns(), detail)
        if report is not None:
            _log_failure(report, error)

    def _beat(self) -> None:
        now = self._now()
        self._dispatch(None, self.exchange.heartbeats(now), now)

    def _trade(self) -> None:
        """One liquidity bot's next request, served as a participant's is (off the hot path)."""
        now = self._now()
        bot, data = self.liquidity.next_request(self._rng, self.engine, *now)
        parts = (data,)
        try:
            deliveries = self.exchange.receive(bot, parts, now)
        except Exception as exc:
            self._unanswered(Step.LIQUIDITY, bot, parts, exc)
            return
        if self.exchange.failures:
            self._log_failures(Step.LIQUIDITY)
        self._dispatch(bot, deliveries, now)

    def _drain_calls(self) -> None:
        while True:
            try:
                self._wake_pull.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        while True:
            try:
                fn, future = self._calls.get_nowait()
            except Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except Exception as exc:
                future.set_exception(exc)

    def _drain_router(self) -> None:
        router = self._router
        peers = self._peers
        exchange = self.exchange
        failures = exchange.failures
        faults = self.faults
        for _ in range(_BURST):
            try:
                rid = router.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            participant = peers.get(rid)
            if participant is None:
                frame = router.recv(copy=False)
                participant = str(frame.get("User-Id"))
                peers[rid] = participant
                parts = [frame.bytes]
            else:
                parts = [router.recv()]
            while router.rcvmore:
                parts.append(router.recv())
            if rid in self._dead:
                log.info("ignored a message from a cut connection of %s", participant)
                continue
            now = self._now()
            if self._routes.get(participant) != rid:
                self._routes[participant] = rid
                exchange.add_participant(participant)
                exchange.attach(participant)
            self.received += 1
            if self._record:
                self._log(participant, Channel.ORDER, Direction.OUT, b"".join(parts), now)
            if not faults.idle and not faults.accept_request(participant, now.wall_ns):
                continue
            try:
                deliveries = exchange.receive(participant, parts, now)
            except Exception as exc:
                self._unanswered(Step.ORDERS, participant, parts, exc)
                continue
            if failures:
                self._log_failures(Step.ORDERS)
            self._dispatch(participant, deliveries, now)

    def _log_failures(self, step: Step) -> None:
        failures = self.exchange.failures
        for failure in failures:
            restarted = " in a new run (it had changed the engine)" if failure.restarted else ""
            self._failed(
                step,
                failure.error,
                f"request {failure.mid or '(no mid)'} from {failure.participant} failed inside "
                f"the simulator; answered REJECT_MALFORMED{restarted}",
            )
        failures.clear()

    def _unanswered(
        self, step: Step, participant: str, parts: Sequence[bytes], error: Exception
    ) -> None:
        undone = self._undo_if_spoiled(step)
        self._failed(
            step,
            error,
            f"request {request_mid(parts) or '(no mid)'} from {participant} failed inside the "
            f"simulator, and so did its answer{undone}; it is left unanswered",
        )
        if self.exchange.failures:
            self._log_failures(step)

    def _dispatch(self, requester: str | None, deliveries: list[Delivery], now: Now) -> None:
        if self.faults.idle and not self._delayed:
            if self._record:
                for delivery in deliveries:
                    self._send(delivery, now)
                return
            # The hot path, inlined: no faults armed, nothing held back, no frame log.
            routes = self._routes
            router_send = self._router.send
            pub_send = self._pub.send
            more = zmq.SNDMORE
            for to, _, _, data, _ in deliveries:
                if to is None:
                    pub_send(data)
                else:
                    rid = routes.get(to)
                    if rid is not None:
                        router_send(rid, more)
                        router_send(data)
            return
        wall = now.wall_ns
        for transmission in self.faults.filter(requester, deliveries, wall):
            if transmission.due_ns <= wall and not self._delayed:
                self._send(transmission.delivery, now)
            else:
                self._delay_order += 1
                heapq.heappush(
                    self._delayed, (transmission.due_ns, self._delay_order, transmission)
                )
        if self._delayed:
            self._flush_delayed(wall)

    def _flush_delayed(self, wall_ns: int) -> None:
        delayed = self._delayed
        while delayed and delayed[0][0] <= wall_ns:
            _, _, transmission = heapq.heappop(delayed)
            self._send(transmission.delivery, self._now())

    def _send(self, delivery: Delivery, now: Now) -> None:
        """Send one delivery; its frame is logged first, so whoever has received a frame finds
        it in :meth:`frames`."""
        to = delivery.to
        if to is None:
            if self._record:
                self._log(None, Channel.MARKET, Direction.IN, delivery.data, now)
            self._pub.send(delivery.data)
            return
        rid = self._routes.get(to)
        if rid is None:
            return  # not connected (a bot, or gone): the message stays in its replay record
        if self._record:
            self._log(to, Channel.ORDER, Direction.IN, delivery.data, now)
        router = self._router
        router.send(rid, zmq.SNDMORE)
        router.send(delivery.data)


def _log_failure(report: Report, error: BaseException | None = None) -> None:
    """Log what :class:`~recorder.sim.failures.FailureLog` reports of a failure."""
    if not report.repeats:
        log.error("%s", report.detail, exc_info=error)
        return
    log.error(
        "%s (%d more failure(s) of this kind, %s, in the last %.1f s; the first was logged with "
        "its traceback)",
        report.detail,
        report.repeats,
        report.kind,
        report.over_ns / 1e9,
    )


def _text(participant: bytes | str) -> str:
    return participant.decode("ascii") if isinstance(participant, bytes) else participant
