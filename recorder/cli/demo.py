"""``recorder demo``: the main job against the embedded simulator, with a live display."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from recorder.cli.app import AppContext, main, pass_app
from recorder.core.state import State
from recorder.demo import DemoProgress, DemoResult, run_demo


@main.command("demo")
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("var/demo.journal"),
    show_default=True,
    help="Journal to write (replaced if it exists).",
)
@click.option(
    "--seconds", type=float, default=20.0, show_default=True, help="How long the bot trades."
)
@click.option("--seed", type=int, default=7, show_default=True, help="Background liquidity seed.")
@pass_app
def demo(app: AppContext, journal_path: Path, seconds: float, seed: int) -> None:
    """Run a market-making bot on the SDK against the simulator, with an outage and an exchange
    restart; then verify and project the journal it wrote."""
    if seconds <= 0:
        raise click.BadParameter("must be positive", param_hint="--seconds")
    config = app.config()
    console = Console()
    console.print(
        f"[bold]recorder demo[/]: the example market maker trades for {seconds:g} s against the "
        f"embedded LX/1 simulator (CURVE on loopback), journaling every frame into {journal_path}"
    )
    bar = Progress(TextColumn("[bold]trading"), BarColumn(), TextColumn("{task.description}"))
    task = bar.add_task("", total=seconds)
    with Live(console=console, transient=True, refresh_per_second=8) as live:

        def show(p: DemoProgress) -> None:
            bar.update(
                task,
                completed=min(p.elapsed_s, seconds),
                description=f"{p.elapsed_s:4.1f}/{seconds:g} s",
            )
            stats = Table.grid(padding=(0, 2))
            for label, value in (
                ("frames journaled", f"{p.frames:,}"),
                ("orders sent", f"{p.orders_sent:,}"),
                ("fills", f"{p.fills:,}"),
                ("position", ", ".join(f"#{c}: {n:+d}" for c, n in sorted(p.position.items()))),
            ):
                stats.add_row(Text(label, style="dim"), value or "flat")
            events = Text("\n".join(p.events) or "(no fault injected yet)")
            live.update(Panel(Group(bar, stats, Text(""), events), title="recorder demo"))

        quiet = logging.getLogger("recorder")  # the faults and recoveries are shown as events
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            result = run_demo(
                journal_path, seconds=seconds, seed=seed, durability=config.journal.durability,
                progress=show,
            )  # fmt: skip
        finally:
            quiet.setLevel(level)
    _report(console, result)
    if not result.report.ok:
        raise SystemExit(1)


def _report(console: Console, result: DemoResult) -> None:
    for line in result.events:
        console.print(f"  {line}")
    report, state = result.report, result.state
    console.print(
        f"\n[bold]journal[/] {result.journal}: {report.frames:,} frames in {result.sessions} "
        f"sessions, {report.replayed} recovered by replay, head hash {report.head_hash[:16]}"
    )
    _books(console, state)
    _orders(console, state)
    _positions(console, state)
    gaps = Table(title=f"gap ledger ({len(result.gaps)})")
    for column in ("channel", "run", "seqs", "state", "reason"):
        gaps.add_column(column)
    for g in result.gaps:
        gaps.add_row(g.channel, g.run_id[:8], f"{g.from_seq}..{g.to_seq}", g.state, g.reason)
    console.print(gaps)
    verdict = "[green]OK[/]" if report.ok else "[red]BROKEN[/]"
    console.print(f"[bold]verify[/]: {verdict} (hash chain, seq continuity, gap ledger)")
    for b in report.breaks:
        console.print(f"  position {b.position}: {b.message}")
    j = result.journal
    click.echo(
        "\nTry next:\n"
        f"  recorder verify --journal {j}\n"
        f"  recorder state --journal {j}\n"
        f"  recorder audit --journal {j} --mid {result.sample_mid}\n"
        f"  recorder audit --journal {j} --report --format html --out var/audit.html\n"
        f"  recorder replay --journal {j} --into recorder.examples.market_maker:MarketMaker\n"
        f"  recorder replay --journal {j} --speed 10\n"
        f"  recorder export --journal {j} --format parquet --out var/export"
        "    (needs the analysis extra)\n"
        f"  recorder frames --journal {j} --kind ActionReport --limit 20\n"
    )


def _books(console: Console, state: State) -> None:
    table = Table(title=f"books (top of each contract; run {state.run_id[:8]})")
    for column in ("contract", "clock", "bid size", "bid", "ask", "ask size"):
        table.add_column(column, justify="right")
    for cid, book in sorted(state.books.items()):
        bid = book.bids[0] if book.bids else None
        ask = book.asks[0] if book.asks else None
        table.add_row(
            str(cid),
            str(book.clock),
            str(bid.size) if bid else "",
            str(bid.price_in_cents) if bid else "",
            str(ask.price_in_cents) if ask else "",
            str(ask.size) if ask else "",
        )
    console.print(table)


def _orders(console: Console, state: State) -> None:
    table = Table(title=f"the bot's open orders ({len(state.open_orders)})")
    for column in ("entry id", "contract", "side", "price", "open", "filled", "status"):
        table.add_column(column)
    for o in state.open_orders:
        table.add_row(
            o.entry_id[:12], str(o.contract_id), "ask" if o.is_ask else "bid",
            str(o.price_in_cents), str(o.open_size), str(o.filled_size), o.status.value,
        )  # fmt: skip
    console.print(table)


def _positions(console: Console, state: State) -> None:
    table = Table(title=f"positions ({len(state.fills)} fills)")
    for column in ("contract", "net", "avg price", "realised P&L (cents)", "bought", "sold"):
        table.add_column(column, justify="right")
    for cid, p in sorted(state.positions.items()):
        table.add_row(
            str(cid), f"{p.net_size:+d}", f"{p.avg_price_in_cents:.2f}",
            str(p.realised_pnl_cents), str(p.bought), str(p.sold),
        )  # fmt: skip
    console.print(table)
