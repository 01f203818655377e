"""``recorder config show``."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from recorder.cli.app import AppContext, main, pass_app


@main.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as a JSON object.")
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Print the effective settings (defaults < file < environment)."""
    config = app.config()
    values = config.as_dict()
    if as_json:
        click.echo(
            json.dumps(
                {"source": str(config.source) if config.source else None, **values}, indent=2
            )
        )
        return
    table = Table(title=f"configuration ({config.source or 'built-in defaults'})")
    table.add_column("setting")
    table.add_column("value")
    for section, settings in values.items():
        for key, value in settings.items():
            table.add_row(f"{section}.{key}", str(value))
    Console().print(table)
