"""A journal file: opening it (created at the schema head), sessions, frames, gaps, checkpoints.

:func:`open_journal` is the one way in. A missing or empty file is created at the head revision
by Alembic (through the stdlib driver, disposed before apsw opens it: rule 5); a file at an older
revision is refused with the command that upgrades it, and a file that lacks one of the schema's
tables (dropped outside the recorder) is refused to writers, with the advice to restore it from
a copy. A reader opens it still, so that ``recorder verify`` can report what is missing, and a
read of a table that is gone (:meth:`Journal.sessions`, :meth:`Journal.checkpoints`, ...) is a
:class:`~recorder.errors.JournalError` naming the journal and the table.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import apsw

from recorder import __version__
from recorder.core.frames import Channel, Frame, FrameRecord
from recorder.errors import JournalAccessError, JournalError, JournalFullError, NotAJournalError
from recorder.journal import forking, guard, ledger, migrate
from recorder.journal.chain import GENESIS
from recorder.journal.committer import CommitterProcess
from recorder.journal.layout import SCHEMA_REVISION, TABLES
from recorder.journal.ledger import LedgerEvent
from recorder.journal.reader import FrameFilter, RawRow, Reader
from recorder.journal.spool import Spool, recover, spool_path, stale
from recorder.journal.wire import WireFrame
from recorder.journal.writer import Appender, Durability, insert_frames

Committer = Literal["inline", "process"]
COMMITTERS: tuple[Committer, ...] = ("inline", "process")
"""Who commits a ``safe`` journal's spool: this process, or a child (``open_journal``)."""

log = logging.getLogger("recorder.journal")
_Row = TypeVar("_Row")


@dataclass(frozen=True, slots=True)
class Session:
    """One connection lifetime of a capture point."""

    id: int
    venue: str
    capture_point: str
    participant: str
    order_endpoint: str
    market_endpoint: str
    recorder_version: str
    host: str
    pid: int
    clock_source: str
    started_wall_ns: int
    ended_wall_ns: int | None
    end_reason: str | None


@dataclass(frozen=True, slots=True)
class Gap:
    """One row of the gap ledger."""

    id: int
    session_id: int
    channel: str
    run_id: str
    from_seq: int
    to_seq: int
    contract_id: int | None
    state: str
    """``open``, ``requested``, ``filled`` or ``unrecoverable``."""
    detected_wall_ns: int
    detected_position: int | None
    requested_wall_ns: int | None
    closed_wall_ns: int | None
    reason: str


