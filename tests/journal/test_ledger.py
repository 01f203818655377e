"""The ledger of sessions and gaps: what an edit of those rows with another SQLite tool looks like
to ``verify``, and that the recorder's own writes always verify.

The rows are changed in place by the recorder (a session ends, a gap is filled), so they have no
triggers; their events in ``ledger`` do, and are chained. Every edit here is made with plain apsw,
as the sqlite3 shell would (the ledger's triggers dropped first where an edit needs it).
"""

from __future__ import annotations

import json
from pathlib import Path

import apsw
import pytest
from sqlalchemy import Table

from recorder.core.frames import Channel, FrameRecord
from recorder.journal import ledger, open_journal
from recorder.journal.journal import Committer
from recorder.journal.layout import GAP_COLUMNS, SESSION_COLUMNS
from recorder.journal.ledger import DEFAULTS, EVENT_KINDS, TABLE_COLUMNS
from recorder.journal.schema import gaps, sessions
from recorder.journal.verify import Break, VerifyReport, verify
from recorder.journal.writer import Durability
from recorder.venues.lx.samples import heartbeat_records, sample_records

RUN = "a" * 32


def _heartbeats(sid: int, seqs: list[int]) -> list[FrameRecord]:
    return heartbeat_records(sid, seqs, run_id=RUN)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Two sessions of participant ``p``: the first ended, a gap 4..6 asked for and never
    filled (still ``requested``: verify's break), a second gap written off; the second session
    still open."""
    path = tmp_path / "ledger.journal"
    with open_journal(path) as journal:
        sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
        journal.append(_heartbeats(sid, [1, 2, 3, 7, 8, 9, 12]))
        gap = journal.open_gap(
            session_id=sid, channel=Channel.ORDER, run_id=RUN, from_seq=4, to_seq=6,
            detected_position=4,
        )  # fmt: skip
        journal.update_gap(gap, "requested", reason="MessageReplay m1")
        other = journal.open_gap(
            session_id=sid, channel=Channel.ORDER, run_id=RUN, from_seq=10, to_seq=11,
            detected_position=7,
        )  # fmt: skip
        journal.update_gap(other, "unrecoverable", reason="run no longer held by the exchange")
        journal.end_session(sid, "stopped")
        journal.start_session(venue="lx1", capture_point="test", participant="p")
    return path


def _sql(path: Path, *statements: str, drop_triggers: bool = False) -> None:
    other = apsw.Connection(str(path))
    if drop_triggers:
        other.execute("DROP TRIGGER ledger_append_only_update")
        other.execute("DROP TRIGGER ledger_append_only_delete")
    for sql in statements:
        other.execute(sql)
    other.close()


def _verify(path: Path) -> VerifyReport:
    with open_journal(path, readonly=True) as journal:
        return verify(journal)


def _mismatches(report: VerifyReport) -> list[tuple[str | None, int | None, str | None]]:
    return [(b.table, b.row_id, b.column) for b in report.breaks if b.kind == "mismatch"]


def _only(report: VerifyReport, kind: str) -> list[Break]:
    return [b for b in report.breaks if b.kind == kind]


def test_the_recorders_own_writes_verify(path: Path) -> None:
    report = _verify(path)
    # the one honest break: gap 1 was asked for and never came (seqs 4..6 missing)
    assert sorted(b.kind for b in report.breaks) == ["gap", "seq"], report.breaks
    assert report.ledger_events == 7 and report.notes == ()
    with open_journal(path, readonly=True) as journal:
        kinds = [e.kind for e in journal.ledger()]
    assert kinds == [
        "session_started", "gap_opened", "gap_requested", "gap_opened", "gap_unrecoverable",
        "session_ended", "session_started",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("statement", "state"),
    [
        ("UPDATE gaps SET state = 'filled', closed_wall_ns = 99 WHERE id = 1", "filled"),
        ("UPDATE gaps SET state = 'unrecoverable' WHERE id = 1", "unrecoverable"),
    ],
)
def test_an_edited_gap_state_is_a_break_naming_table_row_and_column(
    path: Path, statement: str, state: str
) -> None:
    _sql(path, statement)
    report = _verify(path)
    assert ("gaps", 1, "state") in _mismatches(report)
    (edit,) = [b for b in _only(report, "mismatch") if b.column == "state"]
    assert "the ledger says 'requested'" in edit.message and f"holds '{state}'" in edit.message
    # the gap is what the ledger says: still requested, and its seqs still missing
    assert sorted(b.kind for b in report.breaks if b.kind in ("seq", "gap")) == ["gap", "seq"]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("end_reason", "'fatal error: disk full'"),
        ("participant", "'q'"),
        ("ended_wall_ns", "NULL"),
        ("order_endpoint", "'tcp://elsewhere:1'"),
        ("started_wall_ns", "'1'"),
    ],
)
def test_an_edited_session_is_a_break_naming_table_row_and_column(
    path: Path, column: str, value: str
) -> None:
    _sql(path, f"UPDATE sessions SET {column} = {value} WHERE id = 1")
    report = _verify(path)
    assert _mismatches(report) == [("sessions", 1, column)], report.breaks


def test_a_deleted_or_inserted_row_is_a_break(path: Path) -> None:
    _sql(
        path,
        "DELETE FROM gaps WHERE id = 1",
        "INSERT INTO gaps (session_id, channel, run_id, from_seq, to_seq, state,"
        " detected_wall_ns) VALUES (1, 'order', 'x', 1, 2, 'filled', 5)",
    )
    report = _verify(path)
    assert sorted(_mismatches(report), key=str) == [("gaps", 1, None), ("gaps", 3, None)]
    messages = " ".join(b.message for b in _only(report, "mismatch"))
    assert "gaps row 1 is missing" in messages and "gaps row 3 has no event" in messages


@pytest.mark.parametrize(
    "statement", ["UPDATE ledger SET body = '{}' WHERE id = 3", "DELETE FROM ledger WHERE id = 7"]
)
def test_the_ledger_refuses_update_and_delete(path: Path, statement: str) -> None:
    with pytest.raises(apsw.ConstraintError, match="the ledger is append-only"):
        _sql(path, statement)


def test_an_edited_event_breaks_the_ledger_chain(path: Path) -> None:
    # the row and its event both edited, in agreement: the ledger's chain tells
    _sql(
        path,
        "UPDATE gaps SET state = 'filled', closed_wall_ns = requested_wall_ns,"
        " requested_wall_ns = NULL WHERE id = 1",
        "UPDATE ledger SET kind = 'gap_filled', body = replace(replace(body, 'requested_wall_ns',"
        " 'closed_wall_ns'), '\"requested\"', '\"filled\"') WHERE id = 3",
        drop_triggers=True,
    )
    report = _verify(path)
    assert _mismatches(report) == []
    (chain,) = _only(report, "ledger")
    assert "ledger hash chain broken at event 3" in chain.message
    assert chain.position == 7  # the frames position the event was recorded at


def test_a_removed_event_is_a_break(path: Path) -> None:
    _sql(path, "DELETE FROM ledger WHERE id = 3", drop_triggers=True)
    report = _verify(path)
    assert "ledger events jump from 2 to 4: events removed" in _only(report, "ledger")[0].message
    # the rows are intact: a broken ledger says they cannot be checked, never that they were edited
    assert _mismatches(report) == []
    assert any(
        "the ledger is broken from event 3: " in n and "gaps row 1," in n for n in report.notes
    ), report.notes


def test_an_emptied_ledger_is_a_break_not_an_old_journal(path: Path) -> None:
    _sql(path, "DELETE FROM ledger", drop_triggers=True)
    report = _verify(path)
    assert sorted(_mismatches(report), key=str) == [
        ("gaps", 1, None), ("gaps", 2, None), ("sessions", 1, None), ("sessions", 2, None),
    ]  # fmt: skip
    assert any("ledger_append_only_update" in note for note in report.notes)


def test_a_dropped_ledger_is_a_break_not_a_traceback(path: Path) -> None:
    _sql(path, "DROP TABLE ledger")
    (dropped,) = _only(_verify(path), "ledger")
    assert "the journal has no ledger table" in dropped.message


def test_an_event_edited_into_what_no_recorder_writes_is_a_break(path: Path) -> None:
    _sql(
        path,
        "UPDATE ledger SET position = 'late' WHERE id = 5",
        "UPDATE ledger SET body = CAST(X'FF' AS TEXT) WHERE id = 6",
        "UPDATE ledger SET position = 1000 WHERE id = 7",
        drop_triggers=True,
    )
    report = _verify(path)
    messages = [b.message for b in _only(report, "ledger")]
    assert any("event 5 holds values no recorder writes" in m for m in messages), messages
    assert any("event 6 cannot be read" in m for m in messages), messages
    (cut,) = _only(report, "position")  # an event past the head: frames were cut, it says
    assert "name position 1000: frames after 7 were removed" in cut.message


@pytest.mark.parametrize(
    ("durability", "committer"),
    [("strict", "inline"), ("safe", "inline"), ("safe", "process"), ("fast", "inline")],
)
def test_each_event_records_the_frames_committed_before_it(
    tmp_path: Path, durability: Durability, committer: Committer
) -> None:
    """With a committer process too: the child commits the frames and reports how far it got;
    the parent writes the event at that position, and verify finds nothing to say."""
    path = tmp_path / f"{durability}-{committer}.journal"
    with open_journal(path, durability=durability, committer=committer) as journal:
        sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
        records = sample_records(50, session_id=sid)
        journal.append(records[:20])
        for r in records[20:30]:
            journal.append_one(r)
        gap = journal.open_gap(session_id=sid, channel=Channel.MARKET, run_id=RUN, from_seq=1,
                               to_seq=2, detected_position=30)  # fmt: skip
        journal.append_wires(
            [(sid, r.channel, r.direction, r.wall_ns, r.mono_ns, r.flags, r.payload, None)
             for r in records[30:]]
        )  # fmt: skip
        journal.update_gap(gap, "unrecoverable", reason="resynced")
        journal.end_session(sid, "stopped")
        assert [e.position for e in journal.ledger()] == [0, 30, 50, 50]
    report = _verify(path)
    assert report.ok, report.breaks
    assert report.ledger_events == 4


def test_declared_columns_are_the_schema(path: Path) -> None:
    def columns(table: Table) -> tuple[str, ...]:
        return tuple(c.name for c in table.columns if c.name != "id")

    assert columns(sessions) == SESSION_COLUMNS and columns(gaps) == GAP_COLUMNS
    for name, kind in EVENT_KINDS.items():
        assert set(kind.columns) <= set(TABLE_COLUMNS[kind.table]), name
        if kind.creates:  # a created row: every column from the event or a default
            assert set(kind.columns) | set(DEFAULTS[kind.table]) == set(
                TABLE_COLUMNS[kind.table]
            ), name


def test_a_recorded_ledger_head_proves_the_ledger_was_not_rewritten(path: Path) -> None:
    """The chain has no secret: a ledger rewritten from some event on, every hash recomputed
    (here gap 1 made filled, row and event alike), agrees with itself and with the rows. Only
    the ledger's head recorded elsewhere (``recorder verify`` prints it) tells."""
    intact = _verify(path)
    anchor = (intact.ledger_events, bytes.fromhex(intact.ledger_head_hash))
    with open_journal(path, readonly=True) as journal:
        assert not _only(verify(journal, ledger_anchor=anchor), "anchor")  # it holds
    other = apsw.Connection(str(path))
    other.execute("DROP TRIGGER ledger_append_only_delete")
    rows = other.execute(
        "SELECT id, position, kind, row_id, body FROM ledger WHERE id >= 3 ORDER BY id"
    ).fetchall()
    (prev,) = other.execute("SELECT hash FROM ledger WHERE id = 2").fetchone()
    other.execute("DELETE FROM ledger WHERE id >= 3")
    for event_id, position, kind, row_id, body in rows:
        if event_id == 3:
            values = json.loads(body)
            kind, values["state"] = "gap_filled", "filled"
            values["closed_wall_ns"] = values.pop("requested_wall_ns")
            body = ledger.encode(values)
            other.execute(
                "UPDATE gaps SET state = 'filled', closed_wall_ns = requested_wall_ns,"
                " requested_wall_ns = NULL WHERE id = 1"
            )
        prev = ledger.event_hash(prev, event_id, position, row_id, kind.encode(), body.encode())
        other.execute(ledger.INSERT_EVENT, (event_id, position, kind, row_id, body, prev))
    other.close()
    forged = _verify(path)
    assert [b.kind for b in forged.breaks] == ["seq"]  # the rows agree with the forged ledger
    with open_journal(path, readonly=True) as journal:
        report = verify(journal, ledger_anchor=anchor)
    (caught,) = _only(report, "anchor")
    assert f"ledger event {anchor[0]} has hash" in caught.message


# ---------------------------------------------------------------------- events no recorder writes


@pytest.fixture
def honest(tmp_path: Path) -> Path:
    """Session 1 of ``p``: seqs 1..3 and 7..12, the gap 4..6 written off, ended; session 2 of
    ``p`` with seqs 13, 14, open. Verifies OK."""
    path = tmp_path / "honest.journal"
    with open_journal(path) as journal:
        sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
        journal.append(_heartbeats(sid, [1, 2, 3, 7, 8, 9, 10, 11, 12]))
        gap = journal.open_gap(
            session_id=sid, channel=Channel.ORDER, run_id=RUN, from_seq=4, to_seq=6,
            detected_position=4,
        )  # fmt: skip
        journal.update_gap(gap, "unrecoverable", reason="run no longer held by the exchange")
        journal.end_session(sid, "stopped")
        sid2 = journal.start_session(venue="lx1", capture_point="test", participant="p")
        journal.append(_heartbeats(sid2, [13, 14]))
    assert _verify(path).ok
    return path


def _append_event(path: Path, kind: str, row_id: int, values: dict[str, object], row: str) -> None:
    """Append a well-chained event (at the frames head) and make its change to the row, as a
    forger with the sqlite3 shell and this module's hash would."""
    other = apsw.Connection(str(path))
    ((last_id, prev),) = other.execute("SELECT id, hash FROM ledger ORDER BY id DESC LIMIT 1")
    ((head,),) = other.execute("SELECT max(position) FROM frames")
    body = ledger.encode(values)
    digest = ledger.event_hash(prev, last_id + 1, head, row_id, kind.encode(), body.encode())
    with other:
        other.execute(ledger.INSERT_EVENT, (last_id + 1, head, kind, row_id, body, digest))
        other.execute(row)
    other.close()


def test_an_event_setting_columns_its_kind_never_writes_is_a_break(honest: Path) -> None:
    before = _verify(honest)
    ledger_anchor = (before.ledger_events, bytes.fromhex(before.ledger_head_hash))
    with open_journal(honest, readonly=True) as journal:
        (ended,) = [e for e in journal.ledger() if e.kind == "session_ended"]
    _append_event(
        honest, "session_ended", 1, {**ended.values, "participant": "someone-else"},
        "UPDATE sessions SET participant = 'someone-else' WHERE id = 1",
    )  # fmt: skip
    _append_event(
        honest, "gap_unrecoverable", 1,
        {"state": "unrecoverable", "closed_wall_ns": 1, "reason": "x", "detected_position": 1},
        "UPDATE gaps SET closed_wall_ns = 1, reason = 'x', detected_position = 1 WHERE id = 1",
    )  # fmt: skip
    with open_journal(honest, readonly=True) as journal:
        report = verify(journal, ledger_anchor=ledger_anchor)
    messages = [b.message for b in _only(report, "ledger")]
    assert any(
        "event 6 (session_ended) sets participant, which a session_ended event does not write" in m
        for m in messages
    ), messages
    assert any("event 7 (gap_unrecoverable) sets detected_position" in m for m in messages)
    # the forged values are not taken as what the rows hold
    assert ("sessions", 1, "participant") in _mismatches(report)


def test_an_adoption_after_the_ledgers_first_events_is_a_break(honest: Path) -> None:
    """A journal created at revision 0005, never upgraded, given a forged adoption."""
    other = apsw.Connection(str(honest))
    (row,) = other.execute("SELECT * FROM sessions WHERE id = 2").fetchall()
    other.close()
    ghost = {**dict(zip(SESSION_COLUMNS, row[1:], strict=True)), "participant": "ghost"}
    marks = ", ".join("NULL" if v is None else repr(v) for v in ghost.values())
    _append_event(
        honest, "session_adopted", 3, ghost,
        f"INSERT INTO sessions (id, {', '.join(ghost)}) VALUES (3, {marks})",
    )  # fmt: skip
    report = _verify(honest)
    (forged,) = _only(report, "ledger")
    assert "event 6 (session_adopted) is an adoption, which only the upgrade" in forged.message
    assert report.notes == ()  # no "the upgrade adopted" note for a journal never upgraded


# ---------------------------------------------------------------------- frames and their sessions


def test_frames_of_a_session_no_event_created_are_a_break(tmp_path: Path) -> None:
    """The ledger's tail (session 2's events) cut off with the session's row: its frames are
    still chained, and belong to a session that does not exist."""
    path = tmp_path / "orphans.journal"
    with open_journal(path) as journal:
        for participant in ("p", "r"):
            sid = journal.start_session(venue="lx1", capture_point="t", participant=participant)
            journal.append(_heartbeats(sid, [1, 2, 3]))
            journal.end_session(sid, "stopped")
    assert _verify(path).ok
    _sql(
        path,
        "DELETE FROM ledger WHERE row_id = 2 AND kind LIKE 'session_%'",
        "DELETE FROM sessions WHERE id = 2",
        drop_triggers=True,
    )
    report = _verify(path)
    (orphans,) = _only(report, "session")
    assert orphans.position == 4 and "3 frame(s) at positions 4..6 belong to session 2" in (
        orphans.message
    )


def test_a_frame_before_its_sessions_start_is_a_break(tmp_path: Path) -> None:
    path = tmp_path / "early.journal"
    with open_journal(path) as journal:
        sid = journal.start_session(venue="lx1", capture_point="t", participant="p")
        journal.append(_heartbeats(sid, [1, 2, 3]))
    # session 1's event rewritten (and rechained) as if the session started after its frames
    other = apsw.Connection(str(path))
    other.execute("DROP TRIGGER ledger_append_only_update")
    ((body,),) = other.execute("SELECT body FROM ledger WHERE id = 1")
    digest = ledger.event_hash(ledger.GENESIS, 1, 2, 1, b"session_started", body.encode())
    other.execute("UPDATE ledger SET position = 2, hash = ? WHERE id = 1", (digest,))
    other.close()
    (early,) = _only(_verify(path), "session")
    assert early.position == 1 and "started only at position 2" in early.message


# ---------------------------------------------------------------------- a broken ledger's blame


def test_an_edited_event_blames_neither_the_intact_row_nor_the_frames(honest: Path) -> None:
    _sql(
        honest,
        'UPDATE ledger SET body = replace(body, \'"participant":"p"\', \'"participant":'
        '"q"\') WHERE id = 1',
        drop_triggers=True,
    )
    report = _verify(honest)
    assert [b.kind for b in report.breaks] == ["ledger"], report.breaks
    assert "ledger hash chain broken at event 1" in report.breaks[0].message
    assert any("the ledger is broken from event 1: sessions row 1," in n for n in report.notes)


def test_a_deleted_event_reopens_neither_the_gap_nor_its_seqs(honest: Path) -> None:
    _sql(honest, "DELETE FROM ledger WHERE id = 3", drop_triggers=True)  # gap 1 written off
    report = _verify(honest)
    assert [b.kind for b in report.breaks] == ["ledger"], report.breaks
    assert report.first_bad_position == 9  # the ledger's event 4, not an intact frame
