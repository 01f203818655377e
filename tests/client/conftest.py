"""Fixtures for the SDK tests: an in-process simulator on loopback ports (CURVE) and a context
per test journaling into a temporary file (helpers in sdk_helpers.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the helpers in sdk_helpers.py

from sdk_helpers import LOOPBACK, WAIT, Recording, client_config

from recorder.client import FROM_CONFIG, Context, MessageProcessor
from recorder.config import SimConfig
from recorder.journal import Journal
from recorder.keys import KeyPair
from recorder.sim.server import SimServer


@pytest.fixture(scope="session")
def exchange_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def client_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def make_server(exchange_keys: KeyPair, client_keys: KeyPair) -> Iterator[Callable[..., SimServer]]:
    servers: list[SimServer] = []

    def make(heartbeat_ms: int = 300, **overrides: Any) -> SimServer:
        config = SimConfig(
            order_bind=LOOPBACK,
            market_bind=LOOPBACK,
            control_bind=LOOPBACK,
            heartbeat_ms=heartbeat_ms,
            makers=0,
            takers=0,
            contracts=3,
            **overrides,
        )
        server = SimServer(
            config,
            keys=exchange_keys,
            participants=[client_keys.public],
            liquidity=False,
            record_frames=True,
        )
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., SimServer]) -> SimServer:
    return make_server()


@pytest.fixture
def make_context(
    request: pytest.FixtureRequest, client_keys: KeyPair, tmp_path: Path
) -> Iterator[Callable[..., Context]]:
    """``make(processor, journal, server=..., **client_settings)``: a started context connected
    to ``server`` (the ``server`` fixture unless given), stopped at teardown."""
    contexts: list[Context] = []

    def make(
        processor: type[MessageProcessor] | MessageProcessor | None = None,
        journal: Journal | Path | str | object | None = FROM_CONFIG,
        server: SimServer | None = None,
        **client: Any,
    ) -> Context:
        if server is None:
            server = request.getfixturevalue("server")
        assert (
            server is not None and server.endpoints is not None and client_keys.private is not None
        )
        context = Context(
            server.endpoints.order,
            client_keys.private,
            client_keys.public,
            server.public_key,
            processor if processor is not None else Recording(),
            market_endpoint=server.endpoints.market,
            journal=journal,  # type: ignore[arg-type]
            config=client_config(tmp_path, **client),
        )
        context.start()
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.stop()
        context.join(WAIT)
        assert not context.is_alive()
