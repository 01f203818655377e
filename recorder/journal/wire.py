"""Frames journaled as they came off the wire: their metadata columns are read at the commit.

Theory of operation
-------------------
Rule 1 puts the journal on every frame's path, and on these machines what costs a frame's round
trip is how much code and memory the path touches after a wake-up, more than its instruction
count: in the capture loop, one round trip at a time, reading a frame's metadata (a protobuf
parse) and building its canonical bytes before the spool copy added ~75 µs at p50 for the two
frames of a round trip, where a copy of the bytes with their clocks added ~16 µs
(``docs/benchmarks.md``). What must be durable before the frame moves on is the frame itself —
its bytes, its clocks, where it was seen. So a writer may hand the journal a *wire frame*::

    (session_id, channel, direction, wall_ns, mono_ns, flags, payload, envelope)

(:meth:`Journal.append_wires <recorder.journal.Journal.append_wires>`): in ``safe`` mode it is
copied into the spool as it is (:data:`WIRE` then the payload, in the spool record's body:
:mod:`recorder.journal.spool`), and its record — run, seq, mid, kind, is_replay — is built when
it is committed, by the venue's record builder of its session (:class:`Records`): in this
process's commit, in the committer process, or in the recovery of a killed writer's spool.
``envelope`` (the frame decoded, when the writer has it; never stored) spares a commit in this
process the parse. The row is the one :meth:`~recorder.journal.Journal.append_one` of the
record built up front would have written, hash included.
"""

from __future__ import annotations

import struct

import apsw

from recorder.core.frames import Channel, Direction, FrameRecord
from recorder.errors import JournalError
from recorder.venues import RECORD_BUILDERS, RecordBuilder, record_builder

__all__ = ["WIRE", "WIRE_TAG", "Records", "UnknownSessionError", "WireFrame", "unpack"]

WireFrame = tuple[int, Channel, Direction, int, int, int, bytes, object]
"""``(session_id, channel, direction, wall_ns, mono_ns, flags, payload, envelope)``: a frame as a
writer saw it; ``envelope`` is the frame decoded (or None), for a commit in this process."""


WIRE_TAG = b"W"
"""The first byte of a wire frame's spool body (a record's canonical bytes start with ``C``)."""
WIRE = struct.Struct("<cqqqqBBI")
"""A wire frame's spool body up to its payload: the tag, position, session_id, wall_ns,
mono_ns, channel (0 order, 1 market), direction (0 in, 1 out), flags; the payload follows."""

_CHANNELS = (Channel.ORDER, Channel.MARKET)
_DIRECTIONS = (Direction.IN, Direction.OUT)


def unpack(body: bytes | memoryview) -> tuple[int, WireFrame]:
    """A wire frame's position and frame from its spool body."""
    _, position, session_id, wall_ns, mono_ns, channel, direction, flags = WIRE.unpack_from(body)
    frame: WireFrame = (
        session_id, _CHANNELS[channel], _DIRECTIONS[direction], wall_ns, mono_ns, flags,
        bytes(body[WIRE.size :]), None,
    )  # fmt: skip
    return position, frame


class UnknownSessionError(JournalError):
    """A wire frame names a session the journal has no row of. A writer starts a session (its
    row committed) before it journals the session's frames, so the frame or the ``sessions``
    table was altered: a spooled frame's recovery keeps the spool aside as damaged
    (:func:`recorder.journal.spool.recover`); a writer's own commit fails with it."""


class Records:
    """Builds the records of wire frames, each with its session's venue builder.

    ``conn`` reads the ``sessions`` table for a session not learnt (:meth:`learn`) beforehand:
    a frame's session row is always committed before the frame. Raises
    :class:`~recorder.errors.UnknownVenueError` for a venue without a builder.
    """

    __slots__ = ("_builders", "_conn", "_path")

    def __init__(self, conn: apsw.Connection, path: object) -> None:
        self._conn = conn
        self._path = path
        self._builders: dict[int, RecordBuilder] = {}

    def learn(self, session_id: int, venue: str) -> None:
        """A session just started, with its venue (one this recorder cannot read frames of
        fails when a wire frame of it is committed, with :class:`UnknownVenueError`)."""
        if venue in RECORD_BUILDERS:
            self._builders[session_id] = record_builder(venue)

    def record(self, frame: WireFrame) -> FrameRecord:
        """The journal record of a wire frame."""
        session_id, channel, direction, wall_ns, mono_ns, flags, payload, envelope = frame
        build = self._builders.get(session_id) or self._lookup(session_id)
        return build(
            payload, session_id=session_id, channel=channel, direction=direction,
            wall_ns=wall_ns, mono_ns=mono_ns, flags=flags, envelope=envelope,
        )  # fmt: skip

    def _lookup(self, session_id: int) -> RecordBuilder:
        row = self._conn.execute("SELECT venue FROM sessions WHERE id = ?", (session_id,))
        found = row.fetchone()
        if found is None:
            raise UnknownSessionError(
                f"journal {self._path}: a frame of session {session_id} is to be committed, and "
                "the journal has no such session; frames of a session follow its start_session"
            )
        builder = self._builders[session_id] = record_builder(str(found[0]))
        return builder
