"""``recorder sim`` (run the exchange simulator, inject faults) and ``recorder keys generate``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from recorder.cli.app import AppContext, main, pass_app
from recorder.config import Config
from recorder.errors import SimulatorError
from recorder.keys import KeyPair, public_keys_in

# ---------------------------------------------------------------------------- keys


@main.group("keys")
def keys_group() -> None:
    """CURVE key pairs (certificates in ZeroMQ's text format)."""


@keys_group.command("generate")
@click.argument("name", default="participant")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write (default: [keys] dir).",
)
@click.option("--force", is_flag=True, help="Replace existing certificates.")
@pass_app
def keys_generate(app: AppContext, name: str, directory: Path | None, force: bool) -> None:
    """Write NAME.key (public) and NAME.key_secret (mode 0600) with a new key pair."""
    folder = directory or app.config().keys.dir
    pair = KeyPair.generate()
    secret = pair.save_certificate(folder / f"{name}.key", overwrite=force)
    click.echo(f"public key  {pair.public_text}")
    click.echo(f"certificate {folder / f'{name}.key'}")
    click.echo(f"secret      {secret}")


def ensure_keys(config: Config) -> tuple[KeyPair, list[KeyPair], list[str]]:
    """The simulator's key pair and allow-list, generating what is missing on a first run.

    The exchange's pair is ``[exchange] server_key`` (+ ``_secret``); the allow-list is every
    other public certificate in ``[keys] dir``; with none, a ``participant`` pair is generated.
    Returns the exchange pair, the participants' public keys and notes on what was generated.
    """
    notes: list[str] = []
    server_key = config.exchange.server_key
    if not server_key.exists():
        KeyPair.generate().save_certificate(server_key)
        notes.append(f"generated the exchange key pair {server_key}")
    exchange = KeyPair.load_certificate(server_key)
    if exchange.private is None:
        raise SimulatorError(f"{server_key}_secret is missing: the simulator needs its secret key")
    folder = config.keys.dir
    participants = public_keys_in(folder, exclude=server_key) if folder.is_dir() else []
    if not participants:
        path = folder / "participant.key"
        pair = KeyPair.generate()
        pair.save_certificate(path)
        participants = [pair]
        notes.append(f"generated a participant key pair {path}")
    return exchange, participants, notes


# ---------------------------------------------------------------------------- sim


@main.group("sim", invoke_without_command=True)
@click.option("--contracts", type=int, default=None, help="Number of contracts.")
@click.option("--seed", type=int, default=None, help="Seed of the background liquidity.")
@click.option("--makers", type=int, default=None, help="Background market makers.")
@click.option("--takers", type=int, default=None, help="Background takers.")
@click.option("--heartbeat-ms", type=int, default=None, help="Heartbeat interval.")
@click.option("--order-bind", default=None, help="Order channel endpoint (ROUTER).")
@click.option("--market-bind", default=None, help="Market channel endpoint (PUB).")
@click.option("--control-bind", default=None, help="Control socket endpoint (REP).")
@click.pass_context
def sim_group(ctx: click.Context, /, **options: Any) -> None:
    """Run the LX/1 exchange simulator in the foreground (Ctrl-C stops it).

    Keys: the exchange's pair is [exchange] server_key, the participants allowed in are the
    public certificates in [keys] dir; both are generated on the first run.
    """
    if ctx.invoked_subcommand is not None:
        return
    from recorder.sim.server import SimServer

    app = ctx.find_object(AppContext)
    assert app is not None
    config = app.config({("sim", k): v for k, v in options.items()})
    exchange, participants, notes = ensure_keys(config)
    for note in notes:
        click.echo(note)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = SimServer(config.sim, keys=exchange, participants=[p.public for p in participants])
    endpoints = server.start()
    click.echo(f"run       {server.run_id}")
    click.echo(f"orders    {endpoints.order}")
    click.echo(f"market    {endpoints.market}")
    click.echo(f"control   {endpoints.control}")
    click.echo(f"exchange  {exchange.public_text}")
    for pair in participants:
        click.echo(f"allowed   {pair.public_text}")
    server.serve_forever()


def _control(app: AppContext, endpoint: str | None) -> Any:
    from recorder.sim.control import ControlClient

    return ControlClient(endpoint or app.config().sim.control_bind)


def _participant(app: AppContext, who: str) -> str:
    """A z85 key as given, or the public key of a certificate (a path or a name in keys.dir)."""
    if len(who) == 40 and not Path(who).exists():
        return who
    path = Path(who)
    if not path.exists():
        path = app.config().keys.dir / f"{who}.key"
    return KeyPair.load_certificate(path).public_text


control_option = click.option(
    "--control", "endpoint", default=None, help="Control endpoint (default: [sim] control_bind)."
)
participant_option = click.option(
    "--participant",
    "-p",
    required=True,
    help="Participant: z85 public key, certificate path, or certificate name in [keys] dir.",
)


