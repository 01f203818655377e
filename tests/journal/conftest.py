from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.journal import Journal, open_journal


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "test.journal"


@pytest.fixture
def journal(journal_path: Path) -> Iterator[Journal]:
    j = open_journal(journal_path)
    yield j
    j.close()
