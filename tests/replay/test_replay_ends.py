"""The decision at the end of a range replay (:class:`~recorder.client.recovery.RangeReplays`),
which the live GapBook and the replay lane share: ask for the rest, ask again for what is still
missing (a few times), or write it off."""

from __future__ import annotations

from recorder.client.recovery import MAX_REPLAY_TRIES, RangeReplays, ReplayEnd
from recorder.core.sequencing import GapClosed, OpenGap, Recovery, StreamSequencer
from recorder.venues.lx import lx1_pb2 as pb

RUN = "r1"


def _sequencer(*missing: int) -> StreamSequencer[None]:
    """An order-channel sequencer of ``RUN`` at seq 10, ``missing`` never seen."""
    seqr: StreamSequencer[None] = StreamSequencer(Recovery.REPLAY, hold=False)
    for seq in range(1, 11):
        if seq not in missing:
            seqr.observe(seq, RUN, False, None)
    return seqr


def _done(to_seq: int, *, complete: bool = True) -> pb.Envelope:
    return pb.Envelope(mid="m", replay_done=pb.ReplayDone(to_seq=to_seq, complete=complete))


def _reject(code: pb.StatusCode) -> pb.Envelope:
    return pb.Envelope(mid="m", status=pb.Status(code=code))


def _end(envelope: pb.Envelope, seqr: StreamSequencer[None]) -> ReplayEnd:
    """How a first replay of seqs 4..6 ends."""
    replays = RangeReplays()
    replays.sent("m", (RUN, 4, 6))
    return replays.finished("m", envelope, seqr)


def test_a_complete_replay_that_leaves_seqs_missing_asks_again_then_gives_up() -> None:
    replays, seqr = RangeReplays(), _sequencer(5)
    asked = (RUN, 4, 6)
    for _ in range(MAX_REPLAY_TRIES - 1):
        replays.sent("m", asked)
        end = replays.finished("m", _done(asked[2]), seqr)
        assert end.again == ((RUN, 5, 5),) and not end.abandon  # what is still missing
        asked = end.again[0]
    replays.sent("m", asked)
    end = replays.finished("m", _done(5), seqr)
    assert end.abandon and not end.again and not end.refused
    assert not replays.in_flight


def test_the_other_ends_of_a_replay() -> None:
    seqr = _sequencer(5)
    cut = _end(_done(5, complete=False), seqr)
    assert cut.rest == (RUN, 6, 6) and not cut.abandon  # the exchange's cap: the rest at once
    refused = _end(_reject(pb.REJECT_REPLAY_UNAVAILABLE), seqr)
    assert refused.abandon and refused.refused and not refused.again
    other = _end(_reject(pb.REJECT_MALFORMED), seqr)
    assert other.again == ((RUN, 5, 5),) and not other.abandon  # not a refusal: asked again
    assert _end(_done(6), _sequencer()) == ReplayEnd((RUN, 4, 6))  # filled: nothing to do
    seqr.observe(1, "r2", False, None)  # the run changed: its gaps are written off already
    assert _end(_reject(pb.REJECT_REPLAY_UNAVAILABLE), seqr) == ReplayEnd((RUN, 4, 6))


def test_sessions_a_writer_ended_to_reconnect_continue_its_context() -> None:
    from recorder.capture.upstream import RECONNECT_REASON as CAPTURE
    from recorder.client.dispatch import RECONNECT_REASON as SDK
    from recorder.journal import Session
    from recorder.replay import _chains

    def session(id_: int, point: str, end: str | None) -> Session:
        return Session(id_, "lx1", point, "p", "", "", "", "h", 7, "", id_ * 10, id_ * 10 + 5, end)

    sessions = [
        session(1, "capture", f"{CAPTURE}: no order message for 3000 ms: reconnecting"),
        session(2, "sdk", f"{SDK}: reconnecting"),
        session(3, "capture", "stopped"),
        session(4, "sdk", None),
        session(5, "capture", None),  # after a clean stop: a new context
    ]
    assert _chains(sessions) == {1: 1, 2: 2, 3: 1, 4: 2, 5: 5}


def test_a_cut_short_replay_asks_again_for_what_its_part_did_not_bring() -> None:
    seqr, replays = _sequencer(3, 4, 5, 6, 7), RangeReplays()
    seqr.observe(4, RUN, True, None)  # the part 3..5 came without 3 and 5
    replays.sent("m", (RUN, 3, 7))
    end = replays.finished("m", _done(5, complete=False), seqr)
    assert end == ReplayEnd((RUN, 3, 5), rest=(RUN, 6, 7), again=((RUN, 3, 3), (RUN, 5, 5)))
    for _ in range(MAX_REPLAY_TRIES - 1):  # asked again as a complete replay's missing seqs are
        replays.sent("m", end.again[0])
        end = replays.finished("m", _done(3), seqr)  # complete, still without 3
    assert end.abandon and end.asked == (RUN, 3, 3)
    assert end.write_off(seqr).effects == (GapClosed(RUN, 3, 3, filled=False),)
    assert seqr.open_gaps == (OpenGap(RUN, 5, 7),)  # asked again, and the rest: still to come
    replays.sent("m", (RUN, 6, 7))
    nothing = replays.finished("m", _done(5, complete=False), seqr)  # cut before its first seq
    assert nothing == ReplayEnd((RUN, 6, 5), rest=(RUN, 6, 7))  # all of it is the rest


def test_a_cut_short_replay_at_its_last_try_writes_off_its_part_only() -> None:
    seqr, replays = _sequencer(3, 4, 5, 6), RangeReplays()
    end = ReplayEnd((RUN, 3, 6), again=((RUN, 3, 6),))
    for _ in range(MAX_REPLAY_TRIES - 1):  # complete, and nothing came
        replays.sent("m", end.again[0])
        end = replays.finished("m", _done(6), seqr)
    assert end.again == ((RUN, 3, 6),)
    replays.sent("m", end.again[0])
    seqr.observe(4, RUN, True, None)
    end = replays.finished("m", _done(4, complete=False), seqr)  # the last try, cut short
    assert end == ReplayEnd((RUN, 3, 4), rest=(RUN, 5, 6), abandon=True)
    assert end.write_off(seqr).effects == (GapClosed(RUN, 3, 3, filled=False),)
    assert seqr.open_gaps == (OpenGap(RUN, 5, 6),)  # the rest's: its replay may bring them
