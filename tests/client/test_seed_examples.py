"""The LedgerX SDK's documented examples (trading session, orders batch, run change), rewritten
as tests against the simulator over loopback with CURVE: the seed's ``time.sleep`` waits became
waits on the items' events and the processor's condition."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from sdk_helpers import WAIT, Recording

from recorder.client import Commands, Context, FinishReason, ItemState
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb


class SeedProcessor(Recording):
    """The seed's MyMessageProcessor: contracts collected by handle_contract_detail, open orders
    purged by handle_run_change."""

    def __init__(self) -> None:
        super().__init__()
        self.contracts: list[pb.Envelope] = []
        self.orders: list[pb.Envelope] = []

    def handle_contract_detail(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self.contracts.append(msg)
        super().handle_contract_detail(msg, prev_msg)

    def handle_run_change(self, run_id: str, prev_run_id: str) -> None:
        self.orders = []  # open orders are cancelled: purge them from local state
        super().handle_run_change(run_id, prev_run_id)


class StoreMIDCallback:
    """The seed's callback storing the MID, which is also the entry id on the exchange's CLOB."""

    def __init__(self, orders: list[pb.Envelope] | None = None) -> None:
        self._mid: str | None = None
        self.calls: list[tuple[pb.Envelope, pb.Envelope | None]] = []
        self.called = threading.Event()
        self._orders = orders

    def __call__(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        self._mid = msg.mid
        self.calls.append((msg, prev_msg))
        if self._orders is not None:
            self._orders.append(msg)
        self.called.set()

    @property
    def entry_id(self) -> str | None:
        return self._mid


def load_contracts(cmd: Commands, processor: SeedProcessor) -> None:
    item = cmd.get_contracts()  # the seed's get_contract(all_contracts=True)
    assert item.wait_done(WAIT)
    assert len(processor.contracts) == 3


def test_trading_session(
    server: SimServer, make_context: Callable[..., Context], client_keys: Any
) -> None:
    processor = SeedProcessor()
    context = make_context(processor)
    cmd = Commands(context)
    load_contracts(cmd, processor)
    contract = processor.contracts[random.Random(1).randint(0, len(processor.contracts) - 1)]

    sm_cb = StoreMIDCallback()
    item = cmd.limit_order(
        size=1, price_in_cents=5000, contract_id=contract.contract_detail.contract_id
    )
    item.callback = sm_cb  # set after submission, as in the seed: nothing is missed
    assert sm_cb.called.wait(WAIT)
    processor.wait_for(lambda calls: any(n == "action_report" for n, _ in calls))

    assert sm_cb.entry_id == item.msg.mid
    # The status handler got the ACK; its prev_msg is the limit order request itself.
    ack, prev = next(a for a in processor.named("status") if a[0].mid == item.mid)
    assert ack.status.code == pb.ACK
    assert prev is not None and prev.WhichOneof("body") == "limit_order" and prev.mid == item.mid
    # "If this is the first action report, prev_msg will be the limit_order command's message."
    report, prev = processor.named("action_report")[0]
    assert report.action_report.status_type == pb.INSERTED
    assert prev is not None and prev.WhichOneof("body") == "limit_order"
    # A resting order stays in flight (S2) until a report says size 0; the engine holds it.
    assert item.state is ItemState.ACKED and item in context.store.awaiting_final()
    resting = server.open_orders(client_keys.public)
    assert [o.entry_id for o in resting] == [item.mid]


def test_orders_batch(
    server: SimServer, make_context: Callable[..., Context], client_keys: Any
) -> None:
    processor = SeedProcessor()
    context = make_context(processor)
    cmd = Commands(context)
    load_contracts(cmd, processor)
    rng = random.Random(2)

    orders = []
    for _ in range(10):
        contract = processor.contracts[rng.randint(0, len(processor.contracts) - 1)]
        order = pb.LimitOrder()
        order.size = 1
        order.price_in_cents = 100
        order.contract_id = contract.contract_detail.contract_id
        orders.append(order)

    responses: dict[str, list[pb.Envelope]] = {}
    done = threading.Event()

    def process_order_responses(msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        responses.setdefault(msg.mid, []).append(msg)
        if len(responses) == 10:
            done.set()

    batch_item, items = cmd.batch(messages=orders)
    assert len(items) == 10 and len({i.msg.mid for i in items}) == 10
    for item in items:
        item.callback = process_order_responses
    assert batch_item.wait_done(WAIT)
    assert done.wait(WAIT)

    ((batch_msg, prev),) = processor.named("batch")
    assert [a.mid for a in batch_msg.batch_acks.acks] == [i.mid for i in items]
    assert all(a.code == pb.ACK for a in batch_msg.batch_acks.acks)
    assert prev is not None and prev.WhichOneof("body") == "batch"
    for item in items:
        assert item.parent == batch_item.mid
        assert item.code == pb.ACK and item.state is ItemState.ACKED
        assert responses[item.mid][0].action_report.status_type == pb.INSERTED
    resting = {o.entry_id for o in server.open_orders(client_keys.public)}
    assert resting == {i.mid for i in items}


def test_run_change(
    server: SimServer, make_context: Callable[..., Context], client_keys: Any
) -> None:
    processor = SeedProcessor()
    context = make_context(processor)
    cmd = Commands(context)
    load_contracts(cmd, processor)
    contract = processor.contracts[0]

    sm_cb = StoreMIDCallback(processor.orders)
    item = cmd.limit_order(
        size=1, price_in_cents=5000, contract_id=contract.contract_detail.contract_id,
        callback=sm_cb,
    )  # fmt: skip
    assert sm_cb.called.wait(WAIT)
    processor.wait_for(lambda calls: any(n == "action_report" for n, _ in calls))
    assert processor.orders and item.state is ItemState.ACKED
    old_run = context.run_id

    new_run = server.restart()
    ((run_id, prev_run_id),) = processor.wait_for(lambda _: processor.named("run_change"))
    assert (run_id, prev_run_id) == (new_run, old_run)
    assert processor.orders == []  # the handler purged local state
    # The old run's open order is released by the store, and the engine agrees it is gone.
    assert item.wait_done(WAIT) and item.finish_reason is FinishReason.RUN_CHANGE
    assert item.mid not in context.store
    assert server.open_orders(client_keys.public) == []
    # Trading goes on in the new run.
    again = cmd.limit_order(size=1, price_in_cents=5000, contract_id=1)
    assert again.wait_acked(WAIT) and again.ack is not None and again.ack.run_id == new_run
