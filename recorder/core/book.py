"""The L3 book of one contract, kept in the contract's clock order.

Theory of operation
-------------------

LX/1 gives every public action report of a contract a ``clock`` that rises by exactly 1, and
stamps ``BookStateSnapshot`` and ``BookTop`` with the clock they reflect (docs/protocol.md §5).
So a book is fully determined by a snapshot plus the public reports after it, in clock order:

* a report with ``clock == book.clock + 1`` is applied; buffered reports that now follow are
  applied after it;
* a report at or below ``book.clock`` is already in the book (it was in a snapshot): ignored;
* a report further ahead is a *clock gap*: the book is marked out of sync, the report is buffered,
  and the caller is told so it can ask for :class:`~recorder.core.sequencing.ResyncBook`;
* a snapshot replaces the entries and the clock; buffered reports above its clock are then
  applied while they follow on. The book is in sync again when nothing is left waiting.

Applying one report is one rule for every status type: an entry already on the book takes the
report's ``size`` (its open size after the event) and leaves the book at size 0; an entry not on
the book is added only by ``INSERTED`` with size > 0 (an aggressor's ``CROSS`` reports describe an
order that is not resting yet). A new run starts every book empty at clock 0.

Levels are ``price -> {entry_id: size}`` dicts: insertion order is time priority, and at the
~30 levels a side of a real book ``max``/``min`` over the keys is as fast as a sorted structure.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

INSERTED = 200
"""``ActionReport.status_type`` of an order that rests on the book."""


class ReportResult(enum.Enum):
    """What :meth:`Book.apply_report` did with a report."""

    APPLIED = "applied"
    OLD = "old"
    """At or below the book's clock: already reflected (e.g. by a snapshot)."""
    BUFFERED = "buffered"
    """Ahead of the clock while the book waits for a snapshot or for missing reports."""
    GAP = "gap"
    """Ahead of the clock on a book that was in sync: a clock gap was just detected."""


@dataclass(frozen=True, slots=True)
class Level:
    """One aggregated price level."""

    price_in_cents: int
    size: int
    orders: int


@dataclass(frozen=True, slots=True)
class BookEntryView:
    """One resting entry (L3), in price-time priority within its side."""

    entry_id: str
    is_ask: bool
    price_in_cents: int
    size: int


@dataclass(frozen=True, slots=True)
class Top:
    """Best bid and ask with their aggregated sizes; price 0 and size 0 for an empty side."""

    bid: int
    bid_size: int
    ask: int
    ask_size: int


Report = tuple[str, bool, int, int, int]
"""A buffered public report: ``(entry_id, is_ask, price_in_cents, size, status_type)``."""


