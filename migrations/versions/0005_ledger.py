"""The ledger: an append-only, hash-chained account of every change to sessions and gaps.

``sessions`` and ``gaps`` rows are changed in place (a session ends, a gap is filled), so an
``UPDATE`` with any SQLite tool left no trace that ``recorder verify`` could find. From this
revision every change the recorder makes to them is also an event in ``ledger``, written in the
same transaction, chained like frames (``hash = sha256(prev ‖ canonical event)``) and protected
by append-only triggers; verify rebuilds the rows from it (``recorder.journal.ledger``).

The rows already there get one adoption event each (``session_adopted``, ``gap_adopted``: every
column as found, at the frames head), so every row has its events and an emptied ledger is a
break, never an old journal; verify says where the ledger starts. The downgrade drops the
ledger (the rows stay as they are).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from recorder.journal.ledger import GENESIS, encode, event_hash

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ADOPTED = {
    "sessions": (
        "session_adopted",
        (
            "venue", "capture_point", "participant", "order_endpoint", "market_endpoint",
            "recorder_version", "host", "pid", "clock_source", "started_wall_ns",
            "ended_wall_ns", "end_reason",
        ),
    ),
    "gaps": (
        "gap_adopted",
        (
            "session_id", "channel", "run_id", "from_seq", "to_seq", "contract_id", "state",
            "detected_wall_ns", "detected_position", "requested_wall_ns", "closed_wall_ns",
            "reason",
        ),
    ),
}  # fmt: skip
"""The tables' columns at this revision (frozen here: a later one may add columns)."""


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("row_id", sa.Integer, nullable=False),
        sa.Column("body", sa.String, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    _adopt()
    op.execute(
        "CREATE TRIGGER ledger_append_only_update BEFORE UPDATE ON ledger BEGIN SELECT "
        "RAISE(ABORT, 'recorder journal: the ledger is append-only, UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER ledger_append_only_delete BEFORE DELETE ON ledger BEGIN SELECT "
        "RAISE(ABORT, 'recorder journal: the ledger is append-only, DELETE refused'); END"
    )


def _adopt() -> None:
    """One adoption event per existing row, sessions first, each table by id."""
    conn = op.get_bind()
    position = int(conn.execute(sa.text("SELECT coalesce(max(position), 0) FROM frames")).scalar())
    prev, event_id, events = GENESIS, 0, []
    for table, (kind, columns) in ADOPTED.items():
        rows: Any = conn.execute(
            sa.text(f"SELECT id, {', '.join(columns)} FROM {table} ORDER BY id")
        )
        for row in rows:
            event_id += 1
            body = encode(dict(zip(columns, row[1:], strict=True)))
            prev = event_hash(prev, event_id, position, row[0], kind.encode(), body.encode())
            events.append(
                {"id": event_id, "position": position, "kind": kind, "row_id": row[0],
                 "body": body, "hash": prev}
            )  # fmt: skip
    if events:
        conn.execute(
            sa.text(
                "INSERT INTO ledger (id, position, kind, row_id, body, hash)"
                " VALUES (:id, :position, :kind, :row_id, :body, :hash)"
            ),
            events,
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_append_only_delete")
    op.execute("DROP TRIGGER ledger_append_only_update")
    op.drop_table("ledger")
