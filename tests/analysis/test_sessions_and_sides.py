"""The tables on hand-built journals: a participant's order channel continues across sessions
(a replay after a reconnect, a restart first seen on the new connection), a replacement keeps
its order's side, and an empty journal's tables have the dtypes of full ones. The projector is
the truth each table is held to."""

from __future__ import annotations

from pathlib import Path

import pytest
from journal_builder import RUN_A, RUN_B, JournalBuilder, ack, report
from recording import Recorded

from recorder import analysis
from recorder.audit import collect, order_story
from recorder.core.orders import OrderStatus
from recorder.journal import open_journal
from recorder.projection import project
from recorder.venues.lx import lx1_pb2 as pb

pd = pytest.importorskip("pandas")


def _bid(b: JournalBuilder, size: int = 10) -> pb.Envelope:
    """A resting bid of ``size`` at 100 on contract 1."""
    order = b.send(limit_order=pb.LimitOrder(contract_id=1, size=size, price_in_cents=100))
    b.receive(order.mid, **ack())
    b.receive(order.mid, **report(order.mid, pb.INSERTED, size, original=size))
    return order


def test_a_fill_replayed_in_a_later_session_is_counted_once(tmp_path: Path) -> None:
    b = JournalBuilder(tmp_path / "j.journal")
    b.session()
    order = _bid(b)  # seqs 1, 2
    b.receive(order.mid, **report(order.mid, pb.CROSS, 7, filled=3, trade_id=1))  # seq 3
    b.end("order channel silent for 3000 ms")
    # the SDK reconnects (a new session, the same participant) and asks for the order's
    # messages by mid: the exchange re-sends seqs 1..3 of the run, journaled once already
    b.session()
    replay = b.send(message_replay=pb.MessageReplay(run_id=RUN_A, mids=[order.mid]))
    b.receive(replay.mid, **ack())  # seq 4
    b.receive(order.mid, seq=1, replay=True, **ack())
    b.receive(order.mid, seq=2, replay=True, **report(order.mid, pb.INSERTED, 10))
    b.receive(order.mid, seq=3, replay=True,
              **report(order.mid, pb.CROSS, 7, filled=3, trade_id=1))  # fmt: skip
    done = pb.ReplayDone(run_id=RUN_A, from_seq=1, to_seq=4, count=3, complete=True)
    b.receive(replay.mid, replay_done=done)  # seq 5
    b.end()
    path = b.close()

    assert [f.size for f in project(path).fills] == [3]
    row = analysis.orders(path).set_index("mid").loc[order.mid]
    assert row["filled_size"] == 3
    assert row["frames"] == 4  # the request and its three replies, each once
    with open_journal(path, readonly=True) as journal:  # the audit trail reads it the same way
        story = order_story(journal, order.mid).lifecycle
        window = collect(journal, None, None).lifecycles
    assert story is not None and story.filled_size == 3
    assert [life.filled_size for life in window if life.mid == order.mid] == [3]


def test_two_participants_with_the_same_seqs_are_counted_apart(tmp_path: Path) -> None:
    """Seqs are per participant: the same (run, seq) of another participant is not a replay."""
    b = JournalBuilder(tmp_path / "j.journal")
    b.session("alice")
    first = _bid(b)
    b.receive(first.mid, **report(first.mid, pb.CROSS, 7, filled=3, trade_id=1))
    b.end()
    b.session("bob")
    second = _bid(b)
    b.receive(second.mid, **report(second.mid, pb.CROSS, 8, filled=2, trade_id=2))
    b.end()
    df = analysis.orders(b.close()).set_index("mid")
    assert df.loc[first.mid, "filled_size"] == 3 and df.loc[second.mid, "filled_size"] == 2
    assert df.loc[second.mid, "ack_code"] == "ACK"


def test_a_run_change_first_seen_in_a_new_session_ends_the_old_runs_orders(
    tmp_path: Path,
) -> None:
    b = JournalBuilder(tmp_path / "j.journal")
    b.session()
    order = _bid(b)  # run A
    b.end("order channel silent for 3000 ms: reconnecting")  # the exchange restarts meanwhile
    b.session()
    query = b.send(get_open_orders=pb.GetOpenOrders())
    b.receive(query.mid, run=RUN_B, **ack())  # the new connection's first frame: run B
    snapshot = pb.OpenOrdersSnapshot(run_id=RUN_B, as_of_seq=1)
    b.receive(query.mid, run=RUN_B, open_orders_snapshot=snapshot)
    b.end()
    path = b.close()

    (projected,) = [o for o in project(path).orders if o.entry_id == order.mid]
    assert projected.status is OrderStatus.RUN_CANCELLED
    row = analysis.orders(path).set_index("mid").loc[order.mid]
    assert row["outcome"] == "RUN_CHANGE"
    assert row["finished_time"] > row["acked_time"]


def test_a_cancel_replace_has_the_side_of_the_order_it_replaces(tmp_path: Path) -> None:
    b = JournalBuilder(tmp_path / "j.journal")
    b.session()
    b.market(book_top=pb.BookTop(contract_id=1, bid=4900, bid_size=1, ask=5100, ask_size=1))
    order = b.send(
        limit_order=pb.LimitOrder(contract_id=1, is_ask=True, size=5, price_in_cents=5000)
    )
    b.receive(order.mid, **ack())
    b.receive(order.mid, **report(order.mid, pb.INSERTED, 5, is_ask=True, price=5000, original=5))
    replace = b.send(
        cancel_replace=pb.CancelReplace(
            contract_id=1, entry_id=order.mid, size=4, price_in_cents=5010
        )
    )
    b.receive(replace.mid, **ack())
    b.receive(replace.mid, **report(order.mid, pb.REPLACED, 0, is_ask=True, price=5000, original=5))
    b.receive(
        replace.mid, **report(replace.mid, pb.INSERTED, 4, is_ask=True, price=5010, original=4)
    )
    # the replacement of an order this journal never saw (sent before it began): side unknown
    stranger = b.send(
        cancel_replace=pb.CancelReplace(contract_id=1, entry_id="f" * 32, size=1,
                                        price_in_cents=5020)
    )  # fmt: skip
    b.end()
    path = b.close()

    (replacement,) = [o for o in project(path).orders if o.entry_id == replace.mid]
    assert replacement.is_ask
    for table in (analysis.arrivals(path), analysis.orders(path)):
        side = table.set_index("mid")["side"]
        assert (side[order.mid], side[replace.mid], side[stranger.mid]) == ("ask", "ask", "")


def test_empty_tables_have_the_dtypes_of_full_ones(tmp_path: Path, recording: Recorded) -> None:
    """An empty day's export has the schema of a full day's: pandas would infer ``object``
    columns and ``datetime64[s, UTC]`` times from no values."""
    b = JournalBuilder(tmp_path / "empty.journal")
    b.session()
    b.end()
    empty = analysis.tables(b.close())
    full = analysis.tables(recording.path)
    for name in analysis.TABLES:
        assert len(empty[name]) == 0 < len(full[name]), name
        assert empty[name].dtypes.to_dict() == full[name].dtypes.to_dict(), name
        times = [c for c in empty[name].columns if c.endswith("_time")]
        assert times and all(str(empty[name][c].dtype) == "datetime64[ns, UTC]" for c in times)
