"""The analysis tables agree with the projector, the lifecycles and the journal; the export
writes them with a manifest that checks out."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from recording import Recorded

from recorder import analysis
from recorder.cli import main
from recorder.journal import open_journal
from recorder.lifecycle import lifecycles
from recorder.projection import project
from recorder.venues.lx import lx1_pb2 as pb

pd = pytest.importorskip("pandas")


def test_frames_table(recording: Recorded) -> None:
    df = analysis.frames(recording.path)
    with open_journal(recording.path, readonly=True) as journal:
        rows = list(journal.rows())
    assert len(df) == len(rows) == recording.result.report.frames
    assert list(df["position"]) == [r[0] for r in rows]
    assert str(df["wall_time"].dtype) == "datetime64[ns, UTC]"
    assert set(df["channel"]) == {"order", "market"} and df["is_replay"].any()
    with_payload = analysis.frames(recording.path, payload=True)
    assert list(with_payload["payload"]) == [r[12] for r in rows]


def test_orders_table_is_the_lifecycles(recording: Recorded) -> None:
    df = analysis.orders(recording.path)
    with open_journal(recording.path, readonly=True) as journal:
        lives = lifecycles(journal.frames())
    assert list(df["mid"]) == [life.mid for life in lives]
    acked = df.dropna(subset=["ack_latency_us"])
    assert len(acked) > 10 and (acked["ack_latency_us"] > 0).all()
    assert set(acked["ack_latency_clock"]) == {"mono"}  # the SDK's one capture point
    expected = (acked["acked_mono_ns"] - acked["sent_mono_ns"]) / 1000
    assert (expected == acked["ack_latency_us"]).all()
    filled = df.dropna(subset=["time_to_fill_us"])
    assert len(filled) > 0 and (filled["filled_size"] > 0).all()
    assert {"LimitOrder", "CancelReplace", "GetContracts"} <= set(df["kind"])


def test_fills_and_positions_equal_the_projector(recording: Recorded) -> None:
    state = project(recording.path)
    fills = analysis.fills(recording.path)
    assert len(fills) == len(state.fills) > 0
    assert list(fills["trade_id"]) == [f.trade_id for f in state.fills]
    assert (fills["wall_ns"] > 0).all()
    # the same fills read straight from the private reports in the frames (each once)
    frames = analysis.frames(recording.path, payload=True)
    reports = frames[(frames["kind"] == "ActionReport") & (frames["channel"] == "order")]
    seen = set()
    raw = []
    for payload in reports["payload"]:
        r = pb.Envelope.FromString(payload).action_report
        if r.filled_size and (r.trade_id, r.entry_id) not in seen:
            seen.add((r.trade_id, r.entry_id))
            raw.append((r.trade_id, r.entry_id, r.filled_price, r.filled_size))
    projected = list(
        zip(fills["trade_id"], fills["entry_id"], fills["price_in_cents"], fills["size"],
            strict=True)
    )  # fmt: skip
    assert sorted(raw) == sorted(projected)
    curve = analysis.positions(recording.path)
    assert len(curve) == len(fills)
    last = curve.groupby("contract_id").last()
    for cid, p in state.positions.items():
        assert last.loc[cid, "net_size"] == p.net_size
        assert last.loc[cid, "realised_pnl_cents"] == p.realised_pnl_cents
    total = sum(p.realised_pnl_cents for p in state.positions.values())
    assert curve["total_realised_pnl_cents"].iloc[-1] == total


def test_arrivals_and_slippage(recording: Recorded) -> None:
    arrivals = analysis.arrivals(recording.path)
    orders = analysis.orders(recording.path)
    trades = orders[orders["kind"].isin(["LimitOrder", "CancelReplace"])]
    assert sorted(arrivals["mid"]) == sorted(trades["mid"])
    quoted = arrivals.dropna(subset=["mid_price"])
    assert len(quoted) >= 0.9 * len(arrivals)  # the bot quotes off book tops
    assert (quoted["top_age_us"] >= 0).all()
    assert (quoted["ask"] >= quoted["bid"]).all()
    assert ((quoted["bid"] + quoted["ask"]) / 2 == quoted["mid_price"]).all()
    slip = analysis.slippage(recording.path)
    assert len(slip) == len(analysis.fills(recording.path))
    row = slip.dropna(subset=["mid_price"]).iloc[0]
    sign = -1 if row["is_ask"] else 1
    assert row["slippage_cents"] == (row["price_in_cents"] - row["mid_price"]) * sign


def test_gaps_table(recording: Recorded) -> None:
    df = analysis.gaps(recording.path)
    assert len(df) == len(recording.result.gaps) >= 1
    assert set(df["state"]) <= {"filled", "unrecoverable"}
    assert (df["missing"] >= 1).all() and df["closed_time"].notna().all()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_tables_and_a_true_manifest(
    recording: Recorded, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / fmt
    result = CliRunner().invoke(
        main, ["export", "--journal", str(recording.path), "--format", fmt, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    with open_journal(recording.path, readonly=True) as journal:
        position, head = journal.reader.head()
    assert manifest["head_position"] == position and manifest["head_hash"] == head.hex()
    assert manifest["verify_ok"] is True
    assert list(manifest["tables"]) == list(analysis.TABLES)
    expected = analysis.tables(recording.path)
    for name, entry in manifest["tables"].items():
        path = out / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        df = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
        assert len(df) == entry["rows"] == len(expected[name])
        assert list(df.columns) == entry["columns"]


def test_core_package_does_not_import_pandas() -> None:
    code = (
        "import sys, recorder.cli, recorder.replay, recorder.demo, recorder.projection;"
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
