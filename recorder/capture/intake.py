"""The capture service's intake: drain a socket and build one journal record per message.

This is the hot path of the proxy, written for per-message cost: each drain reads up to a
limit of messages (1, or :data:`BURST`) with ``NOBLOCK``, and each message costs two ``recv``
calls on the bot ROUTER (routing id, frame) or one on the upstream DEALER and SUB, one parse
of the whole envelope (as cheap as the header alone, and a corrupt body is caught), two clock
reads and one tuple; a drain ends at its limit or on the first ``recv`` that finds nothing.
The frame part is received as a :class:`zmq.Frame` so that its ``more`` flag comes with it:
``getsockopt(RCVMORE)`` costs more than the ``recv`` itself in pyzmq (it converts the option
to an enum on every call) and is only paid for multi-part messages.

:func:`record_of` (both drains call it) is :func:`recorder.venues.lx.records.to_record` for
the common case — a well-formed envelope, inlined — and hands everything else (bytes that do
not parse, body included; an envelope without a body; a version other than 1.x; an
out-of-range seq) to ``to_record`` itself, which flags them ``MALFORMED``, so the two agree on
every frame (tests/capture/test_intake.py checks that they do).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import zmq
from google.protobuf.message import DecodeError

from recorder.core.frames import Channel, Direction, FrameFlag, FrameRecord
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.records import to_record

BURST = 256
"""The most messages read from one socket at a time before they are journaled and forwarded."""

_INT64_MAX = (1 << 63) - 1
_MULTIPART = int(FrameFlag.MULTIPART)
_NOBLOCK = zmq.NOBLOCK
_RCVMORE = zmq.RCVMORE
_parse = pb.Envelope.FromString
_KINDS: dict[str, str] = {
    field.name: field.message_type.name
    for field in pb.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields
    if field.message_type is not None
}
_new_record = tuple.__new__
_time_ns = time.time_ns
_monotonic_ns = time.monotonic_ns

Parts = dict[int, list[bytes]]
"""The parts of multi-part messages, by their index in the drained batch."""


def record_of(
    data: bytes, session_id: int, channel: Channel, direction: Direction, flags: int = 0
) -> FrameRecord:
    """The journal record of one frame received now (the same record ``to_record`` builds)."""
    try:
        envelope = _parse(data)
        field = envelope.WhichOneof("body")
    except DecodeError:
        field = None
    if field is None or envelope.seq > _INT64_MAX or envelope.mversion.partition(".")[0] != "1":
        return to_record(
            data, session_id=session_id, channel=channel, direction=direction,
            wall_ns=_time_ns(), mono_ns=_monotonic_ns(), flags=flags,
        )  # fmt: skip
    record: FrameRecord = _new_record(
        FrameRecord,
        (
            session_id, channel, direction, _time_ns(), _monotonic_ns(), envelope.run_id,
            envelope.seq, envelope.mid, _KINDS[field], envelope.is_replay, flags, data,
        ),
    )  # fmt: skip
    return record


def joined(sock: zmq.Socket[bytes], first: zmq.Frame, parts: Parts, i: int) -> tuple[bytes, int]:
    """A multi-part message (an LX/1 protocol error) whose first part is ``first``: its parts
    are read and kept in ``parts[i]`` (forwarded as they came); it is journaled joined, flagged
    ``MULTIPART``. Returns the bytes and the flags to journal."""
    several = parts[i] = [first.bytes, sock.recv()]
    while sock.getsockopt(_RCVMORE):
        several.append(sock.recv())
    return b"".join(several), _MULTIPART


def unusual(
    router: zmq.Socket[bytes],
    rid: bytes,
    frame: zmq.Frame,
    parts: Parts,
    i: int,
    on_new_peer: Callable[[bytes, zmq.Frame], None],
    known: set[bytes],
) -> tuple[bytes, int]:
    """A bot message off the common path — from a routing id not in ``known`` (``on_new_peer``
    is called and the id added) or in several parts (:func:`joined`): the bytes and flags to
    journal."""
    if rid not in known:
        known.add(rid)
        on_new_peer(rid, frame)
    return joined(router, frame, parts, i) if frame.more else (frame.bytes, 0)


def drain_router(
    router: zmq.Socket[bytes],
    records: list[FrameRecord],
    parts: Parts,
    rids: list[bytes],
    session_id: int,
    on_new_peer: Callable[[bytes, zmq.Frame], None],
    known: set[bytes],
    limit: int = BURST,
) -> None:
    """Read up to ``limit`` bot messages: their records go to ``records``, their routing ids
    to ``rids``. ``on_new_peer(rid, frame)`` is called for a routing id not in ``known``."""
    recv = router.recv
    append_record, append_rid = records.append, rids.append
    base = len(records)
    channel, direction = Channel.ORDER, Direction.OUT
    for i in range(base, base + limit):
        try:
            rid = recv(_NOBLOCK)
        except zmq.Again:
            return
        frame = recv(copy=False)
        if frame.more or rid not in known:
            data, flags = unusual(router, rid, frame, parts, i, on_new_peer, known)
        else:
            data, flags = frame.bytes, 0
        append_record(record_of(data, session_id, channel, direction, flags))
        append_rid(rid)


def drain(
    sock: zmq.Socket[bytes],
    channel: Channel,
    records: list[FrameRecord],
    parts: Parts,
    session_id: int,
    limit: int = BURST,
) -> None:
    """Read up to ``limit`` messages from the exchange (DEALER or SUB) into ``records``."""
    recv = sock.recv
    append_record = records.append
    base = len(records)
    direction = Direction.IN
    for i in range(base, base + limit):
        try:
            frame = recv(_NOBLOCK, copy=False)
        except zmq.Again:
            return
        data, flags = (frame.bytes, 0) if not frame.more else joined(sock, frame, parts, i)
        append_record(record_of(data, session_id, channel, direction, flags))
