"""The gap filler, pure: sequencer effects become requests and ledger writes."""

from __future__ import annotations

import itertools

from recorder.capture import GapFiller, OpenGap, SendRequest, UpdateGap
from recorder.core.frames import Channel, Direction, FrameRecord
from recorder.venues.lx import lx1_pb2 as pb

RUN = "ab" * 16


def frame(seq: int, *, mid: str = "", replay: bool = False, body: object = None) -> FrameRecord:
    envelope = pb.Envelope(mid=mid, seq=seq, run_id=RUN, mversion="1.0", is_replay=replay)
    if body is None:
        envelope.heartbeat.beat = seq
        kind = "Heartbeat"
    else:
        getattr(envelope, {pb.ReplayDone: "replay_done", pb.Status: "status"}[type(body)]).CopyFrom(
            body
        )  # type: ignore[index]
        kind = type(body).__name__
    return FrameRecord(1, Channel.ORDER, Direction.IN, 0, 0, RUN, seq, mid, kind, replay, 0,
                       envelope.SerializeToString())  # fmt: skip


def filler() -> GapFiller:
    counter = itertools.count(1)
    return GapFiller(lambda: f"{next(counter):032x}", timeout_ns=1000, max_attempts=2)


def test_order_gap_is_replayed_held_and_filled() -> None:
    g = filler()
    g.start(0)
    g.pending.clear()
    assert g.on_order((frame(1), (b"A",)), 1, 0).deliver[0][0].seq == 1
    out = g.on_order((frame(4), (b"A",)), 2, 0)
    assert out.deliver == ()
    kinds = [type(a) for a in out.actions]
    assert kinds == [OpenGap, SendRequest, UpdateGap]
    request = out.actions[1]
    assert isinstance(request, SendRequest) and isinstance(request.body, pb.MessageReplay)
    assert (request.body.from_seq, request.body.to_seq) == (2, 3)
    assert g.on_order((frame(2, replay=True), (b"A",)), 3, 0).deliver[0][0].seq == 2
    done = g.on_order((frame(3, replay=True), (b"A",)), 4, 0)
    assert [item[0].seq for item in done.deliver] == [3, 4]
    assert [(a.state, a.key) for a in done.actions if isinstance(a, UpdateGap)] == [("filled", 1)]


def test_unanswered_replay_is_retried_then_given_up() -> None:
    g = filler()
    g.on_order((frame(1), ()), 1, 0)
    g.on_order((frame(5), ()), 2, 0)
    retry = g.tick(5000)
    assert [type(a) for a in retry.actions] == [SendRequest]
    given_up = g.tick(10_000)
    assert [item[0].seq for item in given_up.deliver] == [5]
    assert [a.state for a in given_up.actions if isinstance(a, UpdateGap)] == ["unrecoverable"]
    assert g.open_gaps == 0


def test_first_frame_above_one_is_backfilled_and_not_forwarded() -> None:
    g = filler()
    out = g.on_order((frame(3), (b"A",)), 1, 0)
    assert out.deliver == () and isinstance(out.actions[1], SendRequest)
    assert g.is_backfill(frame(1, replay=True)) and not g.is_backfill(frame(4, replay=True))
