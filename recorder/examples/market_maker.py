"""An example market-making bot on the SDK: one bid and one ask around each book's mid.

A small, readable :class:`~recorder.client.MessageProcessor` that the demo runs against the
simulator and that ``recorder replay --into recorder.examples.market_maker:MarketMaker`` can
replay. Everything it knows comes from its handlers (never from item callbacks), so a replay
reproduces its decisions exactly — what it would have sent is in ``Replayer.submitted``.

* ``handle_contract_detail`` learns each contract's tick;
* ``handle_book_top`` computes the mid and wants a bid ``spread_ticks`` below it and an ask
  ``spread_ticks`` above it (none on a side where the position is at ``max_position``); a
  resting quote at another price is moved with ``CancelReplace``, a missing one is placed;
* ``handle_action_report`` follows its own entries (an entry with ``size == 0`` is gone) and
  counts fills into a position per contract;
* ``handle_run_change`` forgets every quote (the exchange cancelled them) — it requotes on the
  next book top.

Run it alone against a simulator (``recorder sim`` in another terminal, keys from
``recorder keys generate``)::

    python -m recorder.examples.market_maker --key var/keys/bot.key \\
        --server-key var/keys/exchange.key --journal var/bot.journal --seconds 30
"""

from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass
from pathlib import Path

from recorder.client import Commands, MessageProcessor
from recorder.core.frames import Channel
from recorder.errors import ClientClosedError
from recorder.venues.lx import lx1_pb2 as pb

Envelope = pb.Envelope


@dataclass(slots=True)
class Quote:
    """One working entry of the bot: where it is and whether the exchange acknowledged it."""

    contract_id: int
    is_ask: bool
    price_in_cents: int
    acked: bool = False


