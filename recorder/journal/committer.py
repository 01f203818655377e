"""The committer process of ``safe`` mode: SQLite commits on another CPU.

Theory of operation
-------------------
In ``safe`` mode a frame is acknowledged once it is in the journal's spool (a copy into a memory
map, :mod:`recorder.journal.spool`); the SQLite commit comes after, off the frame's path. In one
process that commit still costs the appending thread its CPU — measured in the capture service,
the commits were the difference between 21k and 34k requests/s — and a committer *thread* would
not help, since ``sqlite3_step`` gives up and takes back the GIL for every row. So with
``committer="process"`` the appender hands its spooled rows to a child process, which chains and
commits them, and tells the appender how far it got.

* **Parent** (:class:`CommitterProcess`, driven by :class:`~recorder.journal.writer.Appender`):
  spawns a Python child running :func:`main` when the journal opens (``sys.executable``, with
  the parent's import path ahead of its own, so a ``recorder`` that is not installed for that
  interpreter — a checkout on ``sys.path`` — is found too) and waits for it to be ready;
  hands over rows as one message of their spool records — the stretch of the spool they
  fill, copied as it is (canonical bytes, or wire frames whose records the child builds:
  :mod:`recorder.journal.wire`);
  trims its spool only up to the position the child has acknowledged, so the spool always holds
  every row the child has not committed.
* **Child** (:func:`main`): holds the journal's writer lock with the parent (the lock's file
  description is inherited, so a writer that opens the journal after the parent died waits for
  the child); commits what it was handed once :data:`COMMIT_ROWS` rows wait or the oldest has
  waited ``safe_commit_ms``, at once on a flush, and answers each commit with ``C | position |
  hash``. It chains from the SQLite head, so a row whose position does not continue the head is
  an error, never a fork of the chain.
* **Priority**: the child lowers its own CPU priority (``nice`` :data:`NICE`): its commits are
  deferred work, and at the priority of the loop that forwards frames they took a core from it
  (and from the bot and the exchange sharing the machine) for milliseconds at a time; below it,
  they fill the idle moments. It cannot fall behind for ever: the parent hands over no more
  than :data:`MAX_BEHIND` rows past the child's last commit before it waits for it.
* **Signals**: the child ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole process group):
  the parent's clean stop, or the parent's death, ends it.
* **Deaths**: a parent killed with ``kill -9`` closes the child's life pipe: the child commits
  what it holds, removes the parent's socket folder and exits; what it never got is in the
  spool, merged by the next open. A child that dies (or fails: ``E | message``) stops the
  journal loudly at the next append; its rows are in the spool too. So does a child that does
  not answer a flush or a stop within :data:`ANSWER_TIMEOUT_S` (stopped, hung): it is killed.
  When both die at once (``kill -9`` of the process group, the OOM killer) nobody removes the
  socket folder; its name carries the parent's pid, and the next committer started on the
  machine removes the folders of parents that are gone (:func:`sweep_folders`).

Messages (ZeroMQ ``PAIR`` over ``ipc://`` in a private temporary folder): parent to child
``R`` + spool records (``length u32 | crc32 u32 | body`` …, most often a stretch of the spool
copied as it is), ``F`` (commit now and answer), ``Q`` (commit,
answer, exit); child to parent ``K`` (ready), ``C`` + ``position i64 | hash 32 bytes``, ``E`` +
UTF-8 text.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import apsw
import zmq

from recorder import errors
from recorder.errors import JournalError, JournalFullError
from recorder.journal import forking
from recorder.journal.chain import _HEAD, _sha256, canonical
from recorder.journal.spool import _CHANNELS, _DIRECTIONS, CANON_CRC, CANON_TAG, RECORD, Columns
from recorder.journal.wal import WalCheckpointer
from recorder.journal.wire import WIRE_TAG, Records, unpack

__all__ = [
    "ANSWER_TIMEOUT_S",
    "COMMIT_ROWS",
    "FOLDER_PREFIX",
    "CommitterProcess",
    "main",
    "sweep_folders",
]

COMMIT_ROWS = 1024
"""The child commits once this many rows wait (or the oldest has waited ``safe_commit_ms``)."""
NICE = 19
"""How much the child lowers its CPU priority (``os.nice``): a core shared with the parent's
loop goes to the loop first. Measured in the capture service on 2 cores shared with the bot and
the exchange, in alternating runs: 29-39k requests/s at 19 against 23-28k at 0 (10: in between,
noisier). A child starved by other work is bounded by :data:`MAX_BEHIND`."""
MAX_BEHIND = 16_384
"""The most rows handed over past the child's last commit (16 of its commits; a third of a second
of the capture's traffic at full speed): past it, a hand-over waits for the child's commit —
back-pressure on the writer rather than memory without bound, and the writer's CPU left to the
child meanwhile. Its commit of that many rows is ~0.15 s of CPU, well inside
:data:`ANSWER_TIMEOUT_S` even at the least share of a busy core."""
READY_TIMEOUT_S = 60.0
"""How long the parent waits for a new child to be ready."""
ANSWER_TIMEOUT_S = 60.0
"""How long the parent waits for the child's answer to a flush or a stop (``F``, ``Q``: its commit
of everything handed over). A child silent for longer (stopped, hung) is given up and killed: the
journal stops loudly, and every row the child had not committed is still in the spool, merged
by the next open."""
_CHILD = """\
import json, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
report, sys.path[:0] = int(sys.argv[1]), json.loads(sys.argv[2])
try:
    from recorder.journal.committer import main
