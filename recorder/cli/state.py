"""``recorder state`` and ``recorder follow``: the projected state of a journal."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from recorder.cli.app import AppContext, journal_option, journal_overrides, main, pass_app
from recorder.cli.journal_cmds import parse_time
from recorder.core.state import State, View
from recorder.journal import open_journal
from recorder.projection import follow, project

_VIEW = click.option(
    "--view",
    type=click.Choice([v.value for v in View]),
    default=View.EXCHANGE.value,
    show_default=True,
    help="exchange: each stream in seq order once gaps are filled; known: arrival order.",
)
_CONTRACT = click.option("--contract", "contract_id", type=int, default=None, help="One contract.")
_DEPTH = click.option("--depth", type=int, default=5, show_default=True, help="Book levels a side.")


def _journal_path(app: AppContext, journal_path: Path | None) -> Path:
    path = app.config(journal_overrides(journal_path)).journal.path
    if not path.exists():
        raise click.ClickException(f"journal {path} does not exist; check --journal")
    return path


@main.command("state")
@journal_option
@click.option("--as-of", "as_of", default=None, help="ISO time: the frames journaled by then.")
@click.option("--position", type=int, default=None, help="Journal position (inclusive).")
@_VIEW
@_CONTRACT
@_DEPTH
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def state_cmd(
    app: AppContext,
    journal_path: Path | None,
    as_of: str | None,
    position: int | None,
    view: str,
    contract_id: int | None,
    depth: int,
    as_json: bool,
) -> None:
    """Print books (top levels), open orders and positions as of a time or position."""
    if as_of is not None and position is not None:
        raise click.UsageError("give --as-of or --position, not both")
    as_of_ns = parse_time(as_of, "--as-of")
    state = project(_journal_path(app, journal_path), as_of=as_of_ns, position=position, view=view)
    _print(state, as_json, depth, contract_id)


@main.command("follow")
@journal_option
@_VIEW
@_CONTRACT
@_DEPTH
@click.option("--json", "as_json", is_flag=True, help="One JSON object per update (NDJSON).")
@click.option("--poll", type=float, default=0.2, show_default=True, help="Seconds between polls.")
@click.option("--updates", type=int, default=None, help="Stop after this many updates.")
@pass_app
def follow_cmd(
    app: AppContext,
    journal_path: Path | None,
    view: str,
    contract_id: int | None,
    depth: int,
    as_json: bool,
    poll: float,
    updates: int | None,
) -> None:
    """Keep the state updated while another process captures into the journal (Ctrl-C ends)."""
    stop = threading.Event()
    with open_journal(_journal_path(app, journal_path), readonly=True) as journal:
        try:
            for n, state in enumerate(follow(journal, view, stop=stop, poll_s=poll), 1):
                if as_json:
                    click.echo(json.dumps(state.as_dict(depth, contract_id), sort_keys=True))
                else:
                    _print(state, False, depth, contract_id)
                if updates is not None and n >= updates:
                    break
        except KeyboardInterrupt:
            stop.set()


def _print(state: State, as_json: bool, depth: int, contract_id: int | None) -> None:
    data = state.as_dict(depth, contract_id)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    console = Console()
    console.print(
        f"position {state.position} · view {state.view.value} · run {state.run_id or '-'} · "
        f"digest {state.digest()[:16]} · {len(state.gaps)} gaps · "
        f"{len(state.anomalies)} anomalies"
    )
    for cid, book in data["books"].items():
        table = Table(title=f"contract {cid} · clock {book['clock']}"
                      + ("" if book["synced"] else " · OUT OF SYNC"))  # fmt: skip
        for column in ("bid orders", "bid size", "bid", "ask", "ask size", "ask orders"):
            table.add_column(column, justify="right")
        bids: list[Any] = book["bids"]
        asks: list[Any] = book["asks"]
        for i in range(max(len(bids), len(asks))):
            b = bids[i] if i < len(bids) else ["", "", ""]
            a = asks[i] if i < len(asks) else ["", "", ""]
            table.add_row(str(b[2]), str(b[1]), str(b[0]), str(a[0]), str(a[1]), str(a[2]))
        console.print(table)
    orders = Table(title=f"open orders ({len(data['open_orders'])})")
    columns = ("entry_id", "contract_id", "side", "price_in_cents", "open_size", "filled_size",
               "status")  # fmt: skip
    for column in columns:
        orders.add_column(column)
    for o in data["open_orders"]:
        orders.add_row(*(str(o[c]) for c in columns))
    console.print(orders)
    positions = Table(title="positions")
    pcols = ("net_size", "avg_price_in_cents", "realised_pnl_cents", "bought", "sold")
    positions.add_column("contract")
    for column in pcols:
        positions.add_column(column, justify="right")
    for cid, p in data["positions"].items():
        positions.add_row(cid, *(str(p[c]) for c in pcols))
    console.print(positions)
