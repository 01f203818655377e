"""The asyncio flavour (:mod:`recorder.client.aio`) against the simulator over CURVE: the same
context underneath (journaled, reconciled), requests awaited and their replies iterated."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from sdk_helpers import WAIT, Recording, client_config, read_journal

from recorder.client import IOC, AsyncContext, Context, FinishReason, ItemState
from recorder.errors import ClientClosedError
from recorder.keys import KeyPair
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb

Body = Callable[[AsyncContext], Coroutine[Any, Any, None]]


def _run(server: SimServer, keys: KeyPair, tmp_path: Path, body: Body, **client: Any) -> Recording:
    """Run ``body(context)`` in a fresh event loop with a started AsyncContext (stopped after);
    returns its processor."""
    assert server.endpoints is not None and keys.private is not None
    processor = Recording()

    async def main() -> None:
        context = AsyncContext(
            Context(
                server.endpoints.order, keys.private, keys.public, server.public_key, processor,
                market_endpoint=server.endpoints.market, config=client_config(tmp_path, **client),
            )
        )  # fmt: skip
        async with context:
            await asyncio.wait_for(body(context), WAIT)
        assert not context.context.is_alive()

    asyncio.run(main())
    return processor


def test_an_order_is_awaited_and_its_replies_iterated_in_order(
    server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    async def body(context: AsyncContext) -> None:
        order = context.commands.limit_order(
            contract_id=1, size=1, price_in_cents=100, time_in_force=IOC
        )
        assert await order.acked()
        seen["replies"] = [msg async for msg in order]
        assert await order.done()
        seen["again"] = [msg async for msg in order]  # a second iteration starts over
        seen["item"] = order.item
        seen["reason"] = order.finish_reason

    _run(server, client_keys, tmp_path, body)
    replies = seen["replies"]
    assert [m.WhichOneof("body") for m in replies] == ["status", "action_report"]
    assert replies[0].status.code == pb.ACK
    assert replies[1].action_report.status_type == pb.NOT_FILLED  # IOC on an empty book
    assert replies == seen["again"] == seen["item"].replies
    assert seen["reason"] is FinishReason.SIZE_ZERO
    # The same context underneath: the request and its replies are in the journal, in order.
    with read_journal(tmp_path / "sdk.journal") as journal:
        frames = [f for f in journal.by_mid(seen["item"].mid) if f.channel == "order"]
    assert [f.payload for f in frames] == [
        seen["item"].wire,
        *(m.SerializeToString() for m in replies),
    ]


def test_the_loop_runs_on_while_a_request_is_awaited(
    server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    """Nothing blocks the event loop: another task keeps running while replies are awaited,
    and the replies reach the loop's thread, not the I/O thread."""
    ticks: list[int] = []
    threads: set[int] = set()

    async def body(context: AsyncContext) -> None:
        async def ticker() -> None:
            while True:
                ticks.append(1)
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        order = context.commands.get_contracts()
        async for _ in order:
            threads.add(threading.get_ident())
        task.cancel()
        assert order.state is ItemState.FINISHED

    _run(server, client_keys, tmp_path, body)
    assert ticks
    assert threads == {threading.get_ident()}  # asyncio.run runs the loop in this thread


