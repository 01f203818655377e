"""Bad files and bad places give clear errors, and never lose what was journaled."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from recorder.errors import (
    JournalAccessError,
    JournalClosedError,
    JournalFullError,
    NotAJournalError,
)
from recorder.journal import open_journal
from recorder.journal.spool import spool_path
from recorder.journal.verify import verify
from recorder.venues.lx.samples import sample_records


def test_non_sqlite_file_is_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the frames you are looking for\n" * 200)
    with pytest.raises(NotAJournalError, match="not a recorder journal"):
        open_journal(path)
    assert path.read_bytes().startswith(b"these are not")  # untouched


def test_other_sqlite_database_is_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(NotAJournalError, match="SQLite database but not a recorder journal"):
        open_journal(path)


def test_corrupted_journal_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.journal"
    with open_journal(path) as j:
        sid = j.start_session(venue="lx1", capture_point="test")
        j.append(sample_records(100, session_id=sid))
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage garbage!"  # destroy the SQLite header
    path.write_bytes(bytes(data))
    with pytest.raises(NotAJournalError):
        open_journal(path, readonly=True)


def test_missing_journal_read_only_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(JournalAccessError, match="does not exist"):
        open_journal(tmp_path / "nope.journal", readonly=True)


@contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A real tmpfs mounted on ``folder`` (skips the test where mounting is not allowed)."""
    folder.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here: {result.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def grow(mount: Path, options: str) -> None:
    """Remount a tmpfs with new options (e.g. a larger size)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "tiny", "size=1m") as mount:
        yield mount


@pytest.mark.parametrize("durability", ["safe", "strict", "safe+process"])
def test_full_disk_stops_capture_loudly_and_loses_nothing_acknowledged(
    tiny_tmpfs: Path, durability: str
) -> None:
    """``safe+process``: the committer process hits the full disk and says so."""
    path = tiny_tmpfs / "full.journal"
    durability, _, committer = durability.partition("+")
    journal = open_journal(path, durability=durability, committer=committer or "inline")  # type: ignore[arg-type]
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(40_000, session_id=sid)
    acknowledged = 0
    with pytest.raises(JournalFullError, match="disk is full") as info:
        for i in range(0, len(records), 200):
            acknowledged = journal.append(records[i : i + 200])[-1]
    assert "capture stopped" in str(info.value)
    with pytest.raises(JournalClosedError):
        journal.append(records[:1])
    journal.close()
    assert acknowledged > 0
    payloads = [r.payload for r in records]
    with open_journal(path, readonly=True) as reader:
        head = reader.head_position()
        assert [f.payload for f in reader.frames()] == payloads[:head]
        assert verify(reader).ok
    if durability == "strict":
        assert head == acknowledged  # committed before append returned
        return
    # safe: what SQLite could not take is in the spool; with room again, the next open merges it.
    assert head <= acknowledged
    assert spool_path(path).stat().st_size > 0 or head == acknowledged
    grow(tiny_tmpfs, "size=8m")
    with open_journal(path, readonly=True) as reader:
        assert reader.head_position() == acknowledged
        assert [f.payload for f in reader.frames()] == payloads[:acknowledged]
        report = verify(reader)
    assert report.ok, report.breaks


def test_size_limited_file_stops_capture_loudly(tmp_path: Path) -> None:
    path = tmp_path / "limited.journal"
    journal = open_journal(path)
    sid = journal.start_session(venue="lx1", capture_point="test")
    journal._appender._conn.execute("PRAGMA max_page_count=60")  # type: ignore[union-attr]
    records = sample_records(5000, session_id=sid)
    committed = 0
    with pytest.raises(JournalFullError):
        for i in range(0, len(records), 100):
            committed = journal.append(records[i : i + 100])[-1]
    journal.close()
    with open_journal(path, readonly=True) as reader:
        assert [f.payload for f in reader.frames()] == [r.payload for r in records[:committed]]


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "ro"
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    with tmpfs(folder, "size=1m,ro") as mount:  # root ignores permission bits
        yield mount


def test_read_only_directory_is_a_clear_error(readonly_dir: Path) -> None:
    with pytest.raises(JournalAccessError) as info:
        open_journal(readonly_dir / "new.journal")
    assert "new.journal" in str(info.value)