class MarketMaker(MessageProcessor):
    """Quotes both sides of every contract it sees (see the module docstring)."""

    def __init__(self, size: int = 2, spread_ticks: int = 1, max_position: int = 10) -> None:
        self.size = size
        self.spread_ticks = spread_ticks
        self.max_position = max_position
        self.ticks: dict[int, int] = {}
        """Contract id → tick (cents), from ``ContractDetail``."""
        self.quotes: dict[str, Quote] = {}
        """Entry id (the order's mid) → the quote, while it works."""
        self.position: dict[int, int] = {}
        """Contract id → net contracts bought (sold negative)."""
        self.fills = 0
        self.orders_sent = 0
        self.run_changes = 0
        self.gaps = 0
        self.outages = 0
        self._commands: Commands | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ helpers

    @property
    def commands(self) -> Commands:
        """Commands on this processor's context (live or replay)."""
        if self._commands is None:
            assert self.context is not None, "start the context first"
            self._commands = Commands(self.context)
        return self._commands

    def start(self) -> None:
        """Ask for the contracts; quoting starts with the first book tops."""
        self.commands.get_contracts()

    def _working(self, contract_id: int, is_ask: bool) -> tuple[str, Quote] | None:
        for mid, quote in self.quotes.items():
            if quote.contract_id == contract_id and quote.is_ask == is_ask:
                return mid, quote
        return None

    def _requote(self, contract_id: int, is_ask: bool, price: int | None) -> None:
        working = self._working(contract_id, is_ask)
        if working is None:
            if price is None:
                return
            item = self.commands.limit_order(
                contract_id=contract_id,
                size=self.size,
                price_in_cents=price,
                is_ask=is_ask,
                client_ref=f"mm-{self.orders_sent + 1}",
            )
            self.orders_sent += 1
            self.quotes[item.mid] = Quote(contract_id, is_ask, price)
            return
        mid, quote = working
        if not quote.acked or quote.price_in_cents == price:
            return  # in flight, or already where it should be
        if price is None:
            self.commands.cancel_order(contract_id=contract_id, entry_id=mid)
            quote.acked = False  # until its CANCELLED report
            return
        item = self.commands.cancel_replace(
            contract_id=contract_id, entry_id=mid, size=self.size, price_in_cents=price
        )
        self.orders_sent += 1
        del self.quotes[mid]  # its REPLACED report finds nothing left to do
        self.quotes[item.mid] = Quote(contract_id, is_ask, price)

    # ------------------------------------------------------------------ handlers

    def handle_contract_detail(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Remember the contract's tick."""
        detail = msg.contract_detail
        if detail.active:
            self.ticks[detail.contract_id] = detail.tick_cents

    def handle_book_top(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Requote the contract around the new mid."""
        top = msg.book_top
        tick = self.ticks.get(top.contract_id)
        if tick is None or not top.bid or not top.ask:
            return
        mid_price = (top.bid + top.ask) / 2
        bid = int(mid_price // tick - self.spread_ticks) * tick
        ask = int(-(-mid_price // tick) + self.spread_ticks) * tick
        with self._lock:
            net = self.position.get(top.contract_id, 0)
            try:
                self._requote(top.contract_id, False, bid if net < self.max_position else None)
                self._requote(top.contract_id, True, ask if net > -self.max_position else None)
            except ClientClosedError:
                pass  # the context is stopping: nothing more to send

    def handle_status_message(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """An ACK makes a quote movable; a reject forgets it."""
        with self._lock:
            quote = self.quotes.get(msg.mid)
            if quote is None:
                return
            if msg.status.code == pb.ACK:
                quote.acked = True
            elif msg.status.code != pb.DONE:
                del self.quotes[msg.mid]

    def handle_action_report(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Count fills; forget entries that are gone (size 0)."""
        report = msg.action_report
        with self._lock:
            if report.filled_size:
                self.fills += 1
                sign = -1 if report.is_ask else 1
                cid = report.contract_id
                self.position[cid] = self.position.get(cid, 0) + sign * report.filled_size
            if report.size == 0:
                self.quotes.pop(report.entry_id, None)
            elif report.entry_id in self.quotes:
                self.quotes[report.entry_id].acked = True

    def handle_run_change(self, run_id: str, prev_run_id: str) -> None:
        """The exchange restarted: every quote is gone."""
        with self._lock:
            self.run_changes += 1
            self.quotes.clear()

    def handle_gap(self, channel: Channel, run_id: str, from_seq: int, to_seq: int) -> None:
        """The SDK recovers gaps itself; count them."""
        self.gaps += 1

    def handle_exchange_unavailable(self, channel: Channel, silent_ms: int) -> None:
        """The SDK reconnects itself; count outages."""
        self.outages += 1

    def handle_batch_message(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Not used: this bot sends no batches."""

    def handle_book_state_snapshot(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Not used: quoting follows ``BookTop``."""

    def handle_heartbeat(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """Nothing to do: the SDK watches heartbeats."""


def main(argv: list[str] | None = None) -> None:
    """Run the bot against an exchange until ``--seconds`` pass (or it is killed)."""
    from recorder.client import Context
    from recorder.config import ClientConfig, Config, JournalConfig
    from recorder.keys import KeyPair

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--order", default="tcp://127.0.0.1:7101", help="order channel")
    parser.add_argument("--market", default="tcp://127.0.0.1:7102", help="market channel")
    parser.add_argument("--key", type=Path, required=True, help="the bot's certificate")
    parser.add_argument("--server-key", type=Path, required=True, help="exchange certificate")
    parser.add_argument("--journal", type=Path, default=Path("var/bot.journal"))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--heartbeat-ms", type=int, default=1000)
    args = parser.parse_args(argv)
    keys = KeyPair.load_certificate(args.key)
    server = KeyPair.load_certificate(args.server_key)
    assert keys.private is not None
    config = Config(
        journal=JournalConfig(path=args.journal),
        client=ClientConfig(default_heartbeat_ms=args.heartbeat_ms),
    )
    bot = MarketMaker()
    context = Context(
        args.order,
        keys.private,
        keys.public,
        server.public,
        bot,
        market_endpoint=args.market,
        journal=args.journal,
        config=config,
    )
    stop = threading.Event()
    with context:
        bot.start()
        stop.wait(args.seconds)
    print(f"orders sent {bot.orders_sent}, fills {bot.fills}, position {bot.position}")


if __name__ == "__main__":
    main()
