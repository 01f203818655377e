"""What a missing value is in each column of the tables (recorder.analysis's docstring): the
nullable integers (``Int64``) keep every nanosecond of the clocks they hold beside ``<NA>``;
text columns are ``str`` and say "none" with ``""``, never ``None``, ``NaN`` or ``"None"``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from journal_builder import RUN_A, JournalBuilder, ack, report

from recorder import analysis
from recorder.core.frames import Channel
from recorder.journal import open_journal
from recorder.lifecycle import lifecycles
from recorder.venues.lx import lx1_pb2 as pb

pd = pytest.importorskip("pandas")

STR = pd.Series([], dtype="str").dtype
"""What the tables' declared ``"str"`` is in this pandas (``object`` in 2.x)."""


def _journal(tmp_path: Path) -> tuple[Path, dict[str, pb.Envelope], int]:
    """A filled order, a resting one, a request never answered, a replacement of an order the
    journal never saw; a gap closed and one still open. Clocks at odd nanoseconds: 1.7e18 ns is
    past 2**53, where a float64 keeps only multiples of 256 ns."""
    b = JournalBuilder(tmp_path / "j.journal")
    b.wall_ns += 7
    b.session()
    filled = b.send(limit_order=pb.LimitOrder(contract_id=1, size=2, price_in_cents=100,
                                              client_ref="r-1"))  # fmt: skip
    b.receive(filled.mid, **ack())
    b.receive(filled.mid, **report(filled.mid, pb.CROSS, 0, filled=2, original=2, trade_id=1))
    resting = b.send(limit_order=pb.LimitOrder(contract_id=1, size=3, price_in_cents=99))
    b.receive(resting.mid, **ack())
    b.receive(resting.mid, **report(resting.mid, pb.INSERTED, 3, price=99, original=3))
    unanswered = b.send(get_contracts=pb.GetContracts())
    stranger = b.send(
        cancel_replace=pb.CancelReplace(contract_id=1, entry_id="f" * 32, size=1,
                                        price_in_cents=101)
    )  # fmt: skip
    b.end()
    closed = b.journal.open_gap(session_id=b.session_id, channel=Channel.ORDER, run_id=RUN_A,
                                from_seq=10, to_seq=11, wall_ns=b.wall_ns + 1)  # fmt: skip
    b.journal.update_gap(closed, "requested", wall_ns=b.wall_ns + 3)
    b.journal.update_gap(closed, "filled", wall_ns=b.wall_ns + 5)
    b.journal.open_gap(session_id=b.session_id, channel=Channel.ORDER, run_id=RUN_A,
                       from_seq=20, to_seq=20, wall_ns=b.wall_ns + 9)  # fmt: skip
    sent = {"filled": filled, "resting": resting, "unanswered": unanswered, "stranger": stranger}
    return b.close(), sent, b.wall_ns


def _str_columns(df: Any) -> list[str]:
    return [c for c, t in df.dtypes.items() if t == STR]


def _assert_text_has_no_missing(df: Any) -> None:
    for column in _str_columns(df):
        values = df[column]
        assert values.notna().all(), column
        assert not values.isin(["None", "nan", "<NA>"]).any(), column


def test_orders_clocks_are_exact_and_missing_is_na(tmp_path: Path) -> None:
    path, sent, _ = _journal(tmp_path)
    with open_journal(path, readonly=True) as journal:
        lives = {life.mid: life for life in lifecycles(journal.frames())}
    df = analysis.orders(path).set_index("mid")
    for column in ("acked_ns", "first_fill_ns", "finished_ns"):
        assert str(df[column].dtype) == "Int64", column
        for mid, life in lives.items():
            value, expected = df.loc[mid, column], getattr(life, column)
            if expected is None:
                assert value is pd.NA, (column, mid)
            else:
                assert value == expected, (column, mid)  # to the nanosecond
                assert df.loc[mid, column.removesuffix("_ns") + "_time"].value == expected
        times = df[column.removesuffix("_ns") + "_time"]
        assert times.isna().tolist() == df[column].isna().tolist(), column
    filled, resting = sent["filled"].mid, sent["resting"].mid
    unanswered, stranger = sent["unanswered"].mid, sent["stranger"].mid
    assert df.loc[filled, "finished_ns"] % 256 != 0  # odd clocks, so the check above has teeth
    assert pd.isna(df.loc[resting, "first_fill_ns"]) and pd.isna(df.loc[resting, "finished_ns"])
    assert pd.isna(df.loc[unanswered, "acked_ns"]) and pd.isna(df.loc[unanswered, "ack_latency_us"])
    assert str(df["ack_latency_us"].dtype) == "float64"

    assert {"side", "client_ref", "batch_mid", "run_id", "ack_code", "outcome"} <= set(
        _str_columns(df)
    )
    _assert_text_has_no_missing(df)
    assert (df.loc[stranger, "side"], df.loc[filled, "side"]) == ("", "bid")
    assert (df.loc[resting, "client_ref"], df.loc[filled, "client_ref"]) == ("", "r-1")
    assert (df.loc[resting, "outcome"], df.loc[filled, "outcome"]) == ("", "FILLED")
    assert (df.loc[unanswered, "ack_code"], df.loc[unanswered, "run_id"]) == ("", "")
    assert (df["batch_mid"] == "").all()
    for name, table in analysis.tables(path).items():  # and the text of every other table
        assert _str_columns(table) or name == "positions", name
        _assert_text_has_no_missing(table)


def test_gaps_clocks_are_exact_and_missing_is_na(tmp_path: Path) -> None:
    path, _, wall = _journal(tmp_path)
    df = analysis.gaps(path)
    for column in ("requested_wall_ns", "closed_wall_ns", "detected_position", "contract_id"):
        assert str(df[column].dtype) == "Int64", column
    assert df["requested_wall_ns"].tolist() == [wall + 3, pd.NA]
    assert df["closed_wall_ns"].tolist() == [wall + 5, pd.NA]
    assert [t.value for t in df["closed_time"].iloc[:1]] == [wall + 5]
    assert df["closed_time"].isna().tolist() == [False, True]
    assert df["contract_id"].isna().all()  # an order-channel gap names no contract
    assert df["reason"].tolist() == ["", ""]
    _assert_text_has_no_missing(df)
