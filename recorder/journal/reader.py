"""Reading a journal with apsw: by position, by stream in seq order, by mid, by time, the tail.

Every reader runs short read transactions over position windows (``CHUNK`` rows at a time), so a
long scan of a live journal never pins the WAL and always sees a consistent prefix. A check that
compares tables with one another (``recorder verify``) reads them all inside
:meth:`Reader.snapshot` instead: one read transaction, the journal at one moment.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import apsw

from recorder.core.frames import Channel, Direction, Frame
from recorder.journal.layout import MID_EPOCH_BITS
from recorder.journal.ledger import Snapshot, snapshot

CHUNK = 20_000

FRAME_COLUMNS = (
    "position, session_id, channel, direction, wall_ns, mono_ns, run_id, seq, ifnull(mid, ''),"
    " kind, is_replay, flags, payload, hash"
)
ROW_COLUMNS = (
    "position, session_id, channel, direction, wall_ns, mono_ns, run_id, seq, ifnull(mid, ''),"
    " kind, is_replay, flags, payload"
)

RawRow = tuple[int, int, str, str, int, int, str, int, str, str, int, int, bytes]
"""``(position, session_id, channel, direction, wall_ns, mono_ns, run_id, seq, mid, kind,
is_replay, flags, payload)`` with SQLite's own values: the fast path for the projector."""

_CHANNELS = {c.value: c for c in Channel}
_DIRECTIONS = {d.value: d for d in Direction}


