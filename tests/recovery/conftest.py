"""Fixtures for the recovery tests: an in-process simulator (CURVE, loopback) and contexts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from recorder.chaos.bot import QuietProcessor
from recorder.client import Context, MessageProcessor
from recorder.config import ClientConfig, Config, JournalConfig, SimConfig
from recorder.keys import KeyPair
from recorder.sim.server import SimServer

LOOPBACK = "tcp://127.0.0.1:*"


@pytest.fixture
def exchange_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def bot_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def server(exchange_keys: KeyPair, bot_keys: KeyPair) -> Iterator[SimServer]:
    config = SimConfig(
        order_bind=LOOPBACK, market_bind=LOOPBACK, control_bind=LOOPBACK, heartbeat_ms=100,
        makers=0, takers=0, contracts=3,
    )  # fmt: skip
    srv = SimServer(
        config, keys=exchange_keys, participants=[bot_keys.public], liquidity=False,
        record_frames=True,
    )  # fmt: skip
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def make_context(
    server: SimServer, bot_keys: KeyPair, tmp_path: Path
) -> Iterator[Callable[..., Context]]:
    made: list[Context] = []

    def make(processor: MessageProcessor | None = None, **start: Any) -> Context:
        assert server.endpoints is not None and bot_keys.private is not None
        config = Config(
            journal=JournalConfig(path=tmp_path / "bot.journal"),
            client=ClientConfig(ack_timeout_ms=150, backoff_cap_ms=600, default_heartbeat_ms=100),
        )
        ctx = Context(
            server.endpoints.order, bot_keys.private, bot_keys.public, server.public_key,
            processor or QuietProcessor(), market_endpoint=server.endpoints.market, config=config,
        )  # fmt: skip
        ctx.start(**start)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.stop()
        ctx.join(10)