GAP_STATES = ("open", "requested", "filled", "unrecoverable")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A projector snapshot: the state bytes and the journal position they cover."""

    name: str
    position: int
    state: bytes
    digest: bytes
    created_ns: int
    chain_hash: bytes | None = None
    """The hash of the frame at ``position`` when it was written (:data:`GENESIS` at 0): the
    checkpoint belongs to this journal's frames only while that row holds it
    (:meth:`Journal.chain_hash`). None in a checkpoint written before revision 0006, or past
    the head."""


class Journal:
    """An open journal: an apsw reader, and an :class:`Appender` unless opened read-only."""

    append_one: Callable[[FrameRecord], int]
    """Append one frame and return its position: the appender's own method, bound when the
    journal opens (a call per frame, with no call in between)."""
    append_wires: Callable[[Sequence[WireFrame]], int]
    """``append_wires(frames)``: append frames as they came off the wire, each ``(session_id,
    channel, direction, wall_ns, mono_ns, flags, payload, envelope)``, and return the first
    one's position (the others follow); their records (run, seq, mid, kind) are built when
    they are committed, off the frames' path (:mod:`recorder.journal.wire`). The SDK's and the
    capture loop's call per burst; bound like :attr:`append_one`."""

    def __init__(
        self,
        path: Path,
        conn: apsw.Connection,
        appender: Appender | None,
        lock: IO[bytes] | None,
        writer_conn: apsw.Connection | None = None,
    ) -> None:
        self.path = path
        self._conn = conn
        self._reader = Reader(conn)
        self._writer_conn = writer_conn
        self._appender = appender
        self.append_one = self._read_only if appender is None else appender.append_one
        self.append_wires = self._read_only_wires if appender is None else appender.append_wires
        self._lock = lock
        self._closed = False

    # ------------------------------------------------------------------ writing

    @property
    def readonly(self) -> bool:
        """True when the journal was opened for reading only."""
        return self._appender is None

    @property
    def durability(self) -> Durability | None:
        """The appender's durability mode (None when read-only)."""
        return None if self._appender is None else self._appender.durability

    @property
    def committer_pid(self) -> int | None:
        """The id of the process committing this journal's spool (None: this process)."""
        return None if self._appender is None else self._appender.committer_pid

    def _writer(self) -> Appender:
        if self._appender is None:
            raise JournalAccessError(f"journal {self.path} was opened read-only")
        return self._appender

    def append(self, records: Sequence[FrameRecord]) -> list[int]:
        """Append frames; see :class:`~recorder.journal.writer.Appender` for the guarantees."""
        return self._writer().append(records)

    def _read_only(self, record: FrameRecord) -> int:
        return self._writer().append_one(record)  # raises: opened read-only

    def _read_only_wires(self, frames: Sequence[WireFrame]) -> int:
        return self._writer().append_wires(frames)  # raises: opened read-only

    def flush(self) -> None:
        """Commit everything appended so far (``safe`` and ``fast``: wait for it)."""
        self._writer().flush()

    def commit_pending(self, min_rows: int = 1, min_age_s: float = 0.0) -> None:
        """Commit what is pending now, in this thread, unless a commit is under way: for a
        writer's idle moment (see :meth:`Appender.commit_pending
        <recorder.journal.writer.Appender.commit_pending>`)."""
        self._writer().commit_pending(min_rows, min_age_s)

    def start_session(
        self,
        *,
        venue: str,
        capture_point: str,
        participant: str = "",
        order_endpoint: str = "",
        market_endpoint: str = "",
        clock_source: str = "time.time_ns/time.monotonic_ns",
        wall_ns: int | None = None,
    ) -> int:
        """Record the start of a capture session and return its id (with its ledger event)."""
        writer = self._writer()
        values: dict[str, ledger.Value] = {
            "venue": venue,
            "capture_point": capture_point,
            "participant": participant,
            "order_endpoint": order_endpoint,
            "market_endpoint": market_endpoint,
            "recorder_version": __version__,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "clock_source": clock_source,
            "started_wall_ns": time.time_ns() if wall_ns is None else wall_ns,
        }
        session_id = writer.transaction(partial(_record, "session_started", None, values))
        writer.records.learn(session_id, venue)
        return session_id

    def end_session(self, session_id: int, reason: str, *, wall_ns: int | None = None) -> None:
        """Record the end of a session with its reason (after committing its pending frames)."""
        values: dict[str, ledger.Value] = {
            "ended_wall_ns": time.time_ns() if wall_ns is None else wall_ns,
            "end_reason": reason,
        }
        self._writer().transaction(partial(_record, "session_ended", session_id, values))

    def open_gap(
        self,
        *,
        session_id: int,
        channel: Channel,
        run_id: str,
        from_seq: int,
        to_seq: int,
        contract_id: int | None = None,
        detected_position: int | None = None,
        wall_ns: int | None = None,
    ) -> int:
        """Record a detected gap in the gap ledger and return its id (with its ledger event)."""
        values: dict[str, ledger.Value] = {
            "session_id": session_id,
            "channel": channel.value,
            "run_id": run_id,
            "from_seq": from_seq,
            "to_seq": to_seq,
            "contract_id": contract_id,
            "state": "open",
            "detected_wall_ns": time.time_ns() if wall_ns is None else wall_ns,
            "detected_position": detected_position,
        }
        return self._writer().transaction(partial(_record, "gap_opened", None, values))

    def update_gap(
        self, gap_id: int, state: str, *, reason: str = "", wall_ns: int | None = None
    ) -> None:
        """Move a gap to ``requested``, ``filled`` or ``unrecoverable`` (with a reason)."""
        if state not in GAP_STATES:
            raise ValueError(f"gap state must be one of {GAP_STATES}, not {state!r}")
        now = time.time_ns() if wall_ns is None else wall_ns
        column = "requested_wall_ns" if state == "requested" else "closed_wall_ns"
        values: dict[str, ledger.Value] = {"state": state, column: now, "reason": reason}
        kind = ledger.GAP_STATE_EVENTS[state]
        self._writer().transaction(partial(_record, kind, gap_id, values))

    def write_checkpoint(self, name: str, position: int, state: bytes, digest: bytes) -> None:
        """Store a projector snapshot covering ``position`` with the chain hash of the frame
        there, read in the same transaction (one transaction; the frames appended before the
        call are committed by then)."""
        values = (name, position, state, digest, time.time_ns(), __version__)
        self._writer().transaction(partial(_insert_checkpoint, values))

    def delete_checkpoints(self, name: str | None = None) -> int:
        """Delete the checkpoints called ``name`` (all if None); return how many went."""
        before = len(self.checkpoints(name))
        if name is None:
            self._writer().execute_write("DELETE FROM checkpoints")
        else:
            self._writer().execute_write("DELETE FROM checkpoints WHERE name = ?", (name,))
        return before

    # ------------------------------------------------------------------ reading

    @property
    def reader(self) -> Reader:
        """The read API (positions, streams, mids, time, follow)."""
        self._settle()
        return self._reader

    def head_position(self) -> int:
        """Position of the last committed frame (0 when empty)."""
        self._settle()
        return self._reader.head_position()

    def frames(self, start: int = 1, stop: int | None = None) -> Iterator[Frame]:
        """Frames in position order, ``start`` inclusive, ``stop`` exclusive."""
        self._settle()
        return self._reader.frames(start, stop)

    def rows(self, start: int = 1, stop: int | None = None) -> Iterator[RawRow]:
        """Raw rows in position order (see :data:`~recorder.journal.reader.RawRow`)."""
        self._settle()
        return self._reader.rows(start, stop)

    def select(self, flt: FrameFilter, *, limit: int | None = None) -> Iterator[Frame]:
        """Frames matching a filter, in position order."""
        self._settle()
        return self._reader.select(flt, limit=limit)

    def by_mid(self, mid: str) -> list[Frame]:
        """A request's whole lifecycle."""
        self._settle()
        return self._reader.by_mid(mid)

    def position_at(self, wall_ns: int) -> int:
        """The last position journaled at or before ``wall_ns``."""
        self._settle()
        return self._reader.position_at(wall_ns)

    def sessions(self) -> list[Session]:
        """Every session, oldest first."""
        return self._table("sessions", Session)

    def gaps(self) -> list[Gap]:
        """The gap ledger, oldest first."""
        return self._table("gaps", Gap)

    def _table(self, table: str, row: Callable[..., _Row]) -> list[_Row]:
        """Every row of ``table``, oldest first, as ``row`` (a dataclass whose fields are the
        table's columns, in order)."""
        columns = ", ".join(f.name for f in fields(row))  # type: ignore[arg-type]
        with self._reading(table):
            rows: list[Any] = self._conn.execute(
                f"SELECT {columns} FROM {table} ORDER BY id"
            ).fetchall()
        return [row(*values) for values in rows]

    def ledger(self) -> list[LedgerEvent]:
        """The ledger of ``sessions`` and ``gaps``: every change made to them, oldest first
        (:mod:`recorder.journal.ledger`)."""
        with self._reading("ledger"):
            return ledger.events(self._conn)

    def checkpoints(self, name: str | None = None) -> list[Checkpoint]:
        """Checkpoints (of ``name``, or all), newest position first.

        Raises :class:`~recorder.errors.JournalError` naming the checkpoint when one holds what
        no recorder writes (a state stored as text, a position that is no integer: edited
        outside the recorder), or naming the table when it cannot be read."""
        sql = (
            "SELECT id, CAST(name AS BLOB), position, state, digest, created_wall_ns,"
            " chain_hash FROM checkpoints"
        )
        params: tuple[Any, ...] = ()
        if name is not None:
            sql += " WHERE name = ?"
            params = (name,)
        with self._reading("checkpoints"):
            rows: list[Any] = self._conn.execute(
                sql + " ORDER BY position DESC, id DESC", params
            ).fetchall()
        return [_checkpoint(self.path, row) for row in rows]

    def chain_hash(self, position: int) -> bytes | None:
        """The hash of the frame at ``position`` (:data:`GENESIS` at 0; None past the head):
        what a checkpoint there must carry (:attr:`Checkpoint.chain_hash`)."""
        self._settle()
        return _chain_hash_at(self._conn, position)

    def stored_checkpoints(self) -> list[tuple[bytes, object, bytes, object, bytes | None]]:
        """``(name, position, digest, chain hash, the chain hash of the frame at its position)``
        of every checkpoint as stored, oldest position first; name and digest read as bytes and
        the rest as found, whatever a tool put there (for ``recorder verify``: an edited
        checkpoint is a break, not a decoding error)."""
        rows: list[Any] = self._conn.execute(
            "SELECT CAST(c.name AS BLOB), c.position, CAST(c.digest AS BLOB), c.chain_hash,"
            " CASE WHEN c.position = 0 THEN ? ELSE f.hash END"
            " FROM checkpoints AS c LEFT JOIN frames AS f ON f.position = c.position"
            " ORDER BY c.position, c.id",
            (GENESIS,),
        ).fetchall()
        return [(bytes(r[0] or b""), r[1], bytes(r[2] or b""), r[3], r[4]) for r in rows]

    @contextlib.contextmanager
    def _reading(self, table: str) -> Iterator[None]:
        """Reads of ``table``: one a tool dropped or altered (which only a reader's open lets
        through, for ``recorder verify``) is a clear error, not SQLite's."""
        try:
            yield
        except apsw.SQLError as exc:
            raise JournalError(
                f"journal {self.path}: its {table} table cannot be read ({exc}): it was dropped "
                "or altered outside the recorder; restore the journal from a copy "
                f"(recorder verify --journal {self.path} says what else is wrong)"
            ) from exc

    def _settle(self) -> None:
        """Reads through the writing journal see every frame appended before them: wait for
        the pending commit (``safe`` and ``fast``). A stopped appender leaves what is committed."""
        if self._appender is not None:
            self._appender.settle()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Commit what is pending, close the connections and release the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._appender is not None:
                self._appender.close()
        finally:
            if self._writer_conn is not None:
                self._writer_conn.close()
            self._conn.close()
            if self._lock is not None:
                release_writer_lock(self._lock)
            guard.release(self.path, "apsw")

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_journal(
    path: Path | str,
    *,
    durability: Durability = "safe",
    create: bool = True,
    readonly: bool = False,
    fast_flush_ms: int = 5,
    fast_batch: int = 2000,
    busy_timeout_ms: int = 5000,
    safe_commit_ms: int = 10,
    committer: Committer = "inline",
) -> Journal:
    """Open (or create at the schema head) the journal at ``path``.

    ``committer="process"`` (``safe`` only): the spool is committed to SQLite by a child process
    (:mod:`recorder.journal.committer`), off this process's CPU and GIL.

    Raises :class:`~recorder.errors.NotAJournalError` for a file that is not a journal,
    :class:`~recorder.errors.JournalSchemaError` for one at another schema revision,
    :class:`~recorder.errors.JournalAccessError` for a file or directory that cannot be used,
    and (unless ``readonly``) :class:`~recorder.errors.JournalError` for a journal that lacks
    one of its tables.
    """
    path = Path(path)
    if readonly and not path.exists():
        raise JournalAccessError(f"journal {path} does not exist; check --journal")
    is_new = not path.exists() or path.stat().st_size == 0
    if is_new:
        if not create:
            raise JournalAccessError(f"journal {path} does not exist; check --journal")
        migrate.upgrade(path)
        stale(path)
    guard.acquire(path, "apsw")
    lock: IO[bytes] | None = None
    conn: apsw.Connection | None = None
    writer_conn: apsw.Connection | None = None
    child: CommitterProcess | None = None
    appender: Appender | None = None
    try:
        conn = _connect(path, readonly=readonly, busy_timeout_ms=busy_timeout_ms)
        tables = _tables(conn, path)
        migrate.refuse_if_old(path, _revision(conn, path, tables))
        if readonly:
            _merge_orphan_spool(path, busy_timeout_ms)
            return Journal(path, conn, None, None)
        _refuse_missing_tables(path, tables)
        lock = writer_lock(path, wait_s=MERGE_WAIT_S)
        writer_conn = _connect(path, readonly=False, busy_timeout_ms=busy_timeout_ms)
        writer_conn.execute("PRAGMA journal_mode=WAL")
        head_position, head_hash = _merge_spool(path, writer_conn)
        if committer == "process" and durability == "safe":
            child = CommitterProcess(
                path,
                lock_fd=lock.fileno(),
                safe_commit_ms=safe_commit_ms,
                busy_timeout_ms=busy_timeout_ms,
            )
        elif committer not in COMMITTERS:
            raise ValueError(f"committer must be one of {COMMITTERS}, not {committer!r}")
        appender = Appender(
            writer_conn,
            path=str(path),
            durability=durability,
            head_position=head_position,
            head_hash=head_hash,
            fast_flush_ms=fast_flush_ms,
            fast_batch=fast_batch,
            spool=_open_spool(path, (head_position, head_hash)) if durability == "safe" else None,
            safe_commit_ms=safe_commit_ms,
            committer=child,
        )
        return Journal(path, conn, appender, lock, writer_conn)
    except BaseException:
        if child is not None and appender is None:
            child.close()
        if writer_conn is not None:
            writer_conn.close()
        if conn is not None:
            conn.close()
        if lock is not None:
            release_writer_lock(lock)
        guard.release(path, "apsw")
        raise


