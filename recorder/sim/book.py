"""The engine's order book storage: mutable, flat, private to the simulator.

Per contract and side: a sorted list of prices, a dict price -> deque of entries (time order)
and a dict price -> open quantity. Entries are mutable slotted records; the engine hands out
frozen views (:class:`~recorder.sim.model.RestingOrder`) instead.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

from recorder.sim.model import Contract, RestingOrder


class Order:
    """A live entry (mutable; never handed out)."""

    __slots__ = ("cid", "filled", "is_ask", "mid", "mpid", "original", "owner", "price", "size")

    def __init__(
        self, mid: str, owner: str, mpid: int, cid: int, is_ask: bool, price: int, size: int
    ) -> None:
        self.mid = mid
        self.owner = owner
        self.mpid = mpid
        self.cid = cid
        self.is_ask = is_ask
        self.price = price
        self.size = size
        self.original = size
        self.filled = 0

    def view(self) -> RestingOrder:
        return RestingOrder(
            self.mid,
            self.owner,
            self.cid,
            self.is_ask,
            self.price,
            self.size,
            self.original,
            self.filled,
        )


class Side:
    """One side of a book: sorted prices, FIFO levels, open quantity per level."""

    __slots__ = ("levels", "prices", "qty")

    def __init__(self) -> None:
        self.prices: list[int] = []
        self.levels: dict[int, deque[Order]] = {}
        self.qty: dict[int, int] = {}

    def add(self, order: Order) -> None:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            self.levels[price] = deque((order,))
            self.qty[price] = order.size
            insort(self.prices, price)
        else:
            level.append(order)
            self.qty[price] += order.size

    def remove(self, order: Order) -> None:
        price = order.price
        level = self.levels[price]
        level.remove(order)
        if level:
            self.qty[price] -= order.size
        else:
            self.drop_level(price)

    def drop_level(self, price: int) -> None:
        del self.levels[price]
        del self.qty[price]
        prices = self.prices
        del prices[bisect_left(prices, price)]


class Book:
    __slots__ = ("asks", "bids", "clock", "contract")

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.bids = Side()
        self.asks = Side()
        self.clock = 0

    def top(self) -> tuple[int, int, int, int]:
        bids, asks = self.bids.prices, self.asks.prices
        bid = bids[-1] if bids else 0
        ask = asks[0] if asks else 0
        return (
            bid,
            self.bids.qty[bid] if bid else 0,
            ask,
            self.asks.qty[ask] if ask else 0,
        )
