"""The projector's gap handling with hand-made frames: held frames, replay outcomes, run change."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from recorder.core.orders import OrderStatus
from recorder.core.projector import Projector
from recorder.core.recovery import CORRECTION_KIND
from recorder.core.state import AnomalyKind, GapStatus, View
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import encode, kind_of, make_envelope

RUN = "a" * 32
RUN2 = "b" * 32
A = "1" * 32


class Feed:
    """Journal rows built from LX/1 bodies, positions counted from 1."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def add(self, body: Message, *, channel: str = "order", direction: str = "in", seq: int = 0,
            mid: str = "", run: str = RUN, replay: bool = False) -> int:  # fmt: skip
        run = run if direction == "in" else ""
        env = make_envelope(body, mid=mid, seq=seq, run_id=run, is_replay=replay)
        position = len(self.rows) + 1
        self.rows.append((position, 1, channel, direction, position, position, run, seq, mid,
                          kind_of(env), int(replay), 0, encode(env)))  # fmt: skip
        return position

    def project(self, view: View) -> Projector:
        p = Projector(view)
        p.apply_rows(self.rows)
        return p


def report(status: int, size: int, *, filled: int = 0, trade: int = 0) -> pb.ActionReport:
    return pb.ActionReport(contract_id=1, entry_id=A, status_type=status, is_ask=False,
                           price_in_cents=100, size=size, original_size=5, filled_size=filled,
                           filled_price=100 if filled else 0, trade_id=trade)  # fmt: skip


def order_story() -> Feed:
    f = Feed()
    f.add(pb.LimitOrder(contract_id=1, size=5, price_in_cents=100), direction="out", seq=1, mid=A)
    f.add(pb.Status(code=pb.ACK), seq=1, mid=A)
    f.add(report(pb.INSERTED, 5), seq=2, mid=A)
    # seq 3 (a partial fill of 2) is lost; seq 4 fills the remaining 3
    f.add(report(pb.CROSS, 0, filled=3, trade=2), seq=4, mid=A)
    f.add(pb.MessageReplay(run_id=RUN, from_seq=3, to_seq=3), direction="out", seq=2, mid="r1")
    return f


def test_exchange_view_holds_frames_until_the_gap_is_filled() -> None:
    f = order_story()
    held = f.project(View.EXCHANGE)
    assert held.open_orders()[0].status is OrderStatus.RESTING  # seq 4 waits behind seq 3
    assert held.state().gaps[0].status is GapStatus.OPEN
    known = f.project(View.KNOWN)
    assert known.state().orders[0].status is OrderStatus.FILLED  # what the bot knew
    f.add(report(pb.CROSS, 3, filled=2, trade=1), seq=3, mid=A, replay=True)
    f.add(pb.ReplayDone(run_id=RUN, from_seq=3, to_seq=3, count=1, complete=True), seq=5,
          mid="r1")  # fmt: skip
    state = f.project(View.EXCHANGE).state()
    [order] = state.orders
    assert order.status is OrderStatus.FILLED and order.filled_size == 5
    assert [fill.trade_id for fill in state.fills] == [1, 2]  # seq order, not arrival order
    assert state.gaps[0].status is GapStatus.FILLED and state.anomalies == ()
    known_state = f.project(View.KNOWN).state()
    assert [fill.trade_id for fill in known_state.fills] == [2, 1]
    assert any(a.kind is AnomalyKind.ILLEGAL_TRANSITION for a in known_state.anomalies)


def test_complete_replay_without_the_frame_keeps_the_gap_open() -> None:
    """Replayed frames lost on the way: the exchange still holds them, nothing is written off."""
    f = order_story()
    f.add(pb.ReplayDone(run_id=RUN, from_seq=3, to_seq=3, count=1, complete=True), seq=5,
          mid="r1")  # fmt: skip
    state = f.project(View.EXCHANGE).state()
    assert state.orders[0].status is OrderStatus.RESTING  # seq 4 still held behind seq 3
    [gap] = state.gaps
    assert (gap.status, gap.from_seq, gap.to_seq) == (GapStatus.OPEN, 3, 3)
    # the reconciler asks again; this time seq 3 arrives
    f.add(pb.MessageReplay(run_id=RUN, from_seq=3, to_seq=3), direction="out", seq=3, mid="r2")
    late = f.add(report(pb.CROSS, 3, filled=2, trade=1), seq=3, mid=A, replay=True)
    f.add(pb.ReplayDone(run_id=RUN, from_seq=3, to_seq=3, count=1, complete=True), seq=6,
          mid="r2")  # fmt: skip
    for view in View:  # both views now hold the late fill (before the fix: neither did)
        state = f.project(view).state()
        assert state.orders[0].status is OrderStatus.FILLED
        assert sorted(fill.trade_id for fill in state.fills) == [1, 2]
        [gap] = state.gaps
        assert (gap.status, gap.closed_position) == (GapStatus.FILLED, late)
    exchange = f.project(View.EXCHANGE).state()
    assert exchange.orders[0].filled_size == 5  # applied in seq order
    assert [fill.trade_id for fill in exchange.fills] == [1, 2] and exchange.anomalies == ()


