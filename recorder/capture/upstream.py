"""The capture service's watch on the exchange: is the upstream talking, when to reconnect. Pure.

The SDK watches the exchange per decoded frame (:mod:`recorder.client.dispatch`); the capture
loop must not add a step to a frame's path, so it watches what its housekeeping tick can see:
the counts of frames it has read from the exchange on each channel. A count that moved since
the last tick is the channel heard (at that tick: up to 50 ms late, on the safe side); the
silence itself is :class:`~recorder.core.liveness.LivenessWatch`'s, the SDK's watch.

Theory of operation
-------------------

* **Connected.** A channel with no frame for ``heartbeat_ms x heartbeat_factor``
  (PROTOCOL.md §7: the exchange heartbeats every ``interval_ms`` on both channels) is silent:
  the exchange is unavailable, and :meth:`UpstreamWatch.tick` returns a :class:`Reconnect`
  (attempt 1), which the caller carries out at once: new connections, whose silence counts
  from then.
* **Silent.** Until a frame has come on every silent channel. Then :meth:`UpstreamWatch.tick`
  returns :class:`Restored` and the upstream is connected again; the first frames of the new
  connection show, to the gap filler, a gap across the outage or a run change. While nothing
  comes, the next attempt is due ``heartbeat_ms x heartbeat_factor x 2^(n - 1)`` after
  attempt ``n`` (the SDK's ``silent_again``, backing off), at most ``backoff_cap_ms``.
* ``heartbeat_ms`` (the configuration's) is the interval until the exchange announces its own:
  the ``interval_ms`` of its last in-order heartbeat, which the gap filler reads (it reads only
  frames that concern it, heartbeats among them) and the tick passes on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from recorder.core.frames import Channel
from recorder.core.liveness import LivenessWatch

RECONNECT_REASON = "upstream silent"
"""How the end reason of a session the service ends to reconnect begins."""


class UpstreamState(enum.StrEnum):
    """Whether the exchange is talking to the service."""

    CONNECTED = "connected"
    SILENT = "silent"


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Effect: end the journal session with ``reason``, open new upstream connections, start a
    new session."""

    reason: str
    attempt: int
    """1 for the first reconnection since the upstream went silent, then 2, 3, ..."""


@dataclass(frozen=True, slots=True)
class Restored:
    """The upstream talks again, after ``attempts`` reconnections and ``silent_ms`` of silence."""

    attempts: int
    silent_ms: int


class UpstreamWatch:
    """Silence detection and reconnection backoff for the service's upstream (see the module
    docstring). Time is an argument (monotonic ns)."""

    __slots__ = (
        "_attempt",
        "_cap_ns",
        "_counts",
        "_liveness",
        "_reconnected_ns",
        "_retry_ns",
        "_silent_since_ns",
        "_threshold_ns",
        "reconnects",
        "state",
    )

    def __init__(self, heartbeat_ms: int, factor: int, backoff_cap_ms: int, now_ns: int) -> None:
        self._liveness = LivenessWatch(heartbeat_ms, factor, now_ns)
        self._threshold_ns = heartbeat_ms * factor * 1_000_000
        self._cap_ns = max(backoff_cap_ms * 1_000_000, self._threshold_ns)
        self._counts = {Channel.ORDER: 0, Channel.MARKET: 0}
        self._attempt = 0
        self._reconnected_ns = 0
        self._retry_ns = 0
        self._silent_since_ns = 0
        self.state = UpstreamState.CONNECTED
        self.reconnects = 0
        """Reconnections since the service started."""

    def tick(
        self, now_ns: int, orders: int, market: int, interval_ms: int = 0
    ) -> Reconnect | Restored | None:
        """One housekeeping tick: ``orders`` and ``market`` are the frames read from the
        exchange so far on each channel (counts that only grow); ``interval_ms``, the heartbeat
        interval the exchange announced last (0: none yet), for both channels."""
        liveness = self._liveness
        if interval_ms > 0 and interval_ms * 1_000_000 * liveness.factor != self._threshold_ns:
            self._threshold_ns = interval_ms * 1_000_000 * liveness.factor
            for channel in Channel:
                liveness.watch(channel).interval_ns = interval_ms * 1_000_000
        for channel, count in ((Channel.ORDER, orders), (Channel.MARKET, market)):
            if count != self._counts[channel]:
                self._counts[channel] = count
                liveness.heard(channel, now_ns)
        silent = liveness.poll(now_ns)
        if self.state is UpstreamState.CONNECTED:
            if not silent:
                return None
            self.state = UpstreamState.SILENT
            longest = max(ns for _, ns in silent)
            self._silent_since_ns = now_ns - longest
            names = " and ".join(channel.value for channel, _ in silent)
            return self._attempt_next(
                now_ns,
                f"{RECONNECT_REASON}: no {names} message for {longest // 1_000_000} ms: "
                "reconnecting",
            )
        if all(liveness.available(channel) for channel in Channel):
            restored = Restored(self._attempt, (now_ns - self._silent_since_ns) // 1_000_000)
            self.state = UpstreamState.CONNECTED
            self._attempt = 0
            return restored
        if now_ns < self._retry_ns:
            return None
        quiet = [ch.value for ch in Channel if not liveness.available(ch)]
        return self._attempt_next(
            now_ns,
            f"{RECONNECT_REASON}: still no {' or '.join(quiet)} message "
            f"{(now_ns - self._reconnected_ns) // 1_000_000} ms after reconnection "
            f"{self._attempt}: reconnecting again",
        )

    @property
    def heartbeat_ms(self) -> int:
        """The heartbeat interval the watch uses now."""
        return self._liveness.watch(Channel.ORDER).interval_ns // 1_000_000

    def _attempt_next(self, now_ns: int, reason: str) -> Reconnect:
        self._attempt += 1
        self.reconnects += 1
        backoff = self._threshold_ns << min(self._attempt - 1, 32)
        self._reconnected_ns = now_ns
        self._retry_ns = now_ns + min(backoff, max(self._cap_ns, self._threshold_ns))
        for channel in Channel:  # the caller reconnects now: the silence counts from here
            self._liveness.restart(channel, now_ns)
        return Reconnect(reason, self._attempt)
