"""``recorder replay``: feed a journal (or a window of it) into a ``MessageProcessor``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from recorder.cli.app import AppContext, journal_option, journal_overrides, main, pass_app
from recorder.cli.journal_cmds import parse_time
from recorder.client import MessageProcessor
from recorder.examples.processors import CallCounter
from recorder.journal import open_journal
from recorder.replay import Replayer, load_processor

_PROGRESS_FROM = 50_000
"""Replays of at least this many frames show a progress bar."""


@main.command("replay")
@journal_option
@click.option(
    "--into",
    "into",
    default=None,
    help="The processor, module:Class or file.py:Class (default: count the handler calls).",
)
@click.option("--session", "session_id", type=int, help="Only this journal session's frames.")
@click.option("--since", help="Start at the first frame journaled at or after this ISO time.")
@click.option("--until", help="Stop after the last frame journaled at or before this ISO time.")
@click.option("--start", type=int, help="Start at this journal position.")
@click.option("--stop", type=int, help="Stop after this journal position (inclusive).")
@click.option(
    "--speed",
    type=float,
    default=None,
    help="Pace by the recorded clock: 1 = as recorded, 10 = ten times faster "
    "(default: as fast as possible).",
)
@click.option("--state", "show_state", is_flag=True, help="Print the projected state at the end.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def replay_cmd(
    app: AppContext,
    journal_path: Path | None,
    into: str | None,
    session_id: int | None,
    since: str | None,
    until: str | None,
    start: int | None,
    stop: int | None,
    speed: float | None,
    show_state: bool,
    as_json: bool,
) -> None:
    """Replay a journal into a MessageProcessor with the live callbacks and prev_msg."""
    config = app.config(journal_overrides(journal_path))
    processor: MessageProcessor | type[MessageProcessor] = (
        CallCounter() if into is None else load_processor(into)
    )
    console = Console(stderr=True)
    with open_journal(config.journal.path, readonly=True) as journal:
        replayer = Replayer(
            journal,
            processor,
            start=start,
            stop=stop,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
            session_id=session_id,
            speed=speed,
            client_config=config.client,
        )
        total = max(replayer.last - replayer.first + 1, 0)
        if as_json or (total < _PROGRESS_FROM and speed is None):
            result = replayer.run()
        else:
            columns = (
                TextColumn("[bold]replaying"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} frames"),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=console, transient=True) as bar:
                task = bar.add_task("replay", total=total)
                replayer.progress = lambda done, _total: bar.update(task, completed=done)
                replayer.progress_every = 1 if speed is not None else 5_000
                result = replayer.run()
        state = replayer.state() if show_state and result.frames else None
    name = type(replayer.processor).__name__
    summary: dict[str, Any] = {
        "processor": name,
        "frames": result.frames,
        "first_position": result.first_position,
        "last_position": result.last_position,
        "elapsed_s": round(result.elapsed_s, 6),
        "frames_per_s": round(result.frames_per_s),
        "handler_errors": result.handler_errors,
        "submitted": len(result.submitted),
    }
    if isinstance(replayer.processor, CallCounter):
        summary["calls"] = dict(sorted(replayer.processor.counts.items()))
    if state is not None:
        summary["state"] = state.as_dict()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    out = Console()
    out.print(
        f"replayed {result.frames:,} frames (positions {result.first_position}.."
        f"{result.last_position}) into {name} in {result.elapsed_s:.2f} s "
        f"({result.frames_per_s:,.0f} frames/s); {result.handler_errors} handler errors; "
        f"{len(result.submitted)} requests submitted by the processor (not sent)"
    )
    if "calls" in summary:
        table = Table(title="handler calls")
        table.add_column("handler")
        table.add_column("calls", justify="right")
        for handler, count in summary["calls"].items():
            table.add_row(handler, f"{count:,}")
        out.print(table)
    if state is not None:
        out.print(
            f"state at position {state.position}: digest {state.digest()[:16]}, "
            f"{len(state.open_orders)} open orders, {len(state.fills)} fills, "
            f"{len(state.gaps)} gaps, {len(state.anomalies)} anomalies"
        )
