"""Helpers for the SDK tests: a processor that records what it was given, test configs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recorder.client import MessageProcessor
from recorder.config import ClientConfig, Config, JournalConfig
from recorder.core.frames import Channel
from recorder.errors import RemoteProtocolError
from recorder.journal import Journal, open_journal
from recorder.venues.lx import lx1_pb2 as pb

WAIT = 10.0
"""Every wait in these tests is on an event or a condition, bounded by this (seconds)."""

LOOPBACK = "tcp://127.0.0.1:*"


def until(condition: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll ``condition`` (state with no event to wait on, e.g. the simulator's) until it is
    truthy and return its value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (got := condition()):
        assert time.monotonic() < deadline, "timed out waiting for a condition"
        time.sleep(0.01)  # polling a condition against a deadline
    return got


class Recording(MessageProcessor):
    """A processor that records every call as ``(handler, args)`` and lets tests wait on them."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _add(self, name: str, *args: Any) -> None:
        with self.cond:
            self.calls.append((name, args))
            self.cond.notify_all()

    def wait_for(
        self, predicate: Callable[[list[tuple[str, tuple[Any, ...]]]], Any], timeout: float = WAIT
    ) -> Any:
        """Wait until ``predicate(calls)`` is truthy and return its value."""
        result: Any = None

        def check() -> bool:
            nonlocal result
            result = predicate(self.calls)
            return bool(result)

        with self.cond:
            assert self.cond.wait_for(check, timeout), f"timed out; calls: {self.names()}"
        return result

    def named(self, name: str) -> list[tuple[Any, ...]]:
        with self.cond:
            return [args for n, args in self.calls if n == name]

    def names(self) -> list[str]:
        with self.cond:
            return [n for n, _ in self.calls]

    def handle_run_change(self, run_id: str, prev_run_id: str) -> None:
        self._add("run_change", run_id, prev_run_id)

    def handle_action_report(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._add("action_report", msg, prev_msg)

    def handle_contract_detail(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._add("contract_detail", msg, prev_msg)

    def handle_status_message(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._add("status", msg, prev_msg)

    def handle_batch_message(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._add("batch", msg, prev_msg)

    def handle_book_top(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._add("book_top", msg, prev_msg)

    def handle_book_state_snapshot(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._add("book_state", msg, prev_msg)

    def handle_heartbeat(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._add("heartbeat", msg, prev_msg)

    def handle_open_orders(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._add("open_orders", msg, prev_msg)

    def handle_replay_done(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._add("replay_done", msg, prev_msg)

    def handle_public_report(self, msg: pb.Envelope) -> None:
        self._add("public_report", msg)

    def handle_exchange_unavailable(self, channel: Channel, silent_ms: int) -> None:
        self._add("unavailable", channel, silent_ms)

    def handle_exchange_available(self, channel: Channel) -> None:
        self._add("available", channel)

    def handle_gap(self, channel: Channel, run_id: str, from_seq: int, to_seq: int) -> None:
        self._add("gap", channel, run_id, from_seq, to_seq)

    def handle_protocol_error(self, raw: bytes, error: RemoteProtocolError) -> None:
        self._add("protocol_error", raw, error)

    def handle_handler_error(self, mid: str, error: Exception) -> None:
        self._add("handler_error", mid, error)


def client_config(tmp_path: Path, durability: str = "safe", **client: Any) -> Config:
    values: dict[str, Any] = {"ack_timeout_ms": 250, "backoff_cap_ms": 1000}
    values.update(client)
    return Config(
        journal=JournalConfig(path=tmp_path / "sdk.journal", durability=durability),  # type: ignore[arg-type]
        client=ClientConfig(**values),
    )


def read_journal(path: Path) -> Journal:
    """Open a stopped context's journal for reading."""
    return open_journal(path, readonly=True)
