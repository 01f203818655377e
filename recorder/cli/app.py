"""The root ``recorder`` group, the shared options and the error boundary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from recorder import __version__
from recorder.config import Config, Overrides, load_config
from recorder.errors import RecorderError


@dataclass
class AppContext:
    """What every command gets: the config file the user chose."""

    config_path: Path | None

    def config(self, overrides: Overrides | None = None) -> Config:
        """Load the configuration with command-line ``overrides`` on top."""
        try:
            return load_config(self.config_path, overrides=overrides)
        except RecorderError as exc:
            raise click.ClickException(str(exc)) from exc


class RecorderGroup(click.Group):
    """A click group that turns :class:`RecorderError` into a clean message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecorderError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=RecorderGroup)
@click.version_option(__version__, prog_name="recorder")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="RECORDER_CONFIG",
    default=None,
    help="Configuration file (env RECORDER_CONFIG; default ./config.toml).",
)
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Record, verify, project and replay LX/1 order traffic."""
    ctx.obj = AppContext(config_path)


pass_app = click.make_pass_decorator(AppContext)


def journal_option(func: Any) -> Any:
    """The ``--journal PATH`` option every journal-reading or -writing command takes."""
    return click.option(
        "--journal",
        "journal_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Journal file (default: [journal] path in config.toml, env RECORDER_JOURNAL__PATH).",
    )(func)


def journal_overrides(journal_path: Path | None) -> dict[tuple[str, str], Any]:
    """Command-line overrides for the ``[journal]`` section."""
    return {("journal", "path"): journal_path}
