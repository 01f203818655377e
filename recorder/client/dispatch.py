"""Per-frame dispatch, sans-I/O: which handler gets an inbound message, and with what.

One :class:`Dispatcher` holds a context's dispatch state — the MID store (S1/S2/S3 and
``prev_msg``), one :class:`~recorder.core.sequencing.StreamSequencer` per channel, the heartbeat
watch, the exchange run and whether the market channel was joined — and makes the decisions for
every decoded inbound frame, in this order:

heartbeat watch (``handle_exchange_available``) → run id → market join → sequencer (gaps,
duplicates, stale frames, run changes) → MID store → the channel's handler → the item's callback.

A run change retires both sequencers, whichever channel brought it: the other channel may still
have frames of the replaced run on the way (the market channel often brings the new run first),
and those are stale from then on — no handler or callback sees them, the bot has purged that
run. An order-channel one still answers its request, if that is tracked: it proves the request
was executed in the replaced run, so the request is released like the run's other requests
(:meth:`Dispatcher.late`).

It does no I/O and reads no clock (``now`` is an argument). What the caller does around those
decisions — journaling gaps, requesting replays, reconciling, reconnecting — goes through a
:class:`DispatchPort`. The live :class:`~recorder.client.Context` and the
:class:`~recorder.replay.Replayer` both dispatch through this class, so a replay makes the same
handler calls, with the same ``msg`` and ``prev_msg``, as the live bot did.

Handlers are called through :class:`Handlers`: a handler that raises is logged, counted and
reported to ``handle_handler_error(mid, exc)``; dispatch goes on. The per-frame handler calls
are direct calls in a ``try`` (:meth:`Handlers.failed` in the ``except``): the same outcome as
:meth:`Handlers.guard`, one Python call less on the hot path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, Protocol

from recorder.client.liveness import LivenessWatch
from recorder.client.processor import MessageProcessor
from recorder.client.store import IDStoreItem, MessageIDStore, classify
from recorder.config import ClientConfig
from recorder.core.frames import Channel
from recorder.core.mids import Reply
from recorder.core.sequencing import Outcome, Recovery, Step, StreamSequencer
from recorder.venues.lx import lx1_pb2 as pb

__all__ = [
    "ORDER_HANDLERS",
    "RECONNECT_REASON",
    "DispatchPort",
    "Dispatcher",
    "Handlers",
]

log = logging.getLogger("recorder.client")

Envelope = pb.Envelope

ORDER_HANDLERS: Final = {
    "status": "handle_status_message",
    "action_report": "handle_action_report",
    "contract_detail": "handle_contract_detail",
    "batch_acks": "handle_batch_message",
    "book_state_snapshot": "handle_book_state_snapshot",
    "open_orders_snapshot": "handle_open_orders",
    "heartbeat": "handle_heartbeat",
    "replay_done": "handle_replay_done",
    "book_top": "handle_book_top",
}
"""Order-channel body → the :class:`MessageProcessor` handler it is dispatched to."""

_ORDER: Final = Channel.ORDER
_MARKET: Final = Channel.MARKET
"""Enum members are looked up on their class on every use (slow in 3.11): bound once here."""

RECONNECT_REASON: Final = "order channel silent"
"""How a session the SDK ends to reconnect begins its ``end_reason`` (the next session of the
same context continues it)."""


class Handlers:
    """The processor, and the one way its handlers are called (errors logged, counted and
    reported to ``handle_handler_error``). ``processor`` may be swapped (a silent warm-up)."""

    __slots__ = ("_log", "errors", "processor")

    def __init__(self, processor: MessageProcessor, logger: logging.Logger = log) -> None:
        self.processor = processor
        self.errors = 0
        """Handler calls that raised."""
        self._log = logger

    def guard(self, mid: str, fn: Callable[..., object], *args: object) -> None:
        """Call ``fn(*args)``; if it raises, log it and report it to ``handle_handler_error``."""
        try:
            fn(*args)
        except Exception as exc:
            self.failed(mid, fn, exc)

    def failed(self, mid: str, fn: Callable[..., object], exc: Exception) -> None:
        """``fn`` raised ``exc`` while handling ``mid``: log it (call this from the ``except``
        block, for the traceback), count it and report it to ``handle_handler_error``."""
        self.errors += 1
        name = getattr(fn, "__qualname__", repr(fn))
        self._log.exception("%s raised while handling mid %r", name, mid)
        if fn == self.processor.handle_handler_error:
            return
        try:
            self.processor.handle_handler_error(mid, exc)
        except Exception:
            self._log.exception("handle_handler_error raised too")

    def deliver(self, item: IDStoreItem) -> None:
        """Give an item's callback the replies it has not had yet."""
        callback, pending = item._pending_calls()
        if callback is None:
            return
        for msg, prev in pending:
            self.guard(item.mid, callback, msg, prev)


