"""Request lifecycles from the journal: when each request was sent, acknowledged, first filled
and finished, read straight from the frames (the evidence), for audit reports and analysis.

One pass in position order over a participant's order channel:

* an outbound request opens a :class:`Lifecycle` under its mid (a resend of the same mid counts
  as a resend); a ``Batch`` opens one for itself and one per inner message, and a resent
  ``Batch`` counts a resend (and the frame) of each inner message too: they went out again;
* the first ``Status`` (or the ``BatchAcks`` entry of an inner message) is the first reply:
  ``ACK`` or the final rejection;
* private ``ActionReport`` s move the order they concern — the envelope mid and, when it differs
  (a cancel's report, a fill caused by another participant), the report's ``entry_id`` — to its
  first fill and, at ``size == 0``, to its end;
* a frame of a new ``run_id`` ends every order still working as cancelled by the run change; a
  late frame of a run already replaced (the order channel may deliver the old run's last frames
  after the new run's first) is no run change: its fills count, and a request it answers is
  released by the run change at once (``RUN_CHANGE``), as the SDK does; a participant's run
  change ends its own orders only;
* a reconciler's correction row (kind ``Correction``, docs/protocol.md "Recorder decisions")
  is a private report like any other: a close ends its order (``CANCELLED``);
* a ``CancelReplace`` opens the replacement order under its own mid, with the replaced order's
  side and ``client_ref`` (LX/1's ``CancelReplace`` carries neither; the projector does the
  same); when that order is not in the frames read, the side is the one the exchange stated
  (a private report or an open-orders snapshot of that order before the replacement was sent,
  else a report of the replacement; unknown until then) and ``client_ref`` is empty
  (:func:`recorder.audit.order_story` looks the order up in the whole journal).

Latencies (``ack_latency_ns``, ``time_to_fill_ns``) are measured on the monotonic clock of the
capture point that journaled both frames (``mono_ns``: the wall clock may be stepped or slewed
while a request waits), and on the wall clocks only where the two frames come from different
capture points, whose monotonic clocks count from different origins; ``*_clock`` says which
(:class:`LatencyClock`). ``clocks`` (:func:`session_clocks`) tells which sessions share a clock:
the sessions of one capture point's process (a reconnect); read without it, only the frames of
one session do.

Replayed frames and live duplicates are counted once, by participant, run and seq (correction
rows, all seq 0 and never replayed, each count): order-channel seqs run per (participant, run)
and continue across reconnects (docs/protocol.md), so the ``MessageReplay`` by mids the SDK
sends after a reconnect re-sends, in a new session, frames the previous session journaled. For
the same reason the run is tracked per participant: the first frame of a new session may be the
first of a new run (the exchange restarted while the bot was reconnecting). The participant of
each session comes from the journal's sessions (``participants``); a session without one, or
read without them, is its own stream, as in ``recorder verify``.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from recorder.core.frames import Channel, Direction, Frame
from recorder.core.recovery import CORRECTION_KIND
from recorder.errors import RemoteProtocolError
from recorder.journal import Session
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import decode

TRADE_KINDS = frozenset({"LimitOrder", "CancelReplace"})
_STATUS_NAMES = {v.number: v.name for v in pb.StatusType.DESCRIPTOR.values}
_CODE_NAMES = {v.number: v.name for v in pb.StatusCode.DESCRIPTOR.values}


class LatencyClock(enum.StrEnum):
    """The clock a latency was measured on."""

    MONO = "mono"
    """The monotonic clock of the capture point that journaled both frames."""
    WALL = "wall"
    """The wall clocks: the frames come from different capture points (or processes), whose
    monotonic clocks are not comparable."""


class Stamp(NamedTuple):
    """When a frame was journaled, and where: its session and both clocks."""

    session_id: int
    wall_ns: int
    mono_ns: int


def session_clocks(sessions: Iterable[Session]) -> dict[int, Hashable]:
    """Session id → the monotonic clock its frames were stamped with: its capture point's
    process (capture point, host, pid, clock source). A reconnect keeps the process and its
    clock; a restarted process or another host may count from another origin (a monotonic
    clock is comparable only where it is known to be the same one)."""
    return {s.id: (s.capture_point, s.host, s.pid, s.clock_source) for s in sessions}


def elapsed(
    start: Stamp, end: Stamp, clocks: Mapping[int, Hashable] | None = None
) -> tuple[int, LatencyClock]:
    """``end - start`` in ns and the clock it was measured on: the monotonic clock when both
    stamps share one (the same session, or sessions ``clocks`` maps to the same clock), else
    the wall clocks."""
    if start.session_id == end.session_id or (
        clocks is not None
        and start.session_id in clocks
        and clocks[start.session_id] == clocks.get(end.session_id)
    ):
        return end.mono_ns - start.mono_ns, LatencyClock.MONO
    return end.wall_ns - start.wall_ns, LatencyClock.WALL


@dataclass(slots=True)
class Lifecycle:
    """One request's story in timestamps (``*_ns``: wall clock, ns; ``*_mono_ns``: the
    monotonic clock of the frame's capture point) and outcome."""

    mid: str
    kind: str
    session_id: int
    """The session the request was first sent in."""
    sent_ns: int
    sent_position: int
    sent_mono_ns: int = 0
    contract_id: int = 0
    is_ask: bool | None = None
    """The side; a ``CancelReplace`` keeps its replaced order's or, when that order is not in
    the frames read, takes the one the exchange's reports state (of that order, or of the
    replacement); None until one does."""
    size: int = 0
    price_in_cents: int = 0
    client_ref: str = ""
    """The bot's reference; a ``CancelReplace`` keeps its replaced order's (empty when that
    order is not in the frames read)."""
    replaces: str = ""
    """The entry id a ``CancelReplace`` replaces, or ""."""
    batch_mid: str = ""
    run_id: str = ""
    resends: int = 0
    """How many times the request went out again after its first send: resent under its mid,
    or inside a resent ``Batch`` (each inner message goes out again with its batch)."""
    acked_ns: int | None = None
    acked_mono_ns: int | None = None
    ack_code: str = ""
    first_fill_ns: int | None = None
    first_fill_mono_ns: int | None = None
    filled_size: int = 0
    finished_ns: int | None = None
    outcome: str = ""
    """``FILLED``, ``CANCELLED``, ``REPLACED``, ``NOT_FILLED``, a ``REJECT_*`` code, ``DONE``,
    ``RUN_CHANGE`` — or empty while the request is still working."""
    positions: list[int] = field(default_factory=list)
    ack_latency_ns: int | None = None
    """Time from the first send to the first reply, on ``ack_latency_clock``."""
    ack_latency_clock: LatencyClock | None = None
    time_to_fill_ns: int | None = None
    """Time from the first send to the first fill, on ``time_to_fill_clock``."""
    time_to_fill_clock: LatencyClock | None = None

    @property
    def is_trade(self) -> bool:
        """True for requests that stay open until a report says size 0."""
        return self.kind in TRADE_KINDS


