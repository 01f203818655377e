"""Fixtures for the simulator tests: a running server on random loopback ports, CURVE clients."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the helpers in lxclient.py

from lxclient import Client, sim_config

from recorder.keys import KeyPair
from recorder.sim.server import SimServer


@pytest.fixture(scope="session")
def exchange_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def alice_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def bob_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def make_server(
    exchange_keys: KeyPair, alice_keys: KeyPair, bob_keys: KeyPair
) -> Iterator[Callable[..., SimServer]]:
    servers: list[SimServer] = []

    def make(**overrides: object) -> SimServer:
        liquidity = bool(overrides.pop("liquidity", False))
        server = SimServer(
            sim_config(**overrides),
            keys=exchange_keys,
            participants=[alice_keys.public, bob_keys.public],
            liquidity=liquidity,
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
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


@pytest.fixture
def alice(server: SimServer, alice_keys: KeyPair, clients: list[Client]) -> Client:
    client = Client(server, alice_keys, market=True)
    clients.append(client)
    return client


@pytest.fixture
def bob(server: SimServer, bob_keys: KeyPair, clients: list[Client]) -> Client:
    client = Client(server, bob_keys, market=True)
    clients.append(client)
    return client
