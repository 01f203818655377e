"""One live context's dispatch state during a replay: a :class:`Lane` per chain of sessions.

A :class:`~recorder.replay.Replayer` keeps one :class:`Lane` per context the journal shows (the
sessions joined by reconnects; see the theory of operation in :mod:`recorder.replay`). The lane
owns the context's :class:`~recorder.client.dispatch.Dispatcher` and is its port: the SDK's own
requests are in the journal, so of the sequencer's effects only ``handle_gap``, the run change and
the bookkeeping of the SDK's replays remain: when one ends, the lane decides with the live
:class:`~recorder.client.recovery.GapBook`'s own :class:`~recorder.client.recovery.RangeReplays`
whether the context asked again or wrote the missing seqs off. It also registers the outbound
requests the journal shows in the dispatcher's MID store, and fires the heartbeat watch's
silences at the journal's clock.
"""

from __future__ import annotations

from typing import Final

from recorder.client import IDStoreItem
from recorder.client.dispatch import Dispatcher, Handlers
from recorder.client.recovery import RangeReplays
from recorder.config import ClientConfig
from recorder.core.frames import Channel
from recorder.core.mids import Reply, ReplyKind
from recorder.core.sequencing import Effect, GapOpened, RequestReplay, RunChanged, Step
from recorder.venues.lx import lx1_pb2 as pb

__all__ = ["Lane"]

Envelope = pb.Envelope

NEVER: Final = 1 << 62
"""A deadline that never comes (no channel is available)."""

_ORDER: Final = Channel.ORDER
_MARKET: Final = Channel.MARKET
_REPLAY_ENDS: Final = (ReplyKind.REPLAY_DONE, ReplyKind.REJECT)
_parse = Envelope.FromString


