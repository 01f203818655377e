"""A bot that stops its context from a SIGTERM handler (run as a script by test_lifecycle.py).
The signal is raised while the main thread is inside ``Context._wake()`` (submitting a
request), after the I/O thread drained the wake-up byte: the handler's ``stop()`` wakes the I/O
thread again from inside that wake-up. Prints ``stopped`` once the context has ended."""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sdk_helpers import Recording

import recorder.client.context as context_module
from recorder.client import Commands, Context
from recorder.keys import KeyPair


def main() -> None:
    faulthandler.dump_traceback_later(20, exit=True)  # a deadlock: show where, and end
    exchange, me = KeyPair.generate(), KeyPair.generate()
    assert me.private is not None
    context = Context(
        "tcp://127.0.0.1:1", me.private, me.public, exchange.public, Recording(),
        market_endpoint="tcp://127.0.0.1:2", journal=None,
    )  # fmt: skip
    context.start()
    signal.signal(signal.SIGTERM, lambda signum, frame: context.stop())  # a graceful shutdown
    armed = [True]

    def write(fd: int, data: bytes) -> int:
        """The wake-up's ``os.write``: the I/O thread drains the byte before this thread goes
        on; SIGTERM arrives meanwhile (its handler runs at the next bytecode, here)."""
        n = os.write(fd, data)
        if armed.pop() if armed else False:
            deadline = time.monotonic() + 5
            while context._wake_pending and time.monotonic() < deadline:
                time.sleep(0.001)  # the I/O thread's drain, observed against a deadline
            signal.raise_signal(signal.SIGTERM)
        return n

    patched = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os)})
    patched.write = write
    context_module.os = patched  # type: ignore[assignment]
    context._wake_pending = False
    try:
        Commands(context).get_contracts()
    except Exception as exc:  # a refusal after the stop is fine
        print("submit:", type(exc).__name__, exc, flush=True)
    context.join(10)
    print("stopped" if not context.is_alive() else "still running", flush=True)


if __name__ == "__main__":
    main()
