"""The journal's hash chain: ``hash = sha256(previous hash ‖ canonical bytes of the row)``.

The canonical bytes cover every column but the hash itself, position included, so a changed,
removed, inserted or reordered row breaks the chain at that position. The first row chains from
:data:`GENESIS` (32 zero bytes). Layout (little endian)::

    position q | session_id q | channel B | direction B | wall_ns q | mono_ns q | seq Q |
    is_replay B | flags I | len(run_id) I | len(mid) I | len(kind) I | len(payload) I |
    run_id | mid | kind | payload          (strings UTF-8; an absent mid is empty)
"""

from __future__ import annotations

import hashlib
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recorder.core.frames import FrameRecord

GENESIS = bytes(32)

_HEAD = struct.Struct("<qqBBqqQBIIIII")
_CHANNEL = {"order": 0, "market": 1}
_DIRECTION = {"in": 0, "out": 1}
# The appender builds the same bytes at commit (canonical) with these same constants;
# tests/journal/test_contract.py checks that the two agree on every row.
_sha256 = hashlib.sha256


def canonical(position: int, r: FrameRecord) -> bytes:
    """A row's hash-chain input, built from its record (also what the spool holds for it).

    A :class:`~recorder.core.frames.FrameRecord`'s fields are the frames columns in order,
    position and hash aside.
    """
    (
        session_id, channel, direction, wall_ns, mono_ns, run_id, seq, mid, kind, is_replay,
        flags, payload,
    ) = r  # fmt: skip
    run_b = run_id.encode()
    mid_b = mid.encode()
    kind_b = kind.encode()
    head = _HEAD.pack(
        position, session_id, _CHANNEL[channel], _DIRECTION[direction], wall_ns, mono_ns, seq,
        is_replay, flags, len(run_b), len(mid_b), len(kind_b), len(payload),
    )  # fmt: skip
    return b"".join((head, run_b, mid_b, kind_b, payload))


def row_hash(
    prev: bytes,
    position: int,
    session_id: int,
    channel: str,
    direction: str,
    wall_ns: int,
    mono_ns: int,
    run_id: str,
    seq: int,
    mid: str | None,
    kind: str,
    is_replay: int,
    flags: int,
    payload: bytes,
) -> bytes:
    """The chained hash of one row given the previous row's hash."""
    run_b = run_id.encode()
    mid_b = mid.encode() if mid else b""
    kind_b = kind.encode()
    head = _HEAD.pack(
        position,
        session_id,
        _CHANNEL[channel],
        _DIRECTION[direction],
        wall_ns,
        mono_ns,
        seq,
        1 if is_replay else 0,
        flags,
        len(run_b),
        len(mid_b),
        len(kind_b),
        len(payload),
    )
    return _sha256(b"".join((prev, head, run_b, mid_b, kind_b, payload))).digest()
