"""Test helpers: a bare CURVE LX/1 client over real sockets, and request builders."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import zmq

from recorder.config import SimConfig
from recorder.keys import KeyPair
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import MVERSION, make_envelope

LOOPBACK = "tcp://127.0.0.1:*"
TIMEOUT = 5.0


def sim_config(**overrides: object) -> SimConfig:
    """A test configuration: random ports, fast heartbeats, no background liquidity by default."""
    values: dict[str, object] = {
        "order_bind": LOOPBACK,
        "market_bind": LOOPBACK,
        "control_bind": LOOPBACK,
        "heartbeat_ms": 60_000,  # tests call server.beat() when they need one
        "makers": 0,
        "takers": 0,
        "contracts": 3,
    }
    values.update(overrides)
    return SimConfig(**values)  # type: ignore[arg-type]


class Client:
    """A bare LX/1 participant: a CURVE DEALER (order channel) and SUB (market channel)."""

    def __init__(self, server: SimServer, keys: KeyPair, *, market: bool = False) -> None:
        assert server.endpoints is not None
        self.server = server
        self.keys = keys
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.dealer = self._socket(zmq.DEALER)
        self.dealer.connect(server.endpoints.order)
        self.sub: zmq.Socket[bytes] | None = None
        if market:
            self.sub = self._socket(zmq.SUB)
            self.sub.setsockopt(zmq.SUBSCRIBE, b"")
            self.sub.connect(server.endpoints.market)
        self.seq = 0
        self.received: list[bytes] = []  # every order-channel frame, as it came
        self.market: list[bytes] = []

    def _socket(self, kind: int) -> zmq.Socket[bytes]:
        sock = self.ctx.socket(kind)
        sock.linger = 0
        sock.curve_serverkey = self.server.public_key
        sock.curve_publickey = self.keys.public
        assert self.keys.private is not None
        sock.curve_secretkey = self.keys.private
        return sock

    @property
    def key(self) -> str:
        return self.keys.public_text

    def close(self) -> None:
        self.ctx.destroy(linger=0)

    def send_raw(self, *parts: bytes) -> None:
        self.dealer.send_multipart(list(parts))

    def send(self, body: object, mid: str | None = None) -> str:
        """Send a request; returns its mid."""
        mid = mid or uuid.uuid4().hex
        self.seq += 1
        envelope = make_envelope(body, mid=mid, seq=self.seq, timestamp=time.time_ns())  # type: ignore[arg-type]
        self.dealer.send(envelope.SerializeToString())
        return mid

    def recv(self, timeout: float = TIMEOUT, *, heartbeats: bool = False) -> pb.Envelope:
        """The next order-channel envelope (heartbeats skipped unless asked for)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.dealer.poll(int(left * 1000)):
                raise TimeoutError("no order-channel message in time")
            data = self.dealer.recv()
            self.received.append(data)
            envelope = pb.Envelope.FromString(data)
            if heartbeats or envelope.WhichOneof("body") != "heartbeat":
                return envelope

    def recv_until(
        self, done: Callable[[pb.Envelope], bool], timeout: float = TIMEOUT, **kw: bool
    ) -> list[pb.Envelope]:
        """Receive until ``done(envelope)`` is true; return everything received (inclusive)."""
        out: list[pb.Envelope] = []
        deadline = time.monotonic() + timeout
        while True:
            envelope = self.recv(max(deadline - time.monotonic(), 0.001), **kw)
            out.append(envelope)
            if done(envelope):
                return out

    def silent(self, seconds: float) -> bool:
        """True when nothing but heartbeats arrives on the order channel for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if not self.dealer.poll(int(left * 1000) + 1):
                return True
            data = self.dealer.recv()
            if pb.Envelope.FromString(data).WhichOneof("body") != "heartbeat":
                return False
        return True

    def request(self, body: object, mid: str | None = None) -> list[pb.Envelope]:
        """Send a request and a ping (GetContracts for contract 1) and return everything up to
        the ping's DONE: the channel is ordered, so the request's replies are all in."""
        mid = self.send(body, mid)
        ping = self.send(pb.GetContracts(contract_id=1))
        out = self.recv_until(lambda e: e.mid == ping and e.status.code == pb.DONE)
        return [e for e in out if e.mid != ping]

    def market_recv(self, timeout: float = TIMEOUT, *, heartbeats: bool = False) -> pb.Envelope:
        """The next market-channel envelope."""
        assert self.sub is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sub.poll(int(left * 1000)):
                raise TimeoutError("no market-channel message in time")
            data = self.sub.recv()
            self.market.append(data)
            envelope = pb.Envelope.FromString(data)
            if heartbeats or envelope.WhichOneof("body") != "heartbeat":
                return envelope

    def market_ready(self, timeout: float = TIMEOUT) -> None:
        """Ask for heartbeats until one arrives on the market channel: the subscription is live."""
        assert self.sub is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.server.beat()
            if self.sub.poll(50):
                while self.sub.poll(0):
                    self.market.append(self.sub.recv())
                return
        raise TimeoutError("the market subscription never became live")


def limit(
    contract_id: int = 1,
    *,
    is_ask: bool = False,
    size: int = 1,
    price: int = 5000,
    ioc: bool = False,
) -> pb.LimitOrder:
    """A LimitOrder body."""
    return pb.LimitOrder(
        contract_id=contract_id,
        is_ask=is_ask,
        size=size,
        price_in_cents=price,
        time_in_force=pb.IOC if ioc else pb.GTC,
    )


def envelope_bytes(body: object, mid: str, mversion: str = MVERSION) -> bytes:
    """Encode a request by hand (for tests that break the codec's rules)."""
    envelope = make_envelope(body, mid=mid)  # type: ignore[arg-type]
    envelope.mversion = mversion
    return envelope.SerializeToString()
