"""Fixtures for the pure core tests: simulator sessions turned into journal-shaped rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from recorder.sim.session import WireFrame
from recorder.venues.lx.records import to_record

Row = tuple[Any, ...]


class RowMaker:
    """Turns one participant's wire frames into journal rows (positions counted from 1)."""

    def __init__(self, participant: str) -> None:
        self.participant = participant
        self.position = 0

    def __call__(self, frames: Iterable[WireFrame]) -> list[Row]:
        rows: list[Row] = []
        for f in frames:
            if f.participant not in (None, self.participant):
                continue
            self.position += 1
            record = to_record(f.data, session_id=1, channel=f.channel, direction=f.direction,
                               wall_ns=f.wall_ns, mono_ns=f.mono_ns)  # fmt: skip
            rows.append((self.position, *record))  # a journal row: position, then the record
        return rows


@pytest.fixture
def row_maker() -> Callable[[str], RowMaker]:
    """``row_maker("client-1")(frames)`` -> journal-shaped rows of that participant."""
    return RowMaker
