"""The chaos tests' settings: the short form's size (the long form is ``recorder chaos``)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def chaos_size() -> dict[str, float]:
    """Runs, seconds of faults per run and the first seed (env ``RECORDER_CHAOS_SEED``)."""
    return {"runs": 3, "seconds": 4.0, "seed": float(os.environ.get("RECORDER_CHAOS_SEED", "101"))}
