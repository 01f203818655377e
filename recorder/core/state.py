"""The projected state as values: what :meth:`Projector.state` returns and the CLI prints.

Everything here is a frozen, slotted dataclass or an enum. :meth:`State.as_dict` gives the plain
JSON-able form (the ``recorder state --json`` object).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from recorder.core.book import BookEntryView, Level
from recorder.core.frames import Channel
from recorder.core.orders import Fill, Order
from recorder.core.positions import Position


class View(enum.StrEnum):
    """The two timelines of ARCHITECTURE.md rule 4."""

    KNOWN = "known"
    """Frames in arrival (journal position) order: what the bot knew."""
    EXCHANGE = "exchange"
    """Each stream in seq order, frames behind an open gap held until it is filled."""


class GapStatus(enum.StrEnum):
    """Where a gap in the projector's gap ledger stands."""

    OPEN = "open"
    FILLED = "filled"
    """Every missing frame arrived (replayed, or late)."""
    UNRECOVERABLE = "unrecoverable"
    """Declared lost: replay unavailable or complete without it, a run change, or a market
    channel gap (which LX/1 cannot replay; the books are resynced instead)."""
    RESYNCED = "resynced"
    """A contract's clock gap, closed by a book snapshot."""


class AnomalyKind(enum.StrEnum):
    """What kind of inconsistency the projector found."""

    MALFORMED = "malformed"
    """A frame flagged malformed, or whose payload does not parse."""
    ILLEGAL_TRANSITION = "illegal_transition"
    UNKNOWN_ORDER = "unknown_order"
    """A private report or open-orders entry for an entry id the bot never sent."""
    BOOK_TOP_MISMATCH = "book_top_mismatch"
    OPEN_ORDERS_MISMATCH = "open_orders_mismatch"
    STALE_RUN = "stale_run"
    """A frame of an exchange run that has already been replaced."""


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One inconsistency, at the journal position of the frame that showed it."""

    position: int
    kind: AnomalyKind
    detail: str


@dataclass(frozen=True, slots=True)
class GapView:
    """One gap in the projector's ledger: seqs of a channel, or clocks of a contract."""

    channel: Channel
    contract_id: int
    """0 for a seq gap; the contract for a clock gap (from/to are then clocks)."""
    run_id: str
    from_seq: int
    to_seq: int
    status: GapStatus
    detected_position: int
    closed_position: int
    """0 while open."""


@dataclass(frozen=True, slots=True)
class BookView:
    """One contract's book: aggregated levels (best first) and the L3 entries."""

    contract_id: int
    clock: int
    synced: bool
    """False after a clock gap, until a snapshot (and what follows it) fills the book in."""
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    entries: tuple[BookEntryView, ...]


@dataclass(frozen=True, slots=True)
class State:
    """The projected state after the frame at ``position``."""

    position: int
    view: View
    run_id: str
    books: dict[int, BookView]
    orders: tuple[Order, ...]
    """Every own order, by the journal position it was sent at (then entry id)."""
    open_orders: tuple[Order, ...]
    """Own orders acknowledged and not finished."""
    fills: tuple[Fill, ...]
    positions: dict[int, Position]
    gaps: tuple[GapView, ...]
    anomalies: tuple[Anomaly, ...]
    sha256: str
    """The state's digest (see :meth:`digest`)."""

    def digest(self) -> str:
        """SHA-256 (hex) of the projector's canonical serialization: identical journals (and
        identical checkpoint + tail) give identical digests."""
        return self.sha256

    def as_dict(self, depth: int | None = 5, contract_id: int | None = None) -> dict[str, Any]:
        """The ``recorder state --json`` object (books to ``depth`` levels a side)."""

        def keep(cid: int) -> bool:
            return contract_id is None or cid == contract_id

        return {
            "position": self.position,
            "view": self.view.value,
            "run_id": self.run_id,
            "digest": self.sha256,
            "books": {
                str(cid): {
                    "clock": b.clock,
                    "synced": b.synced,
                    "bids": [[lv.price_in_cents, lv.size, lv.orders] for lv in b.bids[:depth]],
                    "asks": [[lv.price_in_cents, lv.size, lv.orders] for lv in b.asks[:depth]],
                }
                for cid, b in sorted(self.books.items())
                if keep(cid)
            },
            "open_orders": [_order_dict(o) for o in self.open_orders if keep(o.contract_id)],
            "positions": {
                str(cid): {
                    "net_size": p.net_size,
                    "avg_price_in_cents": round(p.avg_price_in_cents, 4),
                    "realised_pnl_cents": p.realised_pnl_cents,
                    "bought": p.bought,
                    "sold": p.sold,
                }
                for cid, p in sorted(self.positions.items())
                if keep(cid)
            },
            "gaps": [
                {
                    "channel": g.channel.value,
                    "contract_id": g.contract_id,
                    "run_id": g.run_id,
                    "from_seq": g.from_seq,
                    "to_seq": g.to_seq,
                    "status": g.status.value,
                    "detected_position": g.detected_position,
                    "closed_position": g.closed_position,
                }
                for g in self.gaps
            ],
            "anomalies": [
                {"position": a.position, "kind": a.kind.value, "detail": a.detail}
                for a in self.anomalies
            ],
        }


def _order_dict(o: Order) -> dict[str, Any]:
    return {
        "entry_id": o.entry_id,
        "contract_id": o.contract_id,
        "side": "" if o.is_ask is None else ("ask" if o.is_ask else "bid"),
        "price_in_cents": o.price_in_cents,
        "open_size": o.open_size,
        "filled_size": o.filled_size,
        "original_size": o.original_size,
        "status": o.status.value,
        "client_ref": o.client_ref,
    }
