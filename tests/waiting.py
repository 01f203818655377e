"""Waiting on a condition that no event announces (another process's state, a thread's), against
a deadline: the tests' one polling loop."""

from __future__ import annotations

import time
from collections.abc import Callable

WAIT = 10.0


def until(cond: Callable[[], object], timeout: float = WAIT, every: float = 0.002) -> bool:
    """Poll ``cond`` until it is truthy (True) or ``timeout`` seconds have passed (its last
    answer, then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(every)  # polling a condition against a deadline
    return bool(cond())
