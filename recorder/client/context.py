"""``Context``: the SDK's I/O thread, with the capture tap inside (the LedgerX SDK's Context).

One thread owns both sockets — a CURVE DEALER on the order channel and a CURVE SUB (subscribed
to everything) on the market channel — and does everything that touches them: stamping and
sending requests, resending them (S1), receiving, journaling, sequencing, dispatching to the
:class:`~recorder.client.processor.MessageProcessor` and to item callbacks. Other threads only
append to a queue and wake the thread through a pipe (:meth:`Context.submit`).

The order of work for every frame is ARCHITECTURE.md rule 1:

* out: stamp ``seq`` and clocks → serialize → **journal** (``append`` returns) → ``send``;
  a resend journals and sends the very same bytes again;
* in: ``recv`` what is waiting → decode (bad bytes are flagged) → **journal** the burst in one
  append → for each frame: heartbeat watch → sequencer
  (gaps → ``MessageReplay`` in chunks of ≤ 2,500 and the gap ledger; run change → release the
  old run's orders, ``handle_run_change``) → MID store (S1/S2/S3, ``prev_msg``) → handler →
  the item's callback.

A handler or callback that raises is logged and reported to ``handle_handler_error(mid, exc)``;
the thread goes on. A journal failure stops the context (nothing may be sent or dispatched that
was not journaled first): :attr:`Context.error` holds it and commands raise
:class:`~recorder.errors.ClientClosedError`.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, cast

import zmq

from recorder.client import recovery
from recorder.client.dispatch import RECONNECT_REASON, Dispatcher, Handlers
from recorder.client.processor import MessageProcessor
from recorder.client.reconcile import Reconciler, ReconcileReport
from recorder.client.store import IDStoreItem, MessageIDStore
from recorder.client.tap import Tap
from recorder.config import ClientConfig, Config, load_config
from recorder.core.frames import Channel, Direction, FrameFlag
from recorder.core.mids import Reply, ReplyKind, Resend
from recorder.core.orders import Order
from recorder.core.recovery import Trigger
from recorder.core.sequencing import Outcome, Step
from recorder.errors import ClientClosedError, ClientError, RemoteProtocolError
from recorder.journal import Journal, open_journal
from recorder.polling import busy_poll
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import decode, make_envelope

log = logging.getLogger("recorder.client")

Envelope = pb.Envelope


_Received = tuple[bytes, int, "Envelope | None", "RemoteProtocolError | None"]
"""A received message: its bytes, frame flags, the envelope (or the decoding error)."""


class _FromConfig:
    def __repr__(self) -> str:
        return "FROM_CONFIG"


FROM_CONFIG: Final = _FromConfig()
"""``journal=FROM_CONFIG`` (the default): open ``[journal] path`` with its durability."""

_BURST = 256
STOP_LINGER_MS = 1000
"""At a clean stop, the longest the sockets may take to put on the wire what was sent (and
journaled) last; at a fatal error they are dropped at once."""
_NOBLOCK, _EVENTS, _POLLIN = zmq.NOBLOCK, zmq.EVENTS, zmq.POLLIN
IDLE_APPLY_MS = 1
"""The local state (the reconciler's projection of the frames journaled) catches up once the
sockets have been quiet this long, once it is due (:meth:`Reconciler.due
<recorder.client.reconcile.Reconciler.due>`: many frames wait, or the oldest has waited as long
as the tap lets frames wait for their commit, so both happen in one idle moment), or at once
when anything reads it: in batches, not after each request."""


class Context:
    """The client context: ``start()``, ``stop()``, ``join(timeout)`` like a thread.

    ``endpoint`` is the order channel (``tcp://host:port``); the market channel is
    ``market_endpoint`` or ``[exchange] market_endpoint``. Keys are z85 bytes (a
    :class:`~recorder.keys.KeyPair`'s ``private``/``public``). ``processor_cls`` is a
    :class:`MessageProcessor` subclass (instantiated without arguments) or an instance.
    ``journal``: :data:`FROM_CONFIG` (``[journal]`` path and durability), a path (opened with the
    configured durability and closed on stop), an open :class:`~recorder.journal.Journal` (left
    open), or None — no journaling at all, for benchmark baselines only.
    """

    def __init__(
        self,
        endpoint: str,
        client_private: bytes,
        client_public: bytes,
        server_public: bytes,
        processor_cls: type[MessageProcessor] | MessageProcessor,
        *,
        market_endpoint: str | None = None,
        journal: Journal | Path | str | _FromConfig | None = FROM_CONFIG,
        config: Config | None = None,
    ) -> None:
        self.config = config = config or load_config()
        self.client_config: ClientConfig = config.client
        self._busy_poll_ns = config.client.busy_poll_us * 1000
        self.endpoint = endpoint
        self.market_endpoint = market_endpoint or config.exchange.market_endpoint
        for name, key in (
            ("client_private", client_private),
            ("client_public", client_public),
            ("server_public", server_public),
        ):
            if len(key) != 40:
                raise ClientError(f"{name} must be a 40-character z85 CURVE key, not {key!r:.60}")
        self._keys = (client_private, client_public, server_public)
        self.participant = client_public.decode("ascii")
        processor = processor_cls() if isinstance(processor_cls, type) else processor_cls
        processor.context = self
        self.handlers = Handlers(processor, log)
        """The processor, and how its handlers are called (errors reported)."""
        opened, owns = _open(journal, config)
        self.tap = Tap(opened, self.participant, owns=owns)
        self.dispatcher = dispatcher = Dispatcher(
            self.handlers, self.client_config, _Port(self), time.monotonic_ns()
        )
        """The per-frame decisions (store, sequencers, heartbeat watch, run)."""
        self.store: MessageIDStore = dispatcher.store
        self.order_seq = dispatcher.order_seq
        self.market_seq = dispatcher.market_seq
        self.liveness = dispatcher.liveness
        self.error: BaseException | None = None
        """The fatal error that stopped the context, if any."""
        self.contracts: set[int] = set()
        """Contract ids seen (details, reports, tops): the books resynced after a market gap."""
        self.gaps = recovery.GapBook(self)
        self.reconciler = Reconciler(self)
        """The local state (a live projection of the journal) and its reconciliation."""
        self._queue: collections.deque[tuple[str, object]] = collections.deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._wake_pending = False
        self._wake_lock = threading.RLock()
        """Held to write the wake pipe and to close it: once it is closed its descriptors may
        be another file's or socket's, which a late wake-up must never write to. Re-entrant: a
        signal handler calling :meth:`stop` may interrupt its own thread's wake-up."""
        self._wake_open = True
        self._released = False
        self._running = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._zctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._out_seq = 0
        self._on_stop: list[Callable[[], object]] = []

    @property
    def processor(self) -> MessageProcessor:
        """The bot's :class:`MessageProcessor`."""
        return self.handlers.processor

    @processor.setter
    def processor(self, value: MessageProcessor) -> None:
        self.handlers.processor = value

    @property
    def run_id(self) -> str:
        """The exchange run this context is in ("" before the first message)."""
        return self.dispatcher.run_id

    @run_id.setter
    def run_id(self, value: str) -> None:
        self.dispatcher.run_id = value

    # ------------------------------------------------------------------ lifecycle

    def start(self, *, reconcile_timeout: float | None = 30.0) -> None:
        """Connect both channels, start a journal session and the I/O thread.

        On a journal with history (a restart, e.g. after a crash) the state is first rebuilt
        from the journal (checkpoint + tail), then reconciled with the exchange; ``start()``
        returns once that is done (``handle_reconciled`` ran), or after ``reconcile_timeout``
        seconds (None: do not wait) — :attr:`reconciled` tells which.
        """
        if self._thread is not None or self._released:
            raise ClientError("this context was already started; make a new one")
        try:
            self.reconciler.restore()
            self._zctx = zmq.Context()
            try:
                self._dealer = self._socket(zmq.DEALER, self.endpoint)
                self._sub = self._socket(zmq.SUB, self.market_endpoint)
            except zmq.ZMQError as exc:
                raise ClientError(
                    f"cannot connect to {self.endpoint} / {self.market_endpoint}: {exc}"
                ) from exc
            self.tap.start_session(self.endpoint, self.market_endpoint)
            now = time.monotonic_ns()
            self.liveness.restart(Channel.ORDER, now)
            self.liveness.restart(Channel.MARKET, now)
            self._running = True
            thread = threading.Thread(target=self._run, name="lx1-client", daemon=True)
            thread.start()
            self._thread = thread
        except BaseException:
            # Nothing runs: what __init__ opened (the journal, its committer process and
            # writer lock, the wake pipe) is released, so a new context may open the journal.
            self._running = False
            if self._zctx is not None:
                self._zctx.destroy(linger=0)
                self._zctx = None
            with contextlib.suppress(Exception):
                self.tap.end_session("start failed")
            self._release()
            raise
        if self.reconciler.history and reconcile_timeout is not None:
            self._await_reconciled(thread, reconcile_timeout)

    def _await_reconciled(self, thread: threading.Thread, timeout: float) -> None:
        """Wait for the start-up reconciliation, or for the I/O thread to end first (stopped,
        or a fatal error: raised here)."""
        deadline = time.monotonic() + timeout
        while not self.reconciled.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if not thread.is_alive():
                if self.error is not None:
                    raise ClientClosedError(
                        f"the context stopped during its start-up reconciliation: {self.error}"
                    ) from self.error
                return
            if time.monotonic() >= deadline:
                log.warning("start: not reconciled after %.1f s; going on", timeout)
                return

    @property
    def reconciled(self) -> threading.Event:
        """Set when the last reconciliation finished (cleared while one runs)."""
        return self.reconciler.reconciled

    @property
    def last_reconcile(self) -> ReconcileReport | None:
        """The report of the last finished reconciliation."""
        return self.reconciler.last

    def open_orders(self) -> tuple[Order, ...]:
        """The open orders of the local state (the journal's projection; any thread)."""
        return self.reconciler.open_orders()

    def _socket(self, kind: int, endpoint: str) -> zmq.Socket[bytes]:
        assert self._zctx is not None
        private, public, server = self._keys
        sock = self._zctx.socket(kind)
        sock.linger = 0
        sock.curve_serverkey = server
        sock.curve_publickey = public
        sock.curve_secretkey = private
        sock.rcvhwm = 0
        if kind == zmq.SUB:
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(endpoint)
        return sock

    def stop(self) -> None:
        """Ask the I/O thread to finish (it ends the journal session and closes the sockets);
        a context never started releases its journal now."""
        self._stopping = True
        if self._thread is None:
            self._release()
            return
        self._wake()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the I/O thread to end (like ``Thread.join``)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        """True while the I/O thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def on_stop(self, fn: Callable[[], object]) -> None:
        """Call ``fn()`` on the I/O thread as it ends (stopped, or stopped by a fatal error:
        :attr:`error`), after the journal session is closed; an exception it raises is
        logged. For owners that cannot wait in :meth:`join` (:mod:`recorder.client.aio`)."""
        self._on_stop.append(fn)

    def __enter__(self) -> Context:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.join()

    # ------------------------------------------------------------------ any thread

    def submit(self, item: IDStoreItem, children: Sequence[IDStoreItem] = ()) -> IDStoreItem:
        """Queue a request for the I/O thread (``Commands`` calls this; not for direct use)."""
        if not self._running or self._stopping:
            raise ClientClosedError(
                "the context is not running (start() it; it may have stopped: see .error)"
            ) from self.error
        self.store.add(item, children)
        for one in (item, *children):
            one._on_callback_set = self._callback_set
        self._queue.append(("send", item))
        self._wake()
        if not self._running:  # the I/O thread ended meanwhile, after closing the store
            for one in (item, *children):
                one._close()
        return item

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the I/O thread (e.g. to touch state only that thread owns)."""
        self._queue.append(("call", fn))
        self._wake()

    def _callback_set(self, item: IDStoreItem) -> None:
        self._queue.append(("deliver", item))
        self._wake()

    def _wake(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            with self._wake_lock:
                if self._wake_open:  # not after the thread ended: the number may be reused
                    os.write(self._wake_w, b"\0")

    # ------------------------------------------------------------------ the I/O thread

    def _run(self) -> None:
        self._poller = poller = zmq.Poller()
        poller.register(self._dealer, zmq.POLLIN)
        poller.register(self._sub, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        try:
            if self.reconciler.history:
                self.reconciler.begin(Trigger.STARTUP)
            reconciler = self.reconciler
            while not self._stopping:
                timeout = self._timeout_ms()
                if reconciler.backlog:
                    if timeout == 0 or reconciler.due():
                        reconciler.idle()  # with the tap's commit, in the same moment
                    else:  # or once the sockets are quiet: the bot's threads go first
                        timeout = IDLE_APPLY_MS if timeout is None else min(timeout, IDLE_APPLY_MS)
                self.tap.commit_idle()
                ready = self._poll(timeout)
                if not ready and reconciler.backlog:
                    reconciler.idle()
                bursts = []
                if self._dealer in ready:
                    bursts.append((Channel.ORDER, self._receive(self._dealer)))
                if self._sub in ready:
                    bursts.append((Channel.MARKET, self._receive(self._sub)))
                if bursts:
                    self._handle(bursts)
                if self._wake_r in ready:
                    self._drain_queue()
                self._timers()
            self._drain_queue()
        except Exception as exc:
            self.error = exc
            log.exception("the client context stopped on a fatal error")
            self._guard("", self.processor.handle_fatal_error, exc)
        finally:
            self._running = False
            self._shutdown()
            self.store.close()  # whoever waits on a request learns it now, not at a timeout
            for fn in self._on_stop:
                try:
                    fn()
                except Exception:
                    log.exception("a stop callback raised")

    def _shutdown(self) -> None:
        try:
            if self.error is None:
                journal = self.tap.journal
                if journal is not None and not journal.readonly:
                    self.tap.flush()
                    self.reconciler.checkpoint(journal)
                self.tap.end_session("stopped")
            else:
                self.tap.end_session(f"fatal error: {self.error}")
        except Exception as exc:
            log.exception("could not end the journal session")
            if self.error is None:  # the last commits failed: nobody may take it as clean
                self.error = exc
                self._guard("", self.processor.handle_fatal_error, exc)
        finally:
            if self._zctx is not None:
                # A clean stop lets what the last queue drain sent (journaled) reach the wire.
                self._zctx.destroy(linger=STOP_LINGER_MS if self.error is None else 0)
            self._release()

    def _release(self) -> None:
        """Close the journal (when the tap opened it) and the wake pipe, once."""
        with self._wake_lock:
            if self._released:
                return
            self._released = True
            self._wake_open = False
            os.close(self._wake_w)
            os.close(self._wake_r)
        self.tap.close()

    def _poll(self, timeout: int | None) -> set[object]:
        """The sockets ready within ``timeout`` ms (None: until one is), busy polling first for
        ``[client] busy_poll_us`` (:func:`~recorder.polling.busy_poll`)."""
        return {sock for sock, _ in busy_poll(self._poller.poll, timeout, self._busy_poll_ns)}

    def _timeout_ms(self) -> int | None:
        deadline = self.store.tracker.next_deadline()
        watch = self.liveness.next_deadline()
        if self.client_config.reconnect and not self.liveness.available(Channel.ORDER):
            retry = self.liveness.deadline(Channel.ORDER)  # reconnect again if still silent
            watch = retry if watch is None else min(watch, retry)
        if watch is not None and (deadline is None or watch < deadline):
            deadline = watch
        if deadline is None:
            return None
        return max(0, (deadline - time.monotonic_ns() + 999_999) // 1_000_000)

    def _drain_queue(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        self._wake_pending = False
        queue = self._queue
        while queue:
            op, payload = queue.popleft()
            if op == "send":
                assert isinstance(payload, IDStoreItem)
                self.send(payload)
            elif op == "deliver":
                assert isinstance(payload, IDStoreItem)
                self._deliver(payload)
            elif callable(payload):
                self._guard("", payload)

    def _timers(self) -> None:
        now = time.monotonic_ns()
        resends = self.store.tracker.poll(now)
        if resends:
            self.store.apply(resends)
            for resend in resends:
                self._resend(resend)
        if self.client_config.reconnect and self.liveness.silent_again(Channel.ORDER, now):
            self._reconnect_order()  # the last reconnection was cut too: try again
        for channel, silent_ns in self.liveness.poll(now):
            self.dispatcher.unavailable(channel, silent_ns)
            if channel is Channel.ORDER and self.client_config.reconnect:
                self._reconnect_order()

    # ------------------------------------------------------------------ sending

    def send(self, item: IDStoreItem) -> None:
        """Stamp, journal and send a queued request (I/O thread only)."""
        self._out_seq += 1
        envelope = Envelope()
        envelope.CopyFrom(item.msg)
        envelope.seq = self._out_seq
        envelope.timestamp = time.time_ns()
        envelope.ticks = now = time.monotonic_ns()
        data = envelope.SerializeToString()
        item.wire = data
        record = self.tap.frame(data, Channel.ORDER, Direction.OUT, envelope=envelope)  # rule 1
        self.store.mark_sent(item, envelope, now)
        self._send_bytes(data)
        if record is not None:  # the local state follows; no reply is handled before this
            self.reconciler.apply(self.tap.last_position, record)

    def _resend(self, resend: Resend) -> None:
        item = self.store.get(resend.mid)
        if item is None or not item.wire:
            return
        log.info("no ACK for %s %s: resend %d", item.kind, item.mid, resend.attempt)
        self.resend_item(item)

    def resend_item(self, item: IDStoreItem) -> None:
        """Journal and send an item's bytes again, same mid (I/O thread only)."""
        record = self.tap.frame(item.wire, Channel.ORDER, Direction.OUT, envelope=item.sent)
        self._send_bytes(item.wire)
        if record is not None:
            self.reconciler.apply(self.tap.last_position, record)

    def _send_bytes(self, data: bytes) -> None:
        try:
            self._dealer.send(data, zmq.NOBLOCK)
        except zmq.Again:
            log.warning("order channel full: the request waits for its S1 resend")

    def request(self, body: pb.Envelope | object) -> IDStoreItem:
        """Send an SDK-internal request now (I/O thread only): replays, resyncs, reconnects."""
        item = IDStoreItem(make_envelope(body, mid=uuid.uuid4().hex))  # type: ignore[arg-type]
        self.store.add(item)
        self.send(item)
        return item

    def _reconnect_order(self) -> None:
        log.warning("order channel silent: reconnecting to %s", self.endpoint)
        self.tap.end_session(f"{RECONNECT_REASON}: reconnecting")
        self._poller.unregister(self._dealer)
        self._dealer.close(linger=0)
        self._dealer = self._socket(zmq.DEALER, self.endpoint)
        self._poller.register(self._dealer, zmq.POLLIN)
        self.tap.start_session(self.endpoint, self.market_endpoint)
        self._out_seq = 0
        self.liveness.restart(Channel.ORDER, time.monotonic_ns())
        # The exchange knows a connection by its first message: the plan's GetOpenOrders (and
        # resends, replays by mid, book resyncs); the first reply's seq reveals any gap.
        self.gaps.reset()
        self.reconciler.begin(Trigger.RECONNECT, missing=self._open_order_gaps())

    # ------------------------------------------------------------------ receiving

    def _receive(self, sock: zmq.Socket[bytes]) -> list[_Received]:
        """Receive what is waiting on ``sock`` (a burst of at most ``_BURST`` messages; the
        poll said one is there).

        Each message is read as a frame, whose ``more`` is a plain attribute: pyzmq's
        ``sock.rcvmore`` costs ~6 µs per message and a ``recv`` that raises ``zmq.Again`` at
        the end of a burst ~7 µs, against ~2 µs for a frame and 3-6 µs for ``ZMQ_EVENTS``
        (measured here), and an order's ACK waits behind all of it."""
        burst: list[_Received] = []
        recv, get = sock.recv, sock.get
        for _ in range(_BURST):
            try:
                frame = recv(_NOBLOCK, copy=False)
            except zmq.Again:  # the poll's event was stale
                break
            data = frame.bytes
            flags = 0
            error: RemoteProtocolError | None = None
            envelope: Envelope | None = None
            if frame.more:
                parts = [data]
                while sock.rcvmore:
                    parts.append(sock.recv())
                data = b"".join(parts)
                flags = FrameFlag.MULTIPART
                error = RemoteProtocolError(f"a {len(data)}-byte message of several frames", data)
            try:
                envelope = decode(data)
            except RemoteProtocolError as exc:
                error = exc
                flags |= FrameFlag.MALFORMED
            burst.append((data, flags, envelope, error))
            if not cast(int, get(_EVENTS)) & _POLLIN:
                break
        return burst

    def _handle(self, bursts: list[tuple[Channel, list[_Received]]]) -> None:
        """Journal what a poll delivered, then handle each frame.

        Rule 1: every frame is journaled (committed in strict, spooled in safe) before any
        handler sees it. In ``strict`` one append (one fsync) covers both channels, so a busy
        market channel adds no commit in front of an order-channel reply; elsewhere an append
        is cheap, and each channel's burst is journaled and handled in turn, order replies
        first. Each frame is queued for the local state (the reconciler's projector) before its
        handler runs; any read of the state applies what is queued first.
        """
        if self.tap.journal is not None and self.tap.journal.durability == "strict":
            self._journal_and_handle(bursts)
        else:
            for burst in bursts:
                self._journal_and_handle([burst])

    def _journal_and_handle(self, bursts: list[tuple[Channel, list[_Received]]]) -> None:
        frames = [
            (data, flags, channel, None if flags else envelope)
            for channel, burst in bursts
            for data, flags, envelope, _ in burst
        ]
        first, journaled = self.tap.frames(frames)
        apply = self.reconciler.apply if journaled else None
        positions = enumerate(journaled, first)
        for channel, burst in bursts:
            for data, _, envelope, error in burst:
                if apply is not None:  # queued for the local state before its handler runs
                    apply(*next(positions))
                if error is not None or envelope is None:
                    assert error is not None
                    self._guard("", self.processor.handle_protocol_error, data, error)
                else:
                    self.dispatcher.inbound(envelope, channel, time.monotonic_ns())

    def _open_order_gaps(self) -> list[tuple[int, int]]:
        return [(g.from_seq, g.to_seq) for g in self.order_seq.open_gaps]

    def _deliver(self, item: IDStoreItem) -> None:
        self.handlers.deliver(item)

    def _guard(self, mid: str, fn: Callable[..., object], *args: object) -> None:
        self.handlers.guard(mid, fn, *args)

    def run_change(self, old: str, new: str) -> None:
        """The exchange run changed (I/O thread): release the old run's mids, tell the bot."""
        self.dispatcher.run_change(old, new)


class _Port:
    """The context's side of dispatch (:class:`~recorder.client.dispatch.DispatchPort`): the
    gap ledger and recovery, the reconciler, the contracts seen."""

    __slots__ = ("_ctx",)

    def __init__(self, context: Context) -> None:
        self._ctx = context

    def arrived(self, channel: Channel, available: bool, joined: bool) -> None:
        reconciler = self._ctx.reconciler
        if channel is Channel.ORDER:
            reconciler.on_order_message()
            if available:
                reconciler.begin(Trigger.AVAILABLE)
        elif joined:
            reconciler.on_market_joined()

    def sequenced(
        self, channel: Channel, envelope: Envelope, run: str, high: int, step: Step[None]
    ) -> None:
        """Keep each replaced run's last seq, so late frames of it show their holes."""
        gaps = self._ctx.gaps
        if step.outcome is Outcome.STALE:
            gaps.stale(channel, envelope.run_id, envelope.seq)
        elif run and envelope.run_id != run:
            gaps.past_high[(channel, run)] = high
        if step.effects:
            gaps.effects(channel, step.effects)

    def retired(self, channel: Channel, run: str, high: int, step: Step[None]) -> None:
        """Keep the retired run's last seq too, and write its open gaps off."""
        gaps = self._ctx.gaps
        gaps.past_high[(channel, run)] = high
        if step.effects:
            gaps.effects(channel, step.effects)

    def market_seen(self, envelope: Envelope, body: str) -> None:
        ctx = self._ctx
        if body == "action_report":
            cid = envelope.action_report.contract_id
            ctx.contracts.add(cid)
            ctx.reconciler.watch_clock(cid)
        elif body == "book_top":
            ctx.contracts.add(envelope.book_top.contract_id)

    def order_handled(self, envelope: Envelope, body: str, reply: Reply | None) -> None:
        ctx = self._ctx
        if body == "open_orders_snapshot":
            ctx.reconciler.on_snapshot(envelope)
        elif body == "book_state_snapshot":
            ctx.reconciler.resyncing.discard(envelope.book_state_snapshot.contract_id)
        elif body == "contract_detail":
            ctx.contracts.add(envelope.contract_detail.contract_id)
            ctx.reconciler.on_contract(envelope.contract_detail.contract_id)
        elif body == "action_report":
            ctx.contracts.add(envelope.action_report.contract_id)
        mid = envelope.mid
        if reply is not None and ctx.gaps.replaying(mid):
            if reply.kind in (ReplyKind.REPLAY_DONE, ReplyKind.REJECT):
                ctx.gaps.replay_finished(mid, envelope)
            elif reply.kind is ReplyKind.ACK and envelope.status.duplicate:
                ctx.gaps.reissue(mid)

    def order_done(self) -> None:
        reconciler = self._ctx.reconciler
        if reconciler.active:
            reconciler.check()

    def run_changed(self, previous: str, new: str, released: int) -> None:
        log.warning(
            "run change %s -> %s: %d in-flight request(s) of the old run released",
            previous[:8],
            new[:8],
            released,
        )
        self._ctx.reconciler.on_run_change(previous, new)


def _open(
    journal: Journal | Path | str | _FromConfig | None, config: Config
) -> tuple[Journal | None, bool]:
    if journal is None:
        log.warning("journaling is disabled (journal=None): this client records nothing")
        return None, False
    if isinstance(journal, Journal):
        return journal, False
    jc = config.journal
    path = jc.path if isinstance(journal, _FromConfig) else Path(journal)
    opened = open_journal(
        path,
        durability=jc.durability,
        fast_flush_ms=jc.fast_flush_ms,
        fast_batch=jc.fast_batch,
        safe_commit_ms=jc.safe_commit_ms,
        busy_timeout_ms=jc.busy_timeout_ms,
        committer=config.client.committer,
    )
    return opened, True