class DispatchPort(Protocol):
    """What the owner of a :class:`Dispatcher` does around its decisions (all no-ops in a
    replay except the sequencer's effects, which the replayer reads back from the journal)."""

    def arrived(self, channel: Channel, available: bool, joined: bool) -> None:
        """A frame arrived (after the heartbeat watch; ``joined``: the first market frame)."""

    def sequenced(
        self, channel: Channel, envelope: Envelope, run: str, high: int, step: Step[None]
    ) -> None:
        """The sequencer observed a frame out of the fast path (``run``/``high`` from before):
        carry out ``step.effects`` (gaps, run changes) and note stale frames."""

    def market_seen(self, envelope: Envelope, body: str) -> None:
        """A market frame is about to be dispatched."""

    def order_handled(self, envelope: Envelope, body: str, reply: Reply | None) -> None:
        """An order frame was dispatched (handler, callback and store signal done)."""

    def order_done(self) -> None:
        """An order frame was fully processed (dispatched or not)."""

    def retired(self, channel: Channel, run: str, high: int, step: Step[None]) -> None:
        """The run changed on the other channel first: ``channel``'s sequencer ended ``run``
        (its last seq ``high``) without a frame of the new one; carry out ``step.effects`` (its
        gaps written off)."""

    def run_changed(self, previous: str, new: str, released: int) -> None:
        """The exchange run changed and ``handle_run_change`` ran."""


