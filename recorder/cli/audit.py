"""``recorder audit``: one order's story, or an audit report for a window."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, cast

import click
from rich.console import Console
from rich.table import Table

from recorder.audit import audit_report, find_mid_by_client_ref, order_story
from recorder.cli.app import AppContext, journal_option, journal_overrides, main, pass_app
from recorder.cli.journal_cmds import parse_time
from recorder.journal import open_journal


@main.command("audit")
@journal_option
@click.option("--mid", help="Tell the story of the request with this message id.")
@click.option("--client-ref", help="Tell the story of the order sent with this client_ref.")
@click.option("--report", is_flag=True, help="Write an audit report for a time window.")
@click.option("--since", help="Report window start (ISO time; default: the first frame).")
@click.option("--until", help="Report window end (ISO time; default: the last frame).")
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "html"]), default="markdown",
    show_default=True, help="Report format.",
)  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Report file.")
@click.option("--json", "as_json", is_flag=True, help="Print the story as JSON.")
@pass_app
def audit(
    app: AppContext,
    journal_path: Path | None,
    mid: str | None,
    client_ref: str | None,
    report: bool,
    since: str | None,
    until: str | None,
    fmt: str,
    out: Path | None,
    as_json: bool,
) -> None:
    """Print one order's complete story (--mid/--client-ref) or write a report (--report)."""
    if report == bool(mid or client_ref):
        raise click.UsageError("give either --mid/--client-ref, or --report")
    path = app.config(journal_overrides(journal_path)).journal.path
    with open_journal(path, readonly=True) as journal:
        if report:
            text = audit_report(
                journal,
                parse_time(since, "--since"),
                parse_time(until, "--until"),
                fmt=cast(Literal["markdown", "html"], fmt),
            )
            if out is None:
                click.echo(text, nl=False)
            else:
                out.write_text(text)
                click.echo(f"audit report written to {out}")
            return
        if client_ref:
            mids = find_mid_by_client_ref(journal, client_ref)
            if not mids:
                raise click.ClickException(f"no order with client_ref {client_ref!r} in {path}")
            mid = mids[0]
        assert mid is not None
        story = order_story(journal, mid)
    if not story.frames:
        raise click.ClickException(f"no frame carries or names mid {mid} in {path}")
    if as_json:
        click.echo(json.dumps([{"relation": s.relation, **s.view} for s in story.frames], indent=2))
        return
    table = Table(title=f"mid {mid}")
    for column in ("pos", "wall clock (UTC)", "mono ns", "ch", "dir", "kind", "seq", "relation",
                   "body"):  # fmt: skip
        table.add_column(column)
    for s in story.frames:
        body = " ".join(
            f"{k}={v}" for k, v in s.view["body"].items() if not isinstance(v, list | dict)
        )
        kind = s.frame.kind + (" (replay)" if s.frame.is_replay else "")
        table.add_row(
            str(s.frame.position), s.view["time"], str(s.frame.mono_ns), s.frame.channel.value,
            s.frame.direction.value, kind, str(s.frame.seq), s.relation, body,
        )  # fmt: skip
    console = Console()
    console.print(table)
    life = story.lifecycle
    if life is not None:
        latency = "" if life.ack_latency_ns is None else f", ACK after {life.ack_latency_ns:,} ns"
        console.print(
            f"{life.kind} {life.outcome or 'still working'}: first reply {life.ack_code or 'none'}"
            f"{latency}, filled {life.filled_size}, resent {life.resends} times"
        )
