"""The embedded capture tap: every frame on the wire is in the journal, byte-identical and in
order, journaled before it is sent or handled (ARCHITECTURE.md rule 1)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from sdk_helpers import WAIT, Recording, read_journal
from waiting import until

from recorder.client import Commands, Context, IDStoreItem
from recorder.client.reconcile import APPLY_AGE_NS, APPLY_ROWS, Reconciler
from recorder.core.frames import Channel, Direction
from recorder.errors import ClientClosedError, JournalError
from recorder.journal.verify import verify
from recorder.journal.wire import WireFrame
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import decode


def _is_heartbeat(data: bytes) -> bool:
    return decode(data).WhichOneof("body") == "heartbeat"


def _traffic(context: Context) -> None:
    cmd = Commands(context)
    assert cmd.get_contracts().wait_done(WAIT)
    order = cmd.limit_order(contract_id=1, size=2, price_in_cents=5000)
    assert order.wait_acked(WAIT)
    ask = cmd.limit_order(contract_id=1, size=1, price_in_cents=5000, is_ask=True)
    assert ask.wait_done(WAIT)  # crosses: CROSS reports on both channels, a book top
    assert cmd.cancel_order(contract_id=1, entry_id=order.mid).wait_done(WAIT)
    assert order.wait_done(WAIT)
    _, items = cmd.batch([pb.LimitOrder(contract_id=2, size=1, price_in_cents=100)] * 3)
    assert all(i.wait_acked(WAIT) for i in items)
    assert cmd.cancel_all().wait_done(WAIT)
    assert cmd.get_book_state(1).wait_done(WAIT)
    assert cmd.get_open_orders().wait_done(WAIT)


@pytest.mark.parametrize("durability", ["safe", "strict", "fast"])
def test_every_wire_frame_is_journaled_byte_identical_in_order(
    server: SimServer,
    make_context: Callable[..., Context],
    client_keys: Any,
    tmp_path: Path,
    durability: str,
) -> None:
    processor = Recording()
    context = make_context(processor, durability=durability)
    processor.wait_for(lambda _: processor.named("heartbeat"))  # the SUB is live
    _traffic(context)
    context.stop()
    context.join(WAIT)
    assert not context.is_alive()

    sim = server.frames(client_keys.public)
    with read_journal(tmp_path / "sdk.journal") as journal:
        frames = list(journal.frames())
        report = verify(journal)
        sessions = journal.sessions()
    assert report.breaks == () and report.malformed == 0
    assert [s.capture_point for s in sessions] == ["sdk"]
    assert sessions[0].participant == client_keys.public.decode()
    assert sessions[0].end_reason == "stopped"

    def journaled(channel: Channel, direction: Direction) -> list[bytes]:
        return [f.payload for f in frames if f.channel is channel and f.direction is direction]

    def logged(channel: Channel, direction: Direction) -> list[bytes]:
        return [f.data for f in sim if f.channel is channel and f.direction is direction]

    # Requests: exactly what the exchange received, in order.
    assert journaled(Channel.ORDER, Direction.OUT) == logged(Channel.ORDER, Direction.OUT)
    # Order-channel replies: what the exchange sent, in order; only heartbeats sent while the
    # context was stopping may be missing at the end.
    got, sent = journaled(Channel.ORDER, Direction.IN), logged(Channel.ORDER, Direction.IN)
    assert sent[: len(got)] == got
    assert all(_is_heartbeat(d) for d in sent[len(got) :])
    # Market channel: a contiguous run of what the exchange published, from when the SUB joined.
    got, sent = journaled(Channel.MARKET, Direction.IN), logged(Channel.MARKET, Direction.IN)
    assert got, "no market frame was journaled"
    start = sent.index(got[0])
    assert sent[start : start + len(got)] == got
    assert all(_is_heartbeat(d) for d in sent[start + len(got) :])
    assert any(decode(d).WhichOneof("body") == "action_report" for d in got)


def test_frames_are_journaled_before_send_and_before_handlers(
    make_context: Callable[..., Context],
) -> None:
    checks: list[str] = []

    class Checking(Recording):
        def handle_status_message(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
            # The I/O thread committed this very frame (safe mode) before calling us.
            assert self.context is not None and self.context.tap.journal is not None
            rows = self.context.tap.journal.by_mid(msg.mid)
            assert msg.SerializeToString() in [r.payload for r in rows if r.direction == "in"]
            checks.append("in")
            super().handle_status_message(msg, prev_msg)

    processor = Checking()
    context = make_context(processor)
    journal = context.tap.journal
    assert journal is not None
    send = context._send_bytes

    def send_checked(data: bytes) -> None:
        last = list(journal.frames(context.tap.last_position))
        assert last and last[0].payload == data and last[0].direction is Direction.OUT
        checks.append("out")
        send(data)

    context._send_bytes = send_checked  # type: ignore[method-assign]
    item = Commands(context).get_contracts(1)
    assert item.wait_done(WAIT)
    assert checks.count("out") >= 1 and checks.count("in") >= 2  # ACK and DONE
    assert processor.named("handler_error") == []


@pytest.mark.parametrize("committer", ["process", "inline"])
def test_safe_commits_go_through_the_configured_committer(
    make_context: Callable[..., Context], tmp_path: Path, committer: str
) -> None:
    """``[client] committer``: in ``safe`` a child process commits the spool (the default), or
    the I/O thread does; either way every frame reaches SQLite, chained."""
    context = make_context(committer=committer)
    journal = context.tap.journal
    assert journal is not None
    child = journal.committer_pid
    assert (child is not None and child != os.getpid()) if committer == "process" else child is None
    assert Commands(context).get_contracts().wait_done(WAIT)
    context.stop()
    context.join(WAIT)
    with read_journal(tmp_path / "sdk.journal") as journal:
        kinds = [f.kind for f in journal.frames()]
        assert verify(journal).breaks == ()
    assert "GetContracts" in kinds and "ContractDetail" in kinds
    if child is not None:
        assert until(lambda: not _alive(child)), f"committer {child} outlived its context"


def test_a_killed_committer_stops_the_context_loudly_and_loses_nothing(
    make_context: Callable[..., Context], tmp_path: Path
) -> None:
    """The committer process dies (``kill -9``): the context stops with the journal's error at
    its next hand-off (nothing more is sent unjournaled), commands are refused, requests it
    never sent are closed, and every frame journaled meanwhile is in the spool, merged into
    SQLite at the next open."""
    fatal: list[Exception] = []

    class Fatal(Recording):
        def handle_fatal_error(self, error: Exception) -> None:
            fatal.append(error)

    context = make_context(Fatal())
    journal = context.tap.journal
    assert journal is not None and journal.committer_pid is not None
    cmd = Commands(context)
    resting = cmd.limit_order(contract_id=1, size=1, price_in_cents=3000)
    assert resting.wait_acked(WAIT)
    os.kill(journal.committer_pid, signal.SIGKILL)
    items: list[IDStoreItem] = []
    # Orders keep going out (each journaled to the spool first) until the I/O thread's next
    # hand-off to the committer finds it gone, at most COMMIT_AGE_S later.
    assert until(lambda: _order_or_closed(cmd, items)), "the context kept running"
    context.join(WAIT)
    assert not context.is_alive()
    assert isinstance(context.error, JournalError) and "committer process" in str(context.error)
    assert fatal == [context.error]
    with pytest.raises(ClientClosedError):
        cmd.limit_order(contract_id=1, size=1, price_in_cents=3000)
    assert all(i.closed for i in items if not i.wait_done(0))
    with read_journal(tmp_path / "sdk.journal") as reopened:  # merges the spool
        requests = {f.mid for f in reopened.frames() if f.direction is Direction.OUT}
        assert verify(reopened).breaks == ()
    sent = {i.mid for i in items if i.wire}
    assert sent and {resting.mid, *sent} <= requests
    assert not {i.mid for i in items if not i.wire} & requests


def _order_or_closed(cmd: Commands, items: list[IDStoreItem]) -> bool:
    """Place one more order (True once the context refuses it)."""
    try:
        items.append(cmd.limit_order(contract_id=1, size=1, price_in_cents=3000))
    except ClientClosedError:
        return True
    return False


def test_a_wait_ends_when_the_context_stops(make_context: Callable[..., Context]) -> None:
    """A thread waiting for a request to finish learns when its context stops, not at the
    wait's timeout: the request is closed and the wait returns False."""
    context = make_context()
    resting = Commands(context).limit_order(contract_id=1, size=1, price_in_cents=3000)
    assert resting.wait_acked(WAIT)  # GTC, resting: it will not finish by itself
    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(resting.wait_done(600)))
    waiter.start()
    context.stop()
    context.join(WAIT)
    waiter.join(WAIT)
    assert not waiter.is_alive(), "wait_done() still waits on a stopped context"
    assert outcome == [False] and resting.closed and resting.in_flight