_STORED_AS = {int: "an integer", float: "a real", str: "text", bytes: "a blob", type(None): "null"}


def _checkpoint(path: Path, row: tuple[Any, ...]) -> Checkpoint:
    """A checkpoint from its row (:meth:`Journal.checkpoints`), or a :class:`JournalError`
    naming it and the columns that hold what no recorder writes."""
    row_id, name, position, state, digest, created_ns, chain_hash = row
    wrong = [
        f"{column} as {_STORED_AS.get(type(value), type(value).__name__)}"
        for column, value, kinds in (
            ("position", position, int),
            ("state", state, bytes),
            ("digest", digest, bytes),
            ("created_wall_ns", created_ns, int),
            ("chain_hash", chain_hash, (bytes, type(None))),
        )
        if not isinstance(value, kinds)
    ]
    label = bytes(name or b"").decode(errors="backslashreplace")
    if wrong:
        raise JournalError(
            f"journal {path}: checkpoint {row_id} ({label!r} at position {position!r}) stores "
            f"its {', '.join(wrong)}, which no recorder writes: it was altered outside the "
            "recorder; delete the journal's checkpoints (the state is rebuilt from the frames, "
            "only slower)"
        )
    return Checkpoint(label, position, state, digest, created_ns, chain_hash)


def _chain_hash_at(conn: apsw.Connection, position: int) -> bytes | None:
    """The hash of the frame at ``position`` (GENESIS at 0, None when there is none)."""
    if position == 0:
        return GENESIS
    row: Any = conn.execute(
        "SELECT CAST(hash AS BLOB) FROM frames WHERE position = ?", (position,)
    ).fetchone()
    return None if row is None or row[0] is None else bytes(row[0])


