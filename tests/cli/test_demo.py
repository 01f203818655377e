"""``recorder demo`` runs end to end (short) and leaves a journal that verifies."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from recorder.cli import main
from recorder.journal import open_journal
from recorder.journal.verify import verify


def test_demo_writes_a_verifiable_journal(tmp_path: Path) -> None:
    journal = tmp_path / "demo.journal"
    result = CliRunner().invoke(main, ["demo", "--journal", str(journal), "--steps", "1500"])
    assert result.exit_code == 0, result.output
    assert "verify: OK" in result.output
    assert f"recorder verify --journal {journal}" in result.output
    with open_journal(journal, readonly=True) as j:
        report = verify(j)
        kinds = {f.kind for f in j.frames()}
    assert report.ok and report.frames > 1000
    assert {"LimitOrder", "Status", "ActionReport", "BookTop"} <= kinds
