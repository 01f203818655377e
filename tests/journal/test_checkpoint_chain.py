"""Journal robustness after the verify hardening (3685e0d): checkpoints carry the chain hash of
the frame at their position (revision 0006), so ``recorder state`` refuses one moved, copied from
another journal or outliving its frames; a checkpoint, a ledger event, a dropped table or a
spooled frame of an unknown session is a clear error naming it (or a spool kept aside), never a
``TypeError``, ``RecursionError``, SQLite's message or a journal that will not open.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from recorder.cli import main
from recorder.core.projector import Projector
from recorder.core.state import View
from recorder.errors import JournalError
from recorder.journal import migrate, open_journal, schema
from recorder.journal.chain import GENESIS
from recorder.journal.layout import TABLES
from recorder.journal.spool import HEADER, spool_path, wire_records
from recorder.journal.verify import VerifyReport, verify
from recorder.journal.wire import WireFrame
from recorder.projection import (
    CheckpointSkipped,
    checkpoint,
    checkpoint_name,
    project,
    projector_at,
    restore,
    save_checkpoint,
)
from recorder.venues.lx.samples import sample_records

EXCHANGE = checkpoint_name(View.EXCHANGE)
NESTED = "[" * 100_000 + "]" * 100_000
"""JSON deeper than Python's recursion limit."""


def _journal(path: Path, seed: int = 1) -> Path:
    with open_journal(path) as journal:
        sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
        journal.append(sample_records(600, session_id=sid, seed=seed))
    return path


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return _journal(tmp_path / "c.journal")


def _truth(path: Path) -> str:
    with open_journal(path, readonly=True) as journal:
        projector = Projector(View.EXCHANGE)
        projector.apply_rows(journal.rows())
    return projector.state().digest()


def _verify(path: Path) -> VerifyReport:
    with open_journal(path, readonly=True) as journal:
        return verify(journal)


