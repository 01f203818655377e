"""The CLI through click's CliRunner: config, db, verify, frames."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest
from click.testing import CliRunner

from recorder.cli import main
from recorder.journal import open_journal
from recorder.journal.migrate import upgrade
from recorder.journal.schema import SCHEMA_REVISION
from recorder.venues.lx.samples import sample_records


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("RECORDER_"):
            monkeypatch.delenv(name)
    return CliRunner()


@pytest.fixture
def recorded(sample_journal: Callable[[int, str], Path]) -> Path:
    return sample_journal(400, "rec.journal")


def test_config_show_json_with_precedence(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[journal]\npath = "from-file.journal"\n[sim]\nseed = 3\n'
    )
    result = runner.invoke(main, ["config", "show", "--json"], env={"RECORDER_SIM__SEED": "11"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["journal"]["path"] == "from-file.journal"
    assert data["sim"]["seed"] == 11  # environment beats the file
    assert data["journal"]["durability"] == "safe"  # built-in default


def test_config_errors_name_key_file_and_type(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[journal]\nfast_batch = "many"\n')
    result = runner.invoke(main, ["--config", "bad.toml", "config", "show"])
    assert result.exit_code == 1
    assert "journal.fast_batch in bad.toml must be an integer" in result.output
    (tmp_path / "unknown.toml").write_text("[journal]\ncolour = 1\n")
    result = runner.invoke(main, ["--config", "unknown.toml", "config", "show"])
    assert "unknown key journal.colour in unknown.toml" in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_and_current(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "db.journal"
    upgrade(path, "0001")
    result = runner.invoke(main, ["db", "current", "--journal", str(path)])
    assert "revision 0001" in result.output and "needs: recorder db upgrade" in result.output
    result = runner.invoke(main, ["db", "upgrade", "--journal", str(path)])
    assert result.exit_code == 0 and f"0001 -> {SCHEMA_REVISION}" in result.output
    result = runner.invoke(main, ["db", "current", "--journal", str(path)])
    assert "up to date" in result.output


def test_journal_path_from_environment(runner: CliRunner, recorded: Path) -> None:
    result = runner.invoke(main, ["verify"], env={"RECORDER_JOURNAL__PATH": str(recorded)})
    assert result.exit_code == 0, result.output
    assert "400 frames" in result.output and "OK" in result.output


def test_verify_names_the_first_bad_position(runner: CliRunner, recorded: Path) -> None:
    conn = apsw.Connection(str(recorded))
    conn.execute("DROP TRIGGER frames_append_only_update")
    conn.execute("UPDATE frames SET wall_ns = wall_ns + 1 WHERE position = 222")
    conn.close()
    result = runner.invoke(main, ["verify", "--journal", str(recorded), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["first_bad_position"] == 222


def test_verify_names_an_edited_session_by_table_row_and_column(
    runner: CliRunner, recorded: Path
) -> None:
    conn = apsw.Connection(str(recorded))  # sessions have no triggers: the ledger tells
    conn.execute("UPDATE sessions SET end_reason = 'stopped' WHERE id = 1")
    conn.close()
    result = runner.invoke(main, ["verify", "--journal", str(recorded)])
    assert result.exit_code == 1
    assert (
        "sessions row 1, column end_reason: the ledger says None (event 1, session_started, at "
        "position 0), the table holds 'stopped'" in result.output
    )
    report = json.loads(
        runner.invoke(main, ["verify", "--journal", str(recorded), "--json"]).output
    )
    assert [(b["kind"], b["table"], b["row_id"], b["column"]) for b in report["breaks"]] == [
        ("mismatch", "sessions", 1, "end_reason")
    ]
    assert report["ledger_events"] == 1


def test_verify_prints_an_anchor_and_checks_one(runner: CliRunner, recorded: Path) -> None:
    result = runner.invoke(main, ["verify", "--journal", str(recorded)])
    anchor = result.output.splitlines()[-1].removeprefix("anchor: ")
    assert result.exit_code == 0 and anchor.startswith("400:") and len(anchor) == 4 + 64
    ledger_anchor = result.output.splitlines()[-2].removeprefix("ledger anchor: ")
    assert ledger_anchor.startswith("1:") and len(ledger_anchor) == 2 + 64
    checked = ["verify", "--journal", str(recorded), "--ledger-anchor", ledger_anchor]
    assert runner.invoke(main, checked).exit_code == 0
    refused = runner.invoke(main, [*checked[:-1], "1:abcd"])
    assert refused.exit_code == 2 and "is not EVENT:HASH" in refused.output
    assert (
        runner.invoke(main, ["verify", "--journal", str(recorded), "--anchor", anchor]).exit_code
        == 0
    )
    conn = apsw.Connection(str(recorded))  # cut the tail: the chain alone cannot tell
    conn.execute("DROP TRIGGER frames_append_only_delete")
    conn.execute("DELETE FROM frames WHERE position > 390")
    conn.close()
    assert runner.invoke(main, ["verify", "--journal", str(recorded)]).exit_code == 0
    cut = runner.invoke(main, ["verify", "--journal", str(recorded), "--anchor", anchor])
    assert cut.exit_code == 1
    assert "BREAK at position 391: the journal ends at position 390" in cut.output
    for bad in ("400", "x:ab", "0:" + "00" * 32, "400:abcd"):
        refused = runner.invoke(main, ["verify", "--journal", str(recorded), "--anchor", bad])
        assert refused.exit_code == 2 and "is not POSITION:HASH" in refused.output, bad


def test_frames_filters_and_formats(runner: CliRunner, recorded: Path) -> None:
    result = runner.invoke(
        main, ["frames", "--journal", str(recorded), "--kind", "LimitOrder", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows and all(r["kind"] == "LimitOrder" for r in rows)
    mid = rows[0]["mid"]
    result = runner.invoke(main, ["frames", "--journal", str(recorded), "--mid", mid, "--nl"])
    kinds = [json.loads(line)["kind"] for line in result.output.splitlines()]
    assert kinds == ["LimitOrder", "Status"]
    result = runner.invoke(main, ["frames", "--journal", str(recorded), "--limit", "5", "--csv"])
    table = list(csv.DictReader(io.StringIO(result.output)))
    assert [int(r["position"]) for r in table] == [1, 2, 3, 4, 5]
    result = runner.invoke(main, ["frames", "--journal", str(recorded), "--limit", "3"])
    assert result.exit_code == 0 and "pos" in result.output and "kind" in result.output


def test_frames_time_window_and_bad_time(runner: CliRunner, recorded: Path) -> None:
    result = runner.invoke(
        main,
        ["frames", "--journal", str(recorded), "--since", "2023-11-14T22:13:20.000200",
         "--until", "2023-11-14T22:13:20.000500", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["position"] for r in json.loads(result.output)] == [3, 4, 5]
    result = runner.invoke(main, ["frames", "--journal", str(recorded), "--since", "yesterday"])
    assert result.exit_code == 2 and "not an ISO time" in result.output


def test_user_mistakes_get_messages_not_tracebacks(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "text.journal").write_text("hello")
    result = runner.invoke(main, ["verify", "--journal", "text.journal"])
    assert result.exit_code == 1
    assert "not a recorder journal" in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["frames", "--journal", "missing.journal"])
    assert result.exit_code == 1 and "does not exist" in result.output


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("frames", "--since", "2300-01-01"),
        ("frames", "--until", "0001-01-01"),
        ("audit --report", "--since", "2300-01-01"),
        ("audit --report", "--until", "1600-01-01"),
        ("state", "--as-of", "2262-04-12"),
        ("replay", "--since", "1677-09-20T23:59:59+00:00"),
        ("replay", "--until", "9999-12-31"),
    ],
)
def test_times_a_journal_cannot_hold_are_refused(
    runner: CliRunner, recorded: Path, command: str, option: str, value: str
) -> None:
    """wall_ns is a signed 64-bit integer: a time past 2262 used to overflow inside apsw."""
    args = [*command.split(), "--journal", str(recorded), option, value]
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert option in result.output and "1677-09-21 to 2262-04-11 UTC" in result.output


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal that opens cleanly but has one page of its frames table overwritten."""
    path = tmp_path_factory.mktemp("damaged") / "big.journal"
    with open_journal(path) as j:
        sid = j.start_session(venue="lx1", capture_point="test", participant="p")
        j.append(sample_records(20_000, session_id=sid))
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2 // 4096 * 4096)
        f.write(b"\xff" * 4096)
    return path


