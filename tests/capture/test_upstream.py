"""The upstream watch and the gap filler's reconnection, pure: counts in, reconnections out."""

from __future__ import annotations

import itertools

import pytest

from recorder.capture import GapFiller, SendRequest
from recorder.capture.recovery import Purpose
from recorder.capture.upstream import (
    RECONNECT_REASON,
    Reconnect,
    Restored,
    UpstreamState,
    UpstreamWatch,
)
from recorder.config import CaptureConfig
from recorder.core.frames import Channel, Direction, FrameRecord
from recorder.errors import ConfigError
from recorder.venues.lx import lx1_pb2 as pb

MS = 1_000_000
RUN = "ab" * 16


def test_frames_every_interval_never_reconnect() -> None:
    watch = UpstreamWatch(100, 3, 1000, 0)
    for tick in range(1, 200):  # 50 ms ticks, a frame on each channel every other tick
        assert watch.tick(tick * 50 * MS, tick // 2, tick // 2) is None
    assert (watch.state, watch.reconnects) == (UpstreamState.CONNECTED, 0)


def test_a_silent_order_channel_reconnects_then_backs_off_until_it_talks() -> None:
    watch = UpstreamWatch(100, 3, 1000, 0)
    market = itertools.count(1)
    assert watch.tick(250 * MS, 0, next(market)) is None
    first = watch.tick(300 * MS, 0, next(market))
    assert isinstance(first, Reconnect) and first.attempt == 1
    assert first.reason == f"{RECONNECT_REASON}: no order message for 300 ms: reconnecting"
    assert watch.state is UpstreamState.SILENT
    # still silent: the next attempts come 300, 600, then (capped) 1000 ms after the last
    attempts = []
    for now in range(350, 3000, 50):
        change = watch.tick(now * MS, 0, next(market))
        if change is not None:
            assert isinstance(change, Reconnect)
            attempts.append((now, change.attempt))
    assert attempts == [(600, 2), (1200, 3), (2200, 4)]
    fifth = watch.tick(3200 * MS, 0, next(market))
    assert isinstance(fifth, Reconnect)
    assert "still no order message 1000 ms after reconnection 4" in fifth.reason
    back = watch.tick(3250 * MS, 1, next(market))
    assert back == Restored(5, 3250 - 0)
    assert (watch.state, watch.reconnects) == (UpstreamState.CONNECTED, 5)
    # connected again: the backoff starts over
    again = watch.tick(3550 * MS, 1, next(market))
    assert isinstance(again, Reconnect) and again.attempt == 1


def test_both_channels_must_talk_again() -> None:
    watch = UpstreamWatch(100, 3, 1000, 0)
    change = watch.tick(300 * MS, 0, 0)
    assert isinstance(change, Reconnect) and "no order and market message" in change.reason
    assert watch.tick(350 * MS, 1, 0) is None  # the market channel is still silent
    assert isinstance(watch.tick(400 * MS, 2, 1), Restored)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"heartbeat_ms": 0}, "[capture] heartbeat_ms must be a positive integer, not 0"),
        ({"heartbeat_factor": -1}, "[capture] heartbeat_factor must be a positive integer"),
        (
            {"heartbeat_ms": 1000, "reconnect_backoff_cap_ms": 2000},
            "reconnect_backoff_cap_ms (2000) must be at least heartbeat_ms x heartbeat_factor",
        ),
    ],
)
def test_bad_reconnect_settings_are_refused(values: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        CaptureConfig(**values)  # type: ignore[arg-type]
    assert message in str(info.value)


def _reply(mid: str, body: pb.ReplayDone | pb.Status, seq: int) -> FrameRecord:
    envelope = pb.Envelope(mid=mid, seq=seq, run_id=RUN, mversion="1.0")
    field = "replay_done" if isinstance(body, pb.ReplayDone) else "status"
    getattr(envelope, field).CopyFrom(body)
    return FrameRecord(1, Channel.ORDER, Direction.IN, 0, 0, RUN, seq, mid, type(body).__name__,
                       False, 0, envelope.SerializeToString())  # fmt: skip


def test_a_reconnection_asks_contracts_and_again_what_was_pending() -> None:
    counter = itertools.count(1)
    g = GapFiller(lambda: f"{next(counter):032x}", timeout_ns=1000, max_attempts=2)
    g.start(0)
    g.pending.clear()
    heartbeat = FrameRecord(1, Channel.ORDER, Direction.IN, 0, 0, RUN, 1, "", "Heartbeat",
                            False, 0, b"")  # fmt: skip
    g.on_order((heartbeat, ()), 1, 0)
    gap = g.on_order((heartbeat._replace(seq=5), ()), 2, 0)
    (old,) = [a for a in gap.actions if isinstance(a, SendRequest)]
    out = g.reconnected(500)
    asked = [a for a in out.actions if isinstance(a, SendRequest)]
    assert [type(a.body) for a in asked] == [pb.GetContracts, pb.MessageReplay]
    assert asked[1].body == old.body and asked[1].mid != old.mid
    assert old.mid not in g.pending
    assert g.pending[asked[1].mid].attempts == 1  # the connection failed, not the request
    assert g.pending[asked[0].mid].purpose is Purpose.CONTRACTS
    # the old mid's answer, should it come, is no longer awaited; the new one's fills the gap
    assert g.on_in_order(_reply(old.mid, pb.ReplayDone(complete=True), 6), 0).actions == ()
    assert g.open_gaps == 1


def test_the_watch_follows_the_interval_the_exchange_announces() -> None:
    watch = UpstreamWatch(10_000, 3, 60_000, 0)  # 30 s of silence until told otherwise
    assert watch.tick(50 * MS, 1, 1) is None and watch.heartbeat_ms == 10_000
    assert watch.tick(100 * MS, 1, 1, interval_ms=100) is None  # a heartbeat: every 100 ms
    assert watch.heartbeat_ms == 100
    change = watch.tick(350 * MS, 1, 1, interval_ms=100)
    assert isinstance(change, Reconnect)
    assert (
        change.reason == f"{RECONNECT_REASON}: no order and market message for 300 ms: reconnecting"
    )


def test_the_filler_reads_the_interval_of_in_order_heartbeats() -> None:
    g = GapFiller(lambda: "0" * 32)
    beat = pb.Envelope(seq=1, run_id=RUN, mversion="1.0", heartbeat=pb.Heartbeat(interval_ms=250))
    record = FrameRecord(1, Channel.ORDER, Direction.IN, 0, 0, RUN, 1, "", "Heartbeat", False, 0,
                         beat.SerializeToString())  # fmt: skip
    assert g.heartbeat_ms == 0 and g.concerns(record)
    g.on_in_order(record, 0)
    assert g.heartbeat_ms == 250
