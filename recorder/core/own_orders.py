"""The bot's own orders, fills and positions, driven by the order state machine.

:class:`OwnOrders` is the projector's part that reads the bot's order channel: its requests
(outbound ``LimitOrder``, ``CancelReplace``, ``Batch``), the exchange's first replies (``Status``,
``BatchAcks``), the private action reports and ``OpenOrdersSnapshot``. Every change of an order's
status goes through :data:`recorder.core.orders.TRANSITIONS`; an illegal one is an anomaly and
leaves the order as it was. A ``CROSS`` is always recorded as a fill and in the position (the money
moved even if the order's story is inconsistent); the order itself changes only on a legal
transition, so a finished order never changes again.

Checkpoints split the state in two (:meth:`OwnOrders.checkpoint_parts`): the *hot* part (working
orders, positions, the ids of finished orders) is parsed on restore; the *cold* part (finished
orders and fills, which only ever grow) stays unparsed bytes until something reads it, so a
restart costs no object per historical order or fill. Anomalies go to the list the projector
shares with it, as ``[position, kind, detail]``.
"""

from __future__ import annotations

import json
from typing import Any

from recorder.core.orders import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
    Fill,
    Order,
    OrderEvent,
    OrderStatus,
)
from recorder.core.positions import PositionLedger
from recorder.core.state import AnomalyKind
from recorder.venues.lx import lx1_pb2 as pb

_ACK = pb.ACK
_REJECT_MIN = 10
_CROSS = pb.CROSS

_REPORT_EVENTS: dict[int, OrderEvent] = {
    pb.INSERTED: OrderEvent.INSERTED,
    pb.NOT_FILLED: OrderEvent.NOT_FILLED,
    pb.CANCELLED: OrderEvent.CANCELLED,
    pb.REPLACED: OrderEvent.REPLACED,
    pb.EXPIRED: OrderEvent.EXPIRED,
    pb.REJECTED: OrderEvent.REJECTED,
}
"""status_type -> event; CROSS is PARTIAL_FILL or FILL by the size it leaves."""


class _Order:
    """An own order while projecting (mutable; :class:`Order` is its value)."""

    __slots__ = (
        "client_ref",
        "contract_id",
        "created",
        "entry_id",
        "filled",
        "is_ask",
        "open_size",
        "original_size",
        "price",
        "replaces",
        "status",
        "tif",
        "updated",
    )

    def __init__(
        self,
        entry_id: str,
        contract_id: int,
        is_ask: bool | None,
        price: int,
        size: int,
        position: int,
        tif: int = 0,
        client_ref: str = "",
        replaces: str = "",
    ) -> None:
        self.entry_id = entry_id
        self.contract_id = contract_id
        self.is_ask = is_ask
        self.price = price
        self.original_size = size
        self.open_size = size
        self.filled = 0
        self.status = OrderStatus.SENT
        self.tif = tif
        self.client_ref = client_ref
        self.replaces = replaces
        self.created = position
        self.updated = position

    @property
    def live(self) -> bool:
        """Not finished: sent and unanswered, or open."""
        return self.status in LIVE_STATUSES

    def value(self) -> Order:
        return Order(
            self.entry_id,
            self.contract_id,
            self.is_ask,
            self.price,
            self.original_size,
            self.open_size,
            self.filled,
            self.status,
            self.tif,
            self.client_ref,
            self.replaces,
            self.created,
            self.updated,
        )

    def dump(self) -> list[Any]:
        return [
            self.entry_id,
            self.contract_id,
            self.is_ask,
            self.price,
            self.original_size,
            self.open_size,
            self.filled,
            self.status.value,
            self.tif,
            self.client_ref,
            self.replaces,
            self.created,
            self.updated,
        ]

    @classmethod
    def load(cls, d: list[Any]) -> _Order:
        o = cls(d[0], d[1], d[2], d[3], d[4], d[11], d[8], d[9], d[10])
        o.open_size, o.filled, o.status, o.updated = d[5], d[6], OrderStatus(d[7]), d[12]
        return o


_FINAL = frozenset(s.value for s in FINAL_STATUSES)


def _sent_order(dumped: list[Any]) -> tuple[int, str]:
    return dumped[11], dumped[0]


def _created(order: _Order) -> tuple[int, str]:
    return order.created, order.entry_id


