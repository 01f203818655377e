"""The capture tests' harness: a simulator, a journal, the service, plain-pyzmq bots.

The bots (plain_bot.py) use ``lx1_pb2`` generated here from the project's lx1.proto with
``grpc_tools.protoc``, as a bot in another code base would; nothing of ``recorder`` is imported
by them. Everything runs on loopback ports chosen by the OS, with CURVE on every socket.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grpc_tools import protoc

_PROTO_DIR = Path(__file__).resolve().parents[2] / "recorder" / "venues" / "lx"
_GENERATED = Path(tempfile.mkdtemp(prefix="lx1-pb-"))
atexit.register(shutil.rmtree, _GENERATED, ignore_errors=True)
if protoc.main(["protoc", f"-I{_PROTO_DIR}", f"--python_out={_GENERATED}", "lx1.proto"]) != 0:
    raise RuntimeError("protoc could not compile lx1.proto")
sys.path.insert(0, str(_GENERATED))
sys.path.insert(0, str(Path(__file__).parent))

from plain_bot import PlainBot  # noqa: E402

from recorder.capture import CaptureService  # noqa: E402
from recorder.config import SimConfig  # noqa: E402
from recorder.journal import Journal  # noqa: E402
from recorder.keys import KeyPair  # noqa: E402
from recorder.sim.server import SimServer  # noqa: E402

LOOPBACK = "tcp://127.0.0.1:*"


def sim_config(**overrides: object) -> SimConfig:
    """Random ports, fast heartbeats, quiet unless liquidity is asked for."""
    values: dict[str, object] = {
        "order_bind": LOOPBACK,
        "market_bind": LOOPBACK,
        "control_bind": LOOPBACK,
        "heartbeat_ms": 100,
        "makers": 0,
        "takers": 0,
        "contracts": 3,
        "liquidity_interval_ms": 20,
    }
    values.update(overrides)
    return SimConfig(**values)  # type: ignore[arg-type]


@dataclass
class Stack:
    """A running simulator, journal and capture service, and the bots made on it."""

    sim: SimServer
    journal: Journal
    service: CaptureService
    keys: KeyPair
    participant: KeyPair
    bots: list[PlainBot] = field(default_factory=list)

    @property
    def who(self) -> str:
        return self.participant.public_text

    def bot(self, keys: KeyPair | None = None, *, market: bool = True) -> PlainBot:
        """A plain bot connected to the service (the participant's key pair by default)."""
        keys = keys or self.participant
        assert self.service.endpoints is not None and keys.private is not None
        bot = PlainBot(
            self.service.endpoints.order,
            self.service.endpoints.market if market else None,
            server_key=self.keys.public,
            public=keys.public,
            secret=keys.private,
        )
        self.bots.append(bot)
        return bot

    def direct(self, keys: KeyPair) -> PlainBot:
        """A plain bot connected to the simulator itself (another participant)."""
        endpoints = self.sim.endpoints
        assert endpoints is not None and keys.private is not None
        bot = PlainBot(
            endpoints.order, None, server_key=self.sim.public_key, public=keys.public,
            secret=keys.private,
        )  # fmt: skip
        self.bots.append(bot)
        return bot

    def market_barrier(self, bot: PlainBot) -> None:
        """Wait until ``bot`` has every market message the exchange published so far."""
        last = self.sim.call(lambda: self.sim.exchange.market_seq)
        seen = 0
        while seen < last:
            envelope = bot.market_recv()
            if envelope is not None and envelope.run_id:
                seen = envelope.seq

    def stop(self) -> None:
        self.service.stop("test finished")
