"""The reconciler: the SDK's executor of the pure recovery planner (:mod:`recorder.core.recovery`).

It runs on the context's I/O thread and owns the context's *local state*: a live
:class:`~recorder.core.projector.Projector` (exchange view) fed every frame the context
journals, so the state the bot reads (:meth:`Context.open_orders`) is the journal's. A frame
journaled is queued for the projector (:meth:`Reconciler.apply`) and applied before anything
reads the state (:meth:`Reconciler.catch_up`: every read goes through it, from any thread), at
the I/O thread's quiet moments, and otherwise in batches (:meth:`Reconciler.due`), beside the
tap's commits: off most round trips. On two cores shared with the exchange and ZeroMQ's I/O
threads, projecting a round trip's frames between a request's send and its ACK (as this did
until it batched) delayed the ACK about as long as the projection took: ~85 µs in a step by
step timeline of the bench's round trips; in batches the I/O thread spends about 30 µs less CPU
per order on it (72-79 against 45-50 µs, 3,000 orders each).

* **Start** (crash recovery, :meth:`Reconciler.restore`): the projector is rebuilt from the
  journal (newest checkpoint + tail), the order-channel sequencer continues the journal's run
  and seq, open ledger gaps are taken over, and the requests of the sessions that never ended
  (a killed process) are tracked again: un-ACKed ones are resent with their journaled bytes
  (same mid — the exchange de-duplicates), ACKed ones with no final reply are replayed by mid.
* **Triggers** (:meth:`Reconciler.begin`): start, reconnect, a detected gap, the exchange
  available again, a refused replay. Each gathers the facts, asks the planner
  (:func:`recorder.core.recovery.plan`) and carries the actions out; triggers arriving during
  a reconciliation join it.
* **Done**: when every request of the plan is finished, no replay is running and no
  order-channel gap is open, the processor gets ``handle_reconciled(report)`` and
  :attr:`Context.reconciled` is set.

Corrections (after a refused replay, and on a run change) are journaled as new rows and applied
to the live projector like any frame.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from recorder.client.store import IDStoreItem, MessageIDStore, classify
from recorder.client.tap import COMMIT_AGE_S
from recorder.core.frames import Channel, Direction, FrameRecord
from recorder.core.mids import MidState, MidTracker, Reply, ReplyKind
from recorder.core.orders import Order, OrderStatus
from recorder.core.projector import Projector
from recorder.core.recovery import (
    CORRECTION_KIND,
    Action,
    CancelRunOrders,
    Correction,
    Facts,
    GetBookState,
    GetOpenOrders,
    InFlight,
    OpenOrder,
    ReplayMids,
    ReplayRange,
    Resend,
    Trigger,
    correction_payload,
    corrections,
    plan,
    run_change_corrections,
    snapshot_orders,
)
from recorder.core.sequencing import OpenGap
from recorder.core.state import View
from recorder.journal import Journal, Session
from recorder.journal.reader import FrameFilter
from recorder.journal.wire import WireFrame
from recorder.projection import projector_at, save_checkpoint
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import kind_of
from recorder.venues.lx.records import to_record

if TYPE_CHECKING:
    from recorder.client.context import Context

log = logging.getLogger("recorder.client")

APPLY_ROWS = 256
"""The local state is due to catch up once this many journaled frames wait for it..."""
APPLY_AGE_NS = int(COMMIT_AGE_S * 1e9)
"""...or once the oldest has waited as long as the tap lets a frame wait for its commit (both
then happen in the same idle moment of the I/O thread)."""


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What one reconciliation did (given to ``handle_reconciled``)."""

    trigger: Trigger
    """What started it (later triggers joined it; see :attr:`triggers`)."""
    triggers: tuple[Trigger, ...]
    started_ns: int
    """Monotonic clock when it started."""
    finished_ns: int
    run_id: str
    run_changed: bool
    resent: tuple[str, ...]
    replay_ranges: tuple[tuple[int, int], ...]
    replay_mids: int
    books_resynced: tuple[int, ...]
    corrections: tuple[Correction, ...]
    open_orders: tuple[Order, ...]
    """The open orders of the reconciled state."""

    @property
    def duration_ms(self) -> float:
        """How long it took, in milliseconds."""
        return (self.finished_ns - self.started_ns) / 1e6


