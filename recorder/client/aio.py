"""The SDK's asyncio flavour: the same context, its requests as awaitables.

::

    context = Context(endpoint, keys.private, keys.public, server_public, MyProcessor)
    async with AsyncContext(context) as ctx:
        order = ctx.commands.limit_order(contract_id=1, size=1, price_in_cents=5000)
        await order.acked()
        async for msg in order:  # every reply with the order's mid, until it finishes
            ...

:class:`AsyncContext` runs a :class:`~recorder.client.context.Context` unchanged — its I/O thread,
the journal (every frame journaled first, ARCHITECTURE.md rule 1), the MID store, the
reconciliation, the processor's handlers, which still run on the I/O thread — and gives an event
loop what the blocking API gives threads. Its :class:`AsyncCommands` are the same commands
(:class:`~recorder.client.commands.Requests`), each returning an :class:`AsyncItem`.

How it waits without blocking the loop or a thread per request: an :class:`AsyncItem` is its
:class:`~recorder.client.store.IDStoreItem` with a callback and a wake hook
(:meth:`~recorder.client.store.IDStoreItem.watch`) that run on the I/O thread and hand each reply
and each state change to the loop with ``call_soon_threadsafe``. Replies reach the loop in the
order the I/O thread delivered them, each after its handler ran; a request that finishes without
a reply (released by a run change) ends its iteration too. When the context stops (or its I/O
thread dies), every unfinished item is closed: its iteration raises
:class:`~recorder.errors.ClientClosedError`, ``acked()``/``done()`` return False.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable

from google.protobuf.message import Message

from recorder.client.commands import Requests, new_mid
from recorder.client.context import Context
from recorder.client.store import Callback, IDStoreItem, ItemState
from recorder.core.mids import FinishReason
from recorder.core.orders import Order
from recorder.errors import ClientClosedError
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import make_envelope

__all__ = ["AsyncCommands", "AsyncContext", "AsyncItem"]

Envelope = pb.Envelope


class AsyncItem:
    """One request, awaitable: ``await item.acked()``, ``await item.done()``, and ``async for
    msg in item`` over every reply with its mid (each iteration from the first reply; it ends
    when the request finishes). Made by :class:`AsyncCommands`, bound to the running loop."""

    __slots__ = (
        "__weakref__", "_acked", "_changed", "_closed", "_done", "_loop", "_replies", "item",
    )  # fmt: skip

    def __init__(self, item: IDStoreItem, loop: asyncio.AbstractEventLoop) -> None:
        self.item = item
        """The request's store item (its mid, state, wire bytes, ...; read-only here)."""
        self._loop = loop
        self._replies: list[Envelope] = []
        """The replies delivered so far (loop thread)."""
        self._acked = self._done = False
        """As the I/O thread woke the item's waiters (after the handlers of the message)."""
        self._closed = False
        self._changed = asyncio.Event()
        item.watch(self._on_wake)

    @property
    def mid(self) -> str:
        """The request's mid (an order's entry id)."""
        return self.item.mid

    @property
    def state(self) -> ItemState:
        """Where the request is (queued, S1, S2, finished)."""
        return self.item.state

    @property
    def finish_reason(self) -> FinishReason | None:
        """Why it finished (None while in flight)."""
        return self.item.finish_reason

    @property
    def replies(self) -> list[Envelope]:
        """The replies the loop has been given so far, in order."""
        return list(self._replies)

    async def acked(self, timeout: float | None = None) -> bool:
        """Wait until the request is ACKed (or finished); False on timeout or a stopped context."""
        return await self._until(lambda: self._acked, timeout)

    async def done(self, timeout: float | None = None) -> bool:
        """Wait until the request is finished (S3); False on timeout or a stopped context."""
        return await self._until(lambda: self._done, timeout)

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Envelope]:
        i = 0
        while True:
            while i < len(self._replies):
                yield self._replies[i]
                i += 1
            if self._done:
                return
            if self._closed:
                raise ClientClosedError(
                    f"the context stopped before {self.item.kind} {self.mid} finished"
                )
            self._changed.clear()
            await self._changed.wait()

    async def _until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        async def wait() -> bool:
            while not ready():
                if self._closed:
                    return False
                self._changed.clear()
                await self._changed.wait()
            return True

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            return False

    def __repr__(self) -> str:
        return f"AsyncItem({self.item.kind} {self.mid} {self.state.value})"

    # ------------------------------------------------------------------ the I/O thread

    def on_reply(self, msg: Envelope, _prev: Envelope | None) -> None:
        """The item's callback (I/O thread): hand the reply to the loop."""
        self._to_loop(self._reply, msg)

    def _on_wake(self, item: IDStoreItem) -> None:
        if item.closed:  # its context stopped first
            self._to_loop(self._close)
        else:
            self._to_loop(self._woken, item.state is ItemState.FINISHED)

    def _to_loop(self, fn: Callable[..., None], *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody waits for this item any more
            self.item.watch(None)

    # ------------------------------------------------------------------ the loop

    def _reply(self, msg: Envelope) -> None:
        self._replies.append(msg)
        self._changed.set()

    def _woken(self, done: bool) -> None:
        self._acked = True
        self._done = self._done or done
        self._changed.set()

    def _close(self) -> None:
        self._closed = True
        self._changed.set()


class AsyncCommands(Requests[AsyncItem]):
    """The commands of :class:`~recorder.client.commands.Commands`, each returning an
    :class:`AsyncItem`; call them from the event loop's thread (they only queue the request:
    nothing blocks). A ``callback=`` given is called too, on the I/O thread, first."""

    def __init__(self, context: Context, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(context)
        self._loop = loop
        self._items: weakref.WeakSet[AsyncItem] = weakref.WeakSet()

    def _submit(self, body: Message, callback: Callback | None) -> AsyncItem:
        item = IDStoreItem(make_envelope(body, mid=new_mid()))
        waiting = self._track(item, callback)
        self.context.submit(item)
        return waiting

    def _submit_batch(
        self, batch: pb.Envelope, inner: list[pb.Envelope], callback: Callback | None
    ) -> tuple[AsyncItem, list[AsyncItem]]:
        item = IDStoreItem(batch)
        children = [IDStoreItem(envelope) for envelope in inner]
        waiting = self._track(item, callback)
        inner_waiting = [self._track(child, None) for child in children]
        self.context.submit(item, children)
        return waiting, inner_waiting

    def _track(self, item: IDStoreItem, callback: Callback | None) -> AsyncItem:
        waiting = AsyncItem(item, self._loop or asyncio.get_running_loop())
        if callback is None:
            item.callback = waiting.on_reply
        else:

            def both(msg: Envelope, prev: Envelope | None) -> None:
                try:
                    callback(msg, prev)
                finally:
                    waiting.on_reply(msg, prev)

            item.callback = both
        self._items.add(waiting)
        return waiting

    def close_all(self) -> None:
        """Close every unfinished item (loop thread): the context has stopped."""
        for waiting in list(self._items):
            if not waiting._done:
                waiting._close()


class AsyncContext:
    """A :class:`~recorder.client.context.Context` for asyncio code: ``AsyncContext(Context(...))``
    (not started yet), then ``await start()`` / ``await stop()`` (or ``async with``), and
    :attr:`commands` returning :class:`AsyncItem` awaitables. The processor's handlers run on the
    context's I/O thread, as without asyncio; :attr:`context` offers everything else."""

    def __init__(self, context: Context) -> None:
        self.context = context
        """The context (its :meth:`~recorder.client.context.Context.start` is :meth:`start`'s)."""
        self._commands: AsyncCommands | None = None
        self._ended: asyncio.Event | None = None

    @property
    def commands(self) -> AsyncCommands:
        """The requests, as :class:`AsyncItem` (after :meth:`start`)."""
        if self._commands is None:
            raise ClientClosedError("start the AsyncContext first (await start(), async with)")
        return self._commands

    @property
    def error(self) -> BaseException | None:
        """The fatal error that stopped the context, if any."""
        return self.context.error

    def open_orders(self) -> tuple[Order, ...]:
        """The open orders of the local state (the journal's projection)."""
        return self.context.open_orders()

    async def start(self, *, reconcile_timeout: float | None = 30.0) -> None:
        """Connect and start the I/O thread (from a worker thread: a restart's reconciliation
        may take a while). When the I/O thread ends, the unfinished items are closed."""
        loop = asyncio.get_running_loop()
        commands = self._commands = AsyncCommands(self.context, loop)
        ended = self._ended = asyncio.Event()

        def on_stop() -> None:  # on the I/O thread, as it ends
            def closed() -> None:
                commands.close_all()
                ended.set()

            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(closed)

        self.context.on_stop(on_stop)
        await asyncio.to_thread(self.context.start, reconcile_timeout=reconcile_timeout)

    async def stop(self) -> None:
        """Stop the context and wait for its I/O thread to end (journal session closed)."""
        self.context.stop()
        if self._ended is not None and self.context.is_alive():
            await self._ended.wait()
        self.context.join()  # ended, or ending: its stop callbacks ran

    async def __aenter__(self) -> AsyncContext:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
