"""Projection over a journal: the thin glue between :mod:`recorder.journal` and the pure
:class:`~recorder.core.projector.Projector`.

* :func:`project` — the state as of a position or a time (default: the head), in either view.
  It starts from the newest valid checkpoint at or before the target and applies the tail.
* :func:`save_checkpoint` — write the projector's serialized state and the position it covers,
  in one transaction, under the name ``projector/<view>``.
* :func:`follow` — keep a state up to date while another process appends, yielding it each
  time the tail is caught up.

Checkpoints are an optimisation only (ARCHITECTURE.md rule 3): the state bytes are the
projector's canonical JSON and the digest is their SHA-256, the same digest
:meth:`State.digest` reports. A checkpoint that does not verify (a position past the journal's
head; a chain hash that is not the hash of the frame at its position — a checkpoint moved to
another position, copied from another journal, or left behind when the frames were replaced;
digest, format, view; JSON nested too deep to parse) is skipped with a
:class:`CheckpointSkipped` warning and the next older one is tried; with none left (or a
checkpoints table that cannot be read) the projection starts from position 1. Deleting every
checkpoint therefore gives the same state, only slower. A checkpoint written before revision
0006 has no chain hash and is used without that check. A checkpoint whose state was forged in
place, its digest recomputed and its chain hash kept (or cleared), passes these checks — every
input of them is in the file: ``recorder verify`` finds it, by projecting the journal to its
position and comparing.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recorder.core.projector import Projector
from recorder.core.state import State, View
from recorder.errors import JournalError
from recorder.journal import Checkpoint, Journal, open_journal

log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "projector/"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CheckpointSkipped(UserWarning):
    """A stored checkpoint could not be used (it is ignored; projection is only slower)."""


def checkpoint_name(view: View | str) -> str:
    """The checkpoint name of a view: ``projector/exchange`` or ``projector/known``."""
    return CHECKPOINT_PREFIX + View(view).value


@contextmanager
def _opened(journal: Journal | str | Path, *, writable: bool = False) -> Iterator[Journal]:
    if isinstance(journal, Journal):
        yield journal
        return
    j = open_journal(journal, create=False, readonly=not writable)
    try:
        yield j
    finally:
        j.close()


def to_wall_ns(as_of: datetime | str | int) -> int:
    """A moment as ns since the epoch: an int is taken as ns; a string is ISO 8601 (naive
    means UTC). Raises ``ValueError`` naming the string when it does not parse."""
    if isinstance(as_of, int):
        return as_of
    if isinstance(as_of, str):
        try:
            moment = datetime.fromisoformat(as_of)
        except ValueError as exc:
            raise ValueError(
                f"as-of time {as_of!r} is not ISO 8601; write e.g. 2026-11-21T12:00:00+00:00"
            ) from exc
    else:
        moment = as_of
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def target_position(
    journal: Journal, *, as_of: datetime | str | int | None = None, position: int | None = None
) -> int:
    """The journal position a request covers: ``position``, the last frame at or before
    ``as_of``, or the head."""
    head = journal.head_position()
    if position is not None:
        return max(0, min(position, head))
    if as_of is not None:
        return journal.position_at(to_wall_ns(as_of))
    return head


def restore(journal: Journal, view: View | str, up_to: int) -> Projector:
    """The newest valid checkpoint of ``view`` at or before ``up_to``, or a fresh projector."""
    view = View(view)
    head = journal.head_position()
    try:
        stored = journal.checkpoints(checkpoint_name(view))
    except JournalError as exc:  # the table dropped, or a checkpoint edited
        _skipped(f"its checkpoints cannot be read, none used: {exc}")  # exc names the journal
        return Projector(view)
    for cp in stored:
        if cp.position > up_to:
            continue
        try:
            if cp.position > head:
                raise ValueError(f"it covers position {cp.position}, past the head {head}")
            _check_chain(journal, cp)
            projector = Projector.from_checkpoint(cp.state, cp.digest)
            if projector.view is not view or projector.position != cp.position:
                raise ValueError("its state is of another view or position")
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
            _skipped(f"checkpoint {cp.name!r} at position {cp.position} skipped: {exc}")
            continue
        return projector
    return Projector(view)


def _check_chain(journal: Journal, cp: Checkpoint) -> None:
    """ValueError unless the checkpoint carries the chain hash of the frame at its position
    (one look-up; a checkpoint written before revision 0006 carries none and passes)."""
    if cp.chain_hash is None:
        return
    found = journal.chain_hash(cp.position)
    if cp.chain_hash != found:
        raise ValueError(
            f"its chain hash {cp.chain_hash.hex()[:16]} is not the frame's at that position "
            f"({found.hex()[:16] if found else 'none'}): it was moved, copied from another "
            "journal, or the frames were replaced"
        )


def _skipped(message: str) -> None:
    log.warning(message)
    warnings.warn(message, CheckpointSkipped, stacklevel=3)


def projector_at(
    journal: Journal, view: View | str = View.EXCHANGE, up_to: int | None = None
) -> Projector:
    """A projector that has applied the journal up to ``up_to`` (default: the head)."""
    end = journal.head_position() if up_to is None else up_to
    projector = restore(journal, view, end)
    if projector.position < end:
        projector.apply_rows(journal.rows(projector.position + 1, end + 1))
    return projector


def project(
    journal: Journal | str | Path,
    as_of: datetime | str | int | None = None,
    position: int | None = None,
    view: View | str = View.EXCHANGE,
) -> State:
    """The projected state of a journal (a :class:`Journal` or a path).

    ``position`` (inclusive) or ``as_of`` (a datetime, an ISO 8601 string, or ns since the
    epoch: the frames journaled at or before it) pick the journal prefix; by default the whole
    journal. ``view`` is ``"exchange"`` (each stream in seq order, frames behind an open gap
    held) or ``"known"`` (arrival order: what the bot knew).
    """
    with _opened(journal) as j:
        end = target_position(j, as_of=as_of, position=position)
        return projector_at(j, view, end).state()


def save_checkpoint(journal: Journal, projector: Projector, *, keep_older: bool = False) -> None:
    """Store the projector's state and the position it covers (one transaction).

    By default the view's older checkpoints are deleted first, so a journal holds one state per
    view (a crash in between only means the next restart rebuilds from position 1).
    """
    state, digest = projector.to_checkpoint()
    name = checkpoint_name(projector.view)
    if not keep_older:
        journal.delete_checkpoints(name)
    journal.write_checkpoint(name, projector.position, state, digest)


def checkpoint(journal: Journal | str | Path, view: View | str = View.EXCHANGE) -> int:
    """Project to the head and store a checkpoint there; returns the position covered."""
    with _opened(journal, writable=True) as j:
        projector = projector_at(j, view)
        save_checkpoint(j, projector)
        return projector.position


def follow(
    journal: Journal,
    view: View | str = View.EXCHANGE,
    *,
    stop: threading.Event | None = None,
    poll_s: float = 0.2,
    checkpoint_every: int | None = None,
) -> Iterator[State]:
    """Keep a state up to date while another process appends to ``journal``.

    Yields the state each time the projection has caught up with the head and something new
    was applied (the first time at once). Between polls it waits on ``stop`` (ends the
    iteration when set). With ``checkpoint_every`` and a writable journal, a checkpoint is
    stored whenever that many frames were applied since the last one.
    """
    stop = stop or threading.Event()
    projector = projector_at(journal, view)
    saved_at = projector.position
    yield projector.state()
    while not stop.is_set():
        head = journal.head_position()
        if head <= projector.position:
            stop.wait(poll_s)
            continue
        projector.apply_rows(journal.rows(projector.position + 1, head + 1))
        if (
            checkpoint_every
            and not journal.readonly
            and projector.position - saved_at >= checkpoint_every
        ):
            save_checkpoint(journal, projector)
            saved_at = projector.position
        yield projector.state()
