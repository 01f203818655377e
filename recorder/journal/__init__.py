"""The journal: an append-only, hash-chained SQLite file of every frame (apsw), its schema and
migrations (SQLAlchemy + Alembic), readers and verification."""

from recorder.journal.journal import (
    GAP_STATES,
    Checkpoint,
    Gap,
    Journal,
    Session,
    open_journal,
)
from recorder.journal.ledger import LedgerEvent
from recorder.journal.reader import FrameFilter, RawRow, Reader
from recorder.journal.writer import DURABILITIES, Durability

__all__ = [
    "DURABILITIES",
    "GAP_STATES",
    "Checkpoint",
    "Durability",
    "FrameFilter",
    "Gap",
    "Journal",
    "LedgerEvent",
    "RawRow",
    "Reader",
    "Session",
    "open_journal",
]
