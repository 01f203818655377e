"""The capture service's own gap filling: the core's sequencing plus the requests it implies. Pure.

:class:`GapFiller` runs one :class:`~recorder.core.sequencing.StreamSequencer` per inbound channel
on what the service forwards and turns the sequencer's effects into :data:`Action` values the
I/O layer carries out: requests to send upstream (:class:`SendRequest`) and gap-ledger writes
(:class:`OpenGap`, :class:`UpdateGap`). Time is an argument; mids come from ``new_mid``.

Theory of operation
-------------------

* **Order channel** (``hold=True``): a seq jump opens a gap (ledger ``open``) and a
  ``MessageReplay`` for it (ledger ``requested``); frames behind the gap are held, then
  delivered in seq order when the replayed frames fill it (ledger ``filled``). A replay
  rejected, complete without the missing seqs, or unanswered after ``max_attempts`` tries of
  ``timeout_ns`` each gives up on the range (ledger ``unrecoverable``) and releases the held
  frames. An incomplete ``ReplayDone`` (the 2,500 cap) is followed by a replay of the rest.
* **Market channel** (never held): a seq jump opens a gap and a ``GetBookState`` for every known
  contract (learned from ``ContractDetail`` replies; the service asks ``GetContracts`` itself at
  start); the gap is ``filled`` when every snapshot is in (the books are resynced: market frames
  themselves cannot be replayed), ``unrecoverable`` when a snapshot is refused or never comes.
* **Backfill**: when the first order-channel frame a session sees has a seq above 1, the missing
  seqs are the participant's history in this run from before the session. They are replayed
  into the journal only (:meth:`GapFiller.is_backfill` tells the service not to forward them to
  bots that never asked), so nothing is held behind them: the bots' stream (``order``) starts at
  that first frame and flows at once, and the history has its own sequencer (``history``, never
  holding). Its ``MessageReplay`` chunks go :data:`BACKFILL_WINDOW` at a time, the next when one
  ends (its ``ReplayDone``, or given up), each timed from when it is sent: the exchange answers
  requests in turn, so 40 chunks sent at once left the last ones waiting behind 97,500 frames,
  timing out, re-sent and written off although nothing was lost. A gap found live meanwhile is
  asked for at once, not queued behind the chunks: its answer waits behind at most the window's.
* **Reconnection** (:meth:`GapFiller.reconnected`): the service's requests still pending are
  asked again on the new connection, after a ``GetContracts`` that makes the exchange know it;
  the sequencers carry on, so the first reply shows a gap across the outage or a run change.
* A run change abandons the old run's gaps (``unrecoverable``) and its pending replays; seen on
  either channel, it also ends the old run's market gaps (``unrecoverable``: a snapshot of the
  next run resyncs nothing of the old one, so none fills them) and drops their snapshots.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf.message import Message

from recorder.core.frames import Channel, FrameRecord
from recorder.core.sequencing import (
    Effect,
    GapClosed,
    GapOpened,
    Recovery,
    RequestReplay,
    ResyncBook,
    RunChanged,
    StreamSequencer,
)
from recorder.venues.lx import lx1_pb2 as pb

_parse = pb.Envelope.FromString
_NOTED = frozenset({"ContractDetail", "Heartbeat"})
"""Kinds of in-order frames the filler reads besides the replies to its own requests."""
_REJECT_MIN = 10
"""Status codes from here up are rejections (docs/protocol.md §4)."""
_RUN_CHANGED = "the exchange run changed"
BACKFILL_WINDOW = 2
"""Backfill chunks pending at once: the exchange answers one while the service reads the other's
frames, and a chunk's timer covers at most its own and one other's 2,500 frames."""

Item = tuple[FrameRecord, tuple[bytes, ...]]
"""What the order sequencer holds: a frame and where it goes (decided on arrival)."""


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Action: send the service's own request ``body`` upstream under ``mid``."""

    mid: str
    body: Message


@dataclass(frozen=True, slots=True)
class OpenGap:
    """Action: record a new gap in the ledger under the local ``key``."""

    key: int
    channel: Channel
    run_id: str
    from_seq: int
    to_seq: int
    position: int


@dataclass(frozen=True, slots=True)
class UpdateGap:
    """Action: move the ledger gap ``key`` to ``state`` (requested, filled, unrecoverable)."""

    key: int
    state: str
    reason: str


Action = SendRequest | OpenGap | UpdateGap
"""Everything the gap filler asks the I/O layer to do."""


