"""The projector against the simulator's engine as ground truth, determinism, snapshots."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from recorder.core.frames import Channel, Direction, Frame
from recorder.core.orders import OrderStatus
from recorder.core.projector import Projector
from recorder.core.state import AnomalyKind, GapStatus, View
from recorder.sim.faults import FaultKind
from recorder.sim.session import ScheduledFault, Session, SessionConfig
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import encode, kind_of, make_envelope

ME = "client-1"


def busy_config(seed: int, steps: int = 12_000) -> SessionConfig:
    """Several bots, restarts and every fault the projector must survive."""
    f = ScheduledFault
    return SessionConfig(
        seed=seed,
        steps=steps,
        clients=3,
        contracts=3,
        restart_at=(steps // 2,),
        garbage_rate=0.002,
        faults=(
            f(steps // 10, FaultKind.DROP_NEXT, ME, count=6),
            f(steps // 8, FaultKind.DROP_MARKET, count=3),
            f(steps // 6, FaultKind.DISCONNECT, ME),
            f(steps // 5, FaultKind.DUPLICATE, ME, count=3),
            f(steps // 4, FaultKind.DROP_ACK, ME),
            f(steps // 3, FaultKind.DELAY, ME, delay_ms=30, count=4),
            f(steps * 3 // 5, FaultKind.DROP_AFTER_ACK, ME),
            f(steps * 2 // 3, FaultKind.GARBAGE, ME, count=12),
            f(steps * 3 // 4, FaultKind.DROP_NEXT, ME, count=40),
        ),
    )


def assert_matches_engine(p: Projector, session: Session) -> int:
    """Books (those in sync) and open orders equal the engine's exactly; returns books compared."""
    engine = session.engine
    compared = 0
    for contract in engine.contracts:
        truth = engine.book(contract.contract_id)
        mine = p.books.get(contract.contract_id)
        if mine is None:
            assert truth.clock == 0
            continue
        if not mine.synced:
            continue
        assert mine.clock == truth.clock
        expected = [
            (o.entry_id, o.is_ask, o.price_in_cents, o.size) for o in truth.bids + truth.asks
        ]
        got = [(e.entry_id, e.is_ask, e.price_in_cents, e.size) for e in mine.l3()]
        assert got == expected
        assert mine.top_tuple() == engine.top(contract.contract_id)
        compared += 1
    expected_open = sorted(
        (o.entry_id, o.contract_id, o.is_ask, o.price_in_cents, o.size, o.filled_size)
        for o in engine.open_orders(ME)
    )
    got_open = sorted(
        (o.entry_id, o.contract_id, o.is_ask, o.price_in_cents, o.open_size, o.filled_size)
        for o in p.open_orders()
    )
    assert got_open == expected_open
    return compared


def caught_up(p: Projector, session: Session) -> bool:
    ex = session.exchange
    return (
        p.run_id == ex.run_id
        and p._order_seq.high == ex.last_seq(ME)
        and p._market_seq.high == ex.market_seq
        and not p._order_seq.open_gaps
    )


