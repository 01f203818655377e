"""Gap recovery for the context: the sequencers' effects carried out, and the gap ledger.

The decisions are the pure :class:`~recorder.core.sequencing.StreamSequencer`'s; :class:`GapBook`
only carries them out on the context's I/O thread:

* ``GapOpened`` → a row in the journal's gap ledger (``open``) and ``handle_gap``;
* ``GapOpened`` on the order channel → the recovery planner's plan for the gap (``MessageReplay``
  in chunks of at most 2,500 seqs, :func:`recorder.core.recovery.plan`), carried out by the
  reconciler through :meth:`GapBook.request`: a ``MessageReplay`` request (tracked in the MID
  store like any request, so it is resent if its ACK is lost), at most
  :data:`MAX_REPLAYS_IN_FLIGHT` at a time (the rest queue: the rate limit), and the gap moves to
  ``requested``; a ``ReplayDone{complete=false}`` asks for the rest from the next seq at once,
  and the seqs its part (or a complete one) left missing are asked again, up to
  :data:`MAX_REPLAY_TRIES` times in all (:class:`RangeReplays`, the decision the replay lane
  shares);
* the gap's seqs all arrived → ``filled``; the exchange could not send them (a ``ReplayDone``
  that leaves them missing, ``REJECT_REPLAY_UNAVAILABLE``, a run change) → the sequencer
  abandons them (a replay's range only: another gap's replay may still bring its seqs) →
  ``unrecoverable`` with the reason; a refused replay also starts a reconciliation by
  ``GetOpenOrders`` (:data:`Trigger.REPLAY_UNAVAILABLE`);
* ``ResyncBook`` (market channel, which has no replay) → ``GetBookState`` for every contract
  seen, and the market gap is written off as ``unrecoverable`` (the books are rebuilt from the
  snapshots, not from the missing reports);
* ``RunChanged`` → :meth:`Context.run_change`.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recorder.client.store import classify
from recorder.core.frames import Channel
from recorder.core.recovery import Trigger
from recorder.core.sequencing import (
    Effect,
    GapClosed,
    GapOpened,
    RequestReplay,
    ResyncBook,
    RunChanged,
    Step,
    StreamSequencer,
)
from recorder.venues.lx import lx1_pb2 as pb

if TYPE_CHECKING:
    from recorder.client.context import Context

__all__ = [
    "MAX_REPLAYS_IN_FLIGHT",
    "MAX_REPLAY_TRIES",
    "GapBook",
    "LedgerGap",
    "RangeReplays",
    "ReplayEnd",
    "classify",
]

MAX_REPLAY_TRIES = 3
"""A range a complete ``ReplayDone`` left missing is asked for this many times in all."""

MAX_REPLAYS_IN_FLIGHT = 2
"""Range replays sent and not yet answered at any time; more wait their turn (rate limit)."""

log = logging.getLogger("recorder.client")

Range = tuple[str, int, int]
"""A range replay's run id, first and last seq."""


@dataclass(frozen=True, slots=True)
class ReplayEnd:
    """What the context does when a range replay ended (:meth:`RangeReplays.finished`)."""

    asked: Range
    """The range the replay brought: the range it asked for or, cut short, the part that came
    (up to the ``ReplayDone``'s ``to_seq``)."""
    rest: Range | None = None
    """Cut short by the exchange's cap (``ReplayDone{complete=false}``): ask for the rest now."""
    again: tuple[Range, ...] = ()
    """Seqs of :attr:`asked` still missing (replayed frames lost on the way): ask again."""
    abandon: bool = False
    """Give :attr:`asked`'s missing seqs up (:meth:`write_off`)."""
    refused: bool = False
    """The exchange no longer holds them (``REJECT_REPLAY_UNAVAILABLE``)."""

    def write_off(self, seqr: StreamSequencer[None]) -> Step[None]:
        """Abandon the seqs of the asked range that ``seqr`` still misses — only those: a
        lower gap whose own replay is still to come stays open (its seqs may yet arrive)."""
        _, from_seq, to_seq = self.asked
        return seqr.abandon(to_seq, from_seq=from_seq)


