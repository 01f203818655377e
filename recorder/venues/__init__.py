"""The venue protocols the recorder speaks, and what the journal needs of each.

A journal session names its venue (``sessions.venue``). Frames journaled as they came off the
wire (:meth:`Journal.append_wires <recorder.journal.Journal.append_wires>`) get their metadata
columns — run, seq, mid, kind — when they are committed, from their venue's record builder:
:func:`record_builder`. Each later venue adds its builder here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from recorder.core.frames import FrameRecord
from recorder.errors import UnknownVenueError

__all__ = ["RECORD_BUILDERS", "RecordBuilder", "UnknownVenueError", "record_builder"]


RecordBuilder = Callable[..., FrameRecord]
"""A venue's frame bytes to a journal record, called as
:func:`recorder.venues.lx.records.to_record` is (``payload`` and the keywords ``session_id``,
``channel``, ``direction``, ``wall_ns``, ``mono_ns``, ``flags``, ``envelope``): it never refuses a
frame and flags what it cannot read."""


RECORD_BUILDERS = {"lx1": "recorder.venues.lx.records:to_record"}
"""Venue name (as sessions record it) → ``module:function`` of its record builder."""


def record_builder(venue: str) -> RecordBuilder:
    """The record builder of ``venue`` (imported on first use)."""
    try:
        target = RECORD_BUILDERS[venue]
    except KeyError:
        raise UnknownVenueError(
            f"venue {venue!r} is not one this recorder reads (it knows {sorted(RECORD_BUILDERS)}):"
            " use the recorder version that wrote the journal"
        ) from None
    module, _, name = target.partition(":")
    builder: RecordBuilder = getattr(importlib.import_module(module), name)
    return builder
