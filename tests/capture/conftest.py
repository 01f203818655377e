"""Fixtures for the capture service tests (the harness is in capture_stack.py)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from capture_stack import Stack, open_stack, sim_config

from recorder.keys import KeyPair


@pytest.fixture(scope="session")
def exchange_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def service_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def participant_keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def counterparty_keys() -> KeyPair:
    """Another participant, trading with the simulator directly (no capture service)."""
    return KeyPair.generate()


@pytest.fixture(scope="session")
def second_bot_keys() -> KeyPair:
    """Another bot of the same participant, on the allow-list with its own key."""
    return KeyPair.generate()


@pytest.fixture
def make_stack(
    tmp_path: Path,
    exchange_keys: KeyPair,
    service_keys: KeyPair,
    participant_keys: KeyPair,
    second_bot_keys: KeyPair,
    counterparty_keys: KeyPair,
) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []
    logging.getLogger("recorder.sim").setLevel(logging.ERROR)

    def make(
        *,
        liquidity: bool = False,
        durability: str = "safe",
        service: dict[str, object] | None = None,
        **sim: object,
    ) -> Stack:
        """A stack: ``sim`` overrides :func:`sim_config`, ``service`` the service's options."""
        if liquidity:
            sim = {"makers": 2, "takers": 1, **sim}
        stack = open_stack(
            tmp_path / f"capture-{len(stacks)}.journal",
            exchange=exchange_keys,
            service=service_keys,
            participant=participant_keys,
            counterparties=[counterparty_keys],
            bots=[second_bot_keys],
            sim=sim_config(**sim),
            liquidity=liquidity,
            durability=durability,
            **(service or {}),
        )
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        for bot in stack.bots:
            bot.close()
        stack.service.stop("test finished")
        stack.sim.stop()
        stack.journal.close()
