"""Lifecycles and audit output, checked against the simulator's engine as ground truth."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import apsw
import pytest
from click.testing import CliRunner

from recorder.audit import audit_report, find_mid_by_client_ref, order_story
from recorder.cli import main
from recorder.journal import Journal, open_journal
from recorder.lifecycle import lifecycles
from recorder.sim.session import Session, SessionConfig, frames_for
from recorder.venues.lx.codec import decode
from recorder.venues.lx.records import to_record

CLIENT = "client-1"


def _record(journal: Journal, config: SessionConfig) -> Session:
    session = Session(config)
    sid = journal.start_session(venue="lx1", capture_point="test", participant=CLIENT)
    journal.append(
        [
            to_record(f.data, session_id=sid, channel=f.channel, direction=f.direction,
                      wall_ns=f.wall_ns, mono_ns=f.mono_ns)
            for f in frames_for(CLIENT, session.run())
        ]
    )  # fmt: skip
    return session


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Session]:
    path = tmp_path_factory.mktemp("audit") / "audit.journal"
    with open_journal(path) as journal:
        session = _record(journal, SessionConfig(seed=11, steps=4000))
    return path, session


def test_lifecycles_match_the_engine(recorded: tuple[Path, Session]) -> None:
    path, session = recorded
    with open_journal(path, readonly=True) as journal:
        lives = {life.mid: life for life in lifecycles(journal.frames())}
    working = {m for m, life in lives.items() if life.is_trade and not life.outcome}
    assert working == {o.entry_id for o in session.engine.open_orders(CLIENT)}
    filled: dict[str, int] = defaultdict(int)
    for fill in session.engine.fills(CLIENT):
        filled[fill.entry_id] += fill.filled_size
    assert filled, "the session should trade"
    for entry_id, size in filled.items():
        assert lives[entry_id].filled_size == size
    finished = [life for life in lives.values() if life.outcome == "FILLED"]
    assert finished and all(life.first_fill_ns is not None for life in finished)
    assert all(life.ack_code for life in lives.values() if life.kind == "LimitOrder")


def test_run_change_ends_working_orders(tmp_path: Path) -> None:
    with open_journal(tmp_path / "r.journal") as journal:
        _record(journal, SessionConfig(seed=3, steps=3000, restart_at=(1500,)))
        lives = lifecycles(journal.frames())
    assert any(life.outcome == "RUN_CHANGE" for life in lives)


def test_order_story_includes_frames_that_name_the_order(recorded: tuple[Path, Session]) -> None:
    path, _ = recorded
    with open_journal(path, readonly=True) as journal:
        cancel = next(f for f in journal.frames() if f.kind == "CancelOrder")
        target = order_story(journal, cancel.mid).frames  # the cancel itself
        assert target[0].frame.kind == "CancelOrder"
        entry = decode(cancel.payload).cancel_order.entry_id
        story = order_story(journal, entry)
    kinds = [(s.relation, s.frame.kind) for s in story.frames]
    assert kinds[0] == ("carries mid", "LimitOrder")
    assert ("names mid", "CancelOrder") in kinds
    positions = [s.frame.position for s in story.frames]
    assert positions == sorted(positions)
    assert story.lifecycle is not None and story.lifecycle.mid == entry


def test_client_ref_lookup(recorded: tuple[Path, Session]) -> None:
    path, _ = recorded
    with open_journal(path, readonly=True) as journal:
        order = next(f for f in journal.frames() if f.kind == "LimitOrder")
        ref = decode(order.payload).limit_order.client_ref
        assert order.mid in find_mid_by_client_ref(journal, ref)
        assert find_mid_by_client_ref(journal, "no-such-ref") == []


def test_report_markdown_and_html(recorded: tuple[Path, Session]) -> None:
    path, _ = recorded
    with open_journal(path, readonly=True) as journal:
        markdown = audit_report(journal)
        page = audit_report(journal, fmt="html")
    for heading in ("## Verification", "## Sessions", "## Traffic", "## Requests", "## Gaps"):
        assert heading in markdown
    assert "PASSED" in markdown
    assert page.startswith("<!doctype html>") and "<h2>Requests</h2>" in page


def test_report_names_the_break_of_a_tampered_journal(tmp_path: Path) -> None:
    path = tmp_path / "t.journal"
    with open_journal(path) as journal:
        _record(journal, SessionConfig(seed=5, steps=300))
    conn = apsw.Connection(str(path))
    conn.execute("DROP TRIGGER frames_append_only_update")
    conn.execute("UPDATE frames SET seq = seq + 1000 WHERE position = 42")
    conn.close()
    with open_journal(path, readonly=True) as journal:
        assert "FAILED at position 42" in audit_report(journal)


def test_audit_cli(recorded: tuple[Path, Session], tmp_path: Path) -> None:
    path, _ = recorded
    runner = CliRunner()
    with open_journal(path, readonly=True) as journal:
        order = next(f for f in journal.frames() if f.kind == "LimitOrder")
    result = runner.invoke(main, ["audit", "--journal", str(path), "--mid", order.mid, "--json"])
    assert result.exit_code == 0, result.output
    assert '"relation": "carries mid"' in result.output
    result = runner.invoke(main, ["audit", "--journal", str(path), "--mid", order.mid])
    assert result.exit_code == 0 and "LimitOrder" in result.output
    out = tmp_path / "report.html"
    result = runner.invoke(
        main, ["audit", "--journal", str(path), "--report", "--format", "html", "--out", str(out)]
    )
    assert result.exit_code == 0 and out.read_text().startswith("<!doctype html>")
    result = runner.invoke(main, ["audit", "--journal", str(path)])
    assert result.exit_code == 2 and "either --mid" in result.output
    result = runner.invoke(main, ["audit", "--journal", str(path), "--mid", "0" * 32])
    assert result.exit_code == 1 and "no frame carries or names mid" in result.output
