"""The ``safe`` mode's spool: acknowledged frames survive the writer, and come back exactly once.

The kill tests (test_durability.py) prove the promise end to end with SIGKILL; these tests build
the states a dead writer can leave — a spool ahead of SQLite, a torn last record, a damaged
record, a spool SQLite already has — and check what the next open makes of each.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from recorder.journal import journal as journal_module
from recorder.journal import open_journal, wal, writer
from recorder.journal import spool as spool_module
from recorder.journal.chain import _HEAD
from recorder.journal.spool import HEADER, RECORD, spool_path
from recorder.journal.verify import verify
from recorder.venues.lx.samples import sample_records

# A child that appends in safe mode, says how far it got, then dies without closing anything.
_DIE_AFTER_APPEND = """
import os, sys
from recorder.journal import journal as journal_module
from recorder.journal import open_journal, wal, writer
from recorder.venues.lx.samples import sample_records
writer.Appender._flush_loop = lambda self: None  # the flusher never commits: all in the spool
journal = open_journal(sys.argv[1], durability="safe")
sid = journal.start_session(venue="lx1", capture_point="spool-test")
records = sample_records(int(sys.argv[2]), session_id=sid)
if sys.argv[3] == "one":  # frame by frame, as the SDK and the capture loop append
    positions = [journal.append_one(record) for record in records]
else:
    positions = journal.append(records)
print(positions[-1], flush=True)
os._exit(0)
"""


def _die_with_spooled(path: Path, count: int, how: str = "batch") -> int:
    """Run a writer that spools ``count`` frames (in one ``append``, or ``how="one"``: one
    ``append_one`` each), commits none of them and exits abruptly."""
    out = subprocess.run(
        [sys.executable, "-c", _DIE_AFTER_APPEND, str(path), str(count), how],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.split()[-1])


def _payloads(path: Path) -> list[bytes]:
    with open_journal(path, readonly=True) as reader:
        return [f.payload for f in reader.frames()]


def test_safe_append_returns_before_sqlite_has_the_rows_and_the_spool_has_them(
    journal_path: Path,
) -> None:
    last = _die_with_spooled(journal_path, 50)
    assert last == 50
    assert spool_path(journal_path).stat().st_size > 50 * RECORD.size
    with open_journal(journal_path) as journal:  # a writer's open merges the spool
        assert journal.head_position() == 50
        assert verify(journal).ok
    assert not spool_path(journal_path).exists()  # a clean close leaves no spool


def test_frames_spooled_one_at_a_time_come_back_exactly_as_appended(journal_path: Path) -> None:
    """``append_one``'s own copy into the spool (one record, its prefix made in place), past the
    spool's first reservation: every frame recovered, in order, byte for byte, chain intact."""
    count = 3000  # ~200 bytes each: the spool grows past SPOOL_RESERVE several times
    assert _die_with_spooled(journal_path, count, how="one") == count
    assert spool_path(journal_path).stat().st_size > spool_module.SPOOL_RESERVE
    with open_journal(journal_path) as journal:
        assert journal.head_position() == count
        assert verify(journal).ok
        sid = journal.sessions()[0].id
    expected = [r.payload for r in sample_records(count, session_id=sid)]
    assert _payloads(journal_path) == expected


