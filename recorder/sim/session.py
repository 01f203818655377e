"""The pure session driver: realistic LX/1 frame streams from the simulator, without sockets.

Use it to produce ground-truth traffic for the projector, the journal and benchmarks::

    from recorder.sim.session import Session, SessionConfig, ScheduledFault, frames_for
    from recorder.sim.faults import FaultKind

    session = Session(SessionConfig(seed=7, steps=5_000, restart_at=(3_000,),
                                    faults=(ScheduledFault(1_000, FaultKind.DROP_NEXT,
                                                           "client-1", count=3),)))
    frames = list(session.run())           # every WireFrame, in wire order
    mine = frames_for("client-1", frames)  # what client-1 sent and received (order + market)
    truth = session.engine                 # the books, open orders and fills right now

API
---

* :class:`SessionConfig` — seed, contracts, trading clients (``client-1`` ...), background makers
  and takers, number of steps, the fake clock (``start_wall_ns``, ``step_ns``), heartbeat period
  (in steps), run restarts (``restart_at`` steps) and :class:`ScheduledFault` s.
* :class:`Session` — :meth:`Session.step` advances one step and returns the frames it put on the
  wire; :meth:`Session.run` yields every frame of every remaining step. ``session.engine`` (the
  ground truth: :meth:`~recorder.sim.engine.Engine.book`,
  :meth:`~recorder.sim.engine.Engine.open_orders`, :meth:`~recorder.sim.engine.Engine.fills`),
  ``session.exchange`` (run_id, seqs, the replay record) and ``session.faults`` (the fault log)
  are there to be inspected between steps.
* :class:`WireFrame` — one frame on the wire, seen from the participant as the journal sees it:
  ``direction=OUT`` goes to the exchange, ``IN`` comes from it; ``participant=None`` is a
  market-channel frame every participant receives. ``data`` is the exact bytes.
* :func:`frames_for` — the frames one participant sent and received, market ones included.
* :func:`simulate` — ``Session(config).run()``.

Same config, same bytes: every random choice comes from ``random.Random(seed)`` and every time
from the fake clock (the wall clock starts at ``start_wall_ns`` and the monotonic one at 0,
each advancing ``step_ns`` per step).

What the trading clients do, so their streams look like a real bot's: mostly GTC and IOC limit
orders, cancels, cancel-replaces, sometimes a cancel-all, a batch, a book or open-orders query;
they track their order-channel seq and ask ``MessageReplay`` for any gap (in chunks of the
replay cap), resend a request whose first reply did not come within ``resend_after`` steps
(scenario S1), reconnect on their next turn after a ``DISCONNECT`` fault, and — at
``garbage_rate`` — send bytes that are not an envelope. Their requests' client ``seq`` counts
per connection and restarts at 1 on a reconnect.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from recorder.core.frames import Channel, Direction
from recorder.sim.engine import Engine
from recorder.sim.exchange import REPLAY_CAP, Delivery, Exchange, Now
from recorder.sim.faults import FaultKind, FaultPlan, Transmission
from recorder.sim.liquidity import Liquidity, LiquidityConfig, new_mid
from recorder.sim.model import default_contracts
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import MVERSION

_parse = pb.Envelope.FromString


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """A fault to inject at the start of ``step`` (see :mod:`recorder.sim.faults`).

    ``participant`` names a client (``"client-1"``) where the fault needs one; ``count`` is the
    N of the counted faults, ``delay_ms`` the delay of ``DELAY``.
    """

    step: int
    kind: FaultKind
    participant: str | None = None
    count: int = 1
    delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Everything that determines a session's frame stream."""

    seed: int = 7
    contracts: int = 3
    clients: int = 2
    makers: int = 3
    takers: int = 1
    steps: int = 1000
    client_share: float = 0.5
    """The share of steps in which a trading client (rather than a background bot) acts."""
    start_wall_ns: int = 1_700_000_000_000_000_000
    step_ns: int = 1_000_000
    heartbeat_every: int = 100
    """Steps between two heartbeats (0 = never)."""
    heartbeat_ms: int = 1000
    restart_at: tuple[int, ...] = ()
    faults: tuple[ScheduledFault, ...] = ()
    replay_cap: int = REPLAY_CAP
    resend_after: int = 20
    garbage_rate: float = 0.0
    record_bots: bool = False
    """Also yield the order-channel frames of the background makers and takers."""