@pytest.mark.parametrize(
    ("seed", "faults"), [(1, True), (2, True), (3, True), (4, False), (5, False)]
)
def test_projection_equals_engine_at_sampled_points_and_end(
    seed: int, faults: bool, row_maker: Callable[[str], Any]
) -> None:
    """The exchange view always equals the engine once caught up; without faults (so arrival
    order is seq order) the as-known view does too."""
    config = busy_config(seed)
    if not faults:
        config = SessionConfig(seed=seed, steps=config.steps, clients=3, restart_at=(4000, 9000))
    session = Session(config)
    rows_of = row_maker(ME)
    views = list(View) if not faults else [View.EXCHANGE]
    projectors = {v: Projector(v) for v in View}
    rng = random.Random(seed)
    sampled = 0
    while session.step_no < session.config.steps:
        rows = rows_of(session.step())
        for p in projectors.values():
            p.apply_rows(rows)
        if rng.random() < 0.02 and caught_up(projectors[View.EXCHANGE], session):
            for v in views:
                assert_matches_engine(projectors[v], session)
            sampled += 1
    for p in projectors.values():
        p.apply_rows(rows_of(session._release(None)))
    assert sampled >= 50
    exchange = projectors[View.EXCHANGE]
    assert caught_up(exchange, session)
    for v in views:
        assert assert_matches_engine(projectors[v], session) >= 1
    state = exchange.state()
    # the exchange view is consistent: no illegal transition, no BookTop disagreement
    kinds = {a.kind for a in state.anomalies}
    assert AnomalyKind.ILLEGAL_TRANSITION not in kinds
    assert AnomalyKind.BOOK_TOP_MISMATCH not in kinds
    # thousands of orders, fills with trade ids equal to the engine's for this run
    assert len(state.orders) > 1000
    truth = [
        (f.trade_id, f.entry_id, f.filled_price, f.filled_size) for f in session.engine.fills(ME)
    ]
    mine = [(f.trade_id, f.entry_id, f.price_in_cents, f.size) for f in state.fills]
    assert truth and mine[-len(truth) :] == truth
    assert any(o.status is OrderStatus.RUN_CANCELLED for o in state.orders)
    if faults:
        assert AnomalyKind.MALFORMED in kinds  # the garbage frames
        statuses = {g.status for g in state.gaps}
        assert GapStatus.FILLED in statuses and GapStatus.UNRECOVERABLE in statuses
    else:
        known = projectors[View.KNOWN].state()
        assert known.orders == state.orders and known.books == state.books
        assert known.anomalies == state.anomalies == ()


def test_positions_follow_fills(row_maker: Callable[[str], Any]) -> None:
    session = Session(SessionConfig(seed=11, steps=6000, clients=2))
    p = Projector()
    p.apply_rows(row_maker(ME)(session.run()))
    state = p.state()
    for cid, pos in state.positions.items():
        fills = [f for f in state.fills if f.contract_id == cid]
        assert pos.net_size == sum(-f.size if f.is_ask else f.size for f in fills)
        assert pos.bought == sum(f.size for f in fills if not f.is_ask)
    assert state.positions


def _rows(seed: int, row_maker: Callable[[str], Any]) -> list[tuple[Any, ...]]:
    return row_maker(ME)(Session(busy_config(seed, steps=5000)).run())  # type: ignore[no-any-return]


@pytest.mark.parametrize("view", list(View))
def test_digest_is_deterministic_and_restore_plus_tail_equals_full(
    view: View, row_maker: Callable[[str], Any]
) -> None:
    rows = _rows(5, row_maker)
    full = Projector(view)
    full.apply_rows(rows)
    again = Projector(view)
    again.apply_rows(_rows(5, row_maker))
    assert full.digest() == again.digest() == full.state().digest()
    rng = random.Random(view.value)
    # cut points at random, and where the exchange view holds frames behind a gap
    cuts = rng.sample(range(1, len(rows)), 12)
    probe = Projector(view)
    for i, row in enumerate(rows, 1):
        probe.apply_row(row)
        if probe._order_seq.held_count:
            cuts.append(i)
            break
    for cut in cuts:
        head = Projector(view)
        head.apply_rows(rows[:cut])
        blob, digest = head.to_checkpoint()
        resumed = Projector.from_checkpoint(blob, digest)
        assert resumed.own._cold is not None  # finished orders and fills not parsed yet
        resumed.apply_rows(rows[cut:])
        assert resumed.digest() == full.digest(), f"cut at {cut}"
        again = Projector.from_checkpoint(blob, digest)
        assert again.digest() == head.digest()
        assert again.to_checkpoint() == (blob, digest)


def test_views_differ_only_in_ordering(row_maker: Callable[[str], Any]) -> None:
    rows = _rows(6, row_maker)
    known, exchange = Projector(View.KNOWN), Projector(View.EXCHANGE)
    known.apply_rows(rows)
    exchange.apply_rows(rows)
    assert known.digest() != exchange.digest()
    k, e = known.state(), exchange.state()
    assert {o.entry_id: o.status for o in k.orders}.keys() == {o.entry_id for o in e.orders}
    assert any(a.kind is AnomalyKind.ILLEGAL_TRANSITION for a in k.anomalies)


