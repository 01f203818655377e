"""The journal's contract: what is appended reads back byte-identical, in order, hash-chained,
append-only; tampering is found and named by position."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import apsw
import pytest

from recorder.core.frames import Channel, Direction, Frame, FrameFlag
from recorder.errors import JournalAccessError
from recorder.journal import FrameFilter, Journal, open_journal
from recorder.journal import journal as journal_module
from recorder.journal.chain import GENESIS, row_hash
from recorder.journal.schema import MID_EPOCH_BITS
from recorder.journal.verify import verify
from recorder.venues.lx.records import to_record
from recorder.venues.lx.samples import sample_records

CHILD = Path(__file__).with_name("appender_child.py")


def test_append_reads_back_byte_identical_in_order(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(3000, session_id=sid)
    positions = journal.append(records[:1000]) + journal.append(records[1000:])
    assert positions == list(range(1, 3001))
    frames = list(journal.frames())
    assert [f.position for f in frames] == positions
    for record, frame in zip(records, frames, strict=True):
        assert frame.payload == record.payload
        assert (frame.kind, frame.mid, frame.seq, frame.run_id, frame.is_replay) == (
            record.kind, record.mid, record.seq, record.run_id, record.is_replay,
        )  # fmt: skip
        assert (frame.channel, frame.direction, frame.wall_ns, frame.mono_ns) == (
            record.channel, record.direction, record.wall_ns, record.mono_ns,
        )  # fmt: skip


def test_rows_match_frames(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test")
    journal.append(sample_records(500, session_id=sid))
    rows = list(journal.rows(100, 200))
    frames = list(journal.frames(100, 200))
    assert len(rows) == 100
    assert [r[0] for r in rows] == [f.position for f in frames]
    assert [r[12] for r in rows] == [f.payload for f in frames]
    assert [r[8] for r in rows] == [f.mid for f in frames]


def test_hash_chain_links_every_row(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test")
    journal.append(sample_records(200, session_id=sid))
    prev = GENESIS
    for f in journal.frames():
        expected = row_hash(
            prev, f.position, f.session_id, f.channel.value, f.direction.value, f.wall_ns,
            f.mono_ns, f.run_id, f.seq, f.mid, f.kind, f.is_replay, f.flags, f.payload,
        )  # fmt: skip
        assert f.hash == expected
        prev = f.hash
    report = verify(journal)
    assert report.ok, report.breaks
    assert report.frames == 200


def test_chain_continues_across_reopen(journal_path: Path) -> None:
    with open_journal(journal_path) as j:
        sid = j.start_session(venue="lx1", capture_point="test")
        j.append(sample_records(100, session_id=sid))
    with open_journal(journal_path) as j:
        sid2 = j.start_session(venue="lx1", capture_point="test")
        assert j.append(sample_records(10, session_id=sid2, seed=2))[0] == 101
        assert verify(j).ok


def test_tampered_payload_is_named_by_position(journal_path: Path) -> None:
    with open_journal(journal_path) as j:
        sid = j.start_session(venue="lx1", capture_point="test")
        j.append(sample_records(300, session_id=sid))
    # Another SQLite connection flips one byte of row 137's payload, working around the triggers.
    other = apsw.Connection(str(journal_path))
    other.execute("DROP TRIGGER frames_append_only_update")
    payload = bytearray(
        other.execute("SELECT payload FROM frames WHERE position=137").fetchone()[0]
    )
    payload[5] ^= 0x01
    other.execute("UPDATE frames SET payload=? WHERE position=137", (bytes(payload),))
    other.close()
    with open_journal(journal_path, readonly=True) as j:
        report = verify(j)
    assert not report.ok
    assert report.first_bad_position == 137
    assert report.breaks[0].kind == "hash"


def test_deleted_row_is_named(journal_path: Path) -> None:
    with open_journal(journal_path) as j:
        sid = j.start_session(venue="lx1", capture_point="test")
        j.append(sample_records(50, session_id=sid))
    other = apsw.Connection(str(journal_path))
    other.execute("DROP TRIGGER frames_append_only_delete")
    other.execute("DELETE FROM frames WHERE position=20")
    other.close()
    with open_journal(journal_path, readonly=True) as j:
        report = verify(j)
    assert report.first_bad_position == 20
    assert report.breaks[0].kind == "position"


def test_triggers_refuse_update_and_delete(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test")
    journal.append(sample_records(5, session_id=sid))
    journal.flush()  # committed (safe mode commits off the append's path)
    other = apsw.Connection(str(journal.path))
    with pytest.raises(apsw.ConstraintError, match="append-only, UPDATE refused"):
        other.execute("UPDATE frames SET seq = 99 WHERE position = 1")
    with pytest.raises(apsw.ConstraintError, match="append-only, DELETE refused"):
        other.execute("DELETE FROM frames WHERE position = 1")
    other.close()
    assert [f.seq for f in journal.frames()] == [r.seq for r in sample_records(5, session_id=sid)]


def test_malformed_frame_is_journaled_as_it_came_and_flagged(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test")
    garbage = b"\xff\xfe not a protobuf \x00\x01"
    record = to_record(
        garbage, session_id=sid, channel=Channel.ORDER, direction=Direction.IN, wall_ns=1, mono_ns=1
    )
    position = journal.append_one(record)
    (frame,) = journal.frames(position)
    assert frame.payload == garbage
    assert frame.malformed and frame.flags & FrameFlag.MALFORMED
    report = verify(journal)
    assert report.ok and report.malformed == 1


def test_readers_by_mid_stream_and_time(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(2000, session_id=sid)
    journal.append(records)
    order = next(r for r in records if r.kind == "LimitOrder")
    lifecycle = journal.by_mid(order.mid)
    assert [f.kind for f in lifecycle] == ["LimitOrder", "Status"]
    run = next(r.run_id for r in records if r.run_id)
    seqs = [f.seq for f in journal.reader.stream(sid, Channel.ORDER, run)]
    assert seqs == sorted(seqs) and seqs[0] == 1 and len(seqs) == len(set(seqs))
    middle = records[999].wall_ns
    assert journal.position_at(middle) == 1000
    assert journal.position_at(0) == 0
    window = list(journal.reader.between(records[10].wall_ns, records[20].wall_ns))
    assert [f.position for f in window] == list(range(11, 21))
    assert journal.reader.count(FrameFilter(kind="LimitOrder")) == sum(
        r.kind == "LimitOrder" for r in records
    )


def test_by_mid_finds_a_lifecycle_across_epochs_through_the_index(journal: Journal) -> None:
    """The mid index leads with ``position >> MID_EPOCH_BITS`` (revision 0004): a request whose
    replies fall in the next epoch is found whole, in order, and by index seeks, not a scan."""
    sid = journal.start_session(venue="lx1", capture_point="test")
    epoch = 1 << MID_EPOCH_BITS
    filler = sample_records(epoch - 3, session_id=sid)
    mid = "f" * 32
    lifecycle = [r._replace(mid=mid, kind=kind) for r, kind in zip(
        sample_records(5, session_id=sid), ["LimitOrder", "Status", "ActionReport", "Status", "X"],
        strict=True,
    )]  # fmt: skip
    journal.append(filler + lifecycle[:2])  # positions epoch - 2, epoch - 1
    journal.append(lifecycle[2:])  # epoch, epoch + 1, epoch + 2: the next epoch
    found = journal.by_mid(mid)
    assert [f.position for f in found] == list(range(epoch - 2, epoch + 3))
    assert [f.kind for f in found] == [r.kind for r in lifecycle]
    assert [f.position for f in journal.reader.select(FrameFilter(mid=mid, start=epoch))] == [
        epoch, epoch + 1, epoch + 2,
    ]  # fmt: skip
    assert [f.position for f in journal.reader.select(FrameFilter(mid=mid, stop=epoch))] == [
        epoch - 2, epoch - 1,
    ]  # fmt: skip
    where, params = FrameFilter(mid=mid).where()
    plan = journal.reader._conn.execute(
        f"EXPLAIN QUERY PLAN SELECT position FROM frames WHERE {where}", params
    ).fetchall()
    assert any("ix_frames_mid_epoch" in str(step) for step in plan), plan


def test_follow_reads_the_tail_written_by_another_process(journal_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(journal_path), "safe", "50"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()  # the first batch is committed: the file exists
        drain = threading.Thread(target=child.stdout.read, daemon=True)  # never block the child
        drain.start()
        stop = threading.Event()
        seen: list[Frame] = []
        with open_journal(journal_path, readonly=True) as reader:
            for frame in reader.reader.follow(1, stop=stop, poll_s=0.005):
                seen.append(frame)
                if len(seen) == 5000:
                    stop.set()
    finally:
        child.kill()
        child.wait()
    assert [f.position for f in seen] == list(range(1, 5001))
    with open_journal(journal_path, readonly=True) as j:
        assert [f.payload for f in j.frames(1, 5001)] == [f.payload for f in seen]


def test_group_commit_shares_commits_among_threads(journal_path: Path) -> None:
    j = open_journal(journal_path, durability="strict")
    sid = j.start_session(venue="lx1", capture_point="test")
    records = sample_records(1600, session_id=sid)
    chunks = [records[i::8] for i in range(8)]
    commits = 0
    original = j._appender._write  # type: ignore[union-attr]

    def counting(batch: list[object]) -> None:
        nonlocal commits
        commits += 1
        original(batch)  # type: ignore[arg-type]

    j._appender._write = counting  # type: ignore[union-attr,method-assign]
    barrier = threading.Barrier(8)
    results: list[list[int]] = [[] for _ in range(8)]

    def worker(i: int) -> None:
        barrier.wait()
        for record in chunks[i]:
            results[i].extend(j.append([record]))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    positions = sorted(p for r in results for p in r)
    assert positions == list(range(1, 1601))
    assert commits < 1600  # some appends shared a commit
    assert verify(j).ok
    j.close()


def test_fast_mode_commits_after_flush_interval(journal_path: Path) -> None:
    j = open_journal(journal_path, durability="fast", fast_flush_ms=5, fast_batch=10_000)
    sid = j.start_session(venue="lx1", capture_point="test")
    j.append(sample_records(10, session_id=sid))
    reader = open_journal(journal_path, readonly=True)
    done = threading.Event()
    # The flusher commits within ~5 ms; wait for it by polling the file, with a deadline.
    for _ in range(1000):
        if reader.head_position() == 10:
            done.set()
            break
        done.wait(0.005)
    assert done.is_set()
    reader.close()
    j.close()


def test_second_writer_is_refused(journal_path: Path) -> None:
    with open_journal(journal_path):
        with pytest.raises(JournalAccessError, match="already being written"):
            open_journal(journal_path)
        with open_journal(journal_path, readonly=True) as reader:
            assert reader.head_position() == 0


def test_a_live_writer_refuses_a_second_one_at_once_by_its_pid(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "MERGE_WAIT_S", 60.0)  # were it waited for: a minute
    with open_journal(journal_path):
        started = time.monotonic()
        with pytest.raises(
            JournalAccessError, match=f"already being written by process {os.getpid()};"
        ):
            open_journal(journal_path)
        assert time.monotonic() - started < 30


def _hold_lock(journal_path: Path, line: str) -> IO[bytes]:
    """The writer lock held as a reader merging a spool holds it, or as a holder that is gone
    left it: ``line`` in the file."""
    lock_path = journal_path.with_name(journal_path.name + "-writer.lock")
    lock_path.write_text(line)
    handle = open(lock_path, "ab")  # noqa: SIM115
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


@pytest.mark.parametrize("holder", ["merge", "writer gone"])
def test_a_merging_reader_or_a_gone_writers_line_is_waited_for(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch, holder: str
) -> None:
    open_journal(journal_path).close()
    line = f"merge {os.getpid()}\n" if holder == "merge" else f"writer {_dead_pid()}\n"
    monkeypatch.setattr(journal_module, "MERGE_WAIT_S", 0.2)
    with _hold_lock(journal_path, line):
        started = time.monotonic()
        with pytest.raises(JournalAccessError, match="by another process or handle;"):
            open_journal(journal_path)
        assert time.monotonic() - started >= 0.2  # it waited for the lock before refusing
    with open_journal(journal_path) as journal:  # the lock is free: the open goes on
        lock_path = journal_path.with_name(journal_path.name + "-writer.lock")
        assert lock_path.read_text() == f"writer {os.getpid()}\n"
        assert journal.head_position() == 0


def test_readonly_journal_refuses_appends(journal_path: Path) -> None:
    open_journal(journal_path).close()
    with (
        open_journal(journal_path, readonly=True) as j,
        pytest.raises(JournalAccessError, match="read-only"),
    ):
        j.start_session(venue="lx1", capture_point="test")


def test_sessions_and_gaps_ledger(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test", participant="abc")
    gap = journal.open_gap(session_id=sid, channel=Channel.ORDER, run_id="r", from_seq=5, to_seq=9)
    journal.update_gap(gap, "requested")
    journal.update_gap(gap, "filled")
    journal.end_session(sid, "test over")
    (session,) = journal.sessions()
    assert session.participant == "abc" and session.end_reason == "test over"
    (g,) = journal.gaps()
    assert (g.state, g.from_seq, g.to_seq) == ("filled", 5, 9)
    assert g.requested_wall_ns is not None and g.closed_wall_ns is not None


def test_checkpoints_round_trip(journal: Journal) -> None:
    journal.write_checkpoint("state", 10, b"abc", b"d1")
    journal.write_checkpoint("state", 20, b"def", b"d2")
    assert [c.position for c in journal.checkpoints("state")] == [20, 10]
    assert journal.delete_checkpoints("state") == 2
    assert journal.checkpoints() == []


def test_wal_checkpoints_run_in_the_background(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recorder.journal import wal

    monkeypatch.setattr(wal, "CHECKPOINT_PAGES", 20)
    j = open_journal(journal_path)
    sid = j.start_session(venue="lx1", capture_point="test")
    records = sample_records(5000, session_id=sid)
    for i in range(0, 5000, 100):
        j.append(records[i : i + 100])
    checkpointer = j._appender._checkpointer  # type: ignore[union-attr]
    j.close()
    assert checkpointer.checkpoints >= 1
    with open_journal(journal_path, readonly=True) as reader:
        assert verify(reader).ok and reader.head_position() == 5000


def test_time_lookups_by_binary_search(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(3001, session_id=sid)
    journal.append(records)
    for i in (0, 1, 999, 1500, 3000):
        t = records[i].wall_ns
        assert journal.position_at(t) == i + 1
        assert journal.position_at(t - 1) == i  # just before the frame
    assert journal.position_at(records[-1].wall_ns + 10**12) == 3001
    window = FrameFilter(since_ns=records[100].wall_ns, until_ns=records[200].wall_ns)
    assert [f.position for f in journal.select(window)] == list(range(101, 201))
    assert journal.reader.count(window) == 100
    assert verify(journal).clock_steps_back == 0