@dataclass(frozen=True, slots=True)
class WireFrame:
    """One frame on the wire (see the module docstring for the direction convention)."""

    step: int
    participant: str | None
    channel: Channel
    direction: Direction
    data: bytes
    wall_ns: int
    mono_ns: int


class _Client:
    """A trading client's view of its own connection."""

    __slots__ = ("awaiting", "connected", "expected", "gaps", "key", "out_seq", "run_id")

    def __init__(self, key: str) -> None:
        self.key = key
        self.out_seq = 0
        self.run_id = ""
        self.expected = 1
        self.connected = True
        self.awaiting: dict[str, tuple[bytes, int]] = {}  # mid -> (request bytes, step sent)
        self.gaps: list[tuple[str, int, int]] = []  # (run_id, from_seq, to_seq) to replay

    def receive(self, data: bytes) -> None:
        envelope = _parse(data)
        if envelope.run_id != self.run_id:
            self.run_id = envelope.run_id
            self.expected = 1
            self.gaps.clear()
        if not envelope.is_replay:
            if envelope.seq > self.expected:
                self.gaps.append((self.run_id, self.expected, envelope.seq - 1))
            self.expected = max(self.expected, envelope.seq + 1)
        if envelope.WhichOneof("body") == "status":
            self.awaiting.pop(envelope.mid, None)


