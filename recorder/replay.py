"""Replay a journal into a :class:`~recorder.client.MessageProcessor`: yesterday into today's bot.

::

    from recorder.journal import open_journal
    from recorder.replay import Replayer

    with open_journal("var/recorder.journal", readonly=True) as journal:
        result = Replayer(journal, MyProcessor()).run()          # as fast as possible
        Replayer(journal, MyProcessor(), speed=10).run()         # ten times the recorded pace
        replayer = Replayer(journal, MyProcessor(), until=t)     # stop at a time (or stop=pos)
        for position in replayer.steps():                        # step by step, like a debugger
            state = replayer.state()                             # the projector's state now

Theory of operation
-------------------

A live :class:`~recorder.client.Context` journals every frame before a handler sees it
(ARCHITECTURE.md rule 1), so the journal holds, in order, everything its I/O thread acted on:
each request as it went out, each inbound frame as it came in. The replayer walks the journal in
position order and repeats the I/O thread's decisions with the SDK's own
:class:`~recorder.client.dispatch.Dispatcher` — the :class:`~recorder.client.MessageIDStore`
(S1/S2/S3 and ``prev_msg``), one :class:`~recorder.core.sequencing.StreamSequencer` per channel
(gaps, duplicates, run changes) and the heartbeat watch (:mod:`recorder.client.liveness`) — so
the processor gets the same calls, with the same ``msg`` and ``prev_msg``, in the same order as
the live bot did:

* an outbound request registers its mid in the store (a mid sent before is a resend of the
  same bytes: ignored, as the live store only re-sends them); the SDK's own requests
  (``MessageReplay`` for a gap, ``GetBookState`` for a resync, ``GetOpenOrders`` after a
  reconnect) are in the journal and are registered the same way;
* an inbound frame goes through the heartbeat watch (``handle_exchange_available``), its
  channel's sequencer (``handle_gap``, ``handle_run_change``; duplicates and stale frames are
  not dispatched) and the store, then to the handler the live context would call;
* time is the journal's: a market-channel silence fires before the first frame journaled at or
  after its deadline (recorded monotonic clock); an order-channel silence is where the journal
  shows it, at the session the SDK ended to reconnect. ``handle_exchange_unavailable``'s
  ``silent_ms`` is the threshold (interval x factor), where the live value carries a
  millisecond or so of timer jitter.

Sessions joined by a reconnect (``end_reason`` starting :data:`RECONNECT_REASON`, the SDK's, or
:data:`recorder.capture.upstream.RECONNECT_REASON`, the capture service's) belong to
one context and share its state; any other new session is a new context (a restarted bot) and
starts as the SDK's start-up restore leaves one: the order stream's sequencer and run continued,
and in its store what the reconciler takes over from the journal as it was then
(:func:`~recorder.client.reconcile.take_over_requests`: the open orders with their last reply as
``prev_msg``, what a killed process left in flight); everything else fresh.

A window (``start``/``since``, a ``session_id``) is replayed after a silent warm-up over the
frames before it, so the processor sees exactly what the live bot saw in that window. Nothing
here reads a clock except the pacing of ``speed``; two replays of one journal make identical
calls.

In a replay the processor's ``context`` is the :class:`Replayer`: ``Commands(context)`` works,
and what the handlers submit is collected in :attr:`Replayer.submitted` (nothing is sent).

The parts: this module walks the journal (its hot loop inlines the dispatcher's common case,
see :meth:`Replayer._feed`); :mod:`recorder.replay_lane` holds one context's dispatch state
(:class:`~recorder.replay_lane.Lane`: the dispatcher and its port, the journal's clock, the
outbound requests); :mod:`recorder.replay_processor` loads and builds the processor
(:func:`load_processor` and :class:`ReplayError` are re-exported here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from google.protobuf.message import DecodeError

from recorder.capture.upstream import RECONNECT_REASON as CAPTURE_RECONNECT_REASON
from recorder.client import IDStoreItem, MessageProcessor
from recorder.client.dispatch import ORDER_HANDLERS, RECONNECT_REASON, Handlers
from recorder.client.reconcile import take_over_requests
from recorder.config import ClientConfig
from recorder.core.frames import Channel, FrameFlag
from recorder.core.projector import Projector
from recorder.core.state import State, View
from recorder.errors import RemoteProtocolError
from recorder.examples.processors import CallCounter, NullProcessor
from recorder.journal import Journal, RawRow, Session
from recorder.projection import projector_at
from recorder.replay_lane import Lane
from recorder.replay_processor import ReplayError, build_processor, load_processor
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import decode

__all__ = [
    "ORDER_HANDLERS",
    "RECONNECT_REASON",
    "CallCounter",
    "ReplayError",
    "ReplayResult",
    "Replayer",
    "load_processor",
    "replay",
]

log = logging.getLogger("recorder.replay")

Envelope = pb.Envelope

_MALFORMED: Final = int(FrameFlag.MALFORMED)
_MULTIPART: Final = int(FrameFlag.MULTIPART)
_MARKET: Final = Channel.MARKET
_ORDER: Final = Channel.ORDER
_parse = Envelope.FromString


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did."""

    frames: int
    """Frames fed to the processor (the window; the warm-up is not counted)."""
    first_position: int
    last_position: int
    """The last position replayed (0 when the window was empty)."""
    elapsed_s: float
    handler_errors: int
    """Handler calls that raised (each was reported to ``handle_handler_error``)."""
    submitted: tuple[IDStoreItem, ...] = field(default=())
    """Requests the processor submitted during the replay (never sent)."""

    @property
    def frames_per_s(self) -> float:
        """Replay throughput."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


class Replayer:
    """Feeds a journal (or a window of it) to a processor; see the module docstring.

    ``processor`` is a :class:`MessageProcessor` instance or class (built with no arguments, or
    with the replayer if its constructor takes one). The window: ``start``/``stop`` positions
    (inclusive), ``since``/``until`` wall clocks in ns (the frames journaled at or after /
    at or before), and ``session_id`` (only that session's frames); they combine. ``speed``
    paces the replay by the recorded wall clock (1 = as recorded, 10 = ten times faster; None
    = as fast as possible). ``client_config`` is the live bot's ``[client]`` settings (its
    heartbeat watch). ``progress(done, total)`` is called every few thousand frames.
    """

    def __init__(
        self,
        journal: Journal,
        processor: MessageProcessor | type[MessageProcessor],
        *,
        start: int | None = None,
        stop: int | None = None,
        since: int | None = None,
        until: int | None = None,
        session_id: int | None = None,
        speed: float | None = None,
        client_config: ClientConfig | None = None,
        progress: Callable[[int, int], None] | None = None,
        progress_every: int = 5_000,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ReplayError(f"speed must be positive (1 = as recorded), not {speed}")
        self.journal = journal
        self._handlers = Handlers(build_processor(processor, self), log)
        self.processor.context = self  # type: ignore[assignment]  # the replay's context
        self.client_config = client_config or ClientConfig()
        self.speed = speed
        self.session_id = session_id
        head = journal.head_position()
        first, last = max(start or 1, 1), head if stop is None else min(stop, head)
        if since is not None:
            first = max(first, journal.position_at(since - 1) + 1)
        if until is not None:
            last = min(last, journal.position_at(until))
        self.first, self.last = first, last
        sessions = journal.sessions()
        if session_id is not None and session_id not in {s.id for s in sessions}:
            raise ReplayError(f"session {session_id} is not in journal {journal.path}")
        self._chain = _chains(sessions)
        self._sessions = {s.id: s for s in sessions}
        self.progress = progress
        """Called as ``progress(done, total)`` every :attr:`progress_every` frames."""
        self.progress_every = max(progress_every, 1)
        self._sleep, self._clock = sleep, clock
        self._lanes: dict[int, Lane] = {}
        self._projectors: dict[View, Projector] = {}
        self.row: RawRow | None = None
        """The journal row being replayed."""
        self.submitted: list[IDStoreItem] = []
        """Requests the processor submitted (``Commands(context)``); nothing is sent."""
        self._soon: list[Callable[[], object]] = []
        self._silent = NullProcessor()

    # ------------------------------------------------------------------ the context face

    @property
    def processor(self) -> MessageProcessor:
        """The processor being fed (a silent one during the warm-up)."""
        return self._handlers.processor

    @processor.setter
    def processor(self, value: MessageProcessor) -> None:
        self._handlers.processor = value

    @property
    def handler_errors(self) -> int:
        """Handler calls that raised so far (each reported to ``handle_handler_error``)."""
        return self._handlers.errors

    @property
    def position(self) -> int:
        """The position of the frame being replayed (its handlers are running); 0 before."""
        return self.row[0] if self.row is not None else 0

    @property
    def run_id(self) -> str:
        """The exchange run of the frame being replayed."""
        return self.row[6] if self.row is not None else ""

    def submit(self, item: IDStoreItem, children: Sequence[IDStoreItem] = ()) -> IDStoreItem:
        """Collect a request a handler submitted (a replay sends nothing)."""
        self.submitted.append(item)
        return item

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` after the current frame's handlers."""
        self._soon.append(fn)

    def state(self, view: View | str = View.EXCHANGE) -> State:
        """The projected state after the frame being replayed (its handlers see it journaled).

        The first call builds the projection up to the current position (from a checkpoint when
        there is one); from then on the replayer keeps it in step, frame by frame.
        """
        return self.projector(view).state()

    def projector(self, view: View | str = View.EXCHANGE) -> Projector:
        """The live :class:`~recorder.core.projector.Projector` kept in step (see :meth:`state`)."""
        view = View(view)
        projector = self._projectors.get(view)
        if projector is None:
            projector = projector_at(self.journal, view, self.position)
            self._projectors[view] = projector
        return projector

    # ------------------------------------------------------------------ running

    def run(self) -> ReplayResult:
        """Replay the whole window; returns what was done."""
        started = self._clock()
        frames = last = 0
        if self.speed is None and self.progress is None:
            self._warm_up()
            for row in self._feed(self.first, self.last, self.session_id):
                frames += 1
                last = row[0]
        else:
            for last in self.steps():  # noqa: B007  (the last position replayed)
                frames += 1
        return ReplayResult(
            frames=frames,
            first_position=self.first,
            last_position=last,
            elapsed_s=self._clock() - started,
            handler_errors=self.handler_errors,
            submitted=tuple(self.submitted),
        )

    def steps(self) -> Iterator[int]:
        """Replay frame by frame: yields each position once its handlers have run."""
        self._warm_up()
        total = max(self.last - self.first + 1, 0)
        speed, sleep, clock = self.speed, self._sleep, self._clock
        progress, every = self.progress, self.progress_every
        t0 = clock()
        wall0 = 0
        for done, row in enumerate(self._feed(self.first, self.last, self.session_id), 1):
            if speed is not None:
                if not wall0:
                    wall0 = row[4]
                delay = (row[4] - wall0) / 1e9 / speed - (clock() - t0)
                if delay > 0:
                    sleep(delay)
            if progress is not None and done % every == 0:
                progress(row[0] - self.first + 1, total)
            yield row[0]
        if progress is not None:
            progress(total, total)

    def _warm_up(self) -> None:
        """Dispatch the frames before the window to a silent processor (the live state at its
        start: in-flight requests, sequencers, runs)."""
        target = self.processor
        if self.first > 1:
            self.processor = self._silent
            try:
                for _ in self._feed(1, self.first - 1, None):
                    pass
            finally:
                self.processor = target

    def _feed(self, first: int, last: int, session_id: int | None) -> Iterator[RawRow]:
        """Dispatch rows ``first..last``; yield each one of ``session_id`` (all when None).

        The hot path — an inbound frame, the next of the current run, while its channel is
        alive and no silence can be due, most of a journal — is inlined: it does exactly what
        :meth:`Dispatcher.inbound <recorder.client.dispatch.Dispatcher.inbound>` does for it.
        The heartbeat watch hears it; the sequencer advances, also past open gaps that
        :meth:`~recorder.core.sequencing.StreamSequencer.observe` would leave open with no
        effect (:meth:`~recorder.core.sequencing.StreamSequencer.is_next`); then the market
        frame's handler is called, or :meth:`~recorder.client.dispatch.Dispatcher.order`.
        Everything else — outbound and flagged frames, heartbeats, a possible silence, a gap, a
        duplicate, a new run, the first market frame — goes through :meth:`_dispatch`
        (``tests/replay/test_fast_path.py`` replays journals both ways and compares the calls).
        """
        projectors = self._projectors
        handlers = self._handlers
        lane = Lane(handlers, self.client_config, 0)
        lane_session = -1
        parse = _parse
        dispatch = self._dispatch
        dispatcher = lane.dispatcher
        market_seq, order_seq = lane.market_seq, lane.order_seq
        market_watch, order_watch = lane.market_watch, lane.order_watch
        # A sequencer that does not hold (the dispatcher's) delivers the next seq of its run with
        # no effect, gaps open or not: is_next is then the run check alone.
        market_free, order_free = not market_seq.hold, not order_seq.hold
        soon = self._soon  # drained in place: the same list for the replayer's life
        for row in self.journal.rows(first, last + 1):
            self.row = row
            if projectors:
                for projector in projectors.values():
                    if projector.position < row[0]:
                        projector.apply_row(row)
            if row[1] != lane_session:
                if session_id is not None and row[1] != session_id:
                    self._silently(row)
                    continue
                lane_session = row[1]
                lane = self._lane(lane_session, row[5])
                dispatcher = lane.dispatcher
                market_seq, order_seq = lane.market_seq, lane.order_seq
                market_watch, order_watch = lane.market_watch, lane.order_watch
                market_free, order_free = not market_seq.hold, not order_seq.hold
            mono = row[5]
            if row[11] or mono >= lane.bound or row[3] != "in":
                dispatch(lane, row)
            else:
                try:
                    envelope = parse(row[12])
                except DecodeError:
                    dispatch(lane, row)  # reported as a protocol error there
                else:
                    body = envelope.WhichOneof("body") or ""
                    seq = envelope.seq
                    market = row[2] == "market"
                    if market:
                        seqr, watch, free = market_seq, market_watch, market_free
                    else:
                        seqr, watch, free = order_seq, order_watch, order_free
                    if (
                        body != "heartbeat"
                        and seq == seqr.high + 1
                        and watch.available
                        and (dispatcher.market_joined or not market)
                        and dispatcher.run_id
                        and envelope.run_id == seqr.run_id
                        and (free or seqr.is_next(seq, envelope.run_id))
                    ):
                        watch.last_ns = mono  # LivenessWatch.heard, available
                        seqr.high = seq
                        if not market:
                            dispatcher.order(envelope, body, mono)
                        elif body == "action_report":  # Dispatcher.market, inlined
                            mid = envelope.mid
                            fn = handlers.processor.handle_public_report
                            try:
                                fn(envelope)
                            except Exception as exc:
                                handlers.failed(mid, fn, exc)
                        elif body == "book_top":
                            mid = envelope.mid
                            top = handlers.processor.handle_book_top
                            try:
                                top(envelope, None)
                            except Exception as exc:
                                handlers.failed(mid, top, exc)
                        else:
                            dispatcher.market(envelope, body)
                    else:
                        lane.inbound(envelope, body, _MARKET if market else _ORDER, mono)
            if soon:
                todo = soon[:]
                soon.clear()  # what these submit runs after the next frame, as before
                for later in todo:
                    handlers.guard("", later)
            yield row

    def _silently(self, row: RawRow) -> None:
        processor, self.processor = self.processor, self._silent
        try:
            self._dispatch(self._lane(row[1], row[5]), row)
        finally:
            self.processor = processor

    def _lane(self, session_id: int, mono_ns: int) -> Lane:
        key = self._chain.get(session_id, session_id)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(self._handlers, self.client_config, mono_ns)
            self._take_over(lane, session_id, mono_ns)
        elif lane.session_id != session_id:
            lane.reconnected(mono_ns)
        lane.session_id = session_id
        return lane

    def _take_over(self, lane: Lane, session_id: int, mono_ns: int) -> None:
        """A new context of a participant continues the journal's order stream (the SDK's
        start-up restore): its sequencer and run are those of the context before it, and its
        MID store tracks again what the live one took over from the journal as it was then
        (:func:`~recorder.client.reconcile.take_over_requests`: the requests a killed process
        left in flight, the orders still open, each with its last reply as ``prev_msg``)."""
        me = self._sessions.get(session_id)
        for key in sorted(self._lanes, reverse=True):
            other = self._sessions.get(key)
            if key == session_id or other is None or me is None:
                continue
            if (other.participant, other.capture_point) != (me.participant, me.capture_point):
                continue
            before, mine = self._lanes[key].dispatcher, lane.dispatcher
            mine.order_seq.restore(before.order_seq.snapshot(lambda _: None), lambda _: None)
            mine.run_id = before.run_id
            journal = self.journal
            projector = projector_at(journal, View.EXCHANGE, self.position - 1)  # before me
            tracker = take_over_requests(mine.store, journal, projector, mono_ns, starting=me)
            lane.sent.update(tracker.in_flight())  # the context before sent them: resends now
            return

    # ------------------------------------------------------------------ one frame

    def _dispatch(self, lane: Lane, row: RawRow) -> None:
        """One row the long way: the silences due before it, then an outbound request, a
        flagged frame or an inbound frame through the lane's dispatcher."""
        mono = row[5]
        if mono >= lane.bound:
            lane.poll(mono)
        if row[3] == "out":
            if row[2] == "order" and not row[11] & _MALFORMED:
                lane.outbound(row[12], mono)
            return
        if row[11]:
            self._flagged(lane, row)
            return
        try:
            envelope = _parse(row[12])
        except DecodeError as exc:
            error = RemoteProtocolError(f"not an LX/1 envelope: {exc}", row[12])
            self._protocol_error(row[12], error)
            return
        lane.inbound(envelope, envelope.WhichOneof("body") or "", Channel(row[2]), mono)

    def _protocol_error(self, data: bytes, error: RemoteProtocolError) -> None:
        handlers = self._handlers
        handlers.guard("", handlers.processor.handle_protocol_error, data, error)

    def _flagged(self, lane: Lane, row: RawRow) -> None:
        """A frame journaled with flags: malformed bytes, or a multi-part message."""
        data, flags = row[12], row[11]
        if flags & _MALFORMED:
            try:
                decode(data)
                error = RemoteProtocolError("flagged malformed when it was journaled", data)
            except RemoteProtocolError as exc:
                error = exc
        elif flags & _MULTIPART:
            error = RemoteProtocolError(f"a {len(data)}-byte message of several frames", data)
        else:
            envelope = _parse(data)
            lane.inbound(envelope, envelope.WhichOneof("body") or "", Channel(row[2]), row[5])
            return
        self._protocol_error(data, error)


_RECONNECTS = (RECONNECT_REASON, CAPTURE_RECONNECT_REASON)
"""How the end reason of a session its writer ended to reconnect begins (SDK, capture)."""


def _chains(sessions: list[Session]) -> dict[int, int]:
    """Session id → the first session of its context (reconnects continue a context)."""
    chain: dict[int, int] = {}
    open_ends: list[Session] = []
    for session in sessions:
        root = session.id
        for i, prev in enumerate(open_ends):
            if (
                prev.participant == session.participant
                and prev.capture_point == session.capture_point
                and prev.pid == session.pid
                and (prev.ended_wall_ns or 0) <= session.started_wall_ns
            ):
                root = chain[prev.id]
                del open_ends[i]
                break
        chain[session.id] = root
        if (session.end_reason or "").startswith(_RECONNECTS):
            open_ends.append(session)
    return chain


def replay(
    journal: Journal,
    processor: MessageProcessor | type[MessageProcessor],
    **options: Any,
) -> ReplayResult:
    """``Replayer(journal, processor, **options).run()``."""
    return Replayer(journal, processor, **options).run()