def test_a_spool_of_another_journal_is_never_merged(tmp_path: Path) -> None:
    """A journal deleted after a crash, and another one at the same path later: the old spool
    is not this journal's (its anchor is a row this journal does not have)."""
    old = tmp_path / "bot.journal"
    with open_journal(old) as journal:
        sid = journal.start_session(venue="lx1", capture_point="test")
        journal.append(sample_records(40, session_id=sid))
    _die_with_spooled(old, 25)  # positions 41..65 spooled, anchored on row 40 of the old file
    leftover = spool_path(old).read_bytes()
    other = tmp_path / "other.journal"
    with open_journal(other) as journal:  # a different journal with 60 rows of its own
        sid = journal.start_session(venue="lx1", capture_point="test")
        journal.append(sample_records(60, session_id=sid, seed=9))
    spool_path(other).write_bytes(leftover)
    with open_journal(other) as journal:
        assert journal.head_position() == 60
        assert verify(journal).ok
    kept = list(tmp_path.glob("other.journal-spool.foreign-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == leftover


def test_a_new_journal_sets_aside_a_spool_it_finds(journal_path: Path) -> None:
    _die_with_spooled(journal_path, 10)
    leftover = spool_path(journal_path).read_bytes()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{journal_path}{suffix}").unlink(missing_ok=True)  # the journal is deleted
    with open_journal(journal_path) as journal:
        assert journal.head_position() == 0
    kept = list(journal_path.parent.glob(journal_path.name + "-spool.stale-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == leftover


def test_a_reader_merges_a_dead_writers_spool(journal_path: Path) -> None:
    _die_with_spooled(journal_path, 30)
    records = sample_records(30, session_id=1)
    assert _payloads(journal_path) == [r.payload for r in records]
    assert not spool_path(journal_path).exists()  # merged
    assert _payloads(journal_path) == [r.payload for r in records]  # exactly once


def test_a_reader_leaves_a_live_writers_spool_alone(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer.Appender, "_flush_loop", lambda self: None)  # no commit yet
    live = open_journal(journal_path)
    sid = live.start_session(venue="lx1", capture_point="test")
    live.append(sample_records(10, session_id=sid))
    spooled = spool_path(journal_path).read_bytes()
    assert spooled
    with open_journal(journal_path, readonly=True) as reader:
        assert reader.head_position() == 0  # the live writer owns its spool
    assert spool_path(journal_path).read_bytes() == spooled
    live.close()  # commits what is pending, then the spool goes
    assert not spool_path(journal_path).exists()
    assert len(_payloads(journal_path)) == 10


def test_spooled_rows_sqlite_already_has_are_skipped(journal_path: Path) -> None:
    _die_with_spooled(journal_path, 20)
    spool = spool_path(journal_path)
    data = spool.read_bytes()
    with open_journal(journal_path) as journal:
        assert journal.head_position() == 20
    spool.write_bytes(data)  # as if the writer died after its commit, before emptying the spool
    with open_journal(journal_path) as journal:
        assert journal.head_position() == 20
        assert verify(journal).ok


def _record_offsets(data: bytes) -> list[int]:
    """Where each record of a spool starts (up to the zero length that ends them)."""
    offsets, offset = [], HEADER.size
    while (length := RECORD.unpack_from(data, offset)[0]) != 0:
        offsets.append(offset)
        offset += RECORD.size + length
    return offsets


def test_a_batch_whose_length_never_landed_was_never_acknowledged_and_is_dropped(
    journal_path: Path,
) -> None:
    _die_with_spooled(journal_path, 20)
    spool = spool_path(journal_path)
    data = bytearray(spool.read_bytes())
    last = _record_offsets(bytes(data))[-1]
    data[last : last + RECORD.size] = bytes(RECORD.size)  # killed during the copy of that batch
    spool.write_bytes(bytes(data))
    with open_journal(journal_path) as journal:
        assert journal.head_position() == 19
        assert verify(journal).ok


def test_the_short_tail_of_a_spool_written_with_write_is_dropped(journal_path: Path) -> None:
    """Spools of earlier recorders were appended with write(2), not reserved: cut short, the
    last record is a torn tail."""
    _die_with_spooled(journal_path, 20)
    spool = spool_path(journal_path)
    data = spool.read_bytes()
    last = _record_offsets(data)[-1]
    end = last + RECORD.size + RECORD.unpack_from(data, last)[0]
    spool.write_bytes(data[: end - 7])
    with open_journal(journal_path) as journal:
        assert journal.head_position() == 19
        assert verify(journal).ok


def test_the_spool_reserves_its_blocks_and_grows(journal_path: Path) -> None:
    journal = open_journal(journal_path)
    sid = journal.start_session(venue="lx1", capture_point="test")
    appender = journal._appender
    assert appender is not None and appender._spool is not None
    spool = appender._spool
    reserved = os.stat(spool.path).st_blocks * 512
    assert reserved >= spool_module.SPOOL_RESERVE  # allocated, not a sparse file
    records = sample_records(4000, session_id=sid)
    for i in range(0, 4000, 40):  # below the bulk threshold: spooled
        journal.append(records[i : i + 40])
    assert os.stat(spool.path).st_blocks * 512 >= spool.size
    journal.close()
    assert len(_payloads(journal_path)) == 4000


def test_a_damaged_record_stops_recovery_and_the_spool_is_kept(journal_path: Path) -> None:
    _die_with_spooled(journal_path, 20)
    spool = spool_path(journal_path)
    data = bytearray(spool.read_bytes())
    offset = HEADER.size
    for _ in range(10):  # skip ten whole records
        offset += RECORD.size + RECORD.unpack_from(data, offset)[0]
    data[offset + RECORD.size + 3] ^= 0xFF  # inside the 11th record's bytes
    spool.write_bytes(bytes(data))
    with open_journal(journal_path) as journal:
        assert journal.head_position() == 10
        assert verify(journal).ok
    kept = list(journal_path.parent.glob(journal_path.name + "-spool.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(data)


def test_clean_close_commits_and_removes_the_spool(journal_path: Path) -> None:
    journal = open_journal(journal_path)
    sid = journal.start_session(venue="lx1", capture_point="test")
    for i in range(0, 3000, 30):
        journal.append(sample_records(30, session_id=sid))
        assert i >= 0
    journal.close()
    assert not spool_path(journal_path).exists()
    assert len(_payloads(journal_path)) == 3000


@pytest.mark.parametrize(
    ("committer", "how"), [("inline", "batch"), ("process", "batch"), ("process", "wire")]
)
def test_the_spool_is_trimmed_while_a_writer_never_pauses(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch, committer: str, how: str
) -> None:
    """Under load the spool is rarely empty when a commit ends: its committed head is dropped
    once it passes SPOOL_COMPACT_BYTES, so it stays bounded — with a committer process too,
    which is handed stretches of the spool whose offsets the compaction moves."""
    monkeypatch.setattr(writer, "SPOOL_COMPACT_BYTES", 64 * 1024)
    monkeypatch.setattr(writer, "SPOOL_KEEP_BYTES", 1 << 40)  # only compaction trims
    journal = open_journal(journal_path, committer=committer)  # type: ignore[arg-type]
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(20_000, session_id=sid)
    spool = spool_path(journal_path)
    biggest = 0
    for i in range(0, len(records), 50):
        if how == "wire":
            for r in records[i : i + 50]:
                journal.append_wires(
                    [(sid, r.channel, r.direction, r.wall_ns, r.mono_ns, r.flags, r.payload, None)]
                )
            journal.commit_pending()  # hand over now and then, as the capture loop does
        else:
            journal.append(records[i : i + 50])
        if committer == "process" and i % 1000 == 950:
            journal.flush()  # the child's answers come when they come: here, at the latest
        biggest = max(biggest, spool.stat().st_size)
    journal.flush()
    spooled = sum(RECORD.size + _HEAD.size + len(r.payload) for r in records)  # at least
    assert biggest < spooled / 4, (biggest, spooled)
    journal.close()
    assert _payloads(journal_path) == [r.payload for r in records]
    with open_journal(journal_path, readonly=True) as reader:
        assert verify(reader).ok


def test_many_threads_share_commits_in_safe_mode(journal_path: Path) -> None:
    journal = open_journal(journal_path)
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(1600, session_id=sid)
    results: list[list[int]] = []

    def work(k: int) -> None:
        mine = []
        for r in records[k * 200 : (k + 1) * 200]:
            mine += journal.append((r,))
        results.append(mine)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p for r in results for p in r) == list(range(1, 1601))
    assert verify(journal).ok
    journal.close()


def test_the_wal_is_restarted_while_frames_keep_coming(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background checkpointer catches up and the WAL restarts, so it stays bounded."""
    monkeypatch.setattr(wal, "CHECKPOINT_PAGES", 200)
    monkeypatch.setattr(wal, "WAL_INLINE_PAGES", 800)
    monkeypatch.setattr(
        journal_module, "_open_spool", lambda path, anchor: None
    )  # commit per append
    journal = open_journal(journal_path, durability="safe")
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(6000, session_id=sid)
    for r in records:
        journal.append((r,))
    wal_frames = os.path.getsize(str(journal_path) + "-wal") // (4096 + 24)
    # Each single-row commit adds ~3 WAL frames: ~18,000 without a restart. With restarts the
    # size is the most frames one restart took to come (the checkpoints' fsyncs set the pace).
    assert wal_frames < 18_000 / 3, wal_frames
    journal.close()
    assert len(_payloads(journal_path)) == 6000


def test_a_bulk_append_is_committed_not_spooled(journal_path: Path) -> None:
    journal = open_journal(journal_path)
    sid = journal.start_session(venue="lx1", capture_point="test")
    journal.append(sample_records(5, session_id=sid))  # spooled
    before = spool_path(journal_path).stat().st_size
    journal.append(sample_records(writer.SPOOL_BYPASS_ROWS, session_id=sid))  # committed inline
    assert spool_path(journal_path).stat().st_size == before
    with open_journal(journal_path, readonly=True) as reader:  # another connection sees them
        assert reader.head_position() == 5 + writer.SPOOL_BYPASS_ROWS
    journal.close()


def test_a_writer_waits_for_a_reader_merging_a_spool(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader merging a dead writer's spool holds the writer lock for a moment: a writer
    opening then waits for it instead of being refused."""
    import fcntl

    with open_journal(journal_path):
        pass
    waiting = threading.Event()
    real_sleep = journal_module.time.sleep

    def sleep(seconds: float) -> None:
        waiting.set()  # the writer found the lock held and waits
        real_sleep(seconds)

    monkeypatch.setattr(journal_module.time, "sleep", sleep)
    lock = open(f"{journal_path}-writer.lock", "ab")  # noqa: SIM115 (the "reader")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    opened: list[object] = []
    writer_thread = threading.Thread(target=lambda: opened.append(open_journal(journal_path)))
    writer_thread.start()
    assert waiting.wait(10)
    lock.close()  # the merge is done
    writer_thread.join(10)
    assert len(opened) == 1
    opened[0].close()  # type: ignore[attr-defined]