@sim_group.command("status")
@control_option
@pass_app
def sim_status(app: AppContext, endpoint: str | None) -> None:
    """Print the running simulator's run, participants and seqs (JSON)."""
    click.echo(json.dumps(_control(app, endpoint).request("status"), indent=2))


@sim_group.command("events")
@click.option("--last", type=int, default=50, help="How many recent fault events.")
@control_option
@pass_app
def sim_events(app: AppContext, last: int, endpoint: str | None) -> None:
    """Print the recent fault log (JSON)."""
    click.echo(json.dumps(_control(app, endpoint).request("events", last=last), indent=2))


@sim_group.group("fault")
def fault_group() -> None:
    """Inject a fault into the running simulator (via its control socket)."""


def _fault(app: AppContext, endpoint: str | None, op: str, **args: Any) -> None:
    result = _control(app, endpoint).request(op, **args)
    click.echo(f"{op}: ok" + (f" ({result})" if result is not None else ""))


@fault_group.command("drop-next")
@click.argument("count", type=int)
@participant_option
@control_option
@pass_app
def fault_drop_next(app: AppContext, count: int, participant: str, endpoint: str | None) -> None:
    """Drop the next COUNT order-channel messages to a participant (a seq gap)."""
    _fault(app, endpoint, "drop_next", participant=_participant(app, participant), count=count)


@fault_group.command("drop-ack")
@participant_option
@control_option
@pass_app
def fault_drop_ack(app: AppContext, participant: str, endpoint: str | None) -> None:
    """Drop the first reply to the participant's next request (S1)."""
    _fault(app, endpoint, "drop_ack", participant=_participant(app, participant))


@fault_group.command("drop-after-ack")
@participant_option
@control_option
@pass_app
def fault_drop_after_ack(app: AppContext, participant: str, endpoint: str | None) -> None:
    """Deliver the next request's ACK, then drop until the participant's next request (S2)."""
    _fault(app, endpoint, "drop_after_ack", participant=_participant(app, participant))


@fault_group.command("drop-requests")
@click.argument("count", type=int)
@participant_option
@control_option
@pass_app
def fault_drop_requests(
    app: AppContext, count: int, participant: str, endpoint: str | None
) -> None:
    """Lose the participant's next COUNT requests before they execute."""
    _fault(app, endpoint, "drop_requests", participant=_participant(app, participant), count=count)


@fault_group.command("drop-market")
@click.argument("count", type=int)
@control_option
@pass_app
def fault_drop_market(app: AppContext, count: int, endpoint: str | None) -> None:
    """Drop the next COUNT market-channel messages (a market seq and clock gap)."""
    _fault(app, endpoint, "drop_market", count=count)


@fault_group.command("duplicate")
@click.argument("count", type=int, default=1)
@participant_option
@control_option
@pass_app
def fault_duplicate(app: AppContext, count: int, participant: str, endpoint: str | None) -> None:
    """Send each of the next COUNT order-channel messages to the participant twice."""
    _fault(app, endpoint, "duplicate", participant=_participant(app, participant), count=count)


@fault_group.command("delay")
@click.argument("ms", type=int)
@click.option("--count", type=int, default=1, help="How many messages to hold.")
@participant_option
@control_option
@pass_app
def fault_delay(
    app: AppContext, ms: int, count: int, participant: str, endpoint: str | None
) -> None:
    """Hold the next COUNT order-channel messages to the participant for MS milliseconds."""
    who = _participant(app, participant)
    _fault(app, endpoint, "delay", participant=who, ms=ms, count=count)


@fault_group.command("disconnect")
@participant_option
@control_option
@pass_app
def fault_disconnect(app: AppContext, participant: str, endpoint: str | None) -> None:
    """Cut the participant's connections (it must reconnect)."""
    _fault(app, endpoint, "disconnect", participant=_participant(app, participant))


@fault_group.command("restart")
@control_option
@pass_app
def fault_restart(app: AppContext, endpoint: str | None) -> None:
    """Restart the run: new run_id, resting orders gone, seqs and clocks from 1."""
    _fault(app, endpoint, "restart")


@fault_group.command("garbage")
@click.option("--size", type=int, default=16, help="How many random bytes.")
@click.option("--participant", "-p", default=None, help="Participant (default: the market).")
@control_option
@pass_app
def fault_garbage(
    app: AppContext, size: int, participant: str | None, endpoint: str | None
) -> None:
    """Send random bytes that are not an envelope to a participant or the market."""
    who = _participant(app, participant) if participant else None
    _fault(app, endpoint, "garbage", participant=who, size=size)


@fault_group.command("clear")
@click.option("--participant", "-p", default=None, help="Only this participant's faults.")
@control_option
@pass_app
def fault_clear(app: AppContext, participant: str | None, endpoint: str | None) -> None:
    """Disarm every armed fault."""
    who = _participant(app, participant) if participant else None
    _fault(app, endpoint, "clear", participant=who)
