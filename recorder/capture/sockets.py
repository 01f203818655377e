"""The capture service's socket-side values: endpoints, the ZAP allow-list, connected peers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import zmq

from recorder.capture.logs import event

log = logging.getLogger("recorder.capture")


@dataclass(frozen=True, slots=True)
class Upstream:
    """The exchange the service connects to: its two endpoints and its public key (z85)."""

    order_endpoint: str
    market_endpoint: str
    server_key: bytes


@dataclass(frozen=True, slots=True)
class CaptureEndpoints:
    """Where the service listens for bots (ports resolved when bound to ``*``)."""

    order: str
    market: str
    status: str


class AllowList:
    """ZAP credentials provider: the bot public keys allowed in."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        self.keys = frozenset(keys)

    def callback(self, domain: str, key: bytes) -> bool:
        allowed = key in self.keys
        if not allowed:
            event(log, logging.WARNING, "refused bot key", key=key.decode("ascii", "replace"))
        return allowed


class Peers:
    """Authenticated connections of one bot-facing socket, from its monitor events.

    A handshake event carries no file descriptor: it is matched to the oldest accepted
    connection still handshaking (connections complete their handshakes in accept order).
    """

    EVENTS = (
        zmq.EVENT_ACCEPTED
        | zmq.EVENT_DISCONNECTED
        | zmq.EVENT_HANDSHAKE_SUCCEEDED
        | zmq.EVENT_HANDSHAKE_FAILED_AUTH
        | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
        | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    )
    """The monitor events to subscribe to."""

    def __init__(self, log_as: str = "") -> None:
        self._fds: dict[int, bool] = {}  # fd -> authenticated
        self._log_as = log_as

    @property
    def connected(self) -> int:
        """How many connections completed the CURVE handshake and are still open."""
        return sum(self._fds.values())

    def observe(self, message: Any) -> None:
        """Update from one decoded monitor message (``zmq.utils.monitor``)."""
        kind = message["event"]
        fds = self._fds
        if kind == zmq.EVENT_ACCEPTED:
            fds[int(message["value"])] = False
        elif kind == zmq.EVENT_DISCONNECTED:
            if fds.pop(int(message["value"]), False) and self._log_as:
                event(log, logging.INFO, f"{self._log_as} disconnected", count=self.connected)
        else:
            pending = next((fd for fd, ok in fds.items() if not ok), None)
            if pending is None:
                return
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                fds[pending] = True
                if self._log_as:
                    event(log, logging.INFO, f"{self._log_as} connected", count=self.connected)
            else:  # refused (ZAP) or a broken handshake: the connection is about to close
                del fds[pending]