def _row(position: int, channel: str, seq: int, env: pb.Envelope) -> tuple[Any, ...]:
    kind = env.WhichOneof("body") or ""
    names = {"action_report": "ActionReport", "book_top": "BookTop", "status": "Status"}
    return (position, 1, channel, "in", position, position, env.run_id, seq, env.mid,
            names.get(kind, kind), 0, 0, encode(env))  # fmt: skip


def test_book_top_mismatch_is_an_anomaly_with_position() -> None:
    run = "r" * 32
    report = pb.ActionReport(contract_id=7, entry_id="e" * 32, status_type=pb.INSERTED,
                             is_ask=False, price_in_cents=100, size=5, clock=1)  # fmt: skip
    good = pb.BookTop(contract_id=7, bid=100, bid_size=5, clock=1)
    bad = pb.BookTop(contract_id=7, bid=101, bid_size=5, clock=1)
    p = Projector()
    p.apply_row(_row(1, "market", 1, make_envelope(report, seq=1, run_id=run)))
    p.apply_row(_row(2, "market", 2, make_envelope(good, seq=2, run_id=run)))
    p.apply_row(_row(3, "market", 3, make_envelope(bad, seq=3, run_id=run)))
    [anomaly] = p.state().anomalies
    assert anomaly.kind is AnomalyKind.BOOK_TOP_MISMATCH and anomaly.position == 3


def test_bad_input_never_raises() -> None:
    p = Projector()
    p.apply_row((1, 1, "order", "in", 0, 0, "r", 1, "", "ActionReport", 0, 0, b"\xff\xff\x01"))
    p.apply_row((2, 1, "order", "in", 0, 0, "", 0, "", "", 0, 1, b"junk"))
    p.apply_row((3, 1, "order", "out", 0, 0, "", 1, "", "LimitOrder", 0, 0, b"\x0a"))
    report = pb.ActionReport(contract_id=1, entry_id="z" * 32, status_type=pb.CROSS, size=0,
                             filled_size=2, filled_price=50, trade_id=9)  # fmt: skip
    p.apply_row(_row(4, "order", 2, make_envelope(report, seq=2, run_id="r")))
    p.apply_row(_row(5, "order", 3, make_envelope(report, seq=3, run_id="r")))
    kinds = [a.kind for a in p.state().anomalies]
    assert AnomalyKind.MALFORMED in kinds
    assert AnomalyKind.UNKNOWN_ORDER in kinds
    assert AnomalyKind.ILLEGAL_TRANSITION in kinds  # a second fill of a filled order
    assert len(p.state().fills) == 2  # both fills are recorded: the money moved


def test_apply_frame_equals_apply_row(row_maker: Callable[[str], Any]) -> None:
    rows = _rows(8, row_maker)[:3000]
    a, b = Projector(), Projector()
    a.apply_rows(rows)
    for r in rows:
        b.apply(Frame(r[0], r[1], Channel(r[2]), Direction(r[3]), *r[4:10], bool(r[10]), r[11],
                      r[12], b""))  # fmt: skip
    assert a.digest() == b.digest()


def test_corrupt_checkpoint_bytes_are_refused() -> None:
    blob, digest = Projector().to_checkpoint()
    with pytest.raises(ValueError):
        Projector.from_checkpoint(blob, b"\0" * 32)
    with pytest.raises(ValueError):
        Projector.from_checkpoint(b"nope", digest)


