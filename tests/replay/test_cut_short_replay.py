"""What a cut-short range replay did not bring is asked again, then written off — live and in
replay.

A ``ReplayDone{complete=false}`` (the exchange's cap cut the ``MessageReplay`` short) asked only
for the rest: a seq of the part that did come, whose replayed copy was lost on the way, was never
asked again nor written off, so its gap stayed open and the context never finished reconciling.
Now the part's missing seqs are decided as a complete replay's are (asked again,
``MAX_REPLAY_TRIES`` in all, then that part's range written off), while the rest is asked at once.
Over the simulator (cap 3): one gap of five dropped heartbeats, every replayed copy of its first
seq lost until the SDK wrote it off; the bot then asks for that seq itself and it comes, a
duplicate the bot is not handed. The replay of the journal (:class:`~recorder.replay_lane.Lane`)
must decide the same: a lane that never wrote the seq off hands the bot that late copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from calllog import Call, without_silence_ms
from lost_seqs import Logged, calls_of, named, quiet_sdk, replayed_calls
from waiting import until

from recorder.client import Commands
from recorder.client.reconcile import ReconcileReport
from recorder.client.recovery import MAX_REPLAY_TRIES
from recorder.core.recovery import Trigger
from recorder.journal import open_journal
from recorder.venues.lx import lx1_pb2 as pb

WAIT = 10.0
LOOPBACK = "tcp://127.0.0.1:*"
CAP = 3
"""The simulator's replay cap: a gap of five seqs takes two ``MessageReplay``."""
DROPPED = 5
REPLAYS = 2 + MAX_REPLAY_TRIES - 1
"""The SDK's: the gap's, cut short; its rest; the lost seq asked again."""


class Reconciling(Logged):
    """The logged processor, and the reports of its reconciliations (not in ``calls``: the
    replay does not reconcile)."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: list[ReconcileReport] = []

    def handle_reconciled(self, report: ReconcileReport) -> None:
        self.reports.append(report)


@dataclass(frozen=True)
class Scenario:
    """The journal, the live bot's calls, and the gap's seqs."""

    journal: Path
    live_calls: list[Call]
    gap: tuple[int, int]
    lost: int
    """The seq whose replayed copies were all lost (the gap's first: in the part that came)."""


def _replayed(calls: list[Call]) -> list[int]:
    """The seqs of the replayed heartbeats the bot was handed."""
    beats = (pb.Envelope.FromString(c[1]) for c in named(calls, "handle_heartbeat"))
    return [b.seq for b in beats if b.is_replay]


def _reconciled_gap(processor: Reconciling) -> bool:
    return any(r.trigger is Trigger.GAP for r in list(processor.reports))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    journal = tmp_path_factory.mktemp("cut") / "sdk.journal"
    live = Reconciling()
    with quiet_sdk(journal, live, replay_cap=CAP) as (server, plan, who, context):

        def arm() -> None:
            plan.drop_for_good(who)  # the gap's first heartbeat, and its replayed copies
            plan.drop_next(who, DROPPED - 1)  # the four after it

        server.call(arm)
        assert until(lambda: plan.lost)
        (plan_lost,) = plan.lost
        assert until(lambda: _reconciled_gap(live)), "the gap's recovery never finished"
        server.call(plan.lost.clear)  # the lost seq's replayed copies go through now
        Commands(context).message_replay(context.run_id, plan_lost, plan_lost)
        assert until(lambda: len(named(calls_of(live), "handle_replay_done")) == REPLAYS + 1)
    calls = calls_of(live)
    gaps = [c[3:5] for c in named(calls, "handle_gap")]
    assert len(gaps) == 1 and gaps[0][1] - gaps[0][0] == DROPPED - 1
    yield Scenario(journal, calls, gaps[0], plan_lost)


def test_the_sdk_asks_again_for_what_a_cut_short_replay_did_not_bring(
    scenario: Scenario,
) -> None:
    (low, high), lost = scenario.gap, scenario.lost
    assert lost == low
    with open_journal(scenario.journal, readonly=True) as journal:
        rows = list(journal.rows())
        gaps = [(g.from_seq, g.to_seq, g.state) for g in journal.gaps()]
    bodies = [(r[3], pb.Envelope.FromString(r[12])) for r in rows if r[2] == "order"]
    asked = [
        (e.message_replay.from_seq, e.message_replay.to_seq)
        for _, e in bodies
        if e.HasField("message_replay")
    ]
    done = [
        (e.replay_done.from_seq, e.replay_done.to_seq, e.replay_done.complete)
        for d, e in bodies
        if d == "in" and e.HasField("replay_done")
    ]
    cut = low + CAP - 1
    again = [(low, low)] * (MAX_REPLAY_TRIES - 1)
    late = [(low, low)]  # the bot's own, after the write-off
    assert asked == [(low, high), (cut + 1, high), *again, *late]  # the rest; the lost seq again
    assert done == [
        (low, cut, False),
        (cut + 1, high, True),
        *[(low, low, True)] * len(again + late),
    ]
    assert gaps == [(low, high, "unrecoverable")]  # its first seq written off, the rest filled
    assert _replayed(scenario.live_calls) == list(range(low + 1, high + 1))  # the late one: no


def test_the_replay_decides_as_the_sdk_did_after_a_cut_short_replay(scenario: Scenario) -> None:
    assert replayed_calls(scenario.journal) == without_silence_ms(scenario.live_calls)
