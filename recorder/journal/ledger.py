"""The ledger: an append-only, hash-chained account of every change to ``sessions`` and ``gaps``.

Theory of operation
-------------------
``sessions`` (one row per connection lifetime) and ``gaps`` (the gap ledger) hold rows the
recorder changes in place — a session ends, a gap is requested, filled or written off — so they
cannot be append-only themselves, and an ``UPDATE`` with any SQLite tool used to leave no trace.
Their history is kept beside them instead: every change the recorder makes to one of their rows
is also an *event* appended to the ``ledger`` table in the same transaction (:func:`record`
writes both, from one set of values): which change (``kind``, one of :data:`EVENT_KINDS`), of
which row (``row_id``), the values written (``body``, canonical JSON) and the frames position
committed when it was recorded (``position``: the event happened after that frame). Events are
numbered 1, 2, 3, ... (``id``) and chained like frames, ``hash = sha256(previous hash ‖ canonical
event)`` from :data:`GENESIS`; triggers refuse UPDATE and DELETE on the ledger (revision 0005).

The rows are a function of the ledger: :func:`replay` rebuilds what every row must hold (a
created row starts from its table's :data:`DEFAULTS`, then each event sets its values), and
``recorder verify`` (:mod:`recorder.journal.verify`) recomputes the chain and compares every row
with the replay, column by column.

An event's position is the writer's committed frames head, which the writing process knows
whoever commits its frames (the committer process reports every commit it makes; nothing is
asked of it for an event): the frames up to that position are in SQLite whatever becomes of the
later ones, so an event naming a position past the head means frames were cut, never a crash.

A journal from before revision 0005 got one *adoption* event per row when it was upgraded
(``session_adopted``, ``gap_adopted``: every column as the upgrade found it), so every row has
its events; a ledger emptied later is a break, never taken for an old journal.

Canonical event (little endian)::

    id q | position q | row_id q | len(kind) I | len(body) I | kind | body      (UTF-8)
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import apsw

from recorder.errors import JournalError
from recorder.journal.layout import GAP_COLUMNS, SESSION_COLUMNS

__all__ = [
    "DEFAULTS",
    "EVENT_KINDS",
    "GAP_STATE_EVENTS",
    "GENESIS",
    "TABLE_COLUMNS",
    "EventKind",
    "LedgerEvent",
    "RawEvent",
    "Replayed",
    "Snapshot",
    "decode",
    "encode",
    "event_hash",
    "events",
    "raw_events",
    "record",
    "replay",
    "snapshot",
    "table_cells",
]

Value = int | str | None
"""What a ``sessions`` or ``gaps`` column holds, as the recorder writes it."""

GENESIS = bytes(32)
"""The first event chains from this (as the first frame does)."""

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {"sessions": SESSION_COLUMNS, "gaps": GAP_COLUMNS}
"""The tables the ledger accounts for, and their columns after ``id``."""

DEFAULTS: dict[str, dict[str, Value]] = {
    "sessions": {"ended_wall_ns": None, "end_reason": None},
    "gaps": {"requested_wall_ns": None, "closed_wall_ns": None, "reason": ""},
}
"""What a created row holds in the columns its event does not set (the schema's defaults).
:func:`replay` requires every event to set exactly its kind's columns, so a migration that adds
a column to one of these tables must also teach :func:`replay` that the events recorded before
it do not name it (and give it its default here)."""


@dataclass(frozen=True, slots=True)
class EventKind:
    """One kind of change: the table, whether it creates the row, the columns it writes."""

    table: str
    creates: bool
    columns: tuple[str, ...]
    state: str | None = None
    """A gap event's ``state`` value (the kind names it)."""


_SESSION_START = tuple(c for c in SESSION_COLUMNS if c not in DEFAULTS["sessions"])
_GAP_OPEN = tuple(c for c in GAP_COLUMNS if c not in DEFAULTS["gaps"])
_GAP_CLOSE = ("state", "closed_wall_ns", "reason")

EVENT_KINDS: dict[str, EventKind] = {
    "session_started": EventKind("sessions", True, _SESSION_START),
    "session_ended": EventKind("sessions", False, ("ended_wall_ns", "end_reason")),
    "gap_opened": EventKind("gaps", True, _GAP_OPEN, "open"),
    "gap_requested": EventKind(
        "gaps", False, ("state", "requested_wall_ns", "reason"), "requested"
    ),
    "gap_filled": EventKind("gaps", False, _GAP_CLOSE, "filled"),
    "gap_unrecoverable": EventKind("gaps", False, _GAP_CLOSE, "unrecoverable"),
    "gap_reopened": EventKind("gaps", False, _GAP_CLOSE, "open"),
    "session_adopted": EventKind("sessions", True, SESSION_COLUMNS),
    "gap_adopted": EventKind("gaps", True, GAP_COLUMNS),
}
"""Every change the recorder makes to ``sessions`` and ``gaps`` (the adoptions are the upgrade
to revision 0005's, of the rows it found)."""

GAP_STATE_EVENTS = {
    "open": "gap_reopened",
    "requested": "gap_requested",
    "filled": "gap_filled",
    "unrecoverable": "gap_unrecoverable",
}
"""The event that moves a gap to each state (``Journal.update_gap``)."""

ADOPTIONS = ("session_adopted", "gap_adopted")

_HEAD = struct.Struct("<qqqII")
_sha256 = hashlib.sha256
INSERT_EVENT = "INSERT INTO ledger (id, position, kind, row_id, body, hash) VALUES (?,?,?,?,?,?)"


def encode(values: Mapping[str, Value]) -> str:
    """An event's body: its values as canonical JSON (sorted keys, no spaces, ASCII)."""
    return json.dumps(dict(values), sort_keys=True, separators=(",", ":"))


def decode(body: bytes) -> dict[str, Value]:
    """An event's values; ValueError for a body that is not what :func:`encode` writes (JSON
    nested deeper than Python parses included)."""
    try:
        values = json.loads(body)
    except RecursionError as exc:
        raise ValueError(f"JSON nested too deep to parse ({exc})") from exc
    if not isinstance(values, dict) or not all(
        isinstance(v, int | str | None) and not isinstance(v, bool) for v in values.values()
    ):
        raise ValueError("not an object of integers, strings and nulls")
    return values


def event_hash(
    prev: bytes, event_id: int, position: int, row_id: int, kind: bytes, body: bytes
) -> bytes:
    """The chained hash of one event given the previous event's hash."""
    head = _HEAD.pack(event_id, position, row_id, len(kind), len(body))
    return _sha256(b"".join((prev, head, kind, body))).digest()


def record(
    conn: apsw.Connection,
    kind_name: str,
    row_id: int | None,
    values: Mapping[str, Value],
    position: int,
) -> int:
    """Make one change to ``sessions`` or ``gaps`` and append its event, inside the caller's
    transaction; return the row's id (the new row's, for a kind that creates one).

    ``values`` are the columns the kind writes. An update of a row that does not exist changes
    nothing and records nothing."""
    kind = EVENT_KINDS[kind_name]
    if set(values) != set(kind.columns):
        raise ValueError(f"a {kind_name} event writes {kind.columns}, not {tuple(values)}")
    columns = ", ".join(values)
    if kind.creates:
        marks = ",".join("?" * len(values))
        conn.execute(
            f"INSERT INTO {kind.table} ({columns}) VALUES ({marks})", tuple(values.values())
        )
        row_id = int(conn.last_insert_rowid())
    else:
        assert row_id is not None
        sets = ", ".join(f"{c} = ?" for c in values)
        conn.execute(f"UPDATE {kind.table} SET {sets} WHERE id = ?", (*values.values(), row_id))
        if conn.changes() == 0:
            return row_id
    last: Any = conn.execute("SELECT id, hash FROM ledger ORDER BY id DESC LIMIT 1").fetchone()
    event_id, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, last[1])
    body = encode(values)
    digest = event_hash(
        prev if isinstance(prev, bytes) else b"",
        event_id,
        position,
        row_id,
        kind_name.encode(),
        body.encode(),
    )
    conn.execute(INSERT_EVENT, (event_id, position, kind_name, row_id, body, digest))
    return row_id


