"""Positions per contract from own fills: net size, average price, realised P&L (FIFO lots).

A buy adds ``+size`` at its price, a sell ``-size``. A fill against the open position closes the
oldest lots first (FIFO); each closed unit realises ``exit - entry`` cents for a long lot and
``entry - exit`` for a short one. Everything is integer cents and contracts, so the result is
exact and deterministic; the contract multiplier is not applied (P&L is in cents of price times
contracts), and fills are fee-free.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Position:
    """The bot's position in one contract."""

    contract_id: int
    net_size: int
    """Long > 0, short < 0."""
    open_cost_cents: int
    """Sum of price x size over the open lots (always >= 0)."""
    realised_pnl_cents: int
    bought: int
    sold: int

    @property
    def avg_price_in_cents(self) -> float:
        """The average entry price of the open position (0.0 when flat)."""
        return self.open_cost_cents / abs(self.net_size) if self.net_size else 0.0


class PositionLedger:
    """FIFO lots of one contract. Mutable; the projector owns one per traded contract."""

    __slots__ = ("bought", "contract_id", "lots", "realised", "sold")

    def __init__(self, contract_id: int) -> None:
        self.contract_id = contract_id
        self.lots: deque[list[int]] = deque()
        """Open lots ``[signed size, price]``, oldest first; all of the same sign."""
        self.realised = 0
        self.bought = 0
        self.sold = 0

    def fill(self, is_ask: bool, price: int, size: int) -> None:
        """Apply one own fill of ``size`` at ``price`` (``is_ask``: we sold)."""
        if is_ask:
            self.sold += size
            sign = -1
        else:
            self.bought += size
            sign = 1
        lots = self.lots
        while size and lots and (lots[0][0] > 0) != (sign > 0):
            lot = lots[0]
            take = min(size, abs(lot[0]))
            # closing a long lot (sign -1): (exit - entry); closing a short lot: (entry - exit)
            self.realised += (price - lot[1]) * take * -sign
            lot[0] += take * sign
            size -= take
            if not lot[0]:
                lots.popleft()
        if size:
            lots.append([size * sign, price])

    def view(self) -> Position:
        """The position as a value."""
        net = sum(lot[0] for lot in self.lots)
        cost = sum(abs(lot[0]) * lot[1] for lot in self.lots)
        return Position(self.contract_id, net, cost, self.realised, self.bought, self.sold)

    def snapshot(self) -> list[Any]:
        """Plain JSON-able values."""
        return [
            self.contract_id,
            [list(lot) for lot in self.lots],
            self.realised,
            self.bought,
            self.sold,
        ]

    @classmethod
    def restore(cls, data: list[Any]) -> PositionLedger:
        """Rebuild from :meth:`snapshot`."""
        ledger = cls(data[0])
        ledger.lots = deque([list(lot) for lot in data[1]])
        ledger.realised, ledger.bought, ledger.sold = data[2], data[3], data[4]
        return ledger