class RangeReplays:
    """A context's range replays in flight and how often each range was asked for, and the
    decision when one ends — pure (no I/O, no clock): the live :class:`GapBook` and the replay
    lane (:class:`recorder.replay_lane.Lane`) both decide with it, so a replay of the journal
    writes a gap off exactly where the live context did."""

    __slots__ = ("_tries", "in_flight")

    def __init__(self) -> None:
        self.in_flight: dict[str, Range] = {}
        """The ``MessageReplay`` mids not yet answered, and their ranges."""
        self._tries: dict[Range, int] = {}

    def sent(self, mid: str, asked: Range) -> None:
        """A range replay went out under ``mid``."""
        self.in_flight[mid] = asked

    def finished(self, mid: str, envelope: pb.Envelope, seqr: StreamSequencer[None]) -> ReplayEnd:
        """The ``ReplayDone`` or the reject that ends the replay ``mid``, with the order-channel
        sequencer as it stands after the replayed frames."""
        asked = self.in_flight.pop(mid)
        run_id, from_seq, to_seq = asked
        tries = self._tries.get(asked, 1)
        refused = False
        rest = None
        if envelope.WhichOneof("body") == "replay_done":
            done = envelope.replay_done
            if not done.complete and done.to_seq < to_seq:
                # The exchange's 2,500 cap cut it short: the rest is asked now, and the part
                # that came is judged as a complete replay is (its tries are the range's).
                rest = (run_id, done.to_seq + 1, to_seq)
                to_seq = done.to_seq
                asked = (run_id, from_seq, to_seq)
        else:
            refused = envelope.status.code == pb.REJECT_REPLAY_UNAVAILABLE
        if seqr.run_id != run_id:
            # the run changed meanwhile: its gaps were written off
            return ReplayEnd(asked, rest=rest)
        still = [g for g in seqr.open_gaps if g.from_seq <= to_seq and from_seq <= g.to_seq]
        if not still or from_seq > to_seq:  # all came, or nothing was sent before the cut
            return ReplayEnd(asked, rest=rest)
        if refused or tries >= MAX_REPLAY_TRIES:
            return ReplayEnd(asked, rest=rest, abandon=True, refused=refused)
        # Seqs it brought are missing: replayed frames lost on the way (the exchange still holds
        # them). Ask again for what is missing, a few times.
        again = tuple((run_id, max(g.from_seq, from_seq), min(g.to_seq, to_seq)) for g in still)
        for one in again:
            self._tries[one] = tries + 1
        return ReplayEnd(asked, rest=rest, again=again)


@dataclass(slots=True)
class LedgerGap:
    """A gap the context is recovering: its ledger id and range, and whether seqs were lost."""

    gap_id: int
    channel: Channel
    run_id: str
    from_seq: int
    to_seq: int
    requested: bool = False
    lost: bool = False


