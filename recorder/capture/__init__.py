"""The capture service: a proxy any bot connects to instead of the exchange.

It journals every frame in both directions before forwarding it, routes the exchange's replies
back to the bot connection that asked, and fills its own gaps (``MessageReplay`` on the order
channel, ``GetBookState`` on the market channel). Layers (pure first):
:mod:`~recorder.capture.routing`, :mod:`~recorder.capture.recovery`, then, with I/O,
:mod:`~recorder.capture.service`, :mod:`~recorder.capture.status` and
:mod:`~recorder.capture.runner` (``recorder capture``).
"""

from recorder.capture.recovery import GapFiller, OpenGap, Outcomes, SendRequest, UpdateGap
from recorder.capture.routing import SERVICE, Routes
from recorder.capture.runner import CaptureKeys, capture_keys, run_capture
from recorder.capture.service import CaptureService
from recorder.capture.sockets import CaptureEndpoints, Upstream
from recorder.capture.status import CaptureStatus, query_status

__all__ = [
    "SERVICE",
    "CaptureEndpoints",
    "CaptureKeys",
    "CaptureService",
    "CaptureStatus",
    "GapFiller",
    "OpenGap",
    "Outcomes",
    "Routes",
    "SendRequest",
    "UpdateGap",
    "Upstream",
    "capture_keys",
    "query_status",
    "run_capture",
]
