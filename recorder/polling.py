"""Busy polling: wait for sockets without sleeping first (``[client] busy_poll_us``).

A loop that sleeps in ``poll`` is woken by the kernel when a message comes; on a virtual machine
its vCPU, idle meanwhile, must be scheduled again first — tens to hundreds of microseconds, and
on a busy host whole stretches of round trips twice as slow. A loop that polls without sleeping
for a while after each wake-up finds the next message awake. The price is a core kept busy while
messages come; pyzmq releases the GIL in every poll, so other threads still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["busy_poll"]

Event = TypeVar("Event")


def busy_poll(
    poll: Callable[[int | None], list[Event]], timeout: int | None, spin_ns: int
) -> list[Event]:
    """``poll(timeout)`` (a :class:`zmq.Poller`'s, ``timeout`` in ms, None: until ready), after
    polling without sleeping for up to ``spin_ns`` — never past ``timeout``, of which the wait
    then gets what is left."""
    if spin_ns and timeout != 0:
        start = time.monotonic_ns()
        until = start + (spin_ns if timeout is None else min(spin_ns, timeout * 1_000_000))
        while True:
            events = poll(0)
            if events:
                return events
            now = time.monotonic_ns()
            if now >= until:
                break
        if timeout is not None:
            timeout = max(0, timeout - (now - start) // 1_000_000)
    return poll(timeout)
