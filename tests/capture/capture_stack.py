"""The capture tests' harness: a simulator, a journal, the service, plain-pyzmq bots.

The bots (plain_bot.py) use ``lx1_pb2`` generated here from the project's lx1.proto with
``grpc_tools.protoc``, as a bot in another code base would; nothing of ``recorder`` is imported
by them. Everything runs on loopback ports chosen by the OS, with CURVE on every socket.
"""

from __future__ import annotations

import atexit
import dataclasses
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from grpc_tools import protoc

_PROTO_DIR = Path(__file__).resolve().parents[2] / "recorder" / "venues" / "lx"
_GENERATED = Path(tempfile.mkdtemp(prefix="lx1-pb-"))
atexit.register(shutil.rmtree, _GENERATED, ignore_errors=True)
if protoc.main(["protoc", f"-I{_PROTO_DIR}", f"--python_out={_GENERATED}", "lx1.proto"]) != 0:
    raise RuntimeError("protoc could not compile lx1.proto")
sys.path.insert(0, str(_GENERATED))
sys.path.insert(0, str(Path(__file__).parent))

from plain_bot import PB as pb  # noqa: E402
from plain_bot import PlainBot  # noqa: E402

from recorder.capture import CaptureService, Upstream  # noqa: E402
from recorder.capture.status import CaptureStatus, query_status  # noqa: E402
from recorder.config import CaptureConfig, SimConfig  # noqa: E402
from recorder.journal import Journal, open_journal  # noqa: E402
from recorder.keys import KeyPair  # noqa: E402
from recorder.sim.exchange import Now  # noqa: E402
from recorder.sim.server import SimServer  # noqa: E402

LOOPBACK = "tcp://127.0.0.1:*"
T = TypeVar("T")


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

    def status_when(self, check: Callable[[CaptureStatus], bool]) -> CaptureStatus:
        """Ask the status socket until its answer passes ``check`` (it reads the connection
        events first: a bot that has gone is counted out once the service knows)."""
        endpoints = self.service.endpoints
        assert endpoints is not None

        def passing() -> CaptureStatus | None:
            status = query_status(endpoints.status)
            return status if check(status) else None

        return wait_until(passing)

    def exchange_seq_of(self, mid: str) -> int:
        """Wait until the exchange has sent this participant a message under ``mid`` (it is in
        the exchange's record, whether or not a fault kept it off the wire); its seq."""

        def sent() -> int | None:
            for data in reversed(self.sim.call(lambda: self.sim.exchange.sent(self.who))):
                envelope = pb.Envelope.FromString(data)
                if envelope.mid == mid:
                    return int(envelope.seq)
            return None

        return wait_until(sent)

    def restart_exchange(
        self, participants: Iterable[bytes], *, while_down: Callable[[], object] = lambda: None
    ) -> str:
        """Stop the simulator (its sockets closed, its state gone, as a killed exchange's), call
        ``while_down``, then start a new one on the same endpoints, allowing ``participants``;
        its run id."""
        old = self.sim
        endpoints = old.endpoints
        assert endpoints is not None
        old.stop()
        while_down()
        config = dataclasses.replace(
            old.config,
            order_bind=endpoints.order,
            market_bind=endpoints.market,
            control_bind=endpoints.control,
        )
        self.sim = SimServer(
            config, keys=old.keys, participants=participants, liquidity=False, record_frames=True
        )
        self.sim.start()
        return self.sim.run_id

    def stop(self) -> None:
        self.service.stop("test finished")


def open_stack(
    path: Path,
    *,
    exchange: KeyPair,
    service: KeyPair,
    participant: KeyPair,
    counterparties: Iterable[KeyPair] = (),
    bots: Iterable[KeyPair] = (),
    sim: SimConfig | None = None,
    liquidity: bool = False,
    durability: str = "safe",
    before_capture: Callable[[SimServer], object] = lambda sim: None,
    **options: Any,
) -> Stack:
    """A simulator (quiet, :func:`sim_config` unless ``sim``), a journal at ``path`` (as
    `recorder capture` opens it) and a capture service started in the background with
    ``options`` (its keyword arguments; its heartbeat interval the simulator's unless given);
    the participant and ``bots`` may connect to it, ``counterparties`` to the simulator.
    ``before_capture`` is called with the running simulator before the service connects."""
    sim = sim or sim_config()
    server = SimServer(
        sim,
        keys=exchange,
        participants=[participant.public, *(k.public for k in counterparties)],
        liquidity=liquidity,
        record_frames=True,
    )
    endpoints = server.start()
    before_capture(server)
    journal = open_journal(
        path,
        durability=durability,  # type: ignore[arg-type]
        committer=CaptureConfig().committer,
    )
    capture = CaptureService(
        journal,
        keys=service,
        participant=participant,
        upstream=Upstream(endpoints.order, endpoints.market, exchange.public),
        bot_keys=[participant.public, *(k.public for k in bots)],
        # The simulator's heartbeat interval, and a watch slow enough (20 intervals) that a
        # loaded machine's stall is not taken for a lost upstream (the reconnect tests set theirs).
        **{
            "replay_timeout_ms": 1000,
            "status_log_s": 0,
            "heartbeat_ms": sim.heartbeat_ms,
            "heartbeat_factor": 20,
        }
        | options,
    )
    capture.start_background()
    return Stack(server, journal, capture, service, participant)


def build_history(sim: SimServer, participant: KeyPair, count: int) -> int:
    """Give ``participant`` at least ``count`` order-channel messages in the simulator's run,
    as an earlier session of it would have (each a ``GetContracts`` of contract 1 answered
    while nobody listens: the exchange keeps them for ``MessageReplay``); the last seq."""
    who = participant.public_text
    request = pb.Envelope(mversion="1.0", get_contracts=pb.GetContracts(contract_id=1))

    def answer() -> int:
        exchange = sim.exchange
        while exchange.last_seq(who) < count:
            request.mid = uuid.uuid4().hex
            exchange.receive(who, [request.SerializeToString()], Now(time.time_ns(), 0))
        return exchange.last_seq(who)

    return sim.call(answer, timeout=60.0)


def wait_until(condition: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Poll ``condition`` (every 5 ms) until it gives something other than None; that."""
    deadline = time.monotonic() + timeout
    while (value := condition()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{condition} still None after {timeout} s")
        time.sleep(0.005)
    return value
