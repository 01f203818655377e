"""Alembic migrations: new files at head, old files refused until upgraded, upgrades keep data."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from recorder.errors import JournalSchemaError, SQLiteLibraryConflict
from recorder.journal import open_journal
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


def _journal_at_0001(path: Path, n: int) -> list[bytes]:
    """A file at the previous revision holding ``n`` chained frames, written with the stdlib."""
    upgrade(path, "0001")
    records = sample_records(n, session_id=1)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO sessions (id, venue, capture_point, recorder_version, host, pid,"
        " clock_source, started_wall_ns) VALUES (1, 'lx1', 'old', '0.0.9', 'h', 1, 'c', 1)"
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
    payloads = _journal_at_0001(path, 250)
    with pytest.raises(JournalSchemaError, match="recorder db upgrade") as info:
        open_journal(path)
    assert "Back it up" in str(info.value)
    result = upgrade(path)
    assert (result.before, result.after) == ("0001", SCHEMA_REVISION)
    with open_journal(path) as j:
        assert [f.payload for f in j.frames()] == payloads
        assert verify(j).ok
        j.write_checkpoint("x", 1, b"s", b"d")  # the new tables work


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
