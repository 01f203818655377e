"""A third-party LX/1 bot: plain pyzmq and the protobuf module protoc makes from lx1.proto.

It imports nothing from ``recorder``: ``lx1_pb2`` is generated from
``recorder/venues/lx/lx1.proto`` by ``grpc_tools.protoc`` into a temporary folder at test time
(see conftest.py), exactly as a bot in another code base would generate it. It keeps every
frame it sends and receives, as bytes, in order, for byte-for-byte checks against the journal.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import lx1_pb2 as pb  # type: ignore[import-not-found]
import zmq

TIMEOUT = 10.0


class PlainBot:
    """A DEALER (order channel) and a SUB (market channel), CURVE clients, like any LX/1 bot."""

    def __init__(
        self,
        order_endpoint: str,
        market_endpoint: str | None,
        *,
        server_key: bytes,
        public: bytes,
        secret: bytes,
    ) -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._keys = (server_key, public, secret)
        self.dealer = self._socket(zmq.DEALER)
        self.dealer.connect(order_endpoint)
        self.sub: zmq.Socket[bytes] | None = None
        if market_endpoint is not None:
            self.sub = self._socket(zmq.SUB)
            self.sub.setsockopt(zmq.SUBSCRIBE, b"")
            self.sub.connect(market_endpoint)
        self.seq = 0
        self.sent: list[bytes] = []
        self.received: list[bytes] = []
        self.market: list[bytes] = []

    def _socket(self, kind: int) -> zmq.Socket[bytes]:
        server_key, public, secret = self._keys
        sock = self.ctx.socket(kind)
        sock.linger = 0
        sock.curve_serverkey = server_key
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        return sock

    def close(self) -> None:
        self.ctx.destroy(linger=0)

    # ------------------------------------------------------------------ sending

    def send(self, field: str, body: Any, mid: str | None = None) -> str:
        """Send a request (``field`` is the envelope's body field name); returns its mid."""
        mid = mid or uuid.uuid4().hex
        self.seq += 1
        envelope = pb.Envelope(
            mid=mid,
            seq=self.seq,
            timestamp=time.time_ns(),
            ticks=time.monotonic_ns(),
            mversion="1.0",
        )
        getattr(envelope, field).CopyFrom(body)
        data = envelope.SerializeToString()
        self.send_raw(data)
        return mid

    def send_raw(self, *parts: bytes) -> None:
        """Send bytes as they are (several parts make a multi-part message)."""
        self.sent.append(b"".join(parts))
        self.dealer.send_multipart(list(parts))

    # ------------------------------------------------------------------ receiving

    def recv_data(self, timeout: float = TIMEOUT) -> bytes:
        """The next order-channel message's bytes."""
        if not self.dealer.poll(int(timeout * 1000)):
            raise TimeoutError("no order-channel message in time")
        data = self.dealer.recv()
        self.received.append(data)
        return data

    def recv(self, timeout: float = TIMEOUT) -> Any:
        """The next parseable order-channel envelope, heartbeats included."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.recv_data(max(deadline - time.monotonic(), 0.001))
            try:
                return pb.Envelope.FromString(data)
            except Exception:  # garbage: kept in self.received, not returned
                continue

    def recv_until(self, done: Callable[[Any], bool], timeout: float = TIMEOUT) -> list[Any]:
        """Receive until ``done(envelope)``; return everything received, inclusive."""
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while True:
            envelope = self.recv(max(deadline - time.monotonic(), 0.001))
            out.append(envelope)
            if done(envelope):
                return out

    def request(self, field: str, body: Any, mid: str | None = None) -> list[Any]:
        """Send a request and a ping (``GetContracts`` of contract 1); return every envelope up
        to the ping's DONE but heartbeats and the ping's own (the channel is ordered)."""
        mid = self.send(field, body, mid)
        ping = self.ping_send()
        out = self.recv_until(lambda e: e.mid == ping and e.status.code == pb.DONE)
        return [e for e in out if e.mid != ping and e.WhichOneof("body") != "heartbeat"]

    def ping_send(self) -> str:
        return self.send("get_contracts", pb.GetContracts(contract_id=1))

    def ping(self) -> list[Any]:
        """A round trip: everything received up to the ping's DONE."""
        ping = self.ping_send()
        return self.recv_until(lambda e: e.mid == ping and e.status.code == pb.DONE)

    def market_recv(self, timeout: float = TIMEOUT) -> Any:
        """The next market-channel envelope (None for bytes that do not parse)."""
        assert self.sub is not None
        if not self.sub.poll(int(timeout * 1000)):
            raise TimeoutError("no market-channel message in time")
        data = self.sub.recv()
        self.market.append(data)
        try:
            return pb.Envelope.FromString(data)
        except Exception:
            return None

    def drain_market(self) -> None:
        """Take every market message already queued."""
        assert self.sub is not None
        while self.sub.poll(0):
            self.market_recv(0)


def limit(contract_id: int = 1, *, is_ask: bool, size: int, price: int, ioc: bool = False) -> Any:
    """A LimitOrder body."""
    return pb.LimitOrder(
        contract_id=contract_id,
        is_ask=is_ask,
        size=size,
        price_in_cents=price,
        time_in_force=pb.IOC if ioc else pb.GTC,
    )


PB = pb
