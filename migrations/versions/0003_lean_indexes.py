"""Lean frame indexes: a stream index without run_id, no wall-clock index, mids as ''.

Every secondary index costs append speed and a page write per commit (the capture path's
latency). Time look-ups now use the journal's order instead: frames are stamped as they are
journaled, so ``wall_ns`` rises with ``position`` and a binary search over positions finds a time
(see ``recorder.journal.reader.Reader.position_at``). A stream in seq order is read through
``(session_id, channel, seq)`` and split by run in memory. Frames without a mid are now stored
with ``mid = ''`` (older rows keep NULL; the hash chain treats both alike), so the appender can
bind a record as it is; the mid index is partial on ``mid <> ''`` and look-ups repeat that term.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_frames_wall", table_name="frames")
    op.drop_index("ix_frames_stream", table_name="frames")
    op.drop_index("ix_frames_mid", table_name="frames")
    op.create_index("ix_frames_stream", "frames", ["session_id", "channel", "seq"])
    op.create_index("ix_frames_mid", "frames", ["mid"], sqlite_where=sa.text("mid <> ''"))


def downgrade() -> None:
    op.drop_index("ix_frames_mid", table_name="frames")
    op.drop_index("ix_frames_stream", table_name="frames")
    op.create_index("ix_frames_mid", "frames", ["mid"], sqlite_where=sa.text("mid IS NOT NULL"))
    op.create_index("ix_frames_stream", "frames", ["session_id", "channel", "run_id", "seq"])
    op.create_index("ix_frames_wall", "frames", ["wall_ns"])
