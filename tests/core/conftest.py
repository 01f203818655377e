"""Fixtures for the pure core tests: simulator sessions turned into journal-shaped rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from recorder.core.frames import FrameFlag
from recorder.errors import RemoteProtocolError
from recorder.sim.session import WireFrame
from recorder.venues.lx.codec import frame_meta

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
            try:
                m = frame_meta(f.data)
            except RemoteProtocolError:
                rows.append(
                    (
                        self.position,
                        1,
                        f.channel.value,
                        f.direction.value,
                        f.wall_ns,
                        f.mono_ns,
                        "",
                        0,
                        "",
                        "",
                        0,
                        int(FrameFlag.MALFORMED),
                        f.data,
                    )
                )
                continue
            rows.append(
                (
                    self.position,
                    1,
                    f.channel.value,
                    f.direction.value,
                    f.wall_ns,
                    f.mono_ns,
                    m.run_id,
                    m.seq,
                    m.mid,
                    m.kind,
                    int(m.is_replay),
                    0,
                    f.data,
                )
            )
        return rows


@pytest.fixture
def row_maker() -> Callable[[str], RowMaker]:
    """``row_maker("client-1")(frames)`` -> journal-shaped rows of that participant."""
    return RowMaker
