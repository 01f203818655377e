"""A hypothesis state machine over the matching engine.

Invariants after every step: books never cross, no size is negative, every trade appears exactly
once on each side (privately and publicly), public clocks rise by one per report, and the public
reports of each contract, applied in clock order to an empty book, rebuild the engine's book.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from recorder.sim.engine import Engine
from recorder.sim.model import Contract, Outbound
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import MVERSION

CONTRACTS = (Contract(1, "A", 1), Contract(2, "B", 5))
PARTICIPANTS = ("p1", "p2", "p3")

participants = st.sampled_from(PARTICIPANTS)
contracts = st.sampled_from(CONTRACTS)
sizes = st.integers(1, 20)
levels = st.integers(1, 12)


def rebuild(reports: list[pb.ActionReport]) -> tuple[list[tuple[str, int, int]], ...]:
    """Apply public reports in clock order; return (bids, asks) as (entry_id, price, size)."""
    entries: dict[str, list[object]] = {}  # entry_id -> [is_ask, price, size, order]
    order = 0
    for report in sorted(reports, key=lambda r: r.clock):
        known = entries.get(report.entry_id)
        if report.status_type == pb.INSERTED:
            order += 1
            entries[report.entry_id] = [report.is_ask, report.price_in_cents, report.size, order]
        elif known is not None:
            if report.size == 0:
                del entries[report.entry_id]
            else:
                known[2] = report.size
    bids = sorted(
        ((e, v) for e, v in entries.items() if not v[0]),
        key=lambda item: (-int(item[1][1]), int(item[1][3])),  # type: ignore[call-overload]
    )
    asks = sorted(
        ((e, v) for e, v in entries.items() if v[0]),
        key=lambda item: (int(item[1][1]), int(item[1][3])),  # type: ignore[call-overload]
    )
    return (
        [(e, int(v[1]), int(v[2])) for e, v in bids],  # type: ignore[call-overload]
        [(e, int(v[1]), int(v[2])) for e, v in asks],  # type: ignore[call-overload]
    )


class EngineMachine(RuleBasedStateMachine):
    """Random requests from three participants on two contracts."""

    @initialize()
    def setup(self) -> None:
        self.engine = Engine(CONTRACTS)
        for participant in PARTICIPANTS:
            self.engine.add_participant(participant)
        self.counter = 0
        self.public: dict[int, list[pb.ActionReport]] = defaultdict(list)
        self.private_cross: dict[int, list[tuple[str, pb.ActionReport]]] = defaultdict(list)
        self.public_cross: dict[int, list[pb.ActionReport]] = defaultdict(list)
        self.sent: list[tuple[str, pb.Envelope]] = []
        self.last_clock: dict[int, int] = defaultdict(int)

    def mid(self) -> str:
        self.counter += 1
        return f"{self.counter:032x}"

    def send(self, participant: str, envelope: pb.Envelope) -> list[Outbound]:
        envelope.mversion = MVERSION
        self.sent.append((participant, envelope))
        outs = self.engine.handle(participant, envelope)
        first = outs[0]
        assert first.to == participant and first.envelope.WhichOneof("body") == "status"
        assert first.envelope.mid == envelope.mid
        for out in outs:
            env = out.envelope
            if env.WhichOneof("body") != "action_report":
                continue
            report = env.action_report
            assert report.size >= 0
            if out.to is None:
                assert report.mpid == 0
                assert report.clock == self.last_clock[report.contract_id] + 1, "clock skipped"
                self.last_clock[report.contract_id] = report.clock
                self.public[report.contract_id].append(report)
                if report.status_type == pb.CROSS:
                    self.public_cross[report.trade_id].append(report)
            else:
                assert report.mpid == self.engine.mpid(out.to)
                if report.status_type == pb.CROSS:
                    self.private_cross[report.trade_id].append((out.to, report))
        return outs

    @rule(
        p=participants,
        c=contracts,
        is_ask=st.booleans(),
        size=sizes,
        level=levels,
        ioc=st.booleans(),
    )
    def limit(self, p: str, c: Contract, is_ask: bool, size: int, level: int, ioc: bool) -> None:
        order = pb.LimitOrder(
            contract_id=c.contract_id,
            is_ask=is_ask,
            size=size,
            price_in_cents=level * c.tick_cents,
            time_in_force=pb.IOC if ioc else pb.GTC,
        )
        outs = self.send(p, pb.Envelope(mid=self.mid(), limit_order=order))
        assert outs[0].envelope.status.code == pb.ACK
        mine = [
            o.envelope.action_report
            for o in outs
            if o.to == p
            and o.envelope.WhichOneof("body") == "action_report"
            and o.envelope.action_report.entry_id == outs[0].envelope.mid
        ]
        assert mine, "an accepted order reports at least once"
        if ioc:
            assert mine[-1].size == 0, "an IOC order ends with size 0"

    @rule(p=participants, c=contracts, level=levels)
    def bad_price(self, p: str, c: Contract, level: int) -> None:
        price = level * c.tick_cents + (1 if c.tick_cents > 1 else -level * c.tick_cents)
        order = pb.LimitOrder(contract_id=c.contract_id, size=1, price_in_cents=price)
        before = self.engine.book(c.contract_id)
        outs = self.send(p, pb.Envelope(mid=self.mid(), limit_order=order))
        assert len(outs) == 1 and outs[0].envelope.status.code == pb.REJECT_INVALID_PRICE
        assert self.engine.book(c.contract_id) == before

    @rule(p=participants, data=st.data())
    def cancel(self, p: str, data: st.DataObject) -> None:
        mine = self.engine.open_orders(p)
        if mine:
            entry = data.draw(st.sampled_from(mine))
            cid, entry_id = entry.contract_id, entry.entry_id
        else:
            cid, entry_id = 1, "f" * 32
        outs = self.send(
            p,
            pb.Envelope(
                mid=self.mid(), cancel_order=pb.CancelOrder(contract_id=cid, entry_id=entry_id)
            ),
        )
        if mine:
            assert outs[0].envelope.status.code == pb.ACK
            assert self.engine.entry(entry_id) is None
        else:
            assert [o.envelope.status.code for o in outs] == [pb.REJECT_UNKNOWN_ENTRY]

    @precondition(lambda self: any(self.engine.open_orders(p) for p in PARTICIPANTS))
    @rule(data=st.data(), size=sizes, level=levels)
    def cancel_replace(self, data: st.DataObject, size: int, level: int) -> None:
        p = data.draw(st.sampled_from([p for p in PARTICIPANTS if self.engine.open_orders(p)]))
        entry = data.draw(st.sampled_from(self.engine.open_orders(p)))
        tick = CONTRACTS[entry.contract_id - 1].tick_cents
        mid = self.mid()
        outs = self.send(
            p,
            pb.Envelope(
                mid=mid,
                cancel_replace=pb.CancelReplace(
                    contract_id=entry.contract_id,
                    entry_id=entry.entry_id,
                    size=size,
                    price_in_cents=level * tick,
                ),
            ),
        )
        assert outs[0].envelope.status.code == pb.ACK
        replaced = outs[1].envelope.action_report
        assert replaced.status_type == pb.REPLACED and replaced.size == 0
        assert replaced.entry_id == entry.entry_id and outs[1].envelope.mid == mid

    @rule(p=participants, c=st.sampled_from((0, 1, 2)))
    def cancel_all(self, p: str, c: int) -> None:
        outs = self.send(p, pb.Envelope(mid=self.mid(), cancel_all=pb.CancelAll(contract_id=c)))
        mine = [o for o in outs if o.to == p]
        assert mine[-1].envelope.status.code == pb.DONE
        assert not self.engine.open_orders(p, c)

    @rule(
        p=participants,
        orders=st.lists(st.tuples(contracts, st.booleans(), sizes, levels), min_size=1, max_size=6),
    )
    def batch(self, p: str, orders: list[tuple[Contract, bool, int, int]]) -> None:
        inner = [
            pb.Envelope(
                mid=self.mid(),
                mversion=MVERSION,
                limit_order=pb.LimitOrder(
                    contract_id=c.contract_id, is_ask=a, size=s, price_in_cents=lv * c.tick_cents
                ),
            )
            for c, a, s, lv in orders
        ]
        outs = self.send(p, pb.Envelope(mid=self.mid(), batch=pb.Batch(messages=inner)))
        acks = outs[1].envelope.batch_acks.acks
        assert [a.mid for a in acks] == [e.mid for e in inner]
        assert all(a.code == pb.ACK for a in acks)

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        p, envelope = data.draw(st.sampled_from(self.sent))
        books = [self.engine.book(c.contract_id) for c in CONTRACTS]
        outs = self.engine.handle(p, envelope)
        assert len(outs) == 1 and outs[0].envelope.status.duplicate
        assert [self.engine.book(c.contract_id) for c in CONTRACTS] == books

    @invariant()
    def books_never_cross(self) -> None:
        for c in CONTRACTS:
            bid, _, ask, _ = self.engine.top(c.contract_id)
            assert not (bid and ask) or bid < ask
            book = self.engine.book(c.contract_id)
            assert all(e.size > 0 for e in book.bids + book.asks)
            assert all(e.filled_size + e.size <= e.original_size for e in book.bids + book.asks)

    @invariant()
    def each_fill_once_on_each_side(self) -> None:
        for trade_id, sides in self.private_cross.items():
            assert len(sides) == 2, trade_id
            (_, a), (_, b) = sides
            assert a.is_ask != b.is_ask
            assert (a.filled_size, a.filled_price) == (b.filled_size, b.filled_price)
            assert len(self.public_cross[trade_id]) == 2
        fills = [f for p in PARTICIPANTS for f in self.engine.fills(p)]
        assert sorted(f.trade_id for f in fills) == sorted(
            t for t in self.private_cross for _ in range(2)
        )

    @invariant()
    def public_reports_rebuild_the_book(self) -> None:
        for c in CONTRACTS:
            book = self.engine.book(c.contract_id)
            assert book.clock == len(self.public[c.contract_id])
            bids, asks = rebuild(self.public[c.contract_id])
            assert bids == [(e.entry_id, e.price_in_cents, e.size) for e in book.bids]
            assert asks == [(e.entry_id, e.price_in_cents, e.size) for e in book.asks]


EngineMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_engine_state_machine = EngineMachine.TestCase