@dataclass(slots=True)
class _Round:
    trigger: Trigger
    started_ns: int
    triggers: list[Trigger] = field(default_factory=list)
    waiting: set[str] = field(default_factory=set)
    contact: bool = False
    run_changed: bool = False
    resent: list[str] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    mids: int = 0
    books: list[int] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)


def open_order(o: Order) -> OpenOrder:
    """A projected :class:`Order` as the planner's :class:`OpenOrder`. A side still unknown
    (the replacement of an order placed before the journal, not yet reported) goes into a
    correction row as a bid: the projector and the lifecycles never take a side from one."""
    return OpenOrder(
        o.entry_id, o.contract_id, bool(o.is_ask), o.price_in_cents, o.open_size, o.original_size
    )


class Reconciler:
    """The context's local state and its reconciliation with the exchange (I/O thread only,
    except :meth:`restore`, called by ``start()`` before the thread runs)."""

    def __init__(self, context: Context) -> None:
        self._ctx = context
        self._projector = Projector(View.EXCHANGE)
        self._unapplied: collections.deque[tuple[int, FrameRecord | WireFrame]] = (
            collections.deque()
        )
        """Journaled frames the projector has not seen yet, in position order."""
        self._watched: set[int] = set()
        """Contracts with a public report since the last :meth:`idle` (their clocks to check)."""
        self.lock = threading.Lock()
        """Held while the projector changes (other threads read it under this lock)."""
        self.history = False
        """True when the context started on a journal with frames (crash recovery)."""
        self.round: _Round | None = None
        self.last: ReconcileReport | None = None
        self.reconciled = threading.Event()
        self.market_joined = False
        """True once the market channel brought its first frame (books resync after that)."""
        self._deferred: set[int] = set()
        self.resyncing: set[int] = set()
        """Contracts whose ``GetBookState`` (for a clock gap) is on its way."""
        self._correcting: dict[str, list[OpenOrder]] = {}
        self._pre_change: list[OpenOrder] = []

    # ------------------------------------------------------------------ the local state

    def apply(self, position: int, record: FrameRecord | WireFrame) -> None:
        """Queue one journaled frame — its record, or the frame as it came off the wire (the
        tap's, whose record is built when it is applied) — for the local state (applied by
        :meth:`catch_up`)."""
        self._unapplied.append((position, record))

    @property
    def backlog(self) -> int:
        """How many journaled frames wait for the projector."""
        return len(self._unapplied)

    def due(self) -> bool:
        """The waiting frames are due to be applied (:data:`APPLY_ROWS`, :data:`APPLY_AGE_NS`;
        call with a backlog)."""
        queue = self._unapplied
        # a record's and a wire frame's fifth field alike: the monotonic clock it was seen at
        return len(queue) >= APPLY_ROWS or time.monotonic_ns() - queue[0][1][4] >= APPLY_AGE_NS

    @property
    def projector(self) -> Projector:
        """The live projector, caught up with every frame journaled so far."""
        self.catch_up()
        return self._projector

    def catch_up(self) -> None:
        """Apply the queued frames to the projector (any thread)."""
        if self._unapplied:
            with self.lock:
                self._catch_up()

    def _catch_up(self) -> None:
        queue, p = self._unapplied, self._projector
        while queue:
            # Taken off the queue only once applied: a thread that finds the queue empty (and
            # so skips the lock, :meth:`catch_up`) finds every frame's effects in the state.
            position, record = queue[0]
            if not isinstance(record, FrameRecord):  # as it came: off the frame's path, now
                session_id, channel, direction, wall_ns, mono_ns, flags, payload, envelope = record
                record = to_record(
                    payload, session_id=session_id, channel=channel, direction=direction,
                    wall_ns=wall_ns, mono_ns=mono_ns, flags=flags,
                    envelope=cast("pb.Envelope | None", envelope),
                )  # fmt: skip
            if (
                record.run_id
                and p.run_id
                and record.run_id != p.run_id
                and record.direction is Direction.IN
                and not record.is_replay
            ):
                self._pre_change = [open_order(o) for o in p.open_orders()]
            elif record.kind == "OpenOrdersSnapshot" and record.mid in self._correcting:
                self._correcting[record.mid] = [open_order(o) for o in p.open_orders()]
            try:
                p.apply_row(
                    (
                        position, record.session_id, record.channel.value,
                        record.direction.value, record.wall_ns, record.mono_ns, record.run_id,
                        record.seq, record.mid, record.kind, record.is_replay, record.flags,
                        record.payload,
                    )
                )  # fmt: skip
            finally:
                queue.popleft()

    def idle(self) -> None:
        """The I/O thread is about to wait (I/O thread only): catch up, then check the clocks
        of the contracts that had public reports (:meth:`watch_clock`)."""
        self.catch_up()
        watched, self._watched = self._watched, set()
        for contract_id in sorted(watched):
            self._check_clock(contract_id)

    def open_orders(self) -> tuple[Order, ...]:
        """The projected open orders, every frame journaled so far applied (any thread)."""
        with self.lock:
            self._catch_up()
            return tuple(self._projector.open_orders())

    def checkpoint(self, journal: Journal) -> None:
        """Store the live projector's state as the journal's checkpoint (clean stop)."""
        p = self.projector
        if p.position and p.position == journal.head_position():
            save_checkpoint(journal, p)

    # ------------------------------------------------------------------ crash recovery

    def restore(self) -> None:
        """Rebuild the local state from the journal and take over what was in flight."""
        ctx = self._ctx
        journal = ctx.tap.journal
        if journal is None or journal.head_position() == 0:
            return
        self.history = True
        p = self._projector = projector_at(journal, View.EXCHANGE)
        seqr = p._order_seq  # the journal's view of the order stream (read, not changed)
        data = seqr.snapshot(lambda _: None)
        data["held"] = []
        ctx.order_seq.restore(data, lambda _: None)
        ctx.run_id = p.run_id
        ctx.contracts.update(p.books)
        ctx.contracts.update(p._contracts)
        self._take_over_gaps(journal)
        self._take_over_requests(journal)

    def _take_over_gaps(self, journal: Journal) -> None:
        ctx = self._ctx
        still = ctx.order_seq.open_gaps
        from recorder.client.recovery import LedgerGap

        for gap in journal.gaps():
            if gap.state not in ("open", "requested"):
                continue
            live = (
                gap.channel == Channel.ORDER.value
                and gap.run_id == ctx.order_seq.run_id
                and any(o.from_seq <= gap.to_seq and gap.from_seq <= o.to_seq for o in still)
            )
            if live:
                ctx.gaps.pending.append(
                    LedgerGap(gap.id, Channel.ORDER, gap.run_id, gap.from_seq, gap.to_seq)
                )
            elif gap.channel == Channel.ORDER.value and gap.run_id == ctx.order_seq.run_id:
                journal.update_gap(gap.id, "filled", reason="found in the journal at restart")
            else:
                journal.update_gap(
                    gap.id,
                    "unrecoverable",
                    reason="still open when the bot stopped; "
                    + ("books resynced at restart" if gap.channel == "market" else "run replaced"),
                )

    def _take_over_requests(self, journal: Journal) -> None:
        """Track again what was in flight (:func:`take_over_requests`)."""
        ctx = self._ctx
        tracker = take_over_requests(ctx.store, journal, self.projector, time.monotonic_ns())
        ctx.store.signal()
        if tracker.in_flight():
            log.warning(
                "restart: %d request(s) of the previous process still in flight (%d un-ACKed)",
                len(tracker.in_flight()),
                len(tracker.awaiting_ack()),
            )

    # ------------------------------------------------------------------ triggers

    @property
    def active(self) -> bool:
        """True while a reconciliation runs."""
        return self.round is not None

    def begin(self, trigger: Trigger, *, missing: Iterable[tuple[int, int]] = ()) -> None:
        """Plan for ``trigger`` and carry the plan out (joining a running reconciliation)."""
        ctx = self._ctx
        now = time.monotonic_ns()
        rnd = self.round
        if rnd is None:
            rnd = self.round = _Round(trigger, now)
            self.reconciled.clear()
        rnd.triggers.append(trigger)
        if trigger in (Trigger.STARTUP, Trigger.RECONNECT):
            rnd.contact = True
        tracker = ctx.store.tracker
        in_flight = []
        for mid in tracker.in_flight():
            item = ctx.store.get(mid)
            if item is None or item.parent or item.kind == "MessageReplay":
                continue
            acked = tracker.state(mid) is MidState.ACKED
            in_flight.append(InFlight(mid, item.kind, acked, ctx.run_id if acked else ""))
        facts = Facts(
            trigger=trigger,
            local_run_id=self.projector.run_id,
            current_run_id=ctx.run_id if trigger is not Trigger.STARTUP else "",
            last_seq=ctx.order_seq.high,
            missing=tuple(missing),
            in_flight=tuple(in_flight) if trigger in _RESEND_TRIGGERS else (),
            open_orders=tuple(open_order(o) for o in self.projector.open_orders()),
            contracts=tuple(sorted(ctx.contracts)),
            replay_unavailable=trigger is Trigger.REPLAY_UNAVAILABLE,
        )
        if trigger is Trigger.STARTUP:
            facts = _startup_facts(facts, ctx.order_seq.open_gaps)
        the_plan = plan(facts)
        if the_plan.actions:
            log.info("reconcile (%s): %s", trigger, ", ".join(the_plan.rules))
        for action in the_plan.actions:
            self._carry_out(action, rnd)
        self.check()

    def _carry_out(self, action: Action, rnd: _Round) -> None:
        ctx = self._ctx
        if isinstance(action, Resend):
            item = ctx.store.get(action.mid)
            if item is not None and item.wire:
                ctx.resend_item(item)
                rnd.resent.append(action.mid)
        elif isinstance(action, ReplayRange):
            ctx.gaps.request(action.run_id, action.from_seq, action.to_seq)
            rnd.ranges.append((action.from_seq, action.to_seq))
        elif isinstance(action, ReplayMids):
            item = ctx.request(pb.MessageReplay(run_id=action.run_id, mids=list(action.mids)))
            rnd.waiting.add(item.mid)
            rnd.mids += len(action.mids)
        elif isinstance(action, GetBookState):
            if self.market_joined:
                self.resync(action.contract_id)
            else:  # a snapshot taken before the SUB joins could miss what it never sees
                self._deferred.add(action.contract_id)
        elif isinstance(action, GetOpenOrders):
            item = ctx.request(pb.GetOpenOrders())
            rnd.waiting.add(item.mid)
            if action.correct:
                self._correcting[item.mid] = []
        elif isinstance(action, CancelRunOrders):
            self.record_run_change(action, self._pre_change)

    # ------------------------------------------------------------------ events

    def resync(self, contract_id: int) -> None:
        """Ask ``GetBookState`` for a contract (the reconciliation waits for it)."""
        self.resyncing.add(contract_id)
        item = self._ctx.request(pb.GetBookState(contract_id=contract_id))
        if self.round is not None:
            self.round.waiting.add(item.mid)
            self.round.books.append(contract_id)

    def on_market_joined(self) -> None:
        """The market channel's first frame: resync every known book from here on."""
        self.market_joined = True
        for cid in sorted(self._deferred | self._ctx.contracts):
            self.resync(cid)
        self._deferred.clear()

    def on_contract(self, contract_id: int) -> None:
        """A ``ContractDetail``: a contract with no local book is resynced once joined."""
        if (
            self.market_joined
            and contract_id not in self.projector.books
            and contract_id not in self.resyncing
        ):
            self.resync(contract_id)

    def watch_clock(self, contract_id: int) -> None:
        """A public report arrived: its contract's clock is checked at the next :meth:`idle`."""
        self._watched.add(contract_id)

    def _check_clock(self, contract_id: int) -> None:
        """A clock gap on a contract (a report the market channel did not bring, e.g. before
        this connection joined it, with no seq gap to show it) is resynced with
        ``GetBookState`` (docs/protocol.md §7)."""
        book = self._projector.books.get(contract_id)
        if book is None or book.synced or contract_id in self.resyncing:
            return
        self.resync(contract_id)

    def on_run_change(self, old: str, new: str) -> None:
        """The exchange run changed (the live projector already cancelled the old orders)."""
        rnd = self.round
        if rnd is None:
            rnd = self.round = _Round(Trigger.AVAILABLE, time.monotonic_ns())
            rnd.triggers.append(Trigger.AVAILABLE)
            self.reconciled.clear()
        rnd.run_changed = True
        self.catch_up()  # the run change's frame sets what was open before it
        if self._pre_change:
            ids = tuple(o.entry_id for o in self._pre_change)
            self.record_run_change(CancelRunOrders(old, new, ids), self._pre_change)
        self._pre_change = []

    def record_run_change(self, action: CancelRunOrders, local: list[OpenOrder]) -> None:
        """Journal one ``run_cancelled`` correction per open order of the replaced run."""
        for c in run_change_corrections(action, local):
            self._journal_correction(c, "", action.new_run_id)

    def on_snapshot(self, envelope: pb.Envelope) -> None:
        """An ``OpenOrdersSnapshot``: when it was asked for corrections, journal them."""
        self.catch_up()  # the snapshot's frame sets the orders open before it
        before = self._correcting.pop(envelope.mid, None)
        if before is None:
            return
        snap = envelope.open_orders_snapshot
        fixes = corrections(before, snapshot_orders(snap))
        for c in fixes:
            self._journal_correction(c, envelope.mid, envelope.run_id)
        if fixes:
            log.warning("reconcile: %d correction(s) from open-orders snapshot", len(fixes))

    def _journal_correction(self, c: Correction, mid: str, run_id: str) -> None:
        ctx = self._ctx
        payload = correction_payload(
            c, evidence_mid=mid, run_id=run_id, wall_ns=time.time_ns(), mono_ns=time.monotonic_ns()
        )
        got = ctx.tap.correction(payload, run_id, mid)
        if got is not None:
            self.apply(*got)
        if self.round is not None:
            self.round.corrections.append(c)

    def on_order_message(self) -> None:
        """An order-channel message arrived (the exchange knows our connection)."""
        if self.round is not None and self.round.contact:
            self.round.contact = False

    def check(self) -> None:
        """Finish the reconciliation when nothing it waits for is left."""
        rnd = self.round
        if rnd is None:
            return
        ctx = self._ctx
        rnd.waiting = {m for m in rnd.waiting if ctx.store.get(m) is not None}
        if (
            rnd.waiting
            or rnd.contact
            or self._deferred
            or ctx.gaps.busy
            or ctx.order_seq.open_gaps
            or ctx.store.tracker.awaiting_ack()
        ):
            return
        self.round = None
        report = ReconcileReport(
            trigger=rnd.trigger,
            triggers=tuple(rnd.triggers),
            started_ns=rnd.started_ns,
            finished_ns=time.monotonic_ns(),
            run_id=ctx.run_id,
            run_changed=rnd.run_changed,
            resent=tuple(rnd.resent),
            replay_ranges=tuple(rnd.ranges),
            replay_mids=rnd.mids,
            books_resynced=tuple(sorted(set(rnd.books))),
            corrections=tuple(rnd.corrections),
            open_orders=self.open_orders(),
        )
        self.last = report
        log.info("reconciled (%s) in %.1f ms", report.trigger, report.duration_ms)
        ctx._guard("", ctx.processor.handle_reconciled, report)
        self.reconciled.set()


