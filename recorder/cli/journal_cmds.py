"""``recorder db upgrade|current``, ``recorder verify`` and ``recorder frames``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from recorder.cli.app import AppContext, journal_option, journal_overrides, main, pass_app
from recorder.cli.output import emit, output_options
from recorder.core.frames import Channel
from recorder.journal import FrameFilter, open_journal
from recorder.journal.frames_view import (
    FRAME_TABLE_COLUMNS,
    FRAME_VIEW_COLUMNS,
    frame_row,
    frame_view,
)
from recorder.journal.migrate import KNOWN_REVISIONS, NEWER_ADVICE, current_revision, upgrade
from recorder.journal.schema import SCHEMA_REVISION
from recorder.journal.verify import verify


def _journal_path(app: AppContext, journal_path: Path | None) -> Path:
    return app.config(journal_overrides(journal_path)).journal.path


@main.group("db")
def db_group() -> None:
    """Journal schema migrations."""


@db_group.command("upgrade")
@journal_option
@pass_app
def db_upgrade(app: AppContext, journal_path: Path | None) -> None:
    """Bring a journal to this recorder's schema (back it up first)."""
    result = upgrade(_journal_path(app, journal_path))
    if result.before == result.after:
        click.echo(f"{result.path}: already at revision {result.after}")
    else:
        click.echo(f"{result.path}: upgraded {result.before or 'empty'} -> {result.after}")


@db_group.command("current")
@journal_option
@pass_app
def db_current(app: AppContext, journal_path: Path | None) -> None:
    """Print a journal's schema revision and this recorder's."""
    path = _journal_path(app, journal_path)
    if not path.exists():
        raise click.ClickException(f"journal {path} does not exist; check --journal")
    found = current_revision(path)
    if found == SCHEMA_REVISION:
        state = "up to date"
    elif found is None or found in KNOWN_REVISIONS:
        state = "needs: recorder db upgrade"
    else:
        state = NEWER_ADVICE
    click.echo(f"{path}: revision {found or 'none'} (this recorder: {SCHEMA_REVISION}, {state})")


def parse_anchor(
    value: str | None, what: str = "POSITION", option: str = "--anchor"
) -> tuple[int, bytes] | None:
    """``POSITION:HASH`` (the hash in hex, as ``recorder verify`` prints the head), or with
    ``what="EVENT"`` the ledger's ``EVENT:HASH``."""
    if value is None:
        return None
    position, _, digest = value.partition(":")
    try:
        anchor = int(position), bytes.fromhex(digest)
    except ValueError:
        anchor = (0, b"")
    if anchor[0] < 1 or len(anchor[1]) != 32:
        raise click.BadParameter(
            f"{value!r} is not {what}:HASH (a {what.lower()} from 1 and a 64-digit hex hash, as "
            "'recorder verify' prints the head)",
            param_hint=f"'{option}'",
        )
    return anchor


