"""``Commands``: the requests a bot sends, in the shape of the LedgerX SDK's commands module.

Every command builds an LX/1 request under a fresh uuid4-hex mid, submits it to the context's
I/O thread (which journals it, then sends it) and returns at once with an
:class:`~recorder.client.store.IDStoreItem`: ``item.msg.mid`` is the mid (an order's entry id),
``item.callback`` receives every reply with that mid, ``item.wait_acked()`` /
``item.wait_done()`` block until S2 / S3. Pass ``callback=`` to have it set before anything can
arrive.

The commands themselves are :class:`Requests`, generic in what a submission returns: ``Commands``
returns the store's items; :class:`recorder.client.aio.AsyncCommands` returns the same requests
as :class:`~recorder.client.aio.AsyncItem` awaitables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

from google.protobuf.message import Message

from recorder.client.context import Context
from recorder.client.store import Callback, IDStoreItem
from recorder.errors import LocalProtocolError
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import BATCHABLE_KINDS, MAX_BATCH, make_envelope

GTC = pb.GTC
"""Good till cancelled: the rest of the order rests on the book."""
IOC = pb.IOC
"""Immediate or cancel: what does not trade at once is dropped (``NOT_FILLED``)."""


def new_mid() -> str:
    """A fresh LX/1 mid: uuid4 as 32 lowercase hex digits."""
    return uuid.uuid4().hex


T = TypeVar("T")
"""What a submitted request is handed back as (an :class:`IDStoreItem`, or its asyncio face)."""


class Requests(Generic[T]):
    """The LX/1 requests a bot sends through one :class:`~recorder.client.context.Context`;
    a subclass decides what a submission returns (:meth:`_submit`, :meth:`_submit_batch`)."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def _submit(self, body: Message, callback: Callback | None) -> T:
        """Submit one request body under a new mid."""
        raise NotImplementedError

    def _submit_batch(
        self, batch: pb.Envelope, inner: list[pb.Envelope], callback: Callback | None
    ) -> tuple[T, list[T]]:
        """Submit a ``Batch`` envelope with an item per inner message."""
        raise NotImplementedError

    def limit_order(
        self,
        *,
        contract_id: int,
        size: int,
        price_in_cents: int,
        is_ask: bool = False,
        time_in_force: pb.TimeInForce = GTC,
        client_ref: str = "",
        callback: Callback | None = None,
    ) -> T:
        """A limit order; its mid is the entry id. Finished when a report says size 0."""
        body = pb.LimitOrder(
            contract_id=contract_id,
            is_ask=is_ask,
            size=size,
            price_in_cents=price_in_cents,
            time_in_force=time_in_force,
            client_ref=client_ref,
        )
        return self._submit(body, callback)

    def cancel_order(
        self, *, contract_id: int, entry_id: str, callback: Callback | None = None
    ) -> T:
        """Cancel one of your entries (``entry_id`` = the order's mid)."""
        return self._submit(pb.CancelOrder(contract_id=contract_id, entry_id=entry_id), callback)

    def cancel_replace(
        self,
        *,
        contract_id: int,
        entry_id: str,
        size: int,
        price_in_cents: int,
        callback: Callback | None = None,
    ) -> T:
        """Replace an entry; the replacement rests under this request's mid."""
        body = pb.CancelReplace(
            contract_id=contract_id, entry_id=entry_id, size=size, price_in_cents=price_in_cents
        )
        return self._submit(body, callback)

    def cancel_all(self, contract_id: int = 0, *, callback: Callback | None = None) -> T:
        """Cancel every open entry of yours (on one contract, or all with 0)."""
        return self._submit(pb.CancelAll(contract_id=contract_id), callback)

    def get_contracts(self, contract_id: int = 0, *, callback: Callback | None = None) -> T:
        """One ``ContractDetail`` per contract (0 = all), then ``Status{DONE}``."""
        return self._submit(pb.GetContracts(contract_id=contract_id), callback)

    def get_book_state(self, contract_id: int, *, callback: Callback | None = None) -> T:
        """A ``BookStateSnapshot`` of one contract."""
        return self._submit(pb.GetBookState(contract_id=contract_id), callback)

    def get_open_orders(self, contract_id: int = 0, *, callback: Callback | None = None) -> T:
        """An ``OpenOrdersSnapshot`` of your entries (0 = every contract)."""
        return self._submit(pb.GetOpenOrders(contract_id=contract_id), callback)

    def message_replay(
        self,
        run_id: str = "",
        from_seq: int = 0,
        to_seq: int = 0,
        *,
        mids: Iterable[str] = (),
        callback: Callback | None = None,
    ) -> T:
        """Ask the exchange to re-send order-channel messages (a seq range, or by mid)."""
        body = pb.MessageReplay(run_id=run_id, from_seq=from_seq, to_seq=to_seq, mids=list(mids))
        return self._submit(body, callback)

    def batch(
        self,
        messages: Sequence[Message],
        *,
        callback: Callback | None = None,
    ) -> tuple[T, list[T]]:
        """Up to 200 ``LimitOrder``/``CancelOrder``/``CancelReplace``/``CancelAll`` in one go.

        ``messages`` are request bodies (or envelopes, whose mid is kept if set). Returns the
        batch's item (its callback gets the ACK and the ``BatchAcks``) and one item per inner
        message, in order (their callbacks get each message's own reports).
        """
        if not 1 <= len(messages) <= MAX_BATCH:
            raise LocalProtocolError(
                f"a batch holds 1 to {MAX_BATCH} messages, not {len(messages)}; split it"
            )
        inner: list[pb.Envelope] = []
        for message in messages:
            if isinstance(message, pb.Envelope):
                envelope = pb.Envelope()
                envelope.CopyFrom(message)
                envelope.mid = envelope.mid or new_mid()
            else:
                if message.DESCRIPTOR.name not in BATCHABLE_KINDS:
                    raise LocalProtocolError(
                        f"a batch may hold {', '.join(sorted(BATCHABLE_KINDS))}, "
                        f"not {message.DESCRIPTOR.name}"
                    )
                envelope = make_envelope(message, mid=new_mid())
            inner.append(envelope)
        batch = make_envelope(pb.Batch(messages=inner), mid=new_mid())
        return self._submit_batch(batch, inner, callback)


class Commands(Requests[IDStoreItem]):
    """Requests for one :class:`~recorder.client.context.Context` (``Commands(context)``), each
    returned as its :class:`IDStoreItem`."""

    def _submit(self, body: Message, callback: Callback | None) -> IDStoreItem:
        item = IDStoreItem(make_envelope(body, mid=new_mid()), callback)
        return self.context.submit(item)

    def _submit_batch(
        self, batch: pb.Envelope, inner: list[pb.Envelope], callback: Callback | None
    ) -> tuple[IDStoreItem, list[IDStoreItem]]:
        items = [IDStoreItem(envelope) for envelope in inner]
        batch_item = IDStoreItem(batch, callback)
        self.context.submit(batch_item, items)
        return batch_item, items