@pytest.mark.parametrize("command", ["verify", "state", "frames", "audit --report", "replay"])
def test_a_damaged_journal_is_named_not_a_traceback(
    runner: CliRunner, damaged: Path, command: str
) -> None:
    """The page is found bad only when a query reads it, long after the journal opened."""
    result = runner.invoke(main, [*command.split(), "--journal", str(damaged)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # not apsw.CorruptError
    assert str(damaged) in result.output
    if command != "verify":  # verify may report the damage itself, in its own words
        assert f"journal {damaged} is damaged" in result.output
        assert f"recorder verify --journal {damaged}` says where" in result.output
        assert "restore it from a copy" in result.output


def test_db_commands_on_a_journal_from_a_newer_recorder(runner: CliRunner, recorded: Path) -> None:
    """Advising ``db upgrade`` was wrong: no migration here knows the newer revision."""
    conn = apsw.Connection(str(recorded))
    conn.execute("UPDATE alembic_version SET version_num = '0099'")
    conn.close()
    result = runner.invoke(main, ["db", "current", "--journal", str(recorded)])
    assert "revision 0099" in result.output and "needs: recorder db upgrade" not in result.output
    assert "written by a newer recorder — upgrade recorder" in result.output
    result = runner.invoke(main, ["db", "upgrade", "--journal", str(recorded)])
    assert result.exit_code == 1
    assert "written by a newer recorder — upgrade recorder" in result.output
    assert "Can't locate revision" not in result.output


def test_a_config_file_that_is_not_utf8_is_named(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes(b'[journal]\npath = "caf\xe9.journal"\n')  # latin-1
    result = runner.invoke(main, ["verify"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "config file config.toml is not UTF-8" in result.output