def test_a_late_wake_up_writes_to_no_reused_descriptor(
    make_context: Callable[..., Context], tmp_path: Path
) -> None:
    """Work handed to a stopped context (``call_soon``, a callback set late) must not write
    its wake-up byte to the pipe's old descriptor numbers, which the files opened after the
    stop now hold (the lowest free numbers are given out first)."""
    context = make_context()
    context.stop()
    context.join(WAIT)
    files = [tmp_path / f"after-stop-{i}" for i in range(64)]
    fds = [os.open(f, os.O_RDWR | os.O_CREAT, 0o600) for f in files]
    try:
        context.call_soon(lambda: None)
    finally:
        for fd in fds:
            os.close(fd)
    assert [f.name for f in files if f.stat().st_size] == []


def _alive(pid: int) -> bool:
    """Process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_without_journal_nothing_is_recorded(
    make_context: Callable[..., Context], tmp_path: Path
) -> None:
    context = make_context(journal=None)
    assert context.tap.journal is None
    assert Commands(context).get_contracts().wait_done(WAIT)
    assert not (tmp_path / "sdk.journal").exists()


def test_the_local_state_has_every_frame_before_anyone_reads_it(
    make_context: Callable[..., Context],
) -> None:
    """Frames reach the projector lazily (off the reply's path), yet any read sees all of them:
    a callback reading the state sees the ACK it was called for, and so does the bot's thread
    right after ``wait_acked`` returns."""
    context = make_context()
    cmd = Commands(context)
    assert cmd.get_contracts().wait_done(WAIT)
    seen_in_callback: list[set[str]] = []

    def on_reply(msg: pb.Envelope, prev: pb.Envelope | None) -> None:
        if msg.WhichOneof("body") == "status":
            seen_in_callback.append({o.entry_id for o in context.open_orders()})

    for price in (5000, 5001, 5002):
        order = cmd.limit_order(contract_id=1, size=1, price_in_cents=price, callback=on_reply)
        assert order.wait_acked(WAIT)
        assert order.mid in {o.entry_id for o in context.open_orders()}
        assert order.mid in seen_in_callback[-1]


def test_journaled_frames_reach_the_local_state_in_batches() -> None:
    """The projector takes the journaled frames together, once :data:`APPLY_ROWS` wait or the
    oldest has waited :data:`APPLY_AGE_NS` (beside the tap's commit), not frame by frame."""
    now = time.monotonic_ns()

    def frame(age_ns: int) -> WireFrame:
        return (1, Channel.ORDER, Direction.IN, 0, now - age_ns, 0, b"", None)

    fresh = Reconciler(cast(Context, None))
    fresh.apply(1, frame(0))
    assert fresh.backlog == 1 and not fresh.due()
    for position in range(2, APPLY_ROWS + 1):
        assert not fresh.due()
        fresh.apply(position, frame(0))
    assert fresh.backlog == APPLY_ROWS and fresh.due()
    old = Reconciler(cast(Context, None))
    old.apply(1, frame(APPLY_AGE_NS))
    assert old.due()


def test_unread_frames_reach_the_local_state_when_the_sockets_are_quiet(
    make_context: Callable[..., Context],
) -> None:
    """Nobody reads the state: the I/O thread's quiet moments apply what waits all the same (a
    live projection stays live, and its queue bounded)."""
    context = make_context()
    applied = threading.Condition()
    reached = [0]  # the projector's position after the I/O thread's last idle()
    idle = context.reconciler.idle

    def watched_idle() -> None:
        idle()
        with applied:
            reached[0] = context.reconciler._projector.position
            applied.notify_all()

    context.reconciler.idle = watched_idle  # type: ignore[method-assign]
    order = Commands(context).limit_order(contract_id=1, size=1, price_in_cents=4000)
    assert order.wait_acked(WAIT)
    ack = context.tap.last_position  # the ACK's, or a later frame's
    with applied:
        assert applied.wait_for(lambda: reached[0] >= ack, WAIT)
