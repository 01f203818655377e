"""``recorder sim`` (run the exchange simulator, inject faults) and ``recorder keys generate``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
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


_CONTROL_HELP = "Control endpoint (default: [sim] control_bind)."
_PARTICIPANT_HELP = (
    "Participant: z85 public key, certificate path, or certificate name in [keys] dir."
)
control_option = click.option("--control", "endpoint", default=None, help=_CONTROL_HELP)


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


@dataclass(frozen=True, slots=True)
class _Fault:
    """One ``recorder sim fault`` command: its name, the control op, its help, its parameters.

    ``participant`` is ``"required"``, ``"optional"`` (its help says what leaving it out means)
    or ``"none"``.
    """

    name: str
    op: str
    help: str
    participant: str = "required"
    participant_help: str = _PARTICIPANT_HELP
    params: tuple[click.Parameter, ...] = ()


def _count(default: int | None = None) -> click.Argument:
    if default is None:
        return click.Argument(["count"], type=int)
    return click.Argument(["count"], type=int, default=default, required=False)


FAULTS = (
    _Fault("drop-next", "drop_next",
           "Drop the next COUNT order-channel messages to a participant (a seq gap).",
           params=(_count(), click.Option(
               ["--replies-only"], is_flag=True, default=False,
               help="Count only replies to the participant's own requests (heartbeats pass)."))),
    _Fault("drop-ack", "drop_ack", "Drop the first reply to the participant's next request (S1)."),
    _Fault("drop-after-ack", "drop_after_ack",
           "Deliver the next request's ACK, then drop until the participant's next request (S2)."),
    _Fault("drop-requests", "drop_requests",
           "Lose the participant's next COUNT requests before they execute.", params=(_count(),)),
    _Fault("drop-market", "drop_market",
           "Drop the next COUNT market-channel messages (a market seq and clock gap).",
           participant="none", params=(_count(),)),
    _Fault("duplicate", "duplicate",
           "Send each of the next COUNT order-channel messages to the participant twice.",
           params=(_count(default=1),)),
    _Fault("delay", "delay",
           "Hold the next COUNT order-channel messages to the participant for MS milliseconds.",
           params=(click.Argument(["ms"], type=int),
                   click.Option(["--count"], type=int, default=1, help="How many to hold."))),
    _Fault("disconnect", "disconnect", "Cut the participant's connections (it must reconnect)."),
    _Fault("restart", "restart",
           "Restart the run: new run_id, resting orders gone, seqs and clocks from 1.",
           participant="none"),
    _Fault("garbage", "garbage",
           "Send random bytes that are not an envelope to a participant or the market.",
           participant="optional", participant_help="Participant (default: the market).",
           params=(click.Option(["--size"], type=int, default=16, help="How many random bytes."),)),
    _Fault("clear", "clear", "Disarm every armed fault.", participant="optional",
           participant_help="Only this participant's faults."),
)  # fmt: skip
"""Every fault command, registered on ``recorder sim fault`` below."""


def _register(fault: _Fault) -> None:
    def run(app: AppContext, endpoint: str | None, **args: Any) -> None:
        if fault.participant != "none":
            who = args.pop("participant")
            args["participant"] = _participant(app, who) if who else None
        _fault(app, endpoint, fault.op, **args)

    params = list(fault.params)
    if fault.participant != "none":
        # No default at all when required: click 8.2+ takes an explicit None for a default.
        required = fault.participant == "required"
        extra: dict[str, Any] = {"required": True} if required else {"default": None}
        params.append(click.Option(["--participant", "-p"], help=fault.participant_help, **extra))
    params.append(click.Option(["--control", "endpoint"], default=None, help=_CONTROL_HELP))
    fault_group.add_command(
        click.Command(fault.name, callback=pass_app(run), params=params, help=fault.help)
    )


for _spec in FAULTS:
    _register(_spec)
