"""The heartbeat watch, pure: is the exchange talking on each channel?

The exchange sends a ``Heartbeat{interval_ms}`` on both channels; the next message is due within
``interval_ms``. A channel with no message at all for ``interval_ms x factor`` (3 by default,
docs/protocol.md §7) is *unavailable*; the first message after that makes it *available* again,
and the caller then checks for gaps and a run change (the sequencers do both on that message).
Time is an argument (monotonic ns); :meth:`LivenessWatch.poll` returns the channels that just
went silent, :meth:`LivenessWatch.heard` says whether a channel just came back. The SDK
(:mod:`recorder.client`, per decoded frame) and the capture service
(:mod:`recorder.capture.upstream`, per housekeeping tick) both watch the exchange with it.
"""

from __future__ import annotations

from recorder.core.frames import Channel


class ChannelWatch:
    """One channel's watch: when it was last heard, its heartbeat interval, whether it is
    available. Read it through :class:`LivenessWatch`; :meth:`LivenessWatch.watch` hands it to
    a hot loop that does what :meth:`LivenessWatch.heard` does for an available channel
    (``last_ns = now``)."""

    __slots__ = ("available", "interval_ns", "last_ns")

    def __init__(self, interval_ns: int, now_ns: int) -> None:
        self.interval_ns = interval_ns
        self.last_ns = now_ns
        self.available = True


class LivenessWatch:
    """Silence detection for the order and market channels (see the module docstring)."""

    __slots__ = ("_watches", "factor")

    def __init__(self, default_interval_ms: int, factor: int, now_ns: int) -> None:
        if default_interval_ms <= 0 or factor <= 0:
            raise ValueError("the heartbeat interval and factor must be positive")
        self.factor = factor
        interval = default_interval_ms * 1_000_000
        self._watches = {ch: ChannelWatch(interval, now_ns) for ch in Channel}

    def watch(self, channel: Channel) -> ChannelWatch:
        """The watch of ``channel`` (one object for the life of this :class:`LivenessWatch`)."""
        return self._watches[channel]

    def available(self, channel: Channel) -> bool:
        """False while ``channel`` is considered silent."""
        return self._watches[channel].available

    def restart(self, channel: Channel, now_ns: int) -> None:
        """A new connection on ``channel``: its silence is counted from ``now_ns``."""
        watch = self._watches[channel]
        watch.last_ns = now_ns

    def heard(self, channel: Channel, now_ns: int, interval_ms: int = 0) -> bool:
        """A message arrived on ``channel`` (a heartbeat passes its ``interval_ms``).

        Returns True when the channel was unavailable and is available again.
        """
        watch = self._watches[channel]
        watch.last_ns = now_ns
        if interval_ms > 0:
            watch.interval_ns = interval_ms * 1_000_000
        if watch.available:
            return False
        watch.available = True
        return True

    def deadline(self, channel: Channel) -> int:
        """When ``channel`` becomes unavailable if nothing arrives (monotonic ns)."""
        watch = self._watches[channel]
        return watch.last_ns + watch.interval_ns * self.factor

    def next_deadline(self) -> int | None:
        """The earliest moment an available channel may go silent; None if none is available."""
        due = [self.deadline(ch) for ch, w in self._watches.items() if w.available]
        return min(due) if due else None

    def silent_again(self, channel: Channel, now_ns: int) -> bool:
        """True when ``channel`` is unavailable and nothing arrived for ``interval x factor``
        since it was last heard or :meth:`restart`-ed: a reconnection that did not help (the
        caller tries again and restarts the watch)."""
        return not self._watches[channel].available and now_ns >= self.deadline(channel)

    def poll(self, now_ns: int) -> list[tuple[Channel, int]]:
        """Channels that just went silent, with how long (ns) they have been silent."""
        out: list[tuple[Channel, int]] = []
        for channel, watch in self._watches.items():
            if watch.available and now_ns >= self.deadline(channel):
                watch.available = False
                out.append((channel, now_ns - watch.last_ns))
        return out