def _insert_checkpoint(values: tuple[Any, ...], conn: apsw.Connection, _position: int) -> None:
    """One checkpoint row with the chain hash of its position (in an appender's transaction)."""
    conn.execute(
        "INSERT INTO checkpoints (name, position, state, digest, created_wall_ns,"
        " recorder_version, chain_hash) VALUES (?,?,?,?,?,?,?)",
        (*values, _chain_hash_at(conn, values[1])),
    )


def _record(
    kind: str,
    row_id: int | None,
    values: dict[str, ledger.Value],
    conn: apsw.Connection,
    position: int,
) -> int:
    """One change to ``sessions`` or ``gaps`` with its ledger event (in an appender's
    transaction, which gives the committed position)."""
    return ledger.record(conn, kind, row_id, values, position)


def _merge_spool(path: Path, conn: apsw.Connection) -> tuple[int, bytes]:
    """Merge what a dead writer left in the spool (the caller holds the writer lock); returns
    the head position and hash after it."""
    head_position, head_hash = Reader(conn).head()
    try:
        done = recover(conn, path, head_position, head_hash, insert_frames)
    except apsw.FullError as exc:
        raise JournalFullError(
            f"journal {path}: the spool {spool_path(path)} holds frames a stopped writer "
            f"acknowledged, and the disk is too full to merge them ({exc}). Free space and open "
            "the journal again; nothing is lost meanwhile."
        ) from exc
    except (apsw.Error, OSError) as exc:
        raise JournalAccessError(
            f"journal {path}: cannot merge the spool {spool_path(path)} ({exc}); it is kept as "
            "it is: fix the cause and open the journal again"
        ) from exc
    if done.recovered:
        head_position, head_hash = Reader(conn).head()
    return head_position, head_hash


