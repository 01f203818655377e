"""What ``recorder verify`` reports: one :class:`Break` per problem found (its own module, since
the frames' checks, :mod:`recorder.journal.verify`, and the ledger's,
:mod:`recorder.journal.ledger_check`, both make them)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Break", "hex_of"]


@dataclass(frozen=True, slots=True)
class Break:
    """One problem found: what, and the first journal position where it shows."""

    position: int | None
    kind: str
    """``position``, ``hash``, ``row``, ``anchor``, ``seq``, ``gap``, ``ledger`` (the ledger's
    own chain), ``mismatch`` (a ``sessions`` or ``gaps`` row against its ledger) or ``session``
    (frames of a session the ledger never created, or before its start)."""
    message: str
    table: str | None = None
    """A ``mismatch``'s table (``sessions`` or ``gaps``)."""
    row_id: int | None = None
    """A ``mismatch``'s row id in :attr:`table`."""
    column: str | None = None
    """A ``mismatch``'s column (None: the whole row is missing or has no event)."""


def hex_of(value: object) -> str:
    """A stored hash as hex (whatever else was stored there, as its repr)."""
    return value.hex() if isinstance(value, bytes) else repr(value)
