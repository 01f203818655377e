"""What a user with another SQLite tool can do to a journal, and what ``verify`` says of it.

Beyond a changed byte or a removed row (tests/journal/test_contract.py): rows inserted where the
scan from position 1 to the head does not look, columns edited into values no journal writes
(a break at their position, never a traceback), a tail cut off behind a checkpoint, and a
journal checked against a head recorded elsewhere (``anchor``). Found in review.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from recorder.journal import open_journal
from recorder.journal.verify import VerifyReport, verify
from recorder.venues.lx.samples import sample_records

COLUMNS = (
    "session_id, channel, direction, wall_ns, mono_ns, run_id, seq, mid, kind, is_replay, flags,"
    " payload, hash"
)


@pytest.fixture
def path(sample_journal: Callable[[int, str], Path]) -> Path:
    return sample_journal(200, "t.journal")


def _tamper(path: Path, *statements: str) -> None:
    """Edit the journal as the sqlite3 shell can: the append-only triggers dropped first."""
    other = apsw.Connection(str(path))
    other.execute("DROP TRIGGER frames_append_only_update")
    other.execute("DROP TRIGGER frames_append_only_delete")
    for sql in statements:
        other.execute(sql)
    other.close()


def _verify(path: Path, anchor: tuple[int, bytes] | None = None) -> VerifyReport:
    with open_journal(path, readonly=True) as journal:
        return verify(journal, anchor=anchor)


@pytest.mark.parametrize("position", [0, -3])
def test_a_row_inserted_below_position_1_is_a_break(path: Path, position: int) -> None:
    _tamper(
        path,
        f"INSERT INTO frames (position, {COLUMNS}) SELECT {position}, {COLUMNS} FROM frames"
        " WHERE kind = 'LimitOrder' LIMIT 1",
    )
    report = _verify(path)
    assert not report.ok
    assert report.breaks[0].position == position and report.breaks[0].kind == "position"
    assert "outside positions 1..200" in report.breaks[0].message


@pytest.mark.parametrize(
    "edit",
    [
        "channel = 'Order'",
        "direction = 'IN'",
        "flags = 4294967296",
        "seq = -1",
        "wall_ns = 'yesterday'",
        "run_id = 7",
        "payload = CAST(payload AS TEXT)",
        "hash = 'abc'",
        "kind = CAST(X'FF' AS TEXT)",
    ],
)
def test_a_column_edited_into_what_no_journal_writes_is_a_break_at_its_position(
    path: Path, edit: str
) -> None:
    _tamper(path, f"UPDATE frames SET {edit} WHERE position = 50")
    report = _verify(path)
    assert not report.ok
    assert report.first_bad_position == 50, report.breaks
    assert report.breaks[0].kind in ("row", "hash")


def test_a_tail_cut_off_behind_a_checkpoint_is_a_break(path: Path) -> None:
    with open_journal(path) as journal:
        journal.write_checkpoint("exchange", 200, b"{}", bytes(32))
    _tamper(path, "DELETE FROM frames WHERE position > 150")
    report = _verify(path)
    assert not report.ok
    assert report.breaks[-1].position == 151
    assert "frames after 150 were removed" in report.breaks[-1].message


def test_a_recorded_head_proves_the_journal_was_not_cut_or_rewritten(path: Path) -> None:
    intact = _verify(path)
    anchor = (intact.head_position, bytes.fromhex(intact.head_hash))
    assert _verify(path, anchor).ok
    with open_journal(path) as journal:  # the journal goes on: the anchor still holds
        sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
        journal.append(sample_records(10, session_id=sid))
    assert _verify(path, anchor).ok
    later = _verify(path)
    anchor = (later.head_position, bytes.fromhex(later.head_hash))  # 210
    # A cut after the last position anything else names (200: the ledger's event of the second
    # session's start): nothing but the anchor notices it.
    _tamper(path, "DELETE FROM frames WHERE position > 205")
    assert _verify(path).ok
    cut = _verify(path, anchor)
    assert [(b.position, b.kind) for b in cut.breaks] == [(206, "anchor")]


def test_a_tail_cut_off_behind_a_ledger_event_is_a_break(path: Path) -> None:
    with open_journal(path) as journal:  # the second session starts at position 200
        sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
        journal.append(sample_records(10, session_id=sid))
    _tamper(path, "DELETE FROM frames WHERE position > 190")
    report = _verify(path)
    assert [(b.position, b.kind) for b in report.breaks] == [(191, "position")]
    assert "name position 200: frames after 190 were removed" in report.breaks[0].message


def test_a_rewritten_journal_fails_the_anchor_at_its_position(tmp_path: Path, path: Path) -> None:
    intact = _verify(path)
    anchor = (100, bytes.fromhex(intact.head_hash))  # the head's hash, but at position 100
    report = _verify(path, anchor)
    assert [(b.position, b.kind) for b in report.breaks] == [(100, "anchor")]
