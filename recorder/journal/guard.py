"""Rule 5 of ARCHITECTURE.md: one SQLite library per database file per process.

apsw carries its own SQLite; the stdlib ``sqlite3`` module (used by SQLAlchemy for Alembic
migrations) links another. Two SQLite copies holding one file in one process do not see each
other's POSIX locks, and closing either one's descriptor silently drops the other's locks, which
can corrupt the file. This module keeps a per-process register of which library holds which file
and refuses the second library while the first is open.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recorder.errors import SQLiteLibraryConflict

_lock = threading.Lock()
_holders: dict[str, Counter[str]] = {}


def _key(path: Path | str) -> str:
    return os.path.realpath(path)


def acquire(path: Path | str, library: str) -> None:
    """Register that ``library`` ("apsw" or "sqlite3") opens ``path``; refuse the other library."""
    key = _key(path)
    with _lock:
        held = _holders.setdefault(key, Counter())
        others = [lib for lib, n in held.items() if n and lib != library]
        if others:
            raise SQLiteLibraryConflict(
                f"{path} is open through {others[0]} in this process; opening it through {library} "
                "as well could corrupt it (ARCHITECTURE.md rule 5). Close the other handle first "
                "(run migrations before opening the journal, or in another process)."
            )
        held[library] += 1


def release(path: Path | str, library: str) -> None:
    """Undo one :func:`acquire`."""
    key = _key(path)
    with _lock:
        held = _holders.get(key)
        if held and held[library]:
            held[library] -= 1
            if not +held:
                del _holders[key]


@contextmanager
def holding(path: Path | str, library: str) -> Iterator[None]:
    """Hold ``path`` through ``library`` for the duration of the block."""
    acquire(path, library)
    try:
        yield
    finally:
        release(path, library)
