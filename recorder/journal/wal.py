"""WAL checkpoints for the journal's writer, off the commit path.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold: the p99 tail of
the capture path. The writer disables it (``wal_autocheckpoint(0)``) and installs
:meth:`WalCheckpointer.on_commit` as its WAL hook instead; a background thread with its own
connection does the copying.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Literal

import apsw

__all__ = ["CHECKPOINT_PAGES", "WAL_INLINE_PAGES", "WalCheckpointer"]

CHECKPOINT_PAGES = 4000
"""WAL size (pages) that wakes the background checkpointer."""
WAL_INLINE_PAGES = 4 * CHECKPOINT_PAGES
"""WAL size (pages) past which the committer itself checkpoints between two transactions."""


class WalCheckpointer:
    """Runs WAL checkpoints in a background thread, on its own connection to the journal.

    SQLite restarts the WAL from its beginning only when a write transaction starts on a fully
    checkpointed WAL. A passive checkpoint running beside a busy writer rarely catches the last
    frames, so the thread repeats it until it does (the usual case, between two commits); a
    writer that never pauses lets the WAL grow to ``WAL_INLINE_PAGES``, where the committer runs
    one checkpoint itself between two transactions (:meth:`inline`), cheap because the thread
    has copied nearly everything already.
    """

    CATCH_UP = 8
    """Passive checkpoints one wake-up runs at most while trying to backfill the whole WAL."""

    def __init__(self, path: str, durability: Literal["strict", "safe", "fast"]) -> None:
        self._path = path
        self._sync = "FULL" if durability == "strict" else "NORMAL"
        self._wake = threading.Event()
        self._busy = False
        self._next_at = CHECKPOINT_PAGES
        self._stop = False
        self._thread: threading.Thread | None = None
        self.inline_due = False
        """Set by the WAL hook when the committer should checkpoint between transactions."""
        self.checkpoints = 0
        """How many checkpoints have run (for tests and status)."""

    def on_commit(self, _conn: apsw.Connection, _db: str, pages: int) -> int:
        """The writer's WAL hook: wake the checkpointer when the WAL has grown large."""
        if pages < self._next_at - CHECKPOINT_PAGES:
            self._next_at = CHECKPOINT_PAGES  # the WAL restarted
        self.inline_due = pages >= WAL_INLINE_PAGES
        if pages >= self._next_at and not self._busy:
            self._busy = True
            self._next_at = pages + CHECKPOINT_PAGES // 2
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="recorder-journal-checkpointer", daemon=True
                )
                self._thread.start()
            self._wake.set()
        return apsw.SQLITE_OK

    def inline(self, conn: apsw.Connection) -> None:
        """Checkpoint on the writer's connection between two transactions (the committer)."""
        self.inline_due = False
        with contextlib.suppress(apsw.Error):  # busy: the next commit asks again
            conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
            self.checkpoints += 1

    def _run(self) -> None:
        conn = apsw.Connection(self._path)
        try:
            conn.set_busy_timeout(5000)
            conn.execute(f"PRAGMA synchronous={self._sync}")
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                try:
                    # Busy or I/O trouble only delays a checkpoint (the next commit wakes us
                    # again); it never loses data, and a failing disk fails the appends loudly.
                    for _ in range(self.CATCH_UP):
                        frames, done = conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
                        self.checkpoints += 1
                        if done >= frames or self._stop:
                            break
                except apsw.Error:
                    pass
                finally:
                    self._busy = False
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the thread (the last connection to close checkpoints the rest)."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
