"""The ``recorder`` command line: a thin face over the library (ARCHITECTURE.md rule 7).

Each command is argument parsing plus one library call. Command groups live in sibling modules
(``config_cmd``, ``db``, ``frames``, ...) and are registered on :data:`main` below.
"""

from __future__ import annotations

from recorder.cli.app import main
from recorder.cli import config_cmd as _config_cmd  # noqa: F401  (registers commands)
from recorder.cli import journal_cmds as _journal_cmds  # noqa: F401

__all__ = ["main"]
