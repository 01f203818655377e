"""Found in review, on journals recorded from the simulator's session driver: a resent batch's
inner orders count its resends, a replacement of an order placed before the journal began is
of unknown side until the exchange states it, durations are on the capture point's monotonic
clock, and positions run per participant."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from recorder import analysis
from recorder.core.frames import Channel, Direction
from recorder.core.positions import PositionLedger
from recorder.journal import Journal, open_journal
from recorder.projection import project
from recorder.sim.faults import FaultKind
from recorder.sim.session import ScheduledFault, Session, SessionConfig
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import decode
from recorder.venues.lx.records import to_record

pd = pytest.importorskip("pandas")

CLIENT = "client-1"
WALL_STEP_NS = -700_000_000
"""The host's wall clock stepped back 0.7 s (an NTP correction); the monotonic clock is not."""
OTHER_ORIGIN_NS = 5_000_000_000_000
"""Where another process's monotonic clock counts from, against the first one's."""


@dataclass(frozen=True)
class Take:
    """How the journal records the simulated session."""

    clients: tuple[str, ...] = (CLIENT,)
    first_step: int = 0
    """The journal begins at this step: orders placed before are not in it."""
    wall_step_at: int = 0
    """From this step the wall clock is ``WALL_STEP_NS`` off (0: never)."""
    moved_at: int = 0
    """From this step another capture point (process) records, on its own monotonic clock."""


def _record(path: Path, config: SessionConfig, take: Take = Take()) -> Session:
    """Journal a session as ``take`` says: each client's frames (market ones included) in
    sessions of its own, one per capture point."""
    session = Session(config)
    with open_journal(path) as journal:
        sessions: dict[tuple[str, str], int] = {}
        records = []
        for f in session.run():
            if f.step < take.first_step or f.participant not in (None, *take.clients):
                continue
            moved = bool(take.moved_at) and f.step >= take.moved_at
            point = "moved" if moved else "test"
            stepped = bool(take.wall_step_at) and f.step >= take.wall_step_at
            wall = f.wall_ns + (WALL_STEP_NS if stepped else 0)
            mono = f.mono_ns + (OTHER_ORIGIN_NS if moved else 0)
            for client in (f.participant,) if f.participant else take.clients:
                sid = sessions.get((client, point))
                if sid is None:
                    sid = sessions[(client, point)] = _session(journal, point, client)
                records.append(
                    to_record(f.data, session_id=sid, channel=f.channel, direction=f.direction,
                              wall_ns=wall, mono_ns=mono)
                )  # fmt: skip
        journal.append(records)
    return session


def _session(journal: Journal, capture_point: str, participant: str) -> int:
    return journal.start_session(venue="lx1", capture_point=capture_point, participant=participant)


def _sent(path: Path) -> list[pb.Envelope]:
    """Every request that went out, in journal order (inner batch messages after their batch)."""
    out = []
    with open_journal(path, readonly=True) as journal:
        for f in journal.frames():
            if f.direction is Direction.OUT and not f.malformed:
                env = decode(f.payload)
                out += [env, *env.batch.messages]
    return out


def test_a_resent_batch_counts_a_resend_of_each_order_in_it(tmp_path: Path) -> None:
    """``resends`` counts a request going out again under its mid; a batch resent carries its
    inner orders out again, so each counts it (and the frame), as the batch does."""
    faults = (ScheduledFault(500, FaultKind.DROP_REQUESTS, CLIENT, count=150),)
    path = tmp_path / "j.journal"
    _record(path, SessionConfig(seed=6, steps=3000, faults=faults))
    wire = Counter(env.mid for env in _sent(path))  # how many times each mid went out
    df = analysis.orders(path).set_index("mid")
    inner = df[df["batch_mid"] != ""]
    resent = inner[inner["batch_mid"].map(df["resends"]) > 0]
    assert len(resent) > 0, "the scenario should resend a batch"
    assert {m: wire[m] - 1 for m in df.index} == df["resends"].to_dict()
    assert (resent["resends"] > 0).all()
    assert (resent["frames"] > resent["resends"]).all()


def _stated_sides(path: Path) -> dict[str, bool | None]:
    """For each replacement of an order the journal did not send: the side the exchange had
    stated of that order (a private report, an open-orders snapshot) when the replacement was
    sent, else the side its first report of the replacement states, else None."""
    sent: set[str] = set()
    stated: dict[str, bool] = {}
    sides: dict[str, bool | None] = {}
    with open_journal(path, readonly=True) as journal:
        for f in journal.frames():
            if f.malformed or f.channel is not Channel.ORDER:
                continue
            env = decode(f.payload)
            if f.direction is Direction.OUT:
                for e in (env, *env.batch.messages):
                    sent.add(e.mid)
                    replaced = e.cancel_replace.entry_id
                    if e.WhichOneof("body") == "cancel_replace" and replaced not in sent:
                        sides.setdefault(e.mid, stated.get(replaced))
            elif f.kind == "OpenOrdersSnapshot":
                for entry in env.open_orders_snapshot.entries:
                    stated.setdefault(entry.entry_id, entry.is_ask)
            elif f.kind == "ActionReport":
                r = env.action_report
                stated.setdefault(r.entry_id, r.is_ask)
                if sides.get(r.entry_id, False) is None:
                    sides[r.entry_id] = r.is_ask
    return sides


