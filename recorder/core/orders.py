"""The own-order state machine: one table of legal transitions, and the order value.

Theory of operation
-------------------

An order is born ``sent`` when the bot's ``LimitOrder`` (or ``CancelReplace``, whose mid is the
replacement's entry id) is journaled going out. The exchange answers first with a ``Status``:
``ack`` or a rejection. Action reports under the entry id then move it on: ``inserted`` (it
rests), ``partial_fill`` (a ``CROSS`` leaving size > 0), ``fill`` (a ``CROSS`` leaving size 0),
and the final ``not_filled`` (IOC remainder dropped), ``cancelled``, ``replaced``, ``expired``,
``rejected``. A run change cancels every order that was working in the old run (LX/1 sends no
report for it). A pair missing from the table is illegal: the projector records an anomaly and
leaves the order as it was — it never raises.

The table (rows: state; columns: event; a cell is the next state, ``·`` = illegal;
``render_table()`` prints it and a test keeps this copy in step)::

    state | ack  | rej  | ins  | part | fill | notf | cxl  | repl | exp  | rjct | run
    ------+------+------+------+------+------+------+------+------+------+------+-----
    SENT  | ACKD | REJD | ·    | ·    | ·    | ·    | ·    | ·    | ·    | REJD | SENT
    ACKD  | ·    | ·    | REST | PART | FILL | NOTF | CXLD | REPL | EXPD | REJD | RUNX
    REST  | ·    | ·    | ·    | PART | FILL | ·    | CXLD | REPL | EXPD | ·    | RUNX
    PART  | ·    | ·    | PART | PART | FILL | NOTF | CXLD | REPL | EXPD | ·    | RUNX
    FILL  | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | FILL
    CXLD  | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | CXLD
    REPL  | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | REPL
    EXPD  | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | EXPD
    NOTF  | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | NOTF
    REJD  | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | REJD
    RUNX  | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | ·    | RUNX

States: SENT sent, ACKD acked, REST resting, PART partially_filled, FILL filled, CXLD cancelled,
REPL replaced, EXPD expired, NOTF not_filled, REJD rejected, RUNX run_cancelled.
Events: ack ack, rej reject, ins inserted, part partial_fill, fill fill, notf not_filled, cxl
cancelled, repl replaced, exp expired, rjct rejected, run run_change.

A ``sent`` order survives a run change: it was never acknowledged, and the bot resends it (same
mid) to the new run. A duplicate ``ACK`` (``Status.duplicate``) is not an event at all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OrderStatus(enum.StrEnum):
    """Where an own order is in its life."""

    SENT = "sent"
    ACKED = "acked"
    RESTING = "resting"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REPLACED = "replaced"
    EXPIRED = "expired"
    NOT_FILLED = "not_filled"
    REJECTED = "rejected"
    RUN_CANCELLED = "run_cancelled"


class OrderEvent(enum.StrEnum):
    """What can happen to an own order (the table's columns)."""

    ACK = "ack"
    REJECT = "reject"
    INSERTED = "inserted"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    NOT_FILLED = "not_filled"
    CANCELLED = "cancelled"
    REPLACED = "replaced"
    EXPIRED = "expired"
    REJECTED = "rejected"
    RUN_CHANGE = "run_change"


S = OrderStatus
E = OrderEvent

_WORKING_EXITS = {
    E.FILL: S.FILLED,
    E.CANCELLED: S.CANCELLED,
    E.REPLACED: S.REPLACED,
    E.EXPIRED: S.EXPIRED,
    E.RUN_CHANGE: S.RUN_CANCELLED,
}

TRANSITIONS: dict[OrderStatus, dict[OrderEvent, OrderStatus]] = {
    S.SENT: {E.ACK: S.ACKED, E.REJECT: S.REJECTED, E.REJECTED: S.REJECTED, E.RUN_CHANGE: S.SENT},
    S.ACKED: {
        E.INSERTED: S.RESTING,
        E.PARTIAL_FILL: S.PARTIALLY_FILLED,
        E.NOT_FILLED: S.NOT_FILLED,
        E.REJECTED: S.REJECTED,
        **_WORKING_EXITS,
    },
    S.RESTING: {E.PARTIAL_FILL: S.PARTIALLY_FILLED, **_WORKING_EXITS},
    S.PARTIALLY_FILLED: {
        E.INSERTED: S.PARTIALLY_FILLED,
        E.PARTIAL_FILL: S.PARTIALLY_FILLED,
        E.NOT_FILLED: S.NOT_FILLED,
        **_WORKING_EXITS,
    },
    **{
        final: {E.RUN_CHANGE: final}
        for final in (
            S.FILLED,
            S.CANCELLED,
            S.REPLACED,
            S.EXPIRED,
            S.NOT_FILLED,
            S.REJECTED,
            S.RUN_CANCELLED,
        )
    },
}
"""state → event → next state. A missing pair is an illegal transition."""

OPEN_STATUSES: frozenset[OrderStatus] = frozenset({S.ACKED, S.RESTING, S.PARTIALLY_FILLED})
"""Acknowledged and not finished: the order may be on the book (it is, once a report says so)."""

LIVE_STATUSES: frozenset[OrderStatus] = OPEN_STATUSES | {S.SENT}
"""Not finished: open, or sent and not yet answered."""

FINAL_STATUSES: frozenset[OrderStatus] = frozenset(OrderStatus) - LIVE_STATUSES
"""Finished: no further event is legal except a run change (which changes nothing)."""


STATE_CODES: dict[OrderStatus, str] = {
    S.SENT: "SENT",
    S.ACKED: "ACKD",
    S.RESTING: "REST",
    S.PARTIALLY_FILLED: "PART",
    S.FILLED: "FILL",
    S.CANCELLED: "CXLD",
    S.REPLACED: "REPL",
    S.EXPIRED: "EXPD",
    S.NOT_FILLED: "NOTF",
    S.REJECTED: "REJD",
    S.RUN_CANCELLED: "RUNX",
}
"""Short state names used in the printed table."""

EVENT_CODES: dict[OrderEvent, str] = {
    E.ACK: "ack",
    E.REJECT: "rej",
    E.INSERTED: "ins",
    E.PARTIAL_FILL: "part",
    E.FILL: "fill",
    E.NOT_FILLED: "notf",
    E.CANCELLED: "cxl",
    E.REPLACED: "repl",
    E.EXPIRED: "exp",
    E.REJECTED: "rjct",
    E.RUN_CHANGE: "run",
}
"""Short event names used in the printed table."""


def transition(status: OrderStatus, event: OrderEvent) -> OrderStatus | None:
    """The next state, or None when ``event`` is illegal in ``status``."""
    return TRANSITIONS[status].get(event)


def render_table() -> str:
    """The transition table as printed in this module's docstring (short names)."""
    head = ["state", *(EVENT_CODES[e] for e in OrderEvent)]
    rows = [
        [
            STATE_CODES[s],
            *(STATE_CODES[t] if (t := TRANSITIONS[s].get(e)) else "·" for e in OrderEvent),
        ]
        for s in OrderStatus
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([line(head), sep, *(line(r) for r in rows)])


@dataclass(frozen=True, slots=True)
class Order:
    """One of the bot's orders as projected. Prices in cents; sizes in contracts."""

    entry_id: str
    contract_id: int
    is_ask: bool | None
    """The side; None for the replacement of an order the projection does not hold (placed
    before the journal began: LX/1's ``CancelReplace`` carries no side) until an exchange
    report of the replacement states its side."""
    price_in_cents: int
    original_size: int
    open_size: int
    filled_size: int
    status: OrderStatus
    time_in_force: int
    client_ref: str
    replaces: str
    """The entry id this order replaced (a ``CancelReplace``), or ""."""
    created_position: int
    updated_position: int


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of an own order (fee-free)."""

    position: int
    trade_id: int
    contract_id: int
    entry_id: str
    is_ask: bool
    price_in_cents: int
    size: int
