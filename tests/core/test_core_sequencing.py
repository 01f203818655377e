"""Stream sequencing: unit cases and a hypothesis state machine against a set model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from recorder.core.sequencing import (
    GapClosed,
    GapOpened,
    OpenGap,
    Outcome,
    Recovery,
    RequestReplay,
    ResyncBook,
    RunChanged,
    StreamSequencer,
)


def test_in_order_frames_pass_straight_through() -> None:
    s: StreamSequencer[int] = StreamSequencer()
    for seq in range(1, 6):
        step = s.observe(seq, "r", False, seq)
        assert step.outcome is Outcome.DELIVERED
        assert step.deliver == (seq,)
        assert step.effects == ()
    assert s.expected == 6


def test_jump_opens_gap_requests_replay_holds_then_releases_in_order() -> None:
    s: StreamSequencer[int] = StreamSequencer(max_replay=2)
    s.observe(1, "r", False, 1)
    step = s.observe(5, "r", False, 5)
    assert step.outcome is Outcome.HELD
    assert step.effects == (
        GapOpened("r", 2, 4),
        RequestReplay("r", 2, 3),
        RequestReplay("r", 4, 4),
    )
    assert s.observe(6, "r", False, 6).outcome is Outcome.HELD
    assert s.open_gaps == (OpenGap("r", 2, 4),)
    assert s.observe(3, "r", True, 3).outcome is Outcome.HELD  # behind seq 2
    assert s.observe(2, "r", True, 2).deliver == (2, 3)
    last = s.observe(4, "r", True, 4)
    assert last.deliver == (4, 5, 6)
    assert last.effects == (GapClosed("r", 4, 4, filled=True),)
    assert s.expected == 7 and s.held_count == 0


def test_duplicates_are_ignored() -> None:
    s: StreamSequencer[int] = StreamSequencer()
    s.observe(1, "r", False, 1)
    s.observe(2, "r", False, 2)
    assert s.observe(2, "r", False, 2).outcome is Outcome.DUPLICATE
    assert s.observe(1, "r", True, 1).outcome is Outcome.DUPLICATE


def test_abandon_releases_held_frames() -> None:
    s: StreamSequencer[int] = StreamSequencer()
    s.observe(1, "r", False, 1)
    s.observe(4, "r", False, 4)
    step = s.abandon()
    assert step.deliver == (4,)
    assert step.effects == (GapClosed("r", 2, 3, filled=False),)
    assert s.observe(2, "r", True, 2).outcome is Outcome.DUPLICATE  # too late: declared lost


def test_abandon_up_to_keeps_the_rest_of_a_gap_open() -> None:
    s: StreamSequencer[int] = StreamSequencer()
    s.observe(1, "r", False, 1)
    s.observe(10, "r", False, 10)
    step = s.abandon(4)
    assert step.effects == (GapClosed("r", 2, 4, filled=False),)
    assert step.deliver == ()
    assert s.open_gaps == (OpenGap("r", 5, 9),)
    assert s.observe(5, "r", True, 5).deliver == (5,)


def test_abandon_a_range_leaves_the_other_gaps_open() -> None:
    # Two gaps, 2..3 and 6..7, each with its own replay: the second one's replay comes back
    # without its seqs. Only 6..7 is written off (an abandon up to 7 wrote off 2..3 as well);
    # 2..3 still holds 4, 5 and 8, and a late 2 and 3 fill it.
    s: StreamSequencer[int] = StreamSequencer()
    s.observe(1, "r", False, 1)
    s.observe(4, "r", False, 4)
    s.observe(5, "r", False, 5)
    s.observe(8, "r", False, 8)
    step = s.abandon(7, from_seq=6)
    assert step.effects == (GapClosed("r", 6, 7, filled=False),)
    assert step.deliver == ()
    assert s.open_gaps == (OpenGap("r", 2, 3),)
    assert s.observe(2, "r", True, 2).deliver == (2,)
    step = s.observe(3, "r", True, 3)
    assert step.deliver == (3, 4, 5, 8)
    assert [e.filled for e in step.effects if isinstance(e, GapClosed)] == [True]


def test_abandon_a_range_inside_a_gap_splits_it() -> None:
    s: StreamSequencer[int] = StreamSequencer()
    s.observe(1, "r", False, 1)
    s.observe(10, "r", False, 10)
    step = s.abandon(6, from_seq=4)
    assert step.effects == (GapClosed("r", 4, 6, filled=False),)
    assert s.open_gaps == (OpenGap("r", 2, 3), OpenGap("r", 7, 9))
    step = s.abandon(3, from_seq=2)
    assert step.effects == (GapClosed("r", 2, 3, filled=False),)
    assert step.deliver == ()  # 7..9 still holds 10
    assert s.observe(4, "r", True, 4).outcome is Outcome.DUPLICATE  # written off


def test_run_change_resets_to_one_and_releases_old_run() -> None:
    s: StreamSequencer[int] = StreamSequencer()
    s.observe(1, "a", False, 1)
    s.observe(3, "a", False, 3)
    step = s.observe(1, "b", False, 100)
    assert step.deliver == (3, 100)
    assert GapClosed("a", 2, 2, filled=False) in step.effects
    assert RunChanged("a", "b") in step.effects
    assert s.run_id == "b" and s.expected == 2
    assert s.observe(2, "a", True, 2).outcome is Outcome.STALE


def test_market_recovery_is_resync_and_known_view_does_not_hold() -> None:
    s: StreamSequencer[int] = StreamSequencer(Recovery.RESYNC, hold=False)
    s.observe(1, "r", False, 1)
    step = s.observe(4, "r", False, 4)
    assert step.outcome is Outcome.DELIVERED and step.deliver == (4,)
    assert ResyncBook(0) in step.effects


def test_snapshot_restore_round_trip() -> None:
    s: StreamSequencer[int] = StreamSequencer()
    for seq in (1, 2, 6, 9):
        s.observe(seq, "r", False, seq)
    t: StreamSequencer[int] = StreamSequencer()
    t.restore(s.snapshot(lambda x: x), lambda x: int(x))
    for seq in (3, 4, 5, 7, 8):
        assert s.observe(seq, "r", True, seq) == t.observe(seq, "r", True, seq)


class SequencerModel(RuleBasedStateMachine):
    """Observations of one stream against a model of sets: observed, abandoned, delivered."""

    HOLD = True

    def __init__(self) -> None:
        super().__init__()
        self.s: StreamSequencer[tuple[str, int]] = StreamSequencer(hold=self.HOLD, max_replay=3)
        self.runs = 0
        self.run = "run0"
        self.next_live = 1
        self.observed: set[int] = set()
        self.abandoned: set[int] = set()
        self.delivered: list[int] = []

    # ------------------------------------------------------------------ model helpers

    def _high(self) -> int:
        return max(self.observed | self.abandoned, default=0)

    def _missing(self) -> list[int]:
        return sorted(set(range(1, self._high() + 1)) - self.observed - self.abandoned)

    def _check_effects(self, effects: tuple[Any, ...], before_missing: set[int]) -> None:
        new_missing = set(self._missing()) - before_missing
        requested: set[int] = set()
        for e in effects:
            if isinstance(e, RequestReplay):
                assert e.run_id == self.run
                assert 1 <= e.to_seq - e.from_seq + 1 <= 3
                requested |= set(range(e.from_seq, e.to_seq + 1))
        assert requested == new_missing

    def _feed(self, seq: int, replay: bool) -> None:
        before = set(self._missing())
        duplicate = seq in self.observed or seq in self.abandoned
        step = self.s.observe(seq, self.run, replay, (self.run, seq))
        if duplicate:
            assert step.outcome is Outcome.DUPLICATE
            assert step.deliver == ()
            return
        self.observed.add(seq)
        self._check_effects(step.effects, before)
        got = [s for r, s in step.deliver]
        assert all(r == self.run for r, _ in step.deliver)
        self.delivered += got
        if not self.HOLD:
            assert got == [seq]

    # ------------------------------------------------------------------ rules

    @rule()
    def live(self) -> None:
        self.next_live += 1
        self._feed(self.next_live - 1, False)

    @rule()
    def lose(self) -> None:
        self.next_live += 1

    @precondition(lambda self: bool(self._missing()))
    @rule(data=st.data())
    def replay_missing(self, data: st.DataObject) -> None:
        self._feed(data.draw(st.sampled_from(self._missing())), True)

    @precondition(lambda self: bool(self.observed))
    @rule(data=st.data(), replay=st.booleans())
    def duplicate(self, data: st.DataObject, replay: bool) -> None:
        self._feed(data.draw(st.sampled_from(sorted(self.observed))), replay)

    @rule()
    def abandon(self) -> None:
        missing = self._missing()
        step = self.s.abandon()
        self.abandoned |= set(missing)
        assert all(isinstance(e, GapClosed) and not e.filled for e in step.effects)
        self.delivered += [s for _, s in step.deliver]

    @rule(data=st.data())
    def abandon_range(self, data: st.DataObject) -> None:
        high = self._high()
        lo = data.draw(st.integers(1, high + 1))
        hi = data.draw(st.integers(lo - 1, high + 1))
        lost = {s for s in self._missing() if lo <= s <= hi}
        step = self.s.abandon(hi, from_seq=lo)
        self.abandoned |= lost
        closed: set[int] = set()
        for e in step.effects:
            assert isinstance(e, GapClosed) and not e.filled
            closed |= set(range(e.from_seq, e.to_seq + 1))
        assert closed == lost  # that range, and no other missing seq
        self.delivered += [s for _, s in step.deliver]

    @rule(first=st.integers(1, 3))
    def run_change(self, first: int) -> None:
        old, held = self.run, sorted(self.observed - set(self.delivered))
        started = self.s.run_id == old  # the sequencer has seen the old run
        self.runs += 1
        self.run = f"run{self.runs}"
        step = self.s.observe(first, self.run, False, (self.run, first))
        old_part = [s for r, s in step.deliver if r == old]
        assert old_part == (held if self.HOLD else [])
        assert (RunChanged(old, self.run) in step.effects) == started
        self.next_live = first + 1
        self.observed, self.abandoned, self.delivered = {first}, set(), []
        self.delivered = [s for r, s in step.deliver if r == self.run]
        assert self.s.observe(1, old, True, (old, 1)).outcome is Outcome.STALE

    # ------------------------------------------------------------------ invariants

    @invariant()
    def gaps_are_the_missing_ranges(self) -> None:
        ranges: list[tuple[int, int]] = []
        for seq in self._missing():
            if ranges and ranges[-1][1] == seq - 1:
                ranges[-1] = (ranges[-1][0], seq)
            else:
                ranges.append((seq, seq))
        assert [(g.from_seq, g.to_seq) for g in self.s.open_gaps] == ranges
        assert self.s.expected == (ranges[0][0] if ranges else self._high() + 1)

    @invariant()
    def delivery_is_exactly_once_and_in_order_when_holding(self) -> None:
        assert len(self.delivered) == len(set(self.delivered))
        if self.HOLD:
            assert self.delivered == sorted(self.delivered)
            missing = self._missing()
            ready = {s for s in self.observed if not missing or s < missing[0]}
            assert set(self.delivered) == ready
            assert self.s.held_count == len(self.observed - ready)
        else:
            assert set(self.delivered) == self.observed
            assert self.s.held_count == 0


class KnownSequencerModel(SequencerModel):
    """The same model with ``hold=False`` (the as-known view)."""

    HOLD = False


TestSequencerModel = SequencerModel.TestCase
TestSequencerModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestKnownSequencerModel = KnownSequencerModel.TestCase
TestKnownSequencerModel.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)


@pytest.mark.parametrize("hold", [True, False])
def test_replay_chunks_respect_cap(hold: bool) -> None:
    s: StreamSequencer[int] = StreamSequencer(hold=hold)
    s.observe(1, "r", False, 1)
    effects = s.observe(6000, "r", False, 6000).effects
    chunks = [e for e in effects if isinstance(e, RequestReplay)]
    assert [(c.from_seq, c.to_seq) for c in chunks] == [(2, 2501), (2502, 5001), (5002, 5999)]