def test_refusal_after_a_complete_replay_without_the_frame_writes_the_gap_off() -> None:
    f = order_story()
    f.add(pb.ReplayDone(run_id=RUN, from_seq=3, to_seq=3, count=1, complete=True), seq=5,
          mid="r1")  # fmt: skip
    f.add(pb.MessageReplay(run_id=RUN, from_seq=3, to_seq=3), direction="out", seq=3, mid="r2")
    refused = f.add(pb.Status(code=pb.REJECT_REPLAY_UNAVAILABLE), seq=6, mid="r2")
    state = f.project(View.EXCHANGE).state()
    assert state.orders[0].status is OrderStatus.FILLED  # seq 4 released
    [gap] = state.gaps
    assert (gap.status, gap.closed_position) == (GapStatus.UNRECOVERABLE, refused)


def test_replay_unavailable_releases_held_frames() -> None:
    f = order_story()
    f.add(pb.Status(code=pb.REJECT_REPLAY_UNAVAILABLE), seq=5, mid="r1")
    state = f.project(View.EXCHANGE).state()
    assert state.orders[0].status is OrderStatus.FILLED
    assert state.gaps[0].status is GapStatus.UNRECOVERABLE


def test_run_change_cancels_open_orders_and_closes_gaps() -> None:
    f = order_story()
    f.add(pb.Heartbeat(interval_ms=1000, beat=1), seq=1, run=RUN2)
    late = f.add(report(pb.CROSS, 3, filled=2, trade=1), seq=3, mid=A, replay=True)
    p = f.project(View.EXCHANGE)
    state = p.state()
    # held seq 4 was delivered before the new run took over: the order had filled
    assert state.orders[0].status is OrderStatus.FILLED
    assert state.gaps[0].status is GapStatus.UNRECOVERABLE
    assert p.run_id == RUN2 and state.run_id == RUN2
    # the lost partial fill, replayed after the run change, is stale but still a fill; a second
    # copy of it is not counted twice
    assert (late, AnomalyKind.STALE_RUN) in {(a.position, a.kind) for a in state.anomalies}
    assert [fill.trade_id for fill in state.fills] == [2, 1]
    f.add(report(pb.CROSS, 3, filled=2, trade=1), seq=3, mid=A, replay=True)
    assert [fill.trade_id for fill in f.project(View.EXCHANGE).state().fills] == [2, 1]
    g = Feed()
    g.add(pb.LimitOrder(contract_id=1, size=5, price_in_cents=100), direction="out", seq=1, mid=A)
    g.add(pb.Status(code=pb.ACK), seq=1, mid=A)
    g.add(report(pb.INSERTED, 5), seq=2, mid=A)
    g.add(pb.Heartbeat(interval_ms=1000, beat=1), seq=1, run=RUN2)
    assert g.project(View.EXCHANGE).state().orders[0].status is OrderStatus.RUN_CANCELLED


def test_a_correction_in_a_new_run_held_behind_its_first_gap_is_a_run_change() -> None:
    """The new run's seq 1 was lost before the connection existed: its frames wait behind the
    gap, but the reconciler's run-change corrections (seq 0, written in the new run) come
    first; the orders are run_cancelled, not closed as if the exchange had cancelled them."""
    for view in (View.EXCHANGE, View.KNOWN):
        g = Feed()
        g.add(pb.LimitOrder(contract_id=1, size=5, price_in_cents=100), direction="out", seq=1,
              mid=A)  # fmt: skip
        g.add(pb.Status(code=pb.ACK), seq=1, mid=A)
        g.add(report(pb.INSERTED, 5), seq=2, mid=A)
        g.add(pb.Status(code=pb.ACK), seq=2, mid="m" * 32, run=RUN2)  # seq 1 of RUN2 missing
        position = len(g.rows) + 1
        env = make_envelope(report(pb.CANCELLED, 0), seq=0, run_id=RUN2)
        g.rows.append((position, 1, "order", "in", position, position, RUN2, 0, "",
                       CORRECTION_KIND, 0, 0, encode(env)))  # fmt: skip
        p = g.project(view)
        assert p.run_id == RUN2
        assert p.state().orders[0].status is OrderStatus.RUN_CANCELLED


