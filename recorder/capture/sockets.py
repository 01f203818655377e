"""The capture service's socket-side values: endpoints, the ZAP allow-list, connected peers."""

from __future__ import annotations

import enum
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


class _Handshake(enum.Enum):
    """Where one accepted connection stands, as far as :class:`Peers` can tell."""

    PENDING = "pending"
    AUTHENTICATED = "authenticated"
    REFUSED = "refused"
    """The ZAP handler said no; the connection is still open until its peer leaves or the
    handshake timeout (``HANDSHAKE_IVL``) closes it."""


class Peers:
    """Authenticated connections of one bot-facing socket, from its monitor events.

    ``ACCEPTED`` and ``DISCONNECTED`` carry the connection's file descriptor; a handshake event
    carries none (libzmq 4.3's monitor v1; v2, which names the peer, is a draft API this libzmq
    does not export). A handshake's outcome (succeeded, refused by ZAP) is credited to the oldest
    connection still pending: connections that complete a handshake do so in accept order. One
    that never completes it (a port probe, a health check, a client that died mid-connect)
    breaks that order, but gives itself away as it goes: libzmq emits
    ``HANDSHAKE_FAILED_NO_DETAIL`` (its peer left, or ``HANDSHAKE_IVL`` ran out) or ``_PROTOCOL``
    and right after it, from the context's one I/O thread, its ``DISCONNECTED``. An outcome it
    was credited with was another pending connection's, which takes it then. Not so a refusal
    (``_FAILED_AUTH``): the refused connection stays open until its peer leaves or the handshake
    times out, and its ``DISCONNECTED`` comes alone, maybe after other connections' events.

    What the events cannot tell apart: until such a probe goes (``HANDSHAKE_IVL`` at most), a bot
    that connected after it and has left is still counted; and a peer whose greeting is not
    ZMTP 3 leaves with no handshake event, so one that sent it only after another bot's whole
    handshake takes that bot's credit away with it.
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
        self._fds: dict[int, _Handshake] = {}  # open connections, in accept order
        self._failed = False  # the next DISCONNECTED is of a connection that never handshook
        self._log_as = log_as

    @property
    def connected(self) -> int:
        """How many connections completed the CURVE handshake and are still open."""
        return sum(state is _Handshake.AUTHENTICATED for state in self._fds.values())

    def observe(self, message: Any) -> None:
        """Update from one decoded monitor message (``zmq.utils.monitor``)."""
        kind = message["event"]
        if kind == zmq.EVENT_ACCEPTED:
            self._fds[int(message["value"])] = _Handshake.PENDING
        elif kind == zmq.EVENT_DISCONNECTED:
            state = self._fds.pop(int(message["value"]), None)
            if self._failed:  # it never completed a handshake: an outcome it has is another's
                self._failed = False
                if state in (_Handshake.AUTHENTICATED, _Handshake.REFUSED):
                    self._credit(state)
            elif state is _Handshake.AUTHENTICATED and self._log_as:
                event(log, logging.INFO, f"{self._log_as} disconnected", count=self.connected)
        elif kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            if self._credit(_Handshake.AUTHENTICATED) and self._log_as:
                event(log, logging.INFO, f"{self._log_as} connected", count=self.connected)
        elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            self._credit(_Handshake.REFUSED)
        else:  # no detail, or protocol: its DISCONNECTED comes next
            self._failed = True

    def _credit(self, outcome: _Handshake) -> bool:
        """Give a handshake's outcome to the oldest connection still pending (False: none)."""
        pending = next((fd for fd, s in self._fds.items() if s is _Handshake.PENDING), None)
        if pending is None:
            return False
        self._fds[pending] = outcome
        return True
