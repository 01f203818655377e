"""A refused replay: the gap is written off, ``GetOpenOrders`` is authoritative, and the
differences are journaled as correction rows naming the orders they change."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from recorder.chaos.bot import QuietProcessor
from recorder.client import Commands, Context
from recorder.client.reconcile import ReconcileReport
from recorder.core.recovery import CorrectionKind, Trigger
from recorder.journal import open_journal
from recorder.journal.verify import verify
from recorder.keys import KeyPair
from recorder.projection import project
from recorder.sim.exchange import Delivery, Now
from recorder.sim.model import status
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb

WAIT = 15.0


class Reports(QuietProcessor):
    def __init__(self) -> None:
        self.reports: list[ReconcileReport] = []

    def handle_reconciled(self, report: ReconcileReport) -> None:
        self.reports.append(report)


def _refuse_replays(server: SimServer) -> None:
    exchange = server.exchange

    def refuse(participant: str, envelope: pb.Envelope, now: Now) -> list[Delivery]:
        text = "test: this exchange keeps no replay record"
        out = status(participant, envelope.mid, pb.REJECT_REPLAY_UNAVAILABLE, text)
        return exchange._emit([out], now)

    server.call(lambda: setattr(exchange, "_message_replay", refuse))


def test_refused_replay_corrects_from_the_open_orders_snapshot(
    make_context: Callable[..., Context], server: SimServer, bot_keys: KeyPair, tmp_path: Path
) -> None:
    processor = Reports()
    bot = make_context(processor)
    cmd = Commands(bot)
    keep, lose = (cmd.limit_order(contract_id=1, size=2, price_in_cents=4000 + i) for i in range(2))
    assert keep.wait_acked(WAIT) and lose.wait_acked(WAIT)
    deadline = time.monotonic() + WAIT
    while len(bot.open_orders()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # polling a condition against a deadline
    _refuse_replays(server)
    # Another connection of the same participant cancels one order: the bot's connection never
    # sees it (replies go to the most recent connection) and the replay is refused.
    assert server.endpoints is not None and bot_keys.private is not None
    other = Context(
        server.endpoints.order, bot_keys.private, bot_keys.public, server.public_key,
        QuietProcessor(), market_endpoint=server.endpoints.market, journal=None,
        config=bot.config,
    )  # fmt: skip
    other.start()
    Commands(other).cancel_order(contract_id=1, entry_id=lose.mid).wait_done(WAIT)
    other.stop()
    other.join(WAIT)

    def corrected() -> bool:
        return any(
            r.trigger is Trigger.REPLAY_UNAVAILABLE or Trigger.REPLAY_UNAVAILABLE in r.triggers
            for r in processor.reports
        ) and [o.entry_id for o in bot.open_orders()] == [keep.mid]

    deadline = time.monotonic() + WAIT
    while not corrected() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition against a deadline
    assert corrected()
    fixes = [c for r in processor.reports for c in r.corrections]
    assert [(c.kind, c.entry_id) for c in fixes] == [(CorrectionKind.CLOSE, lose.mid)]
    bot.stop()
    bot.join(WAIT)
    state = project(tmp_path / "bot.journal")
    assert [o.entry_id for o in state.open_orders] == [keep.mid]
    with open_journal(tmp_path / "bot.journal", readonly=True, create=False) as journal:
        rows = [f for f in journal.frames() if f.kind == "Correction"]
        assert (
            len(rows) == 1
            and pb.Envelope.FromString(rows[0].payload).action_report.entry_id == lose.mid
        )
        gaps = journal.gaps()
        assert gaps and all(g.state == "unrecoverable" and g.reason for g in gaps)
        assert verify(journal).ok
