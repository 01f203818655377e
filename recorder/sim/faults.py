"""Fault injection, pure: which of the exchange's deliveries reach the wire, when, how often.

A :class:`FaultPlan` sits between :class:`~recorder.sim.exchange.Exchange` and a transport (the
socket server, or the pure session driver). Faults are *armed* (``drop_next``, ``drop_ack``,
...) and fire on later traffic; every firing is written to :attr:`FaultPlan.events` and logged
(logger ``recorder.sim.faults``) with what it did. Faults that are actions rather than filters
(restart the run, disconnect a participant, send garbage) are carried out by the transport,
which records them here with :meth:`FaultPlan.record`.

What each filter does (seqs are always counted by the exchange first, so a dropped message is a
seq gap the client can recover with ``MessageReplay``):

==================  ============================================================================
``drop_next``       drop the next N order-channel messages to a participant (with
                    ``replies_only``, the next N caused by its own requests: heartbeats and
                    reports of other participants' trades pass, so a test knows which it loses)
``drop_ack``        drop the first reply (ACK or reject) to the participant's next request (S1)
``drop_after_ack``  deliver the ACK of the participant's next request, then drop every
                    order-channel message to it until its following request arrives (S2)
``drop_requests``   ignore the participant's next N requests on arrival: never executed (S1)
``drop_market``     drop the next N market-channel messages (a market seq and clock gap)
``duplicate_next``  send each of the next N order-channel messages to the participant twice
``delay``           hold the next N order-channel messages to the participant for D ms; later
                    messages to it queue behind them, so its stream keeps its order
==================  ============================================================================
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from recorder.sim.exchange import Delivery

log = logging.getLogger("recorder.sim.faults")


class FaultKind(enum.StrEnum):
    """Every fault the simulator can inject."""

    DROP_NEXT = "drop_next"
    DROP_ACK = "drop_ack"
    DROP_AFTER_ACK = "drop_after_ack"
    DROP_REQUESTS = "drop_requests"
    DROP_MARKET = "drop_market"
    DUPLICATE = "duplicate_next"
    DELAY = "delay"
    DISCONNECT = "disconnect"
    RESTART = "restart"
    GARBAGE = "garbage"


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One thing a fault did: when (exchange wall clock, ns), which fault, to whom, what."""

    wall_ns: int
    kind: FaultKind
    participant: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class Transmission:
    """A delivery cleared for the wire, due at ``due_ns`` (exchange wall clock)."""

    delivery: Delivery
    due_ns: int


class _Armed:
    """The faults armed for one participant."""

    __slots__ = (
        "delay_count",
        "delay_ns",
        "drop",
        "drop_ack",
        "drop_after_ack",
        "drop_replies",
        "dropping",
        "duplicate",
        "hold_until",
        "ignore_requests",
    )

    def __init__(self) -> None:
        self.drop = 0
        self.drop_replies = 0
        self.drop_ack = False
        self.drop_after_ack = False
        self.dropping = False
        self.ignore_requests = 0
        self.duplicate = 0
        self.delay_count = 0
        self.delay_ns = 0
        self.hold_until = 0


