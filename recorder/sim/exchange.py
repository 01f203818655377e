"""The simulator's sequencing layer: bytes in, stamped and encoded messages out. Pure.

:class:`Exchange` wraps an :class:`~recorder.sim.engine.Engine` with everything LX/1 puts around
matching: frame validation (one frame, a parseable envelope), the run and its ``run_id``, the
per-participant order-channel seq and the market-channel seq, the per-run record of every
order-channel message sent to each participant (for ``MessageReplay``), heartbeats and the
``OpenOrdersSnapshot`` stamp. Time comes in as :class:`Now`; nothing here touches a socket, a
clock or a thread, so the socket server and the pure session driver share it.

Every call returns :class:`Delivery` values in the order the exchange sends them. A delivery's
``seq`` is already counted: whether the bytes then reach the wire is the fault layer's and the
transport's business (a dropped delivery is a seq gap).

A request whose handling raises (a bug; docs/protocol.md, "A request the simulator fails on")
does not escape :meth:`Exchange.receive`: it is answered ``REJECT_MALFORMED`` "internal error"
under its mid and noted in :attr:`Exchange.failures` for the transport to log. Sequencing is
all or nothing (:meth:`Exchange._emit` takes back what it had counted when it fails), so a
failed request leaves no message behind; when it had already changed the engine (a book, or its
answers were lost after it ran), the run is restarted first, so nothing of it survives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from google.protobuf.message import DecodeError

from recorder.core.frames import Channel
from recorder.errors import LocalProtocolError
from recorder.sim.engine import ACK, Engine
from recorder.sim.model import Outbound, is_valid_mid, status
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import MVERSION

REPLAY_CAP = 2500
"""The most messages one ``MessageReplay`` re-sends (docs/protocol.md §3)."""

_parse = pb.Envelope.FromString


def request_mid(frames: Sequence[bytes]) -> str:
    """The mid of a request as it came ("" when it is not one parseable envelope)."""
    if len(frames) != 1:
        return ""
    try:
        return _parse(frames[0]).mid
    except DecodeError:
        return ""


class Now(NamedTuple):
    """The exchange's clocks at one instant: wall clock (ns since the epoch) and monotonic (ns)."""

    wall_ns: int
    mono_ns: int


class Delivery(NamedTuple):
    """One encoded message the exchange sends.

    ``to`` is the participant for the order channel, None for the market channel (every
    subscriber). ``seq`` is the envelope's seq (the original one for a replayed message).
    A named tuple for the same reason as :class:`~recorder.sim.model.Outbound`: the hot path.
    """

    to: str | None
    channel: Channel
    seq: int
    data: bytes
    is_replay: bool = False


@dataclass(frozen=True, slots=True)
class RequestFailure:
    """A request the exchange failed on (its handling raised) and answered ``REJECT_MALFORMED``.

    ``mid`` is the request's mid as sent (it may be malformed); ``restarted`` is true when the
    request had already changed the engine, so the run was restarted before the answer.
    """

    participant: str
    mid: str
    error: Exception
    restarted: bool


class _Stream:
    """One participant's order channel in the current run."""

    __slots__ = ("beat", "mids", "sent")

    def __init__(self) -> None:
        self.sent: list[bytes] = []  # sent[seq - 1]: the bytes as first sent
        self.mids: list[str] = []
        self.beat = 0


