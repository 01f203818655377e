"""Alembic migrations: new files at head, old files refused until upgraded, upgrades keep data."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from recorder.errors import JournalAccessError, JournalSchemaError, SQLiteLibraryConflict
from recorder.journal import migrate, open_journal
from recorder.journal.chain import GENESIS, row_hash
from recorder.journal.migrate import current_revision, head_revision, upgrade
from recorder.journal.schema import SCHEMA_REVISION
from recorder.journal.verify import verify
from recorder.venues.lx.samples import sample_records

ROOT = Path(__file__).resolve().parents[2]


def test_schema_revision_is_the_migrations_head() -> None:
    assert head_revision() == SCHEMA_REVISION


def test_new_file_is_created_at_head(tmp_path: Path) -> None:
    path = tmp_path / "new.journal"
    open_journal(path).close()
    assert current_revision(path) == SCHEMA_REVISION


def test_upgrade_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.journal"
    path.touch()
    result = upgrade(path)
    assert (result.before, result.after) == (None, SCHEMA_REVISION)
    with open_journal(path) as j:
        assert j.head_position() == 0


def _journal_at(path: Path, revision: str, n: int) -> list[bytes]:
    """A file at an earlier revision holding ``n`` chained frames of session 1 (ended) and, from
    revision 0002 on, a gap of the first session written off and one still open, written with
    the stdlib (as that recorder wrote them); session 2 has not ended."""
    upgrade(path, revision)
    records = sample_records(n, session_id=1)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO sessions (id, venue, capture_point, participant, recorder_version, host,"
        " pid, clock_source, started_wall_ns, ended_wall_ns, end_reason) VALUES"
        " (1, 'lx1', 'old', 'p', '0.0.9', 'h', 1, 'c', 1, 5, 'stopped'),"
        " (2, 'lx1', 'old', 'p', '0.0.9', 'h', 2, 'c', 6, NULL, NULL)"
    )
    if revision >= "0002":
        conn.execute(
            "INSERT INTO gaps (id, session_id, channel, run_id, from_seq, to_seq, state,"
            " detected_wall_ns, detected_position, closed_wall_ns, reason) VALUES"
            " (1, 1, 'market', 'r', 3, 4, 'unrecoverable', 2, 2, 3, 'resynced'),"
            " (2, 1, 'market', 'r', 9, 9, 'open', 4, NULL, NULL, '')"
        )
    prev = GENESIS
    for position, r in enumerate(records, start=1):
        mid = r.mid or None
        prev = row_hash(
            prev, position, 1, r.channel.value, r.direction.value, r.wall_ns, r.mono_ns, r.run_id,
            r.seq, mid, r.kind, int(r.is_replay), r.flags, r.payload,
        )  # fmt: skip
        conn.execute(
            "INSERT INTO frames VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (position, 1, r.channel.value, r.direction.value, r.wall_ns, r.mono_ns, r.run_id,
             r.seq, mid, r.kind, int(r.is_replay), r.flags, r.payload, prev),
        )  # fmt: skip
    conn.commit()
    conn.close()
    return [r.payload for r in records]


def test_file_at_previous_revision_is_refused_then_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.journal"
    payloads = _journal_at(path, "0001", 250)
    with pytest.raises(JournalSchemaError, match="recorder db upgrade") as info:
        open_journal(path)
    assert "Back it up" in str(info.value)
    result = upgrade(path)
    assert (result.before, result.after) == ("0001", SCHEMA_REVISION)
    with open_journal(path) as j:
        assert [f.payload for f in j.frames()] == payloads
        assert verify(j).ok
        j.write_checkpoint("x", 1, b"s", b"d")  # the new tables work


def test_a_journal_at_the_previous_head_is_upgraded_with_its_rows_adopted(tmp_path: Path) -> None:
    """Revision 0005 adds the ledger: the rows already there get one adoption event each, so
    the upgraded journal verifies (saying where its ledger starts), and from then on an edit of
    one of them is found like an edit of a row the ledger saw written."""
    path = tmp_path / "0004.journal"
    _journal_at(path, "0004", 60)
    assert upgrade(path).before == "0004"
    with open_journal(path) as j:
        report = verify(j)
        assert [b.kind for b in report.breaks] == ["gap"]  # gap 2 was left open, as before
        assert report.notes == (
            "ledger starts at event 1, at position 60: the upgrade to revision 0005 adopted 2 "
            "session(s) and 2 gap(s) as it found them (their history before it is not "
            "evidenced)",
        )
        assert [(e.kind, e.row_id, e.position) for e in j.ledger()] == [
            ("session_adopted", 1, 60), ("session_adopted", 2, 60),
            ("gap_adopted", 1, 60), ("gap_adopted", 2, 60),
        ]  # fmt: skip
        j.update_gap(2, "unrecoverable", reason="resynced")  # the recorder carries on
        j.end_session(2, "stopped")
        assert verify(j).ok
    conn = sqlite3.connect(path)
    conn.execute("UPDATE gaps SET reason = 'filled by hand' WHERE id = 1")
    conn.execute("UPDATE sessions SET participant = 'q' WHERE id = 2")
    conn.commit()
    conn.close()
    with open_journal(path, readonly=True) as j:
        report = verify(j)
    assert [(b.kind, b.table, b.row_id, b.column) for b in report.breaks] == [
        ("mismatch", "sessions", 2, "participant"), ("mismatch", "gaps", 1, "reason"),
    ]  # fmt: skip


def test_downgrade_drops_the_ledger_and_the_next_upgrade_adopts_again(tmp_path: Path) -> None:
    path = tmp_path / "down.journal"
    with open_journal(path) as j:
        sid = j.start_session(venue="lx1", capture_point="test", participant="p")
        j.append(sample_records(20, session_id=sid))
        j.end_session(sid, "stopped")
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection), "0004")
    finally:
        engine.dispose()
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert current_revision(path) == "0004" and "ledger" not in tables
    upgrade(path)
    with open_journal(path, readonly=True) as j:
        report = verify(j)
        assert report.ok and "adopted 1 session(s)" in report.notes[0]
        assert [e.kind for e in j.ledger()] == ["session_adopted"]


_OLD_WRITER = """
import fcntl, os, sys
lock = open(sys.argv[1] + "-writer.lock", "ab")
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.write(lock.fileno(), f"writer {os.getpid()}\\n".encode())
print("ready", flush=True)
sys.stdin.readline()
"""
"""A live writer of an older recorder, as far as its writer lock goes (the same lock file and
line since before revision 0005)."""


def test_an_upgrade_is_refused_while_a_live_writer_holds_the_journal(tmp_path: Path) -> None:
    """A 0004 writer upgraded under would go on changing sessions without ledger events, and
    verify would then accuse the rows of being edited."""
    path = tmp_path / "live.journal"
    _journal_at(path, "0004", 5)
    writer = subprocess.Popen(
        [sys.executable, "-c", _OLD_WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        with pytest.raises(JournalAccessError, match=f"process {writer.pid}") as info:
            upgrade(path)
        assert "cannot upgrade journal" in str(info.value)
        assert current_revision(path) == "0004"  # nothing migrated
    finally:
        writer.communicate("\n", timeout=10)
    assert upgrade(path).after == SCHEMA_REVISION  # the writer gone, the upgrade goes ahead


def test_unknown_newer_revision_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.journal"
    open_journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '0099'")
    conn.commit()
    conn.close()
    with pytest.raises(JournalSchemaError, match="newer recorder"):
        open_journal(path)


def test_rule5_migrate_capture_analyse_in_one_process(tmp_path: Path) -> None:
    """One process migrates (stdlib), then captures and analyses (apsw) the same file."""
    path = tmp_path / "one-process.journal"
    upgrade(path)
    with open_journal(path) as j:
        sid = j.start_session(venue="lx1", capture_point="test")
        j.append(sample_records(500, session_id=sid))
    with open_journal(path, readonly=True) as j:
        assert verify(j).ok
        assert sum(1 for _ in j.frames()) == 500


def test_rule5_second_sqlite_library_is_refused_while_apsw_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "held.journal"
    with open_journal(path):
        with pytest.raises(SQLiteLibraryConflict, match="rule 5"):
            upgrade(path)
        with pytest.raises(SQLiteLibraryConflict):
            current_revision(path)
    assert upgrade(path).after == SCHEMA_REVISION  # fine once apsw let go


def test_wheel_ships_the_migrations(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path),
         str(ROOT)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("recorder-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "migrations").rglob("*.py")}
    assert expected, "no migration scripts in the source tree"
    for name in expected:
        assert f"recorder/{name}" in names
    assert "recorder/migrations/script.py.mako" in names
    assert "recorder/venues/lx/lx1_pb2.py" in names and "recorder/venues/lx/lx1.proto" in names
