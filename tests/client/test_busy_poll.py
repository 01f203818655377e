"""Busy polling (:mod:`recorder.polling`, ``[client] busy_poll_us``): the SDK's I/O thread polls
without sleeping for a while after each wake-up, and nothing else changes: replies, timers (S1
resends) and the journal."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sdk_helpers import WAIT, read_journal

from recorder.client import Commands, Context, ItemState
from recorder.config import ClientConfig, load_config
from recorder.core.frames import Direction
from recorder.errors import ConfigError
from recorder.polling import busy_poll
from recorder.sim.server import SimServer


class FakePoller:
    """A poller whose sockets become ready after ``empty`` polls (None: never)."""

    def __init__(self, empty: int | None) -> None:
        self.empty = empty
        self.timeouts: list[int | None] = []

    def poll(self, timeout: int | None = None) -> list[tuple[object, int]]:
        self.timeouts.append(timeout)
        if self.empty is not None and len(self.timeouts) > self.empty:
            return [("dealer", 1)]
        return []


def _poll(poller: FakePoller, busy_poll_us: int, timeout: int | None) -> set[object]:
    return {sock for sock, _ in busy_poll(poller.poll, timeout, busy_poll_us * 1000)}


def test_off_it_waits_at_once() -> None:
    poller = FakePoller(empty=0)
    assert _poll(poller, 0, 50) == {"dealer"}
    assert poller.timeouts == [50]


def test_a_socket_ready_while_spinning_is_returned_without_sleeping() -> None:
    poller = FakePoller(empty=25)
    assert _poll(poller, 1_000_000, None) == {"dealer"}  # a second's budget: ready long before
    assert poller.timeouts == [0] * 26


def test_after_the_budget_it_waits_for_what_is_left_of_the_timeout() -> None:
    poller = FakePoller(empty=None)
    started = time.monotonic()
    assert _poll(poller, 5_000, 50) == set()
    *spins, wait = poller.timeouts
    assert spins and set(spins) == {0}
    assert wait is not None and 0 <= wait <= 45  # the 5 ms spun are not waited again
    assert time.monotonic() - started >= 0.005


def test_the_budget_never_outlasts_the_timeout() -> None:
    poller = FakePoller(empty=None)
    started = time.monotonic()
    _poll(poller, 10_000_000, 2)  # a 10 s budget, a 2 ms timeout: the timers come first
    assert poller.timeouts[-1] == 0
    assert time.monotonic() - started < 5


def test_a_zero_timeout_polls_once() -> None:
    poller = FakePoller(empty=None)
    assert _poll(poller, 1_000, 0) == set()
    assert poller.timeouts == [0]


def test_a_negative_budget_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"\[client\] busy_poll_us .* not -5"):
        ClientConfig(busy_poll_us=-5)
    with pytest.raises(ConfigError, match="busy_poll_us"):
        load_config(environ={"RECORDER_CLIENT__BUSY_POLL_US": "-1"})
    assert load_config(environ={"RECORDER_CLIENT__BUSY_POLL_US": "500"}).client.busy_poll_us == 500


def test_a_busy_polling_context_trades_resends_and_journals(
    server: SimServer, make_context: Callable[..., Context], client_keys: Any, tmp_path: Path
) -> None:
    context = make_context(busy_poll_us=20_000)
    commands = Commands(context)
    server.drop_requests(client_keys.public, 1)  # S1: its resend is a timer, due while spinning
    lost = commands.limit_order(contract_id=1, size=1, price_in_cents=5000)
    assert lost.wait_acked(WAIT)
    assert lost.resends >= 1 and lost.state is ItemState.ACKED
    others = [
        commands.limit_order(contract_id=1, size=1, price_in_cents=4000 + i) for i in range(5)
    ]
    assert all(item.wait_acked(WAIT) for item in others)
    expected = {item.mid for item in (lost, *others)}
    assert {o.entry_id for o in server.open_orders(client_keys.public)} == expected
    context.stop()
    context.join(WAIT)
    assert not context.is_alive()
    with read_journal(tmp_path / "sdk.journal") as journal:
        sent = [f.payload for f in journal.by_mid(lost.mid) if f.direction is Direction.OUT]
    assert len(sent) == lost.resends + 1 and set(sent) == {lost.wire}
