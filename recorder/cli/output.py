"""Shared output options for listing commands: a table by default, or ``--json``, ``--nl``,
``--csv`` (as sqlite-utils does)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "json", "nl", "csv")


def output_options(func: Any) -> Any:
    """Add the mutually exclusive ``--json``, ``--nl`` and ``--csv`` flags (``fmt`` argument)."""
    func = click.option("--csv", "fmt", flag_value="csv", help="Comma-separated values.")(func)
    func = click.option("--nl", "fmt", flag_value="nl", help="One JSON object per line.")(func)
    func = click.option("--json", "fmt", flag_value="json", help="A JSON array.")(func)
    func = click.option("--table", "fmt", flag_value="table", default=True, hidden=True)(func)
    return func


def emit(rows: Iterable[dict[str, Any]], columns: Sequence[str], fmt: str, title: str = "") -> int:
    """Write ``rows`` in ``fmt``; return how many were written."""
    count = 0
    out = sys.stdout
    if fmt == "json":
        out.write("[")
        for row in rows:
            out.write(("," if count else "") + "\n  " + json.dumps(row))
            count += 1
        out.write("\n]\n" if count else "]\n")
    elif fmt == "nl":
        for row in rows:
            out.write(json.dumps(row) + "\n")
            count += 1
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    else:
        table = Table(title=title or None)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(_cell(row.get(c)) for c in columns))
            count += 1
        Console().print(table)
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    return str(value)
