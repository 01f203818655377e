"""Schema constants the apsw side needs, in a module of their own: opening, reading and
committing a journal use them without importing SQLAlchemy (the schema's declaration,
:mod:`recorder.journal.schema`, needs it, and its import was most of a journal's open time and
of the committer process's start)."""

SCHEMA_REVISION = "0004"
"""The Alembic revision this recorder reads and writes."""

MID_EPOCH_BITS = 14
"""The mid index is keyed by ``position >> MID_EPOCH_BITS`` first (revision 0004)."""