def test_replayed_frames_lost_on_the_way_then_replayed_again_converge_to_the_engine(
    row_maker: Callable[[str], Any],
) -> None:
    """A gap, a ``MessageReplay`` whose ``ReplayDone`` says complete while some replayed frames
    never arrived, then a second replay (the reconciler's retry) that brings them: the exchange
    view holds until then and ends equal to the engine; both views have every fill."""
    config = SessionConfig(
        seed=21,
        steps=3000,
        clients=2,
        faults=(ScheduledFault(600, FaultKind.DROP_NEXT, ME, count=20),),
    )
    session = Session(config)
    rows = row_maker(ME)(session.run())
    first = next(r for r in rows if r[3] == "out" and r[9] == "MessageReplay")
    run_id = first[6] or session.exchange.run_id
    done = next(i for i, r in enumerate(rows) if r[9] == "ReplayDone" and r[8] == first[8])
    assert pb.Envelope.FromString(rows[done][12]).replay_done.complete
    replayed = [r for r in rows[:done] if r[10] and r[2] == "order"]
    # the replayed action reports are lost on the way (the exchange still holds them)
    lost = [r for r in replayed if r[9] == "ActionReport"]
    assert lost and len(lost) < len(replayed)
    assert any(pb.Envelope.FromString(r[12]).action_report.status_type == pb.CROSS for r in lost), (
        "the scenario must lose a fill"
    )
    kept = [r for r in rows if r not in lost]

    def renumber(rs: list[Any]) -> list[Any]:
        return [(i, *r[1:]) for i, r in enumerate(rs, 1)]

    projectors = {v: Projector(v) for v in View}
    for p in projectors.values():
        p.apply_rows(renumber(kept))
    held = projectors[View.EXCHANGE]
    assert not caught_up(held, session) and held._order_seq.held_count > 0
    [gap] = [g for g in held.state().gaps if g.channel is Channel.ORDER]
    assert gap.status is GapStatus.OPEN

    # the retry: a MessageReplay for the missing seqs, answered by the simulator's exchange
    lo, hi = min(r[7] for r in lost), max(r[7] for r in lost)
    retry = make_envelope(pb.MessageReplay(run_id=run_id, from_seq=lo, to_seq=hi), mid="e" * 32)
    now = session.now
    tail: list[Any] = [(0, 1, "order", "out", now.wall_ns, now.mono_ns, "", 0, retry.mid,
                        "MessageReplay", 0, 0, encode(retry))]  # fmt: skip
    for d in session.exchange.receive(ME, (encode(retry),), now):
        if d.to == ME:
            env = pb.Envelope.FromString(d.data)
            tail.append((0, 1, "order", "in", now.wall_ns, now.mono_ns, env.run_id, env.seq,
                         env.mid, kind_of(env), int(env.is_replay), 0,
                         d.data))  # fmt: skip
    assert pb.Envelope.FromString(tail[-1][12]).replay_done.complete
    tail = [(len(kept) + i, *r[1:]) for i, r in enumerate(tail, 1)]
    for p in projectors.values():
        p.apply_rows(tail)

    exchange = projectors[View.EXCHANGE]
    assert caught_up(exchange, session)
    assert assert_matches_engine(exchange, session) >= 1
    state = exchange.state()
    kinds = {a.kind for a in state.anomalies}
    assert AnomalyKind.ILLEGAL_TRANSITION not in kinds
    assert AnomalyKind.BOOK_TOP_MISMATCH not in kinds
    truth = [
        (f.trade_id, f.entry_id, f.filled_price, f.filled_size) for f in session.engine.fills(ME)
    ]
    mine = [(f.trade_id, f.entry_id, f.price_in_cents, f.size) for f in state.fills]
    assert mine == truth  # every fill, in trade order
    # the as-known view got the lost reports late, out of seq order: it still has every fill
    # and the same books
    known = projectors[View.KNOWN].state()
    known_fills = [(f.trade_id, f.entry_id, f.price_in_cents, f.size) for f in known.fills]
    assert sorted(known_fills) == sorted(truth)
    assert known.books == state.books
    for s in (state, known):
        assert [g.status for g in s.gaps if g.channel is Channel.ORDER] == [GapStatus.FILLED]


def test_a_checkpoint_of_held_frames_is_the_same_whoever_typed_is_replay(
    row_maker: Callable[[str], Any],
) -> None:
    # The SDK's live projector is handed is_replay as a bool, a journal's rows give an int:
    # the checkpoint of frames held behind a gap must not depend on which (verify rebuilds it
    # from the journal's rows and compares the digests).
    rows = _rows(5, row_maker)
    probe = Projector(View.EXCHANGE)
    cut = 0
    while not probe._order_seq.held_count and cut < len(rows):
        probe.apply_row(rows[cut])
        cut += 1
    assert probe._order_seq.held_count, "no frame held behind a gap: nothing is tested"
    assert all(type(row[10]) is bool for row in rows)  # as the live projector is handed them
    from_journal = Projector(View.EXCHANGE)
    from_journal.apply_rows([(*row[:10], int(row[10]), *row[11:]) for row in rows[:cut]])
    assert from_journal.to_checkpoint() == probe.to_checkpoint()