class Dispatcher:
    """The dispatch state and decisions of one context (see the module docstring)."""

    __slots__ = (
        "handlers",
        "liveness",
        "market_joined",
        "market_seq",
        "order_seq",
        "port",
        "run_id",
        "store",
    )

    def __init__(
        self,
        handlers: Handlers,
        client_config: ClientConfig,
        port: DispatchPort,
        now: int,
        *,
        wake: bool = True,
    ) -> None:
        cc = client_config
        self.handlers = handlers
        self.port = port
        self.store = MessageIDStore(
            cc.ack_timeout_ms * 1_000_000, cc.backoff_cap_ms * 1_000_000, wake=wake
        )
        self.order_seq: StreamSequencer[None] = StreamSequencer(Recovery.REPLAY, hold=False)
        self.market_seq: StreamSequencer[None] = StreamSequencer(Recovery.RESYNC, hold=False)
        self.liveness = LivenessWatch(cc.default_heartbeat_ms, cc.heartbeat_factor, now)
        self.run_id = ""
        """The exchange run ("" before the first message)."""
        self.market_joined = False

    def inbound(self, envelope: Envelope, channel: Channel, now: int) -> None:
        """One decoded inbound frame (journaled already), at monotonic ``now``."""
        handlers = self.handlers
        body = envelope.WhichOneof("body") or ""
        interval = envelope.heartbeat.interval_ms if body == "heartbeat" else 0
        available = self.liveness.heard(channel, now, interval)
        if available:
            handlers.guard("", handlers.processor.handle_exchange_available, channel)
        seq, run_id = envelope.seq, envelope.run_id
        if not self.run_id:
            self.run_id = run_id
        joined = False
        if channel is _ORDER:
            seqr = self.order_seq
        else:
            seqr = self.market_seq
            if not self.market_joined:
                joined = self.market_joined = True
                seqr.run_id = run_id  # joined mid-run: no gap before us
                seqr.high = max(seq - 1, 0)
        port = self.port
        port.arrived(channel, available, joined)
        if seqr.is_fast(seq, run_id):
            seqr.high = seq
            delivered = True
        else:
            run, high = seqr.run_id, seqr.high
            step = seqr.observe(seq, run_id, envelope.is_replay, None)
            port.sequenced(channel, envelope, run, high, step)
            delivered = step.outcome is Outcome.DELIVERED
            if step.outcome is Outcome.STALE and channel is _ORDER:
                self.late(envelope, body, now)
        if channel is _ORDER:
            if delivered:
                self.order(envelope, body, now)
            port.order_done()
        elif delivered:
            self.market(envelope, body)

    def order(self, envelope: Envelope, body: str, now: int) -> None:
        """Dispatch a sequenced order frame (``body`` its ``WhichOneof``): the MID store
        (``prev_msg``), its handler, the item's callback, then the store's signals."""
        handlers = self.handlers
        store = self.store
        reply = classify(envelope, body)
        item = prev = None
        if reply is not None:
            item, prev, _ = store.on_reply(envelope, reply, now)
        mid = envelope.mid
        name = ORDER_HANDLERS.get(body)
        if name is None:
            log.warning("unexpected %s on the order channel (mid %s)", body, mid)
        else:
            fn = getattr(handlers.processor, name)
            try:
                fn(envelope, prev)
            except Exception as exc:
                handlers.failed(mid, fn, exc)
        if item is not None and item._callback is not None:
            handlers.deliver(item)
        store.signal()
        self.port.order_handled(envelope, body, reply)

    def late(self, envelope: Envelope, body: str, now: int) -> None:
        """A stale order frame (a replaced run's): no handler sees it, but if it answers a
        request still tracked, the MID store releases that request
        (:meth:`MessageIDStore.late <recorder.client.store.MessageIDStore.late>`)."""
        reply = classify(envelope, body)
        if reply is None or envelope.run_id == self.run_id:
            return
        store = self.store
        store.late(envelope, reply, now)
        store.signal()

    def market(self, envelope: Envelope, body: str) -> None:
        """Dispatch a sequenced market frame to its handler."""
        self.port.market_seen(envelope, body)
        handlers = self.handlers
        processor = handlers.processor
        mid = envelope.mid
        if body == "action_report":
            fn: Callable[..., object] = processor.handle_public_report
            try:
                fn(envelope)
            except Exception as exc:
                handlers.failed(mid, fn, exc)
            return
        if body == "book_top":
            fn = processor.handle_book_top
        elif body == "heartbeat":
            fn = processor.handle_heartbeat
        else:
            log.warning("unexpected %s on the market channel", body)
            return
        try:
            fn(envelope, None)
        except Exception as exc:
            handlers.failed(mid, fn, exc)

    def gap(self, channel: Channel, run_id: str, from_seq: int, to_seq: int) -> None:
        """Tell the processor about a gap (``handle_gap``)."""
        handlers = self.handlers
        handlers.guard("", handlers.processor.handle_gap, channel, run_id, from_seq, to_seq)

    def unavailable(self, channel: Channel, silent_ns: int) -> None:
        """A channel went silent (``handle_exchange_unavailable``, in ms)."""
        handlers = self.handlers
        handlers.guard(
            "", handlers.processor.handle_exchange_unavailable, channel, silent_ns // 1_000_000
        )

    def run_change(self, old: str, new: str) -> None:
        """The exchange run changed: retire the other channel's sequencer (its later frames of
        the old run are stale), release the old run's mids, tell the bot."""
        if new == self.run_id:
            return  # already handled (the other channel saw it first)
        previous = self.run_id or old
        self.run_id = new
        port = self.port
        for channel, seqr in ((_ORDER, self.order_seq), (_MARKET, self.market_seq)):
            if seqr.run_id == previous:
                high = seqr.high
                port.retired(channel, previous, high, seqr.retire())
        store = self.store
        released = store.tracker.release_run(previous)
        store.apply(released)
        handlers = self.handlers
        handlers.guard("", handlers.processor.handle_run_change, new, previous)
        store.signal()
        port.run_changed(previous, new, len(released))
