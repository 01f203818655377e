"""``verify``'s sequence checks: holes are breaks unless replayed or marked unrecoverable."""

from __future__ import annotations

from recorder.core.frames import Channel
from recorder.journal import Journal
from recorder.journal.verify import verify
from recorder.venues.lx.samples import heartbeat_records

RUN = "a" * 32


def _heartbeats(journal: Journal, sid: int, seqs: list[int], *, replay: bool = False) -> None:
    journal.append(heartbeat_records(sid, seqs, run_id=RUN, is_replay=replay))


def test_continuous_stream_verifies(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
    _heartbeats(journal, sid, list(range(1, 50)))
    assert verify(journal).ok


def test_hole_is_a_break_named_by_the_jump_position(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
    _heartbeats(journal, sid, [1, 2, 3, 7, 8])
    report = verify(journal)
    assert not report.ok
    assert report.first_bad_position == 4
    assert "seq 4..6 missing" in report.breaks[0].message


def test_hole_filled_by_replay_verifies(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
    _heartbeats(journal, sid, [1, 2, 3, 7, 8])
    _heartbeats(journal, sid, [4, 5, 6], replay=True)
    report = verify(journal)
    assert report.ok, report.breaks
    assert report.replayed == 3


def test_partly_replayed_hole_names_what_is_left(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
    _heartbeats(journal, sid, [1, 2, 3, 7, 8])
    _heartbeats(journal, sid, [5], replay=True)
    messages = [b.message for b in verify(journal).breaks]
    assert any("seq 4..4" in m for m in messages) and any("seq 6..6" in m for m in messages)


def test_unrecoverable_gap_is_accepted_and_open_gap_is_not(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
    _heartbeats(journal, sid, [1, 2, 3, 7, 8])
    gap = journal.open_gap(
        session_id=sid, channel=Channel.ORDER, run_id=RUN, from_seq=4, to_seq=6, detected_position=4
    )
    report = verify(journal)
    assert not report.ok and report.open_gaps == 1
    journal.update_gap(gap, "unrecoverable", reason="run no longer held by the exchange")
    assert verify(journal).ok


def test_reconnect_session_continues_the_participant_stream(journal: Journal) -> None:
    first = journal.start_session(venue="lx1", capture_point="test", participant="p")
    _heartbeats(journal, first, [1, 2, 3])
    second = journal.start_session(venue="lx1", capture_point="test", participant="p")
    _heartbeats(journal, second, [6, 7])  # 4 and 5 were sent while disconnected
    report = verify(journal)
    assert [b.kind for b in report.breaks] == ["seq"]
    assert "seq 4..5" in report.breaks[0].message


def test_duplicates_are_counted_not_breaks(journal: Journal) -> None:
    sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
    _heartbeats(journal, sid, [1, 2, 2, 3])
    report = verify(journal)
    assert report.ok and report.duplicates == 1
