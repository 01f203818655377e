"""The bot SDK with the embedded capture tap, in the shape of the LedgerX Python SDK.

::

    from recorder.client import Commands, Context, KeyPair, MessageProcessor

    class MyProcessor(MessageProcessor):
        ...  # handle_run_change, handle_action_report, ... (see MessageProcessor)

    keys = KeyPair.generate()
    context = Context(endpoint, keys.private, keys.public, server_public, MyProcessor)
    context.start()
    cmd = Commands(context)
    item = cmd.limit_order(contract_id=1, size=1, price_in_cents=5000)
    item.callback = lambda msg, prev_msg: print(msg)
    ...
    context.stop(); context.join(3)

Every frame the context sends or receives is journaled first (ARCHITECTURE.md rule 1), in the
journal of ``[journal]`` in config.toml unless ``journal=`` says otherwise. For asyncio code,
:class:`~recorder.client.aio.AsyncContext` runs the same context with awaitable requests.
"""

from recorder.client.aio import AsyncCommands, AsyncContext, AsyncItem
from recorder.client.commands import GTC, IOC, Commands, Requests, new_mid
from recorder.client.context import FROM_CONFIG, Context
from recorder.client.processor import MessageProcessor
from recorder.client.store import Callback, IDStoreItem, ItemState, MessageIDStore
from recorder.core.mids import FinishReason, MidState
from recorder.keys import KeyPair

__all__ = [
    "FROM_CONFIG",
    "GTC",
    "IOC",
    "AsyncCommands",
    "AsyncContext",
    "AsyncItem",
    "Callback",
    "Commands",
    "Context",
    "FinishReason",
    "IDStoreItem",
    "ItemState",
    "KeyPair",
    "MessageIDStore",
    "MessageProcessor",
    "MidState",
    "Requests",
    "new_mid",
]
