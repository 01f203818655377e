"""Lifecycles of a replacement order, of orders around a run change and of orders the
reconciler closed, on hand-built journals; the projector is the truth each one is held to."""

from __future__ import annotations

from pathlib import Path

import pytest
from journal_builder import RUN_A, RUN_B, JournalBuilder, ack, report

from recorder import analysis
from recorder.audit import collect
from recorder.core.orders import OrderStatus
from recorder.core.recovery import Correction, CorrectionKind
from recorder.journal import open_journal
from recorder.projection import project
from recorder.venues.lx import lx1_pb2 as pb

pd = pytest.importorskip("pandas")


def _bid(b: JournalBuilder, size: int = 10, *, run: str = RUN_A) -> pb.Envelope:
    """A resting bid of ``size`` at 100 on contract 1."""
    order = b.send(limit_order=pb.LimitOrder(contract_id=1, size=size, price_in_cents=100))
    b.receive(order.mid, run=run, **ack())
    b.receive(order.mid, run=run, **report(order.mid, pb.INSERTED, size, original=size))
    return order


def _replace(b: JournalBuilder, entry_id: str, size: int, price: int) -> pb.Envelope:
    """A ``CancelReplace`` of the ask ``entry_id``: ACK, ``REPLACED``, the replacement rests."""
    replace = b.send(
        cancel_replace=pb.CancelReplace(
            contract_id=1, entry_id=entry_id, size=size, price_in_cents=price
        )
    )
    b.receive(replace.mid, **ack())
    b.receive(replace.mid, **report(entry_id, pb.REPLACED, 0, is_ask=True, original=size))
    b.receive(
        replace.mid,
        **report(replace.mid, pb.INSERTED, size, is_ask=True, price=price, original=size),
    )
    return replace


def test_a_replacement_keeps_the_client_ref_of_the_order_it_replaces(tmp_path: Path) -> None:
    """LX/1's ``CancelReplace`` has no ``client_ref``: the replacement is the bot's same order
    moved (new mid, same side), and the projector gives it the replaced order's reference."""
    b = JournalBuilder(tmp_path / "j.journal")
    b.session()
    order = b.send(
        limit_order=pb.LimitOrder(
            contract_id=1, is_ask=True, size=5, price_in_cents=5000, client_ref="mm-1"
        )
    )
    b.receive(order.mid, **ack())
    b.receive(order.mid, **report(order.mid, pb.INSERTED, 5, is_ask=True, price=5000, original=5))
    first = _replace(b, order.mid, 4, 5010)
    second = _replace(b, first.mid, 3, 5020)  # a replacement of the replacement
    b.receive(second.mid, **report(second.mid, pb.CROSS, 0, is_ask=True, price=5020, filled=3,
                                   original=3, trade_id=1))  # fmt: skip
    b.end()
    path = b.close()

    projected = {o.entry_id: o.client_ref for o in project(path).orders}
    assert projected[first.mid] == projected[second.mid] == "mm-1"
    refs = analysis.orders(path).set_index("mid")["client_ref"]
    assert (refs[order.mid], refs[first.mid], refs[second.mid]) == ("mm-1", "mm-1", "mm-1")
    assert list(analysis.fills(path)["client_ref"]) == ["mm-1"]
    with open_journal(path, readonly=True) as journal:
        window = {life.mid: life.client_ref for life in collect(journal, None, None).lifecycles}
    assert window[second.mid] == "mm-1"


def test_a_late_frame_of_the_replaced_run_does_not_end_the_new_runs_orders(
    tmp_path: Path,
) -> None:
    """The order channel may still deliver the old run's last frames after the new run's first
    ones (docs/protocol.md, "Recorder decisions"): they are stale, not a second run change."""
    b = JournalBuilder(tmp_path / "j.journal")
    b.session()
    old = _bid(b)  # run A, seqs 1 and 2
    in_flight = b.send(limit_order=pb.LimitOrder(contract_id=1, size=2, price_in_cents=100))
    b.end("order channel silent for 3000 ms: reconnecting")  # the exchange restarts meanwhile
    b.session()
    new = _bid(b, run=RUN_B)  # the first frames of run B: a run change
    # the old run's last frames, held up on the way: a fill of the old order, and the ACK of
    # the request sent just before the restart
    b.receive(old.mid, run=RUN_A, **report(old.mid, pb.CROSS, 7, filled=3, trade_id=1))
    b.receive(in_flight.mid, run=RUN_A, **ack())
    b.end()
    path = b.close()

    state = project(path)
    status = {o.entry_id: o.status for o in state.orders}
    assert status[new.mid] is OrderStatus.RESTING and status[old.mid] is OrderStatus.RUN_CANCELLED
    assert [(f.entry_id, f.size) for f in state.fills] == [(old.mid, 3)]  # the money moved
    df = analysis.orders(path).set_index("mid")
    assert df.loc[new.mid, "outcome"] == "" and pd.isna(df.loc[new.mid, "finished_ns"])
    assert df.loc[old.mid, "outcome"] == "RUN_CHANGE" and df.loc[old.mid, "filled_size"] == 3
    # acknowledged in a run that is gone: released by the run change, as the SDK does
    assert df.loc[in_flight.mid, "outcome"] == "RUN_CHANGE"


def test_every_correction_row_counts(tmp_path: Path) -> None:
    """Correction rows all have seq 0 (docs/protocol.md, "Recorder decisions"): each one closes
    its order, none is a replay of another."""
    b = JournalBuilder(tmp_path / "j.journal")
    b.session()
    orders = [_bid(b), _bid(b, 4)]
    # a replay refused: the reconciler asks for the open orders, none is open any more
    query = b.send(get_open_orders=pb.GetOpenOrders())
    b.receive(query.mid, **ack())
    snapshot = pb.OpenOrdersSnapshot(run_id=RUN_A, as_of_seq=5)
    b.receive(query.mid, open_orders_snapshot=snapshot)
    for order in orders:
        size = order.limit_order.size
        c = Correction(CorrectionKind.CLOSE, order.mid, 1, False, 100, size, 0, size)
        b.correction(c, evidence_mid=query.mid)
    b.end()
    path = b.close()

    status = {o.entry_id: o.status for o in project(path).orders}
    assert [status[o.mid] for o in orders] == [OrderStatus.CANCELLED] * 2
    df = analysis.orders(path).set_index("mid")
    assert [df.loc[o.mid, "outcome"] for o in orders] == ["CANCELLED"] * 2
    assert df.loc[orders[1].mid, "finished_ns"] > df.loc[orders[0].mid, "finished_ns"]


def test_a_run_change_ends_only_the_orders_of_the_participant_that_saw_it(
    tmp_path: Path,
) -> None:
    """Each participant learns of the restart from its own stream (docs/protocol.md §6): until
    then its orders' last reports of the old run still come, and count."""
    b = JournalBuilder(tmp_path / "j.journal")
    b.session("alice")
    alices = _bid(b)
    b.session("bob")
    bobs = _bid(b)
    b.session("alice")
    _bid(b, run=RUN_B)  # alice's first frames of run B: her run change
    b.session("bob")
    # bob's order filled just before the restart; his stream says so before it shows run B
    b.receive(bobs.mid, **report(bobs.mid, pb.CROSS, 0, filled=10, trade_id=1))
    _bid(b, run=RUN_B)
    b.end()
    df = analysis.orders(b.close()).set_index("mid")
    assert df.loc[alices.mid, "outcome"] == "RUN_CHANGE"
    assert df.loc[bobs.mid, "outcome"] == "FILLED" and df.loc[bobs.mid, "filled_size"] == 10
