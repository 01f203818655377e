"""The capture service's status: a value, and the small control socket that serves it.

The service binds a plain REP socket (``[capture] status_bind``; loopback, no CURVE). A request is
a JSON object ``{"op": "status"}``; the reply is ``{"ok": true, "result": {...}}`` with the fields
of :class:`CaptureStatus`. :func:`query_status` is the client side (``recorder capture status``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import zmq

from recorder.errors import CaptureError


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
            f"bots {self.bots_connected}, subscribers {self.market_subscribers}"
        )


def answer(request: bytes, status: CaptureStatus) -> bytes:
    """The control socket's reply to one request."""
    try:
        op = json.loads(request).get("op")
    except (ValueError, AttributeError):
        op = None
    if op != "status":
        return json.dumps({"ok": False, "error": 'unknown request; send {"op": "status"}'}).encode()
    return json.dumps({"ok": True, "result": status.as_dict()}).encode()


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
