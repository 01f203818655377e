"""Shared by every test folder: the helpers in ``tests/`` itself (``waiting``) are importable."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


import pytest

from recorder.journal import open_journal
from recorder.venues.lx.samples import sample_records


@pytest.fixture
def sample_journal(tmp_path: Path) -> Callable[[int, str], Path]:
    """``sample_journal(n, name)``: a closed journal in ``tmp_path`` holding one session of ``n``
    sample LX/1 frames (``recorder.venues.lx.samples``); its path."""

    def write(n: int, name: str = "sample.journal") -> Path:
        path = tmp_path / name
        with open_journal(path) as journal:
            sid = journal.start_session(venue="lx1", capture_point="test", participant="p")
            journal.append(sample_records(n, session_id=sid))
        return path

    return write
