"""The simulator's control socket: JSON requests over ZeroMQ REQ/REP.

The server binds a REP socket on ``[sim] control_bind`` (plain TCP, no CURVE: bind it to
loopback). A request is one JSON object ``{"op": ..., ...}``; the reply is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. Operations:

=================  ==========================================================  ==================
op                 arguments                                                   does
=================  ==========================================================  ==================
``status``         —                                                           run, seqs, faults,
                                                                               internal errors
``events``         ``last`` (default 50)                                       recent fault log
``drop_next``      ``participant``, ``count``, ``replies_only`` (false)        seq gap
``drop_ack``       ``participant``                                             S1
``drop_after_ack`` ``participant``                                             S2
``drop_requests``  ``participant``, ``count``                                  lost requests
``drop_market``    ``count``                                                   market/clock gap
``duplicate``      ``participant``, ``count``                                  resend a message
``delay``          ``participant``, ``ms``, ``count``                          late messages
``disconnect``     ``participant``                                             cut connections
``restart``        —                                                           new run
``garbage``        ``participant`` (or null: market), ``size``                 non-envelope bytes
``clear``          ``participant`` (optional)                                  disarm faults
=================  ==========================================================  ==================

``participant`` is the participant's z85 public key. :class:`ControlClient` is the client side
(used by ``recorder sim fault ...``); :func:`handle_control` runs inside the server's loop.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import zmq

from recorder.core.frames import Channel
from recorder.errors import RecorderError, SimulatorError
from recorder.sim.failures import Step

if TYPE_CHECKING:
    from recorder.sim.server import SimServer

log = logging.getLogger("recorder.sim.control")

OPS = (
    "status",
    "events",
    "drop_next",
    "drop_ack",
    "drop_after_ack",
    "drop_requests",
    "drop_market",
    "duplicate",
    "delay",
    "disconnect",
    "restart",
    "garbage",
    "clear",
)
"""Every control operation."""


def handle_control(server: SimServer, request: bytes) -> bytes:
    """Execute one control request in the server's loop thread; return the JSON reply."""
    try:
        args = json.loads(request)
        if not isinstance(args, dict):
            raise ValueError("a control request is a JSON object")
        result = _execute(server, args)
        reply: dict[str, Any] = {"ok": True, "result": result}
    except (ValueError, KeyError, TypeError, RecorderError) as exc:
        reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # a bug: the REP socket still owes an answer, the loop serves on
        server._failed(
            Step.CONTROL, exc, f"control request {request[:200]!r} failed inside the simulator"
        )
        reply = {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}
    return json.dumps(reply).encode("utf-8")


def _execute(server: SimServer, args: dict[str, Any]) -> Any:
    op = args.get("op")
    faults = server.faults
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; known: {', '.join(OPS)}")
    if op == "status":
        return server._status()
    if op == "events":
        events = faults.events[-int(args.get("last", 50)) :]
        return [
            {
                "wall_ns": e.wall_ns,
                "kind": e.kind.value,
                "participant": e.participant,
                "detail": e.detail,
            }
            for e in events
        ]
    if op == "restart":
        return server._restart()
    if op == "drop_market":
        faults.drop_market(int(args["count"]))
        return None
    if op == "clear":
        faults.clear(args.get("participant"))
        return None
    if op == "garbage":
        who = args.get("participant")
        channel = Channel.MARKET if who is None else Channel.ORDER
        return len(server._garbage(who, int(args.get("size", 16)), channel))
    participant = str(args["participant"])
    if participant not in server.engine.participants:
        raise SimulatorError(f"unknown participant {participant!r}")
    if op == "drop_next":
        replies_only = args.get("replies_only", False)
        if not isinstance(replies_only, bool):
            raise SimulatorError(
                f"drop_next: replies_only must be true or false, not {replies_only!r}"
            )
        faults.drop_next(participant, int(args["count"]), replies_only=replies_only)
    elif op == "drop_ack":
        faults.drop_ack(participant)
    elif op == "drop_after_ack":
        faults.drop_after_ack(participant)
    elif op == "drop_requests":
        faults.drop_requests(participant, int(args["count"]))
    elif op == "duplicate":
        faults.duplicate_next(participant, int(args.get("count", 1)))
    elif op == "delay":
        faults.delay(participant, int(args["ms"]), int(args.get("count", 1)))
    elif op == "disconnect":
        server._disconnect(participant)
    return None


class ControlClient:
    """Talks to a running simulator's control socket."""

    def __init__(self, endpoint: str, *, timeout_ms: int = 3000) -> None:
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms

    def request(self, op: str, **args: Any) -> Any:
        """Send one operation and return its result; raises :class:`SimulatorError` on failure."""
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sock = ctx.socket(zmq.REQ)
        sock.linger = 0
        sock.rcvtimeo = self.timeout_ms
        sock.sndtimeo = self.timeout_ms
        try:
            sock.connect(self.endpoint)
            sock.send(json.dumps({"op": op, **args}).encode("utf-8"))
            try:
                reply = json.loads(sock.recv())
            except zmq.Again as exc:
                raise SimulatorError(
                    f"no reply from the simulator's control socket {self.endpoint} within "
                    f"{self.timeout_ms} ms; is `recorder sim` running?"
                ) from exc
        finally:
            sock.close()
        if not reply.get("ok"):
            raise SimulatorError(f"the simulator refused {op}: {reply.get('error')}")
        return reply.get("result")
