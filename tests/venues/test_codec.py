"""LX/1 codec: round trips for every body (hypothesis), errors that carry the raw bytes."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.core.frames import Channel, Direction, FrameFlag
from recorder.errors import LocalProtocolError, RemoteProtocolError
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import (
    BODY_KINDS,
    MAX_BATCH,
    body_of,
    decode,
    encode,
    frame_meta,
    kind_of,
    make_envelope,
)
from recorder.venues.lx.records import to_record
from recorder.venues.lx.samples import sample_frames

_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_STRING: st.text(max_size=40),
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=40),
}


def _field_strategy(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        inner = message_strategy(field.message_type, depth + 1)
    elif field.type == FieldDescriptor.TYPE_ENUM:
        inner = st.sampled_from([v.number for v in field.enum_type.values])
    else:
        inner = _SCALARS[field.type]
    if field.is_repeated:
        return st.lists(inner, max_size=4 if depth < 1 else 0)
    return inner


def message_strategy(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of ``descriptor`` with arbitrary field values (bounded nesting)."""
    cls = getattr(pb, descriptor.name)
    plain = [f for f in descriptor.fields if f.containing_oneof is None]

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        for field in plain:
            value = draw(_field_strategy(field, depth))
            if field.is_repeated:
                target = getattr(message, field.name)
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    for item in value:
                        target.add().CopyFrom(item)
                else:
                    target.extend(value)
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                getattr(message, field.name).CopyFrom(value)
            else:
                setattr(message, field.name, value)
        if descriptor.name == "Envelope" and depth < 2:
            kind = draw(st.sampled_from([k for k in BODY_KINDS if k != "Batch"]))
            body = draw(message_strategy(pb.DESCRIPTOR.message_types_by_name[kind], depth + 1))
            field_name = next(
                f.name
                for f in descriptor.oneofs_by_name["body"].fields
                if f.message_type.name == kind
            )
            getattr(message, field_name).CopyFrom(body)
        return message

    return build()


envelope_fields = st.fixed_dictionaries(
    {
        "mid": st.text(alphabet="0123456789abcdef", min_size=0, max_size=32),
        "seq": st.integers(0, 2**64 - 1),
        "run_id": st.text(alphabet="0123456789abcdef", max_size=32),
        "timestamp": st.integers(-(2**63), 2**63 - 1),
        "ticks": st.integers(-(2**63), 2**63 - 1),
        "is_replay": st.booleans(),
    }
)


@pytest.mark.parametrize("kind", BODY_KINDS)
def test_every_body_round_trips(kind: str) -> None:
    @settings(max_examples=60, deadline=None)
    @given(body=message_strategy(pb.DESCRIPTOR.message_types_by_name[kind]), fields=envelope_fields)
    def check(body: Message, fields: dict[str, Any]) -> None:
        envelope = pb.Envelope(mversion="1.0", **fields)
        getattr(
            envelope,
            next(f.name for f in pb.Envelope.DESCRIPTOR.fields if f.message_type is not None
                 and f.message_type.name == kind),
        ).CopyFrom(body)  # fmt: skip
        data = encode(envelope)
        decoded = decode(data)
        assert decoded == envelope
        assert kind_of(decoded) == kind
        assert body_of(decoded) == body
        meta = frame_meta(data)
        assert meta == (kind, fields["mid"], fields["seq"], fields["run_id"], fields["is_replay"])
        stamp: dict[str, Any] = dict(
            session_id=3, channel=Channel.ORDER, direction=Direction.IN, wall_ns=5, mono_ns=7
        )
        assert to_record(data, envelope=decoded, **stamp) == to_record(data, **stamp)

    check()


def test_a_records_envelope_gives_what_its_bytes_give_on_a_participants_traffic() -> None:
    for frame in sample_frames(2000):
        stamp: dict[str, Any] = dict(
            session_id=1, channel=frame.channel, direction=frame.direction, wall_ns=2, mono_ns=3
        )
        envelope = pb.Envelope.FromString(frame.payload)
        assert to_record(frame.payload, envelope=envelope, **stamp) == to_record(
            frame.payload, **stamp
        )


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_with_raw(data: bytes) -> None:
    try:
        envelope = decode(data)
    except RemoteProtocolError as exc:
        assert exc.raw == data
        with pytest.raises(RemoteProtocolError) as meta_exc:  # every writer flags it alike
            frame_meta(data)
        assert meta_exc.value.raw == data
    else:
        assert frame_meta(data).kind == kind_of(envelope)


def test_frame_meta_refuses_a_corrupt_body_or_another_version() -> None:
    """Found by the property above, when frame_meta read the header alone: a corrupt body, a
    version other than 1.x. Both are flagged MALFORMED by every journal writer now."""
    stamp: dict[str, Any] = dict(
        session_id=1, channel=Channel.ORDER, direction=Direction.IN, wall_ns=2, mono_ns=3
    )
    for data in (b"r\x05\x00\x00\x00\x00\x00", b"\x08\x00r\x00"):
        with pytest.raises(RemoteProtocolError):
            decode(data)
        with pytest.raises(RemoteProtocolError):
            frame_meta(data)
        assert to_record(data, **stamp).flags == FrameFlag.MALFORMED


def test_envelope_without_body_is_malformed() -> None:
    data = encode(pb.Envelope(mid="ab", mversion="1.0"))
    with pytest.raises(RemoteProtocolError, match="without a body") as info:
        decode(data)
    assert info.value.raw == data


def test_unknown_major_version_is_rejected() -> None:
    envelope = make_envelope(pb.Heartbeat(interval_ms=1))
    envelope.mversion = "2.0"
    with pytest.raises(RemoteProtocolError, match="version"):
        decode(encode(envelope))


def test_make_envelope_checks_batches() -> None:
    order = make_envelope(pb.LimitOrder(contract_id=1, size=1, price_in_cents=100), mid="a" * 32)
    batch = make_envelope(pb.Batch(messages=[order] * MAX_BATCH), mid="b" * 32)
    assert len(batch.batch.messages) == MAX_BATCH
    with pytest.raises(LocalProtocolError, match="1 to 200"):
        make_envelope(pb.Batch(messages=[order] * (MAX_BATCH + 1)))
    with pytest.raises(LocalProtocolError, match="Batch may hold"):
        make_envelope(pb.Batch(messages=[make_envelope(pb.GetContracts())]))


def test_batch_frame_meta() -> None:
    inner = [make_envelope(pb.CancelAll(), mid=f"{i:032x}") for i in range(200)]
    data = encode(make_envelope(pb.Batch(messages=inner), mid="c" * 32, seq=3))
    assert frame_meta(data) == ("Batch", "c" * 32, 3, "", False)
