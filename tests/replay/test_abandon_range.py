"""A range replay the SDK gives up writes off its own range only, live and in replay.

Two order-channel gaps, each one dropped heartbeat: the first gap's ``MessageReplay`` is lost on
the way (the MID store resends it after ``ack_timeout_ms``); every replayed copy of the second
gap's seq is lost, so its three replays come back complete without it and the SDK writes it off
(``MAX_REPLAY_TRIES``). Giving up that range wrote off everything up to its last seq, the first
gap too, whose own replay was still to come: the seq it brought was then a duplicate, never
handed to the bot, and the ledger said ``unrecoverable``. The replay of the journal
(:class:`~recorder.replay_lane.Lane`) decides as the live :class:`~recorder.client.recovery.GapBook`
did and had the same over-reach. One pure test pins the decision itself
(:meth:`~recorder.client.recovery.ReplayEnd.write_off`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from calllog import Call, without_silence_ms
from lost_seqs import Logged, calls_of, named, quiet_sdk, replayed_calls
from waiting import until

from recorder.client.recovery import MAX_REPLAY_TRIES, RangeReplays
from recorder.core.sequencing import GapClosed, OpenGap, Recovery, StreamSequencer
from recorder.journal import open_journal
from recorder.sim.faults import FaultKind
from recorder.venues.lx import lx1_pb2 as pb


def test_a_range_given_up_leaves_a_lower_gap_open() -> None:
    seqr: StreamSequencer[None] = StreamSequencer(Recovery.REPLAY, hold=False)
    for seq in (1, 3, 5):
        seqr.observe(seq, "r", False, None)  # gaps 2 and 4, each with its own replay
    replays = RangeReplays()
    done = pb.Envelope(mid="m", replay_done=pb.ReplayDone(to_seq=4, complete=True))
    for _ in range(MAX_REPLAY_TRIES):
        replays.sent("m", ("r", 4, 4))
        end = replays.finished("m", done, seqr)  # complete, without 4
    assert end.abandon
    assert end.write_off(seqr).effects == (GapClosed("r", 4, 4, filled=False),)
    assert seqr.open_gaps == (OpenGap("r", 2, 2),)  # gap 2's replay may still bring it


@dataclass(frozen=True)
class Scenario:
    """The journal, the live bot's calls, and the two gaps' seqs (lower first)."""

    journal: Path
    live_calls: list[Call]
    pending: int
    """The gap whose replay was lost and resent."""
    given_up: int
    """The gap whose replayed copies were all lost."""


def _got_replayed(calls: list[Call], seq: int) -> bool:
    """True when the bot was handed the replayed heartbeat ``seq``."""
    beats = (pb.Envelope.FromString(c[1]) for c in named(calls, "handle_heartbeat"))
    return any(b.is_replay and b.seq == seq for b in beats)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    journal = tmp_path_factory.mktemp("abandon") / "sdk.journal"
    live = Logged()
    with quiet_sdk(journal, live) as (server, plan, who, _):

        def arm_first() -> None:
            plan.drop_next(who, 1)  # a heartbeat: the first gap ...
            plan.drop_requests(who, 1)  # ... whose MessageReplay is lost

        server.call(arm_first)
        assert until(lambda: any(e.kind is FaultKind.DROP_REQUESTS for e in plan.events))
        server.call(lambda: plan.drop_for_good(who))  # another heartbeat: the second gap
        # the second gap's three replays, then the first gap's, resent
        assert until(lambda: len(named(calls_of(live), "handle_replay_done")) == 4)
    calls = calls_of(live)
    gaps = [c[3:5] for c in named(calls, "handle_gap")]
    low, (high,) = gaps[0][0], plan.lost
    assert gaps == [(low, low), (high, high)] and low < high
    yield Scenario(journal, calls, low, high)


def test_the_sdk_writes_off_only_the_range_it_gave_up(scenario: Scenario) -> None:
    low, high = scenario.pending, scenario.given_up
    with open_journal(scenario.journal, readonly=True) as journal:
        rows = list(journal.rows())
        gaps = [(g.from_seq, g.to_seq, g.state) for g in journal.gaps()]
    bodies = [(r[3], pb.Envelope.FromString(r[12])) for r in rows if r[2] == "order"]
    asked = [e.message_replay.from_seq for _, e in bodies if e.HasField("message_replay")]
    done = [e.replay_done.from_seq for d, e in bodies if d == "in" and e.HasField("replay_done")]
    assert asked == [low, high, high, high, low]  # the lost request, resent last
    assert done == [high, high, high, low]  # the first gap's replay was still to come
    assert gaps == [(low, low, "filled"), (high, high, "unrecoverable")]
    assert _got_replayed(scenario.live_calls, low), "the first gap's seq never reached the bot"


def test_the_replay_writes_off_only_the_range_the_sdk_gave_up(scenario: Scenario) -> None:
    calls = replayed_calls(scenario.journal)
    assert _got_replayed(calls, scenario.pending), "the replay dropped the first gap's seq"
    assert calls == without_silence_ms(scenario.live_calls)
