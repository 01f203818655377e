"""The backfill: a participant's history before the session is replayed into the journal a few
chunks at a time, while the live frames flow to the bots (end to end, then the gap filler
alone)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from capture_stack import Stack, build_history, open_stack, sim_config, wait_until
from test_recovery import NEW_RUN, RUN, filler, frame

from recorder.capture import GapFiller, OpenGap, Outcomes, SendRequest, UpdateGap
from recorder.capture.recovery import BACKFILL_WINDOW
from recorder.capture.status import CaptureStatus
from recorder.core.frames import Channel, Direction
from recorder.core.sequencing import REPLAY_CAP
from recorder.journal.verify import verify
from recorder.keys import KeyPair
from recorder.venues.lx import lx1_pb2 as pb

HISTORY = 100_000
"""Forty chunks of 2,500: the service reads them in ~4 s here (~25,000 frames a second)."""
TIMEOUT_MS = 2000
"""The default ``[capture] replay_timeout_ms``: ample for a window of two chunks (~0.2 s here),
too little for the forty sent at once before (their last answer came after ~4 s)."""

BACKFILL_S = 60.0
"""How long the backfill may take on a loaded machine."""


def _backfilled(status: CaptureStatus) -> bool:
    return status.gaps_detected > 0 and status.open_gaps == 0


@pytest.fixture
def long_history(
    tmp_path: Path, exchange_keys: KeyPair, service_keys: KeyPair, participant_keys: KeyPair
) -> Iterator[tuple[Stack, int]]:
    """A capture stack whose participant had ``HISTORY`` messages before the service connected;
    the last seq of that history."""
    history: list[int] = []
    stack = open_stack(
        tmp_path / "backfill.journal",
        exchange=exchange_keys,
        service=service_keys,
        participant=participant_keys,
        sim=sim_config(heartbeat_ms=1000),  # a loaded machine's stall is no upstream loss
        before_capture=lambda sim: history.append(build_history(sim, participant_keys, HISTORY)),
        replay_timeout_ms=TIMEOUT_MS,
    )
    try:
        yield stack, history[0]
    finally:
        for bot in stack.bots:
            bot.close()
        stack.service.stop("test finished")
        stack.sim.stop()
        stack.journal.close()


def test_a_long_history_is_backfilled_without_a_retry_while_live_frames_flow(
    long_history: tuple[Stack, int],
) -> None:
    stack, last = long_history
    bot = stack.bot(market=False)
    bot.ping()  # answered live, behind the backfill in the exchange's stream
    answered_ns = time.time_ns()
    wait_until(lambda: _backfilled(stack.service.status()) or None, timeout=BACKFILL_S)
    stack.stop()

    assert stack.service.liveness.reconnects == 0  # the exchange was never too busy to beat
    gaps = [g for g in stack.journal.gaps() if g.channel == "order"]
    assert [(g.from_seq, g.state) for g in gaps] == [(1, "filled")], gaps[:3]
    gap = gaps[0]
    assert gap.to_seq >= last
    assert gap.closed_wall_ns is not None and gap.closed_wall_ns > answered_ns  # not held
    frames = list(stack.journal.frames())
    asked = [
        pb.Envelope.FromString(f.payload).message_replay
        for f in frames
        if f.kind == "MessageReplay" and f.direction is Direction.OUT
    ]
    chunks = -(-gap.to_seq // REPLAY_CAP)
    assert [(r.from_seq, r.to_seq) for r in asked] == [
        (1 + i * REPLAY_CAP, min((i + 1) * REPLAY_CAP, gap.to_seq)) for i in range(chunks)
    ]  # each chunk once, in order: none timed out
    replayed = {
        f.seq
        for f in frames
        if f.channel is Channel.ORDER and f.direction is Direction.IN and f.is_replay
    }
    assert replayed >= set(range(1, gap.to_seq + 1))
    report = verify(stack.journal)
    assert report.ok, report.breaks


# ---------------------------------------------------------------------- the gap filler, pure

FIRST = 4 * REPLAY_CAP + 1
"""The session's first frame: a history of four chunks before it."""


def _replays(out: Outcomes) -> list[tuple[int, int]]:
    """The ranges of the ``MessageReplay`` requests among ``out``'s actions."""
    return [
        (a.body.from_seq, a.body.to_seq)
        for a in out.actions
        if isinstance(a, SendRequest) and isinstance(a.body, pb.MessageReplay)
    ]


