"""``recorder verify``'s checks of the ledger (:mod:`recorder.journal.ledger`): its chain, and
every ``sessions`` and ``gaps`` row against what its events say the row holds.

* **The chain**: events numbered 1, 2, 3, ... with no hole, each hash ``sha256(previous ‖
  canonical event)`` from :data:`~recorder.journal.ledger.GENESIS`, positions that never go back
  (and, checked with the frames, never pass the head); a ``ledger_anchor`` recorded elsewhere
  must still be there.
* **The rows**: the ledger replayed (:func:`~recorder.journal.ledger.replay`) against every row
  as stored; each column that differs is a ``mismatch`` break naming the table, the row, the
  column, the value recorded (with its event and position) and the value found; a row with no
  event was inserted, a row an event created that is gone was deleted.
* **The state the other checks use**: the gaps and the sessions' participants as the ledger
  has them, never as the rows say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recorder.journal import ledger
from recorder.journal.breaks import Break, hex_of
from recorder.journal.chain import GENESIS
from recorder.journal.journal import Gap, Journal
from recorder.journal.layout import SCHEMA_REVISION

__all__ = ["APPEND_ONLY", "LedgerCheck", "check_ledger"]


@dataclass(slots=True)
class LedgerCheck:
    """What :func:`check_ledger` found, and the state the other checks take from the ledger."""

    breaks: list[Break] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    events: int = 0
    head_hash: bytes = GENESIS
    highest_position: int = 0
    gaps: list[Gap] = field(default_factory=list)
    participants: dict[int, str] = field(default_factory=dict)
    broken_from: int | None = None
    """The event from which the ledger's chain is broken (None: it holds)."""
    session_starts: dict[int, tuple[int, int] | None] | None = None
    """Every session the ledger created → its ``session_started`` event's position and id (None
    for an adopted session); None when the ledger is missing or broken (nothing to check the
    frames' sessions against)."""


APPEND_ONLY = (
    "frames_append_only_update",
    "frames_append_only_delete",
    "ledger_append_only_update",
    "ledger_append_only_delete",
)


def check_ledger(journal: Journal, anchor: tuple[int, bytes] | None) -> LedgerCheck:
    """The ledger's chain (and ``anchor``), and every ``sessions`` and ``gaps`` row against its
    events."""
    out = LedgerCheck()
    taken = journal.reader.ledger()
    if taken is None:
        out.breaks.append(
            Break(
                None,
                "ledger",
                f"the journal has no ledger table (schema revision {SCHEMA_REVISION} has one): it "
                "was dropped, and its sessions and gaps cannot be checked",
            )
        )
        out.gaps = journal.gaps()
        out.participants = {s.id: s.participant for s in journal.sessions()}
        return out
    events = _chained_events(taken.events, out)
    if anchor is not None:
        _check_ledger_anchor(taken.events, anchor, out.breaks)
    if out.broken_from is not None:  # only the events before the break are evidence
        events = [e for e in events if e.id < out.broken_from]
    replayed = ledger.replay(events)
    for event, problem in replayed.problems:
        out.breaks.append(
            Break(event.position, "ledger", f"ledger event {event.id} ({event.kind}) {problem}")
        )
    unchecked: list[str] = []
    for table, rows in taken.cells.items():
        unchecked += _compare(table, dict(rows), replayed, out.breaks, out.broken_from is None)
    if out.broken_from is None:
        out.gaps, out.participants = _ledger_state(replayed)
        out.session_starts = {
            row_id: None if event.kind in ledger.ADOPTIONS else (event.position, event.id)
            for (table, row_id), event in replayed.created.items()
            if table == "sessions"
        }
    else:
        # the rows as found, unchecked: a broken ledger is no evidence for or against them
        out.gaps, out.participants = _found_state(taken.cells)
        said = f"{', '.join(unchecked)} cannot" if unchecked else "no row differs, but none can"
        out.notes.append(
            f"the ledger is broken from event {out.broken_from}: {said} be checked against it "
            "(the sequence and gap checks take the rows as found; the frames' sessions are not "
            "checked)"
        )
    if replayed.adopted:
        first = events[0]
        nouns = {"sessions": "session(s)", "gaps": "gap(s)"}
        adopted = " and ".join(f"{n} {nouns[table]}" for table, n in replayed.adopted.items())
        out.notes.append(
            f"ledger starts at event {first.id}, at position {replayed.adopted_at}: the upgrade "
            f"to revision 0005 adopted {adopted} as it found them (their history before it is "
            "not evidenced)"
        )
    missing = [name for name in APPEND_ONLY if name not in taken.triggers]
    if missing:
        out.notes.append(
            f"the append-only trigger(s) {', '.join(missing)} are missing: something outside "
            "the recorder dropped them"
        )
    return out


