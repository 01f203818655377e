"""Replay against live where the SDK's own recovery decides what the handlers see: a replayed
frame lost on the way (the SDK asks again, docs/protocol.md "replays that go astray"), and a bot
restarted on its journal (the new context tracks the orders still open, with their last reply as
``prev_msg``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from calllog import logged, without_silence_ms
from scripted import CLIENT, sdk_context

from recorder.client import Commands
from recorder.config import SimConfig
from recorder.examples.processors import CallCounter
from recorder.journal import open_journal
from recorder.keys import KeyPair
from recorder.replay import Replayer
from recorder.sim.exchange import Delivery
from recorder.sim.faults import FaultPlan, Transmission
from recorder.sim.server import SimServer

WAIT = 10.0
LOOPBACK = "tcp://127.0.0.1:*"
Logged = logged(CallCounter)


class LosingReplays(FaultPlan):
    """The simulator's fault plan, and the next ``count`` replayed order-channel messages lost
    on the way (the ``ReplayDone`` still arrives, complete)."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.lost: list[int] = []
        """The seqs lost."""

    @property
    def idle(self) -> bool:
        return len(self.lost) >= self.count and super().idle

    def filter(
        self, requester: str | None, deliveries: Iterable[Delivery], wall_ns: int
    ) -> list[Transmission]:
        kept = []
        for t in super().filter(requester, deliveries, wall_ns):
            if t.delivery.is_replay and len(self.lost) < self.count:
                self.lost.append(t.delivery.seq)
            else:
                kept.append(t)
        return kept


@pytest.fixture
def keys() -> tuple[KeyPair, KeyPair, KeyPair]:
    """The exchange's, the bot's and another participant's."""
    return KeyPair.generate(), KeyPair.generate(), KeyPair.generate()


@pytest.fixture
def server(keys: tuple[KeyPair, KeyPair, KeyPair]) -> Iterator[SimServer]:
    config = SimConfig(
        order_bind=LOOPBACK, market_bind=LOOPBACK, control_bind=LOOPBACK,
        heartbeat_ms=3000, makers=0, takers=0, contracts=3,
    )  # fmt: skip
    participants = [keys[1].public, keys[2].public]
    server = SimServer(config, keys=keys[0], participants=participants, liquidity=False)
    server.start()
    yield server
    server.stop()


def _replayed(journal: Path) -> list[tuple[object, ...]]:
    replayed = Logged()
    with open_journal(journal, readonly=True) as j:
        result = Replayer(j, replayed, client_config=CLIENT).run()
    assert result.handler_errors == 0
    return without_silence_ms(replayed.calls)  # type: ignore[attr-defined]


def _wait(done: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_replayed_frame_lost_once_is_asked_for_again(
    server: SimServer, keys: tuple[KeyPair, KeyPair, KeyPair], tmp_path: Path
) -> None:
    journal = tmp_path / "lost.journal"
    bot = keys[1]
    plan = LosingReplays(1)
    server.call(lambda: setattr(server, "faults", plan))
    live = Logged()
    with sdk_context(server, bot, live, journal) as context:
        cmd = Commands(context)
        assert cmd.get_contracts().wait_done(WAIT)
        resting = cmd.limit_order(contract_id=1, size=5, price_in_cents=5000, is_ask=True)
        assert resting.wait_acked(WAIT)
        server.drop_next(bot.public, 1, replies_only=True)  # the cancel's ACK: a gap
        cancel = cmd.cancel_order(contract_id=1, entry_id=resting.mid)
        assert cmd.get_open_orders(1).wait_done(WAIT) and cancel.wait_done(WAIT)
        _wait(lambda: plan.lost and not context.order_seq.open_gaps, "the gap is not filled")
        time.sleep(0.3)
    with open_journal(journal, readonly=True) as j:
        sent = [r[9] for r in j.rows() if r[3] == "out"]
    assert sent.count("MessageReplay") == 2  # the second replay brought the lost ACK
    assert _replayed(journal) == without_silence_ms(live.calls)  # type: ignore[attr-defined]


def test_an_order_from_before_a_restart_keeps_its_prev_msg(
    server: SimServer, keys: tuple[KeyPair, KeyPair, KeyPair], tmp_path: Path
) -> None:
    journal = tmp_path / "bot.journal"
    bot, other = keys[1], keys[2]
    first = Logged()
    with sdk_context(server, bot, first, journal) as context:
        resting = Commands(context).limit_order(
            contract_id=1, size=5, price_in_cents=5000, is_ask=True
        )
        assert resting.wait_acked(WAIT)
        time.sleep(0.2)  # its INSERTED report

    def fills() -> list[tuple[object, ...]]:
        return [
            c
            for c in second.calls  # type: ignore[attr-defined]
            if c[0] == "handle_action_report" and resting.mid.encode() in c[1]
        ]

    second = Logged()  # the bot restarted: a new context on the same journal
    with sdk_context(server, bot, second, journal):
        with sdk_context(server, other, CallCounter(), tmp_path / "other.journal") as taker:
            order = Commands(taker).limit_order(contract_id=1, size=2, price_in_cents=5000)
            assert order.wait_acked(WAIT)
        _wait(fills, "no fill of the resting order")
        time.sleep(0.2)
    assert fills()[-1][2] is not None  # its prev_msg: the order's last reply (INSERTED)
    live = without_silence_ms(first.calls + second.calls)  # type: ignore[attr-defined]
    assert _replayed(journal) == live
