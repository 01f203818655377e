"""Crash recovery: ``Context.start()`` on an existing journal rebuilds, reconciles, hands over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from waiting import until

from recorder.chaos.bot import QuietProcessor
from recorder.client import Commands, Context
from recorder.client.reconcile import ReconcileReport
from recorder.core.frames import Channel, Direction
from recorder.core.recovery import Trigger
from recorder.journal import open_journal
from recorder.journal.verify import verify
from recorder.keys import KeyPair
from recorder.projection import project
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import make_envelope
from recorder.venues.lx.records import to_record

WAIT = 10.0


class Reconciled(QuietProcessor):
    """Remembers every reconcile report."""

    def __init__(self) -> None:
        self.reports: list[ReconcileReport] = []

    def handle_reconciled(self, report: ReconcileReport) -> None:
        self.reports.append(report)


def _place(ctx: Context, n: int) -> list[str]:
    cmd = Commands(ctx)
    items = [
        cmd.limit_order(
            contract_id=1, is_ask=i % 2 == 1, size=2, price_in_cents=4000 + 2000 * (i % 2) + i
        )
        for i in range(n)
    ]
    for item in items:
        assert item.wait_acked(WAIT)
    return [i.mid for i in items]


def test_restart_recovers_open_orders_and_the_gap(
    make_context: Callable[..., Context], server: SimServer, bot_keys: KeyPair, tmp_path: Path
) -> None:
    first = make_context()
    mids = _place(first, 4)
    assert until(lambda: len(first.open_orders()) == 4)
    first.stop()
    first.join(WAIT)
    # While the bot is away the exchange goes on: one order is cancelled by someone else's
    # cancel-all of the same participant (a second connection), a gap for the journal.
    other = make_context(Reconciled(), reconcile_timeout=WAIT)
    Commands(other).cancel_order(contract_id=1, entry_id=mids[0]).wait_done(WAIT)
    other.stop()
    other.join(WAIT)
    proc = Reconciled()
    again = make_context(proc, reconcile_timeout=WAIT)
    assert again.reconciled.is_set()
    report = proc.reports[0]
    assert report.trigger is Trigger.STARTUP
    engine = {o.entry_id: o.size for o in server.open_orders(bot_keys.public)}
    assert {o.entry_id: o.open_size for o in again.open_orders()} == engine
    assert set(engine) == set(mids[1:])


def test_a_request_journaled_but_not_sent_is_resent_with_its_mid(
    make_context: Callable[..., Context], server: SimServer, bot_keys: KeyPair, tmp_path: Path
) -> None:
    first = make_context()
    _place(first, 1)
    first.stop()
    first.join(WAIT)
    # A process that journaled a LimitOrder and died before it reached the socket.
    mid = uuid.uuid4().hex
    env = make_envelope(
        pb.LimitOrder(contract_id=2, is_ask=False, size=3, price_in_cents=4000), mid=mid, seq=1
    )
    with open_journal(tmp_path / "bot.journal") as journal:
        session = journal.start_session(venue="lx1", capture_point="sdk")
        journal.append_one(
            to_record(
                env.SerializeToString(), session_id=session, channel=Channel.ORDER,
                direction=Direction.OUT, wall_ns=time.time_ns(), mono_ns=time.monotonic_ns(),
            )
        )  # fmt: skip
    proc = Reconciled()
    again = make_context(proc, reconcile_timeout=WAIT)
    assert mid in proc.reports[0].resent
    assert until(lambda: any(o.entry_id == mid for o in server.open_orders(bot_keys.public)))
    assert until(lambda: any(o.entry_id == mid for o in again.open_orders()))


def test_run_change_while_away_cancels_the_old_orders_as_such(
    make_context: Callable[..., Context], server: SimServer, bot_keys: KeyPair, tmp_path: Path
) -> None:
    first = make_context()
    _place(first, 3)
    first.stop()
    first.join(WAIT)
    server.restart()
    proc = Reconciled()
    again = make_context(proc, reconcile_timeout=WAIT)
    assert again.reconciled.is_set()
    assert again.open_orders() == ()
    assert until(lambda: proc.reports and proc.reports[-1].run_changed)
    again.stop()
    again.join(WAIT)
    state = project(tmp_path / "bot.journal")
    assert [o.status.value for o in state.orders] == ["run_cancelled"] * 3
    with open_journal(tmp_path / "bot.journal", readonly=True, create=False) as journal:
        rows = [f for f in journal.frames() if f.kind == "Correction"]
        assert len(rows) == 3  # one row per cancelled order, naming it
        assert verify(journal).ok


def test_sigkill_of_a_real_bot_process_then_restart(
    server: SimServer, exchange_keys: KeyPair, bot_keys: KeyPair, tmp_path: Path,
    make_context: Callable[..., Context],
) -> None:  # fmt: skip
    assert server.endpoints is not None and bot_keys.private is not None
    argv = [
        sys.executable, "-m", "recorder.chaos.bot", "--order", server.endpoints.order,
        "--market", server.endpoints.market, f"--server-key={exchange_keys.public.decode()}",
        f"--private={bot_keys.private.decode()}", f"--public={bot_keys.public.decode()}",
        "--journal", str(tmp_path / "bot.journal"), "--seed", "7",
    ]  # fmt: skip
    with open(tmp_path / "bot.log", "w") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == "ready", (tmp_path / "bot.log").read_text()[-3000:]
    assert until(lambda: len(server.open_orders(bot_keys.public)) >= 5)
    server.drop_next(bot_keys.public, 5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    processor = Reconciled()
    again = make_context(processor, reconcile_timeout=30)
    assert again.reconciled.is_set()
    engine = {o.entry_id: o.size for o in server.open_orders(bot_keys.public)}
    assert until(lambda: {o.entry_id: o.open_size for o in again.open_orders()} == engine)
