"""``recorder verify`` against what a reviewer tried (found in review): a journal verified while it
is being written, an index edited below SQL, a forged checkpoint, and bytes that parse into
nothing a recorder writes (a spool record, a dropped table, JSON nested too deep). Each is a
break or a clear message naming the journal, never a false break and never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest
from click.testing import CliRunner

from recorder.cli import main
from recorder.core.projector import Projector
from recorder.core.state import View
from recorder.journal import open_journal
from recorder.journal import verify as verify_module
from recorder.journal.chain import _HEAD
from recorder.journal.spool import HEADER, RECORD, spool_path
from recorder.journal.verify import VerifyReport, verify
from recorder.projection import (
    CheckpointSkipped,
    checkpoint,
    checkpoint_name,
    project,
    projector_at,
    save_checkpoint,
)
from recorder.venues.lx.samples import sample_records

LIVE_WRITER = Path(__file__).with_name("live_writer_child.py")
NESTED = b"[" * 100_000 + b"]" * 100_000
"""JSON deeper than Python's recursion limit: ``json.loads`` raises ``RecursionError``."""


@pytest.fixture
def path(sample_journal: Callable[[int, str], Path]) -> Path:
    return sample_journal(600, "h.journal")


def _verify(path: Path) -> VerifyReport:
    with open_journal(path, readonly=True) as journal:
        return verify(journal)


def _sql(path: Path, *statements: str) -> None:
    """Edit the journal as the sqlite3 shell can."""
    other = apsw.Connection(str(path))
    for sql in statements:
        other.execute(sql)
    other.close()


