"""The simulator's values: contracts, outbound messages and the engine's ground-truth views.

Frozen, slotted dataclasses that cross module boundaries (the engine hands them out; the
exchange, the session driver, the server and tests read them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeAlias, cast

from recorder.core.frames import Channel
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import MVERSION

if TYPE_CHECKING:
    StatusTypeValue: TypeAlias = pb.StatusType
    StatusCodeValue: TypeAlias = pb.StatusCode
else:
    StatusTypeValue = StatusCodeValue = int

_HEX = frozenset("0123456789abcdef")


def is_valid_mid(mid: str) -> bool:
    """True for a well-formed LX/1 mid: 32 lowercase hex digits."""
    return len(mid) == 32 and _HEX.issuperset(mid)


@dataclass(frozen=True, slots=True)
class Contract:
    """A tradable contract: its id, label, price tick (cents) and multiplier."""

    contract_id: int
    label: str
    tick_cents: int = 1
    multiplier: int = 100
    active: bool = True


class Outbound(NamedTuple):
    """One message the exchange sends: to a participant's order channel, or public (``to=None``).

    ``envelope`` carries the mid and the body; the sequencing layer stamps the rest. (A named
    tuple rather than a frozen dataclass: several are built per order on the hot path, and a
    tuple is about three times cheaper to build.)
    """

    to: str | None
    envelope: pb.Envelope

    @property
    def channel(self) -> Channel:
        """The channel it travels on: the market channel for public messages."""
        return Channel.MARKET if self.to is None else Channel.ORDER


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """Ground truth: one open entry as the engine holds it."""

    entry_id: str
    owner: str
    contract_id: int
    is_ask: bool
    price_in_cents: int
    size: int
    original_size: int
    filled_size: int


@dataclass(frozen=True, slots=True)
class Fill:
    """Ground truth: one side of one trade (every trade has exactly two, same ``trade_id``)."""

    trade_id: int
    contract_id: int
    entry_id: str
    owner: str
    is_ask: bool
    price_in_cents: int
    """The entry's limit price."""
    filled_price: int
    filled_size: int
    clock: int
    """The contract's clock after this side's report."""
    aggressor: bool


@dataclass(frozen=True, slots=True)
class BookView:
    """Ground truth: a contract's book; ``bids`` and ``asks`` each best first, then by time."""

    contract_id: int
    clock: int
    bids: tuple[RestingOrder, ...]
    asks: tuple[RestingOrder, ...]


def status(to: str, mid: str, code: int, message: str = "", *, duplicate: bool = False) -> Outbound:
    """A ``Status`` reply to ``to`` under ``mid``."""
    body = pb.Status(code=cast(StatusCodeValue, code), message=message, duplicate=duplicate)
    return Outbound(to, pb.Envelope(mid=mid, mversion=MVERSION, status=body))


def default_contracts(count: int) -> tuple[Contract, ...]:
    """``count`` contracts with ids 1..count and ticks of 1, 5 and 10 cents in turn."""
    ticks = (1, 5, 10)
    return tuple(
        Contract(i, f"LX-{i:03d}-C", ticks[(i - 1) % len(ticks)], 100) for i in range(1, count + 1)
    )


def contracts_by_id(contracts: Sequence[Contract]) -> dict[int, Contract]:
    """Index contracts by id."""
    return {c.contract_id: c for c in contracts}
