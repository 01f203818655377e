"""What the scripted live-then-replay tests share: the SDK context they drive against the
simulator, its journal given, with short S1 timeouts so that a lost ACK is resent quickly."""

from __future__ import annotations

from pathlib import Path

from recorder.client import Context
from recorder.config import ClientConfig, Config, JournalConfig
from recorder.keys import KeyPair
from recorder.sim.server import SimServer

CLIENT = ClientConfig(ack_timeout_ms=250, backoff_cap_ms=1000)


def sdk_context(server: SimServer, bot: KeyPair, processor: object, journal: Path) -> Context:
    """A context of ``bot`` on ``server``'s both channels, journaling into ``journal``."""
    assert server.endpoints is not None and bot.private is not None
    return Context(
        server.endpoints.order, bot.private, bot.public, server.public_key,
        processor,  # type: ignore[arg-type]
        market_endpoint=server.endpoints.market, journal=journal,
        config=Config(journal=JournalConfig(path=journal), client=CLIENT),
    )  # fmt: skip
