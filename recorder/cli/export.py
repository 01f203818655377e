"""``recorder export``: the analysis tables as Parquet or CSV files plus a manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, cast

import click
from rich.console import Console
from rich.table import Table

from recorder.cli.app import AppContext, journal_option, journal_overrides, main, pass_app


@main.command("export")
@journal_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv"]),
    default="parquet",
    show_default=True,
    help="File format of the tables.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the tables and manifest.json into (created if missing).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@pass_app
def export_cmd(
    app: AppContext, journal_path: Path | None, fmt: str, out_dir: Path, as_json: bool
) -> None:
    """Write frames, orders, fills, positions, arrivals, slippage and gaps (needs pandas)."""
    from recorder.analysis import export  # pandas is imported only here (the analysis extra)

    path = app.config(journal_overrides(journal_path)).journal.path
    if not path.exists():
        raise click.ClickException(f"journal {path} does not exist; check --journal")
    manifest = export(path, out_dir, cast(Literal["parquet", "csv"], fmt))
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
        return
    table = Table(title=f"{out_dir} (head position {manifest['head_position']})")
    for column in ("table", "file", "rows", "sha256"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for name, entry in manifest["tables"].items():
        table.add_row(name, entry["file"], f"{entry['rows']:,}", entry["sha256"][:16])
    Console().print(table)
    click.echo(
        f"manifest: {out_dir / 'manifest.json'} (journal head hash {manifest['head_hash'][:16]}, "
        f"verify {'OK' if manifest['verify_ok'] else 'BROKEN'})"
    )