except BaseException as exc:
    os.write(report, f"{type(exc).__name__}: {exc}"[:4000].encode())
    raise
os.close(report)
sys.exit(main(sys.argv[3:]))
"""
"""The child's program: ``report import_path`` then :func:`main`'s arguments. It imports
``recorder`` by the parent's import path (:func:`_import_path`) and writes why it could not to
the ``report`` pipe. It ignores SIGINT and SIGTERM, which a terminal's Ctrl-C or a service
manager sends to the whole process group: the parent stops it (``Q``, after its last commit), or
its death does (the life pipe); SIGKILL still ends it."""
_ACK = struct.Struct("<q32s")
FOLDER_PREFIX = "recorder-committer-"
"""A committer's socket folder in the temporary directory: this, the parent's pid, ``-``."""


def _import_path() -> list[str]:
    """The child's ``sys.path`` ahead of its own: the folder this ``recorder`` package was
    imported from, then this process's ``sys.path``. So the child imports the same recorder (and
    apsw, pyzmq) as its parent, installed for ``sys.executable`` or not: a checkout put on
    ``sys.path`` by the bot, a bot started from another folder."""
    return list(dict.fromkeys([str(Path(__file__).parents[2]), *map(str, sys.path)]))


def sweep_folders(tmp: Path | None = None) -> list[Path]:
    """Remove the socket folders (ours, in ``tmp``: the temporary directory) of committer parents
    that are gone — both processes killed at once leave theirs — and return them. A folder whose
    parent lives (or whose name says no pid) is left alone."""
    removed = []
    uid = os.getuid()
    for entry in Path(tmp or tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        pid_text = entry.name.removeprefix(FOLDER_PREFIX).partition("-")[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and entry.lstat().st_uid == uid:
                shutil.rmtree(entry)
                removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class CommitterProcess:
    """The parent's handle on its committer child (one per journal opened for writing)."""

    def __init__(
        self, path: Path, *, lock_fd: int, safe_commit_ms: int, busy_timeout_ms: int
    ) -> None:
        self.path = path
        sweep_folders()
        self._folder = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")  # 0700: ours
        endpoint = f"ipc://{self._folder}/c"
        self._zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context(io_threads=1)
        sock = self._sock = self._zctx.socket(zmq.PAIR)
        sock.linger = 0
        sock.sndhwm = sock.rcvhwm = 0
        sock.bind(endpoint)
        life_r, self._life_w = os.pipe()
        forking.private(self._life_w)
        report_r, report_w = os.pipe()
        os.set_blocking(report_r, False)  # read once the child exited: a forked copy may hold it
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-c", _CHILD, str(report_w), json.dumps(_import_path()),
                    str(path), endpoint, str(lock_fd), str(life_r), str(safe_commit_ms),
                    str(busy_timeout_ms),
                ],
                pass_fds=(lock_fd, life_r, report_w),
            )  # fmt: skip
        except OSError as exc:
            os.close(report_r)
            self._cleanup()
            raise JournalError(
                f"journal {path}: cannot start its committer process ({sys.executable!r}: {exc})"
            ) from exc
        finally:
            os.close(life_r)
            os.close(report_w)
        self._last: tuple[int, bytes] | None = None
        """The last commit the child reported and nobody has taken yet."""
        self._given_up = False
        """The child did not answer within :data:`ANSWER_TIMEOUT_S` and was killed."""
        try:
            self._wait_ready(report_r)
        except BaseException:  # not started, or interrupted (Ctrl-C) while it started
            if self.process.poll() is None:  # it ignores SIGINT: it would hold the lock
                self.process.kill()
                self.process.wait()
            self._cleanup()
            raise
        finally:
            os.close(report_r)

    def _wait_ready(self, report: int) -> None:
        """Wait for the new child's ``K``; raise if it exits (or is silent) first, with its
        import error when it could not import ``recorder`` (``report``: the pipe it writes it
        to)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._sock.poll(100):
            code = self.process.poll()
            if code is None and time.monotonic() <= deadline:
                continue
            with contextlib.suppress(BlockingIOError):
                if failure := os.read(report, 4096).decode(errors="replace"):
                    raise JournalError(
                        f"journal {self.path}: its committer process could not start: "
                        f"{sys.executable} could not import recorder ({failure}), with this "
                        "process's sys.path. Install recorder and its dependencies for that "
                        "interpreter, or open the journal with committer='inline'"
                    )
            state = f"exit code {code}" if code is not None else f"{READY_TIMEOUT_S:g} s passed"
            raise JournalError(
                f"journal {self.path}: its committer process ({sys.executable}) did not start "
                f"({state}; its error is on stderr)"
            )
        self._sock.recv()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def hand(self, records: bytes) -> None:
        """Hand rows to the child: spool records (``length u32 | crc32 u32 | body`` …, in
        position order), as the spool holds them."""
        self._send(b"R" + records)

    def acks(self) -> tuple[int, bytes] | None:
        """The last commit the child reported since the last call, without waiting."""
        while self._sock.poll(0):
            self._receive()
        last, self._last = self._last, None
        return last

    def sync(self) -> tuple[int, bytes]:
        """Ask the child to commit everything handed over; return its head when it has."""
        self._send(b"F")
        return self._wait_commit()

    def close(self) -> None:
        """Have the child commit everything handed over and exit (it is killed if it hangs;
        one given up on already is not asked)."""
        try:
            if self.process.poll() is None and not self._given_up:
                self._send(b"Q")
                self._wait_commit()
        finally:
            try:
                self.process.wait(READY_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self._cleanup()

    def check(self) -> None:
        """Raise if the child has failed (its own account first) or exited."""
        while self._sock.poll(0):
            self._receive()
        code = self.process.poll()
        if code is not None:
            raise JournalError(
                f"journal {self.path}: its committer process (pid {self.pid}) exited with code "
                f"{code}"
            )

    def _send(self, message: bytes) -> None:
        try:
            self._sock.send(message, zmq.NOBLOCK)  # no high-water mark: only a gone child blocks
        except zmq.Again:
            self.process.wait(READY_TIMEOUT_S)
            self.check()

    def _wait_commit(self) -> tuple[int, bytes]:
        """The child's answer to ``F`` or ``Q``, within :data:`ANSWER_TIMEOUT_S` (or it is
        killed: what it had not committed is in the spool)."""
        timeout_s = ANSWER_TIMEOUT_S
        deadline = time.monotonic() + timeout_s
        while self._last is None:
            if self._sock.poll(100):
                self._receive()
                continue
            self.check()
            if time.monotonic() > deadline:
                self._given_up = True
                self.process.kill()
                raise JournalError(
                    f"journal {self.path}: its committer process (pid {self.pid}) did not "
                    f"answer within {timeout_s:g} s (stopped, or hung?) and was killed"
                )
        last, self._last = self._last, None
        return last

    def _receive(self) -> None:
        message = self._sock.recv()
        kind = message[:1]
        if kind == b"C":
            position, digest = _ACK.unpack_from(message, 1)
            self._last = (position, digest)
        elif kind == b"E":
            name, _, text = message[1:].decode(errors="replace").partition("\n")
            kind_of = getattr(errors, name, None)
            if not (isinstance(kind_of, type) and issubclass(kind_of, JournalError)):
                kind_of, text = JournalError, f"journal {self.path}: {name}: {text}"
            raise kind_of(f"{text.rstrip('. ')} (in its committer process, pid {self.pid})")

    def _cleanup(self) -> None:
        forking.released(self._life_w)
        with contextlib.suppress(OSError):
            os.close(self._life_w)
        self._zctx.destroy(linger=0)
        shutil.rmtree(self._folder, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    """The child: ``path endpoint lock_fd life_fd safe_commit_ms busy_timeout_ms`` (the lock's
    file description is only held, never used)."""
    from recorder.journal.journal import _connect

    path, endpoint, _lock_fd, life, commit_ms, busy_ms = argv
    life_fd = int(life)
    os.nice(NICE)
    conn = _connect(Path(path), readonly=False, busy_timeout_ms=int(busy_ms))
    chain = _Chain(conn, path)
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context(io_threads=1)
    sock = zctx.socket(zmq.PAIR)
    sock.linger = 0
    sock.sndhwm = sock.rcvhwm = 0
    sock.connect(endpoint)
    sock.send(b"K")
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(life_fd, zmq.POLLIN)
    wait_s = int(commit_ms) / 1000
    since = 0.0

    def commit() -> None:
        chain.commit()
        sock.send(b"C" + _ACK.pack(chain.position, chain.digest))

    try:
        while True:
            due_ms = (since + wait_s - time.monotonic()) * 1000
            timeout = None if not chain.held else max(0, math.ceil(due_ms))  # ms, rounded up
            events = dict(poller.poll(timeout))
            if life_fd in events:  # the parent is gone: commit what came, then stop
                while sock.poll(0):
                    chain.take(sock.recv())
                chain.commit()
                shutil.rmtree(Path(endpoint.removeprefix("ipc://")).parent, ignore_errors=True)
                return 0
            while sock in events and sock.poll(0):
                message = sock.recv()
                kind = message[:1]
                if kind == b"R":
                    if not chain.held:
                        since = time.monotonic()
                    chain.take(message)
                elif kind == b"F":
                    commit()
                elif kind == b"Q":
                    commit()
                    return 0
            held = chain.held
            if held and (len(held) >= COMMIT_ROWS or time.monotonic() - since >= wait_s):
                commit()
    except BaseException as exc:
        with contextlib.suppress(zmq.ZMQError):
            sock.send(b"E" + f"{type(exc).__name__}\n{exc}".encode(), zmq.NOBLOCK)
        if not isinstance(exc, JournalError):
            raise
        print(f"recorder committer: {exc}", file=sys.stderr)
        return 1
    finally:
        chain.close()
        conn.close()
        zctx.destroy(linger=0)


def _torn(path: str, expected: int) -> JournalError:
    return JournalError(
        f"journal {path}: a row handed over (after row {expected - 1}) fails its CRC; the spool "
        "still holds it"
    )


class _Chain:
    """The child's side of the journal: rows handed over, chained and committed in order."""

    def __init__(self, conn: apsw.Connection, path: str) -> None:
        from recorder.journal.reader import Reader
        from recorder.journal.writer import insert_frames  # (writer imports this module)

        self._insert = insert_frames
        self._conn, self._path = conn, path
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        self._checkpointer = WalCheckpointer(path, "safe")
        conn.wal_autocheckpoint(0)
        conn.set_wal_hook(self._checkpointer.on_commit)
        self.position, self.digest = Reader(conn).head()
        self._records = Records(conn, path)
        self.held: list[tuple[Columns, bytes]] = []
        """Rows handed over and not committed yet: their columns and canonical bytes."""

    def take(self, message: bytes) -> None:
        """Hold the rows of one ``R`` message (spool records), checking that they continue the
        chain.

        The common record — a row's canonical bytes — is read in place: its CRC, its columns
        (:func:`~recorder.journal.spool.decode`, inlined) and its bytes for the chain, with one
        copy (the chain's input) and no view; it runs for every frame the journal takes."""
        held, path = self.held, self._path
        expected = self.position + len(held) + 1
        at, end = 1, len(message)
        prefix, prefix_size = RECORD.unpack_from, RECORD.size
        head, head_size = _HEAD.unpack_from, _HEAD.size
        crc32, canon_tag, canon_crc = zlib.crc32, CANON_TAG[0], CANON_CRC
        channels, directions = _CHANNELS, _DIRECTIONS
        while at < end:
            length, crc = prefix(message, at)
            body = at + prefix_size
            at = body + length
            if message[body] == canon_tag:
                canon = message[body + 1 : at]
                if crc32(canon, canon_crc) != crc:
                    raise _torn(path, expected)
                (
                    position, session_id, channel, direction, wall_ns, mono_ns, seq, is_replay,
                    flags, run_n, mid_n, kind_n, _,
                ) = head(canon)  # fmt: skip
                run_end = head_size + run_n
                mid_end = run_end + mid_n
                kind_end = mid_end + kind_n
                columns: Columns = (
                    position, session_id, channels[channel], directions[direction], wall_ns,
                    mono_ns, canon[head_size:run_end].decode(), seq,
                    canon[run_end:mid_end].decode(), canon[mid_end:kind_end].decode(),
                    bool(is_replay), flags, canon[kind_end:],
                )  # fmt: skip
            elif message[body : body + 1] == WIRE_TAG:  # a wire frame: its record is built here
                view = memoryview(message)[body:at]
                if crc32(view) != crc:
                    raise _torn(path, expected)
                position, frame = unpack(view)
                record = self._records.record(frame)
                canon = canonical(position, record)
                columns = (position, *record)
            else:
                if crc32(memoryview(message)[body:at]) != crc:
                    raise _torn(path, expected)
                raise JournalError(
                    f"journal {path}: a row handed over has the unknown spool body tag "
                    f"{message[body : body + 1]!r} (parent and committer of different recorder "
                    "versions?)"
                )
            if position < expected:
                continue  # committed already
            if position != expected:
                raise JournalError(
                    f"journal {path}: row {position} was handed over where row {expected} was due"
                )
            held.append((columns, canon))
            expected += 1

    def commit(self) -> None:
        """Chain the held rows (``sha256(previous hash ‖ canonical bytes)``) and commit them."""
        if not self.held:
            return
        prev, rows = self.digest, []
        for columns, canon in self.held:
            prev = _sha256(prev + canon).digest()
            rows.append((*columns, prev))
        try:
            self._insert(self._conn, rows)
        except apsw.FullError as exc:
            raise JournalFullError(
                f"journal {self._path}: the disk is full ({exc}) — capture stopped"
            ) from exc
        except apsw.Error as exc:
            raise JournalError(f"journal {self._path}: {exc} — capture stopped") from exc
        self.held = []
        self.position, self.digest = rows[-1][0], prev
        if self._checkpointer.inline_due:
            self._checkpointer.inline(self._conn)

    def close(self) -> None:
        self._checkpointer.close()
