"""Schema constants the apsw side needs, in a module of their own: opening, reading and
committing a journal use them without importing SQLAlchemy (the schema's declaration,
:mod:`recorder.journal.schema`, needs it, and its import was most of a journal's open time and
of the committer process's start)."""

SCHEMA_REVISION = "0006"
"""The Alembic revision this recorder reads and writes."""

TABLES = ("sessions", "frames", "gaps", "checkpoints", "ledger")
"""The journal's tables at this revision (a test keeps them equal to the schema's): a writer
refuses to open a journal that lacks one (``recorder.journal.journal``)."""

MID_EPOCH_BITS = 14
"""The mid index is keyed by ``position >> MID_EPOCH_BITS`` first (revision 0004)."""

SESSION_COLUMNS = (
    "venue",
    "capture_point",
    "participant",
    "order_endpoint",
    "market_endpoint",
    "recorder_version",
    "host",
    "pid",
    "clock_source",
    "started_wall_ns",
    "ended_wall_ns",
    "end_reason",
)
"""The ``sessions`` columns after ``id``, in the schema's order (a test keeps them equal)."""

GAP_COLUMNS = (
    "session_id",
    "channel",
    "run_id",
    "from_seq",
    "to_seq",
    "contract_id",
    "state",
    "detected_wall_ns",
    "detected_position",
    "requested_wall_ns",
    "closed_wall_ns",
    "reason",
)
"""The ``gaps`` columns after ``id``, in the schema's order (a test keeps them equal)."""
