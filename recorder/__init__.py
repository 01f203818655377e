"""recorder — an order-state recorder for trading bots.

Every frame that crosses the wire is journaled first; every piece of state is a pure function of
the journal. See README.md and ARCHITECTURE.md.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
