"""The in-flight MID tracker (S1/S2/S3): unit cases and a hypothesis model of the resend timer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.core.mids import (
    FINAL_REPLIES,
    Acked,
    Finished,
    FinishReason,
    MidState,
    MidTracker,
    Reply,
    ReplyKind,
    Resend,
)

MS = 1_000_000


def tracker() -> MidTracker:
    return MidTracker(100 * MS, 400 * MS)


def ack(mid: str, run: str = "r1") -> Reply:
    return Reply(ReplyKind.ACK, mid, run)


def report(mid: str, size: int, entry: str | None = None) -> Reply:
    return Reply(ReplyKind.REPORT, mid, "r1", entry if entry is not None else mid, size)


def test_s1_resends_with_capped_exponential_backoff_until_acked() -> None:
    t = tracker()
    t.sent("a", "LimitOrder", 0)
    assert t.state("a") is MidState.AWAITING_ACK
    assert t.next_deadline() == 100 * MS
    assert t.poll(99 * MS) == ()
    assert t.poll(100 * MS) == (Resend("a", 1),)
    assert t.next_deadline() == 300 * MS  # 100 + 200
    assert t.poll(300 * MS) == (Resend("a", 2),)
    assert t.next_deadline() == 700 * MS  # + 400 (the cap)
    assert t.poll(700 * MS) == (Resend("a", 3),)
    assert t.next_deadline() == 1100 * MS  # still the cap
    assert t.on_reply(ack("a"), 800 * MS) == (Acked("a", "r1"),)
    assert t.next_deadline() is None and t.poll(10_000 * MS) == ()
    assert t.attempts("a") == 3


def test_a_report_without_the_ack_does_not_end_s1() -> None:
    t = tracker()
    t.sent("a", "LimitOrder", 0)
    assert t.on_reply(report("a", 5), 1) == ()
    assert t.state("a") is MidState.AWAITING_ACK
    assert t.poll(100 * MS) == (Resend("a", 1),)


def test_s2_trade_request_stays_in_flight_until_size_zero() -> None:
    t = tracker()
    t.sent("a", "LimitOrder", 0)
    t.on_reply(ack("a"), 1)
    assert t.state("a") is MidState.ACKED and t.awaiting_final() == ["a"]
    assert t.on_reply(report("a", 3), 2) == ()
    assert t.on_reply(report("a", 0), 3) == (Finished("a", FinishReason.SIZE_ZERO),)
    assert t.state("a") is None and len(t) == 0


def test_final_reply_ends_even_without_ack_and_reject_is_final() -> None:
    t = tracker()
    t.sent("a", "GetBookState", 0)
    assert t.on_reply(Reply(ReplyKind.SNAPSHOT, "a"), 1) == (
        Finished("a", FinishReason.FINAL_REPLY),
    )
    t.sent("b", "LimitOrder", 0)
    assert t.on_reply(Reply(ReplyKind.REJECT, "b"), 1) == (Finished("b", FinishReason.REJECTED),)
    assert t.next_deadline() is None


@pytest.mark.parametrize("kind", sorted(FINAL_REPLIES))
def test_every_request_kind_has_a_way_to_finish(kind: str) -> None:
    t = tracker()
    t.sent("a", kind, 0)
    t.on_reply(ack("a"), 1)
    finals = FINAL_REPLIES[kind] or {ReplyKind.REPORT}
    reply_kind = sorted(finals, key=lambda k: k.value)[0]
    t.on_reply(Reply(reply_kind, "a", "r1", "a", 0), 2)
    assert t.state("a") is None


def test_cancel_report_releases_the_cancelled_order_too() -> None:
    t = tracker()
    t.sent("order", "LimitOrder", 0)
    t.on_reply(ack("order"), 1)
    t.sent("cancel", "CancelOrder", 2)
    t.on_reply(ack("cancel"), 3)
    effects = t.on_reply(report("cancel", 0, entry="order"), 4)
    assert set(effects) == {
        Finished("order", FinishReason.SIZE_ZERO),
        Finished("cancel", FinishReason.FINAL_REPLY),
    }


def test_cancel_replace_is_not_finished_by_the_old_entry_report() -> None:
    t = tracker()
    t.sent("old", "LimitOrder", 0)
    t.on_reply(ack("old"), 1)
    t.sent("new", "CancelReplace", 2)
    t.on_reply(ack("new"), 3)
    assert t.on_reply(report("new", 0, entry="old"), 4) == (
        Finished("old", FinishReason.SIZE_ZERO),
    )
    assert t.state("new") is MidState.ACKED


def test_batch_children_follow_batch_acks_and_a_rejected_batch_finishes_them() -> None:
    t = tracker()
    t.sent("b", "Batch", 0, children=[("x", "LimitOrder"), ("y", "CancelOrder")])
    assert t.next_deadline() == 100 * MS  # one timer: the batch's
    t.on_reply(ack("b"), 1)
    effects = t.on_reply(
        Reply(ReplyKind.BATCH_ACKS, "b", "r1", batch=(("x", True), ("y", False))), 2
    )
    assert effects == (
        Acked("x", "r1"),
        Finished("y", FinishReason.REJECTED),
        Finished("b", FinishReason.FINAL_REPLY),
    )
    assert t.in_flight() == ["x"]
    t.sent("c", "Batch", 3, children=[("z", "LimitOrder")])
    assert t.on_reply(Reply(ReplyKind.REJECT, "c"), 4) == (
        Finished("c", FinishReason.REJECTED),
        Finished("z", FinishReason.BATCH_REJECTED),
    )


def test_run_change_releases_what_was_acked_in_the_old_run_only() -> None:
    t = tracker()
    t.sent("old", "LimitOrder", 0)
    t.on_reply(ack("old", "r1"), 1)
    t.sent("pending", "LimitOrder", 2)
    assert t.release_run("r1") == (Finished("old", FinishReason.RUN_CHANGE),)
    assert t.state("pending") is MidState.AWAITING_ACK  # a resend runs in the new run


def test_misuse_is_refused() -> None:
    t = tracker()
    t.sent("a", "LimitOrder", 0)
    with pytest.raises(ValueError, match="already in flight"):
        t.sent("a", "LimitOrder", 1)
    with pytest.raises(ValueError, match="request kind"):
        t.sent("b", "Heartbeat", 1)
    with pytest.raises(ValueError):
        MidTracker(0, 1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 500), st.booleans()), min_size=1, max_size=40
    )
)
def test_resends_happen_only_for_unacked_mids_and_never_early(
    steps: list[tuple[int, int, bool]],
) -> None:
    """Model: a mid is resent at most once per poll, only while unacked, never before its
    deadline, and each wait is ack_timeout * 2^n capped at backoff_cap."""
    t = tracker()
    mids = [f"m{i}" for i in range(4)]
    now = 0
    deadline: dict[str, int] = {}
    acked: set[str] = set()
    for m in mids:
        t.sent(m, "GetContracts", now)
        deadline[m] = now + 100 * MS
    attempts = dict.fromkeys(mids, 0)
    for index, advance_ms, do_ack in steps:
        now += advance_ms * MS
        mid = mids[index]
        if do_ack and mid not in acked:
            t.on_reply(ack(mid), now)
            acked.add(mid)
        resent = t.poll(now)
        assert len({r.mid for r in resent}) == len(resent)
        for r in resent:
            assert r.mid not in acked and deadline[r.mid] <= now
            attempts[r.mid] += 1
            assert r.attempt == attempts[r.mid]
            deadline[r.mid] = now + min(100 * MS << attempts[r.mid], 400 * MS)
        for m in mids:
            if m not in acked:
                assert deadline[m] > now  # nothing overdue is left unsent
        expected = min((deadline[m] for m in mids if m not in acked), default=None)
        assert t.next_deadline() == expected
