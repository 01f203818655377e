"""The in-flight MID tracker: the seed's three outage scenarios (S1, S2, S3) as a pure machine.

Every LX/1 request is known by its mid for its whole life. :class:`MidTracker` follows each mid
the client sent from the moment it went on the wire until it is finished, and tells the I/O layer
what to do as *effects*. It never reads a clock (``now_ns`` is an argument), never touches a
socket, and knows LX/1 only through the small :class:`Reply` values the I/O layer feeds it.

Theory of operation
-------------------

A tracked mid is in one of three states, named after the seed's scenarios::

    AWAITING_ACK (S1) --ACK--------------------> ACKED (S2) --final reply--> FINISHED (S3)
          |  \\--final reply / reject---------------------------------------^
          \\-- no ACK by the deadline: Resend(mid), deadline moves out (capped backoff)

* **S1 — sent, no ACK.** The request waits for its first reply, a ``Status``. When the deadline
  passes (:meth:`MidTracker.poll`) the effect is :class:`Resend`: the I/O layer sends *the same
  envelope bytes* again. The exchange de-duplicates by mid, so this is always safe. The next
  deadline is ``ack_timeout x 2^attempt``, capped at ``backoff_cap``. Only a ``Status`` (ACK or a
  reject) or a final reply ends S1: a report that arrives while the ACK was lost does not, so the
  request is resent and the exchange answers ``Status{ACK, duplicate}``.
* **S2 — ACKed, no final reply.** The request stays tracked (``in_flight``) until its final
  reply arrives, live or replayed; the I/O layer reconciles with ``MessageReplay``.
* **S3 — finished.** The final reply (table :data:`FINAL_REPLIES`) or a reject releases the mid:
  :class:`Finished`. Trade requests (``LimitOrder``, ``CancelReplace``) are finished only by an
  action report *for their own entry* with ``size == 0``; any report with size 0 also releases
  the trade request whose mid is the report's ``entry_id`` (a cancel's ``CANCELLED``, a
  cancel-replace's ``REPLACED``).
* **Batches.** The inner messages of a ``Batch`` are tracked under their own mids with the batch
  as ``parent``: they have no timer of their own (resending the batch resends them), their ACK or
  reject comes in the ``BatchAcks`` (:attr:`ReplyKind.BATCH_ACKS`), and a rejected batch finishes
  them all.
* **Run change.** :meth:`MidTracker.release_run` finishes every mid ACKed in the old run (its
  open orders are gone), and every mid whose ACK was lost but that the old run answered
  otherwise (a report proves it was executed there: resending it would run it twice). Mids with
  no reply at all stay: a resend is executed in the new run.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Iterable
from dataclasses import dataclass


class MidState(enum.Enum):
    """Where a tracked mid is: the seed's scenarios S1, S2 and S3."""

    AWAITING_ACK = "awaiting_ack"
    """S1: sent, no first reply yet (resent on timeout)."""
    ACKED = "acked"
    """S2: ACKed, the final reply has not arrived: in flight."""
    FINISHED = "finished"
    """S3: finished and released."""


class ReplyKind(enum.Enum):
    """What one exchange message means for the mid it carries."""

    ACK = "ack"
    """``Status{ACK}`` (also ``duplicate=true``)."""
    REJECT = "reject"
    """``Status`` with a ``REJECT_*`` code: final."""
    DONE = "done"
    """``Status{DONE}``: the end of a multi-message answer."""
    REPORT = "report"
    """An ``ActionReport`` (``entry_id`` and ``size`` matter)."""
    SNAPSHOT = "snapshot"
    """``BookStateSnapshot`` or ``OpenOrdersSnapshot``."""
    BATCH_ACKS = "batch_acks"
    """``BatchAcks``: one ACK or reject per inner mid."""
    REPLAY_DONE = "replay_done"
    """``ReplayDone``."""
    DATA = "data"
    """Any other reply that carries the mid but ends nothing (``ContractDetail``)."""


class FinishReason(enum.Enum):
    """Why a mid was released."""

    FINAL_REPLY = "final_reply"
    REJECTED = "rejected"
    SIZE_ZERO = "size_zero"
    """A trade request's entry reached size 0 (filled, cancelled, replaced, not filled)."""
    BATCH_REJECTED = "batch_rejected"
    RUN_CHANGE = "run_change"
    ABANDONED = "abandoned"
    """The client stopped waiting (e.g. a replay on a connection that was cut)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One exchange message as the tracker sees it (built by the venue's I/O layer)."""

    kind: ReplyKind
    mid: str
    run_id: str = ""
    entry_id: str = ""
    """``ActionReport.entry_id``."""
    size: int = 0
    """``ActionReport.size``: the entry's open size after the event."""
    batch: tuple[tuple[str, bool], ...] = ()
    """``BatchAcks``: ``(inner mid, accepted)`` per inner message, in order."""


