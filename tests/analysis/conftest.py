"""Fixtures: the journal recorded from the simulator through the SDK (tests/replay/recording.py);
hand-built journals come from journal_builder.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "replay"))
sys.path.insert(0, str(Path(__file__).parent))

from recording import Recorded, recorded


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded(tmp_path_factory)