# ---------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One event of the ledger."""

    id: int
    position: int
    """The frames position committed when it was recorded."""
    kind: str
    row_id: int
    """The ``sessions`` or ``gaps`` row it changed (its kind says which table)."""
    values: dict[str, Value]


RawEvent = tuple[Any, Any, Any, Any, Any, Any]
"""A ledger row as stored: ``id, position, kind, row_id, body, hash`` — kind and body as the
bytes they hold (whatever a tool may have put there)."""


def raw_events(conn: apsw.Connection) -> list[RawEvent]:
    """Every ledger row as stored, by id."""
    rows: list[Any] = conn.execute(
        "SELECT id, position, CAST(kind AS BLOB), row_id, CAST(body AS BLOB), hash FROM ledger"
        " ORDER BY id"
    ).fetchall()
    return [tuple(r) for r in rows]


def events(conn: apsw.Connection) -> list[LedgerEvent]:
    """Every event, oldest first (the journal's own). An event that cannot be read (its kind
    or body edited into what no recorder writes) is a :class:`~recorder.errors.JournalError`
    naming it; ``recorder verify`` reports such an event as a break instead."""
    rows: list[Any] = conn.execute(
        "SELECT id, position, CAST(kind AS BLOB), row_id, CAST(body AS BLOB) FROM ledger"
        " ORDER BY id"
    ).fetchall()
    out = []
    for event_id, position, kind, row_id, body in rows:
        try:
            out.append(LedgerEvent(event_id, position, kind.decode(), row_id, decode(body)))
        except (ValueError, TypeError, AttributeError) as exc:  # not UTF-8 or JSON, NULL
            raise JournalError(
                f"journal {conn.filename}: ledger event {event_id} cannot be read ({exc}): it "
                f"was altered outside the recorder; recorder verify --journal {conn.filename} "
                "reports what was changed"
            ) from exc
    return out


