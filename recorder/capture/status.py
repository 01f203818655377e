"""The capture service's status: a value, and the small control socket that serves it.

The service binds a plain REP socket (``[capture] status_bind``; loopback, no CURVE). A request is
a JSON object ``{"op": "status"}`` in one message part; the reply is ``{"ok": true, "result":
{...}}`` with the fields of :class:`CaptureStatus`. Anything else (several parts, bytes that are
not such an object, however odd) is answered ``{"ok": false, "error": "..."}``: every request gets
one reply, so the REP socket stays usable and the capture loop serves on.
:func:`query_status` is the client side (``recorder capture status``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import zmq

from recorder.errors import CaptureError

log = logging.getLogger("recorder.capture")


@dataclass(frozen=True, slots=True)
class CaptureStatus:
    """A snapshot of a running capture service."""

    session_id: int
    participant: str
    upstream_order: str
    upstream_market: str
    uptime_s: float
    frames: int
    """Frames journaled in this session (both channels, both directions)."""
    frames_per_s: float
    """Frames journaled per second over the last second."""
    to_exchange: int
    from_exchange: int
    market: int
    journal_bytes: int
    """The journal file plus its WAL."""
    open_gaps: int
    gaps_detected: int
    pending_requests: int
    """The service's own requests (replays, snapshots) still unanswered."""
    bots_connected: int
    """Authenticated order-channel connections."""
    market_subscribers: int
    not_delivered: int
    """Frames a bot could not take (gone, or its queue full); they are in the journal."""
    committer_pid: int | None = None
    """The journal's committer process (None: the capture loop commits)."""
    upstream: str = "connected"
    """``connected``, or ``silent``: no message from the exchange on a channel for
    ``heartbeat_ms`` x ``[capture] heartbeat_factor``, and none since (the service reconnects)."""
    reconnects: int = 0
    """Upstream reconnections since the service started (each began a journal session)."""
    heartbeat_ms: int = 0
    """The exchange's heartbeat interval the watch uses: the one its last heartbeat announced,
    ``[capture] heartbeat_ms`` until the first."""

    def as_dict(self) -> dict[str, Any]:
        """The status as plain JSON-able values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaptureStatus:
        """Read what :meth:`as_dict` wrote (unknown keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def line(self) -> str:
        """A one-line human summary."""
        return (
            f"session {self.session_id}: {self.frames} frames ({self.frames_per_s:.0f}/s), "
            f"journal {self.journal_bytes / 1e6:.1f} MB, open gaps {self.open_gaps}, "
            f"bots {self.bots_connected}, subscribers {self.market_subscribers}, "
            f"upstream {self.upstream} ({self.reconnects} reconnects, heartbeat "
            f"{self.heartbeat_ms} ms)"
        )


def answer(request: Sequence[bytes], status: Callable[[], CaptureStatus]) -> bytes:
    """The control socket's reply to one request (its message parts); ``status`` is called
    only for a well-formed request. Never raises: whatever the request holds, or should
    ``status`` fail, the reply is a refusal (a REP socket owes every request one reply)."""
    try:
        if len(request) != 1:
            return _refusal(f"a status request is one message part, not {len(request)}")
        try:
            decoded = json.loads(request[0])
        except (ValueError, RecursionError):  # not JSON (or not UTF-8), or nested too deep
            decoded = None
        if not isinstance(decoded, dict) or decoded.get("op") != "status":
            return _refusal('unknown request; send {"op": "status"}')
        return json.dumps({"ok": True, "result": status().as_dict()}).encode()
    except Exception as exc:  # a bug: the request still gets its reply, the loop serves on
        log.exception("status request %r failed", [part[:200] for part in request[:3]])
        return _refusal(f"internal error: {type(exc).__name__}: {exc}")


def _refusal(error: str) -> bytes:
    return json.dumps({"ok": False, "error": error}).encode()


def query_status(endpoint: str, timeout_s: float = 2.0) -> CaptureStatus:
    """Ask the capture service at ``endpoint`` (its ``status_bind``) for its status.

    Raises :class:`~recorder.errors.CaptureError` when nothing answers within ``timeout_s``.
    """
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    try:
        sock.connect(endpoint)
        sock.send(json.dumps({"op": "status"}).encode())
        if not sock.poll(int(timeout_s * 1000)):
            raise CaptureError(
                f"no capture service answered on {endpoint} within {timeout_s} s; "
                "is `recorder capture` running with this [capture] status_bind?"
            )
        reply = json.loads(sock.recv())
    except zmq.ZMQError as exc:
        raise CaptureError(f"cannot reach the capture service at {endpoint}: {exc}") from exc
    finally:
        sock.close()
    if not reply.get("ok"):
        raise CaptureError(f"the capture service refused the status request: {reply.get('error')}")
    return CaptureStatus.from_dict(reply["result"])
