"""The committer process of ``safe`` mode (``open_journal(committer="process")``).

The appender only spools; a child process chains and commits. Everything the journal promised
without a child holds with one: reads see every frame appended, the chain verifies, a killed
appender loses nothing it acknowledged (tests/journal/test_durability.py), a full disk stops it
loudly (tests/journal/test_errors.py). Here: the child's own life and death.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

import pytest
from waiting import until

from recorder.core.frames import FrameRecord
from recorder.errors import JournalClosedError, JournalError
from recorder.journal import open_journal
from recorder.journal.chain import canonical
from recorder.journal.committer import FOLDER_PREFIX, _Chain
from recorder.journal.journal import _connect
from recorder.journal.spool import CANON_TAG, RECORD, decode, spool_path, wire_records
from recorder.journal.verify import verify
from recorder.journal.writer import SPOOL_BYPASS_ROWS
from recorder.venues.lx.samples import sample_records


def _wait_exit(pid: int, timeout: float | None = None) -> bool:
    """Return once process ``pid`` has exited (at once if it is already gone): True, or False
    when ``timeout`` seconds passed first."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_the_committer_process_commits_every_spooled_frame(tmp_path: Path) -> None:
    path = tmp_path / "c.journal"
    journal = open_journal(path, committer="process")
    pid = journal.committer_pid
    assert pid is not None and pid != os.getpid()
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(5_000, session_id=sid)
    for i in range(0, 3_000, 6):
        journal.append(records[i : i + 6])
        journal.commit_pending(64, 0.005)  # hands rows over, as an owner's idle moment does
    for record in records[3_000:]:
        journal.append_one(record)
    # A read through the writing journal sees every frame appended before it.
    assert [f.payload for f in journal.frames()] == [r.payload for r in records]
    journal.end_session(sid, "done")
    journal.close()
    _wait_exit(pid)  # the child is gone once the journal is closed
    assert not spool_path(path).exists()
    with open_journal(path, readonly=True) as reader:
        assert reader.head_position() == len(records)
        report = verify(reader)
    assert report.ok, report.breaks


def test_a_killed_committer_stops_the_journal_loudly_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.journal"
    journal = open_journal(path, committer="process")
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(2_000, session_id=sid)
    journal.append(records[:500])
    journal.flush()
    pid = journal.committer_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait_exit(pid)
    acknowledged = journal.append(records[500:900])[-1]  # in the spool: acknowledged
    with pytest.raises(JournalError, match=r"committer process \(pid \d+\) exited with code -9"):
        journal.flush()
    with pytest.raises(JournalClosedError):
        journal.append(records[900:901])
    journal.close()
    assert spool_path(path).stat().st_size > 0  # kept: SQLite does not have all of it
    with open_journal(path, committer="process") as again:  # merges the spool, then goes on
        assert again.head_position() == acknowledged
        assert [f.payload for f in again.frames()] == [r.payload for r in records[:900]]
        again.append(records[900:])
        again.flush()
        assert verify(again).ok


_HOLDER = """
import sys, time
from recorder.journal import open_journal
journal = open_journal(sys.argv[1], committer="process")
print(journal.committer_pid, flush=True)
time.sleep(600)
"""


def test_the_socket_folder_of_a_writer_killed_with_its_committer_is_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / "a.journal")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp)},
    )  # fmt: skip
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    (left,) = tmp.glob(f"{FOLDER_PREFIX}{holder.pid}-*")
    os.kill(child, signal.SIGKILL)  # both at once: nobody is left to remove the folder
    holder.kill()
    holder.wait()
    _wait_exit(child)
    assert left.is_dir()
    alive = tmp / f"{FOLDER_PREFIX}{os.getpid()}-kept"  # a live parent's: left alone
    alive.mkdir()
    no_pid = tmp / f"{FOLDER_PREFIX}abcd1234"  # an older recorder's name: left alone
    no_pid.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    with open_journal(tmp_path / "b.journal", committer="process") as journal:  # sweeps first
        journal.flush()
        assert not left.exists()
        assert alive.is_dir() and no_pid.is_dir()
        ours = {p.name for p in tmp.glob(f"{FOLDER_PREFIX}{os.getpid()}-*")}
        assert len(ours) == 2 and alive.name in ours  # and this journal's committer's own


def test_an_unknown_committer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="committer must be one of"):
        open_journal(tmp_path / "c.journal", committer="thread")  # type: ignore[arg-type]


def test_a_bulk_append_is_committed_when_it_returns(tmp_path: Path) -> None:
    """An append of ``SPOOL_BYPASS_ROWS`` frames or more goes around the spool, so it is
    committed before it returns — by the committer process too, which a kill right after the
    append then cannot make lose it."""
    path = tmp_path / "c.journal"
    journal = open_journal(path, committer="process")
    sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(SPOOL_BYPASS_ROWS + 500, session_id=sid)
    journal.append(records[:10])  # spooled, then the bulk behind it
    last = journal.append(records[10:])[-1]
    pid = journal.committer_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait_exit(pid)
    with contextlib.suppress(JournalError):  # the dead committer is reported, or not needed
        journal.close()
    with open_journal(path, readonly=True) as reader:
        assert reader.head_position() == last == len(records)
        assert [f.payload for f in reader.frames()] == [r.payload for r in records]


