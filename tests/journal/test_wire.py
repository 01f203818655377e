"""Frames appended as they came off the wire (``append_wires``): their records are built when they
are committed — in this process, in the committer process, or by the recovery of a dead writer's
spool — and every row is the one ``append_one`` of the record, built up front, writes."""

from __future__ import annotations

import itertools
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import apsw
import pytest

from recorder.core.frames import Channel, Direction, FrameFlag, FrameRecord
from recorder.errors import JournalAccessError, JournalClosedError, UnknownVenueError
from recorder.journal import open_journal
from recorder.journal.chain import canonical
from recorder.journal.spool import HEADER, MAGIC_V1, RECORD, spool_path
from recorder.journal.verify import verify
from recorder.journal.wire import WireFrame
from recorder.venues import record_builder
from recorder.venues.lx.codec import decode
from recorder.venues.lx.records import to_record
from recorder.venues.lx.samples import sample_records

MODES = ["strict", "safe", "safe+process", "fast"]


def _records(session_id: int) -> list[FrameRecord]:
    """Sample frames of both channels and directions, and two a venue reader must flag."""
    records = sample_records(300, session_id=session_id)
    for i, (payload, flags) in enumerate([(b"\xffnot an envelope", 0), (b"\x08\x01", 2)]):
        records.insert(
            100 + i * 100,
            to_record(
                payload, session_id=session_id, channel=Channel.ORDER, direction=Direction.IN,
                wall_ns=1, mono_ns=2, flags=flags,
            ),
        )  # fmt: skip
    return records


def _rows(path: Path) -> list[tuple[Any, ...]]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return [tuple(r) for r in conn.execute("SELECT * FROM frames ORDER BY position")]
    finally:
        conn.close()


BURSTS = (1, 3, 1, 1, 7, 2, 40, 1)
"""How :func:`_write` cuts the frames into ``append_wires`` calls, in turn: one at a time (the
SDK's requests) and bursts."""


def _write(
    path: Path, mode: str, *, wire: bool, with_envelopes: bool = False, bursts: bool = False
) -> None:
    durability, _, committer = mode.partition("+")
    with open_journal(
        path,
        durability=durability,  # type: ignore[arg-type]
        committer=committer or "inline",  # type: ignore[arg-type]
    ) as journal:
        sid = journal.start_session(venue="lx1", capture_point="test")
        records = _records(sid)
        if not wire:
            for r in records:
                journal.append_one(r)
            return
        frames: list[WireFrame] = []
        for r in records:
            envelope = None
            if with_envelopes and not r.flags & FrameFlag.MALFORMED:
                envelope = decode(r.payload)
            frames.append(
                (sid, r.channel, r.direction, r.wall_ns, r.mono_ns,
                 r.flags & ~FrameFlag.MALFORMED, r.payload, envelope)
            )  # fmt: skip
        sizes = itertools.cycle(BURSTS if bursts else (1,))
        at = 0
        while at < len(frames):
            burst = frames[at : at + next(sizes)]
            assert journal.append_wires(burst) == at + 1  # the first one's position
            at += len(burst)


@pytest.mark.parametrize("mode", MODES)
def test_wire_frames_make_the_rows_their_records_would(tmp_path: Path, mode: str) -> None:
    """Same rows, hashes included, whether the record is built up front or at the commit; with
    the decoded envelope or without; one frame per append or bursts; flagged frames flagged the
    same."""
    _write(tmp_path / "records.journal", mode, wire=False)
    _write(tmp_path / "wire.journal", mode, wire=True)
    _write(tmp_path / "envelopes.journal", mode, wire=True, with_envelopes=True)
    _write(tmp_path / "bursts.journal", mode, wire=True, with_envelopes=True, bursts=True)
    expected = _rows(tmp_path / "records.journal")
    assert len(expected) == 302
    assert sum(1 for row in expected if row[11] & FrameFlag.MALFORMED) == 2
    assert _rows(tmp_path / "wire.journal") == expected
    assert _rows(tmp_path / "envelopes.journal") == expected
    assert _rows(tmp_path / "bursts.journal") == expected
    with open_journal(tmp_path / "wire.journal", readonly=True) as journal:
        assert verify(journal).ok


