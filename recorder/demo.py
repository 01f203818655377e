"""``recorder demo``: the main job, end to end, on a fresh machine, in well under a minute.

:func:`run_demo` starts the embedded LX/1 simulator (CURVE on loopback, background makers and
takers), runs the example market-making bot (:mod:`recorder.examples.market_maker`) on the SDK
for ``seconds``, journaling every frame it sends and receives, and injects two faults on the
way: an **outage** (the exchange cuts the bot's order connection; the SDK notices the silence,
reconnects and recovers what it missed with ``MessageReplay``) and an **exchange restart** (a new
run: every resting order is gone and the bot requotes). Then it verifies the journal and projects
it: books, open orders, positions and the gap ledger all come from the journal alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recorder.client import Context
from recorder.config import ClientConfig, Config, JournalConfig, SimConfig
from recorder.core.state import State
from recorder.examples.market_maker import MarketMaker
from recorder.journal import Gap, open_journal
from recorder.journal.verify import VerifyReport, verify
from recorder.journal.writer import Durability
from recorder.keys import KeyPair
from recorder.lifecycle import lifecycles
from recorder.projection import project
from recorder.sim.server import SimServer

LOOPBACK = "tcp://127.0.0.1:*"
HEARTBEAT_MS = 200
"""The simulator's heartbeat: the bot notices an outage after 3 missed beats (600 ms)."""
CLIENT = ClientConfig(default_heartbeat_ms=HEARTBEAT_MS, ack_timeout_ms=500)
"""The bot's ``[client]`` settings (pass them to a replay of a demo journal)."""


@dataclass(slots=True)
class DemoProgress:
    """What the demo is doing, for a progress display (updated about ten times a second)."""

    elapsed_s: float
    seconds: float
    frames: int
    orders_sent: int
    fills: int
    position: dict[int, int]
    events: list[str] = field(default_factory=list)
    """What happened so far, one line each (faults injected, reconnects, run changes)."""


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo did: the journal it wrote, ``verify``'s verdict and the projected state."""

    journal: Path
    report: VerifyReport
    state: State
    gaps: tuple[Gap, ...]
    sessions: int
    events: tuple[str, ...]
    sample_mid: str
    """An order with a rich story (for ``recorder audit --mid``)."""


def run_demo(
    journal_path: Path,
    *,
    seconds: float = 20.0,
    seed: int = 7,
    durability: Durability = "safe",
    progress: Callable[[DemoProgress], None] | None = None,
    bot: MarketMaker | None = None,
) -> DemoResult:
    """Run the simulator and the example bot for ``seconds`` into a new journal (replaced).

    ``bot`` is the processor to run (a :class:`MarketMaker` or a subclass; a new one if None).
    """
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-writer.lock"):
        Path(f"{journal_path}{suffix}").unlink(missing_ok=True)
    exchange_keys, bot_keys = KeyPair.generate(), KeyPair.generate()
    assert bot_keys.private is not None
    sim_config = SimConfig(
        order_bind=LOOPBACK,
        market_bind=LOOPBACK,
        control_bind=LOOPBACK,
        contracts=3,
        seed=seed,
        makers=3,
        takers=2,
        heartbeat_ms=HEARTBEAT_MS,
        liquidity_interval_ms=10,
    )
    server = SimServer(sim_config, keys=exchange_keys, participants=[bot_keys.public])
    endpoints = server.start()
    bot = bot if bot is not None else MarketMaker()
    events: list[str] = []
    try:
        config = Config(
            journal=JournalConfig(path=journal_path, durability=durability),
            client=CLIENT,
        )
        context = Context(
            endpoints.order,
            bot_keys.private,
            bot_keys.public,
            server.public_key,
            bot,
            market_endpoint=endpoints.market,
            config=config,
        )
        context.start()
        try:
            bot.start()
            _trade(server, context, bot, bot_keys, seconds, events, progress)
        finally:
            context.stop()
            context.join(10)
    finally:
        server.stop()
    with open_journal(journal_path, readonly=True) as journal:
        report = verify(journal)
        state = project(journal)
        gaps = tuple(journal.gaps())
        sessions = len(journal.sessions())
        sample = _sample_mid(journal)
    return DemoResult(journal_path, report, state, gaps, sessions, tuple(events), sample)


def _trade(
    server: SimServer,
    context: Context,
    bot: MarketMaker,
    bot_keys: KeyPair,
    seconds: float,
    events: list[str],
    progress: Callable[[DemoProgress], None] | None,
) -> None:
    """Let the bot trade; cut its connection at 30 % of the time and restart the exchange at
    65 %; report progress every 0.1 s."""
    start = time.monotonic()
    outage_at, restart_at = seconds * 0.3, seconds * 0.65
    outage = restarted = reconnected = False
    run_changes = 0
    while (elapsed := time.monotonic() - start) < seconds:
        if not outage and elapsed >= outage_at:
            outage = True
            server.disconnect(bot_keys.public)
            events.append(f"{elapsed:5.1f}s  outage: the exchange cut the bot's order connection")
        if not restarted and elapsed >= restart_at:
            restarted = True
            run_id = server.restart()
            events.append(f"{elapsed:5.1f}s  exchange restart: new run {run_id[:8]}")
        if outage and not reconnected and bot.outages:
            reconnected = True
            events.append(
                f"{elapsed:5.1f}s  the SDK noticed the silence, reconnected and asked "
                "MessageReplay for what it missed"
            )
        if bot.run_changes > run_changes:
            run_changes = bot.run_changes
            events.append(f"{elapsed:5.1f}s  the bot saw the run change and requoted")
        if progress is not None:
            progress(
                DemoProgress(
                    elapsed,
                    seconds,
                    context.tap.last_position,
                    bot.orders_sent,
                    bot.fills,
                    dict(bot.position),
                    list(events),
                )
            )
        if context.error is not None:
            raise context.error
        time.sleep(0.1)


def _sample_mid(journal: object) -> str:
    """The filled order with the most frames, else the first order."""
    from recorder.journal import Journal

    assert isinstance(journal, Journal)
    best, best_len = "", 0
    participants = {s.id: s.participant for s in journal.sessions()}
    for life in lifecycles(journal.frames(), participants):
        if life.kind != "LimitOrder":
            continue
        score = len(life.positions) + (100 if life.filled_size else 0)
        if score > best_len:
            best, best_len = life.mid, score
    return best
