"""The gap ledger and projector checkpoints.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gaps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("from_seq", sa.BigInteger, nullable=False),
        sa.Column("to_seq", sa.BigInteger, nullable=False),
        sa.Column("contract_id", sa.BigInteger, nullable=True),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("detected_wall_ns", sa.BigInteger, nullable=False),
        sa.Column("detected_position", sa.Integer, nullable=True),
        sa.Column("requested_wall_ns", sa.BigInteger, nullable=True),
        sa.Column("closed_wall_ns", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.String, nullable=False, server_default=""),
    )
    op.create_index("ix_gaps_stream", "gaps", ["session_id", "channel", "run_id"])
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.Column("digest", sa.LargeBinary, nullable=False),
        sa.Column("created_wall_ns", sa.BigInteger, nullable=False),
        sa.Column("recorder_version", sa.String, nullable=False),
    )
    op.create_index("ix_checkpoints_name", "checkpoints", ["name", "position"])


def downgrade() -> None:
    op.drop_table("checkpoints")
    op.drop_table("gaps")
