"""The gap filler, pure: sequencer effects become requests and ledger writes."""

from __future__ import annotations

import itertools

import pytest

from recorder.capture import GapFiller, OpenGap, SendRequest, UpdateGap
from recorder.core.frames import Channel, Direction, FrameRecord
from recorder.venues.lx import lx1_pb2 as pb

RUN = "ab" * 16


NEW_RUN = "cd" * 16
_FIELDS = {
    pb.ReplayDone: "replay_done",
    pb.Status: "status",
    pb.BookStateSnapshot: "book_state_snapshot",
}


def frame(
    seq: int,
    *,
    mid: str = "",
    replay: bool = False,
    body: object = None,
    run: str = RUN,
    channel: Channel = Channel.ORDER,
) -> FrameRecord:
    envelope = pb.Envelope(mid=mid, seq=seq, run_id=run, mversion="1.0", is_replay=replay)
    if body is None:
        envelope.heartbeat.beat = seq
        kind = "Heartbeat"
    else:
        getattr(envelope, _FIELDS[type(body)]).CopyFrom(body)
        kind = type(body).__name__
    return FrameRecord(1, channel, Direction.IN, 0, 0, run, seq, mid, kind, replay, 0,
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


def test_first_frame_above_one_is_delivered_and_the_history_backfilled() -> None:
    g = filler()
    out = g.on_order((frame(3), (b"A",)), 1, 0)  # delivered at once: the history is not held
    assert [item[0].seq for item in out.deliver] == [3] and isinstance(out.actions[1], SendRequest)
    assert g.is_backfill(frame(1, replay=True)) and not g.is_backfill(frame(4, replay=True))


def _replays(out: object) -> list[SendRequest]:
    actions = getattr(out, "actions", ())
    return [a for a in actions if isinstance(a, SendRequest)]


def _two_gaps() -> tuple[GapFiller, SendRequest, SendRequest]:
    """Gaps 2..2 (ledger key 1) and 4..4 (key 2), each with its own MessageReplay."""
    g = filler()
    g.on_order((frame(1), ()), 1, 0)
    (first,) = _replays(g.on_order((frame(3), ()), 2, 0))
    (second,) = _replays(g.on_order((frame(5), ()), 3, 0))
    assert isinstance(first.body, pb.MessageReplay) and first.body.from_seq == 2
    assert isinstance(second.body, pb.MessageReplay) and second.body.from_seq == 4
    return g, first, second


def test_a_replay_that_comes_back_without_its_range_writes_off_that_range_only() -> None:
    # The second gap's replay is answered first, complete, without seq 4 (lost on the way):
    # 4 is written off, but gap 2's replay is still to come (lost, retried): gap 2 stays open
    # and holds 3, 5 and 6, and the late 2 is delivered with them, the ledger saying filled.
    g, first, second = _two_gaps()
    done = pb.ReplayDone(run_id=RUN, from_seq=4, to_seq=4, complete=True)
    out = g.on_order((frame(6, mid=second.mid, body=done), ()), 4, 0)
    assert out.deliver == ()
    assert [(a.key, a.state) for a in out.actions if isinstance(a, UpdateGap)] == [
        (2, "unrecoverable")
    ]
    assert g.open_gaps == 1 and first.mid in g.pending
    out = g.on_order((frame(2, replay=True), ()), 5, 0)
    assert [item[0].seq for item in out.deliver] == [2, 3, 5, 6]  # 6: the answer, held too
    assert [(a.key, a.state) for a in out.actions if isinstance(a, UpdateGap)] == [(1, "filled")]


def test_a_refused_replay_writes_off_its_range_only() -> None:
    g, first, second = _two_gaps()
    refusal = pb.Status(code=pb.REJECT_REPLAY_UNAVAILABLE, message="gone")
    out = g.on_order((frame(6, mid=second.mid, body=refusal), ()), 4, 0)
    assert [(a.key, a.state) for a in out.actions if isinstance(a, UpdateGap)] == [
        (2, "unrecoverable")
    ]
    assert g.open_gaps == 1 and first.mid in g.pending
    out = g.on_order((frame(2, replay=True), ()), 5, 0)
    assert [item[0].seq for item in out.deliver] == [2, 3, 5, 6]  # 6: the answer, held too


def test_an_incomplete_replay_writes_off_what_its_part_did_not_bring() -> None:
    # 2..9 missing; the replay stops at 5 (the cap) without 3: 3 is lost, 4 and 5 go out, the
    # rest (6..9) is asked again.
    g = filler()
    g.on_order((frame(1), ()), 1, 0)
    (asked,) = _replays(g.on_order((frame(10), ()), 2, 0))
    for seq in (2, 4, 5):
        g.on_order((frame(seq, replay=True), ()), 3, 0)
    done = pb.ReplayDone(run_id=RUN, from_seq=2, to_seq=5, complete=False)
    out = g.on_order((frame(11, mid=asked.mid, body=done), ()), 4, 0)
    (rest,) = _replays(out)
    assert isinstance(rest.body, pb.MessageReplay)
    assert (rest.body.from_seq, rest.body.to_seq) == (6, 9)
    assert [item[0].seq for item in out.deliver] == [4, 5]
    assert g.order.open_gaps[0].from_seq == 6


def _market_gap() -> tuple[GapFiller, list[str]]:
    """A market gap (ledger key 1) in RUN, its GetBookState for two contracts sent."""
    g = filler()
    g.contracts |= {1, 2}
    g.on_market(frame(1, channel=Channel.MARKET), 1, 0)
    out = g.on_market(frame(3, channel=Channel.MARKET), 2, 0)
    snapshots = [a.mid for a in _replays(out) if isinstance(a.body, pb.GetBookState)]
    assert len(snapshots) == 2 and set(snapshots) <= set(g.pending)
    return g, snapshots


def _ledger(out: object) -> list[tuple[int, str, str]]:
    actions = getattr(out, "actions", ())
    return [(a.key, a.state, a.reason) for a in actions if isinstance(a, UpdateGap)]


@pytest.mark.parametrize("channel", [Channel.ORDER, Channel.MARKET])
def test_a_run_change_makes_the_old_runs_market_gap_unrecoverable(channel: Channel) -> None:
    # The run ends before its snapshots come: what would come now is the next run's books.
    g, snapshots = _market_gap()
    if channel is Channel.ORDER:
        g.on_order((frame(1), ()), 3, 0)
        out = g.on_order((frame(1, run=NEW_RUN), ()), 4, 0)
    else:
        out = g.on_market(frame(1, run=NEW_RUN, channel=Channel.MARKET), 3, 0)
    assert _ledger(out) == [(1, "unrecoverable", "the exchange run changed")]
    assert not set(snapshots) & set(g.pending)  # not asked again (tick) any more
    assert g.open_gaps == 0


def test_a_snapshot_of_another_run_fills_no_market_gap() -> None:
    # The order channel's first frame is the next run's snapshot (no run change seen yet).
    g, snapshots = _market_gap()
    outs = [
        g.on_order((frame(i + 1, mid=mid, body=pb.BookStateSnapshot(), run=NEW_RUN), ()), 3, 0)
        for i, mid in enumerate(snapshots)
    ]
    assert [row for out in outs for row in _ledger(out)] == [
        (1, "unrecoverable", "the exchange run changed")
    ]


def test_a_snapshot_of_the_gaps_run_fills_it() -> None:
    g, snapshots = _market_gap()
    outs = [
        g.on_order((frame(i + 1, mid=mid, body=pb.BookStateSnapshot()), ()), 3, 0)
        for i, mid in enumerate(snapshots)
    ]
    assert [row[:2] for out in outs for row in _ledger(out)] == [(1, "filled")]
