"""Shared by every test folder: the helpers in ``tests/`` itself (``waiting``) are importable."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
