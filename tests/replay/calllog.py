"""A processor mixin that logs every handler call in a comparable form (bytes, not objects)."""

from __future__ import annotations

import threading
from typing import Any

from recorder.client import MessageProcessor
from recorder.venues.lx import lx1_pb2 as pb

HANDLERS = (
    "handle_run_change", "handle_action_report", "handle_contract_detail",
    "handle_status_message", "handle_batch_message", "handle_book_top",
    "handle_book_state_snapshot", "handle_heartbeat", "handle_open_orders",
    "handle_replay_done", "handle_public_report", "handle_exchange_unavailable",
    "handle_exchange_available", "handle_gap", "handle_protocol_error", "handle_handler_error",
)  # fmt: skip

Call = tuple[Any, ...]


def comparable(value: Any) -> Any:
    """An argument as a plain value: envelopes as their bytes, errors as their text."""
    if isinstance(value, pb.Envelope):
        return value.SerializeToString(deterministic=True)
    if isinstance(value, Exception):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, str | int | bytes) or value is None:
        return value
    return str(value)


def logged(base: type[MessageProcessor]) -> type[MessageProcessor]:
    """A subclass of ``base`` whose handlers append ``(name, *args)`` to ``self.calls`` first."""

    def wrap(name: str) -> Any:
        inner = getattr(base, name)

        def handler(self: Any, *args: Any) -> Any:
            with self.calls_lock:
                self.calls.append((name, *(comparable(a) for a in args)))
            return inner(self, *args)

        handler.__name__ = name
        return handler

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        self.calls = []
        self.calls_lock = threading.Lock()
        base.__init__(self, *args, **kwargs)

    namespace: dict[str, Any] = {name: wrap(name) for name in HANDLERS}
    namespace["__init__"] = init
    return type(f"Logged{base.__name__}", (base,), namespace)


def without_silence_ms(calls: list[Call]) -> list[Call]:
    """``handle_exchange_unavailable``'s ``silent_ms`` is a live timer reading (the threshold
    plus timer jitter); the replay reports the threshold. Everything else must match."""
    return [c[:2] if c[0] == "handle_exchange_unavailable" else c for c in calls]