def to_frame(row: tuple[Any, ...]) -> Frame:
    """Build a :class:`Frame` from a row selected with :data:`FRAME_COLUMNS`."""
    return Frame(
        row[0], row[1], _CHANNELS[row[2]], _DIRECTIONS[row[3]], row[4], row[5], row[6], row[7],
        row[8], row[9], bool(row[10]), row[11], row[12], row[13],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class FrameFilter:
    """The filters of ``recorder frames``; every field is optional and they combine with AND."""

    mid: str | None = None
    kind: str | None = None
    session_id: int | None = None
    channel: Channel | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    start: int | None = None
    stop: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL WHERE clause (without the keyword) and its parameters."""
        terms: list[str] = []
        params: list[Any] = []
        if self.mid is not None:
            # The mid index (revision 0004) leads with the position's epoch: seek each epoch
            # in range. ``mid <> ''`` lets SQLite use the partial index.
            terms.append(
                f"mid <> '' AND (position >> {MID_EPOCH_BITS}) IN (WITH RECURSIVE epoch(k) AS"
                f" (SELECT ? UNION ALL SELECT k + 1 FROM epoch WHERE k < coalesce(?,"
                f" (SELECT max(position) FROM frames)) >> {MID_EPOCH_BITS}) SELECT k FROM epoch)"
            )
            first = (self.start or 0) >> MID_EPOCH_BITS
            params += [first, None if self.stop is None else self.stop - 1]
        for column, op, value in (
            ("mid", "=", self.mid),
            ("kind", "=", self.kind),
            ("session_id", "=", self.session_id),
            ("channel", "=", self.channel.value if self.channel else None),
            ("wall_ns", ">=", self.since_ns),
            ("wall_ns", "<", self.until_ns),
            ("position", ">=", self.start),
            ("position", "<", self.stop),
        ):
            if value is not None:
                terms.append(f"{column} {op} ?")
                params.append(value)
        return (" AND ".join(terms) or "1"), params


class Reader:
    """Read access to one journal file over an apsw connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read on this connection inside the block sees the journal as it was at the
        block's first read: one read transaction (a savepoint, so blocks nest). In WAL mode a
        writer goes on committing meanwhile, unseen; the WAL cannot be checkpointed past the
        snapshot, so it grows until the block ends: for a whole-journal check, not a tail."""
        with self._conn:
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchall()  # the moment
            yield

    def head(self) -> tuple[int, bytes]:
        """``(position, hash)`` of the last committed frame; ``(0, GENESIS)`` when empty."""
        row: Any = self._conn.execute(
            "SELECT position, hash FROM frames ORDER BY position DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return 0, bytes(32)
        return int(row[0]), bytes(row[1])

    def head_position(self) -> int:
        """Position of the last committed frame (0 when empty)."""
        return self.head()[0]

    def count(self, flt: FrameFilter | None = None) -> int:
        """How many frames match ``flt``."""
        where, params = self._bounded(flt or FrameFilter()).where()
        row: Any = self._conn.execute(
            f"SELECT count(*) FROM frames WHERE {where}", params
        ).fetchone()
        return int(row[0])

    def rows(self, start: int = 1, stop: int | None = None) -> Iterator[RawRow]:
        """Raw rows in position order, ``start`` inclusive, ``stop`` exclusive."""
        yield from self._windows(ROW_COLUMNS, start, stop)

    def frames(self, start: int = 1, stop: int | None = None) -> Iterator[Frame]:
        """Frames in position order, ``start`` inclusive, ``stop`` exclusive."""
        for row in self._windows(FRAME_COLUMNS, start, stop):
            yield to_frame(row)

    def hashed_rows(self, start: int = 1, stop: int | None = None) -> Iterator[tuple[Any, ...]]:
        """Rows with their stored hash (``FRAME_COLUMNS``) in position order, and whether the
        payload and the hash are stored as BLOBs; used by verify (the two are read as bytes
        whatever was stored in them, so that an edited value is a break at its position, not a
        decoding error)."""
        yield from self._windows(
            "position, session_id, channel, direction, wall_ns, mono_ns, run_id, seq, mid,"
            " kind, is_replay, flags, CAST(payload AS BLOB), CAST(hash AS BLOB),"
            " typeof(payload) = 'blob' AND typeof(hash) = 'blob'",
            start,
            stop,
        )

    def first_not_utf8(self, start: int = 1) -> int | None:
        """The first position from ``start`` on with a text column that is not UTF-8 (which
        apsw cannot read as text: an edited row), or None."""
        rows = self._conn.execute(
            "SELECT position, CAST(channel AS BLOB), CAST(direction AS BLOB),"
            " CAST(run_id AS BLOB), CAST(mid AS BLOB), CAST(kind AS BLOB) FROM frames"
            " WHERE position >= ? ORDER BY position",
            (start,),
        )
        for position, *texts in rows:
            try:
                for text in texts:
                    if text is not None:
                        bytes(text).decode()
            except UnicodeDecodeError:
                return int(position)
        return None

    def extent(self) -> tuple[int, int | None]:
        """``(rows, lowest position)`` of the frames table, whatever its positions are."""
        row: Any = self._conn.execute("SELECT count(*), min(position) FROM frames").fetchone()
        return int(row[0]), row[1]

    def highest_position_named(self) -> int:
        """The highest frame position a checkpoint or the gap ledger refers to (0: none);
        a position stored as anything but an integer (an edit, which verify reports) is none."""
        row: Any = self._conn.execute(
            "SELECT max(coalesce((SELECT max(position) FROM checkpoints"
            " WHERE typeof(position) = 'integer'), 0), coalesce((SELECT max(detected_position)"
            " FROM gaps WHERE typeof(detected_position) = 'integer'), 0))"
        ).fetchone()
        return int(row[0])

    def integrity_check(self, most: int, *, quick: bool = False) -> list[str]:
        """SQLite's ``PRAGMA integrity_check`` (``quick``: ``quick_check``, which skips the
        indexes' contents): ``["ok"]``, or up to ``most`` messages."""
        pragma = "quick_check" if quick else "integrity_check"
        rows = self._conn.execute(f"PRAGMA {pragma}({int(most)})").fetchall()
        return [str(r[0]) for r in rows]

    def tables(self) -> set[str]:
        """The names of the tables the file holds."""
        rows = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(r[0]) for r in rows}

    def checkpoint_digests(self) -> list[tuple[bytes, object, bytes]]:
        """``(name, position, digest)`` of every checkpoint as stored, oldest position first:
        name and digest read as bytes and the position as found, whatever a tool put there
        (for verify: an edited checkpoint is a break, not a decoding error)."""
        rows: list[Any] = self._conn.execute(
            "SELECT CAST(name AS BLOB), position, CAST(digest AS BLOB) FROM checkpoints"
            " ORDER BY position, id"
        ).fetchall()
        return [(bytes(r[0] or b""), r[1], bytes(r[2] or b"")) for r in rows]

    def ledger(self) -> Snapshot | None:
        """The ledger and the ``sessions`` and ``gaps`` rows as stored, read at one moment
        (:func:`recorder.journal.ledger.snapshot`); None when the journal has no ledger table."""
        return snapshot(self._conn)

    def _windows(self, columns: str, start: int, stop: int | None) -> Iterator[Any]:
        end = self.head_position() + 1 if stop is None else stop
        sql = f"SELECT {columns} FROM frames WHERE position >= ? AND position < ? ORDER BY position"
        low = max(start, 1)
        while low < end:
            high = min(low + CHUNK, end)
            yield from self._conn.execute(sql, (low, high)).fetchall()
            low = high

    def select(self, flt: FrameFilter, *, limit: int | None = None) -> Iterator[Frame]:
        """Frames matching ``flt`` in position order (the ``recorder frames`` query)."""
        where, params = self._bounded(flt).where()
        sql = f"SELECT {FRAME_COLUMNS} FROM frames WHERE {where} ORDER BY position"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        for row in self._conn.execute(sql, params):
            yield to_frame(row)

    def _bounded(self, flt: FrameFilter) -> FrameFilter:
        """``flt`` with its time window also expressed as a position range (a rowid range scan)."""
        if flt.since_ns is None and flt.until_ns is None:
            return flt
        start, stop = flt.start or 1, flt.stop
        if flt.since_ns is not None:
            start = max(start, self.position_at(flt.since_ns - 1) + 1)
        if flt.until_ns is not None:
            last = self.position_at(flt.until_ns - 1) + 1
            stop = last if stop is None else min(stop, last)
        return dataclasses.replace(flt, start=start, stop=stop)

    def by_mid(self, mid: str) -> list[Frame]:
        """Every frame of one request's lifecycle (request, ACK, reports, replays), in order."""
        return list(self.select(FrameFilter(mid=mid)))

    def containing(self, kinds: str | tuple[str, ...], needle: bytes) -> Iterator[Frame]:
        """Frames of ``kinds`` whose payload contains ``needle`` (a scan: for audits)."""
        kinds = (kinds,) if isinstance(kinds, str) else kinds
        marks = ",".join("?" * len(kinds))
        sql = (
            f"SELECT {FRAME_COLUMNS} FROM frames WHERE kind IN ({marks})"
            " AND instr(payload, ?) > 0 ORDER BY position"
        )
        for row in self._conn.execute(sql, (*kinds, needle)):
            yield to_frame(row)

    def between(self, since_ns: int | None, until_ns: int | None) -> Iterator[Frame]:
        """Frames with ``since_ns <= wall_ns < until_ns``, in position order."""
        return self.select(FrameFilter(since_ns=since_ns, until_ns=until_ns))

    def runs(self, session_id: int, channel: Channel) -> list[str]:
        """The run ids seen on one session's channel, in order of first appearance."""
        rows = self._conn.execute(
            "SELECT run_id, min(position) AS first FROM frames WHERE session_id = ? AND channel = ?"
            " GROUP BY run_id ORDER BY first",
            (session_id, channel.value),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def stream(
        self,
        session_id: int,
        channel: Channel,
        run_id: str | None = None,
        *,
        direction: Direction = Direction.IN,
    ) -> Iterator[Frame]:
        """One stream in seq order: runs in order of first appearance, replays included."""
        sql = (
            f"SELECT {FRAME_COLUMNS} FROM frames WHERE session_id = ? AND channel = ?"
            " AND direction = ? ORDER BY seq, position"
        )
        by_run: dict[str, list[Frame]] = {}
        first: dict[str, int] = {}
        for row in self._conn.execute(sql, (session_id, channel.value, direction.value)):
            frame = to_frame(row)
            if run_id is not None and frame.run_id != run_id:
                continue
            by_run.setdefault(frame.run_id, []).append(frame)
            first[frame.run_id] = min(first.get(frame.run_id, frame.position), frame.position)
        for run in sorted(by_run, key=first.__getitem__):
            yield from by_run[run]

    def position_at(self, wall_ns: int) -> int:
        """The last position journaled at or before ``wall_ns`` (0 if none).

        A binary search over positions: frames are stamped as they are journaled, so the wall
        clock rises with the position. Were the system clock stepped back while capturing
        (``verify`` counts such steps), the answer is a position at the step.
        """
        low, high = 0, self.head_position()  # invariant: wall(low) <= t < wall(high + 1)
        sql = "SELECT wall_ns FROM frames WHERE position = ?"
        execute = self._conn.execute
        while low < high:
            middle = (low + high + 1) // 2
            row: Any = execute(sql, (middle,)).fetchone()
            if row is not None and row[0] <= wall_ns:
                low = middle
            else:
                high = middle - 1
        return low

    def follow(
        self,
        start: int = 1,
        *,
        stop: threading.Event | None = None,
        poll_s: float = 0.05,
        idle: Callable[[], None] | None = None,
    ) -> Iterator[Frame]:
        """Yield frames from ``start`` on, then keep yielding new ones as another process appends.

        Ends when ``stop`` is set. ``idle`` is called each time the tail is caught up.
        """
        stop = stop or threading.Event()
        position = start
        while not stop.is_set():
            caught_up = True
            for frame in self.frames(position):
                yield frame
                position = frame.position + 1
                caught_up = False
                if stop.is_set():
                    return
            if caught_up:
                if idle is not None:
                    idle()
                stop.wait(poll_s)
