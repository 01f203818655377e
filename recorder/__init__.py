"""recorder — an order-state recorder for trading bots.

Every frame that crosses the wire is journaled first; every piece of state is a pure function of
the journal. See README.md and ARCHITECTURE.md.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "project"]


def __getattr__(name: str) -> Any:
    # ``recorder.project`` is imported lazily: it pulls in the journal (apsw) and the codecs,
    # which ``import recorder`` alone (e.g. for ``__version__``) should not.
    if name == "project":
        from recorder.projection import project

        return project
    raise AttributeError(f"module 'recorder' has no attribute {name!r}")