class GapBook:
    """The context's pending gaps and replay requests (I/O thread only)."""

    def __init__(self, context: Context) -> None:
        self._ctx = context
        self.pending: list[LedgerGap] = []
        """Gaps not yet filled or written off."""
        self.replays = RangeReplays()
        """The range replays in flight, and how often each range was asked for."""
        self._queued: collections.deque[Range] = collections.deque()
        self.past_high: dict[tuple[Channel, str], int] = {}
        """The highest seq seen of each replaced run, per channel (for late frames)."""

    def reissue(self, mid: str) -> None:
        """A ``MessageReplay`` answered only ``ACK{duplicate}`` (its first ACK was lost and the
        resend was de-duplicated: the exchange will send nothing else): ask again, new mid."""
        run_id, from_seq, to_seq = self.replays.in_flight.pop(mid)
        self._ctx.store.abandon(mid)
        self._request(run_id, from_seq, to_seq)

    def reset(self) -> None:
        """A reconnection: replays in flight on the old connection may never be answered;
        forget them (their gaps are asked for again by the reconciler's plan)."""
        in_flight = self.replays.in_flight
        for mid in in_flight:
            self._ctx.store.abandon(mid)
        in_flight.clear()
        self._queued.clear()

    def stale(self, channel: Channel, run_id: str, seq: int) -> None:
        """A frame of a replaced run arrived (journaled, not applied): the seqs it jumps over
        can never be replayed (the exchange dropped the run), so the ledger says so."""
        key = (channel, run_id)
        high = self.past_high.get(key)
        if high is None:
            return
        if seq > high + 1:
            ctx = self._ctx
            gap_id = ctx.tap.open_gap(channel, run_id, high + 1, seq - 1)
            ctx.tap.update_gap(
                gap_id, "unrecoverable", "a late frame of a replaced run; the run is gone"
            )
        self.past_high[key] = max(high, seq)

    @property
    def busy(self) -> bool:
        """True while a range replay is running or queued, or an order gap is pending."""
        return bool(
            self.replays.in_flight
            or self._queued
            or any(g.channel is Channel.ORDER for g in self.pending)
        )

    def replaying(self, mid: str) -> bool:
        """True when ``mid`` is a ``MessageReplay`` the context sent for a gap."""
        return mid in self.replays.in_flight

    def effects(self, channel: Channel, effects: tuple[Effect, ...]) -> None:
        """Carry out one observation's effects, in order."""
        ctx = self._ctx
        settle = False
        for effect in effects:
            if isinstance(effect, GapOpened):
                gap_id = ctx.tap.open_gap(channel, effect.run_id, effect.from_seq, effect.to_seq)
                self.pending.append(
                    LedgerGap(gap_id, channel, effect.run_id, effect.from_seq, effect.to_seq)
                )
                log.warning(
                    "%s-channel gap: seq %d..%d of run %s",
                    channel,
                    effect.from_seq,
                    effect.to_seq,
                    effect.run_id[:8],
                )
                ctx._guard(
                    "",
                    ctx.processor.handle_gap,
                    channel,
                    effect.run_id,
                    effect.from_seq,
                    effect.to_seq,
                )
                if channel is Channel.ORDER:
                    ctx.reconciler.begin(Trigger.GAP, missing=[(effect.from_seq, effect.to_seq)])
            elif isinstance(effect, RequestReplay):
                pass  # the planner's ``replay_range`` rule asks for it (GapOpened above)
            elif isinstance(effect, ResyncBook):
                self._resync(effect.contract_id)
            elif isinstance(effect, GapClosed):
                if not effect.filled:
                    for gap in self._overlapping(
                        channel, effect.run_id, effect.from_seq, effect.to_seq
                    ):
                        gap.lost = True
                settle = True
            elif isinstance(effect, RunChanged):
                self.settle(channel)
                ctx.run_change(effect.old_run_id, effect.new_run_id)
        if settle:
            self.settle(channel)

    def _overlapping(self, channel: Channel, run_id: str, lo: int, hi: int) -> list[LedgerGap]:
        return [
            g
            for g in self.pending
            if g.channel is channel and g.run_id == run_id and g.from_seq <= hi and lo <= g.to_seq
        ]

    def request(self, run_id: str, from_seq: int, to_seq: int) -> None:
        """Ask ``MessageReplay`` for ``from_seq..to_seq`` now, or queue it (rate limit)."""
        if len(self.replays.in_flight) >= MAX_REPLAYS_IN_FLIGHT:
            self._queued.append((run_id, from_seq, to_seq))
            return
        self._request(run_id, from_seq, to_seq)

    def _next(self) -> None:
        seq = self._ctx.order_seq
        while self._queued and len(self.replays.in_flight) < MAX_REPLAYS_IN_FLIGHT:
            run_id, lo, hi = self._queued.popleft()
            if run_id == seq.run_id and any(
                g.from_seq <= hi and lo <= g.to_seq for g in seq.open_gaps
            ):
                self._request(run_id, lo, hi)

    def _request(self, run_id: str, from_seq: int, to_seq: int) -> None:
        ctx = self._ctx
        item = ctx.request(pb.MessageReplay(run_id=run_id, from_seq=from_seq, to_seq=to_seq))
        self.replays.sent(item.mid, (run_id, from_seq, to_seq))
        for gap in self._overlapping(Channel.ORDER, run_id, from_seq, to_seq):
            if not gap.requested:
                gap.requested = True
                ctx.tap.update_gap(gap.gap_id, "requested", f"MessageReplay {item.mid}")

    def _resync(self, contract_id: int) -> None:
        ctx = self._ctx
        contracts = sorted(ctx.contracts) if contract_id == 0 else [contract_id]
        if ctx.client_config.resync_books:
            for cid in contracts:
                ctx.request(pb.GetBookState(contract_id=cid))
            reason = f"no replay on the market channel; books {contracts} resynced (GetBookState)"
        else:
            reason = "no replay on the market channel; book resync disabled"
        for gap in [g for g in self.pending if g.channel is Channel.MARKET]:
            ctx.tap.update_gap(gap.gap_id, "unrecoverable", reason)
            self.pending.remove(gap)

    def replay_finished(self, mid: str, envelope: pb.Envelope) -> None:
        """A ``ReplayDone`` (or a reject) for one of the context's replays: carry out what
        :meth:`RangeReplays.finished` decides."""
        seq = self._ctx.order_seq
        end = self.replays.finished(mid, envelope, seq)
        if end.rest is not None:
            self._request(*end.rest)  # in the finished replay's place: not rate-limited
        for again in end.again:
            self.request(*again)
        if end.abandon:
            run_id, from_seq, to_seq = end.asked
            log.warning("seqs %d..%d of run %s could not be replayed", from_seq, to_seq, run_id[:8])
            self.effects(Channel.ORDER, end.write_off(seq).effects)
            if end.refused:
                self._queued.clear()
                self._ctx.reconciler.begin(Trigger.REPLAY_UNAVAILABLE)
        self._next()

    def settle(self, channel: Channel) -> None:
        """Close the ledger rows of gaps the sequencer no longer has open."""
        ctx = self._ctx
        seq = ctx.order_seq if channel is Channel.ORDER else ctx.market_seq
        still = seq.open_gaps
        for gap in [g for g in self.pending if g.channel is channel]:
            live = seq.run_id == gap.run_id and any(
                o.from_seq <= gap.to_seq and gap.from_seq <= o.to_seq for o in still
            )
            if live:
                continue
            self.pending.remove(gap)
            if gap.lost or seq.run_id != gap.run_id:
                ctx.tap.update_gap(gap.gap_id, "unrecoverable", "the exchange could not replay it")
            else:
                ctx.tap.update_gap(gap.gap_id, "filled")
