"""From LX/1 frame bytes to the core's :class:`~recorder.core.frames.FrameRecord`.

Every journal writer's one call: :func:`to_record` reads the metadata with
:func:`~recorder.venues.lx.codec.frame_meta` — or from the envelope, when the caller has the
frame decoded already (the SDK) — and never refuses a frame. Bytes that are not a valid
envelope are kept exactly as they came, flagged :attr:`FrameFlag.MALFORMED`.
"""

from __future__ import annotations

from recorder.core.frames import Channel, Direction, FrameFlag, FrameRecord
from recorder.errors import RemoteProtocolError
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import _FIELD_TO_KIND, frame_meta

_INT64_MAX = (1 << 63) - 1
_new_record = tuple.__new__
"""A :class:`FrameRecord` from a tuple without its Python-level ``__new__`` (a third cheaper:
one is built per frame on the SDK's path)."""


def to_record(
    payload: bytes,
    *,
    session_id: int,
    channel: Channel,
    direction: Direction,
    wall_ns: int,
    mono_ns: int,
    flags: int = 0,
    envelope: pb.Envelope | None = None,
) -> FrameRecord:
    """A journal record for one frame; malformed bytes are flagged, never dropped.

    ``envelope``: the frame already decoded from ``payload`` (or serialized to it), when the
    caller has it: its metadata is read from it instead of parsing the bytes again.
    """
    if envelope is not None:
        field = envelope.WhichOneof("body")
        if field is not None and envelope.seq <= _INT64_MAX:
            record: FrameRecord = _new_record(
                FrameRecord,
                (session_id, channel, direction, wall_ns, mono_ns, envelope.run_id, envelope.seq,
                 envelope.mid, _FIELD_TO_KIND[field], envelope.is_replay, flags, payload),
            )  # fmt: skip
            return record
    try:
        kind, mid, seq, run_id, is_replay = frame_meta(payload)
    except RemoteProtocolError:
        return FrameRecord(
            session_id, channel, direction, wall_ns, mono_ns, "", 0, "", "", False,
            flags | FrameFlag.MALFORMED, payload,
        )  # fmt: skip
    if seq > _INT64_MAX:  # no LX/1 stream gets there: a corrupt or hostile frame
        return FrameRecord(
            session_id, channel, direction, wall_ns, mono_ns, run_id, 0, mid, kind, is_replay,
            flags | FrameFlag.MALFORMED, payload,
        )  # fmt: skip
    return FrameRecord(
        session_id, channel, direction, wall_ns, mono_ns, run_id, seq, mid, kind, is_replay,
        flags, payload,
    )  # fmt: skip
