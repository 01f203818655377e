"""The SDK's in-flight MID store: :class:`IDStoreItem` handles on the pure tracker.

:class:`MessageIDStore` is the seed's ``ledgerx.sdk.store.MessageIDStore``: it keeps one
:class:`IDStoreItem` per request the client submitted, decides S1/S2/S3 with the pure
:class:`~recorder.core.mids.MidTracker`, remembers the previous message of every mid (the seed's
``prev_msg``) and calls each item's ``callback`` with every reply carrying its mid.

Threads: the context's I/O thread is the only one that changes the store and the only one that
calls callbacks; other threads may read it (the item table is guarded by a lock) and wait on an
item's events (:meth:`IDStoreItem.wait_acked`, :meth:`IDStoreItem.wait_done`).

``prev_msg``, as in the seed: for a request's first reply it is the request itself; an ACK is a
receipt and does not replace it, so the first action report of an order also gets the
``LimitOrder`` request; after that, each message gets the one before it with the same mid.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from recorder.core.mids import (
    Acked,
    Effect,
    Finished,
    FinishReason,
    MidTracker,
    Reply,
    ReplyKind,
    Resend,
)
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import kind_of

Envelope = pb.Envelope
Callback = Callable[[Envelope, Envelope | None], object]
"""``callback(msg, prev_msg)``: called on the I/O thread with every reply carrying the mid."""


class ItemState(enum.Enum):
    """Where a submitted request is, from the caller's side."""

    QUEUED = "queued"
    """Submitted, not yet journaled and sent by the I/O thread."""
    AWAITING_ACK = "awaiting_ack"
    """S1: sent, no ACK yet (resent on timeout)."""
    ACKED = "acked"
    """S2: ACKed, the final reply has not arrived: in flight."""
    FINISHED = "finished"
    """S3: finished (see :attr:`IDStoreItem.finish_reason`)."""