def test_a_batch_and_its_inner_orders_are_each_awaited(
    server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    result: dict[str, Any] = {}

    async def body(context: AsyncContext) -> None:
        orders = [
            pb.LimitOrder(contract_id=1, size=1, price_in_cents=100 + i, time_in_force=pb.GTC)
            for i in range(3)
        ]
        batch, inner = context.commands.batch(orders)
        assert await batch.done()
        assert all([await item.acked() for item in inner])
        firsts = [await anext(aiter(item)) for item in inner]  # each order's own first report
        result["inserted"] = [m.action_report.status_type for m in firsts]
        result["batch"] = [m.WhichOneof("body") for m in batch.replies]
        result["states"] = {item.state for item in inner}
        cancel = context.commands.cancel_all(1)
        assert await cancel.done()
        result["inner"] = [[m async for m in item] == item.item.replies for item in inner]
        result["reasons"] = {item.finish_reason for item in inner}

    _run(server, client_keys, tmp_path, body)
    assert result["batch"] == ["status", "batch_acks"]
    assert result["inserted"] == [pb.INSERTED] * 3
    assert result["states"] == {ItemState.ACKED}  # resting: in flight until cancelled
    # Cancelled by the CancelAll (whose mid the cancellations carry): each iteration ends.
    assert result["inner"] == [True] * 3
    assert result["reasons"] == {FinishReason.SIZE_ZERO}


def test_a_request_released_by_a_run_change_ends_its_iteration(
    server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    """A resting order of the old run finishes with no reply of its own: the wake ends the
    iteration (an iterator waiting on replies alone would wait forever)."""
    result: dict[str, Any] = {}

    async def body(context: AsyncContext) -> None:
        order = context.commands.limit_order(contract_id=1, size=1, price_in_cents=100)
        assert await order.acked()
        replies = order.__aiter__()
        assert (await anext(replies)).WhichOneof("body") == "status"
        assert (await anext(replies)).action_report.status_type == pb.INSERTED
        await asyncio.to_thread(server.restart)
        with pytest.raises(StopAsyncIteration):
            await anext(replies)
        result["reason"] = order.finish_reason

    processor = _run(server, client_keys, tmp_path, body)
    assert result["reason"] is FinishReason.RUN_CHANGE
    assert processor.named("run_change")


def test_stopping_the_context_closes_what_is_still_in_flight(
    server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    result: dict[str, Any] = {}

    async def body(context: AsyncContext) -> None:
        order = context.commands.limit_order(contract_id=1, size=1, price_in_cents=100)
        assert await order.acked()
        await context.stop()
        assert not await order.done(timeout=WAIT)  # False at once: nothing more can come
        with pytest.raises(ClientClosedError, match=order.mid):
            async for _ in order:
                pass
        with pytest.raises(ClientClosedError):
            context.commands.get_contracts()  # the context is not running any more
        result["state"] = order.state

    _run(server, client_keys, tmp_path, body)
    assert result["state"] is ItemState.ACKED  # resting: in flight when the context stopped


def test_an_io_thread_that_ends_by_itself_closes_what_is_in_flight(
    server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    """The items learn of the I/O thread's end from the thread itself (as after a fatal error),
    not only from AsyncContext.stop()."""
    result: dict[str, Any] = {}

    async def body(context: AsyncContext) -> None:
        order = context.commands.limit_order(contract_id=1, size=1, price_in_cents=100)
        assert await order.acked()
        context.context.stop()  # the thread ends; nobody awaits AsyncContext.stop()
        with pytest.raises(ClientClosedError):
            async for _ in order:
                pass
        with read_journal(tmp_path / "sdk.journal") as journal:  # closed by then
            result["end"] = journal.sessions()[-1].end_reason

    _run(server, client_keys, tmp_path, body)
    assert result["end"] == "stopped"  # the items are closed after the session ended


def test_a_callback_given_is_called_too(
    server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    called: list[tuple[str, bool]] = []
    io_threads: set[int] = set()

    def callback(msg: pb.Envelope, prev: pb.Envelope | None) -> None:
        io_threads.add(threading.get_ident())
        called.append((msg.WhichOneof("body") or "", prev is not None))

    async def body(context: AsyncContext) -> None:
        order = context.commands.limit_order(
            contract_id=1, size=1, price_in_cents=100, time_in_force=IOC, callback=callback
        )
        assert [m.WhichOneof("body") async for m in order] == ["status", "action_report"]

    _run(server, client_keys, tmp_path, body)
    assert called == [("status", True), ("action_report", True)]  # prev_msg: the request first
    assert threading.get_ident() not in io_threads  # on the I/O thread, not the loop's


def test_a_restart_on_the_journal_knows_what_is_open_before_start_returns(
    server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    """Crash recovery with asyncio: a second AsyncContext on the first one's journal has the
    resting order in its state once ``await start()`` returns (rebuilt, then reconciled)."""
    mids: list[str] = []
    restored: dict[str, Any] = {}

    async def place(context: AsyncContext) -> None:
        order = context.commands.limit_order(contract_id=2, size=3, price_in_cents=4200)
        assert await order.acked()
        mids.append(order.mid)

    async def restart(context: AsyncContext) -> None:
        restored["open"] = {o.entry_id: o.open_size for o in context.open_orders()}
        restored["reconciled"] = context.context.reconciled.is_set()

    _run(server, client_keys, tmp_path, place)
    _run(server, client_keys, tmp_path, restart)
    assert restored == {"open": {mids[0]: 3}, "reconciled": True}


def test_commands_before_start_say_what_to_do(tmp_path: Path) -> None:
    keys = KeyPair.generate()
    assert keys.private is not None
    context = AsyncContext(
        Context(
            "tcp://127.0.0.1:1", keys.private, keys.public, keys.public, Recording(),
            market_endpoint="tcp://127.0.0.1:2", config=client_config(tmp_path),
        )
    )  # fmt: skip
    with pytest.raises(ClientClosedError, match="start the AsyncContext first"):
        context.commands.get_contracts()
    context.context.tap.close()