class OwnOrders:
    """The bot's orders (all, in the order sent), fills and positions."""

    __slots__ = ("_cold", "_cold_ids", "anomalies", "done", "fills", "open", "orders", "positions")

    def __init__(self, anomalies: list[list[Any]]) -> None:
        self.anomalies = anomalies
        self.orders: dict[str, _Order] = {}
        self.done: dict[str, list[Any]] = {}
        """Finished orders restored from a snapshot, kept as their dumped lists until an event
        touches one (restoring a checkpoint then costs no object per finished order)."""
        self.open: dict[str, _Order] = {}
        """The orders in an open status (an index over ``orders``; its order is not state)."""
        self.fills: list[list[Any]] = []
        self.positions: dict[int, PositionLedger] = {}
        self._cold: bytes | None = None
        """Finished orders and fills from a checkpoint, still unparsed (see the docstring)."""
        self._cold_ids: frozenset[str] = frozenset()

    def _thaw(self) -> None:
        """Parse the cold part of a restored checkpoint into ``done`` and ``fills``."""
        if self._cold is None:
            return
        cold = json.loads(self._cold)
        self._cold, self._cold_ids = None, frozenset()
        self.done.update((d[0], d) for d in cold["orders"] if d[0] not in self.orders)
        self.fills[:0] = cold["fills"]

    def get(self, entry_id: str) -> _Order | None:
        """The order with ``entry_id``, or None."""
        order = self.orders.get(entry_id)
        if order is None and entry_id in self._cold_ids:
            self._thaw()
        if order is None and self.done:
            dumped = self.done.pop(entry_id, None)
            if dumped is not None:
                order = self.orders[entry_id] = _Order.load(dumped)
        return order

    def _anomaly(self, position: int, kind: AnomalyKind, detail: str) -> None:
        self.anomalies.append([position, kind.value, detail])

    def _event(self, order: _Order, event: OrderEvent, position: int) -> bool:
        nxt = TRANSITIONS[order.status].get(event)
        if nxt is None:
            self._anomaly(
                position,
                AnomalyKind.ILLEGAL_TRANSITION,
                f"order {order.entry_id}: {event.value} in {order.status.value}",
            )
            return False
        order.status = nxt
        order.updated = position
        if nxt in OPEN_STATUSES:
            self.open[order.entry_id] = order
        else:
            self.open.pop(order.entry_id, None)
        return True

    # ------------------------------------------------------------------ requests (out)

    def request(self, env: pb.Envelope, position: int) -> None:
        """An outbound request (a resent mid changes nothing: it is the same request)."""
        field = env.WhichOneof("body")
        mid = env.mid
        if field == "limit_order":
            if self.get(mid) is None:
                b = env.limit_order
                self.orders[mid] = _Order(
                    mid,
                    b.contract_id,
                    b.is_ask,
                    b.price_in_cents,
                    b.size,
                    position,
                    b.time_in_force,
                    b.client_ref,
                )
        elif field == "cancel_replace":
            if self.get(mid) is None:
                r = env.cancel_replace
                old = self.get(r.entry_id)
                self.orders[mid] = _Order(
                    mid,
                    r.contract_id,
                    old.is_ask if old is not None else None,  # an order placed before the journal
                    r.price_in_cents,
                    r.size,
                    position,
                    old.tif if old is not None else 0,
                    old.client_ref if old is not None else "",
                    r.entry_id,
                )
        elif field == "batch":
            for inner in env.batch.messages:
                self.request(inner, position)

    # ------------------------------------------------------------------ exchange (in)

    def answer(self, mid: str, code: int, position: int) -> None:
        """The first reply to request ``mid``; later ACKs (resends, duplicates) change nothing."""
        order = self.get(mid)
        if order is None or order.status is not OrderStatus.SENT:
            return
        if code == _ACK:
            self._event(order, OrderEvent.ACK, position)
        elif code >= _REJECT_MIN:
            self._event(order, OrderEvent.REJECT, position)

    def report(self, r: pb.ActionReport, position: int, *, correction: bool = False) -> None:
        """A private action report for one of the bot's entries (``correction``: a recorder's
        correction row, whose side is not the exchange's word)."""
        entry_id = r.entry_id
        order = self.get(entry_id)
        if order is None:
            self._anomaly(position, AnomalyKind.UNKNOWN_ORDER, f"private report for {entry_id}")
            order = _Order(
                entry_id, r.contract_id, r.is_ask, r.price_in_cents, r.original_size, position
            )
            order.status = OrderStatus.ACKED
            self.orders[entry_id] = self.open[entry_id] = order
        elif order.is_ask is None and not correction:
            order.is_ask = r.is_ask  # a replacement of an order not projected: the exchange says
        size = r.size
        if r.status_type == _CROSS:
            filled = r.filled_size
            cid = r.contract_id
            self.fills.append(
                [position, r.trade_id, cid, entry_id, r.is_ask, r.filled_price, filled]
            )
            ledger = self.positions.get(cid)
            if ledger is None:
                ledger = self.positions[cid] = PositionLedger(cid)
            ledger.fill(r.is_ask, r.filled_price, filled)
            event = OrderEvent.PARTIAL_FILL if size else OrderEvent.FILL
        else:
            filled = 0
            event = _REPORT_EVENTS.get(r.status_type, OrderEvent.REJECTED)
        if self._event(order, event, position):
            order.open_size = size
            order.filled += filled

    def open_orders_snapshot(self, snap: pb.OpenOrdersSnapshot, position: int) -> None:
        """Check the exchange's open orders against the projection; adopt unknown entries."""
        seen: set[str] = set()
        for e in snap.entries:
            seen.add(e.entry_id)
            order = self.get(e.entry_id)
            if order is None:
                self._anomaly(position, AnomalyKind.UNKNOWN_ORDER, f"open entry {e.entry_id}")
                order = _Order(
                    e.entry_id, e.contract_id, e.is_ask, e.price_in_cents, e.original_size, position
                )
                partial = e.filled_size > 0
                order.status = OrderStatus.PARTIALLY_FILLED if partial else OrderStatus.RESTING
                order.open_size, order.filled = e.size, e.filled_size
                self.orders[e.entry_id] = self.open[e.entry_id] = order
            elif order.status not in OPEN_STATUSES or order.open_size != e.size:
                self._anomaly(
                    position,
                    AnomalyKind.OPEN_ORDERS_MISMATCH,
                    f"entry {e.entry_id}: exchange open size {e.size}, projected "
                    f"{order.status.value} size {order.open_size}",
                )
        for order in sorted(self.open.values(), key=_created):
            if order.entry_id not in seen:
                self._anomaly(
                    position,
                    AnomalyKind.OPEN_ORDERS_MISMATCH,
                    f"entry {order.entry_id}: projected open, not open at the exchange",
                )

    def has_fill(self, entry_id: str, trade_id: int) -> bool:
        """True when this side of trade ``trade_id`` is already recorded (a linear scan: only
        for the rare late frames of a replaced run)."""
        self._thaw()
        return any(f[1] == trade_id and f[3] == entry_id for f in self.fills)

    def run_change(self, position: int) -> None:
        """Every open order of the old run is gone (LX/1 sends no report for it)."""
        for order in sorted(self.open.values(), key=_created):
            self._event(order, OrderEvent.RUN_CHANGE, position)

    # ------------------------------------------------------------------ values

    def values(self) -> list[Order]:
        """Every own order, in the order sent."""
        return [
            Order(d[0], d[1], d[2], d[3], d[4], d[5], d[6], OrderStatus(d[7]), *d[8:])
            for d in self._dumped()
        ]

    def _dumped(self) -> list[list[Any]]:
        """Every order as its dumped list, in canonical order (journal position, entry id)."""
        self._thaw()
        dumped = [o.dump() for o in self.orders.values()]
        dumped.extend(self.done.values())
        dumped.sort(key=_sent_order)
        return dumped

    def open_values(self) -> list[Order]:
        """Own orders acknowledged and not finished."""
        return [o.value() for o in sorted(self.open.values(), key=_created)]

    def fill_values(self) -> list[Fill]:
        """Every own fill, in journal order."""
        self._thaw()
        return [Fill(*f) for f in self.fills]

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-able values (the canonical form the digest covers)."""
        self._thaw()
        return {
            "orders": self._dumped(),
            "fills": self.fills,
            "positions": [p.snapshot() for _, p in sorted(self.positions.items())],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Load what :meth:`snapshot` wrote."""
        self.orders = {d[0]: _Order.load(d) for d in data["orders"] if d[7] not in _FINAL}
        self.done = {d[0]: d for d in data["orders"] if d[7] in _FINAL}
        self.open = {k: o for k, o in self.orders.items() if o.status in OPEN_STATUSES}
        self.fills = data["fills"]
        self.positions = {x[0]: PositionLedger.restore(x) for x in data["positions"]}
        self._cold, self._cold_ids = None, frozenset()

    def checkpoint_parts(self) -> tuple[dict[str, Any], bytes]:
        """``(hot, cold)``: working orders, positions and the finished orders' ids as values;
        finished orders and fills as canonical JSON bytes."""
        dumped = self._dumped()
        finished = [d for d in dumped if d[7] in _FINAL]
        hot = {
            "orders": [d for d in dumped if d[7] not in _FINAL],
            "finished_ids": [d[0] for d in finished],
            "positions": [p.snapshot() for _, p in sorted(self.positions.items())],
        }
        cold = {"orders": finished, "fills": self.fills}
        return hot, json.dumps(cold, separators=(",", ":"), sort_keys=True).encode()

    def restore_checkpoint(self, hot: dict[str, Any], cold: bytes) -> None:
        """Load :meth:`checkpoint_parts` output, leaving ``cold`` unparsed until needed."""
        self.orders = {d[0]: _Order.load(d) for d in hot["orders"]}
        self.done = {}
        self.open = {k: o for k, o in self.orders.items() if o.status in OPEN_STATUSES}
        self.fills = []
        self.positions = {x[0]: PositionLedger.restore(x) for x in hot["positions"]}
        self._cold, self._cold_ids = cold, frozenset(hot["finished_ids"])
