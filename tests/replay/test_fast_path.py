"""The replayer's inlined hot path against the SDK's own dispatch: with every frame sent the long
way (``Dispatcher.inbound``, the silence poll before each frame) a replay must make the same
calls, with the same ``msg``, ``prev_msg`` and position, as the fast replay — on the demo's
journal and on a simulator journal whose market gaps stay open for the rest of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from calllog import logged
from hypothesis import given
from hypothesis import strategies as st
from recording import Recorded

import recorder.replay
from recorder.core.frames import FrameRecord
from recorder.core.sequencing import Outcome, Recovery, StreamSequencer
from recorder.demo import CLIENT
from recorder.examples.processors import NullProcessor
from recorder.journal import open_journal
from recorder.replay import Replayer
from recorder.replay_lane import Lane
from recorder.sim.faults import FaultKind
from recorder.sim.session import ScheduledFault, Session, SessionConfig
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.records import to_record

BOT = "client-1"


class LongWay(Lane):
    """A lane whose next silence is always due: every frame goes through ``_dispatch``."""

    __slots__ = ()

    @property  # type: ignore[override]
    def bound(self) -> int:
        return 0

    @bound.setter
    def bound(self, value: int) -> None:
        pass


class Where(NullProcessor):
    """Notes the journal position of every handler call; every 7th public report raises."""

    def __init__(self) -> None:
        self.where: list[tuple[int, str]] = []
        self.reports = 0

    def on_call(self, name: str) -> None:
        assert self.context is not None
        self.where.append((self.context.position, name))  # type: ignore[attr-defined]

    def handle_public_report(self, msg: pb.Envelope) -> None:
        super().handle_public_report(msg)
        self.reports += 1
        if self.reports % 7 == 0:
            raise RuntimeError(f"report {self.reports}")

    def handle_handler_error(self, mid: str, error: Exception) -> None:
        self.where.append((-1, f"handler_error {mid} {error}"))


Logged = logged(Where)


def _calls(path: Path, monkeypatch: pytest.MonkeyPatch, long_way: bool) -> tuple[Any, ...]:
    with monkeypatch.context() as m:
        if long_way:
            m.setattr(recorder.replay, "Lane", LongWay)
        bot: Any = Logged()
        with open_journal(path, readonly=True) as journal:
            result = Replayer(journal, bot, client_config=CLIENT).run()
    return bot.calls, bot.where, result.frames, result.handler_errors


def _same_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    fast = _calls(path, monkeypatch, long_way=False)
    slow = _calls(path, monkeypatch, long_way=True)
    assert fast[2] == slow[2] and fast[3] == slow[3] > 0
    assert fast[1] == slow[1]  # positions and handler errors
    assert fast[0] == slow[0]  # msg and prev_msg bytes
    return fast


def test_fast_path_is_the_dispatchers_path_on_the_demo_journal(
    recording: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, _, _, _ = _same_both_ways(recording.path, monkeypatch)
    names = {c[0] for c in calls}
    assert {"handle_action_report", "handle_status_message", "handle_public_report"} <= names


def _sim_journal(path: Path, frames: int) -> None:
    """One bot among makers and takers: dropped order frames (replayed), dropped market frames
    (a market gap open for the rest of the run), exchange restarts, garbage both ways."""
    faults: list[ScheduledFault] = []
    for at in range(300, 6_000, 900):
        faults.append(ScheduledFault(at, FaultKind.DROP_NEXT, BOT, count=3))
        faults.append(ScheduledFault(at + 450, FaultKind.DROP_MARKET, count=2))
        faults.append(ScheduledFault(at + 600, FaultKind.GARBAGE, BOT, count=12))
    # 1 ms heartbeats: silences come and go, each where the frames' clocks put it
    config = SessionConfig(
        seed=11, steps=6_000, contracts=3, clients=1, makers=3, takers=2, client_share=0.3,
        heartbeat_every=50, heartbeat_ms=1, restart_at=(2_500, 4_800), faults=tuple(faults),
        garbage_rate=0.002,
    )  # fmt: skip
    session = Session(config)
    written = 0
    with open_journal(path, durability="fast") as journal:
        sid = journal.start_session(venue="lx1", capture_point="test", participant=BOT)
        while written < frames:
            batch: list[FrameRecord] = [
                to_record(f.data, session_id=sid, channel=f.channel, direction=f.direction,
                          wall_ns=f.wall_ns, mono_ns=f.mono_ns)
                for f in session.step()
                if f.participant in (None, BOT)
            ]  # fmt: skip
            if batch:
                journal.append(batch[: frames - written])
                written += min(len(batch), frames - written)
        journal.end_session(sid, "test journal complete")


def test_fast_path_is_the_dispatchers_path_with_open_market_gaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "sim.journal"
    _sim_journal(path, 15_000)
    calls, _, frames, _ = _same_both_ways(path, monkeypatch)
    assert frames == 15_000
    names = [c[0] for c in calls]
    assert names.count("handle_run_change") >= 2
    assert names.count("handle_protocol_error") >= 1
    assert names.count("handle_exchange_unavailable") > 10
    market_gaps = [c for c in calls if c[0] == "handle_gap" and c[1] == "market"]
    assert market_gaps, "the journal should have market gaps"
    last_gap = calls.index(market_gaps[-1])
    assert names[last_gap:].count("handle_public_report") > 100  # dispatched past an open gap


@given(
    hold=st.booleans(),
    frames=st.lists(
        st.tuples(st.integers(1, 12), st.sampled_from(["a", "b"]), st.booleans()), max_size=40
    ),
)
def test_is_next_is_exactly_when_observe_only_advances(
    hold: bool, frames: list[tuple[int, str, bool]]
) -> None:
    seqr: StreamSequencer[int] = StreamSequencer(Recovery.REPLAY, hold=hold)
    for i, (seq, run, replay) in enumerate(frames):
        gaps, high, run_before = seqr.open_gaps, seqr.high, seqr.run_id
        quick = seqr.is_next(seq, run)
        step = seqr.observe(seq, run, replay, i)
        only_advanced = (
            step.outcome is Outcome.DELIVERED
            and step.deliver == (i,)
            and not step.effects
            and seqr.high == seq == high + 1
            and seqr.run_id == run_before
            and seqr.open_gaps == gaps
        )
        if quick:
            assert only_advanced
        if not hold and run == run_before and seq == high + 1:
            assert quick  # open gaps or not: a stream that does not hold delivers the next seq
