"""A context's life at its edges: a start that fails, a start whose I/O thread ends first, a
stop whose last commits fail, a stop from a signal handler, and who learns of a stop (waiters,
watchers, the checkpoint)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sdk_helpers import WAIT, Recording, client_config, read_journal
from waiting import until

from recorder.client import Commands, Context, IDStoreItem
from recorder.client.aio import AsyncCommands
from recorder.config import ClientConfig, Config, JournalConfig
from recorder.core.projector import Projector
from recorder.core.state import View
from recorder.errors import ClientError
from recorder.journal import open_journal
from recorder.keys import KeyPair
from recorder.projection import projector_at
from recorder.sim.server import SimServer

HERE = Path(__file__).parent


def _alive(pid: int) -> bool:
    """Process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _context(server: SimServer, keys: KeyPair, config: Config, processor: Recording) -> Context:
    assert server.endpoints is not None and keys.private is not None
    return Context(
        server.endpoints.order, keys.private, keys.public, server.public_key, processor,
        market_endpoint=server.endpoints.market, config=config,
    )  # fmt: skip


def test_a_failed_start_releases_the_journal_and_its_committer(
    server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    """A mistyped endpoint: start() raises, and what the context had opened (the journal, its
    committer process, the writer lock) is released, so the bot can retry on the same journal
    in the same process."""
    config = client_config(tmp_path)
    assert server.endpoints is not None and client_keys.private is not None
    bad = Context(
        "tcp://127.0.0.1:notaport", client_keys.private, client_keys.public, server.public_key,
        Recording(), market_endpoint=server.endpoints.market, config=config,
    )  # fmt: skip
    assert bad.tap.journal is not None
    child = bad.tap.journal.committer_pid
    assert child is not None
    with pytest.raises(ClientError, match="notaport"):
        bad.start()
    assert until(lambda: not _alive(child)), f"committer {child} outlived the failed start"
    good = _context(server, client_keys, config, Recording())  # the writer lock is free
    good.start()
    assert Commands(good).get_contracts().wait_done(WAIT)
    good.stop()
    good.join(WAIT)
    with pytest.raises(ClientError, match="already started"):
        bad.start()


def test_a_context_never_started_releases_its_journal_at_stop(
    server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    config = client_config(tmp_path)
    idle = _context(server, client_keys, config, Recording())
    assert idle.tap.journal is not None
    child = idle.tap.journal.committer_pid
    assert child is not None
    idle.stop()
    idle.join(WAIT)
    assert until(lambda: not _alive(child))
    open_journal(config.journal.path).close()  # nobody holds it


def test_start_returns_once_its_io_thread_has_ended(
    make_context: Callable[..., Context], server: SimServer, client_keys: KeyPair, tmp_path: Path
) -> None:
    """A restart waits for its reconciliation; if the I/O thread ends first (the operator
    stops the bot while the exchange is down), start() returns then, not at the timeout."""
    first = make_context()
    assert Commands(first).limit_order(contract_id=1, size=1, price_in_cents=3000).wait_acked(WAIT)
    first.stop()
    first.join(WAIT)
    config = client_config(tmp_path)
    again = _context(server, client_keys, config, Recording())
    server.stop()  # the exchange is down: the reconciliation cannot finish
    started = threading.Thread(target=lambda: again.start(reconcile_timeout=600))
    started.start()
    assert until(again.is_alive)
    again.stop()
    again.join(WAIT)
    started.join(WAIT)
    assert not started.is_alive(), "start() still waits for a reconciliation that cannot come"


def test_a_stop_whose_last_commits_fail_is_a_fatal_error(
    server: SimServer, client_keys: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The committer process dies after the last hand-off: the stop's final flush fails. The
    context must say so (``error``, ``handle_fatal_error``): the session was not ended and the
    last frames are only in the spool until the journal is next opened."""
    monkeypatch.setattr("recorder.client.tap.COMMIT_AGE_S", 3600.0)  # no hand-off before stop
    config = Config(
        journal=JournalConfig(path=tmp_path / "sdk.journal", safe_commit_ms=60_000),
        client=ClientConfig(ack_timeout_ms=250, backoff_cap_ms=1000),
    )
    fatal: list[Exception] = []

    class Fatal(Recording):
        def handle_fatal_error(self, error: Exception) -> None:
            fatal.append(error)

    context = _context(server, client_keys, config, Fatal())
    context.start()
    assert context.tap.journal is not None and context.tap.journal.committer_pid is not None
    child = context.tap.journal.committer_pid
    assert Commands(context).get_contracts().wait_done(WAIT)
    os.kill(child, signal.SIGKILL)
    assert until(lambda: not _alive(child))
    context.stop()
    context.join(WAIT)
    assert context.error is not None and fatal == [context.error]
    with open_journal(config.journal.path, readonly=True) as journal:  # merges the spool
        kinds = [f.kind for f in journal.frames()]
    assert "GetContracts" in kinds and "ContractDetail" in kinds


def test_stop_from_a_signal_handler_does_not_deadlock() -> None:
    """SIGTERM lands while the bot's thread is inside its own wake-up of the I/O thread, and
    the handler calls stop(): the wake-up's lock is re-entrant (signal_stop_bot.py forces the
    moment)."""
    out = subprocess.run(
        [sys.executable, str(HERE / "signal_stop_bot.py")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.splitlines()[-1:] == ["stopped"], out.stderr[-3000:]


def test_a_watcher_hears_of_the_close(make_context: Callable[..., Context]) -> None:
    """``IDStoreItem.watch`` is for event loops: its function is called when the context
    stops before the request finished, as blocking waiters are woken."""
    context = make_context()
    resting = Commands(context).limit_order(contract_id=1, size=1, price_in_cents=3000)
    assert resting.wait_acked(WAIT)
    closed = threading.Event()

    def on_wake(item: IDStoreItem) -> None:
        if item.closed:
            closed.set()

    resting.watch(on_wake)
    context.stop()
    context.join(WAIT)
    assert closed.wait(WAIT), "the watcher never heard of the close"


def test_async_commands_on_a_plain_context_end_at_its_stop(
    make_context: Callable[..., Context],
) -> None:
    context = make_context()

    async def bot() -> bool:
        order = AsyncCommands(context).limit_order(contract_id=1, size=1, price_in_cents=3000)
        assert await order.acked(WAIT)
        await asyncio.to_thread(lambda: (context.stop(), context.join(WAIT)))
        return await asyncio.wait_for(order.done(), WAIT)  # False: it did not finish

    assert asyncio.run(bot()) is False


def test_a_checkpoint_is_never_of_a_half_applied_frame(
    make_context: Callable[..., Context], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bot thread reading its open orders applies the last queued frame while the I/O thread
    stops and saves its checkpoint: the checkpoint must hold that frame's effects (or not claim
    its position). The bot thread is held inside the frame's application."""
    context = make_context()
    cmd = Commands(context)
    assert cmd.limit_order(contract_id=1, size=1, price_in_cents=3000).wait_acked(WAIT)
    assert until(lambda: not context.reconciler.backlog)
    io_blocked, entered, release = threading.Event(), threading.Event(), threading.Event()
    target: list[str] = []
    original = Projector._on_request

    def on_request(self: Projector, row: tuple[object, ...]) -> None:
        if threading.current_thread().name == "bot" and target and row[8] == target[0]:
            entered.set()  # held here: the frame taken, not applied yet
            release.wait(WAIT)
        original(self, row)  # type: ignore[arg-type]

    monkeypatch.setattr(Projector, "_on_request", on_request)
    bot = threading.Thread(target=lambda: (io_blocked.wait(WAIT), context.open_orders()),
                           name="bot")  # fmt: skip
    bot.start()

    def io_thread_moment() -> None:  # on the I/O thread, right after it sent the order
        io_blocked.set()
        assert entered.wait(WAIT)
        context.stop()

    class Watched:
        """The reconciler's lock: the bot goes on once the I/O thread waits for it (the
        state is then read only after the bot's frame is applied)."""

        def __init__(self, lock: threading.Lock) -> None:
            self._lock = lock

        def __enter__(self) -> None:
            if threading.current_thread().name == "lx1-client":
                release.set()
            self._lock.acquire()

        def __exit__(self, *exc: object) -> None:
            self._lock.release()

    monkeypatch.setattr(context.reconciler, "lock", Watched(context.reconciler.lock))

    order = cmd.limit_order(contract_id=1, size=1, price_in_cents=3100)
    target.append(order.mid)
    context.call_soon(io_thread_moment)
    context.join(WAIT)
    release.set()  # (the old reconciler never waited for the bot: its checkpoint is written)
    bot.join(WAIT)
    with read_journal(tmp_path / "sdk.journal") as journal:
        (saved,) = journal.checkpoints()
        from_checkpoint = projector_at(journal, View.EXCHANGE)
        scratch = Projector(View.EXCHANGE)
        scratch.apply_rows(journal.rows(1, journal.head_position() + 1))
    assert saved.position == scratch.position and order.mid in scratch.own.orders
    assert from_checkpoint.digest() == scratch.digest()
