"""The pure recovery planner: its rule table, chunks and corrections (table and hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder.core.projector import Projector
from recorder.core.recovery import (
    CORRECTION_KIND,
    MIDS_PER_REPLAY,
    RULES,
    CancelRunOrders,
    CorrectionKind,
    Facts,
    GetBookState,
    GetOpenOrders,
    InFlight,
    OpenOrder,
    ReplayMids,
    ReplayRange,
    Resend,
    Trigger,
    chunk_range,
    correction_payload,
    corrections,
    plan,
)
from recorder.core.sequencing import REPLAY_CAP
from recorder.venues.lx import lx1_pb2 as pb

A, B, M = "a" * 32, "b" * 32, "m" * 32
O1 = OpenOrder("1" * 32, 1, False, 5000, 3, 3)
O2 = OpenOrder("2" * 32, 2, True, 5100, 2, 4)


def kinds(facts: Facts) -> list[str]:
    return [type(a).__name__ for a in plan(facts).actions]


# (facts, the action kinds the plan holds, in order)
TABLE: list[tuple[str, Facts, list[str]]] = [
    ("nothing to do", Facts(Trigger.GAP), []),
    (
        "order gap: replay the range",
        Facts(Trigger.GAP, local_run_id=A, current_run_id=A, missing=((5, 9),)),
        ["ReplayRange"],
    ),
    (
        "S1 on reconnect: resend, then open orders",
        Facts(Trigger.RECONNECT, local_run_id=A, in_flight=(InFlight(M, "LimitOrder", False),)),
        ["Resend", "GetOpenOrders"],
    ),
    (
        "S2 on reconnect: replay by mids",
        Facts(Trigger.RECONNECT, local_run_id=A, in_flight=(InFlight(M, "CancelOrder", True, A),)),
        ["ReplayMids", "GetOpenOrders"],
    ),
    (
        "start: books resynced",
        Facts(Trigger.STARTUP, local_run_id=A, contracts=(2, 1)),
        ["GetOpenOrders", "GetBookState", "GetBookState"],
    ),
    (
        "market gap: books resynced",
        Facts(Trigger.GAP, market_gap=True, contracts=(1,)),
        ["GetBookState"],
    ),
    (
        "replay refused: open orders, authoritative",
        Facts(Trigger.REPLAY_UNAVAILABLE, local_run_id=A, current_run_id=A, missing=((1, 3),)),
        ["GetOpenOrders"],
    ),
    (
        "run change: old orders cancelled, new run replayed from 1",
        Facts(
            Trigger.RECONNECT, local_run_id=A, current_run_id=B, exchange_seq=4,
            open_orders=(O1,), in_flight=(InFlight("m" * 32, "LimitOrder", True, A),),
        ),
        ["CancelRunOrders", "ReplayRange", "GetOpenOrders"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "facts", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_rule_table(name: str, facts: Facts, expected: list[str]) -> None:
    assert kinds(facts) == expected


def test_rules_are_named_data() -> None:
    assert [name for name, _ in RULES] == [
        "run_change", "resend_unacked", "replay_range", "replay_mids", "open_orders", "resync_books"
    ]  # fmt: skip


def test_startup_gap_is_replayed_from_the_journals_last_seq() -> None:
    p = plan(Facts(Trigger.GAP, local_run_id=A, current_run_id=A, last_seq=10, exchange_seq=6000))
    assert p.actions == (
        ReplayRange(A, 11, 2510), ReplayRange(A, 2511, 5010), ReplayRange(A, 5011, 5999)
    )  # fmt: skip


def test_run_change_names_every_open_order() -> None:
    p = plan(Facts(Trigger.AVAILABLE, local_run_id=A, current_run_id=B, open_orders=(O1, O2)))
    assert p.actions[0] == CancelRunOrders(A, B, (O1.entry_id, O2.entry_id))


def test_mids_are_chunked() -> None:
    flights = tuple(InFlight(f"{i:032x}", "CancelOrder", True, A) for i in range(450))
    p = plan(Facts(Trigger.STARTUP, local_run_id=A, in_flight=flights))
    mids = [a for a in p.actions if isinstance(a, ReplayMids)]
    assert [len(a.mids) for a in mids] == [MIDS_PER_REPLAY, MIDS_PER_REPLAY, 50]


@given(st.lists(st.tuples(st.integers(1, 20_000), st.integers(0, 9_000)), max_size=6))
def test_chunks_cover_exactly_and_respect_the_cap(spans: list[tuple[int, int]]) -> None:
    ranges = [(lo, lo + n) for lo, n in spans]
    chunks = chunk_range(ranges)
    assert all(hi - lo + 1 <= REPLAY_CAP and lo <= hi for lo, hi in chunks)
    covered = [s for lo, hi in chunks for s in range(lo, hi + 1)]
    assert covered == [s for lo, hi in ranges for s in range(lo, hi + 1)]


@given(
    st.integers(0, 5000),
    st.integers(0, 20_000),
    st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 50)), max_size=4),
)
def test_replayed_ranges_are_disjoint_capped_and_cover_what_is_missing(
    last: int, exchange_seq: int, holes: list[tuple[int, int]]
) -> None:
    missing = tuple((lo, lo + n) for lo, n in holes)
    facts = Facts(
        Trigger.GAP, local_run_id=A, current_run_id=A, last_seq=last,
        exchange_seq=exchange_seq, missing=missing,
    )  # fmt: skip
    ranges = [(a.from_seq, a.to_seq) for a in plan(facts).actions if isinstance(a, ReplayRange)]
    seqs = [s for lo, hi in ranges for s in range(lo, hi + 1)]
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs)
    assert all(hi - lo < REPLAY_CAP for lo, hi in ranges)
    want = {s for lo, hi in missing for s in range(lo, hi + 1)}
    want |= set(range(last + 1, exchange_seq)) if exchange_seq else set()
    assert set(seqs) == want


orders = st.lists(
    st.builds(
        OpenOrder,
        st.sampled_from([f"{i:032x}" for i in range(8)]),
        st.integers(1, 3),
        st.booleans(),
        st.integers(1, 100),
        st.integers(1, 9),
    ),
    unique_by=lambda o: o.entry_id,
    max_size=8,
)


@given(orders, orders)
def test_corrections_make_local_match_the_exchange(
    local: list[OpenOrder], exchange: list[OpenOrder]
) -> None:
    state = {o.entry_id: o.open_size for o in local}
    fixes = corrections(local, exchange)
    for c in fixes:
        assert c.entry_id  # each correction names the order it changes
        if c.kind is CorrectionKind.CLOSE:
            del state[c.entry_id]
        else:
            state[c.entry_id] = c.new_size
    assert state == {o.entry_id: o.open_size for o in exchange}
    assert corrections(exchange, exchange) == ()


def _row(position: int, direction: str, kind: str, env: pb.Envelope) -> tuple[object, ...]:
    return (
        position, 1, "order", direction, 0, 0, env.run_id, env.seq, env.mid, kind,
        env.is_replay, 0, env.SerializeToString(),
    )  # fmt: skip


def test_a_correction_row_closes_and_resizes_projected_orders() -> None:
    p = Projector()
    for i, (eid, size) in enumerate([(O1.entry_id, 3), (O2.entry_id, 4)]):
        req = pb.Envelope(mid=eid, mversion="1.0")
        req.limit_order.contract_id, req.limit_order.size = 1, size
        req.limit_order.price_in_cents = 5000
        p.apply_row(_row(3 * i + 1, "out", "LimitOrder", req))
        ack = pb.Envelope(mid=eid, seq=2 * i + 1, run_id=A, mversion="1.0")
        ack.status.code = pb.ACK
        p.apply_row(_row(3 * i + 2, "in", "Status", ack))
        rep = pb.Envelope(mid=eid, seq=2 * i + 2, run_id=A, mversion="1.0")
        r = rep.action_report
        r.contract_id, r.entry_id, r.status_type, r.size = 1, eid, pb.INSERTED, size
        r.price_in_cents = 5000
        p.apply_row(_row(3 * i + 3, "in", "ActionReport", rep))
    assert {o.entry_id: o.open_size for o in p.open_orders()} == {O1.entry_id: 3, O2.entry_id: 4}
    fixes = corrections(
        [OpenOrder(O1.entry_id, 1, False, 5000, 3), OpenOrder(O2.entry_id, 1, False, 5000, 4)],
        [OpenOrder(O2.entry_id, 1, False, 5000, 1)],
    )
    for n, c in enumerate(fixes):
        data = correction_payload(c, evidence_mid="e" * 32, run_id=A, wall_ns=1, mono_ns=1)
        p.apply_row(
            (10 + n, 1, "order", "in", 1, 1, A, 0, "e" * 32, CORRECTION_KIND, False, 0, data)
        )
    assert {o.entry_id: o.open_size for o in p.open_orders()} == {O2.entry_id: 1}
    assert [o.status.value for o in p.state().orders] == ["cancelled", "resting"]


def test_get_open_orders_and_book_state_are_requested_on_contact_only() -> None:
    assert GetOpenOrders(False) in plan(Facts(Trigger.RECONNECT)).actions
    assert plan(Facts(Trigger.AVAILABLE, contracts=(1,))).actions == ()
    assert plan(Facts(Trigger.STARTUP, contracts=(1,))).actions[-1] == GetBookState(1)
    assert (
        Resend("x" * 32)
        in plan(
            Facts(Trigger.AVAILABLE, in_flight=(InFlight("x" * 32, "CancelAll", False),))
        ).actions
    )