def table_cells(conn: apsw.Connection, table: str) -> list[tuple[int, dict[str, object]]]:
    """Every row of ``sessions`` or ``gaps`` by id, each column as stored — whatever a tool may
    have put there (text that is not UTF-8 comes back as bytes), never an error."""
    columns = TABLE_COLUMNS[table]
    cells = ", ".join(f"typeof({c}), CAST({c} AS BLOB)" for c in columns)
    rows: list[Any] = conn.execute(f"SELECT id, {cells} FROM {table} ORDER BY id").fetchall()
    return [
        (
            row[0],
            {c: _typed(row[1 + 2 * i], row[2 + 2 * i]) for i, c in enumerate(columns)},
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The ledger and the rows it accounts for, as stored, read in one transaction."""

    events: list[RawEvent]
    cells: dict[str, list[tuple[int, dict[str, object]]]]
    """:func:`table_cells` of each of :data:`TABLE_COLUMNS`."""
    triggers: frozenset[str]
    """The names of the journal's triggers."""


def snapshot(conn: apsw.Connection) -> Snapshot | None:
    """The ledger and the ``sessions`` and ``gaps`` rows in one read transaction (a writer
    changes a row and appends its event in one, so a journal being written is read at one
    moment); None when the journal has no ledger table (someone dropped it)."""
    taken: Snapshot | None = None
    with conn:
        names: list[Any] = conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger')"
        ).fetchall()
        if ("table", "ledger") in {(str(t), str(n)) for t, n in names}:
            taken = Snapshot(
                raw_events(conn),
                {table: table_cells(conn, table) for table in TABLE_COLUMNS},
                frozenset(str(n) for t, n in names if t == "trigger"),
            )
    return taken


def _typed(storage: str, raw: bytes | None) -> object:
    if raw is None or storage == "null":
        return None
    if storage == "integer":
        return int(raw)
    if storage == "real":
        return float(raw)
    if storage == "text":
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return raw
    return raw


# ---------------------------------------------------------------------- replay


@dataclass(slots=True)
class Replayed:
    """What the ledger says the rows hold (:func:`replay`)."""

    rows: dict[tuple[str, int], dict[str, tuple[Value, LedgerEvent]]] = field(default_factory=dict)
    """``(table, id)`` → column → its value and the event that set it."""
    problems: list[tuple[LedgerEvent, str]] = field(default_factory=list)
    """Events that cannot be applied, and why."""
    adopted: dict[str, int] = field(default_factory=dict)
    """How many rows of each table the upgrade to revision 0005 adopted."""
    adopted_at: int | None = None
    """The frames position of the adoptions (the ledger's leading events, at one position)."""
    created: dict[tuple[str, int], LedgerEvent] = field(default_factory=dict)
    """``(table, id)`` → the event that created the row."""


def replay(events: Iterable[LedgerEvent]) -> Replayed:
    """Rebuild the ``sessions`` and ``gaps`` rows from the ledger's events, in order (pure).

    An event is applied only if a recorder could have written it: a known kind, its body
    setting exactly the columns of its kind (:func:`record` refuses any other set), and an
    adoption only among the ledger's leading events, all at one position (the upgrade to
    revision 0005 writes them first, before any other event); any other is a problem."""
    out = Replayed()
    leading = True  # no event but adoptions yet
    for event in events:
        kind = EVENT_KINDS.get(event.kind)
        if kind is None:
            leading = False
            out.problems.append((event, f"has the unknown kind {event.kind!r}"))
            continue
        table = kind.table
        unknown = [c for c in event.values if c not in TABLE_COLUMNS[table]]
        if unknown:
            out.problems.append((event, f"sets {', '.join(unknown)}, which {table} has not"))
            continue
        if set(event.values) != set(kind.columns):
            # the writer (record) refuses any other set: no recorder writes such an event
            extra = [c for c in event.values if c not in kind.columns]
            lacking = [c for c in kind.columns if c not in event.values]
            said = "; ".join(
                part
                for part in (
                    f"sets {', '.join(extra)}" if extra else "",
                    f"lacks {', '.join(lacking)}" if lacking else "",
                )
                if part
            )
            out.problems.append(
                (event, f"{said}, which a {event.kind} event does not write: it was forged")
            )
            continue
        if event.kind in ADOPTIONS:
            if not leading or (out.adopted_at is not None and event.position != out.adopted_at):
                out.problems.append(
                    (
                        event,
                        "is an adoption, which only the upgrade to revision 0005 writes, as the "
                        "ledger's first events and all at one position: it was forged",
                    )
                )
                continue
            out.adopted_at = event.position
        else:
            leading = False
        if kind.state is not None and event.values.get("state") != kind.state:
            state = event.values.get("state")
            out.problems.append((event, f"is a {event.kind} event with state {state!r}"))
        key = (table, event.row_id)
        row = out.rows.get(key)
        if kind.creates:
            if row is not None:
                out.problems.append((event, f"creates {table} row {event.row_id} a second time"))
                continue
            row = out.rows[key] = {c: (DEFAULTS[table].get(c), event) for c in TABLE_COLUMNS[table]}
            out.created[key] = event
            if event.kind in ADOPTIONS:
                out.adopted[table] = out.adopted.get(table, 0) + 1
        elif row is None:
            out.problems.append(
                (event, f"changes {table} row {event.row_id}, which no event created")
            )
            continue
        for column, value in event.values.items():
            row[column] = (value, event)
    return out