def _check_ledger_anchor(
    raw: list[ledger.RawEvent], anchor: tuple[int, bytes], breaks: list[Break]
) -> None:
    """The ledger must still hold the hash recorded for one of its events."""
    event_id, digest = anchor
    stored = next((e for e in raw if e[0] == event_id), None)
    if stored is None:
        last = raw[-1][0] if raw else 0
        breaks.append(
            Break(
                None,
                "anchor",
                f"the ledger ends at event {last}, before the ledger anchor's event {event_id}: "
                "events were removed",
            )
        )
    elif stored[5] != digest:
        breaks.append(
            Break(
                stored[1] if isinstance(stored[1], int) else None,
                "anchor",
                f"ledger event {event_id} has hash {hex_of(stored[5])}, the ledger anchor "
                f"{digest.hex()}: the ledger was altered or rewritten up to there",
            )
        )


def _chained_events(raw: list[ledger.RawEvent], out: LedgerCheck) -> list[ledger.LedgerEvent]:
    """The ledger's events as stored, with its chain checked (breaks into ``out``): numbered
    1, 2, 3, ..., each hash over the one before, positions that never go back."""
    prev, expected_id, chain_ok, last_position = GENESIS, 1, True, 0
    events = []
    for event_id, position, kind_b, row_id, body_b, stored in raw:
        out.events += 1
        at = position if isinstance(position, int) else None
        typed = (
            isinstance(position, int)
            and isinstance(row_id, int)
            and isinstance(kind_b, bytes)
            and isinstance(body_b, bytes)
            and isinstance(stored, bytes)
        )
        if chain_ok and event_id != expected_id:
            chain_ok = False
            out.broken_from = expected_id
            out.breaks.append(
                Break(
                    at,
                    "ledger",
                    f"ledger events jump from {expected_id - 1} to {event_id}: events removed",
                )
            )
        expected_id = event_id + 1
        if not typed:
            out.breaks.append(
                Break(
                    at,
                    "ledger",
                    f"ledger event {event_id} holds values no recorder writes "
                    f"(position {position!r}, row_id {row_id!r}, hash {hex_of(stored)}): it was "
                    "altered",
                )
            )
            if chain_ok:
                out.broken_from = event_id
            chain_ok = False
            continue
        if chain_ok:
            if ledger.event_hash(prev, event_id, position, row_id, kind_b, body_b) != stored:
                chain_ok = False
                out.broken_from = event_id
                out.breaks.append(
                    Break(
                        position,
                        "ledger",
                        f"ledger hash chain broken at event {event_id}: the event was altered "
                        "(or one before it inserted or removed)",
                    )
                )
            prev = stored
        out.head_hash = stored
        try:
            kind = kind_b.decode()
            values = ledger.decode(body_b)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError, JSONDecodeError,
            # and JSON nested deeper than Python's recursion limit: no recorder writes those
            out.breaks.append(
                Break(
                    position,
                    "ledger",
                    f"ledger event {event_id} cannot be read ({exc}): it was altered",
                )
            )
            continue
        if position < last_position:
            out.breaks.append(
                Break(
                    position,
                    "ledger",
                    f"ledger event {event_id} was recorded at position {position}, before the "
                    f"event ahead of it ({last_position}): the ledger was altered",
                )
            )
        last_position = max(last_position, position)
        out.highest_position = max(out.highest_position, position)
        events.append(ledger.LedgerEvent(event_id, position, kind, row_id, values))
    return events


