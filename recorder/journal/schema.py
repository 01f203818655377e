"""The one definition of the journal's schema, as SQLAlchemy ``MetaData``.

Alembic migrations (top-level ``migrations/``) create and evolve it; the apsw writer and readers
use the table and column names declared here. ``SCHEMA_REVISION`` is the Alembic head this
recorder reads and writes (a test keeps it equal to the migrations' head).

Tables (ARCHITECTURE.md, "Data model"):

* ``sessions``    one connection lifetime of a capture point.
* ``frames``      every frame, exact bytes, in arrival order; append-only (triggers refuse
                  UPDATE and DELETE) and hash-chained
                  (``hash = sha256(prev hash ‖ canonical row)``).
* ``gaps``        the gap ledger: detected, requested, filled or unrecoverable, with times.
* ``checkpoints`` projector snapshots: the state bytes and the position they cover, with the
                  chain hash of the frame at that position (revision 0006; NULL in checkpoints
                  written before it), so a checkpoint that is not of this journal's frames
                  there is refused.
* ``ledger``      every change made to ``sessions`` and ``gaps``, as events written in the same
                  transaction as the change; append-only (triggers) and hash-chained like
                  ``frames``, so ``recorder verify`` can tell an edited session or gap from the
                  recorder's own (:mod:`recorder.journal.ledger`, revision 0005).

Indexes on ``frames`` are the look-ups users make and no more, since each costs append speed and
a page write per commit: a request's lifecycle (``mid``, partial on ``mid <> ''``: heartbeats
and book tops carry none; look-ups must repeat that term for SQLite to use it) and a stream in
seq order (``session_id, channel, seq``; runs are told apart in memory). Mids are random, so
the mid index leads with the position's epoch (``position >> 14``, revision 0004): appends
touch only the current epoch's pages, and a look-up seeks once per epoch.
Time windows need no index: frames are stamped as they are journaled, so ``wall_ns`` rises with
``position`` and a binary search over positions finds a moment (revision 0003).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    text,
)

from recorder.journal.layout import MID_EPOCH_BITS, SCHEMA_REVISION

__all__ = [
    "APPEND_ONLY_TRIGGERS",
    "LEDGER_APPEND_ONLY_TRIGGERS",
    "MID_EPOCH_BITS",
    "SCHEMA_REVISION",
    "checkpoints",
    "frames",
    "gaps",
    "ledger",
    "metadata",
    "sessions",
]

metadata = MetaData()

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("venue", String, nullable=False),
    Column("capture_point", String, nullable=False),
    Column("participant", String, nullable=False, server_default=""),
    Column("order_endpoint", String, nullable=False, server_default=""),
    Column("market_endpoint", String, nullable=False, server_default=""),
    Column("recorder_version", String, nullable=False),
    Column("host", String, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("clock_source", String, nullable=False),
    Column("started_wall_ns", BigInteger, nullable=False),
    Column("ended_wall_ns", BigInteger, nullable=True),
    Column("end_reason", String, nullable=True),
)

frames = Table(
    "frames",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False),
    Column("channel", String, nullable=False),
    Column("direction", String, nullable=False),
    Column("wall_ns", BigInteger, nullable=False),
    Column("mono_ns", BigInteger, nullable=False),
    Column("run_id", String, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("mid", String, nullable=True),
    Column("kind", String, nullable=False),
    Column("is_replay", Integer, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
)
Index(
    "ix_frames_mid_epoch",
    text(f"position >> {MID_EPOCH_BITS}"),
    frames.c.mid,
    sqlite_where=text("mid <> ''"),
)
Index("ix_frames_stream", frames.c.session_id, frames.c.channel, frames.c.seq)

gaps = Table(
    "gaps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False),
    Column("channel", String, nullable=False),
    Column("run_id", String, nullable=False),
    Column("from_seq", BigInteger, nullable=False),
    Column("to_seq", BigInteger, nullable=False),
    Column("contract_id", BigInteger, nullable=True),
    Column("state", String, nullable=False),
    Column("detected_wall_ns", BigInteger, nullable=False),
    Column("detected_position", Integer, nullable=True),
    Column("requested_wall_ns", BigInteger, nullable=True),
    Column("closed_wall_ns", BigInteger, nullable=True),
    Column("reason", String, nullable=False, server_default=""),
)
Index("ix_gaps_stream", gaps.c.session_id, gaps.c.channel, gaps.c.run_id)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
    Column("position", Integer, nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("digest", LargeBinary, nullable=False),
    Column("created_wall_ns", BigInteger, nullable=False),
    Column("recorder_version", String, nullable=False),
    Column("chain_hash", LargeBinary, nullable=True),
)
Index("ix_checkpoints_name", checkpoints.c.name, checkpoints.c.position)

ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("position", Integer, nullable=False),
    Column("kind", String, nullable=False),
    Column("row_id", Integer, nullable=False),
    Column("body", String, nullable=False),
    Column("hash", LargeBinary, nullable=False),
)

APPEND_ONLY_TRIGGERS = (
    """
    CREATE TRIGGER frames_append_only_update BEFORE UPDATE ON frames
    BEGIN SELECT RAISE(ABORT, 'recorder journal: frames are append-only, UPDATE refused'); END
    """,
    """
    CREATE TRIGGER frames_append_only_delete BEFORE DELETE ON frames
    BEGIN SELECT RAISE(ABORT, 'recorder journal: frames are append-only, DELETE refused'); END
    """,
)
"""Triggers that make ``frames`` append-only; created by the first migration."""

LEDGER_APPEND_ONLY_TRIGGERS = (
    """
    CREATE TRIGGER ledger_append_only_update BEFORE UPDATE ON ledger
    BEGIN SELECT RAISE(ABORT, 'recorder journal: the ledger is append-only, UPDATE refused'); END
    """,
    """
    CREATE TRIGGER ledger_append_only_delete BEFORE DELETE ON ledger
    BEGIN SELECT RAISE(ABORT, 'recorder journal: the ledger is append-only, DELETE refused'); END
    """,
)
"""Triggers that make ``ledger`` append-only; created by revision 0005."""
