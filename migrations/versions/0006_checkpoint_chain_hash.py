"""Checkpoints carry the chain hash of the frame at their position.

A checkpoint is a state, the position it covers and the state's SHA-256; nothing tied it to the
frames it was projected from, so ``recorder state`` started from any row that parsed: a
checkpoint moved to a later position (the frames in between skipped), copied from another
journal, or left behind when the frames after a point were replaced. From this revision the
recorder stores beside each checkpoint the hash of the frames row at its position (its chain
hash, :data:`recorder.journal.chain.GENESIS` at position 0), and a projection refuses a
checkpoint whose chain hash is not the hash of that row (``recorder.projection.restore``);
``recorder verify`` reports it without re-projecting.

Checkpoints already there keep a NULL chain hash and are used as before (verify re-projects
them); the next checkpoint the recorder writes has one. The downgrade drops the column.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("checkpoints", sa.Column("chain_hash", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    op.drop_column("checkpoints", "chain_hash")
