"""Frames and their metadata: the unit the journal stores and the projector consumes."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Channel(enum.StrEnum):
    """The two LX/1 channels."""

    ORDER = "order"
    MARKET = "market"


class Direction(enum.StrEnum):
    """Seen from the capture point: ``out`` goes to the exchange, ``in`` comes from it."""

    IN = "in"
    OUT = "out"


class FrameFlag(enum.IntFlag):
    """Flags stored with a frame. Zero for an ordinary, well-formed frame."""

    NONE = 0
    MALFORMED = 1
    """The payload is not a valid LX/1 envelope; it is journaled exactly as it came."""
    MULTIPART = 2
    """The ZeroMQ message had several parts; the payload holds them joined (protocol error)."""


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """A frame about to be journaled: everything but the position and the hash."""

    session_id: int
    channel: Channel
    direction: Direction
    wall_ns: int
    mono_ns: int
    run_id: str
    seq: int
    mid: str
    kind: str
    is_replay: bool
    flags: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Frame:
    """A journaled frame, as read back: its global ``position`` and chained ``hash`` included."""

    position: int
    session_id: int
    channel: Channel
    direction: Direction
    wall_ns: int
    mono_ns: int
    run_id: str
    seq: int
    mid: str
    kind: str
    is_replay: bool
    flags: int
    payload: bytes
    hash: bytes

    @property
    def malformed(self) -> bool:
        """True when the payload did not parse as an LX/1 envelope."""
        return bool(self.flags & FrameFlag.MALFORMED)
