"""``recorder capture`` (run the capture service) and ``recorder capture status``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from recorder.cli.app import AppContext, journal_option, journal_overrides, main, pass_app


@main.group("capture", invoke_without_command=True)
@journal_option
@click.option(
    "--durability",
    type=click.Choice(["strict", "safe", "fast"]),
    default=None,
    help="Journal durability (default: [journal] durability).",
)
@click.option(
    "--upstream",
    type=click.Choice(["embedded", "exchange"]),
    default=None,
    help='"embedded" starts the simulator in-process; "exchange" uses [exchange].',
)
@click.option("--order-bind", default=None, help="Bot-facing order channel (ROUTER).")
@click.option("--market-bind", default=None, help="Bot-facing market channel (PUB).")
@click.option("--status-bind", default=None, help="Status socket (REP, loopback).")
@click.pass_context
def capture_group(
    ctx: click.Context, /, journal_path: Path | None, durability: str | None, **options: Any
) -> None:
    """Run the capture service in the foreground: bots connect here instead of the exchange.

    Every frame is journaled before it is forwarded. SIGINT or SIGTERM stops it cleanly: the
    journal is committed and the session row is closed with the signal's name as the reason.
    Logs are logfmt lines on stderr; the endpoints and keys are printed on stdout.
    """
    if ctx.invoked_subcommand is not None:
        return
    from recorder.capture import logs, run_capture

    app = ctx.find_object(AppContext)
    assert app is not None
    overrides: dict[tuple[str, str], Any] = journal_overrides(journal_path)
    overrides[("journal", "durability")] = durability
    overrides.update({("capture", k): v for k, v in options.items()})
    config = app.config(overrides)
    logs.configure()

    def ready(service: Any, endpoints: Any) -> None:
        click.echo(f"session   {service.session_id}")
        click.echo(f"journal   {config.journal.path} ({config.journal.durability})")
        click.echo(f"orders    {endpoints.order}")
        click.echo(f"market    {endpoints.market}")
        click.echo(f"status    {endpoints.status}")
        click.echo(f"server    {service.keys.public_text}")
        click.echo(f"upstream  {service.upstream.order_endpoint}")
        click.echo("ready", nl=True)

    reason = run_capture(config, on_ready=ready)
    click.echo(f"stopped   {reason}")


@capture_group.command("status")
@click.option(
    "--status", "endpoint", default=None, help="Status endpoint (default: [capture] status_bind)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_app
def capture_status(app: AppContext, endpoint: str | None, as_json: bool) -> None:
    """Ask a running capture service for frames/s, journal size, open gaps and bots."""
    from recorder.capture import query_status

    status = query_status(endpoint or app.config().capture.status_bind)
    click.echo(json.dumps(status.as_dict(), indent=2) if as_json else status.line())