def _cli(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output, result.exception


# ---------------------------------------------------------------------- a live journal


def test_a_journal_being_written_verifies_up_to_the_head_it_read(tmp_path: Path) -> None:
    """The old verify read the head, the row count, the gaps and the checkpoints each at its own
    moment: a writer's commits in between were 'rows inserted' or 'frames removed'."""
    path = tmp_path / "live.journal"
    writer = subprocess.Popen(
        [sys.executable, str(LIVE_WRITER), str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        heads = []
        for _ in range(12):
            report = _verify(path)
            assert report.ok, report.breaks
            assert report.frames == report.head_position
            heads.append(report.head_position)
        assert writer.poll() is None  # it was writing all along
    finally:
        writer.kill()
        writer.wait()
    assert heads == sorted(heads) and heads[0] < heads[-1]


def test_verify_says_which_head_it_verified_when_frames_arrive_meanwhile(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames committed while verify reads are not seen (one read transaction) and are named."""
    writer = open_journal(path)
    sid = writer.start_session(venue="lx1", capture_point="test", participant="q")
    real = verify_module.check_ledger

    def meanwhile(*args: object) -> object:
        writer.append(sample_records(40, session_id=sid))
        writer.flush()  # in SQLite, where the reader could see them
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_module, "check_ledger", meanwhile)
    try:
        with open_journal(path, readonly=True) as journal:
            report = verify(journal)
    finally:
        writer.close()
    assert report.ok, report.breaks
    assert report.head_position == report.frames == 600
    assert any("verified up to position 600" in n and "40 frame(s)" in n for n in report.notes)


# ---------------------------------------------------------------------- SQLite's own check


def _index_leaf(path: Path, index: str) -> tuple[int, int]:
    """``(page size, number)`` of the last leaf page of ``index`` (found with ``dbstat``)."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    page = conn.execute(
        "SELECT max(pageno) FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (index,)
    ).fetchone()[0]
    conn.close()
    return size, page


def test_an_index_edited_to_hide_a_frame_is_a_break(path: Path) -> None:
    """One byte of an index entry changed with a hex editor: the page is well formed (SQLite's
    quick_check says ok), the chain is intact, but a look-up by stream misses the frame."""
    size, page = _index_leaf(path, "ix_frames_stream")
    data = bytearray(path.read_bytes())
    at = data.index(b"order", (page - 1) * size, page * size)
    data[at + 4] = ord("q")  # 'ordeq': the entry no longer names its row
    path.write_bytes(bytes(data))
    report = _verify(path)
    assert not report.ok
    assert {b.kind for b in report.breaks} == {"sqlite"}
    assert any("missing from index ix_frames_stream" in b.message for b in report.breaks)
    assert all(str(path) in b.message for b in report.breaks)


def test_a_destroyed_page_is_a_break_with_sqlites_message_not_a_traceback(path: Path) -> None:
    size, page = _index_leaf(path, "ix_frames_mid_epoch")
    with open(path, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(b"\xff" * size)
    report = _verify(path)
    assert not report.ok and {b.kind for b in report.breaks} == {"sqlite"}
    assert any(f"page {page}" in b.message for b in report.breaks)
    code, output, exc = _cli("verify", "--journal", str(path))
    assert code == 1 and isinstance(exc, SystemExit), output
    assert f"SQLite's integrity check of journal {path}" in output


# ---------------------------------------------------------------------- checkpoints


def _forge(path: Path, covers: int) -> None:
    """Store as the exchange view's checkpoint at the head the state at position ``covers``,
    relabelled, with its digest recomputed (what anyone with write access can do)."""
    with open_journal(path) as journal:
        head = journal.head_position()
        state, _ = projector_at(journal, View.EXCHANGE, covers).to_checkpoint()
        line, newline, cold = state.partition(b"\n")
        snapshot = json.loads(line)
        snapshot["position"] = head
        forged = json.dumps(snapshot, separators=(",", ":"), sort_keys=True).encode()
        forged += newline + cold
        journal.delete_checkpoints(checkpoint_name(View.EXCHANGE))
        journal.write_checkpoint(
            checkpoint_name(View.EXCHANGE), head, forged, hashlib.sha256(forged).digest()
        )


def test_the_recorders_own_checkpoints_verify(path: Path) -> None:
    with open_journal(path) as journal:
        for view, at in ((View.EXCHANGE, 250), (View.KNOWN, 400)):
            save_checkpoint(journal, projector_at(journal, view, at))
        save_checkpoint(journal, projector_at(journal, View.EXCHANGE), keep_older=True)
    assert checkpoint(path, View.KNOWN) == 600
    report = _verify(path)
    assert report.ok, report.breaks


def test_a_forged_checkpoint_is_a_break(path: Path) -> None:
    with open_journal(path, readonly=True) as journal:
        truth = Projector(View.EXCHANGE)
        truth.apply_rows(journal.rows())
    _forge(path, covers=300)
    assert project(path).digest() != truth.state().digest()  # what `recorder state` prints
    report = _verify(path)
    assert [b.kind for b in report.breaks] == ["checkpoint"]
    assert report.breaks[0].position == 600
    assert "'projector/exchange' at position 600 is not the journal's projection" in (
        report.breaks[0].message
    )


def test_a_checkpoint_no_recorder_writes_is_a_break(path: Path) -> None:
    _sql(
        path,
        "INSERT INTO checkpoints (name, position, state, digest, created_wall_ns,"
        " recorder_version) VALUES ('projector/exchange', 'x', 'text', 'text', 0, '')",
    )
    report = _verify(path)
    assert [b.kind for b in report.breaks] == ["checkpoint"]
    assert "holds what no recorder writes" in report.breaks[0].message


# ---------------------------------------------------------------------- unreadable bytes


def _spool_with(path: Path, body: bytes) -> Path:
    """A spool after the journal's head holding one record whose CRC matches ``body``."""
    with open_journal(path, readonly=True) as journal:
        head = journal.reader.head()
    spool = spool_path(path)
    record = RECORD.pack(len(body), zlib.crc32(body)) + body
    spool.write_bytes(HEADER.pack(b"RSP2", *head) + record + bytes(RECORD.size))
    return spool


@pytest.mark.parametrize(
    "body",
    [  # the head is 600: each record is the next row's
        pytest.param(b"C" + bytes(10), id="row-cut-short"),
        pytest.param(b"C" + _HEAD.pack(601, 1, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0), id="channel-7"),
        pytest.param(
            b"C" + _HEAD.pack(601, 1, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0) + b"\xff\xfe",
            id="run-id-not-utf8",
        ),
        pytest.param(b"W" + bytes(12), id="wire-frame-cut-short"),
    ],
)
def test_a_spool_record_with_a_valid_crc_and_nothing_readable_is_kept_aside(
    path: Path, body: bytes
) -> None:
    spool = _spool_with(path, body)
    data = spool.read_bytes()
    code, output, exc = _cli("verify", "--journal", str(path))
    assert exc is None and code == 0, output  # what the journal holds verifies
    kept = list(path.parent.glob(path.name + "-spool.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == data  # never lost
    assert f"{kept[0]} is a spool of this journal with a damaged record" in output
    with open_journal(path) as journal:  # a writer opens it too
        assert journal.head_position() == 600


@pytest.mark.parametrize("table", ["sessions", "gaps", "checkpoints"])
def test_a_dropped_table_is_a_break_naming_it(path: Path, table: str) -> None:
    _sql(path, "PRAGMA foreign_keys = OFF", f"DROP TABLE {table}")
    report = _verify(path)
    assert [b.kind for b in report.breaks] == ["table"]
    assert f"journal {path} has no {table} table" in report.breaks[0].message
    code, output, exc = _cli("verify", "--journal", str(path))
    assert code == 1 and isinstance(exc, SystemExit), output
    assert f"has no {table} table" in output and "restore the journal from a copy" in output


def test_state_without_its_checkpoints_table_projects_from_the_frames(path: Path) -> None:
    truth = project(path).digest()
    _sql(path, "DROP TABLE checkpoints")
    with pytest.warns(CheckpointSkipped, match="its checkpoints cannot be read"):
        assert project(path).digest() == truth
    code, output, exc = _cli("state", "--journal", str(path), "--json")
    assert code == 0 and exc is None, output
    assert json.loads(output[output.index("{") :])["digest"] == truth


def test_a_ledger_event_nested_too_deep_is_a_break(path: Path) -> None:
    _sql(
        path,
        "DROP TRIGGER ledger_append_only_update",
        f"UPDATE ledger SET body = '{NESTED.decode()}' WHERE id = 1",
    )
    report = _verify(path)
    assert not report.ok
    assert any("ledger event 1 cannot be read" in b.message for b in report.breaks)
    code, output, exc = _cli("verify", "--journal", str(path))
    assert code == 1 and isinstance(exc, SystemExit), output


def test_a_checkpoint_nested_too_deep_is_skipped_by_state_and_a_break_in_verify(
    path: Path,
) -> None:
    truth = project(path).digest()
    state = NESTED + b"\n"
    with open_journal(path) as journal:
        journal.write_checkpoint(
            checkpoint_name(View.EXCHANGE), 600, state, hashlib.sha256(state).digest()
        )
    with pytest.warns(CheckpointSkipped, match="at position 600 skipped"):
        assert project(path).digest() == truth
    assert [b.kind for b in _verify(path).breaks] == ["checkpoint"]
    code, output, _ = _cli("state", "--journal", str(path), "--json")
    assert code == 0, output


def test_verify_reads_in_one_transaction_even_with_a_writer_thread(path: Path) -> None:
    """A writer thread in this process (the SDK's case): verify on the writing handle."""
    with open_journal(path) as journal:
        sid = journal.start_session(venue="lx1", capture_point="test", participant="r")
        stop = threading.Event()

        def write() -> None:
            while not stop.is_set():
                journal.append(sample_records(5, session_id=sid))

        thread = threading.Thread(target=write)
        thread.start()
        try:
            reports = [verify(journal) for _ in range(5)]
        finally:
            stop.set()
            thread.join()
    assert all(r.ok for r in reports), [r.breaks for r in reports]