_RESEND_TRIGGERS = frozenset({Trigger.STARTUP, Trigger.RECONNECT, Trigger.AVAILABLE})


def _kind(env: pb.Envelope) -> str:
    return kind_of(env)


def take_over_requests(
    store: MessageIDStore,
    journal: Journal,
    projector: Projector,
    now: int,
    *,
    starting: Session | None = None,
) -> MidTracker:
    """Track again in ``store`` the requests of the sessions that never ended (a killed
    process), and the orders still open from any session (``projector``: the journal's state),
    each with the ``prev_msg`` it had (the last reply the journal shows for its mid): the next
    message for it gets what it would have got had the bot not stopped. Returns the journal's
    tracker of them (what is in flight, what un-ACKed).

    The live start-up (:meth:`Reconciler.restore`) reads the whole journal; a replay
    (:meth:`Replayer._take_over <recorder.replay.Replayer._take_over>`) gives the session whose
    context it starts as ``starting``, and the journal is read as it was then: up to that
    session's first frame, with the sessions that had not ended by its start.
    """
    stop: int | None = None
    if starting is None:
        sessions = [s for s in journal.sessions() if s.ended_wall_ns is None]
    else:
        stop = _first_position(journal, starting.id) or None
        sessions = [
            s
            for s in journal.sessions()
            if s.id < starting.id
            and (s.ended_wall_ns is None or s.ended_wall_ns > starting.started_wall_ns)
        ]
    start = _first_position(journal, sessions[0].id) if sessions else 0
    tracker = MidTracker(1, 1)
    requests: dict[str, pb.Envelope] = {}
    wires: dict[str, bytes] = {}
    batched: dict[str, tuple[str, pb.Envelope]] = {}
    """A batch's inner mid → the batch's mid and the inner message."""
    if start:
        for f in journal.select(FrameFilter(channel=Channel.ORDER, start=start, stop=stop)):
            if f.kind == CORRECTION_KIND or f.malformed:
                continue
            try:
                env = pb.Envelope.FromString(f.payload)
            except Exception:  # a frame the projector already flagged
                continue
            if f.direction == Direction.OUT.value:
                if env.mid in requests or env.WhichOneof("body") is None:
                    continue
                kids = [(m.mid, _kind(m)) for m in env.batch.messages]
                try:
                    tracker.sent(env.mid, _kind(env), 0, children=kids)
                except ValueError:
                    continue
                requests[env.mid] = env
                wires[env.mid] = f.payload
                for inner in env.batch.messages:
                    batched[inner.mid] = (env.mid, inner)
            else:
                reply = classify(env)
                if reply is not None:
                    tracker.on_reply(reply, 0)
    in_flight = set(tracker.in_flight())
    # Orders the projection holds as sent (never answered) or open, from older sessions too.
    for order in projector.own.orders.values():
        if order.entry_id in in_flight or order.entry_id in requests:
            continue
        if order.status is OrderStatus.SENT:
            sent = _request(journal, order.entry_id, stop)
            if sent is not None:
                env, wire = sent
                requests[env.mid] = env
                wires[env.mid] = wire
                tracker.sent(env.mid, _kind(env), 0)
                in_flight.add(env.mid)
        elif order.status.value in ("acked", "resting", "partially_filled"):
            sent = _request(journal, order.entry_id, stop)
            if sent is not None:
                env = sent[0]
            else:  # not sent under its own mid (a batch's inner order), or adopted
                env = pb.Envelope(mid=order.entry_id, mversion="1.0")
                env.limit_order.contract_id = order.contract_id
            requests[env.mid] = env
            tracker.sent(env.mid, _kind(env), 0)
            tracker.on_reply(Reply(ReplyKind.ACK, env.mid, projector.run_id), 0)
            in_flight.add(env.mid)
    for mid in tracker.in_flight():
        request = requests.get(mid)
        if request is None:
            batch, request = batched[mid]
            if batch in tracker:
                continue  # an inner message of a batch in flight: tracked with its batch
            # Its batch finished (its BatchAcks came) and left it in flight, ACKed: a resting
            # order placed in a batch. Tracked on its own, like a single order, as its inner
            # envelope (no bytes of its own to resend: the BatchAcks ACKed it).
        children = [IDStoreItem(m) for m in request.batch.messages]
        item = IDStoreItem(request)
        item.wire = wires.get(mid, b"")
        store.add(item, children)
        store.mark_sent(item, request, now)
        for one in (item, *children):
            last = _last_reply(journal, one.mid, stop)
            if last is not None:
                store.resume(one.mid, last)
        if tracker.state(mid) is MidState.ACKED:
            effects = store.tracker.on_reply(Reply(ReplyKind.ACK, mid, projector.run_id), now)
            store.apply(effects)
            for child in children:
                if tracker.state(child.mid) is None:
                    store.tracker.forget(child.mid)
    return tracker