class Exchange:
    """The simulator's exchange without I/O: see the module docstring.

    ``new_run_id`` makes run ids (32 hex digits); pass a seeded one for reproducible streams.
    ``heartbeat_ms`` is the ``interval_ms`` announced in heartbeats; ``replay_cap`` the most
    messages one ``MessageReplay`` returns.
    """

    def __init__(
        self,
        engine: Engine,
        new_run_id: Callable[[], str],
        *,
        heartbeat_ms: int = 1000,
        replay_cap: int = REPLAY_CAP,
    ) -> None:
        self.engine = engine
        self._new_run_id = new_run_id
        self.heartbeat_ms = heartbeat_ms
        self.replay_cap = replay_cap
        self.run_id = ""
        self.previous_run_ids: list[str] = []
        self._attached: dict[str, None] = {}
        self.failures: list[RequestFailure] = []
        """The requests that failed since the caller last cleared this list (in place)."""
        self._start_run()

    def _start_run(self) -> None:
        if self.run_id:
            self.previous_run_ids.append(self.run_id)
        run_id = self._new_run_id()
        if len(run_id) != 32:
            raise LocalProtocolError(f"a run_id is 32 hex digits, not {run_id!r}")
        self.run_id = run_id
        self._streams: dict[str, _Stream] = {p: _Stream() for p in self.engine.participants}
        self._market_seq = 0
        self._market_beat = 0

    # ------------------------------------------------------------------ participants

    def add_participant(self, participant: str) -> int:
        """Register a participant with the engine and give it an order channel; returns its mpid."""
        mpid = self.engine.add_participant(participant)
        self._streams.setdefault(participant, _Stream())
        return mpid

    def attach(self, participant: str) -> None:
        """Mark a participant as connected: it gets order-channel heartbeats from now on."""
        self._attached[participant] = None

    def detach(self, participant: str) -> None:
        """Mark a participant as gone: no more heartbeats for it."""
        self._attached.pop(participant, None)

    @property
    def attached(self) -> tuple[str, ...]:
        """The participants that get heartbeats, in attach order."""
        return tuple(self._attached)

    def last_seq(self, participant: str) -> int:
        """The last order-channel seq sent to ``participant`` in this run (0 = none yet)."""
        return len(self._streams[participant].sent)

    @property
    def market_seq(self) -> int:
        """The last market-channel seq of this run."""
        return self._market_seq

    def sent(self, participant: str) -> list[bytes]:
        """This run's order-channel record for ``participant``: ``sent[seq - 1]`` as first sent."""
        return list(self._streams[participant].sent)

    # ------------------------------------------------------------------ runs

    def restart(self) -> str:
        """Start a new run (docs/protocol.md §6) and return its run_id.

        Every resting order vanishes without a report, every seq and clock restarts, and the old
        run's replay record is dropped: ``MessageReplay`` for it is ``REJECT_REPLAY_UNAVAILABLE``.
        """
        self.engine.reset()
        self._start_run()
        return self.run_id

    # ------------------------------------------------------------------ traffic

    def receive(self, participant: str, frames: Sequence[bytes], now: Now) -> list[Delivery]:
        """Handle one ZeroMQ message (its frames) from ``participant``; return the replies."""
        if len(frames) != 1:
            text = f"a message must be one frame, not {len(frames)}"
            return self._emit([status(participant, "", pb.REJECT_MALFORMED, text)], now)
        try:
            envelope = _parse(frames[0])
        except DecodeError as exc:
            text = f"not an LX/1 envelope ({len(frames[0])} bytes): {exc}"
            return self._emit([status(participant, "", pb.REJECT_MALFORMED, text)], now)
        field = envelope.WhichOneof("body")
        try:
            if (
                field == "message_replay"
                and envelope.mversion.partition(".")[0] == "1"
                and is_valid_mid(envelope.mid)
            ):
                return self._message_replay(participant, envelope, now)
            outs = self.engine.handle(participant, envelope)
        except Exception as exc:  # a bug: answered, and the exchange serves on
            return self._refuse(participant, envelope.mid, exc, now, ran=False)
        try:
            if field == "get_open_orders" and len(outs) > 1:
                return self._emit_open_orders(participant, outs, now)
            return self._emit(outs, now)
        except Exception as exc:  # it ran, but its answers could not be sequenced
            return self._refuse(participant, envelope.mid, exc, now, ran=True)

    def _refuse(
        self, participant: str, mid: str, error: Exception, now: Now, *, ran: bool
    ) -> list[Delivery]:
        """Answer a request whose handling raised; see the module docstring."""
        engine = self.engine
        restarted = ran or engine.spoiled
        if restarted:
            self.restart()
        text = f"internal error: the exchange failed on this request ({type(error).__name__})"
        text += "; it was not executed"
        if restarted:
            text += " (the run was restarted to undo it)"
        self.failures.append(RequestFailure(participant, mid, error, restarted))
        if not is_valid_mid(mid):
            return self._emit([status(participant, "", pb.REJECT_MALFORMED, text)], now)
        if engine.seen(mid) is None:  # final, as every rejection (a resend would fail again)
            engine.remember(mid, pb.REJECT_MALFORMED, text)
        return self._emit([status(participant, mid, pb.REJECT_MALFORMED, text)], now)

    def heartbeats(self, now: Now) -> list[Delivery]:
        """One heartbeat on the market channel and one to every attached participant.

        All or nothing, as :meth:`_emit`: the beats are counted once every heartbeat is
        sequenced, so a failure leaves no beat number behind.
        """
        interval = self.heartbeat_ms
        streams = [self._streams[p] for p in self._attached]
        out = [
            Outbound(
                participant,
                pb.Envelope(
                    mversion=MVERSION,
                    heartbeat=pb.Heartbeat(interval_ms=interval, beat=stream.beat + 1),
                ),
            )
            for participant, stream in zip(self._attached, streams, strict=True)
        ]
        out.append(
            Outbound(
                None,
                pb.Envelope(
                    mversion=MVERSION,
                    heartbeat=pb.Heartbeat(interval_ms=interval, beat=self._market_beat + 1),
                ),
            )
        )
        deliveries = self._emit(out, now)
        for stream in streams:
            stream.beat += 1
        self._market_beat += 1
        return deliveries

    def _emit(self, outs: Iterable[Outbound], now: Now) -> list[Delivery]:
        run_id = self.run_id
        wall, mono = now
        streams = self._streams
        deliveries: list[Delivery] = []
        append = deliveries.append
        try:
            for out in outs:
                envelope = out.envelope
                envelope.run_id = run_id
                envelope.timestamp = wall
                envelope.ticks = mono
                to = out.to
                if to is None:
                    envelope.seq = seq = self._market_seq + 1
                    append(Delivery(None, Channel.MARKET, seq, envelope.SerializeToString()))
                    self._market_seq = seq
                else:
                    stream = streams[to]
                    sent = stream.sent
                    envelope.seq = seq = len(sent) + 1
                    data = envelope.SerializeToString()
                    append(Delivery(to, Channel.ORDER, seq, data))
                    sent.append(data)
                    stream.mids.append(envelope.mid)
        except Exception:  # all or nothing: take back the seqs counted so far
            for delivery in deliveries:
                if delivery.to is None:
                    self._market_seq -= 1
                else:
                    stream = streams[delivery.to]
                    del stream.sent[-1], stream.mids[-1]
            raise
        return deliveries

    def _emit_open_orders(self, participant: str, outs: list[Outbound], now: Now) -> list[Delivery]:
        # The snapshot covers every message sent before it: as_of_seq is its own seq - 1.
        deliveries = self._emit(outs[:1], now)
        snapshot = outs[1].envelope
        snapshot.open_orders_snapshot.run_id = self.run_id
        snapshot.open_orders_snapshot.as_of_seq = self.last_seq(participant)
        return deliveries + self._emit(outs[1:], now)

    # ------------------------------------------------------------------ replay

    def _message_replay(self, participant: str, envelope: pb.Envelope, now: Now) -> list[Delivery]:
        # Only a version-1 request with a valid mid comes here (the engine answers the others).
        # Everything is built before anything is sequenced: the ACK and the ReplayDone are
        # counted together, at the end, so a failure on the way leaves no seq behind.
        engine = self.engine
        mid = envelope.mid
        seen = engine.seen(mid)
        if seen is not None:
            return self._emit([status(participant, mid, seen[0], seen[1], duplicate=True)], now)
        request = envelope.message_replay
        if request.run_id and request.run_id != self.run_id:
            text = f"run {request.run_id[:40]!r} is not held; the current run is {self.run_id}"
            code = pb.REJECT_REPLAY_UNAVAILABLE
            deliveries = self._emit([status(participant, mid, code, text)], now)
            engine.remember(mid, code, text)
            return deliveries
        stream = self._streams[participant]
        latest = len(stream.sent)  # the last seq before this request's ACK
        first = max(request.from_seq, 1)
        last = min(request.to_seq, latest) if request.to_seq else latest
        wanted = frozenset(request.mids)
        cap = self.replay_cap
        replayed: list[Delivery] = []
        complete = True
        to_seq = max(last, first - 1)  # the last seq examined
        for seq in range(first, last + 1):
            if wanted and stream.mids[seq - 1] not in wanted:
                continue
            if len(replayed) == cap:  # cut short: the last seq re-sent ("ask again from +1")
                complete = False
                to_seq = replayed[-1].seq if replayed else first - 1
                break
            again = _parse(stream.sent[seq - 1])
            again.is_replay = True
            replayed.append(
                Delivery(participant, Channel.ORDER, seq, again.SerializeToString(), True)
            )
        done = pb.ReplayDone(
            run_id=self.run_id,
            from_seq=first,
            to_seq=to_seq,
            count=len(replayed),
            complete=complete,
        )
        ack, end = self._emit(
            [
                status(participant, mid, ACK),
                Outbound(participant, pb.Envelope(mid=mid, mversion=MVERSION, replay_done=done)),
            ],
            now,
        )
        engine.remember(mid, ACK, "")
        return [ack, *replayed, end]
