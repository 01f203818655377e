"""The write-ahead spool of ``safe`` mode: a frame survives ``kill -9`` before SQLite has it.

Theory of operation
-------------------
A SQLite commit costs tens of microseconds of CPU (B-tree and index pages, WAL frames, locks);
two of them sat on every order's round trip. What ``safe`` promises is narrower: once ``append``
returns, the frame survives the death of the process (not a power cut). The kernel's page cache
gives exactly that to bytes stored in a shared memory map of a file. So in ``safe`` mode the
appender copies each appended batch into the map of ``<journal>-spool`` *before* ``append``
returns, and commits the rows to SQLite right after, off the caller's path
(:mod:`recorder.journal.writer`). The spool is emptied whenever everything in it is committed.

A copy, not a ``write(2)``: no system call, and above all no release of the GIL, which in the
SDK handed the GIL to the bot's thread in the middle of a request's path (measured: 60 µs of a
round trip). The file's blocks are reserved ahead with ``posix_fallocate`` (a full disk fails
that call, loudly, before anything is acknowledged; a page of the map that the disk could not
hold would kill the process with ``SIGBUS`` instead). A batch is copied with its first record's
length last and the next record's slot zeroed first, so a process killed mid-copy leaves the
batch unreadable, never half-read: it was not acknowledged.

A journal whose writer died with frames in its spool is repaired by the next process that opens
it — for writing, or for reading when no writer holds it: the spooled rows after the SQLite head
are inserted, chained from the head's hash, in one transaction, and the spool is emptied
(:func:`recover`). Rows the SQLite file already has are skipped, so recovery is idempotent.

Format (little endian): a header ``b"RSP2" | position i64 | hash 32 bytes`` — the *anchor*: the
records continue the chain after that position, whose row has that hash (0 and
:data:`~recorder.journal.chain.GENESIS` for an empty journal) — then records, each ``length u32 |
crc32 u32 | body``, where the body is either ``"C"`` and the canonical bytes of the row (its
hash-chain input, :mod:`recorder.journal.chain`: position, every column but the hash, in that
layout) or ``"W"`` and a *wire frame* — position, session, clocks, channel, direction, flags and
the payload — whose metadata columns are read when it is committed (:mod:`recorder.journal.wire`).
A zero length ends the records (the file's reserved rest is zeros). A ``RSP1`` spool, left by an
earlier recorder, holds canonical bytes without the tag; it is recovered the same way.

A spool whose anchor is not a row of the journal beside it (left by a journal that was deleted
or replaced) is never merged: it is kept aside as ``<journal>-spool.foreign-<ns>``; a new
journal sets aside any spool it finds as ``<journal>-spool.stale-<ns>``. A record cut short by
the process's death (a batch whose first length never landed, or the short tail of a spool
written with ``write(2)`` by an earlier recorder) was never acknowledged and is dropped; a
record whose CRC does not match, or whose CRC matches bytes that are no row and no wire frame
(cut short, a channel or text no writer stores, a session the journal has no row of), stops
recovery there and the spool is kept aside (``<journal>-spool.damaged-<ns>``) for inspection,
never deleted; ``recorder verify`` notes it.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import apsw

from recorder.journal.chain import _CHANNEL, _DIRECTION, _HEAD, GENESIS, _sha256, canonical
from recorder.journal.wire import WIRE, WIRE_TAG, Records, UnknownSessionError, WireFrame, unpack

__all__ = [
    "HEADER",
    "RECORD",
    "Spool",
    "SpoolRecovery",
    "header",
    "recover",
    "spool_path",
    "stale",
    "wire_records",
]

log = logging.getLogger("recorder.journal")

RECORD = struct.Struct("<II")
"""A spool record's prefix: its body's length and CRC-32 (a zero length: the end)."""
CANON_TAG = b"C"
"""The first byte of a spool body that holds a row's canonical bytes."""
CANON_CRC = zlib.crc32(CANON_TAG)
"""The tag's CRC-32, continued over the canonical bytes: ``zlib.crc32(canon, CANON_CRC)``."""
_END = bytes(RECORD.size)
SPOOL_RESERVE = 64 << 10
"""The spool file's first reservation (bytes); it grows by doubling, at most by
:data:`SPOOL_GROW_MAX` at a time."""
SPOOL_GROW_MAX = 8 << 20
HEADER = struct.Struct("<4sq32s")
"""A spool file's header: magic, and the anchor (position, hash) its records follow."""
MAGIC = b"RSP2"
_CANON_BYTE = CANON_TAG[0]
MAGIC_V1 = b"RSP1"
"""An earlier recorder's spool: canonical bytes without the tag."""