def _first_position(journal: Journal, session_id: int) -> int:
    """The position of a session's first frame; 0 when it has none."""
    first = next(iter(journal.select(FrameFilter(session_id=session_id), limit=1)), None)
    return first.position if first is not None else 0


def _request(journal: Journal, entry_id: str, stop: int | None) -> tuple[pb.Envelope, bytes] | None:
    """The journaled request that placed the order ``entry_id`` (a ``LimitOrder`` or a
    ``CancelReplace`` sent under that mid) and its bytes, before position ``stop`` (None: in
    the whole journal); None when the journal has none."""
    for f in journal.select(FrameFilter(mid=entry_id, stop=stop)):
        if f.direction == Direction.OUT.value:
            env = pb.Envelope.FromString(f.payload)
            if env.WhichOneof("body") in ("limit_order", "cancel_replace"):
                return env, f.payload
            return None
    return None


def _last_reply(journal: Journal, mid: str, stop: int | None) -> pb.Envelope | None:
    """The ``prev_msg`` a request taken over from the journal has so far (before position
    ``stop``; None: the whole journal): the last message with its mid that the store of the
    context that saw it recorded (:meth:`MessageIDStore.on_reply
    <recorder.client.store.MessageIDStore.on_reply>`) — an order-channel reply that is not an
    ACK (a receipt), each seq once (a duplicate was not dispatched); None when there is none
    (then it is still the request)."""
    last = None
    seen: set[tuple[str, int]] = set()
    for f in journal.select(FrameFilter(mid=mid, stop=stop)):
        if (
            f.channel != Channel.ORDER.value
            or f.direction != Direction.IN.value
            or f.kind == CORRECTION_KIND
            or f.malformed
            or (f.run_id, f.seq) in seen
        ):
            continue
        seen.add((f.run_id, f.seq))
        env = pb.Envelope.FromString(f.payload)
        reply = classify(env)
        if reply is not None and reply.kind is not ReplyKind.ACK:
            last = env
    return last


def _startup_facts(facts: Facts, gaps: Iterable[OpenGap]) -> Facts:
    missing = tuple((g.from_seq, g.to_seq) for g in gaps)
    return Facts(
        trigger=facts.trigger,
        local_run_id=facts.local_run_id,
        last_seq=facts.last_seq,
        missing=facts.missing + missing,
        in_flight=facts.in_flight,
        open_orders=facts.open_orders,
        contracts=facts.contracts,
    )