def _open_spool(path: Path, anchor: tuple[int, bytes]) -> Spool:
    try:
        return Spool(spool_path(path), anchor)
    except OSError as exc:
        raise JournalAccessError(
            f"cannot write next to journal {path} ({spool_path(path)}: {exc.strerror}); "
            "the journal's directory must be writable"
        ) from exc


def _merge_orphan_spool(path: Path, busy_timeout_ms: int) -> None:
    """A reader's open: merge the spool of a writer that died, when no writer holds the journal
    (a live writer merges its own). Where that cannot be done the reader goes on with what the
    SQLite file holds, and says so."""
    spool = spool_path(path)
    try:
        if spool.stat().st_size == 0:
            return
    except FileNotFoundError:
        return
    try:
        # A lock whose named writer is gone is a merge, or a dead writer's committer process
        # committing what it got before it exits (milliseconds): waited for, then merged.
        lock = writer_lock(path, wait_s=MERGE_WAIT_S, role="merge")
    except JournalAccessError as exc:
        if "already being written" not in str(exc):
            log.warning(
                "journal %s: its spool holds frames not yet merged, and this reader cannot "
                "merge them (%s); open the journal for writing to merge them",
                path,
                exc,
            )
        return
    try:
        conn = _connect(path, readonly=False, busy_timeout_ms=busy_timeout_ms)
        try:
            _merge_spool(path, conn)
        finally:
            conn.close()
    except (JournalAccessError, JournalFullError) as exc:
        log.warning("journal %s: %s", path, exc)
    finally:
        release_writer_lock(lock)