def test_open_orders_snapshot_disagreement_is_an_anomaly() -> None:
    f = Feed()
    f.add(pb.LimitOrder(contract_id=1, size=5, price_in_cents=100), direction="out", seq=1, mid=A)
    f.add(pb.Status(code=pb.ACK), seq=1, mid=A)
    f.add(report(pb.INSERTED, 5), seq=2, mid=A)
    entry = pb.OpenOrder(entry_id=A, contract_id=1, price_in_cents=100, size=4, original_size=5)
    wrong = pb.OpenOrdersSnapshot(run_id=RUN, as_of_seq=2, entries=[entry])
    at = f.add(wrong, seq=3)
    [anomaly] = f.project(View.EXCHANGE).state().anomalies
    assert anomaly.kind is AnomalyKind.OPEN_ORDERS_MISMATCH and anomaly.position == at


def test_market_gap_resyncs_the_book_from_a_snapshot() -> None:
    f = Feed()
    entry = {"contract_id": 1, "is_ask": True, "price_in_cents": 101, "status_type": pb.INSERTED}
    f.add(pb.ActionReport(entry_id="x", size=1, clock=1, **entry), channel="market", seq=1)
    # market seqs 2..3 (clocks 2..3) are lost
    f.add(pb.ActionReport(entry_id="y", size=2, clock=4, **entry), channel="market", seq=4)
    p = f.project(View.EXCHANGE)
    assert not p.books[1].synced
    snap = pb.BookStateSnapshot(contract_id=1, clock=3, entries=[
        pb.BookEntry(entry_id="z", is_ask=True, price_in_cents=101, size=7)])  # fmt: skip
    f.add(snap, seq=1)
    state = f.project(View.EXCHANGE).state()
    book = state.books[1]
    assert book.synced and book.clock == 4
    assert [(e.entry_id, e.size) for e in book.entries] == [("z", 7), ("y", 2)]
    statuses = sorted((g.channel.value, g.contract_id, g.status.value) for g in state.gaps)
    assert statuses == [("market", 0, "unrecoverable"), ("market", 1, "resynced")]


def test_a_market_frame_of_a_new_run_first_flushes_held_order_frames() -> None:
    f = order_story()  # seq 4 (the fill) is held behind the lost seq 3
    f.add(pb.Heartbeat(interval_ms=1000, beat=1), channel="market", seq=1, run=RUN2)
    late = f.add(report(pb.CROSS, 0, filled=1, trade=9), seq=6, mid=A)  # old run, arrives late
    state = f.project(View.EXCHANGE).state()
    assert state.orders[0].status is OrderStatus.FILLED
    assert [fill.trade_id for fill in state.fills] == [2, 9]  # the late fill is kept
    assert state.gaps[0].status is GapStatus.UNRECOVERABLE
    kinds = {(a.position, a.kind) for a in state.anomalies}
    assert (late, AnomalyKind.STALE_RUN) in kinds


def test_live_orders_are_the_unfinished_ones() -> None:
    f = order_story()
    f.add(pb.LimitOrder(contract_id=1, size=1, price_in_cents=90), direction="out", seq=3,
          mid="2" * 32)  # fmt: skip
    live = f.project(View.EXCHANGE).live_orders()
    assert [(o.entry_id, o.status) for o in live] == [
        (A, OrderStatus.RESTING),
        ("2" * 32, OrderStatus.SENT),
    ]


def test_a_held_book_snapshot_released_late_does_not_move_the_book_back() -> None:
    """The market channel is never held: when the exchange view releases an order-channel
    ``BookStateSnapshot`` after the book moved on, the older snapshot is ignored."""
    f = Feed()

    def ask(entry_id: str, size: int, clock: int) -> pb.ActionReport:
        return pb.ActionReport(contract_id=1, entry_id=entry_id, status_type=pb.INSERTED,
                               is_ask=True, price_in_cents=101, size=size, clock=clock)  # fmt: skip

    f.add(ask("x", 1, 1), channel="market", seq=1)
    f.add(pb.Heartbeat(interval_ms=1000, beat=1), seq=1)
    # order seq 2 is lost; seq 3, the snapshot at clock 1, is held behind it
    f.add(pb.MessageReplay(run_id=RUN, from_seq=2, to_seq=2), direction="out", seq=1, mid="r1")
    snap = pb.BookStateSnapshot(contract_id=1, clock=1, entries=[
        pb.BookEntry(entry_id="x", is_ask=True, price_in_cents=101, size=1)])  # fmt: skip
    f.add(snap, seq=3)
    f.add(ask("y", 2, 2), channel="market", seq=2)
    f.add(pb.Heartbeat(interval_ms=1000, beat=2), seq=2, replay=True)
    f.add(pb.ReplayDone(run_id=RUN, from_seq=2, to_seq=2, count=1, complete=True), seq=4,
          mid="r1")  # fmt: skip
    for view in View:
        book = f.project(view).state().books[1]
        assert book.synced and book.clock == 2
        assert [(e.entry_id, e.size) for e in book.entries] == [("x", 1), ("y", 2)]