class Purpose(enum.Enum):
    """Why the service sent one of its own requests."""

    REPLAY = "replay"
    SNAPSHOT = "snapshot"
    CONTRACTS = "contracts"


@dataclass(slots=True)
class _Pending:
    purpose: Purpose
    body: Message
    sent_ns: int
    attempts: int


@dataclass(slots=True)
class _Entry:
    channel: Channel
    run_id: str
    from_seq: int
    to_seq: int
    requested: bool = False
    lost: str = ""
    """Why (part of) the gap could not be recovered; empty while it can."""
    waiting: set[str] = field(default_factory=set)
    """Market: the mids of the snapshots still due."""


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What one call produced: items to forward now (seq order) and actions to carry out."""

    deliver: tuple[Item, ...]
    actions: tuple[Action, ...]


class GapFiller:
    """Sequencing and gap filling of one capture session (see the module docstring)."""

    def __init__(
        self,
        new_mid: Callable[[], str],
        *,
        timeout_ns: int = 2_000_000_000,
        max_attempts: int = 3,
    ) -> None:
        self.order: StreamSequencer[Item] = StreamSequencer(Recovery.REPLAY, hold=True)
        """The bots' stream: what is delivered, in seq order, from the session's first frame."""
        self.history: StreamSequencer[Item] = StreamSequencer(Recovery.REPLAY, hold=False)
        """The backfill's seqs (the history before the session's first frame): journal only."""
        self.market: StreamSequencer[None] = StreamSequencer(Recovery.RESYNC, hold=False)
        self.contracts: set[int] = set()
        self.heartbeat_ms = 0
        """The interval the exchange's last in-order heartbeat announced (0: none seen yet)."""
        self.pending: dict[str, _Pending] = {}
        """The service's own requests still waiting for their final reply, by mid."""
        self._new_mid = new_mid
        self._timeout_ns = timeout_ns
        self._max_attempts = max_attempts
        self._ledger: dict[int, _Entry] = {}
        self._next_key = 1
        self._backfill: tuple[str, int] | None = None
        self._chunks: deque[RequestReplay] = deque()
        """Backfill replays not sent yet (:data:`BACKFILL_WINDOW` at a time are pending)."""
        self._started = False
        self._resync_due = False
        self._deliver: list[Item] = []
        self._actions: list[Action] = []

    # ------------------------------------------------------------------ queries

    @property
    def open_gaps(self) -> int:
        """Gaps in the ledger not yet filled or given up."""
        return len(self._ledger)

    def is_backfill(self, record: FrameRecord) -> bool:
        """True for a replayed frame of the history before this session (journal only)."""
        return record.is_replay and self._in_backfill(record.run_id, record.seq)

    # ------------------------------------------------------------------ entry points

    def start(self, now_ns: int) -> Outcomes:
        """The service's first request: ``GetContracts`` (the contracts a resync needs)."""
        self._request(Purpose.CONTRACTS, pb.GetContracts(), now_ns)
        return self._flush()

    def on_order(self, item: Item, position: int, now_ns: int) -> Outcomes:
        """An inbound order-channel frame the caller's fast path did not take."""
        record = item[0]
        if not self._started:
            self._started = True
            if not record.is_replay and record.seq > 1:
                return self._begin_backfill(item, position, now_ns)
        self._inspect(record, now_ns)
        if self.is_backfill(record):
            step = self.history.observe(record.seq, record.run_id, True, item)  # journal only
        else:
            step = self.order.observe(record.seq, record.run_id, record.is_replay, item)
            self._deliver.extend(step.deliver)
        self._effects(Channel.ORDER, step.effects, position, now_ns)
        self._pump(now_ns)
        return self._flush()

    def on_in_order(self, record: FrameRecord, now_ns: int) -> Outcomes:
        """An in-order frame the fast path delivered, when it may concern the service
        (:meth:`concerns`)."""
        self._started = True
        self._inspect(record, now_ns)
        self._pump(now_ns)
        return self._flush()

    def concerns(self, record: FrameRecord) -> bool:
        """True when an in-order frame is a reply to the service, names a contract or is a
        heartbeat (its interval: :attr:`heartbeat_ms`)."""
        return record.mid in self.pending or record.kind in _NOTED

    def on_market(self, record: FrameRecord, position: int, now_ns: int) -> Outcomes:
        """An inbound market-channel frame the caller's fast path did not take."""
        step = self.market.observe(record.seq, record.run_id, record.is_replay, None)
        if step.effects:
            self._effects(Channel.MARKET, step.effects, position, now_ns)
            if self.market.open_gaps:  # the books are resynced instead: stop tracking the seqs
                self.market.abandon()
        return self._flush()

    def tick(self, now_ns: int) -> Outcomes:
        """Retry, or give up, the service's requests that are overdue."""
        timeout = self._timeout_ns
        for mid, pending in list(self.pending.items()):
            if now_ns - pending.sent_ns < timeout:
                continue
            del self.pending[mid]
            if pending.attempts < self._max_attempts:
                self._again(mid, pending, now_ns, pending.attempts + 1)
            else:
                self._failed(mid, pending, f"no answer after {pending.attempts} tries")
        self._pump(now_ns)
        return self._flush()

    def reconnected(self, now_ns: int) -> Outcomes:
        """The service opened a new upstream connection (the old one went silent).

        The exchange knows a connection by its first message: a ``GetContracts`` (unless one is
        pending), whose reply's seq reveals a gap across the outage — replayed like any — or a
        run change. The requests still pending were sent on the old connection, which will
        never carry their replies: each is asked again on the new one under a new mid, its
        tries unchanged (the connection failed, not the request). A run change, should the
        first reply show one, then abandons the old run's replays as it always does.
        """
        pending = list(self.pending.items())
        self.pending.clear()
        if not any(p.purpose is Purpose.CONTRACTS for _, p in pending):
            self._request(Purpose.CONTRACTS, pb.GetContracts(), now_ns)
        for mid, again in pending:
            self._again(mid, again, now_ns, again.attempts)
        return self._flush()

    # ------------------------------------------------------------------ replies

    def _inspect(self, record: FrameRecord, now_ns: int) -> None:
        kind = record.kind
        if kind == "ContractDetail":
            self.contracts.add(_parse(record.payload).contract_detail.contract_id)
        elif kind == "Heartbeat":
            self.heartbeat_ms = _parse(record.payload).heartbeat.interval_ms
            return
        pending = self.pending.get(record.mid)
        if pending is None:
            return
        mid = record.mid
        if kind == "Status":
            status = _parse(record.payload).status
            if status.code >= _REJECT_MIN:
                del self.pending[mid]
                self._failed(mid, pending, f"{pb.StatusCode.Name(status.code)}: {status.message}")
            elif pending.purpose is Purpose.CONTRACTS and status.code == pb.DONE:
                del self.pending[mid]
                if self._resync_due:
                    self._resync(now_ns)
        elif kind == "ReplayDone" and pending.purpose is Purpose.REPLAY:
            del self.pending[mid]
            done = _parse(record.payload).replay_done
            asked = pending.body
            assert isinstance(asked, pb.MessageReplay)
            lost = "the replay came back without them"
            if not done.complete and done.to_seq < asked.to_seq:
                rest = pb.MessageReplay(
                    run_id=asked.run_id, from_seq=done.to_seq + 1, to_seq=asked.to_seq
                )
                self._request(Purpose.REPLAY, rest, now_ns)
                # what the part that came (before its ReplayDone) did not bring is lost
                self._give_up_order(asked.run_id, asked.from_seq, done.to_seq, lost)
            else:
                self._give_up_order(asked.run_id, asked.from_seq, asked.to_seq, lost)
        elif kind == "BookStateSnapshot" and pending.purpose is Purpose.SNAPSHOT:
            del self.pending[mid]
            for entry in self._ledger.values():
                if mid in entry.waiting:
                    entry.waiting.discard(mid)
                    if record.run_id != entry.run_id:  # another run's book resyncs nothing
                        entry.lost = entry.lost or _RUN_CHANGED
        self._settle()

    def _failed(self, mid: str, pending: _Pending, reason: str) -> None:
        if pending.purpose is Purpose.REPLAY:
            asked = pending.body
            assert isinstance(asked, pb.MessageReplay)
            self._give_up_order(
                asked.run_id, asked.from_seq, asked.to_seq, f"replay failed ({reason})"
            )
        elif pending.purpose is Purpose.SNAPSHOT:
            for entry in self._ledger.values():
                if mid in entry.waiting:
                    entry.waiting.discard(mid)
                    entry.lost = f"book snapshot failed ({reason})"
        else:
            for entry in self._ledger.values():
                if entry.channel is Channel.MARKET and not entry.requested:
                    entry.requested = True
                    entry.lost = f"contracts unknown ({reason})"
        self._settle()

    def _give_up_order(self, run_id: str, from_seq: int, to_seq: int, reason: str) -> None:
        """Write off the seqs ``from_seq..to_seq`` of ``run_id`` still missing (a range one
        replay was asked for): only those; another gap, whose own replay is still to come,
        stays open."""
        seqs = self.history if self._in_backfill(run_id, from_seq) else self.order
        if run_id != seqs.run_id or from_seq > to_seq:
            return
        step = seqs.abandon(to_seq, from_seq=from_seq)  # the history's: nothing to deliver
        self._deliver.extend(step.deliver)
        for effect in step.effects:
            if isinstance(effect, GapClosed):
                self._order_gap_closed(effect, reason)
        self._settle()

    # ------------------------------------------------------------------ effects

    def _effects(
        self, channel: Channel, effects: tuple[Effect, ...], position: int, now_ns: int
    ) -> None:
        for effect in effects:
            if isinstance(effect, GapOpened):
                key = self._next_key
                self._next_key += 1
                self._ledger[key] = _Entry(channel, effect.run_id, effect.from_seq, effect.to_seq)
                self._actions.append(
                    OpenGap(key, channel, effect.run_id, effect.from_seq, effect.to_seq, position)
                )
            elif isinstance(effect, RequestReplay):
                if self._in_backfill(effect.run_id, effect.from_seq):
                    self._chunks.append(effect)  # sent by _pump, a window at a time
                else:
                    self._replay(effect, now_ns)
            elif isinstance(effect, ResyncBook):
                self._resync(now_ns)
            elif isinstance(effect, GapClosed) and channel is Channel.ORDER:
                self._order_gap_closed(effect, _RUN_CHANGED)
            elif isinstance(effect, RunChanged):
                if channel is Channel.ORDER:
                    for mid, pending in list(self.pending.items()):
                        asked = pending.body
                        if (
                            isinstance(asked, pb.MessageReplay)
                            and asked.run_id == effect.old_run_id
                        ):
                            del self.pending[mid]
                    if self.history.run_id == effect.old_run_id:
                        self._end_backfill()
                self._retire_market(effect.old_run_id)
        self._settle()

    def _retire_market(self, run_id: str) -> None:
        """The run ``run_id`` ended (seen on either channel): its books can no longer be
        resynced, so its open market gaps are unrecoverable, and the snapshots they wait for
        (which would come from the next run) are no longer awaited."""
        dropped: set[str] = set()
        for entry in self._ledger.values():
            if entry.channel is Channel.MARKET and entry.run_id == run_id:
                entry.lost = entry.lost or _RUN_CHANGED
                entry.requested = True
                dropped |= entry.waiting
                entry.waiting = set()
        still = {mid for e in self._ledger.values() for mid in e.waiting}
        for mid in dropped - still:
            self.pending.pop(mid, None)

    def _end_backfill(self) -> None:
        """The backfill's run ended: its chunks not sent yet are dropped (its pending ones went
        with the run's other replays), its seqs still missing are unrecoverable."""
        self._chunks.clear()
        for effect in self.history.retire().effects:
            if isinstance(effect, GapClosed):
                self._order_gap_closed(effect, _RUN_CHANGED)

    def _mark_requested(self, effect: RequestReplay) -> None:
        for key, entry in self._ledger.items():
            if (
                entry.channel is Channel.ORDER
                and entry.run_id == effect.run_id
                and entry.from_seq <= effect.from_seq <= entry.to_seq
                and not entry.requested
            ):
                entry.requested = True
                self._actions.append(UpdateGap(key, "requested", "MessageReplay sent"))

    def _order_gap_closed(self, effect: GapClosed, reason: str) -> None:
        if effect.filled:
            return
        for entry in self._ledger.values():
            if (
                entry.channel is Channel.ORDER
                and entry.run_id == effect.run_id
                and entry.from_seq <= effect.from_seq <= entry.to_seq
            ):
                entry.lost = entry.lost or reason

    def _resync(self, now_ns: int) -> None:
        """Ask a book snapshot of every contract for the market gaps not yet requested."""
        entries = [
            (k, e)
            for k, e in self._ledger.items()
            if e.channel is Channel.MARKET and not e.requested
        ]
        if not entries:
            return
        if not self.contracts:
            self._resync_due = True
            if not any(p.purpose is Purpose.CONTRACTS for p in self.pending.values()):
                self._request(Purpose.CONTRACTS, pb.GetContracts(), now_ns)
            return
        self._resync_due = False
        mids = {
            self._request(Purpose.SNAPSHOT, pb.GetBookState(contract_id=cid), now_ns)
            for cid in sorted(self.contracts)
        }
        for key, entry in entries:
            entry.requested = True
            entry.waiting = set(mids)
            self._actions.append(
                UpdateGap(key, "requested", f"GetBookState for {len(mids)} contracts")
            )

    def _settle(self) -> None:
        """Close the ledger entries that nothing is missing from or waiting for any more."""
        live_gaps, history_gaps = self.order.open_gaps, self.history.open_gaps
        for key, entry in list(self._ledger.items()):
            if entry.channel is Channel.ORDER:
                open_gaps = (
                    history_gaps if self._in_backfill(entry.run_id, entry.from_seq) else live_gaps
                )
                if any(
                    g.run_id == entry.run_id
                    and g.from_seq <= entry.to_seq
                    and g.to_seq >= entry.from_seq
                    for g in open_gaps
                ):
                    continue
                filled = "replayed by the service"
            else:
                if not entry.requested or entry.waiting:
                    continue
                filled = "books resynced from GetBookState snapshots"
            del self._ledger[key]
            if entry.lost:
                self._actions.append(UpdateGap(key, "unrecoverable", entry.lost))
            else:
                self._actions.append(UpdateGap(key, "filled", filled))

    # ------------------------------------------------------------------ backfill

    def _begin_backfill(self, item: Item, position: int, now_ns: int) -> Outcomes:
        """The session's first frame has seq N above 1: seqs 1..N-1 are the participant's
        history, for the journal only. The bots' stream leaves them to the history sequencer
        (its gap: the backfill) and starts at N, delivered now; the chunks go by :meth:`_pump`."""
        record = item[0]
        run_id, seq = record.run_id, record.seq
        self._backfill = (run_id, seq - 1)
        self._inspect(record, now_ns)
        self.order.observe(seq, run_id, False, item)  # N, held behind 1..N-1 ...
        self._deliver.extend(self.order.abandon().deliver)  # ... which are not the bots'
        step = self.history.observe(seq, run_id, False, item)  # the gap 1..N-1, its chunks
        self._effects(Channel.ORDER, step.effects, position, now_ns)
        self._pump(now_ns)
        return self._flush()

    def _in_backfill(self, run_id: str, seq: int) -> bool:
        backfill = self._backfill
        return backfill is not None and run_id == backfill[0] and seq <= backfill[1]

    def _pump(self, now_ns: int) -> None:
        """Send the next backfill chunks while fewer than :data:`BACKFILL_WINDOW` are pending
        (the rest of a chunk cut short by the exchange's cap is pending in its place)."""
        chunks = self._chunks
        if not chunks:
            return
        pending = sum(
            isinstance(p.body, pb.MessageReplay)
            and self._in_backfill(p.body.run_id, p.body.from_seq)
            for p in self.pending.values()
        )
        while chunks and pending < BACKFILL_WINDOW:
            self._replay(chunks.popleft(), now_ns)
            pending += 1

    # ------------------------------------------------------------------ plumbing

    def _replay(self, effect: RequestReplay, now_ns: int) -> None:
        """Send the ``MessageReplay`` of ``effect`` (its timer starts now)."""
        body = pb.MessageReplay(
            run_id=effect.run_id, from_seq=effect.from_seq, to_seq=effect.to_seq
        )
        self._request(Purpose.REPLAY, body, now_ns)
        self._mark_requested(effect)

    def _again(self, mid: str, pending: _Pending, now_ns: int, attempts: int) -> None:
        """Ask ``pending`` (no longer pending under ``mid``) again; the gaps waiting for its
        answer wait for the new mid's."""
        again = self._request(pending.purpose, pending.body, now_ns, attempts)
        for entry in self._ledger.values():
            if mid in entry.waiting:
                entry.waiting.discard(mid)
                entry.waiting.add(again)

    def _request(self, purpose: Purpose, body: Message, now_ns: int, attempts: int = 1) -> str:
        mid = self._new_mid()
        self.pending[mid] = _Pending(purpose, body, now_ns, attempts)
        self._actions.append(SendRequest(mid, body))
        return mid

    def _flush(self) -> Outcomes:
        if not self._deliver and not self._actions:
            return _NONE
        out = Outcomes(tuple(self._deliver), tuple(self._actions))
        self._deliver = []
        self._actions = []
        return out


_NONE = Outcomes((), ())