def _mid_of(g: GapFiller, from_seq: int) -> str:
    """The mid of the pending replay from ``from_seq``."""
    (mid,) = [
        mid
        for mid, p in g.pending.items()
        if isinstance(p.body, pb.MessageReplay) and p.body.from_seq == from_seq
    ]
    return mid


def _chunk_done(g: GapFiller, from_seq: int, seq: int, now: int) -> Outcomes:
    """The exchange answers the chunk from ``from_seq``: its frames, then its ReplayDone under
    the live ``seq``; the outcomes of them all."""
    to_seq = from_seq + REPLAY_CAP - 1
    done = pb.ReplayDone(run_id=RUN, from_seq=from_seq, to_seq=to_seq, complete=True)
    answer = [frame(replayed, replay=True) for replayed in range(from_seq, to_seq + 1)]
    answer.append(frame(seq, mid=_mid_of(g, from_seq), body=done))
    outs = [g.on_order((record, ()), 1, now) for record in answer]
    return Outcomes(
        tuple(item for out in outs for item in out.deliver),
        tuple(action for out in outs for action in out.actions),
    )


def _backfilling() -> tuple[GapFiller, Outcomes]:
    g = filler()
    g.start(0)
    g.pending.clear()
    return g, g.on_order((frame(FIRST), (b"A",)), 1, 0)


def test_the_first_frame_is_delivered_and_the_history_asked_a_window_at_a_time() -> None:
    g, out = _backfilling()
    assert [item[0].seq for item in out.deliver] == [FIRST]  # nothing of the history held
    assert _replays(out) == [(1, REPLAY_CAP), (REPLAY_CAP + 1, 2 * REPLAY_CAP)][:BACKFILL_WINDOW]
    gaps = [(a.from_seq, a.to_seq) for a in out.actions if isinstance(a, OpenGap)]
    assert gaps == [(1, FIRST - 1)]
    assert g.order.is_fast(FIRST + 1, RUN)  # the live frames behind it take the fast path
    assert g.is_backfill(frame(FIRST - 1, replay=True)) and not g.is_backfill(frame(FIRST))


def test_the_next_chunk_goes_when_one_is_done_and_is_timed_from_then() -> None:
    g, _ = _backfilling()
    out = _chunk_done(g, 1, FIRST + 1, now=900)
    assert _replays(out) == [(2 * REPLAY_CAP + 1, 3 * REPLAY_CAP)]
    assert _replays(g.tick(1000)) == [(REPLAY_CAP + 1, 2 * REPLAY_CAP)]  # sent at 0: again
    assert _replays(g.tick(1900)) == [(2 * REPLAY_CAP + 1, 3 * REPLAY_CAP)]  # sent at 900
    given_up = g.tick(2000)  # the second chunk's last try: its slot goes to the fourth
    assert _replays(given_up) == [(3 * REPLAY_CAP + 1, 4 * REPLAY_CAP)]
    assert g.open_gaps == 1  # the history's gap waits for its last chunks
    _chunk_done(g, 2 * REPLAY_CAP + 1, FIRST + 2, now=2100)
    end = _chunk_done(g, 3 * REPLAY_CAP + 1, FIRST + 3, now=2200)
    assert [(a.state, a.reason) for a in end.actions if isinstance(a, UpdateGap)] == [
        ("unrecoverable", "replay failed (no answer after 2 tries)")
    ]  # the second chunk's seqs
    assert g.history.open_gaps == () and not g.pending


def test_a_gap_found_live_meanwhile_is_asked_at_once_and_filled_alone() -> None:
    g, _ = _backfilling()
    out = g.on_order((frame(FIRST + 2), (b"A",)), 3, 0)  # FIRST + 1 lost on the way
    assert out.deliver == () and _replays(out) == [(FIRST + 1, FIRST + 1)]  # not queued
    out = g.on_order((frame(FIRST + 1, replay=True), (b"A",)), 4, 0)
    assert [item[0].seq for item in out.deliver] == [FIRST + 1, FIRST + 2]
    assert [a.state for a in out.actions if isinstance(a, UpdateGap)] == ["filled"]
    assert g.open_gaps == 1  # the history's


def test_a_run_change_ends_the_backfill() -> None:
    g, _ = _backfilling()
    out = g.on_order((frame(1, run=NEW_RUN), (b"A",)), 3, 0)
    assert [item[0].seq for item in out.deliver] == [1]
    assert [(a.state, a.reason) for a in out.actions if isinstance(a, UpdateGap)] == [
        ("unrecoverable", "the exchange run changed")
    ]
    assert not g.pending and _replays(g.tick(10_000)) == []  # the chunks not sent never go
