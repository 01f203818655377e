"""``recorder demo``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress

from recorder.cli.app import AppContext, main, pass_app
from recorder.cli.output import emit
from recorder.demo import run_demo
from recorder.journal import open_journal
from recorder.journal.frames_view import FRAME_TABLE_COLUMNS, frame_row


@main.command("demo")
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("var/demo.journal"),
    show_default=True,
    help="Journal to write (replaced if it exists).",
)
@click.option("--steps", type=int, default=20_000, show_default=True, help="Simulated steps.")
@click.option("--seed", type=int, default=7, show_default=True)
@pass_app
def demo(app: AppContext, journal_path: Path, steps: int, seed: int) -> None:
    """Record a simulated trading session, verify it, and show what is in it."""
    config = app.config()
    console = Console()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("simulating and journaling", total=steps)
        result = run_demo(
            journal_path,
            steps=steps,
            seed=seed,
            durability=config.journal.durability,
            progress=lambda done, _total: bar.update(task, completed=done),
        )
    report = result.report
    console.print(
        f"[bold]journal[/] {result.journal}: {report.frames:,} frames, head position "
        f"{report.head_position}, {report.replayed} replayed, {report.malformed} malformed"
    )
    verdict = "[green]OK[/]" if report.ok else "[red]BROKEN[/]"
    console.print(f"[bold]verify[/]: {verdict} (hash chain, seq continuity, gap ledger)")
    for b in report.breaks:
        console.print(f"  position {b.position}: {b.message}")
    with open_journal(result.journal, readonly=True) as journal:
        frames = journal.by_mid(result.sample_mid)
        console.print(f"\n[bold]one order's story[/] (mid {result.sample_mid}):")
        emit((frame_row(f) for f in frames), FRAME_TABLE_COLUMNS, "table")
    j = result.journal
    when = datetime.fromtimestamp(frames[0].wall_ns / 1e9, UTC).isoformat() if frames else ""
    click.echo(
        "\nTry next:\n"
        f"  recorder verify --journal {j}\n"
        f"  recorder frames --journal {j} --mid {result.sample_mid}\n"
        f"  recorder frames --journal {j} --kind ActionReport --limit 20\n"
        f"  recorder frames --journal {j} --since {when} --limit 50 --json\n"
    )
    if not report.ok:
        raise SystemExit(1)