class FaultPlan:
    """The armed faults and the log of what they did (see the module docstring)."""

    def __init__(self) -> None:
        self._armed: dict[str, _Armed] = {}
        self._drop_market = 0
        self.events: list[FaultEvent] = []

    @property
    def idle(self) -> bool:
        """True when nothing is armed (the transport may skip :meth:`filter`)."""
        return not self._drop_market and not self._armed

    # ------------------------------------------------------------------ arming

    def _for(self, participant: str) -> _Armed:
        armed = self._armed.get(participant)
        if armed is None:
            armed = self._armed[participant] = _Armed()
        return armed

    def drop_next(self, participant: str, count: int, *, replies_only: bool = False) -> None:
        """Arm: drop the next ``count`` order-channel messages to ``participant`` — with
        ``replies_only``, the next ``count`` replies to its own requests (a heartbeat or a
        report of another participant's trade in between passes)."""
        armed = self._for(participant)
        if replies_only:
            armed.drop_replies += count
        else:
            armed.drop += count

    def drop_ack(self, participant: str) -> None:
        """Arm: drop the first reply to the participant's next request (scenario S1)."""
        self._for(participant).drop_ack = True

    def drop_after_ack(self, participant: str) -> None:
        """Arm: after the ACK of the next request, drop until the next request (scenario S2)."""
        self._for(participant).drop_after_ack = True

    def drop_requests(self, participant: str, count: int) -> None:
        """Arm: the participant's next ``count`` requests are lost before the exchange sees them."""
        self._for(participant).ignore_requests += count

    def drop_market(self, count: int) -> None:
        """Arm: drop the next ``count`` market-channel messages."""
        self._drop_market += count

    def duplicate_next(self, participant: str, count: int = 1) -> None:
        """Arm: send each of the next ``count`` order-channel messages to ``participant`` twice."""
        self._for(participant).duplicate += count

    def delay(self, participant: str, delay_ms: int, count: int = 1) -> None:
        """Arm: hold the next ``count`` order-channel messages to ``participant`` ``delay_ms``."""
        armed = self._for(participant)
        armed.delay_count += count
        armed.delay_ns = delay_ms * 1_000_000

    def clear(self, participant: str | None = None) -> None:
        """Disarm everything (for one participant, or all and the market faults too)."""
        if participant is None:
            self._armed.clear()
            self._drop_market = 0
        else:
            self._armed.pop(participant, None)

    def record(self, wall_ns: int, kind: FaultKind, participant: str | None, detail: str) -> None:
        """Log a fault that happened (used by transports for action faults)."""
        self.events.append(FaultEvent(wall_ns, kind, participant, detail))
        log.warning(
            "fault %s%s: %s", kind.value, f" [{participant}]" if participant else "", detail
        )

    # ------------------------------------------------------------------ firing

    def accept_request(self, participant: str, wall_ns: int) -> bool:
        """Called when a request arrives; False means it is lost (``drop_requests``).

        A request also ends a ``drop_after_ack`` window, and arms it for its own ACK if it was
        waiting.
        """
        armed = self._armed.get(participant)
        if armed is None:
            return True
        if armed.ignore_requests:
            armed.ignore_requests -= 1
            self.record(
                wall_ns,
                FaultKind.DROP_REQUESTS,
                participant,
                f"request lost before the exchange ({armed.ignore_requests} more to lose)",
            )
            self._tidy(participant, armed, wall_ns)
            return False
        if armed.dropping:
            armed.dropping = False
            self.record(
                wall_ns,
                FaultKind.DROP_AFTER_ACK,
                participant,
                "a new request arrived: delivering again",
            )
            self._tidy(participant, armed, wall_ns)
        return True

    def filter(
        self, requester: str | None, deliveries: Iterable[Delivery], wall_ns: int
    ) -> list[Transmission]:
        """Apply the armed faults to deliveries caused by one event at ``wall_ns``.

        ``requester`` is the participant whose request caused them (None for heartbeats and
        background traffic); its first order-channel delivery is the request's first reply.
        """
        out: list[Transmission] = []
        first_reply = requester is not None
        for delivery in deliveries:
            to = delivery.to
            if to is None:
                if self._drop_market:
                    self._drop_market -= 1
                    self.record(
                        wall_ns,
                        FaultKind.DROP_MARKET,
                        None,
                        f"dropped market seq {delivery.seq} ({self._drop_market} more to drop)",
                    )
                    continue
                out.append(Transmission(delivery, wall_ns))
                continue
            is_first = first_reply and to == requester
            if is_first:
                first_reply = False
            armed = self._armed.get(to)
            if armed is None:
                out.append(Transmission(delivery, wall_ns))
                continue
            if not self._pass(to, armed, delivery, is_first, requester == to, wall_ns):
                continue
            due = wall_ns
            if armed.delay_count:
                armed.delay_count -= 1
                due = wall_ns + armed.delay_ns
                self.record(
                    wall_ns,
                    FaultKind.DELAY,
                    to,
                    f"order seq {delivery.seq} held {armed.delay_ns // 1_000_000} ms",
                )
            due = max(due, armed.hold_until)
            armed.hold_until = due
            out.append(Transmission(delivery, due))
            if armed.duplicate and not delivery.is_replay:
                armed.duplicate -= 1
                self.record(
                    wall_ns, FaultKind.DUPLICATE, to, f"order seq {delivery.seq} sent twice"
                )
                out.append(Transmission(delivery, due))
            self._tidy(to, armed, wall_ns)
        return out

    def _pass(
        self, to: str, armed: _Armed, delivery: Delivery, is_first: bool, own: bool, wall_ns: int
    ) -> bool:
        if is_first and armed.drop_ack:
            armed.drop_ack = False
            self.record(
                wall_ns,
                FaultKind.DROP_ACK,
                to,
                f"dropped the first reply, order seq {delivery.seq}",
            )
            return False
        if is_first and armed.drop_after_ack:
            armed.drop_after_ack = False
            armed.dropping = True
            self.record(
                wall_ns,
                FaultKind.DROP_AFTER_ACK,
                to,
                f"delivered the ACK (order seq {delivery.seq}); dropping what follows",
            )
            return True
        if armed.dropping:
            self.record(wall_ns, FaultKind.DROP_AFTER_ACK, to, f"dropped order seq {delivery.seq}")
            return False
        if armed.drop:
            armed.drop -= 1
            self.record(
                wall_ns,
                FaultKind.DROP_NEXT,
                to,
                f"dropped order seq {delivery.seq} ({armed.drop} more to drop)",
            )
            return False
        if own and armed.drop_replies:
            armed.drop_replies -= 1
            self.record(
                wall_ns,
                FaultKind.DROP_NEXT,
                to,
                f"dropped order seq {delivery.seq}, a reply ({armed.drop_replies} more to drop)",
            )
            return False
        return True

    def _tidy(self, participant: str, armed: _Armed, wall_ns: int = 0) -> None:
        if (
            armed.drop
            or armed.drop_replies
            or armed.drop_ack
            or armed.drop_after_ack
            or armed.dropping
            or armed.ignore_requests
            or armed.duplicate
            or armed.delay_count
            or armed.hold_until > wall_ns
        ):
            return
        del self._armed[participant]

    def armed(self) -> list[str]:
        """Participants with something still armed (for status displays)."""
        return list(self._armed)
