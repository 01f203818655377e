"""The apsw appender: group commit, the three durability modes and the hash chain.

Theory of operation
-------------------
Positions are assigned under one lock, in the order frames are appended; the committer gives the
rows their hashes batch after batch, in position order, so the chain never depends on which
thread commits. Committing is a role, not a thread: the first appender that finds no commit in
progress becomes the *committer*; it takes every pending row, writes them in one transaction and
loops until nothing is pending, while later appenders only enqueue and wait. So N threads
appending at once share one transaction and, in ``strict``, one fsync (group commit).

* ``strict`` — ``synchronous=FULL``: ``append`` returns after the rows are committed and fsynced.
  Survives power loss.
* ``safe`` (default) — ``append`` returns after the rows are copied into the memory map of the
  journal's spool (:mod:`recorder.journal.spool`). Survives a killed process (the OS has the
  pages; the next process to open the journal merges what the spool holds beyond the SQLite
  head); a power cut may lose the last transactions. The rows reach SQLite
  (``synchronous=NORMAL`` in WAL) off the caller's path, by the flusher thread within
  ``safe_commit_ms`` (other processes see them then; reads through this journal wait for them), or
  at once when the owner calls :meth:`Appender.commit_pending`. A commit costs the same CPU
  wherever it runs: batching a few milliseconds of frames into one makes it cheap per frame, and
  keeping it off the appending thread keeps it out of the frames' way. Without a spool
  (``spool=None``) ``append`` commits inline, as ``strict`` does, with ``synchronous=NORMAL``.
* ``fast`` — ``append`` returns at once; rows are committed in batches, when ``fast_batch`` rows
  are pending (by the appending thread itself) or ``fast_flush_ms`` after the oldest pending row
  (by a small flusher thread). A crash may lose the rows of the last ``fast_flush_ms``.

WAL checkpoints (copying committed pages from the ``-wal`` file into the database) are taken off
the commit path by :class:`~recorder.journal.wal.WalCheckpointer`, so an append never pays for
one (they were the p99 tail of the capture path).

With a committer process (``safe`` only, :mod:`recorder.journal.committer`) a commit here only
hands the rows to the child, which chains and commits them on another CPU; the spool is trimmed
up to what the child acknowledged, so it always holds every row SQLite may not have yet. A bulk
append (:data:`SPOOL_BYPASS_ROWS` frames or more), which goes around the spool, returns once the
child has committed it, as it would once committed here.

A bulk append leaves no copy in the spool, so until it is committed no later frame is spooled
(acknowledged) behind it: a kill -9 would leave the spool with a hole, which its merge cannot
cross. Other threads' appends wait for the bulk's commit meanwhile. A non-frame write (a
session, a gap, a checkpoint: :meth:`Appender.exclusive`) holds the committer role; the frames
appended meanwhile are committed before it lets the role go, since their appenders, readers and
a parked flusher may be waiting for that.

In the deferred modes (``fast``, and ``safe`` with its spool) an appending thread that finds
``fast_batch`` rows pending and no commit running commits them itself: backpressure on a
producer faster than the flusher.

One process writes a journal at a time (an exclusive ``flock`` on ``<journal>-writer.lock``);
any number of processes may read it. A failed commit — a full disk above all — stops the writer
loudly: the failing ``append`` and every later one raise, and nothing committed before is touched.
When the failure happens in the flusher, the next ``append`` or ``flush`` raises it; in ``safe``
mode the rows it could not commit stay in the spool (they were acknowledged) until the journal is
opened again with room to merge them.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from typing import Any, Literal, TypeVar, cast

import apsw

from recorder.core.frames import FrameRecord
from recorder.errors import JournalAccessError, JournalClosedError, JournalError, JournalFullError
from recorder.journal.chain import _sha256, canonical
from recorder.journal.committer import MAX_BEHIND, CommitterProcess
from recorder.journal.spool import CANON_CRC, CANON_TAG, HEADER, RECORD, Spool, wire_records
from recorder.journal.wal import WalCheckpointer
from recorder.journal.wire import Records, WireFrame

log = logging.getLogger("recorder.journal")

T = TypeVar("T")

Durability = Literal["strict", "safe", "fast"]
DURABILITIES: tuple[Durability, ...] = ("strict", "safe", "fast")

INSERT_FRAME = (
    "INSERT INTO frames (position, session_id, channel, direction, wall_ns, mono_ns, run_id, seq,"
    " mid, kind, is_replay, flags, payload, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


SPOOL_BYPASS_ROWS = 1000
"""``safe``: an append of this many frames or more is committed inline rather than spooled (a
bulk load; the spool is for the frame-at-a-time appends of a live session)."""
SAFE_LATEST = 4
"""``safe``: a row waits at most this many ``safe_commit_ms`` ticks for its commit."""
SPOOL_KEEP_BYTES = 1 << 20
"""A spool smaller than this is emptied only when nothing is pending (one ``ftruncate``)."""
SPOOL_COMPACT_BYTES = 32 << 20
"""A spool past this size while rows are still pending drops its committed head (copy + rename)."""

Row = tuple[int, int, str, str, int, int, str, int, str, str, bool, int, bytes, bytes]
"""A frames row, position first and hash last."""
Pending = tuple[int, FrameRecord | WireFrame, bytes]
"""A row waiting for its commit: its position, its record and its canonical bytes (the hash
chain's input; the row itself is built when it is committed) — or a wire frame and no bytes
(``b""``): its record and canonical bytes are built when it is committed
(:mod:`recorder.journal.wire`)."""


def insert_frames(conn: apsw.Connection, rows: list[Row]) -> None:
    """Insert frame rows in one transaction (rolled back if anything fails)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(INSERT_FRAME, rows)
        conn.execute("COMMIT")
    except BaseException:
        if not conn.get_autocommit():
            conn.execute("ROLLBACK")
        raise


class Appender:
    """Appends frames to one journal connection; see the module docstring for the guarantees."""

    def __init__(
        self,
        conn: apsw.Connection,
        *,
        path: str,
        durability: Durability,
        head_position: int,
        head_hash: bytes,
        fast_flush_ms: int = 5,
        fast_batch: int = 2000,
        spool: Spool | None = None,
        safe_commit_ms: int = 10,
        committer: CommitterProcess | None = None,
    ) -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {DURABILITIES}, not {durability!r}")
        if spool is not None and durability != "safe":
            raise ValueError(f"a spool is for durability 'safe' only, not {durability!r}")
        if committer is not None and spool is None:
            raise ValueError("a committer process commits a spool: durability 'safe' only")
        self._committer = committer
        self._handed: collections.deque[tuple[int, int]] = collections.deque()
        """Batches handed to the committer process: their last position, and the spool's size
        when they were taken (where the rows after them start)."""
        self._conn = conn
        self._path = path
        self.records = Records(conn, path)
        """Builds the records of wire frames (:meth:`append_wires`), by their session's venue."""
        self.durability: Durability = durability
        self._spool = spool
        self._deferred = durability == "fast" or spool is not None
        """Commits happen after ``append`` returns (by the flusher, or by a later append)."""
        self._next = head_position + 1
        self._chained = head_hash
        """The hash of the last row chained (by the committer, in position order)."""
        self._pending: list[Pending] = []
        self._pending_since = 0.0
        self._spooled_at = 0
        """The spool's size when the batch being committed was taken from ``_pending``."""
        self._handed_to = HEADER.size
        """With a committer process: where the spool's records not handed to it yet start."""
        self._unspooled = False
        """Rows went around the spool (a bulk append) since the last hand-over."""
        self._bypass_from = self._bypass_to = 0
        """The first and last positions of the latest bulk append (around the spool): no row may
        be spooled (acknowledged) behind it before it is committed, or a kill -9 leaves a hole."""
        self._committed = head_position
        self._committing = False
        self._failure: BaseException | None = None
        self._failure_raised = False
        self._closed = False
        self._quiet = False
        """No append since the flusher's last tick."""
        self._parked = False
        """The flusher waits for an append (no tick)."""
        self._lock = lock = threading.Lock()
        self._cond = threading.Condition(lock)
        """Appenders, committers and flush callers wait on this."""
        self._tick = threading.Condition(lock)
        """Only the flusher waits on this (commits do not wake it)."""
        self._flush_s = (safe_commit_ms if spool is not None else fast_flush_ms) / 1000
        self._fast_batch = fast_batch
        conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'strict' else 'NORMAL'}")
        self._checkpointer = WalCheckpointer(path, durability)
        conn.wal_autocheckpoint(0)
        conn.set_wal_hook(self._checkpointer.on_commit)
        self._flusher: threading.Thread | None = None
        if self._deferred:
            self._flusher = threading.Thread(
                target=self._flush_loop, name="recorder-journal-flusher", daemon=True
            )
            self._flusher.start()

    # ------------------------------------------------------------------ appending

    @property
    def committed_position(self) -> int:
        """The highest position known to be committed."""
        return self._committed

    @property
    def head_position(self) -> int:
        """The highest position assigned (committed or pending)."""
        return self._next - 1

    @property
    def head_hash(self) -> bytes:
        """The hash of the last row committed (of the head, once nothing is pending)."""
        return self._chained

    @property
    def committer_pid(self) -> int | None:
        """The committer process's id (None: commits happen in this process)."""
        return None if self._committer is None else self._committer.pid

    def append_one(self, record: FrameRecord) -> int:
        """:meth:`append` of one record (the SDK's common case), without building lists."""
        if self._deferred and self._spool is not None:
            with self._lock:
                if self._takes_one():
                    position = self._next
                    canon = canonical(position, record)
                    try:
                        self._spool.write_one(canon)
                    except OSError as exc:
                        raise self._stopped_by(exc, position, position) from exc
                    self._enqueue((position, record, canon))
                    return position
        return self.append((record,))[0]

    def _takes_one(self) -> bool:
        """One more row may join the pending ones without a commit first (under the lock)."""
        return (
            self._failure is None
            and not self._closed
            and len(self._pending) + 1 < self._fast_batch
            and self._committed >= self._bypass_to
        )

    def _enqueue(self, pending: Pending) -> None:
        """One spooled (or, in ``fast``, queued) row joins the pending ones (under the lock)."""
        rows = self._pending
        if not rows:
            self._pending_since = time.monotonic()
        rows.append(pending)
        self._next = pending[0] + 1
        self._quiet = False
        if self._parked:
            self._tick.notify()

    def append_wires(self, frames: Sequence[WireFrame]) -> int:
        """Append frames as they came off the wire (:mod:`recorder.journal.wire`) and return the
        first one's position (the others follow it, in order): in ``safe`` mode their bytes and
        clocks go into the spool as they are, and in ``safe`` and ``fast`` their records are
        built when they are committed (a frame's ``envelope``, the frame decoded if the caller
        has it, spares that commit the parse). The rows are the ones ``append_one`` of the
        records would write. In ``strict`` (and past ``fast_batch`` pending rows) the records
        are built now and appended.

        One lock, one copy into the spool and no tuple rebuilt, whatever the count: the SDK's
        and the capture loop's call per burst, whose cost after a wake-up is its frames' path."""
        count = len(frames)
        if self._deferred:
            with self._lock:
                rows = self._pending
                if (
                    self._failure is None
                    and not self._closed
                    and len(rows) + count < self._fast_batch
                    and count
                    and self._committed >= self._bypass_to
                ):
                    first = self._next
                    spool = self._spool
                    if spool is not None:
                        try:
                            spool.write_wires(first, frames)
                        except OSError as exc:
                            raise self._stopped_by(exc, first, first + count - 1) from exc
                    if not rows:
                        self._pending_since = time.monotonic()
                    if count == 1:
                        rows.append((first, frames[0], b""))
                    else:
                        rows += zip(range(first, first + count), frames, repeat(b""))
                    self._next = first + count
                    self._quiet = False
                    if self._parked:
                        self._tick.notify()
                    return first
        if self._failure is not None or self._closed:
            self._check_usable()  # raises, as append would
        if not count:
            return self._next
        build = self.records.record
        return self.append([build(frame) for frame in frames])[0]

    def append(self, records: Sequence[FrameRecord]) -> list[int]:
        """Append ``records`` in order and return their positions.

        In ``strict`` mode the rows are committed when this returns; in ``safe`` mode they are in
        the spool (committed within moments) — or, for a batch of :data:`SPOOL_BYPASS_ROWS` or
        more, committed, which costs less than spooling that many first; in ``fast`` mode they
        are queued (see :meth:`flush`).
        """
        cond = self._cond
        with self._lock:  # cond's lock, without Condition.__enter__'s Python frames
            if self._failure is not None or self._closed:
                self._check_usable()
            spool = self._spool
            inline = spool is None or len(records) >= SPOOL_BYPASS_ROWS
            if not inline:  # behind an uncommitted bulk a spooled row would follow a hole
                while self._committed < self._bypass_to and self._failure is None:
                    cond.wait()
                self._check_usable()
            first = self._next
            batch: list[Pending] = []
            if inline:
                spool = None  # this batch is committed before append returns
                self._unspooled = self._spool is not None
            parts: list[bytes] = []
            position = first
            record = RECORD.pack
            crc = zlib.crc32
            for r in records:
                canon = canonical(position, r)
                batch.append((position, r, canon))  # chained when committed (_chain)
                if spool is not None:
                    parts.append(record(len(canon) + 1, crc(canon, CANON_CRC)))
                    parts.append(CANON_TAG)
                    parts.append(canon)
                position += 1
            if spool is not None:
                try:
                    spool.write(b"".join(parts))
                except OSError as exc:
                    error = self._spool_error(exc, first, position - 1)
                    self._failure = error
                    self._failure_raised = True
                    cond.notify_all()
                    raise error from exc
            rows = self._pending
            if not rows:
                self._pending_since = time.monotonic()
            rows += batch
            self._next = position
            last = position - 1
            if inline and self._spool is not None:
                self._bypass_from, self._bypass_to = first, last
            if self._deferred and not (inline and self._spool is not None):
                if len(rows) < self._fast_batch:
                    self._quiet = False
                    if self._parked:
                        self._tick.notify()  # wake the flusher: the first rows after a quiet spell
                    return list(range(first, position))
                # Backpressure: a producer faster than the flusher waits for its commit (which
                # also keeps it from starving the flusher of this lock), then commits itself.
                while self._committing and self._failure is None:
                    cond.wait()
                if self._failure is not None and spool is None:
                    self._check_failure()  # fast: nothing holds these rows any more
                if not self._pending or self._failure is not None:
                    # In the spool, they are acknowledged; the next append hears of a failure.
                    return list(range(first, position))
                self._committing = True
            elif self._committing and self._committer is None:
                while self._committed < last and self._failure is None:
                    cond.wait()
                self._check_failure()
                return list(range(first, position))
            else:
                # A committer process's commits are heard only by a drain that waits for them
                # (sync): this append takes the role, after the drain under way if there is one.
                while self._committing and self._failure is None:
                    cond.wait()
                self._check_failure()
                self._committing = True
        if spool is None:
            self._drain(sync=self._committer is not None)  # committed when this returns
        else:
            with contextlib.suppress(JournalError):  # these rows are in the spool: acknowledged
                self._drain(report_later=True)
        return list(range(first, position))

    def flush(self) -> None:
        """Commit everything appended so far (a no-op in ``strict`` and ``safe`` mode)."""
        if self._committer is not None:
            with self._cond:
                self._check_failure()
                while self._committing and self._failure is None:
                    self._cond.wait()
                self._check_failure()
                if self._committed >= self._next - 1:
                    return
                self._committing = True
            self._drain(sync=True)
            return
        with self._cond:
            self._check_failure()
            target = self._next - 1
            if self._committing:
                while self._committed < target and self._failure is None:
                    self._cond.wait()
                self._check_failure()
                return
            if not self._pending:
                return
            self._committing = True
        self._drain()

    def commit_pending(self, min_rows: int = 1, min_age_s: float = 0.0) -> None:
        """Commit what is pending now, in this thread (``safe`` and ``fast``; a no-op when nothing
        is pending or a commit is under way). For an owner's idle moment: the commit leaves the
        path of the frames and costs no thread hand-off. With ``min_rows``/``min_age_s`` only
        once that many rows are pending or the oldest has waited that long (a commit's fixed
        cost shared by more rows). Raises like :meth:`append`."""
        pending = self._pending  # a peek without the lock first: the owner calls this per wake-up
        if not pending or (
            len(pending) < min_rows and time.monotonic() - self._pending_since < min_age_s
        ):
            return
        with self._cond:
            pending = self._pending
            if not pending or self._committing:
                return
            if len(pending) < min_rows and time.monotonic() - self._pending_since < min_age_s:
                return
            self._check_failure()
            self._committing = True
        self._drain()

    def settle(self) -> None:
        """Like :meth:`flush`, for readers: returns without raising once the appender stopped."""
        if self._pending or self._committing or self._committed < self._next - 1:
            with contextlib.suppress(JournalError):
                self.flush()

    def _drain(self, *, report_later: bool = False, sync: bool = False) -> None:
        """Commit pending rows until none is left; the caller holds the committer role.

        With a committer process the rows are handed to it instead, and with ``sync`` this
        returns once it has committed everything (:meth:`flush`).

        A failure is raised to the caller; with ``report_later`` (the flusher, or an append whose
        own rows are safe in the spool) the next ``append`` or ``flush`` raises it itself.
        """
        cond = self._cond
        committer = self._committer
        while True:
            with cond:
                batch = self._pending
                if not batch and not (sync and self._committed < self._next - 1):
                    self._committing = False
                    cond.notify_all()
                    return
                self._pending = []
                spool = self._spool
                if spool is not None:
                    self._spooled_at = spool.size
                handed = b""
                if committer is not None and batch:
                    handed = self._hand_over(batch)
            ack = None
            try:
                if committer is None:
                    self._write(self._chain(batch))
                elif batch:
                    committer.check()
                    committer.hand(handed)
                    ack = committer.acks()
                    if ack is None and batch[-1][0] - self._committed > MAX_BEHIND:
                        ack = committer.sync()  # so far behind: wait for it (back-pressure)
                else:
                    ack = committer.sync()
            except BaseException as exc:
                error = self._translate(exc, batch)
                with cond:
                    self._failure = error
                    self._failure_raised = not report_later
                    self._committing = False
                    cond.notify_all()
                raise error from exc
            with cond:
                if committer is None:
                    self._committed = batch[-1][0]
                    if spool is not None:
                        self._trim(spool)
                else:
                    if batch:
                        self._handed.append((batch[-1][0], self._spooled_at))
                    if ack is not None:
                        self._acknowledged(*ack)
                cond.notify_all()
            if committer is None and self._checkpointer.inline_due:  # no transaction can start
                self._checkpointer.inline(self._conn)

    def _acknowledged(self, position: int, digest: bytes) -> None:
        """The committer process has committed up to ``position`` (under the lock): drop those
        rows from the spool."""
        self._committed, self._chained = position, digest
        handed, offset = self._handed, 0
        while handed and handed[0][0] <= position:
            offset = handed.popleft()[1]
        spool = self._spool
        assert spool is not None
        try:
            anchor = (position, digest)
            if position == self._next - 1 and spool.size >= SPOOL_KEEP_BYTES:
                spool.empty(anchor)
                self._handed_to = HEADER.size  # everything was handed over, and committed
            elif offset >= SPOOL_COMPACT_BYTES:
                spool.keep_from(offset, anchor)
                shift = offset - HEADER.size  # the offsets of what stays move down as much
                self._handed_to -= shift
                self._handed = collections.deque((p, o - shift) for p, o in handed)
        except OSError as exc:
            log.warning("journal %s: could not trim the spool (%s); retried later", self._path, exc)

    def _trim(self, spool: Spool) -> None:
        """Drop the spool's committed bytes (under the lock, after a commit)."""
        try:
            anchor = (self._committed, self._chained)
            if not self._pending and spool.size >= SPOOL_KEEP_BYTES:
                spool.empty(anchor)
            elif self._spooled_at >= SPOOL_COMPACT_BYTES:
                spool.keep_from(self._spooled_at, anchor)
        except OSError as exc:
            # Only the spool's size is at stake: it is trimmed after a later commit.
            log.warning("journal %s: could not trim the spool (%s); retried later", self._path, exc)

    def _chain(self, batch: list[Pending]) -> list[Row]:
        """Give each row its hash, ``sha256(previous hash ‖ canonical bytes)`` (the committer
        alone calls this, batch after batch in position order, so the chain is the order of
        the positions whichever thread commits; off ``append``'s path). A wire frame's record
        and canonical bytes are built here."""
        prev = self._chained
        rows: list[Row] = []
        build = self.records.record
        for position, record, canon in batch:
            if not canon:
                if not isinstance(record, FrameRecord):
                    record = build(record)
                canon = canonical(position, record)
            prev = _sha256(prev + canon).digest()
            rows.append((position, *cast(FrameRecord, record), prev))
        self._chained = prev
        return rows

    def _hand_over(self, batch: list[Pending]) -> bytes:
        """The spool records of ``batch`` (every row pending), for the committer process
        (under the lock: a growing spool is mapped anew). They are the stretch of the spool
        since the last hand-over, copied as it is: no per-row work here, and the child builds
        wire frames' records itself, off this process's CPU. Rows that went around the spool
        get their records made here."""
        spool = self._spool
        assert spool is not None
        start, self._handed_to = self._handed_to, self._spooled_at
        if self._unspooled:
            self._unspooled = False
            return self._records_of(batch)
        return spool.read(start, self._spooled_at)

    @staticmethod
    def _records_of(batch: list[Pending]) -> bytes:
        """Spool records (``length | crc32 | body``) of pending rows, made anew."""
        parts = []
        for position, record, canon in batch:
            if canon:
                body = CANON_TAG + canon
            elif isinstance(record, FrameRecord):
                body = CANON_TAG + canonical(position, record)
            else:
                parts.append(wire_records(position, (record,)))
                continue
            parts.append(RECORD.pack(len(body), zlib.crc32(body)))
            parts.append(body)
        return b"".join(parts)

    def _write(self, batch: list[Row]) -> None:
        insert_frames(self._conn, batch)

    def _translate(self, exc: BaseException, batch: list[Pending]) -> JournalError:
        if batch:
            first, last = batch[0][0], batch[-1][0]
        else:  # a failure the committer process reported: every row it had not committed
            first, last = self._committed + 1, self._next - 1
        intact = f"everything up to position {self._committed} is committed and intact"
        where = f"positions {first}..{last} were not written; {intact}"
        if self._spool is not None:
            # Spooled rows never follow an uncommitted bulk append (which goes around the
            # spool): the spooled ones come first, then the bulk's, which its append raised for.
            spooled_to = last if self._bypass_to < first else min(last, self._bypass_from - 1)
            parts = []
            if spooled_to >= first:
                parts.append(
                    f"positions {first}..{spooled_to} could not be committed and stay in the "
                    f"spool {self._spool.path} (they are merged when the journal is next opened)"
                )
            if spooled_to < last:
                parts.append(
                    f"positions {spooled_to + 1}..{last} (a bulk append, which goes around the "
                    "spool) were not written: that append raised"
                )
            where = "; ".join([*parts, intact])
        if isinstance(exc, JournalError):  # the committer process's account, and the spool's
            return type(exc)(f"{exc}. {where}.")
        if isinstance(exc, apsw.FullError):
            return JournalFullError(
                f"journal {self._path}: the disk is full — capture stopped. {where}. "
                "Free space, then restart capture (a new session continues the journal)."
            )
        if isinstance(exc, apsw.ReadOnlyError | apsw.CantOpenError | apsw.PermissionsError):
            return JournalAccessError(
                f"journal {self._path} cannot be written ({exc}) — capture stopped. {where}."
            )
        if isinstance(exc, apsw.IOError):
            return JournalAccessError(
                f"journal {self._path}: I/O error ({exc}) — capture stopped. {where}."
            )
        if isinstance(exc, apsw.Error):
            return JournalError(f"journal {self._path}: {exc} — capture stopped. {where}.")
        return JournalError(f"journal {self._path}: {exc!r} — capture stopped. {where}.")

    def _stopped_by(self, exc: OSError, first: int, last: int) -> JournalError:
        """A spool write of the frames ``first..last`` failed (under the lock): the appender
        stops; the error to raise."""
        error = self._spool_error(exc, first, last)
        self._failure = error
        self._failure_raised = True
        self._cond.notify_all()
        return error

    def _spool_error(self, exc: OSError, first: int, last: int) -> JournalError:
        where = (
            f"positions {first}..{last} were not journaled; everything acknowledged before is in "
            f"the journal or its spool"
        )
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return JournalFullError(
                f"journal {self._path}: the disk is full — capture stopped. {where}. "
                "Free space, then restart capture (a new session continues the journal)."
            )
        return JournalAccessError(
            f"journal {self._path}: cannot write the spool ({exc}) — capture stopped. {where}."
        )

    # ------------------------------------------------------------------ other writes

    @contextmanager
    def exclusive(self) -> Iterator[apsw.Connection]:
        """Hold the committer role (after committing pending frames) for a non-frame write."""
        self.flush()
        with self._cond:
            self._check_usable()
            while self._committing:
                self._cond.wait()
            self._check_usable()
            self._committing = True
        try:
            yield self._conn
        finally:
            with self._cond:
                due = bool(self._pending) and self._failure is None
                if not due:
                    self._committing = False
                    self._cond.notify_all()
            if due:  # rows appended meanwhile: their appenders (and a parked flusher) wait
                with contextlib.suppress(JournalError):  # raised to those appenders
                    self._drain(report_later=True)

    def execute_write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; return ``last_insert_rowid``."""

        def write(conn: apsw.Connection, _position: int) -> int:
            conn.execute(sql, params)
            return int(conn.last_insert_rowid())

        return self.transaction(write)

    def transaction(self, work: Callable[[apsw.Connection, int], T]) -> T:
        """Run ``work(connection, committed position)`` in one transaction (rolled back if it
        raises) and return what it returns: a non-frame write (:meth:`exclusive`). The position
        is the last frame committed, every frame appended before this call included (the
        ledger's events record it: :mod:`recorder.journal.ledger`)."""
        with self.exclusive() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn, self._committed)
                    conn.execute("COMMIT")
                except BaseException:
                    if not conn.get_autocommit():
                        conn.execute("ROLLBACK")
                    raise
                return result
            except apsw.FullError as exc:
                raise JournalFullError(f"journal {self._path}: the disk is full ({exc})") from exc
            except (apsw.ReadOnlyError, apsw.CantOpenError) as exc:
                raise JournalAccessError(f"journal {self._path} cannot be written ({exc})") from exc

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Commit what is pending and stop. Idempotent.

        The committer process, the connection and the spool are closed under the committer role:
        a thread that took it before a failure stopped the appender (a flush waiting for the
        child's answer) may still be using them, and ZeroMQ sockets are not thread-safe."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            self._tick.notify_all()
        if self._flusher is not None:
            self._flusher.join()
        committer = self._committer
        try:
            if self._failure is None:
                with self._cond:
                    while self._committing:
                        self._cond.wait()
                    due = bool(self._pending) or self._committed < self._next - 1
                    self._committing = due
                if due:
                    self._drain(sync=committer is not None)
        finally:
            with self._role():
                if committer is not None:
                    try:
                        committer.close()
                    except JournalError as exc:  # a failure the appender already stopped on
                        log.warning(
                            "journal %s: closing its committer process: %s", self._path, exc
                        )
                self._checkpointer.close()
                if self._spool is not None:
                    # Everything spooled is committed unless a commit failed: keep it then.
                    done = self._failure is None and self._committed == self._next - 1
                    self._spool.close(remove=done)

    @contextmanager
    def _role(self) -> Iterator[None]:
        """Hold the committer role for the block, once the commit under way (another thread's)
        has let it go."""
        with self._cond:
            while self._committing:
                self._cond.wait()
            self._committing = True
        try:
            yield
        finally:
            with self._cond:
                self._committing = False
                self._cond.notify_all()

    def _check_usable(self) -> None:
        self._check_failure()
        if self._closed:
            raise JournalClosedError(f"journal {self._path} is closed; open it again to append")

    def _check_failure(self) -> None:
        if self._failure is not None:
            if not self._failure_raised:  # it happened in the flusher: this caller hears first
                self._failure_raised = True
                raise self._failure
            raise JournalClosedError(
                f"journal {self._path} stopped after an earlier failure: {self._failure}"
            ) from self._failure

    def _flush_loop(self) -> None:
        """The deferred modes' flusher.

        ``fast``: commits rows pending for ``fast_flush_ms``. ``safe`` (the rows are in the
        spool already): commits what a producer left pending when a whole ``safe_commit_ms``
        tick passed without an append — a producer at work commits for itself
        (:meth:`commit_pending` at its idle moments, or ``fast_batch`` rows at a time), so the
        flusher does not contend with it for the GIL — and, whatever the producer does, rows
        pending for :data:`SAFE_LATEST` ticks. While frames come the flusher ticks (no
        appender wakes it: a wake-up per append would be a thread hand-off on the frame's
        path); after a tick with nothing pending and no append it parks until the next one.
        """
        tick = self._tick
        while True:
            with tick:
                if self._closed or self._failure is not None:
                    return
                if not self._pending or self._committing:
                    if self._quiet:
                        self._parked = True
                        tick.wait()
                        self._parked = False
                    else:
                        self._quiet = True
                        tick.wait(self._flush_s)
                    continue
                if self._spool is not None:
                    waited = time.monotonic() - self._pending_since
                    if not self._quiet and waited < SAFE_LATEST * self._flush_s:
                        self._quiet = True  # the producer is at work: look again a tick later
                        tick.wait(self._flush_s)
                        continue
                else:
                    due = self._pending_since + self._flush_s
                    now = time.monotonic()
                    if now < due:
                        tick.wait(due - now)
                        continue
                self._committing = True
            try:
                self._drain(report_later=True)
            except JournalError:
                return  # recorded in self._failure; the next append or flush raises it
