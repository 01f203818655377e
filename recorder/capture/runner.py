"""``recorder capture`` as a library call: keys, the upstream, the journal, signals, the loop.

:func:`run_capture` builds everything a :class:`~recorder.capture.service.CaptureService` needs
from a :class:`~recorder.config.Config` and serves in the foreground until SIGINT or SIGTERM;
then it commits, ends the journal session with the signal's name as the reason, and returns it.

Keys (``[capture]``): the service's own pair ``server_key`` is generated on the first run (bots
need its public certificate); the participant's pair ``participant_key`` must exist when
``upstream = "exchange"`` and is generated for the embedded simulator. The allow-list is the
participant's own public key (a bot that used to talk to the exchange with it connects
unchanged), every public certificate in ``bot_keys_dir``, and the z85 keys in ``bot_keys``.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from recorder.capture.logs import event
from recorder.capture.service import CaptureService
from recorder.capture.sockets import CaptureEndpoints, Upstream
from recorder.config import Config
from recorder.errors import CaptureError, CertificateError, ConfigError
from recorder.journal import open_journal
from recorder.keys import KeyPair, public_keys_in

log = logging.getLogger("recorder.capture")


@dataclass(frozen=True, slots=True)
class CaptureKeys:
    """The keys a capture service runs with."""

    service: KeyPair
    participant: KeyPair
    bots: tuple[bytes, ...]
    """Public keys allowed to connect (z85)."""


def _pair(path: Path, *, generate: bool, what: str) -> KeyPair:
    if not path.exists():
        if not generate:
            raise CaptureError(
                f"{what} certificate {path} does not exist; create it with "
                f"`recorder keys generate` or set its path in [capture]"
            )
        KeyPair.generate().save_certificate(path)
        event(log, logging.INFO, "generated a key pair", what=what, path=path)
    pair = KeyPair.load_certificate(path)
    if pair.private is None:
        raise CaptureError(f"{path}_secret is missing: the {what} secret key is needed")
    return pair


def capture_keys(config: Config) -> CaptureKeys:
    """Load (or, where allowed, generate) the service's keys and its bot allow-list."""
    cap = config.capture
    service = _pair(cap.server_key, generate=True, what="capture service")
    participant = _pair(
        cap.participant_key, generate=cap.upstream == "embedded", what="participant"
    )
    bots: list[bytes] = [participant.public]
    if cap.bot_keys_dir.is_dir():
        bots += [pair.public for pair in public_keys_in(cap.bot_keys_dir)]
    for text in cap.bot_keys.split(","):
        key = text.strip()
        if key:
            try:
                bots.append(KeyPair(key.encode("ascii")).public)
            except (UnicodeEncodeError, CertificateError) as exc:
                raise ConfigError(
                    f"[capture] bot_keys: {key[:48]!r} is not a bot's public key (40 z85 "
                    "characters, the public-key line of its certificate; several are "
                    "comma-separated)"
                ) from exc
    return CaptureKeys(service, participant, tuple(dict.fromkeys(bots)))


def run_capture(
    config: Config,
    *,
    on_ready: Callable[[CaptureService, CaptureEndpoints], None] | None = None,
    handle_signals: bool = True,
) -> str:
    """Run the capture service of ``config`` in the foreground; return the session's end reason.

    With ``upstream = "embedded"`` the ``[sim]`` simulator is started in-process first (its
    key pair is ``[exchange] server_key``, generated when missing) and stopped at the end.
    """
    keys = capture_keys(config)
    sim: Any = None
    if config.capture.upstream == "embedded":
        from recorder.sim.server import SimServer

        exchange = _pair(config.exchange.server_key, generate=True, what="exchange (embedded)")
        sim = SimServer(config.sim, keys=exchange, participants=[keys.participant.public])
        endpoints = sim.start()
        upstream = Upstream(endpoints.order, endpoints.market, exchange.public)
        event(log, logging.INFO, "embedded simulator started", orders=endpoints.order,
              market=endpoints.market, control=endpoints.control)  # fmt: skip
    else:
        exchange = KeyPair.load_certificate(config.exchange.server_key)
        upstream = Upstream(
            config.exchange.order_endpoint, config.exchange.market_endpoint, exchange.public
        )
    try:
        jc = config.journal
        jc.path.parent.mkdir(parents=True, exist_ok=True)
        journal = open_journal(
            jc.path,
            durability=jc.durability,
            fast_flush_ms=jc.fast_flush_ms,
            fast_batch=jc.fast_batch,
            safe_commit_ms=jc.safe_commit_ms,
            busy_timeout_ms=jc.busy_timeout_ms,
            committer=config.capture.committer,
        )
        try:
            cap = config.capture
            service = CaptureService(
                journal,
                keys=keys.service,
                participant=keys.participant,
                upstream=upstream,
                bot_keys=keys.bots,
                order_bind=cap.order_bind,
                market_bind=cap.market_bind,
                status_bind=cap.status_bind,
                capture_point=cap.capture_point,
                replay_timeout_ms=cap.replay_timeout_ms,
                status_log_s=cap.status_log_s,
                heartbeat_ms=cap.heartbeat_ms,
                heartbeat_factor=cap.heartbeat_factor,
                reconnect_backoff_cap_ms=cap.reconnect_backoff_cap_ms,
            )
            endpoints_ = service.start()
            previous: dict[signal.Signals, Any] = {}
            if handle_signals:

                def stop(signum: int, frame: FrameType | None) -> None:
                    service.request_stop(signal.Signals(signum).name)

                for sig in (signal.SIGINT, signal.SIGTERM):
                    previous[sig] = signal.signal(sig, stop)
            try:
                if on_ready is not None:
                    on_ready(service, endpoints_)
                return service.run()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        finally:
            journal.close()
    finally:
        if sim is not None:
            sim.stop()
