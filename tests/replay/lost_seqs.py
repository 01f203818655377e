"""Shared by the replay-recovery tests over the simulator: an SDK context on a quiet simulator
whose fault plan can also lose a seq for good (every replayed copy of it), and the logged bot."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from calllog import Call, logged, without_silence_ms

from recorder.client import Context, MessageProcessor
from recorder.config import ClientConfig, Config, JournalConfig, SimConfig
from recorder.examples.processors import CallCounter
from recorder.journal import open_journal
from recorder.keys import KeyPair
from recorder.replay import Replayer
from recorder.sim.exchange import Delivery
from recorder.sim.faults import FaultKind, FaultPlan, Transmission
from recorder.sim.server import SimServer

WAIT = 10.0
LOOPBACK = "tcp://127.0.0.1:*"
CLIENT = ClientConfig(
    ack_timeout_ms=2000, backoff_cap_ms=2000, default_heartbeat_ms=100, heartbeat_factor=10
)
"""The lost replay is resent after 2 s, well after the other gap's three replays (a few ms); a
silence is 1 s (the first contact of a context with no history and no request of its own is
its reconnect after one; a dropped heartbeat is none)."""
Logged = logged(CallCounter)


class LostForGood(FaultPlan):
    """The simulator's fault plan, and one fault more: :meth:`drop_for_good` drops the next
    order-channel message to a participant and every replayed copy of it (each replay's
    ``ReplayDone`` still arrives, complete): a seq the exchange holds that never comes back."""

    def __init__(self) -> None:
        super().__init__()
        self._next: str | None = None
        self.lost: list[int] = []
        """The seqs dropped for good."""

    def drop_for_good(self, participant: str) -> None:
        """Arm: drop the next order-channel message to ``participant``, and its replays."""
        self._next = participant

    @property
    def idle(self) -> bool:
        return self._next is None and not self.lost and super().idle

    def filter(
        self, requester: str | None, deliveries: Iterable[Delivery], wall_ns: int
    ) -> list[Transmission]:
        kept = []
        for d in deliveries:
            if d.to is not None and d.to == self._next and not d.is_replay:
                self._next = None
                self.lost.append(d.seq)
                self.record(wall_ns, FaultKind.DROP_NEXT, d.to, f"order seq {d.seq} for good")
            elif not (d.is_replay and d.seq in self.lost):
                kept.append(d)
        return super().filter(requester, kept, wall_ns)


def calls_of(processor: Any) -> list[Call]:
    with processor.calls_lock:
        return list(processor.calls)


def named(calls: list[Call], name: str) -> list[Call]:
    return [c for c in calls if c[0] == name]


@contextmanager
def quiet_sdk(
    journal: Path, processor: MessageProcessor, **sim: Any
) -> Iterator[tuple[SimServer, LostForGood, str, Context]]:
    """A simulator (100 ms heartbeats, no liquidity; ``sim`` overrides) with a
    :class:`LostForGood` fault plan, and an SDK context of one bot journaling to ``journal``,
    started and reconciled (its start-up requests answered: it is quiet): the server, the plan,
    the bot's participant name and the context. The server stops on leaving."""
    keys, bot = KeyPair.generate(), KeyPair.generate()
    config = SimConfig(
        order_bind=LOOPBACK, market_bind=LOOPBACK, control_bind=LOOPBACK,
        heartbeat_ms=100, makers=0, takers=0, contracts=3, **sim,
    )  # fmt: skip
    server = SimServer(config, keys=keys, participants=[bot.public], liquidity=False)
    server.start()
    plan = LostForGood()
    server.call(lambda: setattr(server, "faults", plan))
    assert server.endpoints is not None and bot.private is not None
    context = Context(
        server.endpoints.order, bot.private, bot.public, server.public_key, processor,
        market_endpoint=server.endpoints.market, journal=journal,
        config=Config(journal=JournalConfig(path=journal), client=CLIENT),
    )  # fmt: skip
    try:
        with context:
            assert context.reconciled.wait(WAIT)
            yield server, plan, bot.public.decode(), context
    finally:
        server.stop()


def replayed_calls(journal: Path) -> list[Call]:
    """The logged bot's calls when ``journal`` is replayed into it (with the live SDK's client
    config; no handler may fail), without their silence times."""
    replayed = Logged()
    with open_journal(journal, readonly=True) as opened:
        result = Replayer(opened, replayed, client_config=CLIENT).run()
    assert result.handler_errors == 0
    return without_silence_ms(calls_of(replayed))