def _connect(path: Path, *, readonly: bool, busy_timeout_ms: int) -> apsw.Connection:
    flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE
    try:
        conn = apsw.Connection(str(path), flags=flags)
        conn.set_busy_timeout(busy_timeout_ms)
    except apsw.Error as exc:
        raise JournalAccessError(f"cannot open journal {path}: {exc}") from exc
    return conn


def _tables(conn: apsw.Connection, path: Path) -> set[str]:
    try:
        return {
            str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    except (apsw.NotADBError, apsw.CorruptError) as exc:
        raise NotAJournalError(
            f"{path} is not a recorder journal (not a SQLite database, or corrupted: {exc}); "
            "point --journal at a journal file or a new path"
        ) from exc


def _revision(conn: apsw.Connection, path: Path, tables: set[str]) -> str | None:
    if "alembic_version" not in tables or "frames" not in tables:
        raise NotAJournalError(
            f"{path} is a SQLite database but not a recorder journal; use another path"
        )
    row: Any = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _refuse_missing_tables(path: Path, tables: set[str]) -> None:
    """A writer's open of a journal at this revision that lacks some of its tables (dropped
    outside the recorder): writing on would fail at the first session, gap or checkpoint, or
    add to a journal whose ledger is gone. A reader's open lets it through, so that
    ``recorder verify`` reports it (a ``table`` break) and ``recorder state`` projects the
    frames."""
    missing = [name for name in TABLES if name not in tables]
    if missing:
        raise JournalError(
            f"journal {path} has no {', '.join(missing)} table{'s' if len(missing) > 1 else ''} "
            f"(schema revision {SCHEMA_REVISION} has them): dropped outside the recorder, and "
            "it cannot be written without them; restore the journal from a copy "
            f"(recorder verify --journal {path} says what else is wrong)"
        )


MERGE_WAIT_S = 1.0
"""How long an open waits for the writer lock while a reader holds it to merge a dead writer's
spool, or a dead writer's committer process finishes its last commit (milliseconds, most
often). A live writer's lock refuses the open at once."""

LockRole = Literal["writer", "merge"]


def writer_lock(path: Path, wait_s: float = 0.0, role: LockRole = "writer") -> IO[bytes]:
    """The journal's writer lock (``<journal>-writer.lock``), held while the handle is open.

    Its holder writes ``role pid`` into the file, so that an open that finds the lock taken can
    tell a live writer (refused at once, by its pid) from a reader merging a dead writer's spool
    (waited for, up to ``wait_s``). A line left by a holder that is gone is ignored."""
    lock_path = path.with_name(path.name + "-writer.lock")
    try:
        handle = open(lock_path, "ab")  # noqa: SIM115 (held for the journal's lifetime)
    except OSError as exc:
        raise JournalAccessError(
            f"cannot write next to journal {path} ({lock_path}: {exc.strerror}); "
            "the journal's directory must be writable"
        ) from exc
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            writer = _live_writer(lock_path)
            if writer is not None or time.monotonic() >= deadline:
                handle.close()
                by = "another process or handle" if writer is None else f"process {writer}"
                raise JournalAccessError(
                    f"journal {path} is already being written by {by}; "
                    "one writer per journal (readers may open it with readonly=True)"
                ) from exc
            time.sleep(0.01)  # bounded: a reader's merge takes milliseconds
            continue
        with contextlib.suppress(OSError):  # the lock holds without it: it only informs
            os.ftruncate(handle.fileno(), 0)
            os.write(handle.fileno(), f"{role} {os.getpid()}\n".encode())
        forking.private(handle.fileno())  # a forked worker must not keep the journal locked
        return handle


def release_writer_lock(lock: IO[bytes]) -> None:
    """Let the writer lock go, its holder's line cleared first (a line outlives only a holder
    that died, and names a pid that is gone)."""
    with contextlib.suppress(OSError):
        os.ftruncate(lock.fileno(), 0)
    forking.released(lock.fileno())
    lock.close()


def _live_writer(lock_path: Path) -> int | None:
    """The pid of the live writer holding ``lock_path`` as its line says, else None (a reader's
    merge, a holder that has not written its line yet, or one that is gone)."""
    try:
        role, _, pid_text = lock_path.read_text().strip().partition(" ")
    except (OSError, UnicodeDecodeError):
        return None
    if role != "writer" or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # another user's live process
        return pid
    return pid
