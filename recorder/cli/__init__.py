"""The ``recorder`` command line: a thin face over the library (ARCHITECTURE.md rule 7).

Each command is argument parsing plus one library call. Command groups live in sibling modules
and register themselves on :data:`~recorder.cli.app.main` when imported here.
"""

from __future__ import annotations

from recorder.cli import audit, chaos, config_cmd, demo, export, journal_cmds, replay, sim, state  # noqa: F401  (each registers its commands)
from recorder.cli import capture as _capture  # noqa: F401  (registers commands)
from recorder.cli.app import main

__all__ = ["main"]