@main.command("verify")
@journal_option
@click.option(
    "--anchor",
    metavar="POSITION:HASH",
    help="A head recorded earlier (from this command's output, kept outside the journal): the "
    "journal must still hold that hash at that position — the proof that it was not cut short "
    "or rewritten since.",
)
@click.option(
    "--ledger-anchor",
    metavar="EVENT:HASH",
    help="The ledger's head recorded earlier (this command prints it beside the anchor): the "
    "same proof for the sessions and gaps.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
def verify_cmd(
    app: AppContext,
    journal_path: Path | None,
    anchor: str | None,
    ledger_anchor: str | None,
    as_json: bool,
) -> None:
    """Check the file with SQLite, recompute the hash chain, check every stream's sequence,
    every session and gap against its ledger and every checkpoint against the frames, all at
    one moment (a journal being written is checked up to its head then); exit 1 on any
    break."""
    expected = parse_anchor(anchor)
    expected_ledger = parse_anchor(ledger_anchor, "EVENT", "--ledger-anchor")
    with open_journal(_journal_path(app, journal_path), readonly=True) as journal:
        report = verify(journal, anchor=expected, ledger_anchor=expected_ledger)
    if as_json:
        payload = {
            "ok": report.ok,
            "frames": report.frames,
            "head_position": report.head_position,
            "head_hash": report.head_hash,
            "streams": report.streams,
            "malformed": report.malformed,
            "duplicates": report.duplicates,
            "replayed": report.replayed,
            "open_gaps": report.open_gaps,
            "clock_steps_back": report.clock_steps_back,
            "ledger_events": report.ledger_events,
            "ledger_head_hash": report.ledger_head_hash,
            "first_bad_position": report.first_bad_position,
            "notes": list(report.notes),
            "breaks": [
                {
                    "position": b.position,
                    "kind": b.kind,
                    "message": b.message,
                    "table": b.table,
                    "row_id": b.row_id,
                    "column": b.column,
                }
                for b in report.breaks
            ],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(
            f"{report.frames} frames, {report.streams} streams, head {report.head_position} "
            f"({report.head_hash[:16]}), {report.replayed} replayed, "
            f"{report.duplicates} duplicates, {report.malformed} malformed"
        )
        if report.clock_steps_back:
            click.echo(
                f"note: the wall clock stepped back {report.clock_steps_back} times; "
                "time look-ups near those steps are approximate",
                err=True,
            )
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
        for b in report.breaks:
            click.echo(f"BREAK at position {b.position}: {b.message}", err=True)
        if report.ok:
            click.echo(
                f"OK up to position {report.head_position}: SQLite finds the file sound, hash "
                "chain intact, every stream continuous, no open gap, sessions and gaps as their "
                f"ledger records them ({report.ledger_events} events), checkpoints as the frames "
                "project them"
            )
            if report.ledger_events:  # what to keep elsewhere, for the next check
                click.echo(f"ledger anchor: {report.ledger_events}:{report.ledger_head_hash}")
            if report.head_position:
                click.echo(f"anchor: {report.head_position}:{report.head_hash}")
    if not report.ok:
        raise SystemExit(1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_MIN, _NS_MAX = -(2**63), 2**63 - 1
"""The times a journal can hold: ``wall_ns`` is a signed 64-bit SQLite integer, so SQLite
cannot even be asked about a time outside 1677-09-21..2262-04-11."""


def parse_time(value: str | None, option: str) -> int | None:
    """An ISO time option as ns since the epoch (UTC when no zone is given).

    Every time option of every command goes through here, so a typo'd year (2300, 0001) gets
    the same refusal everywhere instead of an overflow deep in the journal query.
    """
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO time (e.g. 2026-11-21T12:00:00Z)", param_hint=option
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ns = (moment - _EPOCH) // timedelta(microseconds=1) * 1000  # exact, no float
    if not _NS_MIN <= ns <= _NS_MAX:
        raise click.BadParameter(
            f"{value!r} is outside the times a journal can hold "
            "(1677-09-21 to 2262-04-11 UTC); give a time in that range",
            param_hint=option,
        )
    return ns


@main.command("frames")
@journal_option
@click.option("--mid", help="Only frames with this message id (a request's lifecycle).")
@click.option("--kind", help="Only frames of this body kind (LimitOrder, ActionReport, ...).")
@click.option("--session", "session_id", type=int, help="Only frames of this session id.")
@click.option("--channel", type=click.Choice([c.value for c in Channel]), help="Only this channel.")
@click.option("--since", help="Only frames journaled at or after this ISO time.")
@click.option("--until", help="Only frames journaled before this ISO time.")
@click.option("--limit", type=int, help="At most this many frames.")
@output_options
@pass_app
def frames_cmd(
    app: AppContext,
    journal_path: Path | None,
    mid: str | None,
    kind: str | None,
    session_id: int | None,
    channel: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    fmt: str,
) -> None:
    """List journaled frames, decoded, in journal order."""
    flt = FrameFilter(
        mid=mid,
        kind=kind,
        session_id=session_id,
        channel=Channel(channel) if channel else None,
        since_ns=parse_time(since, "--since"),
        until_ns=parse_time(until, "--until"),
    )
    with open_journal(_journal_path(app, journal_path), readonly=True) as journal:
        frames = journal.select(flt, limit=limit)
        if fmt == "table":
            emit((frame_row(f) for f in frames), FRAME_TABLE_COLUMNS, fmt, title=str(journal.path))
        else:
            emit((frame_view(f) for f in frames), FRAME_VIEW_COLUMNS, fmt)
