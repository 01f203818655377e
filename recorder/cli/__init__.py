"""The ``recorder`` command line: a thin face over the library (ARCHITECTURE.md rule 7).

Each command is argument parsing plus one library call. Command groups live in sibling modules
and register themselves on :data:`~recorder.cli.app.main` when imported here.
"""

from __future__ import annotations

from recorder.cli import audit, capture, chaos, config_cmd, demo, journal_cmds, sim, state  # noqa: F401  (each registers its commands)
from recorder.cli.app import main

__all__ = ["main"]