class IDStoreItem:
    """One request and everything that happened to it: the seed's ``IDStoreItem(msg, cb)``.

    ``msg`` is the request envelope as built (unstamped: the I/O thread stamps ``seq`` and the
    clocks on a copy when it sends it; :attr:`sent` is that copy). ``callback`` receives every
    reply with this mid as ``callback(msg, prev_msg)``; a callback set after replies arrived is
    first given those replies, in order.
    """

    __slots__ = (
        "_acked",
        "_callback",
        "_closed",
        "_delivered",
        "_done",
        "_lock",
        "_on_callback_set",
        "_on_wake",
        "_prevs",
        "_waiters",
        "ack",
        "children",
        "code",
        "finish_reason",
        "kind",
        "msg",
        "parent",
        "replies",
        "resends",
        "sent",
        "state",
        "wire",
    )

    def __init__(self, msg: Envelope, callback: Callback | None = None) -> None:
        self.msg: Final = msg
        self.kind: str = kind_of(msg)
        """The request's body kind (``"LimitOrder"``, ...)."""
        self.state = ItemState.QUEUED
        self.sent: Envelope | None = None
        """The request as it went on the wire (with its seq and clocks)."""
        self.wire: bytes = b""
        """The exact bytes sent (and journaled); a resend sends these again."""
        self.replies: list[Envelope] = []
        """Every reply with this mid, in arrival order."""
        self.ack: Envelope | None = None
        """The ACK (or the reject) that was the first reply."""
        self.code: int = 0
        """The first reply's ``Status.code`` (or the ``BatchAck`` code of an inner message)."""
        self.resends = 0
        self.finish_reason: FinishReason | None = None
        self.parent = ""
        """The batch's mid, for an inner message of a batch."""
        self.children: tuple[IDStoreItem, ...] = ()
        self._lock = threading.Lock()
        self._callback = callback
        self._on_callback_set: Callable[[IDStoreItem], None] | None = None
        self._on_wake: Callable[[IDStoreItem], None] | None = None
        self._prevs: list[Envelope | None] = []
        self._delivered = 0
        self._acked = False
        self._done = False
        self._closed = False
        self._waiters: threading.Condition | None = None
        """Made on the first wait: most items are never waited for, and a condition per item
        would cost more than the rest of the item."""

    @property
    def mid(self) -> str:
        """The request's mid (32 hex digits); also the entry id of an order."""
        return self.msg.mid

    @property
    def callback(self) -> Callback | None:
        """Called with every reply carrying this mid (on the I/O thread)."""
        return self._callback

    @callback.setter
    def callback(self, value: Callback | None) -> None:
        with self._lock:
            self._callback = value
            backlog = value is not None and self._delivered < len(self.replies)
            hook = self._on_callback_set
        if backlog and hook is not None:
            hook(self)  # the I/O thread gives the new callback the replies it missed

    @property
    def in_flight(self) -> bool:
        """True in S1 and S2 (and while queued)."""
        return self.state is not ItemState.FINISHED

    @property
    def closed(self) -> bool:
        """True once its context stopped (or its I/O thread died) before the request finished:
        no reply will come through that context any more, and waits return at once. Whether it
        was sent (and journaled) shows in :attr:`wire`; what became of it, in the journal or in
        the open orders of the next context on the same journal."""
        return self._closed

    def wait_acked(self, timeout: float | None = None) -> bool:
        """Wait until the request is ACKed (or finished); False on timeout, or at once when its
        context stopped before the ACK (:attr:`closed`)."""
        return self._wait(lambda: self._acked, timeout)

    def wait_done(self, timeout: float | None = None) -> bool:
        """Wait until the request is finished (S3); False on timeout, or at once when its
        context stopped before it finished (:attr:`closed`)."""
        return self._wait(lambda: self._done, timeout)

    def _wait(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        with self._lock:
            if self._waiters is None:
                self._waiters = threading.Condition(self._lock)
            self._waiters.wait_for(lambda: ready() or self._closed, timeout)
            return ready()

    def watch(self, fn: Callable[[IDStoreItem], None] | None) -> None:
        """Have ``fn(item)`` called, on the I/O thread, whenever the item's waiters are woken
        (it was ACKed, or it finished: after the handlers of the message that did it, and also
        when it finished without a reply, e.g. released by a run change; or its context stopped
        first: :attr:`closed`). For an event loop
        that cannot block in :meth:`wait_done` (:mod:`recorder.client.aio`). It must not raise
        or block. None stops it."""
        with self._lock:
            self._on_wake = fn

    def _wake(self, done: bool) -> None:
        """Mark the item ACKed (and finished when ``done``) and wake its waiters."""
        with self._lock:
            self._acked = True
            self._done = self._done or done
            if self._waiters is not None:
                self._waiters.notify_all()
            hook = self._on_wake
        if hook is not None:
            hook(self)

    def _close(self) -> None:
        """Its context stopped: wake its waiters, who find it not ACKed or not done, and its
        watcher (:meth:`watch`), which finds it :attr:`closed`."""
        with self._lock:
            self._closed = True
            if self._waiters is not None:
                self._waiters.notify_all()
            hook = self._on_wake
        if hook is not None:
            hook(self)

    def __repr__(self) -> str:
        return f"IDStoreItem({self.kind} {self.mid} {self.state.value})"

    # ------------------------------------------------------------------ I/O thread only

    def _pending_calls(
        self,
    ) -> tuple[Callback | None, list[tuple[Envelope, Envelope | None]]]:
        """The callback and the ``(msg, prev_msg)`` it has not been given yet (marks them)."""
        with self._lock:
            callback = self._callback
            if callback is None:
                return None, []
            start = self._delivered
            self._delivered = len(self.replies)
            return callback, list(zip(self.replies[start:], self._prevs[start:], strict=True))


# Enum members and protobuf constants are attribute look-ups on every use (slow in 3.11): the
# per-frame paths below use these module-level bindings.
_ACK, _REJECT, _DONE = ReplyKind.ACK, ReplyKind.REJECT, ReplyKind.DONE
_REPORT, _BATCH_ACKS = ReplyKind.REPORT, ReplyKind.BATCH_ACKS
_ACK_OR_REJECT = (_ACK, _REJECT)
_PB_ACK, _PB_DONE = pb.ACK, pb.DONE
_AWAITING_ACK, _ACKED, _FINISHED = ItemState.AWAITING_ACK, ItemState.ACKED, ItemState.FINISHED


def classify(envelope: Envelope, body: str | None = None) -> Reply | None:
    """What an order-channel message means to the tracker; None for messages without a mid.

    ``body`` is the envelope's ``WhichOneof("body")`` when the caller has it already.
    """
    mid = envelope.mid
    if not mid:
        return None
    field = envelope.WhichOneof("body") if body is None else body
    run_id = envelope.run_id
    if field == "status":
        code = envelope.status.code
        if code == _PB_ACK:
            return Reply(_ACK, mid, run_id)
        if code == _PB_DONE:
            return Reply(_DONE, mid, run_id)
        return Reply(_REJECT, mid, run_id)
    if field == "action_report":
        report = envelope.action_report
        return Reply(_REPORT, mid, run_id, report.entry_id, report.size)
    if field in ("book_state_snapshot", "open_orders_snapshot"):
        return Reply(ReplyKind.SNAPSHOT, mid, run_id)
    if field == "batch_acks":
        acks = tuple((a.mid, a.code == _PB_ACK) for a in envelope.batch_acks.acks)
        return Reply(_BATCH_ACKS, mid, run_id, batch=acks)
    if field == "replay_done":
        return Reply(ReplyKind.REPLAY_DONE, mid, run_id)
    return Reply(ReplyKind.DATA, mid, run_id)


class MessageIDStore:
    """The in-flight requests of one context (see the module docstring)."""

    def __init__(self, ack_timeout_ns: int, backoff_cap_ns: int, *, wake: bool = True) -> None:
        """``wake=False``: never set the items' events (a replay: no thread waits on them)."""
        self.tracker = MidTracker(ack_timeout_ns, backoff_cap_ns)
        """The pure S1/S2/S3 machine (touched by the I/O thread only)."""
        self._items: dict[str, IDStoreItem] = {}
        self._prev: dict[str, Envelope] = {}
        self._lock = threading.Lock()
        self._signals: list[IDStoreItem] = []
        self._wake = wake

    # ------------------------------------------------------------------ reading (any thread)

    def get(self, mid: str) -> IDStoreItem | None:
        """The item of a request still tracked (queued, S1 or S2)."""
        with self._lock:
            return self._items.get(mid)

    def in_flight(self) -> list[IDStoreItem]:
        """Every request not finished yet (queued, S1, S2), in submission order."""
        with self._lock:
            return list(self._items.values())

    def awaiting_ack(self) -> list[IDStoreItem]:
        """The requests in S1."""
        return [i for i in self.in_flight() if i.state is ItemState.AWAITING_ACK]

    def awaiting_final(self) -> list[IDStoreItem]:
        """The requests in S2: ACKed, kept in flight until their final reply."""
        return [i for i in self.in_flight() if i.state is ItemState.ACKED]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, mid: object) -> bool:
        with self._lock:
            return mid in self._items

    def __iter__(self) -> Iterator[IDStoreItem]:
        return iter(self.in_flight())

    # ------------------------------------------------------------------ changing (I/O thread)

    def add(self, item: IDStoreItem, children: Sequence[IDStoreItem] = ()) -> None:
        """Register a submitted request (and a batch's inner items) before it is sent."""
        with self._lock:
            for one in (item, *children):
                if one.mid in self._items:
                    raise ValueError(f"mid {one.mid} is already in flight")
            self._items[item.mid] = item
            for child in children:
                child.parent = item.mid
                self._items[child.mid] = child
        item.children = tuple(children)

    def close(self) -> None:
        """The context stopped: every request still tracked (queued, S1, S2) is closed
        (:attr:`IDStoreItem.closed`)."""
        for item in self.in_flight():
            item._close()

    def mark_sent(self, item: IDStoreItem, sent: Envelope, now_ns: int) -> None:
        """The request went on the wire (journaled first): S1 starts."""
        item.sent = sent
        item.state = _AWAITING_ACK
        mid = item.mid
        self._prev[mid] = sent
        children = item.children
        if children:
            for child, inner in zip(children, sent.batch.messages, strict=False):
                child.sent = inner
                child.state = _AWAITING_ACK
                self._prev[child.mid] = inner
            self.tracker.sent(mid, item.kind, now_ns, children=[(c.mid, c.kind) for c in children])
        else:
            self.tracker.sent(mid, item.kind, now_ns)

    def resume(self, mid: str, prev: Envelope) -> None:
        """A request taken over from the journal at start-up (crash recovery, after
        :meth:`mark_sent`) had replies there: ``prev``, the last one recorded, is its
        ``prev_msg`` so far, as it was in the store that saw them."""
        if mid in self._prev:
            self._prev[mid] = prev

    def on_reply(
        self, envelope: Envelope, reply: Reply, now_ns: int
    ) -> tuple[IDStoreItem | None, Envelope | None, tuple[Effect, ...]]:
        """Record one reply: returns its item (if tracked), its ``prev_msg`` and the effects."""
        mid = reply.mid
        kind = reply.kind
        with self._lock:
            item = self._items.get(mid)
        prev = self._prev.get(mid)
        if kind is not _ACK and (item is not None or prev is not None):
            self._prev[mid] = envelope
        if item is not None:
            with item._lock:
                item.replies.append(envelope)
                item._prevs.append(prev)
            if kind in _ACK_OR_REJECT and item.ack is None:
                item.ack = envelope
                item.code = envelope.status.code
        effects = self.tracker.on_reply(reply, now_ns)
        if kind is _BATCH_ACKS and item is not None:
            codes = {a.mid: a.code for a in envelope.batch_acks.acks}
            for child in item.children:
                child.code = codes.get(child.mid, child.code)
        if effects:
            self.apply(effects)
        return item, prev, effects

    def late(self, envelope: Envelope, reply: Reply, now_ns: int) -> None:
        """A reply of a replaced run, arrived after the run change (the other channel brought
        it first), to a request still tracked: the request was executed in that run, whose
        orders are gone, so it is released (``RUN_CHANGE``; a reject still rejects it) rather
        than kept in flight or resent into the new run. An ACK or a reject is the item's
        :attr:`~IDStoreItem.ack`; the reply is none of its :attr:`~IDStoreItem.replies` (its
        callback is not given it: the bot has purged the run) and no ``prev_msg``."""
        item = self.get(reply.mid)
        if item is None:
            return
        if reply.kind in _ACK_OR_REJECT and item.ack is None:
            item.ack = envelope
            item.code = envelope.status.code
        self.apply(self.tracker.on_reply(reply, now_ns))
        self.apply(self.tracker.release_run(reply.run_id))

    def apply(self, effects: Sequence[Effect]) -> None:
        """Carry the tracker's state effects over to the items (resends are the context's).

        Waiting threads are woken by :meth:`signal`, once the handlers of the message ran.
        """
        for effect in effects:
            if isinstance(effect, Acked):
                item = self.get(effect.mid)
                if item is not None:
                    item.state = _ACKED
                    self._signals.append(item)
            elif isinstance(effect, Finished):
                with self._lock:
                    item = self._items.pop(effect.mid, None)
                self._prev.pop(effect.mid, None)
                if item is not None:
                    item.state = _FINISHED
                    item.finish_reason = effect.reason
                    self._signals.append(item)
            elif isinstance(effect, Resend):
                item = self.get(effect.mid)
                if item is not None:
                    item.resends = effect.attempt

    def abandon(self, mid: str) -> None:
        """Stop waiting for ``mid`` (the client gave up on it: an SDK-internal request whose
        answer cannot come any more); its item finishes as ``ABANDONED``."""
        self.tracker.forget(mid)
        self.apply((Finished(mid, FinishReason.ABANDONED),))
        self.signal()

    def signal(self) -> None:
        """Wake the threads waiting on items that changed (after their handlers ran)."""
        if not self._signals:
            return
        signals, self._signals = self._signals, []
        if not self._wake:
            return
        for item in signals:
            item._wake(item.state is _FINISHED)

    def prev_of(self, mid: str) -> Envelope | None:
        """The last message (not an ACK) seen with ``mid`` while it was tracked."""
        return self._prev.get(mid)