def test_a_replacement_of_an_order_placed_before_the_journal_is_of_unknown_side(
    tmp_path: Path,
) -> None:
    """The journal begins mid-session: a ``CancelReplace`` of an order placed before it has no
    side to inherit. It is no bid: unknown, until the exchange's reports state the side (of
    the order it replaces, or of the replacement)."""
    path = tmp_path / "j.journal"
    _record(path, SessionConfig(seed=11, steps=3000), Take(first_step=1500))
    sides = _stated_sides(path)
    strangers = list(sides)
    assert len(strangers) > 2 and any(sides.values()), "asks among them"
    assert None in sides.values(), "and some the exchange never reported"
    # the exchange view holds every report behind the journal's first gap (seqs before it)
    exchange = {o.entry_id: o for o in project(path).orders}
    assert [exchange[m].is_ask for m in strangers] == [None] * len(strangers)
    known = {o.entry_id: o for o in project(path, view="known").orders}
    assert [known[m].is_ask for m in strangers] == list(sides.values())
    side = analysis.orders(path).set_index("mid")["side"]
    expected = ["" if s is None else ("ask" if s else "bid") for s in sides.values()]
    assert [side[m] for m in strangers] == expected


_DURATIONS = ["ack_latency_us", "time_to_fill_us"]


def test_durations_are_on_the_monotonic_clock_of_the_capture_point(tmp_path: Path) -> None:
    """The same session recorded twice, the second time with the host's wall clock stepped
    back while requests waited (their replies delayed): no duration changes."""
    faults = (ScheduledFault(1000, FaultKind.DELAY, CLIENT, count=40, delay_ms=30),)
    config = SessionConfig(seed=11, steps=3000, faults=faults)
    _record(tmp_path / "true.journal", config)
    _record(tmp_path / "stepped.journal", config, Take(wall_step_at=1010))
    true, stepped = (analysis.orders(tmp_path / n) for n in ("true.journal", "stepped.journal"))
    across = stepped["acked_ns"] < stepped["sent_ns"]  # on the wall clock, before it was sent
    assert across.sum() > 0, "some ACKs should come after the clock step"
    assert (stepped["ack_latency_us"].dropna() >= 0).all()
    pd.testing.assert_frame_equal(stepped[_DURATIONS], true[_DURATIONS])
    assert (
        set(stepped["ack_latency_clock"]) <= {"mono", ""}
        and (stepped["ack_latency_clock"] == "mono").any()
    )
    acked = stepped.dropna(subset=["ack_latency_us"])
    mono = (acked["acked_mono_ns"] - acked["sent_mono_ns"]) / 1000
    assert (mono == acked["ack_latency_us"]).all()
    # the book top's age when an order was sent, too
    ages = [analysis.arrivals(tmp_path / n) for n in ("true.journal", "stepped.journal")]
    pd.testing.assert_series_equal(ages[1]["top_age_us"], ages[0]["top_age_us"])


def test_durations_across_capture_points_are_on_the_wall_clock(tmp_path: Path) -> None:
    """From step 1020 another capture point records (another process, whose monotonic clock
    counts from elsewhere): a request sent before and answered after is timed on the wall
    clocks, and says so."""
    faults = (ScheduledFault(1000, FaultKind.DELAY, CLIENT, count=40, delay_ms=30),)
    config = SessionConfig(seed=11, steps=3000, faults=faults)
    _record(tmp_path / "true.journal", config)
    _record(tmp_path / "moved.journal", config, Take(moved_at=1020))
    true, moved = (analysis.orders(tmp_path / n) for n in ("true.journal", "moved.journal"))
    assert (moved["ack_latency_clock"] == "wall").sum() > 0
    pd.testing.assert_frame_equal(moved[_DURATIONS], true[_DURATIONS])
    ages = analysis.arrivals(tmp_path / "moved.journal")
    assert (ages["top_age_clock"] == "wall").any() and (ages["top_age_us"].dropna() >= 0).all()


def test_positions_run_per_participant(tmp_path: Path) -> None:
    """A journal of two participants (each in sessions of its own): each one's fills, position
    and P&L are its own, as the exchange has them."""
    path = tmp_path / "j.journal"
    clients = ("client-1", "client-2")
    session = _record(path, SessionConfig(seed=11, steps=3000), Take(clients=clients))
    curve = analysis.positions(path)
    fills = analysis.fills(path)
    for client in clients:
        truth = session.engine.fills(client)
        assert truth, client
        mine = fills[fills["participant"] == client]
        assert sorted(zip(mine["trade_id"], mine["entry_id"], strict=True)) == sorted(
            (f.trade_id, f.entry_id) for f in truth
        )
        ledgers: dict[int, PositionLedger] = {}
        for f in truth:
            ledgers.setdefault(f.contract_id, PositionLedger(f.contract_id)).fill(
                f.is_ask, f.filled_price, f.filled_size
            )
        last = curve[curve["participant"] == client].groupby("contract_id").last()
        assert {cid: (row.net_size, row.realised_pnl_cents) for cid, row in last.iterrows()} == {
            cid: (p.view().net_size, p.realised) for cid, p in ledgers.items()
        }
        total = curve[curve["participant"] == client]["total_realised_pnl_cents"].iloc[-1]
        assert total == sum(p.realised for p in ledgers.values())
    tables = analysis.tables(path)
    pd.testing.assert_frame_equal(tables["positions"], curve)
    assert set(tables["slippage"]["participant"]) == set(clients)
    with pytest.raises(ValueError, match="2 participants"):
        analysis.positions(path, state=project(path))
