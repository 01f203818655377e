"""The chaos harness: bots trade against the simulator while faults and SIGKILLs rain down.

:func:`run_chaos` runs ``runs`` seeded runs. Each run starts an in-process
:class:`~recorder.sim.server.SimServer` (CURVE, background liquidity, frame log) and ``bots``
real bot processes (:mod:`recorder.chaos.bot`, each with its own key and journal), then for
``duration_s`` injects, at random (seeded) moments, every fault of the simulator's fault API
(``drop_next``, ``drop_ack``, ``drop_after_ack``, ``drop_requests``, ``drop_market``,
``duplicate_next``, ``delay``, ``disconnect``, ``restart``, ``send_garbage``) plus SIGKILL of a
bot process followed by a restart on the same journal.

Then the run *settles*: faults are disarmed, liquidity stops, every bot is told ``quiet`` (and
answers so), and the harness polls — against a deadline, never a fixed sleep — until for every
bot the journal agrees with the engine:

* projected open orders == the engine's open orders (entry id and open size);
* projected fills of the current run == the engine's fills (trade id, entry, price, size);
* projected books == the engine's books (every contract: L3 entries in priority order);
* every order-channel frame of the participant in the current run (seq 1..last) is in the
  journal, live or replayed;
* :func:`recorder.journal.verify.verify` passes;
* every gap in the ledger is ``filled`` or ``unrecoverable`` with a reason.

A run that does not converge before the deadline fails with its seed and what differed.
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from recorder.config import SimConfig
from recorder.core.frames import Channel
from recorder.errors import SimulatorError
from recorder.journal import open_journal
from recorder.journal.verify import verify
from recorder.keys import KeyPair
from recorder.projection import project
from recorder.sim.server import SimServer

FAULTS = (
    "drop_next",
    "drop_ack",
    "drop_after_ack",
    "drop_requests",
    "drop_market",
    "duplicate_next",
    "delay",
    "disconnect",
    "restart",
    "send_garbage",
    "kill",
)
"""Every fault the harness injects (the simulator's fault API, and SIGKILL of a bot)."""

_LOOPBACK = "tcp://127.0.0.1:*"


@dataclass
class RunResult:
    """One run: its seed, what was injected, whether it converged, and what differed."""

    seed: int
    faults: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    converged: bool = False
    settle_s: float = 0.0
    problems: list[str] = field(default_factory=list)


@dataclass
class ChaosReport:
    """Every run of :func:`run_chaos`."""

    runs: list[RunResult]

    @property
    def faults(self) -> int:
        """Faults injected in all runs (kills included)."""
        return sum(sum(r.faults.values()) for r in self.runs)

    @property
    def kills(self) -> int:
        """SIGKILLs of bot processes in all runs."""
        return sum(r.kills for r in self.runs)

    @property
    def convergence(self) -> float:
        """The share of runs that converged (the bar is 1.0)."""
        return sum(r.converged for r in self.runs) / len(self.runs) if self.runs else 0.0

    def summary(self) -> str:
        """One paragraph: runs, faults by kind, kills, convergence, and failed seeds."""
        by_kind: Counter[str] = Counter()
        for r in self.runs:
            by_kind.update(r.faults)
        kinds = ", ".join(f"{k} {by_kind[k]}" for k in FAULTS)
        text = (
            f"{len(self.runs)} runs, {self.faults} faults ({kinds}), {self.kills} kills, "
            f"convergence {self.convergence:.0%}"
        )
        for r in self.runs:
            if not r.converged:
                text += f"\nFAILED seed {r.seed} (reproduce: recorder chaos --seed {r.seed} " \
                    "--runs 1):\n  " + "\n  ".join(r.problems[:20])  # fmt: skip
        return text


class _Bot:
    """One bot process and its identity (keys and journal survive its restarts)."""

    def __init__(self, keys: KeyPair, journal: Path, argv: list[str]) -> None:
        self.keys = keys
        self.journal = journal
        self.argv = argv
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str] = queue.Queue()

    def spawn(self, timeout: float) -> None:
        with open(self.journal.with_suffix(".log"), "a") as log:  # the bot's stderr
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        self.lines = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        self.expect("ready", timeout)

    def expect(self, word: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"bot {self.keys.public.decode()[:8]} did not say {word!r}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line == word:
                return
            if line == "<eof>":
                raise RuntimeError(f"bot {self.keys.public.decode()[:8]} exited before {word!r}")

    def say(self, word: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.say("stop")
            self.proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


def _pump(stream: IO[str] | None, lines: queue.Queue[str]) -> None:
    if stream is None:
        return
    for line in stream:
        lines.put(line.strip())
    lines.put("<eof>")


def run_chaos(
    seed: int = 1,
    runs: int = 3,
    *,
    duration_s: float = 4.0,
    bots: int = 2,
    settle_timeout_s: float = 45.0,
    workdir: Path | None = None,
    progress: Callable[[RunResult], None] | None = None,
) -> ChaosReport:
    """Run ``runs`` chaos runs (seeds ``seed``, ``seed + 1``, ...); see the module docstring."""
    results = []
    for i in range(runs):
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            try:
                result = _one_run(seed + i, duration_s, bots, settle_timeout_s, Path(tmp))
            except (TimeoutError, RuntimeError) as exc:
                result = RunResult(seed + i, problems=[f"{type(exc).__name__}: {exc}"])
            if not result.converged:
                kept = Path(workdir or tempfile.gettempdir()) / f"chaos-seed-{seed + i}"
                shutil.rmtree(kept, ignore_errors=True)
                shutil.copytree(tmp, kept)
                result.problems.append(f"journals and bot logs kept in {kept}")
        results.append(result)
        if progress is not None:
            progress(result)
    return ChaosReport(results)


def _one_run(seed: int, duration_s: float, n_bots: int, settle_s: float, tmp: Path) -> RunResult:
    rng = random.Random(seed)
    result = RunResult(seed)
    exchange_keys = KeyPair.generate()
    keys = [KeyPair.generate() for _ in range(n_bots)]
    config = SimConfig(
        order_bind=_LOOPBACK,
        market_bind=_LOOPBACK,
        control_bind=_LOOPBACK,
        heartbeat_ms=100,
        makers=2,
        takers=1,
        contracts=3,
        seed=seed,
        liquidity_interval_ms=20,
    )
    server = SimServer(
        config, keys=exchange_keys, participants=[k.public for k in keys], record_frames=True
    )
    endpoints = server.start()
    watermark = [0]  # the engine's last trade id before the current run
    bots: list[_Bot] = []
    try:
        for n, k in enumerate(keys):
            assert k.private is not None
            argv = [
                sys.executable, "-m", "recorder.chaos.bot",
                "--order", endpoints.order, "--market", endpoints.market,
                f"--server-key={exchange_keys.public.decode()}",  # z85 may start with "-"
                f"--private={k.private.decode()}", f"--public={k.public.decode()}",
                "--journal", str(tmp / f"bot{n}.journal"), "--seed", str(seed * 100 + n),
            ]  # fmt: skip
            bot = _Bot(k, tmp / f"bot{n}.journal", argv)
            bot.spawn(60)
            bots.append(bot)
        stop_at = time.monotonic() + duration_s
        pace = threading.Event()
        while time.monotonic() < stop_at:
            pace.wait(rng.uniform(0.04, 0.2))  # pacing between faults, not synchronisation
            _inject(server, bots, rng, result, watermark)
        server.call(server.faults.clear)
        server.call(lambda: setattr(server, "_liquidity_on", False))
        for bot in bots:
            if bot.proc is None or bot.proc.poll() is not None:
                bot.spawn(60)
            bot.say("quiet")
        for bot in bots:
            bot.expect("quiet", 60)
        started = time.monotonic()
        problems = _settle(server, bots, watermark[0], started + settle_s)
        result.settle_s = time.monotonic() - started
        result.converged = not problems
        result.problems = problems
    finally:
        for bot in bots:
            bot.stop(15)
        server.stop()
    return result


def _inject(
    server: SimServer, bots: list[_Bot], rng: random.Random, result: RunResult, mark: list[int]
) -> None:
    fault = rng.choice(FAULTS)
    bot = rng.choice(bots)
    who = bot.keys.public
    try:
        if fault == "kill":
            bot.kill()
            result.kills += 1
            bot.spawn(60)
        elif fault == "drop_next":
            server.drop_next(who, rng.randint(1, 30))
        elif fault == "drop_ack":
            server.drop_ack(who)
        elif fault == "drop_after_ack":
            server.drop_after_ack(who)
        elif fault == "drop_requests":
            server.drop_requests(who, rng.randint(1, 3))
        elif fault == "drop_market":
            server.drop_market(rng.randint(1, 20))
        elif fault == "duplicate_next":
            server.duplicate_next(who, rng.randint(1, 5))
        elif fault == "delay":
            server.delay(who, rng.randint(5, 150), rng.randint(1, 5))
        elif fault == "disconnect":
            server.disconnect(who)
        elif fault == "restart":
            mark[0] = server.call(lambda: _restart(server))
        elif fault == "send_garbage":
            server.send_garbage(who if rng.random() < 0.7 else None, rng.randint(1, 64))
    except SimulatorError:
        return  # e.g. garbage to a participant not connected right now
    result.faults[fault] += 1


def _restart(server: SimServer) -> int:
    last_trade: int = server.engine._trade_id
    server._restart()
    return last_trade


def _settle(server: SimServer, bots: list[_Bot], watermark: int, deadline: float) -> list[str]:
    """Poll until every bot's journal agrees with the engine; the differences at the deadline."""
    wait = threading.Event()
    while True:
        problems: list[str] = []
        truth = server.call(lambda: _truth(server, bots))
        for bot in bots:
            problems += [
                f"bot {bot.keys.public.decode()[:8]}: {p}" for p in _check(bot, truth, watermark)
            ]
        if not problems or time.monotonic() >= deadline:
            return problems
        wait.wait(0.1)  # polling a condition against a deadline


def _truth(server: SimServer, bots: list[_Bot]) -> dict[str, Any]:
    engine, exchange = server.engine, server.exchange
    out: dict[str, Any] = {
        "run_id": exchange.run_id,
        "books": {c.contract_id: engine.book(c.contract_id) for c in engine.contracts},
    }
    for bot in bots:
        who = bot.keys.public.decode()
        out[who] = (engine.open_orders(who), engine.fills(who), exchange.last_seq(who))
    return out


def _check(bot: _Bot, truth: dict[str, Any], watermark: int) -> list[str]:
    who = bot.keys.public.decode()
    open_orders, fills, last_seq = truth[who]
    run_id = truth["run_id"]
    problems: list[str] = []
    state = project(bot.journal)
    if state.run_id != run_id:
        return [f"journal in run {state.run_id[:8]}, exchange in {run_id[:8]}"]
    mine = {o.entry_id: o.open_size for o in state.open_orders}
    theirs = {o.entry_id: o.size for o in open_orders}
    if mine != theirs:
        problems.append(f"open orders differ: projected {mine}, engine {theirs}")
    got = sorted(
        (f.trade_id, f.entry_id, f.price_in_cents, f.size)
        for f in state.fills
        if f.trade_id > watermark
    )
    want = sorted((f.trade_id, f.entry_id, f.filled_price, f.filled_size) for f in fills)
    if got != want:
        problems.append(f"fills differ: projected {len(got)}, engine {len(want)}")
    if os.environ.get("RECORDER_CHAOS_DEBUG"):
        print(f"check {who[:8]}: {len(mine)} open, {len(got)} fills, seq {last_seq}", flush=True)
    for cid, book in truth["books"].items():
        entries = [(o.entry_id, o.is_ask, o.price_in_cents, o.size) for o in book.bids + book.asks]
        view = state.books.get(cid)
        projected = (
            [(e.entry_id, e.is_ask, e.price_in_cents, e.size) for e in view.entries]
            if view is not None
            else []
        )
        if sorted(projected) != sorted(entries) or (
            view is not None and entries and view.clock != book.clock
        ):
            diff = sorted(set(projected) ^ set(entries))[:4]
            problems.append(
                f"book {cid} differs: {len(projected)} vs {len(entries)} entries, "
                f"clock {view.clock if view else '-'} vs {book.clock}, e.g. {diff}"
            )
    with open_journal(bot.journal, create=False, readonly=True) as journal:
        seqs = {
            f.seq for f in journal.select(_order_in()) if f.run_id == run_id and f.direction == "in"
        }
        missing = [s for s in range(1, last_seq + 1) if s not in seqs]
        if missing:
            problems.append(f"{len(missing)} order-channel seq(s) of the run not journaled")
        report = verify(journal)
        if not report.ok:
            problems.append(f"verify: {report.breaks[0].message}")
        for gap in journal.gaps():
            if gap.state == "unrecoverable" and not gap.reason:
                problems.append(f"gap {gap.id} unrecoverable without a reason")
            elif gap.state not in ("filled", "unrecoverable"):
                problems.append(f"gap {gap.id} still {gap.state}")
    return problems


def _order_in() -> Any:
    from recorder.journal.reader import FrameFilter

    return FrameFilter(channel=Channel.ORDER)
