"""Schema migrations: Alembic over SQLAlchemy with the stdlib SQLite driver.

Rule 5 of ARCHITECTURE.md: migrations run *before* apsw opens the file in this process, and the
engine is disposed afterwards (:mod:`recorder.journal.guard` enforces it). The migration scripts
live in the top-level ``migrations/`` folder of the source tree; the wheel ships them as
``recorder/migrations``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from recorder.errors import JournalAccessError, JournalSchemaError, NotAJournalError
from recorder.journal import guard
from recorder.journal.layout import SCHEMA_REVISION

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

_PACKAGE_DIR = Path(__file__).resolve().parent.parent

KNOWN_REVISIONS = tuple(f"{n:04d}" for n in range(1, int(SCHEMA_REVISION) + 1))
"""Every revision this recorder's migrations know, oldest first; any other was stamped by a
newer recorder."""

NEWER_ADVICE = "it was written by a newer recorder — upgrade recorder to read it"
"""What to do about a journal at a revision this recorder does not know (``db current`` says it
too)."""


def migrations_dir() -> Path:
    """Where the Alembic scripts are: inside the installed package, or the source checkout."""
    for candidate in (_PACKAGE_DIR / "migrations", _PACKAGE_DIR.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise JournalSchemaError(
        "the journal migrations are missing from this installation; reinstall recorder"
    )


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    """What ``recorder db upgrade`` did: the revision before (None for a new file) and after."""

    path: Path
    before: str | None
    after: str


def head_revision() -> str:
    """The newest revision among the migration scripts."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise JournalSchemaError("no migration scripts found")
    return head


def current_revision(path: Path) -> str | None:
    """The revision stamped in ``path`` (None for an empty or new file)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    with guard.holding(path, "sqlite3"):
        conn = _stdlib_connect(path, readonly=True)
        try:
            return _read_revision(conn, path)
        finally:
            conn.close()


def alembic_config(connection: object) -> AlembicConfig:
    """The Alembic configuration of the journal's migrations, run on ``connection`` (a
    SQLAlchemy connection to the journal; for the upgrade below, and for tools and tests that
    run another Alembic command)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = connection
    return config


def upgrade(path: Path, revision: str = "head") -> UpgradeResult:
    """Bring ``path`` to ``revision`` (creating the file if needed) and return what changed.

    A journal a newer recorder stamped is refused like :func:`refuse_if_old` refuses it; so is
    a journal a live writer holds (:class:`JournalAccessError`): the migration holds the
    journal's writer lock.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalAccessError(
                f"cannot create the journal's directory {path.parent}: {exc.strerror}"
            ) from exc
    # The journal's writer lock, for the migration's length: a live writer (of this recorder or
    # an older one) would go on writing the old schema's way under the new one (sessions
    # changed without their ledger events); its lock refuses the upgrade at once, as it refuses
    # a second writer. A reader merging a dead writer's spool is waited for, briefly.
    from recorder.journal.journal import MERGE_WAIT_S, release_writer_lock, writer_lock

    with guard.holding(path, "sqlite3"):  # apsw holding it in this process is rule 5's refusal
        try:
            lock = writer_lock(path, wait_s=MERGE_WAIT_S)
        except JournalAccessError as exc:
            if "already being written" not in str(exc):
                raise  # the directory is not writable: its own message
            raise JournalAccessError(
                f"cannot upgrade journal {path} while a writer holds it ({exc}); stop the "
                "process writing it, then run the upgrade again"
            ) from exc
        try:
            return _upgrade(path, revision)
        finally:
            release_writer_lock(lock)


def _upgrade(path: Path, revision: str) -> UpgradeResult:
    from alembic import command
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    before = current_revision(path)
    if before is not None and before not in KNOWN_REVISIONS:
        # Alembic would only say "Can't locate revision": no migration here can read it.
        raise _newer_journal_error(path, before)
    with guard.holding(path, "sqlite3"):
        engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
        try:
            with engine.begin() as connection:
                command.upgrade(alembic_config(connection), revision)
        except Exception as exc:
            raise _translate(exc, path) from exc
        finally:
            engine.dispose()
    after = current_revision(path)
    assert after is not None
    return UpgradeResult(path, before, after)


def _stdlib_connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    mode = "ro" if readonly else "rwc"
    try:
        return sqlite3.connect(f"file:{path}?mode={mode}", uri=True)
    except sqlite3.Error as exc:
        raise JournalAccessError(f"cannot open {path}: {exc}") from exc


def _read_revision(conn: sqlite3.Connection, path: Path) -> str | None:
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise NotAJournalError(
            f"{path} is not a recorder journal (not a SQLite database: {exc}); "
            "point --journal at a journal file or a new path"
        ) from exc
    if not tables:
        return None
    if "alembic_version" not in tables:
        raise NotAJournalError(
            f"{path} is a SQLite database but not a recorder journal "
            f"(it has tables {', '.join(sorted(tables))}); use another path"
        )
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _translate(exc: Exception, path: Path) -> Exception:
    text = str(exc)
    if "readonly" in text or "unable to open" in text:
        return JournalAccessError(f"cannot write the journal {path}: {text}")
    if "disk is full" in text or "database or disk is full" in text:
        from recorder.errors import JournalFullError

        return JournalFullError(f"the disk holding {path} is full: {text}")
    if "file is not a database" in text:
        return NotAJournalError(f"{path} is not a recorder journal (not a SQLite database)")
    return JournalSchemaError(f"migrating {path} failed: {text}")


def refuse_if_old(path: Path, found: str | None) -> None:
    """Raise :class:`JournalSchemaError` unless ``found`` is this recorder's revision."""
    if found == SCHEMA_REVISION:
        return
    if found in KNOWN_REVISIONS:
        raise JournalSchemaError(
            f"journal {path} is at schema revision {found}; this recorder needs {SCHEMA_REVISION}. "
            f"Back it up (cp {path} {path}.bak) and run: recorder db upgrade --journal {path}"
        )
    raise _newer_journal_error(path, found)


def _newer_journal_error(path: Path, found: str | None) -> JournalSchemaError:
    return JournalSchemaError(
        f"journal {path} is at schema revision {found!r}, which this recorder "
        f"(revision {SCHEMA_REVISION}) does not know; {NEWER_ADVICE}"
    )
