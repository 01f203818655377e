"""Journal core: sessions and the append-only, hash-chained frames table.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("venue", sa.String, nullable=False),
        sa.Column("capture_point", sa.String, nullable=False),
        sa.Column("participant", sa.String, nullable=False, server_default=""),
        sa.Column("order_endpoint", sa.String, nullable=False, server_default=""),
        sa.Column("market_endpoint", sa.String, nullable=False, server_default=""),
        sa.Column("recorder_version", sa.String, nullable=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("clock_source", sa.String, nullable=False),
        sa.Column("started_wall_ns", sa.BigInteger, nullable=False),
        sa.Column("ended_wall_ns", sa.BigInteger, nullable=True),
        sa.Column("end_reason", sa.String, nullable=True),
    )
    op.create_table(
        "frames",
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("direction", sa.String, nullable=False),
        sa.Column("wall_ns", sa.BigInteger, nullable=False),
        sa.Column("mono_ns", sa.BigInteger, nullable=False),
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("mid", sa.String, nullable=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("is_replay", sa.Integer, nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_frames_mid", "frames", ["mid"], sqlite_where=sa.text("mid IS NOT NULL"))
    op.create_index("ix_frames_stream", "frames", ["session_id", "channel", "run_id", "seq"])
    op.create_index("ix_frames_wall", "frames", ["wall_ns"])
    op.execute(
        "CREATE TRIGGER frames_append_only_update BEFORE UPDATE ON frames "
        "BEGIN SELECT RAISE(ABORT, 'recorder journal: frames are append-only, UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER frames_append_only_delete BEFORE DELETE ON frames "
        "BEGIN SELECT RAISE(ABORT, 'recorder journal: frames are append-only, DELETE refused'); END"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER frames_append_only_delete")
    op.execute("DROP TRIGGER frames_append_only_update")
    op.drop_table("frames")
    op.drop_table("sessions")
