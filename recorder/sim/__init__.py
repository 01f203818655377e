"""The LX/1 exchange simulator: a pure matching engine, a sequencing layer, background liquidity,
fault injection, a pure session driver and the ZeroMQ/CURVE server around them.

Layers (pure first): :mod:`~recorder.sim.engine` (books and matching, the ground truth),
:mod:`~recorder.sim.exchange` (runs, seqs, replay record, heartbeats),
:mod:`~recorder.sim.faults` (what reaches the wire), :mod:`~recorder.sim.liquidity` (seeded
bots), :mod:`~recorder.sim.session` (frame streams without sockets) and, with I/O,
:mod:`~recorder.sim.server` and :mod:`~recorder.sim.control`; :mod:`~recorder.sim.failures`
decides what the server's loop logs of its own bugs.
"""

from recorder.sim.engine import Engine
from recorder.sim.exchange import REPLAY_CAP, Delivery, Exchange, Now, RequestFailure
from recorder.sim.faults import FaultEvent, FaultKind, FaultPlan, Transmission
from recorder.sim.liquidity import Liquidity, LiquidityConfig
from recorder.sim.model import (
    BookView,
    Contract,
    Fill,
    Outbound,
    RestingOrder,
    default_contracts,
    is_valid_mid,
)
from recorder.sim.session import (
    ScheduledFault,
    Session,
    SessionConfig,
    WireFrame,
    frames_for,
    simulate,
)

__all__ = [
    "REPLAY_CAP",
    "BookView",
    "Contract",
    "Delivery",
    "Engine",
    "Exchange",
    "FaultEvent",
    "FaultKind",
    "FaultPlan",
    "Fill",
    "Liquidity",
    "LiquidityConfig",
    "Now",
    "Outbound",
    "RequestFailure",
    "RestingOrder",
    "ScheduledFault",
    "Session",
    "SessionConfig",
    "Transmission",
    "WireFrame",
    "default_contracts",
    "frames_for",
    "is_valid_mid",
    "simulate",
]