class Book:
    """The L3 book of one contract. Mutable; the projector owns it."""

    __slots__ = ("asks", "bids", "clock", "contract_id", "entries", "pending", "synced")

    def __init__(self, contract_id: int) -> None:
        self.contract_id = contract_id
        self.clock = 0
        self.synced = True
        self.entries: dict[str, tuple[bool, int]] = {}
        """entry_id -> (is_ask, price_in_cents)."""
        self.bids: dict[int, dict[str, int]] = {}
        self.asks: dict[int, dict[str, int]] = {}
        self.pending: dict[int, Report] = {}
        """Reports ahead of the clock, by clock."""

    # ------------------------------------------------------------------ updates

    def apply_report(
        self, clock: int, entry_id: str, is_ask: bool, price: int, size: int, status: int
    ) -> ReportResult:
        """Apply one public action report (see the module docstring for the clock rules)."""
        if clock == self.clock + 1:
            self._apply(entry_id, is_ask, price, size, status)
            self.clock = clock
            if self.pending:
                self._drain()
            return ReportResult.APPLIED
        if clock <= self.clock:
            return ReportResult.OLD
        self.pending[clock] = (entry_id, is_ask, price, size, status)
        if self.synced:
            self.synced = False
            return ReportResult.GAP
        return ReportResult.BUFFERED

    def _apply(self, entry_id: str, is_ask: bool, price: int, size: int, status: int) -> None:
        entry = self.entries.get(entry_id)
        if entry is not None:
            side = self.asks if entry[0] else self.bids
            level = side[entry[1]]
            if size:
                level[entry_id] = size
            else:
                del level[entry_id]
                if not level:
                    del side[entry[1]]
                del self.entries[entry_id]
        elif size and status == INSERTED:
            self.entries[entry_id] = (is_ask, price)
            side = self.asks if is_ask else self.bids
            at_price = side.get(price)
            if at_price is None:
                side[price] = {entry_id: size}
            else:
                at_price[entry_id] = size

    def _drain(self) -> None:
        pending = self.pending
        for old in [c for c in pending if c <= self.clock]:
            del pending[old]
        nxt = pending.pop(self.clock + 1, None)
        while nxt is not None:
            self._apply(*nxt)
            self.clock += 1
            nxt = pending.pop(self.clock + 1, None)
        self.synced = not pending

    def load_snapshot(self, clock: int, entries: Iterable[tuple[str, bool, int, int]]) -> None:
        """Replace the book by a ``BookStateSnapshot``: ``(entry_id, is_ask, price, size)`` in
        price-time priority, reflecting ``clock``."""
        self.entries = {}
        self.bids = {}
        self.asks = {}
        for entry_id, is_ask, price, size in entries:
            if size:
                self._apply(entry_id, is_ask, price, size, INSERTED)
        self.clock = clock
        self._drain()

    def reset(self) -> None:
        """Empty the book at clock 0 (a new exchange run)."""
        self.clock = 0
        self.synced = True
        self.entries = {}
        self.bids = {}
        self.asks = {}
        self.pending = {}

    # ------------------------------------------------------------------ queries

    def top(self) -> Top:
        """Best bid and ask with aggregated sizes."""
        bids, asks = self.bids, self.asks
        bid = max(bids) if bids else 0
        ask = min(asks) if asks else 0
        return Top(
            bid,
            sum(bids[bid].values()) if bids else 0,
            ask,
            sum(asks[ask].values()) if asks else 0,
        )

    def top_tuple(self) -> tuple[int, int, int, int]:
        """:meth:`top` as a plain tuple (the projector's hot path)."""
        bids, asks = self.bids, self.asks
        if bids:
            bid = max(bids)
            bid_size = sum(bids[bid].values())
        else:
            bid = bid_size = 0
        if asks:
            ask = min(asks)
            ask_size = sum(asks[ask].values())
        else:
            ask = ask_size = 0
        return bid, bid_size, ask, ask_size

    def levels(self, is_ask: bool, depth: int | None = None) -> tuple[Level, ...]:
        """Aggregated levels of one side, best first."""
        side = self.asks if is_ask else self.bids
        prices = sorted(side, reverse=not is_ask)[:depth]
        return tuple(Level(p, sum(side[p].values()), len(side[p])) for p in prices)

    def l3(self) -> tuple[BookEntryView, ...]:
        """Every resting entry: bids best first, then asks best first, time priority within."""
        out: list[BookEntryView] = []
        for is_ask in (False, True):
            side = self.asks if is_ask else self.bids
            for price in sorted(side, reverse=not is_ask):
                out.extend(BookEntryView(e, is_ask, price, s) for e, s in side[price].items())
        return tuple(out)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """The book as plain JSON-able values, deterministic for identical books."""
        return {
            "contract_id": self.contract_id,
            "clock": self.clock,
            "synced": self.synced,
            "entries": [[e.entry_id, e.is_ask, e.price_in_cents, e.size] for e in self.l3()],
            "pending": [[c, *self.pending[c]] for c in sorted(self.pending)],
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Book:
        """Rebuild a book written by :meth:`snapshot`."""
        book = cls(data["contract_id"])
        for entry_id, is_ask, price, size in data["entries"]:
            book._apply(entry_id, is_ask, price, size, INSERTED)
        book.clock = data["clock"]
        book.synced = data["synced"]
        book.pending = {c: (e, a, p, s, st) for c, e, a, p, s, st in data["pending"]}
        return book
