"""Background liquidity: seeded market makers and takers that keep the books alive. Pure.

A :class:`Liquidity` owns a fair value per contract (a random walk on the contract's tick grid)
and a set of bots. Each :meth:`Liquidity.next_request` picks one bot and returns the request it
sends now, as an encoded envelope; all randomness comes from the ``random.Random`` passed in, so
the same seed gives the same requests — and, through the exchange, the same message stream.

* a **maker** (participant ``maker-N``) quotes GTC orders a few ticks either side of the fair
  value; past ``max_orders`` open entries it cancels or cancel-replaces its oldest; now and then
  it cancels everything on a contract.
* a **taker** (participant ``taker-N``) sends IOC orders that cross the fair value, so trades
  happen.

Bots read their own open entries from the engine (the ground truth) instead of tracking
reports: they are traffic generators, not clients under test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from recorder.errors import LocalProtocolError
from recorder.sim.engine import Engine
from recorder.sim.model import Contract
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import MVERSION

FAIR_START_CENTS = 5000
"""Where every contract's fair value starts (a multiple of every default tick)."""


def new_mid(rng: random.Random) -> str:
    """A fresh mid (32 lowercase hex digits) drawn from ``rng``."""
    return f"{rng.getrandbits(128):032x}"


@dataclass(frozen=True, slots=True)
class LiquidityConfig:
    """How many bots, and how they behave."""

    makers: int = 3
    takers: int = 1
    max_orders: int = 12
    """A maker with this many open entries cancels or replaces its oldest first."""
    max_size: int = 10
    spread_ticks: int = 5
    """Makers quote 1..spread_ticks ticks away from the fair value."""


class Liquidity:
    """The background bots of one exchange (see the module docstring)."""

    def __init__(self, contracts: tuple[Contract, ...], config: LiquidityConfig) -> None:
        self.contracts = contracts
        self.config = config
        self.makers = tuple(f"maker-{i}" for i in range(1, config.makers + 1))
        self.takers = tuple(f"taker-{i}" for i in range(1, config.takers + 1))
        self.fair = {c.contract_id: FAIR_START_CENTS for c in contracts}
        self._seq: dict[str, int] = {p: 0 for p in self.participants}

    @property
    def participants(self) -> tuple[str, ...]:
        """Every bot's participant key: makers, then takers."""
        return self.makers + self.takers

    def register(self, engine: Engine) -> None:
        """Add every bot to ``engine`` as a participant."""
        for participant in self.participants:
            engine.add_participant(participant)

    def next_request(
        self, rng: random.Random, engine: Engine, wall_ns: int = 0, mono_ns: int = 0
    ) -> tuple[str, bytes]:
        """One bot's next request: ``(participant, encoded envelope)``."""
        contract = self.contracts[rng.randrange(len(self.contracts))]
        self._walk(rng, contract)
        bots = self.participants
        if not bots:
            raise LocalProtocolError("no liquidity bots configured (makers = takers = 0)")
        pick = rng.randrange(len(bots) + len(self.makers))  # makers act about twice as often
        participant = bots[pick] if pick < len(bots) else bots[pick - len(bots)]
        if participant.startswith("maker"):
            envelope = self._maker(rng, engine, participant, contract)
        else:
            envelope = self._taker(rng, contract)
        self._seq[participant] += 1
        envelope.seq = self._seq[participant]
        envelope.timestamp = wall_ns
        envelope.ticks = mono_ns
        return participant, envelope.SerializeToString()

    def _walk(self, rng: random.Random, contract: Contract) -> None:
        tick = contract.tick_cents
        fair = self.fair[contract.contract_id] + tick * rng.choice((-1, 0, 0, 1))
        self.fair[contract.contract_id] = max(fair, tick * (self.config.spread_ticks + 20))

    def _maker(
        self, rng: random.Random, engine: Engine, participant: str, contract: Contract
    ) -> pb.Envelope:
        config = self.config
        mid = new_mid(rng)
        cid = contract.contract_id
        open_ids = engine.open_entry_ids(participant)
        roll = rng.random()
        if open_ids and roll < 0.01:
            return pb.Envelope(mid=mid, mversion=MVERSION, cancel_all=pb.CancelAll(contract_id=cid))
        if len(open_ids) >= config.max_orders or (open_ids and roll < 0.15):
            oldest = engine.entry(open_ids[0])
            assert oldest is not None
            if roll < 0.5:
                return pb.Envelope(
                    mid=mid,
                    mversion=MVERSION,
                    cancel_order=pb.CancelOrder(
                        contract_id=oldest.contract_id, entry_id=oldest.entry_id
                    ),
                )
            tick = self._tick(oldest.contract_id)
            away = rng.randint(1, config.spread_ticks) * tick
            fair = self.fair[oldest.contract_id]
            price = fair + away if oldest.is_ask else fair - away
            return pb.Envelope(
                mid=mid,
                mversion=MVERSION,
                cancel_replace=pb.CancelReplace(
                    contract_id=oldest.contract_id,
                    entry_id=oldest.entry_id,
                    size=rng.randint(1, config.max_size),
                    price_in_cents=price,
                ),
            )
        is_ask = rng.random() < 0.5
        away = rng.randint(1, config.spread_ticks) * contract.tick_cents
        fair = self.fair[cid]
        order = pb.LimitOrder(
            contract_id=cid,
            is_ask=is_ask,
            size=rng.randint(1, config.max_size),
            price_in_cents=fair + away if is_ask else fair - away,
            time_in_force=pb.GTC,
            client_ref=participant,
        )
        return pb.Envelope(mid=mid, mversion=MVERSION, limit_order=order)

    def _taker(self, rng: random.Random, contract: Contract) -> pb.Envelope:
        is_ask = rng.random() < 0.5
        through = rng.randint(1, self.config.spread_ticks) * contract.tick_cents
        fair = self.fair[contract.contract_id]
        order = pb.LimitOrder(
            contract_id=contract.contract_id,
            is_ask=is_ask,
            size=rng.randint(1, max(1, self.config.max_size // 2)),
            price_in_cents=fair - through if is_ask else fair + through,
            time_in_force=pb.IOC,
            client_ref="taker",
        )
        return pb.Envelope(mid=new_mid(rng), mversion=MVERSION, limit_order=order)

    def _tick(self, contract_id: int) -> int:
        for contract in self.contracts:
            if contract.contract_id == contract_id:
                return contract.tick_cents
        raise KeyError(contract_id)
