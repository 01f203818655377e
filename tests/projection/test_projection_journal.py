"""Projection over real journal files: ground truth, checkpoints, as-of, follow, the CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import recorder
from recorder.cli import main
from recorder.core.projector import Projector
from recorder.core.state import View
from recorder.journal import Journal
from recorder.projection import (
    CheckpointSkipped,
    checkpoint_name,
    follow,
    project,
    projector_at,
    save_checkpoint,
    to_wall_ns,
)
from recorder.sim.session import Session

ME = "client-1"
Factory = Callable[..., tuple[Journal, Session]]


def test_project_equals_engine_and_direct_projection(journal_factory: Factory) -> None:
    j, session = journal_factory(seed=4)
    state = recorder.project(j)
    assert state.position == j.head_position()
    direct = Projector()
    direct.apply_rows(j.rows())
    assert state.digest() == direct.digest()
    engine = session.engine
    assert sorted(o.entry_id for o in state.open_orders) == sorted(
        o.entry_id for o in engine.open_orders(ME)
    )
    for cid, book in state.books.items():
        if book.synced:
            truth = engine.book(cid)
            assert [(e.entry_id, e.size) for e in book.entries] == [
                (o.entry_id, o.size) for o in truth.bids + truth.asks
            ]


@pytest.mark.parametrize("view", list(View))
def test_checkpoint_plus_tail_equals_rebuild_from_zero(
    journal_factory: Factory, view: View
) -> None:
    j, _ = journal_factory(seed=5)
    head = j.head_position()
    rng = random.Random(view.value)
    zero = Projector(view)
    zero.apply_rows(j.rows())
    targets = sorted(rng.sample(range(1, head), 4))
    for cp_position in sorted(rng.sample(range(1, head), 5)):
        save_checkpoint(j, projector_at(j, view, cp_position), keep_older=True)
        # the head, and positions on either side of the checkpoint, from checkpoint + tail
        assert project(j, view=view).digest() == zero.digest()
        for target in targets:
            fresh = Projector(view)
            fresh.apply_rows(j.rows(1, target + 1))
            assert project(j, position=target, view=view).digest() == fresh.digest()
    assert len(j.checkpoints(checkpoint_name(view))) == 5
    assert j.delete_checkpoints() == 5
    assert project(j, view=view).digest() == zero.digest()


def test_bad_checkpoint_is_skipped_with_a_warning(journal_factory: Factory) -> None:
    j, _ = journal_factory(seed=6, steps=3000)
    good = project(j)
    half = projector_at(j, View.EXCHANGE, j.head_position() // 2)
    save_checkpoint(j, half, keep_older=True)
    blob, _ = half.to_checkpoint()
    j.write_checkpoint(checkpoint_name(View.EXCHANGE), j.head_position() - 10, blob, b"x" * 32)
    with pytest.warns(CheckpointSkipped, match="does not match"):
        assert project(j).digest() == good.digest()
    # a checkpoint of the other view's state under this view's name is refused too
    j.delete_checkpoints()
    other = projector_at(j, View.KNOWN, j.head_position() - 5)
    state, digest = other.to_checkpoint()
    j.write_checkpoint(checkpoint_name(View.EXCHANGE), other.position, state, digest)
    with pytest.warns(CheckpointSkipped, match="another view"):
        assert project(j).digest() == good.digest()


def test_as_of_time_selects_the_journal_prefix(journal_factory: Factory, tmp_path: Any) -> None:
    j, session = journal_factory(seed=7, steps=3000)
    start = session.config.start_wall_ns
    middle = start + 1500 * session.config.step_ns
    position = j.position_at(middle)
    assert 0 < position < j.head_position()
    by_time = project(j, as_of=middle)
    assert by_time.position == position
    assert by_time.digest() == project(j, position=position).digest()
    iso = datetime.fromtimestamp(middle / 1e9, tz=UTC).isoformat()
    assert to_wall_ns(iso) == middle // 1000 * 1000
    assert project(j, as_of=iso).position == j.position_at(middle // 1000 * 1000)
    assert project(j, as_of=start - 1).position == 0


def test_follow_yields_updated_states(journal_factory: Factory) -> None:
    j, _ = journal_factory(seed=9, steps=2000)
    source, _ = journal_factory(seed=10, steps=2000, name="more.journal")
    extra = list(source.rows())
    stop = threading.Event()
    states = follow(j, stop=stop, checkpoint_every=100)
    first = next(states)
    assert first.position == j.head_position()
    from recorder.core.frames import Channel, Direction, FrameRecord

    sid = j.start_session(venue="lx1", capture_point="test", participant=ME)
    j.append([FrameRecord(sid, Channel(r[2]), Direction(r[3]), *r[4:10], bool(r[10]), r[11],
                          r[12]) for r in extra[:500]])  # fmt: skip
    j.flush()
    second = next(states)
    assert second.position == first.position + 500
    assert second.digest() == project(j).digest()
    assert j.checkpoints(checkpoint_name(View.EXCHANGE))[0].position == second.position
    stop.set()
    assert list(states) == []


def test_cli_state_json_and_table(journal_factory: Factory, tmp_path: Path) -> None:
    j, _ = journal_factory(seed=8, steps=3000)
    path, head = j.path, j.head_position()
    expected = project(j).digest()
    j.close()
    config = tmp_path / "empty.toml"
    config.write_text("")
    runner = CliRunner(env={"RECORDER_CONFIG": str(config)})
    result = runner.invoke(main, ["state", "--journal", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("position", "digest", "books", "open_orders", "positions", "gaps", "anomalies"):
        assert key in data
    assert data["position"] == head and data["digest"] == expected
    result = runner.invoke(
        main,
        [
            "state",
            "--journal",
            str(path),
            "--json",
            "--position",
            "100",
            "--view",
            "known",
            "--contract",
            "2",
        ],
    )
    data = json.loads(result.output)
    assert data["position"] == 100 and set(data["books"]) <= {"2"}
    assert all(o["contract_id"] == 2 for o in data["open_orders"])
    result = runner.invoke(main, ["state", "--journal", str(path)])
    assert result.exit_code == 0 and "open orders" in result.output
    result = runner.invoke(main, ["state", "--journal", str(path), "--as-of", "not a time"])
    assert result.exit_code == 2
    result = runner.invoke(main, ["state", "--journal", str(path / "missing")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_cli_journal_from_config_and_follow(journal_factory: Factory, tmp_path: Path) -> None:
    j, _ = journal_factory(seed=12, steps=1500)
    path, head = j.path, j.head_position()
    j.close()
    config = tmp_path / "config.toml"
    config.write_text(f'[journal]\npath = "{path}"\n')
    runner = CliRunner(env={"RECORDER_CONFIG": str(config)})
    result = runner.invoke(main, ["state", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["position"] == head
    result = runner.invoke(main, ["follow", "--json", "--updates", "1", "--view", "known"])
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    data = json.loads(line)
    assert data["position"] == head and data["view"] == "known"


def test_bench_smoke(tmp_path: Path) -> None:
    """``bench/projector.py --quick`` runs end to end (tiny sizes; figures not checked)."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "projector.py"
    args = ["--quick", "--frames", "3000", "--big-frames", "6000", "--workdir", str(tmp_path)]
    out = subprocess.run([sys.executable, str(bench), *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "rebuild / raw" in out.stdout and "peak RSS, rebuild of 6,000 frames" in out.stdout
