"""The LX/1 matching engine: pure, no I/O, no clocks — the simulator's ground truth.

:class:`Engine` holds one L3 book per contract and every participant's open orders and fills.
:meth:`Engine.handle` takes one decoded request envelope from one participant and returns the
:class:`Outbound` messages it causes, in the order the exchange sends them; the envelopes carry
``mid``, ``mversion`` and the body, and the caller (:class:`recorder.sim.exchange.Exchange`)
stamps ``seq``, ``run_id``, ``timestamp`` and ``ticks``.

Theory of operation
-------------------

* **First reply.** Every request gets exactly one first reply, a ``Status`` (``ACK`` or a
  ``REJECT_*``). The first reply of every mid is remembered for the run; a request whose mid was
  seen is answered ``Status{duplicate=true}`` with the original code and is not executed again.
* **Matching.** Price-time priority. An incoming order trades against the best opposite level
  while it crosses, at the resting price, oldest entry first. Each fill produces a ``CROSS``
  report for the resting entry, then one for the incoming entry, sharing a ``trade_id``. What is
  left of a GTC order rests (``INSERTED``); what is left of an IOC order is dropped
  (``NOT_FILLED``, size 0).
* **Reports.** Every action report goes twice: privately to the entry's owner (order channel,
  ``mpid`` = the owner's) and publicly (market channel, ``mpid`` = 0). Each public report raises
  the contract's clock by exactly one; both copies carry the clock after the event. After a
  request, every contract whose top of book changed gets a ``BookTop``.
* **Envelope mids.** A private report carries the mid of the request that caused it when that
  request is the owner's own (a cancel's ``CANCELLED``, a cancel-replace's ``REPLACED``, an
  order's own reports); a resting entry's fill caused by someone else carries the entry's id.
  Public reports carry the entry id.
* **Failures.** A request whose handling raises (a bug) must leave no trace, and matching has no
  undo. Every book change goes through ``_execute`` or ``_unbook``, which note the contract's
  top in ``_tops`` first, so a non-empty ``_tops`` means "this request has changed a book".
  When :meth:`Engine.handle` raises before that, nothing changed but the mids a batch
  remembered on the way, and those are forgotten again; after it, the engine is
  :attr:`~Engine.spoiled` (its state no longer matches what was reported) until
  :meth:`~Engine.reset`: the exchange restarts the run.
* **Data layout.** Flat: per contract and side a sorted list of prices, a dict price -> deque of
  entries (time order) and a dict price -> open quantity; one dict mid -> entry for the whole
  engine. Entries are mutable slotted records that never leave this module; the views handed
  out (:class:`RestingOrder`, :class:`Fill`, :class:`BookView`) are frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from recorder.errors import LocalProtocolError
from recorder.sim.book import Book, Order, Side
from recorder.sim.model import (
    BookView,
    Contract,
    Fill,
    Outbound,
    RestingOrder,
    StatusTypeValue,
    is_valid_mid,
    status,
)
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import MAX_BATCH, MVERSION

__all__ = ["ACK", "DONE", "Engine"]

INSERTED = pb.INSERTED
CROSS = pb.CROSS
NOT_FILLED = pb.NOT_FILLED
CANCELLED = pb.CANCELLED
REPLACED = pb.REPLACED

ACK = pb.ACK
DONE = pb.DONE

_BATCHABLE = frozenset({"limit_order", "cancel_order", "cancel_replace", "cancel_all"})
_U64_MAX = (1 << 64) - 1
"""BookTop's sizes are uint64: a level's total open size saturates there (docs/protocol.md)."""


_Handler = Callable[["Engine", str, str, pb.Envelope, list[Outbound]], tuple[int, str]]


class Engine:
    """The matching engine of the simulator (see the module docstring for how it works).

    ``contracts`` are fixed for the engine's life; participants are added with
    :meth:`add_participant` and keep their ``mpid`` across :meth:`reset`.
    """

    def __init__(self, contracts: Iterable[Contract]) -> None:
        self._contracts: dict[int, Contract] = {c.contract_id: c for c in contracts}
        if not self._contracts:
            raise LocalProtocolError("an engine needs at least one contract")
        self._mpids: dict[str, int] = {}
        self._trade_id = 0
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    def add_participant(self, participant: str) -> int:
        """Register a participant (any unique string, e.g. a z85 public key); returns its mpid."""
        mpid = self._mpids.get(participant)
        if mpid is None:
            mpid = len(self._mpids) + 1
            self._mpids[participant] = mpid
            self._open[participant] = {}
            self._fills[participant] = []
        return mpid

    def reset(self) -> None:
        """A new run: every entry vanishes without a report, clocks restart at 0, mids forgotten.

        Trade ids keep rising across runs, so a trade id is unique for the engine's life.
        """
        self._books: dict[int, Book] = {cid: Book(c) for cid, c in self._contracts.items()}
        self._orders: dict[str, Order] = {}
        self._open: dict[str, dict[str, Order]] = {p: {} for p in self._mpids}
        self._fills: dict[str, list[Fill]] = {p: [] for p in self._mpids}
        self._seen: dict[str, tuple[int, str]] = {}
        self._tops: dict[int, tuple[int, int, int, int]] = {}
        self.spoiled = False
        """True once a request failed after changing a book: only a new run (this) clears it."""

    # ------------------------------------------------------------------ ground truth

    @property
    def contracts(self) -> tuple[Contract, ...]:
        """Every contract, in id order."""
        return tuple(self._contracts[c] for c in sorted(self._contracts))

    @property
    def participants(self) -> tuple[str, ...]:
        """Every registered participant, in mpid order."""
        return tuple(self._mpids)

    def mpid(self, participant: str) -> int:
        """The participant's mpid (its number in private action reports)."""
        return self._mpids[participant]

    def clock(self, contract_id: int) -> int:
        """The contract's clock: the number of public reports of this run."""
        return self._books[contract_id].clock

    def top(self, contract_id: int) -> tuple[int, int, int, int]:
        """``(bid, bid_size, ask, ask_size)``; 0 for an empty side."""
        return self._books[contract_id].top()

    def book(self, contract_id: int) -> BookView:
        """The contract's full book, each side best price first, then time priority."""
        book = self._books[contract_id]
        bids = tuple(o.view() for p in reversed(book.bids.prices) for o in book.bids.levels[p])
        asks = tuple(o.view() for p in book.asks.prices for o in book.asks.levels[p])
        return BookView(contract_id, book.clock, bids, asks)

    def open_orders(self, participant: str, contract_id: int = 0) -> list[RestingOrder]:
        """The participant's open entries (0 = every contract), oldest first."""
        return [
            o.view()
            for o in self._open[participant].values()
            if not contract_id or o.cid == contract_id
        ]

    def open_entry_ids(self, participant: str) -> list[str]:
        """The mids of the participant's open entries, oldest first (cheap; for bots)."""
        return list(self._open[participant])

    def entry(self, entry_id: str) -> RestingOrder | None:
        """One open entry by id, or None."""
        order = self._orders.get(entry_id)
        return None if order is None else order.view()

    def fills(self, participant: str) -> list[Fill]:
        """Every fill of the participant in this run, in the order they happened."""
        return list(self._fills[participant])

    def seen(self, mid: str) -> tuple[int, str] | None:
        """The first reply ``(code, message)`` given to ``mid`` in this run, or None."""
        return self._seen.get(mid)

    def remember(self, mid: str, code: int, message: str = "") -> None:
        """Record the first reply to ``mid`` (for requests answered outside the engine)."""
        self._seen[mid] = (code, message)

    # ------------------------------------------------------------------ requests

    def handle(self, participant: str, envelope: pb.Envelope) -> list[Outbound]:
        """Execute one request envelope from ``participant``; return what the exchange sends.

        The first element is always the request's first reply (a ``Status``) to the sender.
        ``MessageReplay`` is the sequencing layer's; here it is answered ``REJECT_MALFORMED``.
        If handling it raises, the exception propagates; the request left nothing behind, or
        :attr:`spoiled` is set (see "Failures" in the module docstring).
        """
        if participant not in self._mpids:
            raise LocalProtocolError(f"unknown participant {participant!r}; add_participant first")
        self._tops = {}
        known = len(self._seen)
        try:
            return self._handle(participant, envelope)
        except Exception:
            if self._tops:  # a book was changed, with no undo: the state no longer matches
                self.spoiled = True  # what was reported (see "Failures" above)
            else:  # nothing changed but the mids remembered on the way (new keys, at the end)
                while len(self._seen) > known:
                    self._seen.popitem()
            raise

    def _handle(self, participant: str, envelope: pb.Envelope) -> list[Outbound]:
        mid = envelope.mid
        valid = is_valid_mid(mid)
        seen = self._seen.get(mid) if valid else None
        if seen is not None:  # a resend: its first answer again, whatever the resend says now
            return [status(participant, mid, seen[0], seen[1], duplicate=True)]
        if envelope.mversion.partition(".")[0] != "1":
            text = f"unsupported mversion {envelope.mversion!r}; this exchange speaks 1.x"
            if valid:  # final, as every rejection: the same mid is never executed later
                self._seen[mid] = (pb.REJECT_VERSION, text)
            return [status(participant, mid, pb.REJECT_VERSION, text)]
        if not valid:
            return [
                status(
                    participant,
                    "",
                    pb.REJECT_MALFORMED,
                    f"mid {mid[:40]!r} is not 32 lowercase hex digits",
                )
            ]
        field = envelope.WhichOneof("body")
        handler = _HANDLERS.get(field or "")
        if handler is None:
            code: int = pb.REJECT_MALFORMED
            text = f"{field or 'no body'} is not a request"
            self._seen[mid] = (code, text)
            return [status(participant, mid, code, text)]
        after: list[Outbound] = []
        code, text = handler(self, participant, mid, envelope, after)
        self._seen[mid] = (code, text)
        first = status(participant, mid, code, text)
        self._book_tops(after)
        if not after:
            return [first]
        after.insert(0, first)
        return after

    # The handlers: each returns the first reply's (code, message) and appends what follows
    # the first reply to ``out``. A rejecting handler changes nothing and appends nothing.

    def _limit_order(
        self, participant: str, mid: str, envelope: pb.Envelope, out: list[Outbound]
    ) -> tuple[int, str]:
        body = envelope.limit_order
        book = self._books.get(body.contract_id)
        reject = self._check_order(book, body.contract_id, body.size, body.price_in_cents)
        if reject is not None:
            return reject
        if body.time_in_force not in (pb.GTC, pb.IOC):
            return pb.REJECT_MALFORMED, f"unknown time_in_force {body.time_in_force}"
        assert book is not None
        order = Order(
            mid,
            participant,
            self._mpids[participant],
            body.contract_id,
            body.is_ask,
            body.price_in_cents,
            body.size,
        )
        self._execute(book, order, body.time_in_force == pb.IOC, mid, out)
        return ACK, ""

    def _cancel_order(
        self, participant: str, mid: str, envelope: pb.Envelope, out: list[Outbound]
    ) -> tuple[int, str]:
        body = envelope.cancel_order
        book = self._books.get(body.contract_id)
        if book is None:
            return pb.REJECT_UNKNOWN_CONTRACT, f"no contract {body.contract_id}"
        order = self._own_entry(participant, body.contract_id, body.entry_id)
        if order is None:
            return pb.REJECT_UNKNOWN_ENTRY, f"no open entry {body.entry_id[:40]!r} of yours"
        self._unbook(book, order)
        order.size = 0
        self._report(book, order, CANCELLED, 0, 0, 0, mid, out)
        return ACK, ""

    def _cancel_replace(
        self, participant: str, mid: str, envelope: pb.Envelope, out: list[Outbound]
    ) -> tuple[int, str]:
        body = envelope.cancel_replace
        book = self._books.get(body.contract_id)
        reject = self._check_order(book, body.contract_id, body.size, body.price_in_cents)
        if reject is not None:
            return reject
        assert book is not None
        old = self._own_entry(participant, body.contract_id, body.entry_id)
        if old is None:
            return pb.REJECT_UNKNOWN_ENTRY, f"no open entry {body.entry_id[:40]!r} of yours"
        self._unbook(book, old)
        old.size = 0
        self._report(book, old, REPLACED, 0, 0, 0, mid, out)
        new = Order(mid, participant, old.mpid, old.cid, old.is_ask, body.price_in_cents, body.size)
        self._execute(book, new, False, mid, out)
        return ACK, ""

    def _cancel_all(
        self, participant: str, mid: str, envelope: pb.Envelope, out: list[Outbound]
    ) -> tuple[int, str]:
        cid = envelope.cancel_all.contract_id
        if cid and cid not in self._books:
            return pb.REJECT_UNKNOWN_CONTRACT, f"no contract {cid}"
        for order in list(self._open[participant].values()):
            if cid and order.cid != cid:
                continue
            book = self._books[order.cid]
            self._unbook(book, order)
            order.size = 0
            self._report(book, order, CANCELLED, 0, 0, 0, mid, out)
        out.append(status(participant, mid, DONE))
        return ACK, ""

    def _get_contracts(
        self, participant: str, mid: str, envelope: pb.Envelope, out: list[Outbound]
    ) -> tuple[int, str]:
        cid = envelope.get_contracts.contract_id
        if cid and cid not in self._contracts:
            return pb.REJECT_UNKNOWN_CONTRACT, f"no contract {cid}"
        for contract in self.contracts:
            if cid and contract.contract_id != cid:
                continue
            detail = pb.ContractDetail(
                contract_id=contract.contract_id,
                label=contract.label,
                tick_cents=contract.tick_cents,
                multiplier=contract.multiplier,
                active=contract.active,
            )
            out.append(
                Outbound(
                    participant, pb.Envelope(mid=mid, mversion=MVERSION, contract_detail=detail)
                )
            )
        out.append(status(participant, mid, DONE))
        return ACK, ""

    def _get_book_state(
        self, participant: str, mid: str, envelope: pb.Envelope, out: list[Outbound]
    ) -> tuple[int, str]:
        cid = envelope.get_book_state.contract_id
        if cid not in self._books:
            return pb.REJECT_UNKNOWN_CONTRACT, f"no contract {cid}"
        view = self.book(cid)
        snapshot = pb.BookStateSnapshot(
            contract_id=cid,
            clock=view.clock,
            entries=[
                pb.BookEntry(
                    entry_id=o.entry_id,
                    is_ask=o.is_ask,
                    price_in_cents=o.price_in_cents,
                    size=o.size,
                )
                for o in view.bids + view.asks
            ],
        )
        out.append(
            Outbound(
                participant, pb.Envelope(mid=mid, mversion=MVERSION, book_state_snapshot=snapshot)
            )
        )
        return ACK, ""

    def _get_open_orders(
        self, participant: str, mid: str, envelope: pb.Envelope, out: list[Outbound]
    ) -> tuple[int, str]:
        cid = envelope.get_open_orders.contract_id
        if cid and cid not in self._books:
            return pb.REJECT_UNKNOWN_CONTRACT, f"no contract {cid}"
        snapshot = pb.OpenOrdersSnapshot(
            entries=[
                pb.OpenOrder(
                    entry_id=o.entry_id,
                    is_ask=o.is_ask,
                    price_in_cents=o.price_in_cents,
                    size=o.size,
                    contract_id=o.contract_id,
                    original_size=o.original_size,
                    filled_size=o.filled_size,
                )
                for o in self.open_orders(participant, cid)
            ]
        )
        # run_id and as_of_seq are the sequencing layer's to fill in.
        out.append(
            Outbound(
                participant, pb.Envelope(mid=mid, mversion=MVERSION, open_orders_snapshot=snapshot)
            )
        )
        return ACK, ""

    def _batch(
        self, participant: str, mid: str, envelope: pb.Envelope, out: list[Outbound]
    ) -> tuple[int, str]:
        inner = envelope.batch.messages
        if not 1 <= len(inner) <= MAX_BATCH:
            return pb.REJECT_BATCH, f"a batch holds 1 to {MAX_BATCH} messages, not {len(inner)}"
        for i, message in enumerate(inner):
            field = message.WhichOneof("body")
            if field not in _BATCHABLE:
                return pb.REJECT_BATCH, (
                    f"message {i} of the batch is {field or 'empty'}; a batch holds only "
                    "LimitOrder, CancelOrder, CancelReplace and CancelAll"
                )
        self._seen[mid] = (ACK, "")  # an inner message reusing the batch's mid is a duplicate
        acks = pb.BatchAcks()
        after: list[Outbound] = []
        for message in inner:
            inner_mid = message.mid
            if not is_valid_mid(inner_mid):
                acks.acks.add(
                    mid=inner_mid,
                    code=pb.REJECT_MALFORMED,
                    message="mid is not 32 lowercase hex digits",
                )
                continue
            seen = self._seen.get(inner_mid)
            if seen is not None:
                acks.acks.add(mid=inner_mid, code=seen[0], message="duplicate")
                continue
            handler = _HANDLERS[message.WhichOneof("body") or ""]
            code, text = handler(self, participant, inner_mid, message, after)
            self._seen[inner_mid] = (code, text)
            acks.acks.add(mid=inner_mid, code=code, message=text)
        out.append(Outbound(participant, pb.Envelope(mid=mid, mversion=MVERSION, batch_acks=acks)))
        out.extend(after)
        return ACK, ""

    # ------------------------------------------------------------------ matching

    def _check_order(
        self, book: Book | None, cid: int, size: int, price: int
    ) -> tuple[int, str] | None:
        if book is None or not book.contract.active:
            return pb.REJECT_UNKNOWN_CONTRACT, f"no active contract {cid}"
        if size <= 0:
            return pb.REJECT_INVALID_SIZE, "size must be > 0"
        tick = book.contract.tick_cents
        if price <= 0 or price % tick:
            return pb.REJECT_INVALID_PRICE, (
                f"price {price} must be > 0 and a multiple of the tick ({tick} cents)"
            )
        return None

    def _own_entry(self, participant: str, cid: int, entry_id: str) -> Order | None:
        order = self._open[participant].get(entry_id)
        if order is None or order.cid != cid:
            return None
        return order

    def _execute(self, book: Book, order: Order, ioc: bool, mid: str, out: list[Outbound]) -> None:
        """Match ``order`` against the book, then rest it (GTC) or drop the rest (IOC)."""
        if book.contract.contract_id not in self._tops:
            self._tops[book.contract.contract_id] = book.top()
        if order.is_ask:
            opposite = book.bids
            prices = opposite.prices
            while order.size and prices and prices[-1] >= order.price:
                self._fill_level(book, opposite, prices[-1], order, out)
        else:
            opposite = book.asks
            prices = opposite.prices
            while order.size and prices and prices[0] <= order.price:
                self._fill_level(book, opposite, prices[0], order, out)
        if not order.size:
            return
        if ioc:
            order.size = 0
            self._report(book, order, NOT_FILLED, 0, 0, 0, mid, out)
            return
        (book.asks if order.is_ask else book.bids).add(order)
        self._orders[order.mid] = order
        self._open[order.owner][order.mid] = order
        self._report(book, order, INSERTED, 0, 0, 0, mid, out)

    def _fill_level(
        self, book: Book, side: Side, price: int, taker: Order, out: list[Outbound]
    ) -> None:
        level = side.levels[price]
        while taker.size and level:
            maker = level[0]
            qty = min(taker.size, maker.size)
            self._trade_id += 1
            trade_id = self._trade_id
            maker.size -= qty
            maker.filled += qty
            taker.size -= qty
            taker.filled += qty
            side.qty[price] -= qty
            if not maker.size:
                level.popleft()
                del self._orders[maker.mid]
                del self._open[maker.owner][maker.mid]
            self._report(book, maker, CROSS, qty, price, trade_id, maker.mid, out, False)
            self._report(book, taker, CROSS, qty, price, trade_id, taker.mid, out, True)
        if not level:
            side.drop_level(price)

    def _unbook(self, book: Book, order: Order) -> None:
        if book.contract.contract_id not in self._tops:
            self._tops[book.contract.contract_id] = book.top()
        (book.asks if order.is_ask else book.bids).remove(order)
        del self._orders[order.mid]
        del self._open[order.owner][order.mid]

    def _report(
        self,
        book: Book,
        order: Order,
        status_type: int,
        filled_size: int,
        filled_price: int,
        trade_id: int,
        private_mid: str,
        out: list[Outbound],
        aggressor: bool = False,
    ) -> None:
        book.clock += 1
        clock = book.clock
        report = pb.ActionReport(
            contract_id=order.cid,
            entry_id=order.mid,
            status_type=cast(StatusTypeValue, status_type),
            is_ask=order.is_ask,
            price_in_cents=order.price,
            size=order.size,
            filled_size=filled_size,
            filled_price=filled_price,
            original_size=order.original,
            clock=clock,
            trade_id=trade_id,
        )
        public = pb.Envelope(mid=order.mid, mversion=MVERSION, action_report=report)  # mpid 0
        report.mpid = order.mpid
        out.append(
            Outbound(
                order.owner, pb.Envelope(mid=private_mid, mversion=MVERSION, action_report=report)
            )
        )
        out.append(Outbound(None, public))
        if trade_id:
            self._fills[order.owner].append(
                Fill(
                    trade_id,
                    order.cid,
                    order.mid,
                    order.owner,
                    order.is_ask,
                    order.price,
                    filled_price,
                    filled_size,
                    clock,
                    aggressor,
                )
            )

    def _book_tops(self, out: list[Outbound]) -> None:
        for cid, before in self._tops.items():
            book = self._books[cid]
            after = book.top()
            if after != before:
                bid, bid_size, ask, ask_size = after
                top = pb.BookTop(
                    contract_id=cid,
                    bid=bid,
                    bid_size=min(bid_size, _U64_MAX),  # a level's sum can pass a uint64
                    ask=ask,
                    ask_size=min(ask_size, _U64_MAX),
                    clock=book.clock,
                )
                out.append(Outbound(None, pb.Envelope(mversion=MVERSION, book_top=top)))


_HANDLERS: dict[str, _Handler] = {
    "limit_order": Engine._limit_order,
    "cancel_order": Engine._cancel_order,
    "cancel_replace": Engine._cancel_replace,
    "cancel_all": Engine._cancel_all,
    "get_contracts": Engine._get_contracts,
    "get_book_state": Engine._get_book_state,
    "get_open_orders": Engine._get_open_orders,
    "batch": Engine._batch,
}
