"""The notebooks run end to end (nbclient, a real kernel) against a journal recorded from the
simulator through the SDK over real sockets; their cells assert what they show. Each ``.ipynb``
is paired with its jupytext ``.py`` and must hold the same cells."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "replay"))

from recording import Recorded, recorded

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("post_trade_analysis", "audit_trail", "crash_recovery")


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded(tmp_path_factory)


@pytest.mark.parametrize("name", NAMES)
def test_pair_is_in_sync(name: str) -> None:
    paired = jupytext.read(NOTEBOOKS / f"{name}.py")
    stored = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert [(c.cell_type, c.source) for c in paired.cells] == [
        (c.cell_type, c.source) for c in stored.cells
    ], f"run: jupytext --sync notebooks/{name}.py"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(
    name: str, recording: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECORDER_NOTEBOOK_JOURNAL", str(recording.path))
    monkeypatch.setenv("RECORDER_NOTEBOOK_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # a failing assert in a cell raises CellExecutionError
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert os.environ["RECORDER_NOTEBOOK_JOURNAL"] == str(recording.path)