@dataclass(frozen=True, slots=True)
class Resend:
    """Effect: no ACK by the deadline — send the same envelope bytes of ``mid`` again."""

    mid: str
    attempt: int
    """1 for the first resend."""


@dataclass(frozen=True, slots=True)
class Acked:
    """Effect: ``mid`` got its ACK (S1 → S2)."""

    mid: str
    run_id: str


@dataclass(frozen=True, slots=True)
class Finished:
    """Effect: ``mid`` is finished and released (S3)."""

    mid: str
    reason: FinishReason


Effect = Resend | Acked | Finished
"""Everything the tracker can ask of the layer above."""

TRADE_KINDS: frozenset[str] = frozenset({"LimitOrder", "CancelReplace"})
"""Requests that stay open until an action report for their own entry says ``size == 0``."""

FINAL_REPLIES: dict[str, frozenset[ReplyKind]] = {
    "LimitOrder": frozenset(),
    "CancelReplace": frozenset(),
    "CancelOrder": frozenset({ReplyKind.REPORT}),
    "CancelAll": frozenset({ReplyKind.DONE}),
    "GetContracts": frozenset({ReplyKind.DONE}),
    "GetBookState": frozenset({ReplyKind.SNAPSHOT}),
    "GetOpenOrders": frozenset({ReplyKind.SNAPSHOT}),
    "Batch": frozenset({ReplyKind.BATCH_ACKS}),
    "MessageReplay": frozenset({ReplyKind.REPLAY_DONE}),
}
"""Request kind → the reply kinds that finish it (besides a reject; trade kinds: see above)."""


# Enum members are attribute look-ups on their class on every use (slow in 3.11): the per-reply
# path uses these module-level bindings.
_AWAITING_ACK, _ACKED = MidState.AWAITING_ACK, MidState.ACKED
_ACK, _REJECT, _REPORT = ReplyKind.ACK, ReplyKind.REJECT, ReplyKind.REPORT
_BATCH_ACKS = ReplyKind.BATCH_ACKS
_ACK_OR_REJECT = (_ACK, _REJECT)
_FINAL_REPLY, _SIZE_ZERO = FinishReason.FINAL_REPLY, FinishReason.SIZE_ZERO


class _Entry:
    """One tracked mid (mutable, private to the tracker)."""

    __slots__ = ("ack_run", "attempts", "children", "deadline", "kind", "parent", "state")

    def __init__(self, kind: str, deadline: int, parent: str) -> None:
        self.kind = kind
        self.state = _AWAITING_ACK
        self.deadline = deadline
        self.attempts = 0
        self.ack_run = ""
        self.parent = parent
        self.children: tuple[str, ...] = ()


