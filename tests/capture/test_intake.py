"""The capture intake: its inlined records equal ``to_record``'s, and draining a socket keeps
multi-part messages whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import zmq
from hypothesis import given
from hypothesis import strategies as st
from plain_bot import PB as pb

from recorder.capture.intake import BURST, drain, drain_router, record_of
from recorder.core.frames import Channel, Direction, FrameFlag, FrameRecord
from recorder.venues.lx.records import to_record

_CLOCKS = slice(3, 5)  # wall_ns, mono_ns: stamped when the record is built


def _same(a: FrameRecord, b: FrameRecord) -> None:
    assert a[: _CLOCKS.start] + a[_CLOCKS.stop :] == b[: _CLOCKS.start] + b[_CLOCKS.stop :]
    assert type(a) is FrameRecord and type(b) is FrameRecord


def _reference(data: bytes, channel: Channel, direction: Direction, flags: int) -> FrameRecord:
    return to_record(
        data, session_id=7, channel=channel, direction=direction, wall_ns=0, mono_ns=0,
        flags=flags,
    )  # fmt: skip


def _envelope(
    body: str, *, mid: str = "", seq: int = 0, run_id: str = "", replay: bool = False
) -> bytes:
    envelope = pb.Envelope(mid=mid, seq=seq, run_id=run_id, mversion="1.0", is_replay=replay)
    getattr(envelope, body).SetInParent()
    return envelope.SerializeToString()


ODD_FRAMES = [
    b"",  # no body
    b"\xff\xfe not an envelope",
    pb.Envelope(mid="x", seq=3, mversion="1.0").SerializeToString(),  # no body either
    _envelope("status", mid="m", seq=(1 << 63) + 5, run_id="r"),  # seq out of range
    _envelope("status", seq=(1 << 64) - 1),
    _envelope("limit_order", mid="\u00e9t\u00e9", seq=1 << 62),
    b"r\x05\x00\x00\x00\x00\x00",  # a header that parses, a body that does not
    pb.Envelope(mid="v", seq=2, mversion="2.0", heartbeat=pb.Heartbeat()).SerializeToString(),
]


@pytest.mark.parametrize("data", ODD_FRAMES)
def test_odd_frames_get_the_record_to_record_gives(data: bytes) -> None:
    for flags in (0, int(FrameFlag.MULTIPART)):
        got = record_of(data, 7, Channel.ORDER, Direction.IN, flags)
        _same(got, _reference(data, Channel.ORDER, Direction.IN, flags))
    assert record_of(b"\xff\xfe", 7, Channel.MARKET, Direction.IN).flags & FrameFlag.MALFORMED
    if data in ODD_FRAMES[-2:]:  # what decode refuses is flagged, not only what has no header
        assert record_of(data, 7, Channel.ORDER, Direction.IN).flags == FrameFlag.MALFORMED


BODIES = [f.name for f in pb.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields]


@given(
    body=st.sampled_from(BODIES),
    mid=st.text(max_size=40),
    seq=st.integers(min_value=0, max_value=(1 << 64) - 1),
    run_id=st.text(max_size=40),
    replay=st.booleans(),
    channel=st.sampled_from(list(Channel)),
    direction=st.sampled_from(list(Direction)),
)
def test_every_well_formed_envelope_gets_the_record_to_record_gives(
    body: str, mid: str, seq: int, run_id: str, replay: bool, channel: Channel,
    direction: Direction,
) -> None:  # fmt: skip
    data = _envelope(body, mid=mid, seq=seq, run_id=run_id, replay=replay)
    _same(record_of(data, 7, channel, direction), _reference(data, channel, direction, 0))


@given(data=st.binary(max_size=64))
def test_any_bytes_get_the_record_to_record_gives(data: bytes) -> None:
    got = record_of(data, 7, Channel.ORDER, Direction.IN)
    _same(got, _reference(data, Channel.ORDER, Direction.IN, 0))


@pytest.fixture
def pair() -> Iterator[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    router.bind("inproc://intake")
    dealer.connect("inproc://intake")
    yield router, dealer
    ctx.destroy(linger=0)


def test_drain_router_keeps_multipart_messages_whole_and_learns_new_peers(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, dealer = pair
    first = _envelope("limit_order", mid="a" * 32, seq=1)
    dealer.send(first)
    dealer.send_multipart([b"one", b"two", b"three"])
    dealer.send(b"\xff junk")
    last = _envelope("cancel_all", mid="b" * 32, seq=2)
    dealer.send(last)
    records: list[FrameRecord] = []
    parts: dict[int, list[bytes]] = {}
    rids: list[bytes] = []
    seen: list[bytes] = []
    known: set[bytes] = set()
    assert router.poll(1000)  # inproc: all four are queued once the first is readable
    drain_router(router, records, parts, rids, 7, lambda rid, _frame: seen.append(rid), known)

    assert [r.payload for r in records] == [first, b"onetwothree", b"\xff junk", last]
    assert [r.kind for r in records] == ["LimitOrder", "", "", "CancelAll"]
    assert [r.flags for r in records] == [
        0, FrameFlag.MULTIPART | FrameFlag.MALFORMED, FrameFlag.MALFORMED, 0,
    ]  # fmt: skip
    assert parts == {1: [b"one", b"two", b"three"]}
    assert len(set(rids)) == 1 and len(rids) == 4
    assert seen == rids[:1] and known == set(rids)
    assert all(r.direction is Direction.OUT and r.channel is Channel.ORDER for r in records)
    assert [r.mono_ns for r in records] == sorted(r.mono_ns for r in records)


def test_drain_reads_at_most_a_burst_and_leaves_the_rest(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, dealer = pair
    dealer.send(b"hello")
    rid = router.recv_multipart()[0]
    frames = [_envelope("status", seq=i + 1, run_id="r") for i in range(BURST + 3)]
    for data in frames[:2]:
        router.send_multipart([rid, data])
    router.send_multipart([rid, b"x", b"y"])
    for data in frames[2:]:
        router.send_multipart([rid, data])
    assert dealer.poll(1000)
    records: list[FrameRecord] = [record_of(b"", 7, Channel.ORDER, Direction.IN)]  # one before
    parts: dict[int, list[bytes]] = {}
    drain(dealer, Channel.MARKET, records, parts, 7)
    assert len(records) == 1 + BURST
    assert parts == {3: [b"x", b"y"]}  # indexed in the whole batch
    assert records[3].payload == b"xy" and records[3].flags & FrameFlag.MULTIPART
    assert [r.seq for r in records[1:3] + records[4:]] == list(range(1, BURST))
    rest: list[FrameRecord] = []
    drain(dealer, Channel.MARKET, rest, parts, 7)
    assert [r.seq for r in rest] == list(range(BURST, BURST + 4))
    assert all(r.direction is Direction.IN and r.channel is Channel.MARKET for r in rest)
    for data in frames[:2]:  # the loop's first pass reads one message per socket
        router.send_multipart([rid, data])
    assert dealer.poll(1000)
    one: list[FrameRecord] = []
    drain(dealer, Channel.MARKET, one, parts, 7, limit=1)
    assert [r.payload for r in one] == frames[:1] and dealer.poll(0)