def _chain_for(tmp_path: Path) -> tuple[_Chain, int]:
    path = tmp_path / "t.journal"
    with open_journal(path) as journal:  # a journal with a session, nothing committed yet
        sid = journal.start_session(venue="lx1", capture_point="test")
    return _Chain(_connect(path, readonly=False, busy_timeout_ms=1000), str(path)), sid


def _spool_records(records: list[FrameRecord], first: int = 1) -> bytes:
    """Spool records as the appender writes them: canonical bytes, or wire frames (odd ones)."""
    parts = []
    for position, record in enumerate(records, first):
        if position % 2:
            wire = (*record[:5], record.flags, record.payload, None)
            parts.append(wire_records(position, [wire]))
        else:
            canon = CANON_TAG + canonical(position, record)
            parts.append(RECORD.pack(len(canon), zlib.crc32(canon)) + canon)
    return b"".join(parts)


def test_the_committer_reads_handed_rows_as_the_spool_holds_them(tmp_path: Path) -> None:
    chain, sid = _chain_for(tmp_path)
    records = sample_records(40, session_id=sid)
    message = b"R" + _spool_records(records)
    chain.take(message)
    assert chain.held == [
        (decode(canonical(i, r)), canonical(i, r)) for i, r in enumerate(records, 1)
    ]
    chain.take(b"R" + _spool_records(records[-3:], first=38))  # handed again: skipped
    assert len(chain.held) == 40
    with pytest.raises(JournalError, match="row 43 was handed over where row 41 was due"):
        chain.take(b"R" + _spool_records(records[:1], first=43))


@pytest.mark.parametrize("at", [0, 9, -1], ids=["prefix", "tag-or-head", "payload"])
def test_the_committer_refuses_a_damaged_row(tmp_path: Path, at: int) -> None:
    chain, sid = _chain_for(tmp_path)
    record = sample_records(1, session_id=sid)
    for first in (1, 2):  # a wire frame (odd positions), then canonical bytes
        data = bytearray(_spool_records(record, first))
        data[at + 4 if at == 0 else at] ^= 0xFF  # the CRC, the body's start, its last byte
        with pytest.raises(JournalError, match="fails its CRC"):
            chain.take(b"R" + bytes(data))


def test_the_committer_refuses_an_unknown_body_tag(tmp_path: Path) -> None:
    chain, _ = _chain_for(tmp_path)
    body = b"X" + bytes(60)
    with pytest.raises(JournalError, match="unknown spool body tag b'X'"):
        chain.take(b"R" + RECORD.pack(len(body), zlib.crc32(body)) + body)


def test_a_worker_forked_by_the_writer_keeps_neither_its_lock_nor_its_committer(
    tmp_path: Path,
) -> None:
    """A writer forks a worker (``multiprocessing``'s default on Linux) and is killed: its
    committer still sees it die and exits, and the journal can be opened for writing again,
    while the worker lives on (it held copies of the writer lock and of the life pipe)."""
    path = tmp_path / "forked.journal"
    writer = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("forking_writer.py")), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert writer.stdout is not None and writer.stdin is not None
    _, writer_pid, _, committer, _, worker = writer.stdout.readline().split()
    try:
        os.kill(int(writer_pid), signal.SIGKILL)
        writer.wait()
        assert _wait_exit(int(committer), 10), "the committer missed its writer's death"
        with open_journal(path) as journal:  # the lock is free: the worker's copy is not it
            assert journal.head_position() == 10
        assert _alive(int(worker)), "the worker should outlive the writer here"
    finally:
        writer.stdin.close()  # the worker reads its stdin (the same pipe) to its end: it exits
        with contextlib.suppress(ProcessLookupError):
            _wait_exit(int(worker))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_while_the_committer_starts_leaves_nothing_behind(tmp_path: Path) -> None:
    """A KeyboardInterrupt while ``open_journal`` waits for its new committer to be ready (the
    child ignores SIGINT): the child is ended and the journal can be opened again at once."""
    path = tmp_path / "bot.journal"
    open_journal(path).close()
    main = threading.get_ident()
    seen: list[int] = []

    def interrupt_once_the_child_exists() -> None:
        if until(lambda: _committer_children(), timeout=30):
            seen.extend(_committer_children())
            signal.pthread_kill(main, signal.SIGINT)  # the user presses Ctrl-C

    watcher = threading.Thread(target=interrupt_once_the_child_exists)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            open_journal(path, committer="process").close()
    finally:
        watcher.join()
    assert seen, "no committer child was seen starting"
    assert all(_wait_exit(child, 10) for child in seen), "the committer outlived the interrupt"
    open_journal(path, committer="process").close()  # nobody holds the writer lock


def _committer_children() -> list[int]:
    """This process's committer children that are running (not zombies)."""
    me, found = str(os.getpid()), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
            if fields[1] == me and fields[0] != "Z" and b"recorder.journal.committer" in command:
                found.append(int(entry.name))
    return found