class MidTracker:
    """The in-flight mids of one client (see the module docstring).

    ``ack_timeout_ns`` is how long a request waits for its first reply before the first resend;
    each further resend waits twice as long, at most ``backoff_cap_ns``.
    """

    __slots__ = ("_counter", "_entries", "_heap", "ack_timeout_ns", "backoff_cap_ns")

    def __init__(self, ack_timeout_ns: int, backoff_cap_ns: int) -> None:
        if ack_timeout_ns <= 0 or backoff_cap_ns < ack_timeout_ns:
            raise ValueError("need 0 < ack_timeout_ns <= backoff_cap_ns")
        self.ack_timeout_ns = ack_timeout_ns
        self.backoff_cap_ns = backoff_cap_ns
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._counter = 0

    # ------------------------------------------------------------------ queries

    def state(self, mid: str) -> MidState | None:
        """The state of a tracked mid; None once finished (released) or never sent."""
        entry = self._entries.get(mid)
        return None if entry is None else entry.state

    def attempts(self, mid: str) -> int:
        """How many times ``mid`` was resent (0 if never, or not tracked)."""
        entry = self._entries.get(mid)
        return 0 if entry is None else entry.attempts

    def in_flight(self) -> list[str]:
        """Every tracked mid (S1 and S2), in the order they were sent."""
        return list(self._entries)

    def awaiting_ack(self) -> list[str]:
        """The mids in S1."""
        return [m for m, e in self._entries.items() if e.state is MidState.AWAITING_ACK]

    def awaiting_final(self) -> list[str]:
        """The mids in S2 (ACKed, kept in flight for reconciliation)."""
        return [m for m, e in self._entries.items() if e.state is MidState.ACKED]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, mid: object) -> bool:
        return mid in self._entries

    def next_deadline(self) -> int | None:
        """The earliest resend deadline (ns, the caller's clock), or None when nothing waits."""
        heap = self._heap
        entries = self._entries
        while heap:
            deadline, _, mid = heap[0]
            entry = entries.get(mid)
            if (
                entry is not None
                and entry.state is MidState.AWAITING_ACK
                and entry.deadline == deadline
            ):
                return deadline
            heapq.heappop(heap)
        return None

    # ------------------------------------------------------------------ transitions

    def sent(
        self, mid: str, kind: str, now_ns: int, *, children: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Track a request that was just sent (S1).

        ``children`` are a batch's inner messages as ``(mid, kind)``; they are tracked without a
        timer of their own.
        """
        kids = tuple(children)
        for m, k in ((mid, kind), *kids):
            if k not in FINAL_REPLIES:
                raise ValueError(f"{k!r} is not an LX/1 request kind")
            if m in self._entries:
                raise ValueError(f"mid {m} is already in flight; a new request needs a new mid")
        entry = self._entries[mid] = _Entry(kind, now_ns + self.ack_timeout_ns, "")
        self._push(entry.deadline, mid)
        if not kids:
            return
        entry.children = tuple(m for m, _ in kids)
        for child, child_kind in kids:
            self._entries[child] = _Entry(child_kind, 0, mid)

    def on_reply(self, reply: Reply, now_ns: int) -> tuple[Effect, ...]:
        """Feed one exchange message carrying a mid; return what changed."""
        effects: list[Effect] = []
        kind = reply.kind
        if kind is _REPORT and reply.size == 0 and reply.entry_id != reply.mid:
            other = self._entries.get(reply.entry_id)
            if other is not None and other.kind in TRADE_KINDS:
                self._finish(reply.entry_id, _SIZE_ZERO, effects)
        entry = self._entries.get(reply.mid)
        if entry is None:
            return tuple(effects)
        if entry.state is _AWAITING_ACK and kind not in _ACK_OR_REJECT:
            entry.ack_run = reply.run_id  # executed in this run, its ACK lost: see release_run
        if kind is _ACK:
            if entry.state is _AWAITING_ACK:
                entry.state = _ACKED
                entry.ack_run = reply.run_id
                effects.append(Acked(reply.mid, reply.run_id))
        elif kind is _REJECT:
            self._finish(reply.mid, FinishReason.REJECTED, effects)
        elif kind is _BATCH_ACKS and entry.children:
            for child, accepted in reply.batch:
                kid = self._entries.get(child)
                if kid is None or kid.parent != reply.mid:
                    continue
                if accepted:
                    if kid.state is _AWAITING_ACK:
                        kid.state = _ACKED
                        kid.ack_run = reply.run_id
                        effects.append(Acked(child, reply.run_id))
                else:
                    self._finish(child, FinishReason.REJECTED, effects)
            self._finish(reply.mid, _FINAL_REPLY, effects)
        elif entry.kind in TRADE_KINDS:
            if kind is _REPORT and reply.entry_id == reply.mid and reply.size == 0:
                self._finish(reply.mid, _SIZE_ZERO, effects)
        elif kind in FINAL_REPLIES[entry.kind]:
            self._finish(reply.mid, _FINAL_REPLY, effects)
        return tuple(effects)

    def poll(self, now_ns: int) -> tuple[Resend, ...]:
        """Resend every request whose ACK deadline passed; move its deadline out."""
        heap = self._heap
        entries = self._entries
        out: list[Resend] = []
        while heap and heap[0][0] <= now_ns:
            deadline, _, mid = heapq.heappop(heap)
            entry = entries.get(mid)
            if entry is None or entry.state is not MidState.AWAITING_ACK:
                continue
            if entry.deadline != deadline:
                continue
            entry.attempts += 1
            wait = min(self.ack_timeout_ns << min(entry.attempts, 40), self.backoff_cap_ns)
            entry.deadline = now_ns + wait
            self._push(entry.deadline, mid)
            out.append(Resend(mid, entry.attempts))
        return tuple(out)

    def release_run(self, run_id: str) -> tuple[Finished, ...]:
        """A run change: finish every mid ACKed (or otherwise answered) in ``run_id``."""
        effects: list[Effect] = []
        for mid in [m for m, e in self._entries.items() if e.ack_run == run_id]:
            entry = self._entries.get(mid)
            if entry is not None:
                self._finish(mid, FinishReason.RUN_CHANGE, effects)
        return tuple(e for e in effects if isinstance(e, Finished))

    def forget(self, mid: str) -> None:
        """Stop tracking ``mid`` without an effect (the caller gave up on it)."""
        entry = self._entries.pop(mid, None)
        if entry is not None:
            for child in entry.children:
                self._entries.pop(child, None)

    # ------------------------------------------------------------------ internals

    def _push(self, deadline: int, mid: str) -> None:
        self._counter += 1
        heapq.heappush(self._heap, (deadline, self._counter, mid))

    def _finish(self, mid: str, reason: FinishReason, effects: list[Effect]) -> None:
        entry = self._entries.pop(mid, None)
        if entry is None:
            return
        effects.append(Finished(mid, reason))
        if reason in (FinishReason.REJECTED, FinishReason.RUN_CHANGE):
            child_reason = (
                FinishReason.BATCH_REJECTED if reason is FinishReason.REJECTED else reason
            )
            for child in entry.children:
                kid = self._entries.get(child)
                if kid is not None and (
                    reason is FinishReason.REJECTED or kid.state is MidState.AWAITING_ACK
                ):
                    self._finish(child, child_reason, effects)
