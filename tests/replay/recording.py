"""One journal recorded from the simulator through the SDK over real sockets (CURVE on
loopback), shared by the replay, analysis and notebook tests of one pytest process: the demo's
market maker trading with an outage, a gap recovered by ``MessageReplay`` and an exchange
restart, its live handler calls logged."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from calllog import Call, logged

from recorder.demo import DemoResult, run_demo
from recorder.examples.market_maker import MarketMaker

SECONDS = 4.0


@dataclass(frozen=True)
class Recorded:
    """The journal, the demo's result and the live bot's call log."""

    path: Path
    result: DemoResult
    live_calls: list[Call]


_cache: dict[str, Recorded] = {}


def recorded(factory: pytest.TempPathFactory) -> Recorded:
    """Record the journal once per process (about ``SECONDS`` + 1 s)."""
    if "journal" not in _cache:
        path = factory.mktemp("recorded") / "sdk.journal"
        bot = logged(MarketMaker)()
        result = run_demo(path, seconds=SECONDS, bot=bot)  # type: ignore[arg-type]
        assert result.report.ok, result.report.breaks
        _cache["journal"] = Recorded(path, result, list(bot.calls))  # type: ignore[attr-defined]
    return _cache["journal"]
