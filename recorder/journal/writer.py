"""The apsw appender: group commit, the three durability modes and the hash chain.

Theory of operation
-------------------
Positions and hashes are assigned under one lock, in the order frames are appended, so the chain
never depends on which thread commits. Committing is a role, not a thread: the first appender that
finds no commit in progress becomes the *committer*; it takes every pending row, writes them in one
transaction and loops until nothing is pending, while later appenders only enqueue and wait. So N
threads appending at once share one transaction and, in ``strict``, one fsync (group commit).

* ``strict`` — ``synchronous=FULL``: ``append`` returns after the rows are committed and fsynced.
  Survives power loss.
* ``safe`` (default) — ``synchronous=NORMAL`` in WAL: ``append`` returns after the rows are
  committed to the WAL. Survives a killed process (the OS has the pages); a power cut may lose the
  last transactions.
* ``fast`` — ``append`` returns at once; rows are committed in batches, when ``fast_batch`` rows
  are pending (by the appending thread itself) or ``fast_flush_ms`` after the oldest pending row
  (by a small flusher thread). A crash may lose the rows of the last ``fast_flush_ms``.

WAL checkpoints (copying committed pages from the ``-wal`` file into the database) are taken off
the commit path: the writer's automatic checkpoint is disabled and a background thread with its
own connection runs a PASSIVE checkpoint whenever the WAL passes ``CHECKPOINT_PAGES`` pages, so an
append never pays for one (they were the p99 tail of the capture path).

One process writes a journal at a time (an exclusive ``flock`` on ``<journal>-writer.lock``);
any number of processes may read it. A failed commit — a full disk above all — stops the writer
loudly: the failing ``append`` and every later one raise, and nothing committed before is touched.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import apsw

from recorder.core.frames import FrameRecord
from recorder.errors import JournalAccessError, JournalClosedError, JournalError, JournalFullError
from recorder.journal.chain import _CHANNEL, _DIRECTION, _HEAD, _sha256

Durability = Literal["strict", "safe", "fast"]
DURABILITIES: tuple[Durability, ...] = ("strict", "safe", "fast")

INSERT_FRAME = (
    "INSERT INTO frames (position, session_id, channel, direction, wall_ns, mono_ns, run_id, seq,"
    " mid, kind, is_replay, flags, payload, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)

CHECKPOINT_PAGES = 4000
"""WAL size (pages) that wakes the background checkpointer."""

Row = tuple[int, int, str, str, int, int, str, int, str, str, bool, int, bytes, bytes]


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
    ) -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {DURABILITIES}, not {durability!r}")
        self._conn = conn
        self._path = path
        self.durability: Durability = durability
        self._next = head_position + 1
        self._prev = head_hash
        self._pending: list[Row] = []
        self._pending_since = 0.0
        self._committed = head_position
        self._committing = False
        self._failure: BaseException | None = None
        self._closed = False
        self._cond = threading.Condition(threading.Lock())
        self._flush_s = fast_flush_ms / 1000
        self._fast_batch = fast_batch
        conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'strict' else 'NORMAL'}")
        self._checkpointer = _Checkpointer(path, durability)
        conn.wal_autocheckpoint(0)
        conn.set_wal_hook(self._checkpointer.on_commit)
        self._flusher: threading.Thread | None = None
        if durability == "fast":
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

    def append(self, records: Sequence[FrameRecord]) -> list[int]:
        """Append ``records`` in order and return their positions.

        In ``strict`` and ``safe`` mode the rows are committed when this returns; in ``fast`` mode
        they are queued (see :meth:`flush`).
        """
        cond = self._cond
        with cond:
            self._check_usable()
            first = self._next
            prev = self._prev
            rows = self._pending
            if not rows:
                self._pending_since = time.monotonic()
            position = first
            pack = _HEAD.pack
            for r in records:
                # A FrameRecord's fields are the frames columns in order, position and hash aside.
                (
                    session_id, channel, direction, wall_ns, mono_ns, run_id, seq, mid, kind,
                    is_replay, flags, payload,
                ) = r  # fmt: skip
                run_b = run_id.encode()
                mid_b = mid.encode()
                kind_b = kind.encode()
                head = pack(
                    position, session_id, _CHANNEL[channel], _DIRECTION[direction], wall_ns,
                    mono_ns, seq, is_replay, flags, len(run_b), len(mid_b), len(kind_b),
                    len(payload),
                )  # fmt: skip
                prev = _sha256(b"".join((prev, head, run_b, mid_b, kind_b, payload))).digest()
                rows.append((position, *r, prev))
                position += 1
            self._next = position
            self._prev = prev
            last = position - 1
            if self.durability == "fast":
                if len(rows) < self._fast_batch or self._committing:
                    if len(rows) == len(records):
                        cond.notify_all()  # wake the flusher: a new batch started
                    return list(range(first, position))
                self._committing = True
            elif self._committing:
                while self._committed < last and self._failure is None:
                    cond.wait()
                self._check_failure()
                return list(range(first, position))
            else:
                self._committing = True
        self._drain()
        return list(range(first, position))

    def flush(self) -> None:
        """Commit everything appended so far (a no-op in ``strict`` and ``safe`` mode)."""
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

    def _drain(self) -> None:
        """Commit pending rows until none is left; the caller holds the committer role."""
        cond = self._cond
        while True:
            with cond:
                batch = self._pending
                if not batch:
                    self._committing = False
                    cond.notify_all()
                    return
                self._pending = []
            try:
                self._write(batch)
            except BaseException as exc:
                error = self._translate(exc, batch)
                with cond:
                    self._failure = error
                    self._committing = False
                    cond.notify_all()
                raise error from exc
            with cond:
                self._committed = batch[-1][0]
                cond.notify_all()

    def _write(self, batch: list[Row]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(INSERT_FRAME, batch)
            conn.execute("COMMIT")
        except BaseException:
            if not conn.get_autocommit():
                conn.execute("ROLLBACK")
            raise

    def _translate(self, exc: BaseException, batch: list[Row]) -> JournalError:
        where = (
            f"positions {batch[0][0]}..{batch[-1][0]} were not written; "
            f"everything up to position {self._committed} is committed and intact"
        )
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
                self._committing = False
                self._cond.notify_all()

    def execute_write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; return ``last_insert_rowid``."""
        with self.exclusive() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(sql, params)
                    rowid = int(conn.last_insert_rowid())
                    conn.execute("COMMIT")
                except BaseException:
                    if not conn.get_autocommit():
                        conn.execute("ROLLBACK")
                    raise
                return rowid
            except apsw.FullError as exc:
                raise JournalFullError(f"journal {self._path}: the disk is full ({exc})") from exc
            except (apsw.ReadOnlyError, apsw.CantOpenError) as exc:
                raise JournalAccessError(f"journal {self._path} cannot be written ({exc})") from exc

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Commit what is pending and stop. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if self._flusher is not None:
            self._flusher.join()
        try:
            if self._failure is None:
                with self._cond:
                    if not self._pending:
                        return
                    while self._committing:
                        self._cond.wait()
                    self._committing = True
                self._drain()
        finally:
            self._checkpointer.close()

    def _check_usable(self) -> None:
        self._check_failure()
        if self._closed:
            raise JournalClosedError(f"journal {self._path} is closed; open it again to append")

    def _check_failure(self) -> None:
        if self._failure is not None:
            raise JournalClosedError(
                f"journal {self._path} stopped after an earlier failure: {self._failure}"
            ) from self._failure

    def _flush_loop(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._closed and (not self._pending or self._committing):
                    cond.wait()
                if self._closed or self._failure is not None:
                    return
                due = self._pending_since + self._flush_s
                now = time.monotonic()
                if now < due:
                    cond.wait(due - now)
                    continue
                if self._committing or not self._pending or self._failure is not None:
                    continue
                self._committing = True
            try:
                self._drain()
            except JournalError:
                return  # recorded in self._failure; the next append raises it


class _Checkpointer:
    """Runs WAL checkpoints in a background thread, on its own connection to the journal."""

    def __init__(self, path: str, durability: Durability) -> None:
        self._path = path
        self._sync = "FULL" if durability == "strict" else "NORMAL"
        self._wake = threading.Event()
        self._pending = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        """How many checkpoints the thread has run (for tests and status)."""

    def on_commit(self, _conn: apsw.Connection, _db: str, pages: int) -> int:
        """The writer's WAL hook: wake the checkpointer when the WAL has grown large."""
        if pages >= CHECKPOINT_PAGES:
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="recorder-journal-checkpointer", daemon=True
                )
                self._thread.start()
            self._wake.set()
        return apsw.SQLITE_OK

    def _run(self) -> None:
        conn = apsw.Connection(self._path)
        try:
            conn.set_busy_timeout(5000)
            conn.execute(f"PRAGMA synchronous={self._sync}")
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._pending:
                    self._pending = False
                    # Busy or I/O trouble only delays a checkpoint (the next commit wakes us
                    # again); it never loses data, and a failing disk fails the appends loudly.
                    with contextlib.suppress(apsw.Error):
                        conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
                        self.checkpoints += 1
                if self._stop:
                    return
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the thread (the last connection to close checkpoints the rest)."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
