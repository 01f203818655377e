"""The replayer: live call sequence reproduced exactly, determinism, windows, state at each
step, pacing, collected commands, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from calllog import comparable, logged, without_silence_ms
from click.testing import CliRunner
from recording import Recorded

from recorder.cli import main
from recorder.client import Commands, MessageProcessor
from recorder.core.state import View
from recorder.demo import CLIENT
from recorder.examples.market_maker import MarketMaker
from recorder.examples.processors import CallCounter
from recorder.journal import open_journal
from recorder.projection import project
from recorder.replay import Replayer, ReplayError, load_processor
from recorder.venues.lx import lx1_pb2 as pb

LoggedMaker = logged(MarketMaker)


class Positioned(CallCounter):
    """Logs ``(position, handler, args...)``: which frame each call came from."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []

    def _log(self, name: str, *args: Any) -> None:
        assert self.context is not None
        self.calls.append((self.context.position, name, *(comparable(a) for a in args)))  # type: ignore[attr-defined]

    def handle_action_report(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._log("action_report", msg, prev_msg)

    def handle_status_message(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._log("status", msg, prev_msg)

    def handle_book_top(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._log("book_top", msg)

    def handle_public_report(self, msg: pb.Envelope) -> None:
        self._log("public_report", msg)

    def handle_run_change(self, run_id: str, prev_run_id: str) -> None:
        self._log("run_change", run_id, prev_run_id)

    def handle_gap(self, channel: Any, run_id: str, from_seq: int, to_seq: int) -> None:
        self._log("gap", channel, run_id, from_seq, to_seq)

    def handle_exchange_unavailable(self, channel: Any, silent_ms: int) -> None:
        self._log("unavailable", channel, silent_ms)

    def handle_exchange_available(self, channel: Any) -> None:
        self._log("available", channel)


def _replay(path: Path, processor: MessageProcessor, **options: Any) -> Any:
    with open_journal(path, readonly=True) as journal:
        return Replayer(journal, processor, client_config=CLIENT, **options).run()


def test_replay_reproduces_the_live_handler_calls(recording: Recorded) -> None:
    live = without_silence_ms(recording.live_calls)
    names = {call[0] for call in live}
    # the session is worth comparing: an outage, a recovered gap and a run change are in it
    wanted = {"handle_exchange_unavailable", "handle_gap", "handle_run_change"}
    wanted |= {"handle_replay_done", "handle_action_report", "handle_public_report"}
    assert wanted <= names
    bot = LoggedMaker()
    result = _replay(recording.path, bot)
    replayed = without_silence_ms(bot.calls)  # type: ignore[attr-defined]
    assert replayed == live
    assert result.handler_errors == 0


def test_two_replays_make_identical_calls(recording: Recorded) -> None:
    first, second = LoggedMaker(), LoggedMaker()
    _replay(recording.path, first)
    _replay(recording.path, second)
    assert first.calls == second.calls  # type: ignore[attr-defined]
    assert len(first.calls) > 1000  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def full(recording: Recorded) -> list[tuple[Any, ...]]:
    processor = Positioned()
    _replay(recording.path, processor)
    return processor.calls


def test_stop_at_a_position_or_a_time(recording: Recorded, full: list[tuple[Any, ...]]) -> None:
    with open_journal(recording.path, readonly=True) as journal:
        head = journal.head_position()
        stop = head // 2
        wall = next(journal.rows(stop, stop + 1))[4]
        by_time = journal.position_at(wall)
    processor = Positioned()
    result = _replay(recording.path, processor, stop=stop)
    assert result.last_position == stop and result.frames == stop
    assert processor.calls == [c for c in full if c[0] <= stop]
    timed = Positioned()
    result = _replay(recording.path, timed, until=wall)
    assert result.last_position == by_time >= stop
    assert timed.calls == [c for c in full if c[0] <= by_time]


def test_a_window_sees_what_the_live_bot_saw_in_it(
    recording: Recorded, full: list[tuple[Any, ...]]
) -> None:
    with open_journal(recording.path, readonly=True) as journal:
        start = journal.head_position() // 3
        since = next(journal.rows(start, start + 1))[4]
        first_at_since = journal.position_at(since - 1) + 1
    processor = Positioned()
    result = _replay(recording.path, processor, start=start)
    assert result.first_position == start
    assert processor.calls == [c for c in full if c[0] >= start]  # prev_msg included
    timed = Positioned()
    _replay(recording.path, timed, since=since)
    assert timed.calls == [c for c in full if c[0] >= first_at_since]


def test_one_session(recording: Recorded, full: list[tuple[Any, ...]]) -> None:
    with open_journal(recording.path, readonly=True) as journal:
        sessions = journal.sessions()
        second = {r[0] for r in journal.rows() if r[1] == sessions[1].id}
    assert len(sessions) == 2  # the reconnect after the outage
    processor = Positioned()
    result = _replay(recording.path, processor, session_id=sessions[1].id)
    assert result.frames == len(second)
    assert processor.calls == [c for c in full if c[0] in second]
    with open_journal(recording.path, readonly=True) as journal, pytest.raises(ReplayError):
        Replayer(journal, Positioned(), session_id=999)


class StateChecker(CallCounter):
    """Reads the projector's state at every private report."""

    def __init__(self) -> None:
        super().__init__()
        self.digests: list[tuple[int, str, int]] = []

    def handle_action_report(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        replayer: Any = self.context
        state = replayer.state()
        self.digests.append((replayer.position, state.digest(), len(state.fills)))


def test_projector_state_is_available_at_each_step(recording: Recorded) -> None:
    checker = StateChecker()
    _replay(recording.path, checker)
    assert len(checker.digests) > 20
    fills = [n for _, _, n in checker.digests]
    assert fills == sorted(fills) and fills[-1] > 0
    for position, digest, _ in checker.digests[:: max(1, len(checker.digests) // 5)]:
        assert project(recording.path, position=position).digest() == digest
    with open_journal(recording.path, readonly=True) as journal:
        replayer = Replayer(journal, CallCounter(), client_config=CLIENT)
        for position in replayer.steps():
            if position == 100:
                known = replayer.state(View.KNOWN)
                assert known.position == 100
                assert known.digest() == project(journal, position=100, view="known").digest()
                break


def test_speed_paces_by_the_recorded_clock(recording: Recorded) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with open_journal(recording.path, readonly=True) as journal:
        rows = list(journal.rows(1, 301))
        span = (rows[-1][4] - rows[0][4]) / 1e9
        Replayer(
            journal, CallCounter(), stop=300, speed=10, sleep=sleep, clock=lambda: now[0]
        ).run()
    assert now[0] == pytest.approx(span / 10, rel=1e-6)
    with open_journal(recording.path, readonly=True) as journal, pytest.raises(ReplayError):
        Replayer(journal, CallCounter(), speed=0)


def test_commands_of_a_replayed_bot_are_collected_not_sent(recording: Recorded) -> None:
    bot = MarketMaker()
    result = _replay(recording.path, bot)
    assert result.submitted and all(item.sent is None for item in result.submitted)
    kinds = {item.kind for item in result.submitted}
    assert "LimitOrder" in kinds
    assert isinstance(Commands(bot.context), Commands)  # type: ignore[arg-type]


def test_load_processor() -> None:
    assert load_processor("recorder.examples.market_maker:MarketMaker") is MarketMaker
    for bad in ("nonsense", "recorder.nope:X", "recorder.replay:Replayer"):
        with pytest.raises(ReplayError):
            load_processor(bad)


def test_cli_replay(recording: Recorded, tmp_path: Path) -> None:
    runner = CliRunner()
    into = "recorder.examples.market_maker:MarketMaker"
    result = runner.invoke(
        main, ["replay", "--journal", str(recording.path), "--into", into, "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["processor"] == "MarketMaker" and summary["handler_errors"] == 0
    with open_journal(recording.path, readonly=True) as journal:
        head = journal.head_position()
    assert summary["frames"] == head == summary["last_position"]
    result = runner.invoke(
        main, ["replay", "--journal", str(recording.path), "--stop", "500", "--state"]
    )
    assert result.exit_code == 0, result.output
    assert "replayed 500 frames" in result.output and "handle_public_report" in result.output
    assert project(recording.path, position=500).digest()[:16] in result.output
    result = runner.invoke(main, ["replay", "--journal", str(recording.path), "--into", "x:Y"])
    assert result.exit_code == 1 and "cannot import" in result.output
