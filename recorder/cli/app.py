"""The root ``recorder`` group, the shared options and the error boundary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import click

from recorder import __version__
from recorder.config import Config, Overrides, load_config
from recorder.errors import RecorderError


@dataclass
class AppContext:
    """What every command gets: the config file the user chose.

    ``journal_path`` is the journal the last loaded configuration names, kept so the error
    boundary can say which file is damaged when SQLite reports it.
    """

    config_path: Path | None
    journal_path: Path | None = None

    def config(self, overrides: Overrides | None = None) -> Config:
        """Load the configuration with command-line ``overrides`` on top."""
        try:
            config = load_config(self.config_path, overrides=overrides)
        except RecorderError as exc:
            raise click.ClickException(str(exc)) from exc
        self.journal_path = config.journal.path
        return config


class RecorderGroup(click.Group):
    """A click group that turns :class:`RecorderError` into a clean message and exit code 1.

    A damaged page inside a journal is found only when a command reads it, long after the
    journal opened cleanly, and apsw raises ``CorruptError`` (or ``NotADBError``) from whatever
    query touched it; catching those here gives every command the same message.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecorderError as exc:
            raise click.ClickException(str(exc)) from exc
        except (apsw.CorruptError, apsw.NotADBError) as exc:
            app = ctx.find_object(AppContext)
            path = app.journal_path if app is not None else None
            raise click.ClickException(
                _damaged(path, exc, verifying=ctx.invoked_subcommand == "verify")
            ) from exc


def _damaged(path: Path | None, exc: Exception, *, verifying: bool) -> str:
    """What to say about a journal SQLite found damaged; ``recorder verify`` is only advised
    when it is not the command that just failed."""
    name = f"journal {path}" if path is not None else "the journal"
    where = "" if verifying or path is None else f"`recorder verify --journal {path}` says where; "
    return f"{name} is damaged ({exc}); {where}restore it from a copy"


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
