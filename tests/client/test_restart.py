"""A context started on the journal of an earlier one — stopped, or killed — takes over its open
orders: they stay tracked in the MID store, and their next reports get the ``prev_msg`` the
earlier context would have given (the seed's: the previous message with the same mid)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sdk_helpers import WAIT, Recording

from recorder.client import IOC, Commands, Context, ItemState
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb

HERE = Path(__file__).parent


@pytest.fixture
def crashed(server: SimServer, client_keys: Any, tmp_path: Path) -> dict[str, Any]:
    """The mids of a bot process that placed an order and a batch of two (all resting, their
    INSERTED reports journaled) and was killed (crashing_bot.py)."""
    assert server.endpoints is not None and client_keys.private is not None
    argv = [
        sys.executable, str(HERE / "crashing_bot.py"), server.endpoints.order,
        server.endpoints.market, server.public_key.decode(), client_keys.private.decode(),
        client_keys.public.decode(), str(tmp_path),
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    mids: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    resting = {o.entry_id for o in server.open_orders(client_keys.public)}
    assert resting == {mids["single"], *mids["kids"]}
    return mids


def _reports_for(processor: Recording, entry_id: str) -> list[tuple[pb.Envelope, Any]]:
    return [
        (m, prev) for m, prev in processor.named("action_report")
        if m.action_report.entry_id == entry_id
    ]  # fmt: skip


def test_an_order_resting_at_a_stop_gets_its_last_report_as_prev_msg(
    make_context: Callable[..., Context],
) -> None:
    first = Recording()
    context = make_context(first)
    rest = Commands(context).limit_order(contract_id=1, size=2, price_in_cents=5000, is_ask=True)
    ((inserted, _),) = first.wait_for(lambda _: _reports_for(first, rest.mid))
    context.stop()
    context.join(WAIT)

    again = Recording()
    context = make_context(again)
    assert context.reconciled.wait(WAIT)
    hit = Commands(context).limit_order(contract_id=1, size=1, price_in_cents=5000)
    assert hit.wait_done(WAIT)
    ((cross, prev),) = again.wait_for(lambda _: _reports_for(again, rest.mid))
    assert cross.action_report.status_type == pb.CROSS and cross.action_report.size == 1
    assert prev == inserted  # the order's last message, not a request made up at the restart
    item = context.store.get(rest.mid)
    assert item is not None and item.msg.limit_order.size == 2  # its journaled LimitOrder


def test_batch_orders_resting_at_a_crash_are_tracked_again(
    crashed: dict[str, Any], make_context: Callable[..., Context]
) -> None:
    context = make_context()
    assert context.reconciled.wait(WAIT)
    assert {o.entry_id for o in context.open_orders()} == {crashed["single"], *crashed["kids"]}
    # The batch finished with its BatchAcks; its orders rest: each is tracked on its own, like
    # the single order.
    for mid in (crashed["single"], *crashed["kids"]):
        item = context.store.get(mid)
        assert item is not None, f"resting order {mid} not tracked after the crash"
        assert item.state is ItemState.ACKED and item.kind == "LimitOrder"
        assert item.msg.limit_order.size == 1 and not item.parent


def test_orders_resting_at_a_crash_get_their_last_report_as_prev_msg(
    crashed: dict[str, Any], make_context: Callable[..., Context]
) -> None:
    processor = Recording()
    context = make_context(processor)
    assert context.reconciled.wait(WAIT)
    hit = Commands(context).limit_order(
        contract_id=1, size=3, price_in_cents=3000, is_ask=True, time_in_force=IOC
    )
    assert hit.wait_done(WAIT)
    for mid in (crashed["single"], *crashed["kids"]):
        ((cross, prev),) = processor.wait_for(lambda _, mid=mid: _reports_for(processor, mid))
        assert cross.action_report.status_type == pb.CROSS and cross.action_report.size == 0
        # The order's INSERTED report, journaled by the killed process, as it would have been.
        assert prev is not None and prev.WhichOneof("body") == "action_report", prev
        assert prev.mid == mid and prev.action_report.status_type == pb.INSERTED
        assert prev.action_report.size == 1