def _sql(path: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    """Edit the journal as the sqlite3 shell can."""
    other = apsw.Connection(str(path))
    other.execute(sql, params)
    other.close()


def _relabelled(state: bytes, position: int) -> bytes:
    """A projector state claiming to cover ``position`` (what a forger edits)."""
    line, newline, cold = state.partition(b"\n")
    snapshot = json.loads(line)
    snapshot["position"] = position
    return json.dumps(snapshot, separators=(",", ":"), sort_keys=True).encode() + newline + cold


def _state_cli(path: Path) -> str:
    result = CliRunner().invoke(main, ["state", "--journal", str(path), "--json"])
    assert result.exit_code == 0 and result.exception is None, result.output
    digest: str = json.loads(result.output[result.output.index("{") :])["digest"]
    return digest


# ---------------------------------------------------------------------- the chain hash


def test_state_does_not_start_from_a_checkpoint_moved_past_frames(path: Path) -> None:
    """The forger edits the recorder's checkpoint at 300 to claim the head (state relabelled,
    digest recomputed): the old `recorder state` skipped frames 301..600 and printed a state
    the journal never had; the checkpoint's chain hash is frame 300's, not frame 600's."""
    truth = _truth(path)
    with open_journal(path) as journal:
        for at in (250, 300):
            save_checkpoint(journal, projector_at(journal, View.EXCHANGE, at), keep_older=True)
        (cp,) = [c for c in journal.checkpoints(EXCHANGE) if c.position == 300]
    forged = _relabelled(cp.state, 600)
    _sql(
        path,
        "UPDATE checkpoints SET position = 600, state = ?, digest = ? WHERE position = 300",
        (forged, hashlib.sha256(forged).digest()),
    )
    with pytest.warns(CheckpointSkipped, match="at position 600 skipped: its chain hash"):
        assert _state_cli(path) == truth
    with open_journal(path, readonly=True) as journal, pytest.warns(CheckpointSkipped):
        assert restore(journal, View.EXCHANGE, 600).position == 250  # the older one
    report = _verify(path)
    assert [(b.kind, b.position) for b in report.breaks] == [("checkpoint", 600)]
    assert "was not projected from this journal's frames there" in report.breaks[0].message


def test_a_checkpoint_copied_from_another_journal_is_not_used(path: Path, tmp_path: Path) -> None:
    other = _journal(tmp_path / "other.journal", seed=2)
    assert checkpoint(other) == 600
    assert _truth(other) != _truth(path)
    with open_journal(other, readonly=True) as journal:
        (cp,) = journal.checkpoints(EXCHANGE)
    _sql(
        path,
        "INSERT INTO checkpoints (name, position, state, digest, created_wall_ns,"
        " recorder_version, chain_hash) VALUES (?, ?, ?, ?, 0, '', ?)",
        (cp.name, cp.position, cp.state, cp.digest, cp.chain_hash),
    )
    with pytest.warns(CheckpointSkipped, match="its chain hash"):
        assert project(path).digest() == _truth(path)
    assert [b.kind for b in _verify(path).breaks] == ["checkpoint"]


def test_a_checkpoint_carries_the_chain_hash_of_the_frame_at_its_position(tmp_path: Path) -> None:
    """One written in safe mode right after an append, the frames committed by the committer
    process: the checkpoint's transaction sees every frame appended before it."""
    path = tmp_path / "w.journal"
    with open_journal(path, committer="process") as journal:
        assert checkpoint(journal) == 0
        sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
        journal.append(sample_records(50, session_id=sid))
        save_checkpoint(journal, projector_at(journal, View.KNOWN))
        journal.append(sample_records(60, session_id=sid)[50:])
        journal.write_checkpoint("x", 60, b"s", b"d")
        found = {c.position: c.chain_hash for c in journal.checkpoints()}
        hashes = {f.position: f.hash for f in journal.frames()}
        journal.delete_checkpoints("x")
    assert found == {0: GENESIS, 50: hashes[50], 60: hashes[60]}
    with _no_skips():
        assert project(path, view=View.KNOWN).position == 60
        assert project(path).digest() == _truth(path)
    assert _verify(path).ok


@contextlib.contextmanager
def _no_skips() -> Iterator[None]:
    """Inside, a :class:`CheckpointSkipped` is an error: the checkpoints are used."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointSkipped)
        yield


def test_a_checkpoint_from_before_revision_0006_is_used_as_before(path: Path) -> None:
    """The upgrade leaves the chain hash of the checkpoints it finds empty: they are used with
    the checks of before (verify re-projects them); the next one written has it."""
    with open_journal(path, readonly=True) as journal:
        state, digest = projector_at(journal, View.EXCHANGE, 300).to_checkpoint()
    _alembic(path, "downgrade", "0005")
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(checkpoints)")]
    conn.execute(
        "INSERT INTO checkpoints (name, position, state, digest, created_wall_ns,"
        " recorder_version) VALUES (?, 300, ?, ?, 1, '0.0.9')",
        (EXCHANGE, state, digest),
    )
    conn.commit()
    conn.close()
    assert "chain_hash" not in columns
    assert migrate.upgrade(path).before == "0005"
    with open_journal(path, readonly=True) as journal:
        (cp,) = journal.checkpoints()
        assert cp.chain_hash is None
        with _no_skips():
            assert restore(journal, View.EXCHANGE, 600).position == 300  # used
        assert verify(journal).ok
    checkpoint(path)
    with open_journal(path, readonly=True) as journal:
        (cp,) = journal.checkpoints()
        assert (cp.position, cp.chain_hash) == (600, journal.reader.head()[1])


def _alembic(path: Path, verb: str, revision: str) -> None:
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        with engine.begin() as connection:
            getattr(command, verb)(migrate.alembic_config(connection), revision)
    finally:
        engine.dispose()


def test_the_schema_declares_what_the_migrations_create(tmp_path: Path) -> None:
    path = tmp_path / "s.journal"
    migrate.upgrade(path)
    conn = sqlite3.connect(path)
    for table in schema.metadata.sorted_tables:
        found = [r[1] for r in conn.execute(f"PRAGMA table_info({table.name})")]
        assert found == [c.name for c in table.columns], table.name
    conn.close()
    assert set(TABLES) == set(schema.metadata.tables)


# ---------------------------------------------------------------------- clear errors


def test_a_checkpoint_stored_as_text_is_an_error_naming_it(path: Path) -> None:
    """The old checkpoints() called bytes() on the text: a TypeError for every caller."""
    _sql(
        path,
        "INSERT INTO checkpoints (name, position, state, digest, created_wall_ns,"
        " recorder_version) VALUES (?, 600, 'text', 'text', 0, '')",
        (EXCHANGE,),
    )
    with open_journal(path, readonly=True) as journal, pytest.raises(JournalError) as info:
        journal.checkpoints()
    assert str(info.value).startswith(
        f"journal {path}: checkpoint 1 ('projector/exchange' at position 600) stores its state "
        "as text, digest as text, which no recorder writes"
    )
    with pytest.warns(CheckpointSkipped, match="its checkpoints cannot be read"):
        assert _state_cli(path) == _truth(path)


@pytest.mark.parametrize("table", ["sessions", "gaps", "checkpoints", "ledger"])
def test_a_journal_without_one_of_its_tables_is_refused_to_writers(path: Path, table: str) -> None:
    """The old open looked for alembic_version and frames only: a writer opened it and failed
    later with SQLite's 'no such table'. A reader still opens it, for verify to report."""
    _sql(path, "PRAGMA foreign_keys = OFF")
    _sql(path, f"DROP TABLE {table}")
    with pytest.raises(JournalError) as info:
        open_journal(path)
    message = str(info.value)
    assert message.startswith(f"journal {path} has no {table} table (schema revision 0006")
    assert "restore the journal from a copy" in message
    with open_journal(path, readonly=True) as journal:
        report = verify(journal)
        read = {"sessions": journal.sessions, "gaps": journal.gaps, "ledger": journal.ledger,
                "checkpoints": journal.checkpoints}[table]  # fmt: skip
        with pytest.raises(JournalError, match=f"journal .*: its {table} table cannot be read"):
            read()
    assert not report.ok
    assert {b.kind for b in report.breaks} == {"ledger" if table == "ledger" else "table"}


def test_every_missing_table_is_named(path: Path) -> None:
    _sql(path, "DROP TABLE gaps")
    _sql(path, "DROP TABLE checkpoints")
    with pytest.raises(JournalError, match="has no gaps, checkpoints tables"):
        open_journal(path)


def test_a_ledger_event_nested_too_deep_is_an_error_naming_it(path: Path) -> None:
    """The old ledger() raised RecursionError; verify's ledger break stays."""
    _sql(path, "DROP TRIGGER ledger_append_only_update")
    _sql(path, f"UPDATE ledger SET body = '{NESTED}' WHERE id = 1")
    with open_journal(path, readonly=True) as journal:
        with pytest.raises(JournalError, match=f"journal {path}: ledger event 1 cannot be read"):
            journal.ledger()
        report = verify(journal)
    assert any("ledger event 1 cannot be read" in b.message for b in report.breaks)


# ---------------------------------------------------------------------- the spool


def _wire(session_id: int, index: int) -> WireFrame:
    record = sample_records(index + 1, session_id=session_id)[index]
    return (
        session_id, record.channel, record.direction, record.wall_ns, record.mono_ns,
        record.flags, record.payload, None,
    )  # fmt: skip


@pytest.mark.parametrize("readonly", [False, True])
def test_a_spooled_frame_of_an_unknown_session_keeps_the_spool_aside(
    path: Path, readonly: bool
) -> None:
    """The old open raised 'the journal has no such session' from the merge, for readers and
    writers alike, until the spool was moved aside by hand. Now the frames before it are
    merged and the spool is kept as damaged, as for any record no writer stores."""
    with open_journal(path, readonly=True) as journal:
        head = journal.reader.head()
    spool = spool_path(path)
    records = wire_records(601, [_wire(1, 600), _wire(99, 601)])
    spool.write_bytes(HEADER.pack(b"RSP2", *head) + records + bytes(8))
    data = spool.read_bytes()
    with open_journal(path, readonly=readonly) as journal:
        assert journal.head_position() == 601
    (kept,) = path.parent.glob(path.name + "-spool.damaged-*")
    assert kept.read_bytes() == data and not spool.exists()
    report = _verify(path)
    assert report.ok, report.breaks
    assert report.notes == (
        f"{kept} is a spool of this journal with a damaged record, set aside by a merge: frames "
        "a writer acknowledged after it are not in the journal; inspect it, and keep it with "
        "the journal",
    )