class Lane:
    """The dispatch state of one live context: a chain of sessions joined by reconnects.

    ``bound`` is a lower bound of the next timer-driven silence deadline: a frame journaled
    before it cannot be preceded by a silence, so the replayer's hot loop checks only that.
    ``order_watch``, ``market_watch``, ``order_seq`` and ``market_seq`` are the dispatcher's
    own objects (fixed for its life), bound here for that loop.
    """

    __slots__ = (
        "bound",
        "dispatcher",
        "expected",
        "market_seq",
        "market_watch",
        "order_seq",
        "order_watch",
        "replays",
        "sent",
        "session_id",
        "timed",
    )

    def __init__(self, handlers: Handlers, cc: ClientConfig, now: int) -> None:
        self.dispatcher = dispatcher = Dispatcher(handlers, cc, self, now, wake=False)
        self.order_seq, self.market_seq = dispatcher.order_seq, dispatcher.market_seq
        self.order_watch = dispatcher.liveness.watch(_ORDER)
        self.market_watch = dispatcher.liveness.watch(_MARKET)
        self.timed: tuple[Channel, ...] = (_MARKET,) if cc.reconnect else tuple(Channel)
        """The channels whose silence a timer fires (with ``reconnect`` the order channel's is
        where the journal shows the SDK reconnecting: :meth:`reconnected`)."""
        self.bound = 0
        """A lower bound of the next timer-driven silence deadline (0: recompute)."""
        self.session_id = 0
        self.sent: set[str] = set()
        """Every mid this context sent, or took over in flight from the journal (a mid seen
        again going out is a resend)."""
        self.expected: list[tuple[str, int, int]] = []
        """Range replays the context asks for (the sequencer's, and what a replay's end asks for
        again), not yet seen going out."""
        self.replays = RangeReplays()
        """The SDK's own ``MessageReplay`` mids and their ranges, and the tries per range."""

    # ------------------------------------------------------------------ DispatchPort

    def arrived(self, channel: Channel, available: bool, joined: bool) -> None:
        if available:
            self.bound = 0

    def sequenced(
        self, channel: Channel, envelope: Envelope, run: str, high: int, step: Step[None]
    ) -> None:
        if step.effects:
            self.effects(channel, step.effects)

    def retired(self, channel: Channel, run: str, high: int, step: Step[None]) -> None:
        if step.effects:
            self.effects(channel, step.effects)

    def market_seen(self, envelope: Envelope, body: str) -> None:
        pass

    def order_handled(self, envelope: Envelope, body: str, reply: Reply | None) -> None:
        in_flight = self.replays.in_flight
        if in_flight and reply is not None and reply.kind in _REPLAY_ENDS:
            mid = envelope.mid
            if mid in in_flight:
                self._replay_finished(mid, envelope)

    def order_done(self) -> None:
        pass

    def run_changed(self, previous: str, new: str, released: int) -> None:
        pass

    # ------------------------------------------------------------------ the effects

    def effects(self, channel: Channel, effects: tuple[Effect, ...]) -> None:
        """The sequencer's effects, as far as a replay carries them out."""
        dispatcher = self.dispatcher
        for effect in effects:
            if isinstance(effect, GapOpened):
                dispatcher.gap(channel, effect.run_id, effect.from_seq, effect.to_seq)
            elif isinstance(effect, RequestReplay):
                self.expected.append((effect.run_id, effect.from_seq, effect.to_seq))
            elif isinstance(effect, RunChanged):
                dispatcher.run_change(effect.old_run_id, effect.new_run_id)

    def _replay_finished(self, mid: str, envelope: Envelope) -> None:
        """What :meth:`GapBook.replay_finished <recorder.client.recovery.GapBook.replay_finished>`
        does, as far as a replay carries it out: the ranges asked for again are awaited going
        out (the journal has the requests), and missing seqs written off are abandoned here."""
        seqr = self.order_seq
        end = self.replays.finished(mid, envelope, seqr)
        if end.rest is not None:
            self.expected.append(end.rest)
        self.expected.extend(end.again)
        if end.abandon:
            self.effects(_ORDER, end.write_off(seqr).effects)

    # ------------------------------------------------------------------ the journal's clock

    def poll(self, mono: int) -> None:
        """Fire the timer-driven silences due by ``mono``, each at its own deadline."""
        liveness = self.dispatcher.liveness
        while True:
            due = [liveness.deadline(ch) for ch in self.timed if liveness.available(ch)]
            deadline = min(due) if due else NEVER
            if deadline > mono:
                self.bound = deadline
                return
            self.fire(deadline)

    def fire(self, now: int) -> None:
        """``LivenessWatch.poll(now)``: every available channel past its deadline goes silent."""
        dispatcher = self.dispatcher
        for channel, silent_ns in dispatcher.liveness.poll(now):
            dispatcher.unavailable(channel, silent_ns)

    def reconnected(self, mono: int) -> None:
        """A session of this context ended to reconnect: the order channel went silent then."""
        liveness = self.dispatcher.liveness
        if liveness.available(_ORDER):
            fired = liveness.deadline(_ORDER)
            self.poll(fired - 1)
            self.fire(fired)
        liveness.restart(_ORDER, mono)  # the new connection's silence counts from here
        self.bound = 0

    # ------------------------------------------------------------------ one frame

    def inbound(self, envelope: Envelope, body: str, channel: Channel, mono: int) -> None:
        """One decoded inbound frame (``body``: its ``WhichOneof``): the live context's
        dispatch, at the journaled clock."""
        if body == "heartbeat" and envelope.heartbeat.interval_ms:
            self.bound = 0  # the deadline may have moved earlier
        self.dispatcher.inbound(envelope, channel, mono)

    def outbound(self, data: bytes, mono: int) -> None:
        """An order-channel request as it went out: registered in the MID store (S1)."""
        envelope = _parse(data)
        mid = envelope.mid
        sent = self.sent
        if not mid or mid in sent:
            return  # a resend: the same bytes again
        sent.add(mid)
        body = envelope.WhichOneof("body")
        if body == "message_replay" and self.expected:
            r = envelope.message_replay
            wanted = (r.run_id, r.from_seq, r.to_seq)
            if wanted in self.expected:
                self.expected.remove(wanted)
                self.replays.sent(mid, wanted)
        children = (
            [IDStoreItem(inner) for inner in envelope.batch.messages] if body == "batch" else []
        )
        item = IDStoreItem(envelope)
        store = self.dispatcher.store
        try:
            store.add(item, children)
        except ValueError:
            return  # an inner mid already in flight: the live store refused it too
        store.mark_sent(item, envelope, mono)