_DIE_AFTER_WIRE = """
import os, sys
from recorder.journal import open_journal, writer
from recorder.venues.lx.samples import sample_records
writer.Appender._flush_loop = lambda self: None  # the flusher never commits: all in the spool
journal = open_journal(sys.argv[1], durability="safe")
journal.append(sample_records(int(sys.argv[3]), session_id=journal.start_session(
    venue="lx1", capture_point="spool-test"), seed=5))  # committed rows before, spooled ones
sid = journal.start_session(venue="lx1", capture_point="spool-test")
frames = [(sid, r.channel, r.direction, r.wall_ns, r.mono_ns, r.flags, r.payload, None)
          for r in sample_records(int(sys.argv[2]), session_id=sid)]
for i in range(0, len(frames), 5):
    journal.append_wires(frames[i : i + 5])
journal.flush() if sys.argv[4] == "flush" else None
os._exit(0)
"""


def test_a_dead_writers_wire_frames_are_recovered_as_the_rows_they_would_be(
    tmp_path: Path,
) -> None:
    """A writer killed with wire frames in its spool (past the spool's first reservation): the
    next open builds their records and commits exactly the rows a live commit would have."""
    dead, alive = tmp_path / "dead.journal", tmp_path / "alive.journal"
    for path, end in ((dead, "die"), (alive, "flush")):
        subprocess.run(
            [sys.executable, "-c", _DIE_AFTER_WIRE, str(path), "3000", "40", end], check=True
        )
    assert spool_path(dead).stat().st_size > 3000 * 100
    with open_journal(dead) as journal:
        assert journal.head_position() == 3040
        assert verify(journal).ok
    assert not spool_path(dead).exists()
    assert _rows(dead) == _rows(alive)


def test_a_spool_an_earlier_recorder_left_is_recovered(tmp_path: Path) -> None:
    """``RSP1`` spools hold canonical bytes without the body tag; they are merged all the same."""
    path = tmp_path / "old.journal"
    with open_journal(path) as journal:
        sid = journal.start_session(venue="lx1", capture_point="test")
    records = sample_records(25, session_id=sid)
    spooled = [HEADER.pack(MAGIC_V1, 0, bytes(32))]
    for position, r in enumerate(records, start=1):
        canon = canonical(position, r)
        spooled.append(RECORD.pack(len(canon), zlib.crc32(canon)) + canon)
    spool_path(path).write_bytes(b"".join(spooled) + bytes(RECORD.size))
    with open_journal(path) as journal:
        assert journal.head_position() == 25
        assert verify(journal).ok
        assert [f.payload for f in journal.frames()] == [r.payload for r in records]


def test_a_wire_frame_of_a_venue_without_a_reader_fails_loudly(tmp_path: Path) -> None:
    with open_journal(tmp_path / "strict.journal", durability="strict") as journal:
        sid = journal.start_session(venue="nowhere", capture_point="test")
        with pytest.raises(UnknownVenueError, match="'nowhere'"):
            journal.append_wires([(sid, Channel.ORDER, Direction.IN, 1, 2, 0, b"x", None)])
        assert journal.head_position() == 0
    with open_journal(tmp_path / "safe.journal", durability="safe") as journal:
        sid = journal.start_session(venue="nowhere", capture_point="test")
        journal.append_wires([(sid, Channel.ORDER, Direction.IN, 1, 2, 0, b"x", None)])  # spooled
        with pytest.raises(UnknownVenueError, match="stay in the spool"):
            journal.flush()  # the commit built its record, and stopped the appender
        with pytest.raises(JournalClosedError):
            journal.append_wires([(sid, Channel.ORDER, Direction.IN, 1, 2, 0, b"y", None)])


def test_a_journal_opened_read_only_refuses_wire_frames(tmp_path: Path) -> None:
    path = tmp_path / "ro.journal"
    open_journal(path).close()
    with (
        open_journal(path, readonly=True) as journal,
        pytest.raises(JournalAccessError, match="read-only"),
    ):
        journal.append_wires([(1, Channel.ORDER, Direction.IN, 1, 2, 0, b"x", None)])


def test_the_venue_registry_reads_lx1_frames_with_to_record() -> None:
    """What a session's venue name resolves to: the builder every LX/1 writer uses up front, so
    a row built at the commit is the row built before it."""
    assert record_builder("lx1") is to_record
    with pytest.raises(UnknownVenueError, match="'lx2' is not one this recorder reads"):
        record_builder("lx2")
