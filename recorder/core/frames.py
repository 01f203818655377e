"""Frames and their metadata: the unit the journal stores and the projector consumes."""

from __future__ import annotations

import enum
from typing import NamedTuple


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


class FrameRecord(NamedTuple):
    """A frame about to be journaled: everything but the position and the hash.

    A named tuple rather than a frozen dataclass: one is built per frame on the capture path,
    and a tuple is four times cheaper to build (immutable all the same).
    """

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


class Frame(NamedTuple):
    """A journaled frame, as read back: its global ``position`` and chained ``hash`` included.

    A named tuple for the same reason as :class:`FrameRecord`: readers build one per row.
    """

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
