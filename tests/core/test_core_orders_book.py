"""The order state machine table, the L3 book's clock rules, FIFO positions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import recorder.core.orders as orders_module
from recorder.core.book import Book, ReportResult
from recorder.core.orders import (
    FINAL_STATUSES,
    TRANSITIONS,
    OrderEvent,
    OrderStatus,
    render_table,
    transition,
)
from recorder.core.positions import PositionLedger

INSERTED, CROSS, CANCELLED = 200, 201, 203


def test_docstring_prints_the_table() -> None:
    doc = orders_module.__doc__ or ""
    printed = "\n".join("    " + line for line in render_table().splitlines())
    assert printed in doc


def test_table_covers_every_state_and_finals_only_take_run_change() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    for final in FINAL_STATUSES:
        assert TRANSITIONS[final] == {OrderEvent.RUN_CHANGE: final}


def test_lifecycle() -> None:
    status = OrderStatus.SENT
    for event, expected in [
        (OrderEvent.ACK, OrderStatus.ACKED),
        (OrderEvent.PARTIAL_FILL, OrderStatus.PARTIALLY_FILLED),
        (OrderEvent.INSERTED, OrderStatus.PARTIALLY_FILLED),
        (OrderEvent.FILL, OrderStatus.FILLED),
    ]:
        nxt = transition(status, event)
        assert nxt is expected
        status = nxt
    assert transition(OrderStatus.FILLED, OrderEvent.INSERTED) is None
    assert transition(OrderStatus.RESTING, OrderEvent.RUN_CHANGE) is OrderStatus.RUN_CANCELLED


@given(st.lists(st.sampled_from(list(OrderEvent)), max_size=30))
def test_any_event_sequence_never_raises(events: list[OrderEvent]) -> None:
    status = OrderStatus.SENT
    for event in events:
        status = transition(status, event) or status
    assert status in OrderStatus


def test_book_clock_order_gap_and_snapshot() -> None:
    b = Book(1)
    assert b.apply_report(1, "a", False, 100, 5, INSERTED) is ReportResult.APPLIED
    assert b.apply_report(2, "b", True, 105, 3, INSERTED) is ReportResult.APPLIED
    assert b.top_tuple() == (100, 5, 105, 3)
    assert b.apply_report(2, "b", True, 105, 3, INSERTED) is ReportResult.OLD
    assert b.apply_report(5, "c", False, 101, 1, INSERTED) is ReportResult.GAP
    assert not b.synced
    assert b.apply_report(6, "c", False, 101, 0, CANCELLED) is ReportResult.BUFFERED
    # the snapshot at clock 4 already has d; c comes after it and then leaves
    b.load_snapshot(4, [("a", False, 100, 2), ("d", False, 100, 7), ("b", True, 105, 3)])
    assert b.synced and b.clock == 6
    assert [(e.entry_id, e.size) for e in b.l3()] == [("a", 2), ("d", 7), ("b", 3)]
    assert b.top().bid_size == 9
    lv = b.levels(False)[0]
    assert (lv.price_in_cents, lv.size, lv.orders) == (100, 9, 2)


def test_book_crosses_and_aggressor_reports() -> None:
    b = Book(1)
    b.apply_report(1, "rest", True, 105, 5, INSERTED)
    b.apply_report(2, "rest", True, 105, 2, CROSS)  # resting side filled 3
    b.apply_report(3, "aggr", False, 105, 0, CROSS)  # aggressor not on the book: no change
    assert [(e.entry_id, e.size) for e in b.l3()] == [("rest", 2)]
    b.apply_report(4, "rest", True, 105, 0, CROSS)
    assert b.l3() == () and b.asks == {}


def test_book_snapshot_restore_is_exact() -> None:
    b = Book(3)
    for clock, (e, ask, p, s) in enumerate([("x", 0, 9, 1), ("y", 1, 11, 2), ("z", 0, 9, 4)], 1):
        b.apply_report(clock, e, bool(ask), p, s, INSERTED)
    b.apply_report(9, "w", True, 12, 1, INSERTED)
    assert Book.restore(b.snapshot()).snapshot() == b.snapshot()


def test_positions_fifo_realised_pnl() -> None:
    p = PositionLedger(1)
    p.fill(False, 100, 5)  # buy 5 @100
    p.fill(False, 110, 5)  # buy 5 @110
    p.fill(True, 120, 7)  # sell 7 @120: 5*(20) + 2*(10) = 120
    v = p.view()
    assert (v.net_size, v.realised_pnl_cents, v.open_cost_cents) == (3, 120, 330)
    assert v.avg_price_in_cents == 110
    p.fill(True, 90, 5)  # close 3 @110 -> -60, open short 2 @90
    v = p.view()
    assert (v.net_size, v.realised_pnl_cents, v.avg_price_in_cents) == (-2, 60, 90)
    p.fill(False, 80, 2)  # cover short: +20
    assert p.view().realised_pnl_cents == 80 and p.view().net_size == 0
    assert PositionLedger.restore(p.snapshot()).snapshot() == p.snapshot()


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 200), st.integers(1, 10)), max_size=40))
def test_positions_pnl_matches_cash_when_flat(fills: list[tuple[bool, int, int]]) -> None:
    p = PositionLedger(1)
    cash = 0
    for is_ask, price, size in fills:
        p.fill(is_ask, price, size)
        cash += price * size if is_ask else -price * size
    v = p.view()
    # realised + the open position valued at its own cost == cash flow + that cost
    signed_cost = v.open_cost_cents if v.net_size > 0 else -v.open_cost_cents
    assert v.realised_pnl_cents == cash + signed_cost
    assert v.net_size == sum(-s if a else s for a, _, s in fills)