def _compare(
    table: str,
    found: dict[int, dict[str, object]],
    replayed: ledger.Replayed,
    breaks: list[Break],
    intact: bool,
) -> list[str]:
    """One table's rows against the replay of the ledger: a break per difference. With the
    ledger broken (not ``intact``: ``replayed`` is the events before the break), a row that
    differs or that no such event created is no evidence of an edit (a later event may have
    written it): it is returned (``"gaps row 3"``) as a row that cannot be checked; a row an
    event before the break created that is gone is still a deleted row."""
    unchecked = []
    for row_id, cells in found.items():
        expected = replayed.rows.get((table, row_id))
        if expected is None:
            if not intact:
                unchecked.append(f"{table} row {row_id}")
                continue
            breaks.append(
                Break(
                    None,
                    "mismatch",
                    f"{table} row {row_id} has no event in the ledger: it was inserted outside "
                    "the recorder",
                    table,
                    row_id,
                )
            )
            continue
        for column, (value, event) in expected.items():
            if _same(value, cells[column]):
                continue
            if not intact:
                unchecked.append(f"{table} row {row_id}")
                break
            breaks.append(
                Break(
                    event.position,
                    "mismatch",
                    f"{table} row {row_id}, column {column}: the ledger says {value!r} "
                    f"(event {event.id}, {event.kind}, at position {event.position}), the "
                    f"table holds {cells[column]!r}: the row was edited outside the recorder",
                    table,
                    row_id,
                    column,
                )
            )
    for (of, row_id), created in replayed.created.items():
        if of == table and row_id not in found:
            breaks.append(
                Break(
                    created.position,
                    "mismatch",
                    f"{table} row {row_id} is missing, which ledger event {created.id} "
                    f"({created.kind}, at position {created.position}) created: it was deleted",
                    table,
                    row_id,
                )
            )
    return unchecked


def _same(expected: object, found: object) -> bool:
    return type(expected) is type(found) and expected == found


def _ledger_state(replayed: ledger.Replayed) -> tuple[list[Gap], dict[int, str]]:
    """The gaps and the sessions' participants as the ledger has them (rows whose values are
    not what the recorder writes are left out: their events are breaks already)."""
    gaps, participants = [], {}
    for (table, row_id), row in sorted(replayed.rows.items()):
        values = {column: value for column, (value, _) in row.items()}
        if table == "sessions" and isinstance(values["participant"], str):
            participants[row_id] = values["participant"]
        elif table == "gaps" and all(isinstance(values[c], t) for c, t in _GAP_TYPES.items()):
            gaps.append(Gap(row_id, **values))  # type: ignore[arg-type]
    return gaps, participants


def _found_state(
    cells: dict[str, list[tuple[int, dict[str, object]]]],
) -> tuple[list[Gap], dict[int, str]]:
    """The gaps and the sessions' participants as the rows hold them (rows holding what the
    recorder never writes left out)."""
    gaps, participants = [], {}
    for row_id, row in cells["sessions"]:
        if isinstance(row["participant"], str):
            participants[row_id] = row["participant"]
    for row_id, row in cells["gaps"]:
        values = {c: row[c] for c in ledger.TABLE_COLUMNS["gaps"]}
        if all(isinstance(values[c], t) for c, t in _GAP_TYPES.items()):
            gaps.append(Gap(row_id, **values))  # type: ignore[arg-type]
    return gaps, participants


_GAP_TYPES: dict[str, type | tuple[type, ...]] = {
    "session_id": int,
    "channel": str,
    "run_id": str,
    "from_seq": int,
    "to_seq": int,
    "state": str,
    "detected_position": (int, type(None)),
}
"""What the gap checks read of a gap, and its types."""