class Session:
    """A deterministic simulated trading session (see the module docstring)."""

    def __init__(self, config: SessionConfig | None = None) -> None:
        self.config = config = config or SessionConfig()
        self._rng = random.Random(config.seed)
        contracts = default_contracts(config.contracts)
        self.engine = Engine(contracts)
        run_rng = random.Random(config.seed ^ 0x5EED)
        self.exchange = Exchange(
            self.engine,
            lambda: f"{run_rng.getrandbits(128):032x}",
            heartbeat_ms=config.heartbeat_ms,
            replay_cap=config.replay_cap,
        )
        self.clients = tuple(f"client-{i}" for i in range(1, config.clients + 1))
        for key in self.clients:
            self.exchange.add_participant(key)
            self.exchange.attach(key)
        self.liquidity = Liquidity(contracts, LiquidityConfig(config.makers, config.takers))
        for key in self.liquidity.participants:
            self.exchange.add_participant(key)
        self.faults = FaultPlan()
        self.step_no = 0
        self._clients = {key: _Client(key) for key in self.clients}
        self._pending: list[tuple[int, int, Transmission]] = []  # (due, order, transmission)
        self._order = 0
        self._restarts = frozenset(config.restart_at)
        self._scheduled: dict[int, list[ScheduledFault]] = {}
        for fault in config.faults:
            self._scheduled.setdefault(fault.step, []).append(fault)

    @property
    def now(self) -> Now:
        """The fake clocks at the current step."""
        config = self.config
        return Now(
            config.start_wall_ns + self.step_no * config.step_ns, self.step_no * config.step_ns
        )

    def run(self) -> Iterator[WireFrame]:
        """Yield every frame of the remaining steps, then everything still delayed."""
        while self.step_no < self.config.steps:
            yield from self.step()
        yield from self._release(None)

    def step(self) -> list[WireFrame]:
        """Advance one step: faults and restarts due now, heartbeats, one request."""
        self.step_no += 1
        step, now = self.step_no, self.now
        frames: list[WireFrame] = []
        for fault in self._scheduled.get(step, ()):
            frames += self._inject(fault, now)
        if step in self._restarts:
            run_id = self.exchange.restart()
            self.faults.record(now.wall_ns, FaultKind.RESTART, None, f"new run {run_id}")
        every = self.config.heartbeat_every
        if every and step % every == 0:
            self._transmit(None, self.exchange.heartbeats(now), now)
        if self.clients and self._rng.random() < self.config.client_share:
            frames += self._client_turn(self.clients[self._rng.randrange(len(self.clients))], now)
        elif self.liquidity.participants:
            participant, data = self.liquidity.next_request(self._rng, self.engine, *now)
            frames += self._request(participant, data, now)
        frames += self._release(now.wall_ns)
        return frames

    # ------------------------------------------------------------------ plumbing

    def _request(self, participant: str, data: bytes, now: Now) -> list[WireFrame]:
        frames: list[WireFrame] = []
        if participant in self._clients or self.config.record_bots:
            frames.append(self._frame(participant, Channel.ORDER, Direction.OUT, data, now))
        if self.faults.accept_request(participant, now.wall_ns):
            self._transmit(participant, self.exchange.receive(participant, (data,), now), now)
        return frames

    def _transmit(self, requester: str | None, deliveries: list[Delivery], now: Now) -> None:
        for transmission in self.faults.filter(requester, deliveries, now.wall_ns):
            self._order += 1
            heapq.heappush(self._pending, (transmission.due_ns, self._order, transmission))

    def _release(self, until_ns: int | None) -> list[WireFrame]:
        frames: list[WireFrame] = []
        pending = self._pending
        while pending and (until_ns is None or pending[0][0] <= until_ns):
            due, _, transmission = heapq.heappop(pending)
            delivery = transmission.delivery
            now = Now(due, due - self.config.start_wall_ns)
            to = delivery.to
            if to is None:
                frames.append(self._frame(None, Channel.MARKET, Direction.IN, delivery.data, now))
                continue
            client = self._clients.get(to)
            if client is None:
                if self.config.record_bots:
                    frames.append(self._frame(to, Channel.ORDER, Direction.IN, delivery.data, now))
                continue
            if not client.connected:
                self.faults.record(
                    due,
                    FaultKind.DISCONNECT,
                    to,
                    f"order seq {delivery.seq} lost: {to} is disconnected",
                )
                continue
            client.receive(delivery.data)
            frames.append(self._frame(to, Channel.ORDER, Direction.IN, delivery.data, now))
        return frames

    def _frame(
        self, participant: str | None, channel: Channel, direction: Direction, data: bytes, now: Now
    ) -> WireFrame:
        return WireFrame(self.step_no, participant, channel, direction, data, *now)

    def _inject(self, fault: ScheduledFault, now: Now) -> list[WireFrame]:
        plan, who, kind = self.faults, fault.participant, fault.kind
        if kind is FaultKind.RESTART:
            run_id = self.exchange.restart()
            plan.record(now.wall_ns, kind, None, f"new run {run_id}")
        elif kind is FaultKind.DROP_MARKET:
            plan.drop_market(fault.count)
        elif who is None or who not in self._clients:
            raise ValueError(f"{kind.value} needs a client participant, not {who!r}")
        elif kind is FaultKind.DROP_NEXT:
            plan.drop_next(who, fault.count)
        elif kind is FaultKind.DROP_ACK:
            plan.drop_ack(who)
        elif kind is FaultKind.DROP_AFTER_ACK:
            plan.drop_after_ack(who)
        elif kind is FaultKind.DROP_REQUESTS:
            plan.drop_requests(who, fault.count)
        elif kind is FaultKind.DUPLICATE:
            plan.duplicate_next(who, fault.count)
        elif kind is FaultKind.DELAY:
            plan.delay(who, fault.delay_ms, fault.count)
        elif kind is FaultKind.DISCONNECT:
            self._clients[who].connected = False
            self.exchange.detach(who)
            plan.record(now.wall_ns, kind, who, "connection dropped")
        elif kind is FaultKind.GARBAGE:
            data = self._rng.randbytes(max(fault.count, 1))
            plan.record(now.wall_ns, kind, who, f"sent {len(data)} garbage bytes")
            return [self._frame(who, Channel.ORDER, Direction.IN, data, now)]
        return []

    # ------------------------------------------------------------------ the trading clients

    def _client_turn(self, key: str, now: Now) -> list[WireFrame]:
        client = self._clients[key]
        rng = self._rng
        if not client.connected:
            client.connected = True
            client.out_seq = 0
            self.exchange.attach(key)
            self.faults.record(now.wall_ns, FaultKind.DISCONNECT, key, "reconnected")
        if client.gaps:
            run_id, first, last = client.gaps.pop(0)
            to = min(last, first + self.config.replay_cap - 1)
            if to < last:
                client.gaps.insert(0, (run_id, to + 1, last))
            body = pb.MessageReplay(run_id=run_id, from_seq=first, to_seq=to)
            return self._send(client, pb.Envelope(mid=new_mid(rng), message_replay=body), now)
        for mid, (data, sent_at) in client.awaiting.items():
            if self.step_no - sent_at >= self.config.resend_after:
                client.awaiting[mid] = (data, self.step_no)
                return self._request(key, data, now)
        if rng.random() < self.config.garbage_rate:
            return self._request(key, rng.randbytes(rng.randint(1, 40)), now)
        return self._send(client, self._client_request(key, rng), now)

    def _send(self, client: _Client, envelope: pb.Envelope, now: Now) -> list[WireFrame]:
        client.out_seq += 1
        envelope.mversion = MVERSION
        envelope.seq = client.out_seq
        envelope.timestamp, envelope.ticks = now
        data = envelope.SerializeToString()
        client.awaiting[envelope.mid] = (data, self.step_no)
        return self._request(client.key, data, now)

    def _client_request(self, key: str, rng: random.Random) -> pb.Envelope:
        contracts = self.engine.contracts
        contract = contracts[rng.randrange(len(contracts))]
        cid, tick = contract.contract_id, contract.tick_cents
        fair = self.liquidity.fair[cid]
        mid = new_mid(rng)
        roll = rng.random()
        mine = self.engine.open_entry_ids(key)
        if roll < 0.45 or (roll < 0.75 and not mine):
            return pb.Envelope(mid=mid, limit_order=self._order_body(rng, cid, tick, fair))
        if roll < 0.6:
            entry = self.engine.entry(mine[rng.randrange(len(mine))])
            assert entry is not None
            return pb.Envelope(
                mid=mid,
                cancel_order=pb.CancelOrder(contract_id=entry.contract_id, entry_id=entry.entry_id),
            )
        if roll < 0.75:
            entry = self.engine.entry(mine[rng.randrange(len(mine))])
            assert entry is not None
            body = self._order_body(rng, entry.contract_id, 1, fair)
            return pb.Envelope(
                mid=mid,
                cancel_replace=pb.CancelReplace(
                    contract_id=entry.contract_id,
                    entry_id=entry.entry_id,
                    size=body.size,
                    price_in_cents=entry.price_in_cents + rng.choice((-1, 1)) * tick,
                ),
            )
        if roll < 0.80:
            return pb.Envelope(mid=mid, get_book_state=pb.GetBookState(contract_id=cid))
        if roll < 0.84:
            return pb.Envelope(mid=mid, get_open_orders=pb.GetOpenOrders())
        if roll < 0.86:
            return pb.Envelope(mid=mid, cancel_all=pb.CancelAll(contract_id=cid))
        if roll < 0.87:
            return pb.Envelope(mid=mid, get_contracts=pb.GetContracts())
        if roll < 0.90:
            inner = [
                pb.Envelope(
                    mid=new_mid(rng),
                    mversion=MVERSION,
                    limit_order=self._order_body(rng, cid, tick, fair),
                )
                for _ in range(rng.randint(2, 8))
            ]
            return pb.Envelope(mid=mid, batch=pb.Batch(messages=inner))
        if roll < 0.92:  # a mistake: a price off the tick grid, or size 0
            bad = self._order_body(rng, cid, tick, fair)
            if tick > 1:
                bad.price_in_cents += 1
            else:
                bad.size = 0
            return pb.Envelope(mid=mid, limit_order=bad)
        return pb.Envelope(mid=mid, limit_order=self._order_body(rng, cid, tick, fair))

    @staticmethod
    def _order_body(rng: random.Random, cid: int, tick: int, fair: int) -> pb.LimitOrder:
        is_ask = rng.random() < 0.5
        offset = rng.randint(-3, 6) * tick  # mostly passive, sometimes crossing
        price = fair + offset if is_ask else fair - offset
        ioc = rng.random() < 0.2
        return pb.LimitOrder(
            contract_id=cid,
            is_ask=is_ask,
            size=rng.randint(1, 10),
            price_in_cents=max(price, tick),
            time_in_force=pb.IOC if ioc else pb.GTC,
            client_ref=f"r{rng.randrange(1000)}",
        )


def simulate(config: SessionConfig | None = None) -> Iterator[WireFrame]:
    """Every frame of a session: ``Session(config).run()``."""
    return Session(config).run()


def frames_for(participant: str, frames: Iterable[WireFrame]) -> list[WireFrame]:
    """The frames ``participant`` sent or received, market-channel frames included."""
    return [f for f in frames if f.participant is None or f.participant == participant]