class LifecycleBuilder:
    """Builds :class:`Lifecycle` s from frames fed in position order; ``participants`` maps
    session ids to their participant (:meth:`recorder.journal.Journal.sessions`), ``clocks``
    to their monotonic clock (:func:`session_clocks`)."""

    def __init__(
        self,
        participants: Mapping[int, str] | None = None,
        clocks: Mapping[int, Hashable] | None = None,
    ) -> None:
        self.lifecycles: dict[str, Lifecycle] = {}
        self._participants = participants or {}
        self._clocks = clocks
        self._seen: set[tuple[str | int, str, int]] = set()
        self._run: dict[str | int, str] = {}
        self._past_runs: dict[str | int, set[str]] = {}
        self._sides: dict[str, bool] = {}
        """The side the exchange stated of entries no frame read sent (:meth:`_stated`)."""

    def feed(self, frames: Iterable[Frame]) -> LifecycleBuilder:
        """Apply ``frames`` (position order); returns self."""
        for frame in frames:
            self.apply(frame)
        return self

    def apply(self, frame: Frame) -> None:
        """Apply one frame."""
        if frame.malformed or frame.channel is not Channel.ORDER:
            return
        try:
            envelope = decode(frame.payload)
        except RemoteProtocolError:
            return
        if frame.direction is Direction.OUT:
            self._request(frame, envelope)
            return
        owner = self._owner(frame.session_id)
        if frame.kind != CORRECTION_KIND:  # every correction row is seq 0, each counts
            key = (owner, frame.run_id, frame.seq)
            if key in self._seen:
                return
            self._seen.add(key)
        stale = self._run_change(owner, frame)
        self._dispatch(envelope, frame)
        if stale:  # a request answered in a replaced run: the run change released it
            self._end_run(owner, frame.run_id, frame.wall_ns)

    def _dispatch(self, envelope: pb.Envelope, frame: Frame) -> None:
        body = envelope.WhichOneof("body")
        if body == "status":
            self._reply(envelope.mid, _CODE_NAMES.get(envelope.status.code, "?"), frame)
        elif body == "batch_acks":
            batch = self.lifecycles.get(envelope.mid)
            if batch is not None and batch.finished_ns is None:
                batch.positions.append(frame.position)
                self._finish(batch, "DONE", frame.wall_ns)
            for ack in envelope.batch_acks.acks:
                self._reply(ack.mid, _CODE_NAMES.get(ack.code, "?"), frame)
        elif body == "replay_done":
            life = self.lifecycles.get(envelope.mid)
            if life is not None and life.finished_ns is None:
                life.positions.append(frame.position)
                self._finish(life, "DONE", frame.wall_ns)
        elif body == "open_orders_snapshot":
            for entry in envelope.open_orders_snapshot.entries:
                self._stated(entry.entry_id, entry.is_ask)
        elif body == "action_report":
            report = envelope.action_report
            if frame.kind != CORRECTION_KIND:
                self._stated(report.entry_id, report.is_ask)
            self._report(envelope.mid, report, frame)
            if report.entry_id and report.entry_id != envelope.mid:
                self._report(report.entry_id, report, frame)

    def _stated(self, entry_id: str, is_ask: bool) -> None:
        """The exchange states the side of one of the participant's entries (a private report,
        an open-orders snapshot): kept for a replacement of it when no frame read sent it."""
        if entry_id not in self.lifecycles:
            self._sides[entry_id] = is_ask

    def _request(self, frame: Frame, envelope: pb.Envelope, batch_mid: str = "") -> None:
        mid = envelope.mid
        kind = envelope.WhichOneof("body") or ""
        existing = self.lifecycles.get(mid)
        if existing is not None:
            existing.resends += 1
            existing.positions.append(frame.position)
        else:
            self.lifecycles[mid] = self._opened(frame, envelope, kind, batch_mid)
        if kind == "batch":  # its inner messages went out (again) with it
            for inner in envelope.batch.messages:
                self._request(frame, inner, batch_mid=mid)

    def _opened(self, frame: Frame, envelope: pb.Envelope, kind: str, batch_mid: str) -> Lifecycle:
        """The lifecycle a request's first send opens, with the request's terms."""
        life = Lifecycle(
            mid=envelope.mid,
            kind=type(getattr(envelope, kind)).__name__ if kind else "",
            session_id=frame.session_id,
            sent_ns=frame.wall_ns,
            sent_position=frame.position,
            sent_mono_ns=frame.mono_ns,
            batch_mid=batch_mid,
            positions=[frame.position],
        )
        if kind == "limit_order":
            order = envelope.limit_order
            life.contract_id, life.is_ask, life.size = order.contract_id, order.is_ask, order.size
            life.price_in_cents, life.client_ref = order.price_in_cents, order.client_ref
        elif kind == "cancel_replace":
            replace = envelope.cancel_replace
            life.contract_id, life.size = replace.contract_id, replace.size
            life.price_in_cents, life.replaces = replace.price_in_cents, replace.entry_id
            replaced = self.lifecycles.get(replace.entry_id)
            if replaced is not None:  # the replacement is the replaced order moved
                life.is_ask, life.client_ref = replaced.is_ask, replaced.client_ref
            else:
                life.is_ask = self._sides.get(replace.entry_id)
        elif kind in ("cancel_order", "cancel_all", "get_book_state", "get_open_orders"):
            life.contract_id = getattr(envelope, kind).contract_id
        return life

    def _reply(self, mid: str, code: str, frame: Frame) -> None:
        life = self.lifecycles.get(mid)
        if life is None:
            return
        if life.acked_ns is None:
            life.acked_ns, life.acked_mono_ns = frame.wall_ns, frame.mono_ns
            life.ack_latency_ns, life.ack_latency_clock = self._since_sent(life, frame)
            life.ack_code = code
            life.run_id = frame.run_id
        life.positions.append(frame.position)
        if code.startswith("REJECT") or (code == "DONE" and not life.is_trade):
            self._finish(life, code, frame.wall_ns)
        elif code == "ACK" and life.kind in ("GetBookState", "GetOpenOrders"):
            self._finish(life, "DONE", frame.wall_ns)  # the snapshot follows the ACK at once

    def _report(self, mid: str, report: pb.ActionReport, frame: Frame) -> None:
        life = self.lifecycles.get(mid)
        if life is None:
            return
        life.positions.append(frame.position)
        if (
            life.is_ask is None
            and life.is_trade
            and report.entry_id == mid
            and frame.kind != CORRECTION_KIND
        ):  # a replacement of an order not read: the exchange states the side of its entry
            life.is_ask = report.is_ask
        if report.filled_size and report.entry_id == mid:
            life.filled_size += report.filled_size
            if life.first_fill_ns is None:
                life.first_fill_ns, life.first_fill_mono_ns = frame.wall_ns, frame.mono_ns
                life.time_to_fill_ns, life.time_to_fill_clock = self._since_sent(life, frame)
        if life.finished_ns is not None:
            return
        if life.kind == "CancelAll":
            return  # one report per cancelled entry, then Status DONE
        if not life.is_trade:
            self._finish(life, _STATUS_NAMES.get(report.status_type, "?"), frame.wall_ns)
        elif report.size == 0 and report.entry_id == mid:
            status = report.status_type
            outcome = "FILLED" if status == pb.CROSS else _STATUS_NAMES.get(status, "?")
            self._finish(life, outcome, frame.wall_ns)

    def _since_sent(self, life: Lifecycle, frame: Frame) -> tuple[int, LatencyClock]:
        """Time from ``life``'s first send to ``frame`` (see :func:`elapsed`)."""
        sent = Stamp(life.session_id, life.sent_ns, life.sent_mono_ns)
        return elapsed(sent, Stamp(frame.session_id, frame.wall_ns, frame.mono_ns), self._clocks)

    def _owner(self, session_id: int) -> str | int:
        """Whose order-channel stream a session's frames belong to: its participant, else the
        session itself."""
        return self._participants.get(session_id) or session_id

    def _run_change(self, owner: str | int, frame: Frame) -> bool:
        """Follow ``owner``'s run; True for a frame of a run it has already left."""
        previous = self._run.get(owner)
        if not frame.run_id or previous == frame.run_id:
            return False
        past = self._past_runs.setdefault(owner, set())
        if frame.run_id in past:
            return True
        self._run[owner] = frame.run_id
        if previous is not None:
            past.add(previous)
            self._end_run(owner, previous, frame.wall_ns)
        return False

    def _end_run(self, owner: str | int, run_id: str, wall_ns: int) -> None:
        """End every trade request of ``owner`` still working in ``run_id``, a run it has seen
        replaced (another participant's orders end when its own stream shows the change)."""
        for life in self.lifecycles.values():
            if (
                life.finished_ns is None
                and life.run_id == run_id
                and life.is_trade
                and self._owner(life.session_id) == owner
            ):
                self._finish(life, "RUN_CHANGE", wall_ns)

    @staticmethod
    def _finish(life: Lifecycle, outcome: str, wall_ns: int) -> None:
        life.finished_ns = wall_ns
        life.outcome = outcome


def lifecycles(
    frames: Iterable[Frame],
    participants: Mapping[int, str] | None = None,
    clocks: Mapping[int, Hashable] | None = None,
) -> list[Lifecycle]:
    """Every request's lifecycle, in the order the requests were first sent (``participants``,
    ``clocks``: see :class:`LifecycleBuilder`)."""
    return list(LifecycleBuilder(participants, clocks).feed(frames).lifecycles.values())


def builder_for(sessions: Iterable[Session]) -> LifecycleBuilder:
    """A builder that reads each of the journal's ``sessions`` in its participant's streams and
    on its capture point's clock."""
    sessions = list(sessions)
    return LifecycleBuilder({s.id: s.participant for s in sessions}, session_clocks(sessions))