Anchor = tuple[int, bytes]
"""A position of the journal and its row's hash (0, GENESIS before the first row)."""

_CHANNELS = {v: k for k, v in _CHANNEL.items()}
_DIRECTIONS = {v: k for k, v in _DIRECTION.items()}

Columns = tuple[int, int, str, str, int, int, str, int, str, str, bool, int, bytes]
"""A frames row without its hash."""
Row = tuple[int, int, str, str, int, int, str, int, str, str, bool, int, bytes, bytes]


def spool_path(journal: Path | str) -> Path:
    """The spool file beside a journal (``<journal>-spool``)."""
    journal = Path(journal)
    return journal.with_name(journal.name + "-spool")


class Spool:
    """The appender's handle on the spool file: records are copied into a shared memory map of
    it, its blocks reserved ahead with ``posix_fallocate``.

    Not thread-safe: the appender calls it under its own lock.
    """

    __slots__ = ("_capacity", "_fd", "_map", "path", "size")

    def __init__(self, path: Path, anchor: Anchor) -> None:
        self.path = path
        self._fd = self._create(path)
        self._map: mmap.mmap | None = None
        self._capacity = 0
        self.size = 0
        """Bytes of the spool in use (its header included); the file is larger (reserved)."""
        try:
            self._reserve(HEADER.size + RECORD.size)
            self._map_put(HEADER.size, _END)
            self._map_put(0, header(anchor))
        except BaseException:
            self.close(remove=True)
            raise
        self.size = HEADER.size

    @staticmethod
    def _create(path: Path) -> int:
        """A new, empty spool file (the journal's open has merged or set aside any older one)."""
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size:
                kept = path.with_name(f"{path.name}.stale-{time.time_ns()}")
                path.rename(kept)
                log.warning("a spool was still at %s; it is kept as %s", path, kept)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)

    def _reserve(self, end: int) -> None:
        """Make the first ``end`` bytes writable: blocks allocated now (a full disk fails here,
        as ``OSError``, never later as a ``SIGBUS`` on a page of the map), then mapped."""
        if end <= self._capacity:
            return
        capacity = max(end, SPOOL_RESERVE, self._capacity + min(self._capacity, SPOOL_GROW_MAX))
        os.posix_fallocate(self._fd, 0, capacity)
        old, self._map = self._map, mmap.mmap(self._fd, capacity)
        self._capacity = capacity
        if old is not None:
            old.close()

    def _map_put(self, offset: int, data: bytes | memoryview) -> None:
        assert self._map is not None
        self._map[offset : offset + len(data)] = data

    def write(self, data: bytes) -> None:
        """Append whole records (``length | crc32 | body``, one or more); raises ``OSError``
        (before anything is written) when the disk has no room for them.

        No system call and no GIL release on the way: a copy into the map. The page cache holds
        the bytes, so they survive the process. The next record's slot is zeroed first and the
        first record's length lands last, so a process killed during the copy leaves no part of
        ``data`` that recovery would read (it was never acknowledged)."""
        start = self.size
        end = start + len(data)
        if end + RECORD.size > self._capacity:
            self._reserve(end + RECORD.size)
        m = self._map
        assert m is not None
        m[end : end + RECORD.size] = _END
        m[start + RECORD.size : end] = data[RECORD.size :]
        m[start : start + RECORD.size] = data[: RECORD.size]
        self.size = end

    def write_one(self, canon: bytes) -> None:
        """:meth:`write` of one row, given its canonical bytes (its prefix and tag are made
        here): no concatenated copy of the record, and no call to reserve room while there is
        room. The same order of stores as :meth:`write`: the next slot zeroed, the body, the
        prefix."""
        start = self.size
        body = start + RECORD.size
        end = body + 1 + len(canon)
        if end + RECORD.size > self._capacity:
            self._reserve(end + RECORD.size)
        m = self._map
        assert m is not None
        m[end : end + RECORD.size] = _END
        m[body] = _CANON_BYTE
        m[body + 1 : end] = canon
        m[start:body] = RECORD.pack(end - body, zlib.crc32(canon, CANON_CRC))
        self.size = end

    def write_wires(self, position: int, frames: Sequence[WireFrame]) -> None:
        """:meth:`write` of wire frames (:mod:`recorder.journal.wire`), the first at
        ``position``: each one's head and payload as they are, nothing built.

        One frame (a request, a reply: the latency case) is stored piece by piece, with no
        record assembled and copied first — the same order of stores as :meth:`write`: the
        next slot zeroed, the body, the prefix."""
        if len(frames) != 1:
            self.write(wire_records(position, frames))
            return
        head, payload = _wire_body(position, frames[0])
        start = self.size
        body = start + RECORD.size
        head_end = body + WIRE.size
        end = head_end + len(payload)
        if end + RECORD.size > self._capacity:
            self._reserve(end + RECORD.size)
        m = self._map
        assert m is not None
        m[end : end + RECORD.size] = _END
        m[body:head_end] = head
        m[head_end:end] = payload
        m[start:body] = RECORD.pack(end - body, zlib.crc32(payload, zlib.crc32(head)))
        self.size = end

    def read(self, start: int, end: int) -> bytes:
        """A copy of the spool's bytes from ``start`` to ``end`` (whole records)."""
        assert self._map is not None
        return self._map[start:end]

    def empty(self, anchor: Anchor) -> None:
        """Drop every record (the caller knows all of them are committed, up to ``anchor``)."""
        self._map_put(HEADER.size, _END)  # first: no record is reachable any more
        self._map_put(0, header(anchor))
        self.size = HEADER.size

    def keep_from(self, offset: int, anchor: Anchor) -> None:
        """Drop the bytes before ``offset`` (committed), keeping the rest: the rest is copied to
        a new file that atomically replaces this one (``rename``), so a crash at any point
        leaves either the old spool or the new one, both recoverable."""
        assert self._map is not None
        tail = header(anchor) + self._map[offset : self.size] + _END
        fresh = self.path.with_name(self.path.name + ".new")
        fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.posix_fallocate(fd, 0, max(len(tail), SPOOL_RESERVE))
            view = memoryview(tail)
            while view:
                view = view[os.write(fd, view) :]
            os.replace(fresh, self.path)
        except BaseException:
            os.close(fd)
            raise
        self._close_file()
        self._fd, self._map, self._capacity = fd, None, 0
        self._reserve(max(len(tail), SPOOL_RESERVE))
        self.size = len(tail) - RECORD.size

    def _close_file(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        os.close(self._fd)

    def close(self, *, remove: bool) -> None:
        """Close the file; ``remove`` deletes it (only when everything in it is committed)."""
        self._close_file()
        if remove:
            self.path.unlink(missing_ok=True)


def _wire_body(position: int, frame: WireFrame) -> tuple[bytes, bytes]:
    """A wire frame's spool body: its head (:data:`WIRE`) and its payload."""
    session_id, channel, direction, wall_ns, mono_ns, flags, payload, _ = frame
    head = WIRE.pack(
        WIRE_TAG, position, session_id, wall_ns, mono_ns, _CHANNEL[channel],
        _DIRECTION[direction], flags,
    )  # fmt: skip
    return head, payload


def wire_records(position: int, frames: Iterable[WireFrame]) -> bytes:
    """Spool records (``length | crc32 | body``) of wire frames, the first at ``position``."""
    parts: list[bytes] = []
    prefix, crc = RECORD.pack, zlib.crc32
    for frame in frames:
        head, payload = _wire_body(position, frame)
        parts += (prefix(len(head) + len(payload), crc(payload, crc(head))), head, payload)
        position += 1
    return b"".join(parts)


def header(anchor: Anchor) -> bytes:
    """A spool file's first bytes."""
    return HEADER.pack(MAGIC, *anchor)


def _records(data: bytes) -> Iterator[tuple[int, bytes | None]]:
    """``(offset, body)`` per whole record after the header; a ``None`` body for a damaged one
    (the last yielded)."""
    offset, end, prefix = HEADER.size, len(data), RECORD.size
    while end - offset >= prefix:
        length, crc = RECORD.unpack_from(data, offset)
        if length == 0:
            return  # the end: the rest of the file is reserved, or a batch never acknowledged
        start = offset + prefix
        if end - start < length:
            return  # a torn tail: the write that carried it never returned
        body = data[start : start + length]
        if zlib.crc32(body) != crc:
            yield offset, None
            return
        yield offset, body
        offset = start + length


def decode(
    canon: bytes,
) -> tuple[int, int, str, str, int, int, str, int, str, str, bool, int, bytes]:
    """A row's columns (hash aside) from its canonical bytes."""
    (
        position, session_id, channel, direction, wall_ns, mono_ns, seq, is_replay, flags,
        run_n, mid_n, kind_n, payload_n,
    ) = _HEAD.unpack_from(canon)  # fmt: skip
    at = _HEAD.size
    run_id = canon[at : at + run_n].decode()
    at += run_n
    mid = canon[at : at + mid_n].decode()
    at += mid_n
    kind = canon[at : at + kind_n].decode()
    at += kind_n
    payload = canon[at : at + payload_n]
    return (
        position, session_id, _CHANNELS[channel], _DIRECTIONS[direction], wall_ns, mono_ns,
        run_id, seq, mid, kind, bool(is_replay), flags, payload,
    )  # fmt: skip


_UNDECODABLE = (struct.error, UnicodeDecodeError, KeyError, IndexError, UnknownSessionError)
"""What reading a record raises when its body is not what a writer stores (a CRC that matches
bytes no writer wrote: an edited spool, or a bug), or names a session the journal has not (an
edited spool or ``sessions`` table: the journal opens with the frames before it)."""


def _position_of(body: bytes, tagged: bool) -> tuple[int, bytes, WireFrame | None]:
    """A record's position, and its canonical bytes (a row) or its wire frame; raises one of
    :data:`_UNDECODABLE` for a body that is neither."""
    if tagged and body[:1] == WIRE_TAG:
        position, frame = unpack(body)
        return position, b"", frame
    canon = body[1:] if tagged else body
    return _HEAD.unpack_from(canon)[0], canon, None


def _row_of(
    position: int, canon: bytes, frame: WireFrame | None, records: Records
) -> tuple[bytes, Columns]:
    """A record's canonical bytes and columns; a wire frame's record is built now, as its
    commit would have."""
    if frame is None:
        return canon, decode(canon)
    record = records.record(frame)
    return canonical(position, record), (position, *record)


class SpoolRecovery:
    """What :func:`recover` did."""

    __slots__ = ("damaged", "recovered", "skipped", "torn_bytes")

    def __init__(self) -> None:
        self.recovered = 0
        """Rows inserted into SQLite from the spool."""
        self.skipped = 0
        """Spooled rows SQLite already had."""
        self.torn_bytes = 0
        """Bytes of a record cut short at the end (never acknowledged)."""
        self.damaged: Path | None = None
        """Where a spool with a damaged record was kept."""


def _foreign(conn: apsw.Connection, data: bytes, head_position: int) -> str:
    """Why a spool's anchor is not a row of this journal ("" when it is)."""
    if len(data) < HEADER.size:
        return "it is shorter than its header"
    magic, position, digest = HEADER.unpack_from(data)
    if magic != MAGIC and magic != MAGIC_V1:
        return "it has no spool header"
    if position == 0:
        return "" if digest == GENESIS else "its anchor is not the chain's genesis"
    if position > head_position:
        return f"it follows position {position}, past the journal's head {head_position}"
    row = conn.execute("SELECT hash FROM frames WHERE position = ?", (position,)).fetchone()
    if row is None or bytes(row[0]) != digest:
        return f"its anchor does not match the journal's row {position}"
    return ""


def stale(journal: Path) -> Path | None:
    """Set aside a spool found beside a journal being created (it cannot be this one's)."""
    path = spool_path(journal)
    try:
        if path.stat().st_size == 0:
            path.unlink()
            return None
    except FileNotFoundError:
        return None
    kept = path.with_name(f"{path.name}.stale-{time.time_ns()}")
    path.rename(kept)
    log.warning("journal %s is new: the spool found beside it is kept as %s", journal, kept)
    return kept


def recover(
    conn: apsw.Connection,
    journal: Path,
    head_position: int,
    head_hash: bytes,
    insert: Callable[[apsw.Connection, list[Row]], None],
) -> SpoolRecovery:
    """Insert the spooled rows after ``head_position`` (chained from ``head_hash``) with
    ``insert`` (the appender's one transaction: :func:`recorder.journal.writer.insert_frames`),
    then empty the spool. ``conn`` is a writable connection whose process holds the journal's
    writer lock. SQLite errors propagate (the spool is then left as it was).
    """
    result = SpoolRecovery()
    path = spool_path(journal)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return result
    if not data:
        return result
    foreign = _foreign(conn, data, head_position)
    if foreign:
        result.damaged = path.with_name(f"{path.name}.foreign-{time.time_ns()}")
        path.rename(result.damaged)
        log.error(
            "journal %s: the spool beside it belongs to another journal (%s); it is kept as %s "
            "and not merged",
            journal,
            foreign,
            result.damaged,
        )
        return result
    rows: list[Row] = []
    prev, expected = head_hash, head_position + 1
    consumed = HEADER.size
    tagged = data[: len(MAGIC)] == MAGIC
    records = Records(conn, journal)
    for offset, body in _records(data):
        if body is None or (tagged and body[:1] not in (CANON_TAG, WIRE_TAG)):
            result.damaged = path.with_name(f"{path.name}.damaged-{time.time_ns()}")
            break
        consumed = offset + RECORD.size + len(body)
        try:
            position, canon, frame = _position_of(body, tagged)
            if position < expected:
                result.skipped += 1
                continue
            if position != expected:
                result.damaged = path.with_name(f"{path.name}.damaged-{time.time_ns()}")
                log.error(
                    "journal %s: spooled position %d follows %d; recovery stops there",
                    journal,
                    position,
                    expected - 1,
                )
                break
            canon, columns = _row_of(position, canon, frame, records)
        except _UNDECODABLE as exc:
            result.damaged = path.with_name(f"{path.name}.damaged-{time.time_ns()}")
            log.error(
                "journal %s: the spool record at byte %d has a valid CRC but cannot be read "
                "(%s: %s); recovery stops there",
                journal,
                offset,
                type(exc).__name__,
                exc,
            )
            break
        prev = _sha256(prev + canon).digest()
        rows.append((*columns, prev))
        expected += 1
    if result.damaged is None:
        result.torn_bytes = len(data[consumed:].rstrip(b"\0"))
    if rows:
        insert(conn, rows)
    result.recovered = len(rows)
    if result.damaged is not None:
        path.rename(result.damaged)
        log.error(
            "journal %s: the spool has a damaged record; %d rows recovered before it, the spool "
            "is kept as %s",
            journal,
            result.recovered,
            result.damaged,
        )
    else:
        path.unlink()  # the writer that opens the journal starts a new one
    if result.recovered:
        log.warning(
            "journal %s: recovered %d frame(s) from the spool of a writer that stopped without "
            "closing (positions %d..%d)%s",
            journal,
            result.recovered,
            head_position + 1,
            head_position + result.recovered,
            f"; dropped a {result.torn_bytes}-byte torn tail" if result.torn_bytes else "",
        )
    return result
