"""``recorder verify``: recompute the hash chain and check every inbound stream's sequence.

Everything below is read in one read transaction, so a journal being written is verified as it
was at one moment, up to the head it had then (the report's ``head_position``; a note counts
the frames appended meanwhile, which the next run checks). First, SQLite's own check of the
file (``PRAGMA integrity_check``: every page, and every index against its table — an index
edited below SQL hides frames from the look-ups by mid or stream while the chain, recomputed
from the table, holds); each message is a ``sqlite`` break, a page SQLite cannot read stops
the verification with a break, and a table of the schema that is gone is a ``table`` break:
never an exception. Then, in one pass in position order:

1. **Positions** run 1, 2, 3, ... with no hole (a hole is a deleted row).
2. **Hash chain**: each stored hash equals ``sha256(previous hash ‖ canonical row)``; the first
   mismatch is where the journal was altered.
3. **Sequence continuity** of every exchange→client stream: every seq from the first to the
   highest seen is present, live or replayed. The order channel's stream is per (participant, run)
   across sessions — a reconnect continues it, so a loss between two sessions is found — and
   starts at seq 1; the market channel's is per (session, run) and starts where the session
   joined it. Missing seqs that the gap ledger marks
   ``unrecoverable`` are accepted (they are documented losses); any other hole is a break, named
   by the position where the jump was journaled. Gaps still ``open`` or ``requested`` in the
   ledger are reported and fail verification too.

4. **Rows outside the chain**: a row at a position below 1 (which the scan from 1 to the head
   never reads) is an inserted row; a checkpoint or a gap-ledger entry that names a position
   past the head means the frames after it were removed. A row whose columns hold what no
   journal writes (a type, a channel, text that is not UTF-8) is a break at its position, not
   an error.
5. **An anchor** (``anchor=(position, hash)``: the head a user recorded outside the journal,
   e.g. from an earlier ``recorder verify``): the row at that position must still carry that
   hash. The chain proves that nothing before a row was changed; only a hash kept elsewhere
   proves that the journal was not cut short or rewritten from some point on. The ledger's
   (below) is ``ledger_anchor=(event id, hash)``, the same promise for sessions and gaps.

6. **Sessions and gaps against their ledger** (:mod:`recorder.journal.ledger_check`): the ledger's
   chain (events numbered 1, 2, 3, ... with no hole, each hash ``sha256(previous ‖ canonical
   event)``, positions that never go back and never pass the head), then every ``sessions`` and
   ``gaps`` row against what the ledger's events say it holds: each column that differs is a
   ``mismatch`` break naming the table, the row, the column, the value the ledger recorded and
   the value found; so is a row with no event (inserted) and a row an event created that is gone
   (deleted). The sequence and gap checks above take the gaps and the sessions' participants from
   the ledger, not from the rows. A journal upgraded from before the ledger has its rows adopted
   as the upgrade found them, and the report says where the ledger starts (``notes``). Events
   a recorder never writes (a body outside its kind's columns, an adoption after the first
   events) are breaks. Once the ledger's chain breaks, the later events accuse nothing: the rows
   they touch "cannot be checked" (a note), and the sequence and gap checks take the rows as
   found.
7. **Sessions of the frames**: every frame's session was created by a ledger event (adopted
   ones count), and no frame comes before its session's ``session_started`` event.
8. **Checkpoints**: each checkpoint's chain hash (revision 0006) is the hash of the frame at its
   position — a look-up, before any re-projection: one that is not was moved, copied from
   another journal, or outlived the frames it was projected from; each projector checkpoint's
   state is the journal's own projection at its position (re-projected, one pass per view; a
   checkpoint's digest is only the SHA-256 of its state, which a forger recomputes), and no
   checkpoint holds what no recorder writes. Checked only while the frames' chain holds (else a
   note): a broken chain accuses nothing else.

A spool set aside as damaged beside the journal (acknowledged frames a merge could not read,
:mod:`recorder.journal.spool`) is a note.

Duplicated live seqs, malformed frames and steps back of the wall clock (``clock_steps_back``:
time look-ups assume the clock rises with the position) are counted and reported; they are facts
about the exchange, the wire or the host, not damage to the journal.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import apsw

from recorder.core.projector import Projector
from recorder.core.state import View
from recorder.journal import schema
from recorder.journal.breaks import Break, hex_of
from recorder.journal.chain import GENESIS, row_hash
from recorder.journal.journal import Journal
from recorder.journal.layout import SCHEMA_REVISION
from recorder.journal.ledger_check import LedgerCheck, check_ledger
from recorder.projection import checkpoint_name

__all__ = ["Break", "VerifyReport", "verify"]

StreamKey = tuple[str, str, str]
"""``(channel, participant or session, run_id)``."""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of :func:`verify`."""

    frames: int
    head_position: int
    head_hash: str
    streams: int
    malformed: int
    duplicates: int
    replayed: int
    breaks: tuple[Break, ...]
    clock_steps_back: int
    open_gaps: int
    ledger_events: int = 0
    """How many events the ledger of sessions and gaps holds."""
    ledger_head_hash: str = GENESIS.hex()
    """The hash of its last event (hex)."""
    notes: tuple[str, ...] = ()
    """Facts worth saying that are no break (where the ledger starts, triggers dropped)."""

    @property
    def ok(self) -> bool:
        """True when the chain holds, every stream is continuous, no gap is open and every
        session and gap is what its ledger says."""
        return not self.breaks

    @property
    def first_bad_position(self) -> int | None:
        """The lowest position named by a break, if any."""
        positions = [b.position for b in self.breaks if b.position is not None]
        return min(positions) if positions else None


@dataclass(slots=True)
class _Stream:
    expected: int = 1
    missing: list[list[int]] = field(default_factory=list)
    """``[from_seq, to_seq, position_seen]`` ranges not yet seen."""


_UNHASHABLE = (KeyError, TypeError, AttributeError, ValueError, OverflowError, struct.error)
"""What hashing a row raises when its columns hold values no journal writes (an edited row)."""


def verify(
    journal: Journal,
    *,
    anchor: tuple[int, bytes] | None = None,
    ledger_anchor: tuple[int, bytes] | None = None,
) -> VerifyReport:
    """Verify the whole journal; see the module docstring for what is checked. ``anchor``:
    ``(position, hash)`` recorded earlier, which the journal must still hold; ``ledger_anchor``:
    ``(event id, hash)`` of the ledger, likewise.

    Everything is read in one read transaction (:meth:`Reader.snapshot
    <recorder.journal.reader.Reader.snapshot>`): a journal being written is verified as it was
    at one moment, up to the head it had then (``head_position``; a note says how many frames
    were appended meanwhile). Damage SQLite finds, or a table dropped, is a break, never an
    exception."""
    reader = journal.reader
    breaks: list[Break] = []
    try:
        with reader.snapshot():
            breaks += _file_damage(journal)
            breaks += _missing_tables(journal)
            if any(b.kind == "table" for b in breaks):
                return _stopped(breaks)
            report = _verify(journal, anchor, ledger_anchor)
    except (apsw.CorruptError, apsw.NotADBError) as exc:
        breaks.append(
            Break(
                None,
                "sqlite",
                f"SQLite cannot read journal {journal.path} ({exc}): verification stopped "
                "there; restore the journal from a copy",
            )
        )
        return _stopped(breaks)
    notes = report.notes
    appended = reader.head_position() - report.head_position
    if appended > 0:
        notes += (
            f"the journal is being written: verified up to position {report.head_position}, its "
            f"head when verify began reading; {appended} frame(s) appended since are not checked",
        )
    notes += _spools_kept_aside(journal)
    breaks += report.breaks
    return dataclasses.replace(report, breaks=tuple(_sorted(breaks)), notes=notes)


def _verify(
    journal: Journal, anchor: tuple[int, bytes] | None, ledger_anchor: tuple[int, bytes] | None
) -> VerifyReport:
    """Checks 1 to 8 of the module docstring, at one moment (the caller's snapshot)."""
    breaks: list[Break] = []
    prev = GENESIS
    expected_position = 1
    chain_ok = True
    scanned = True
    streams: dict[StreamKey, _Stream] = {}
    checked = check_ledger(journal, ledger_anchor)
    breaks += checked.breaks
    owner = _stream_owners(checked.participants)
    malformed = duplicates = replayed = frames = steps_back = 0
    last_wall = 0
    sessions = _SessionCheck(checked.session_starts)
    try:
        for row in journal.reader.hashed_rows():
            (
                position, session_id, channel, direction, wall_ns, mono_ns, run_id, seq, mid,
                kind, is_replay, flags, payload, stored, blobs,
            ) = row  # fmt: skip
            frames += 1
            if position != expected_position and chain_ok:
                breaks.append(
                    Break(
                        expected_position,
                        "position",
                        f"positions jump from {expected_position - 1} to {position}: rows removed",
                    )
                )
                chain_ok = False
            expected_position = position + 1
            if chain_ok:
                try:
                    computed: bytes | None = row_hash(
                        prev, position, session_id, channel, direction, wall_ns, mono_ns,
                        run_id, seq, mid, kind, is_replay, flags, payload,
                    )  # fmt: skip
                except _UNHASHABLE as exc:
                    computed = None
                    breaks.append(
                        Break(
                            position,
                            "row",
                            f"the row at position {position} holds values no journal writes "
                            f"({type(exc).__name__}: {exc}): it was altered",
                        )
                    )
                    chain_ok = False
                if computed is not None and not blobs:
                    computed = None
                    breaks.append(
                        Break(
                            position,
                            "row",
                            f"the row at position {position} stores its payload or hash as "
                            "text, which no journal writes: it was altered",
                        )
                    )
                    chain_ok = False
                if computed is not None and computed != stored:
                    breaks.append(
                        Break(
                            position,
                            "hash",
                            f"hash chain broken at position {position}: the row was altered "
                            "(or a row before it was inserted or removed)",
                        )
                    )
                    chain_ok = False
                prev = stored if isinstance(stored, bytes) else b""
            if anchor is not None and position == anchor[0] and stored != anchor[1]:
                breaks.append(
                    Break(
                        position,
                        "anchor",
                        f"the row at position {position} has hash {hex_of(stored)}, the anchor "
                        f"{anchor[1].hex()}: the journal was altered or rewritten up to there",
                    )
                )
            if not isinstance(wall_ns, int) or not isinstance(flags, int):
                continue  # an altered row (a break above): nothing more to read in it
            sessions.see(position, session_id)
            if wall_ns < last_wall:
                steps_back += 1
            last_wall = wall_ns
            if flags & 1:
                malformed += 1
                continue
            if direction != "in":
                continue
            key = (channel, owner(session_id, channel), run_id)
            stream = streams.get(key)
            if stream is None:
                stream = streams[key] = _Stream(1 if channel == "order" or is_replay else seq)
            if is_replay:
                replayed += 1
                _fill(stream, seq)
            elif seq == stream.expected:
                stream.expected += 1
            elif seq > stream.expected:
                stream.missing.append([stream.expected, seq - 1, position])
                stream.expected = seq + 1
            elif not _fill(stream, seq):
                duplicates += 1
    except UnicodeDecodeError:  # a text column edited into bytes that are not UTF-8
        scanned = False
        at = journal.reader.first_not_utf8(expected_position)
        breaks.append(
            Break(
                at,
                "row",
                f"the row at position {at} holds text that is not UTF-8: it was altered; "
                "verification stopped there",
            )
        )

    breaks += sessions.breaks()
    head_position, head_hash = journal.reader.head()
    breaks += _outside_the_chain(journal, frames, head_position, anchor, scanned, checked)
    notes = list(checked.notes)
    if chain_ok and scanned:
        breaks += _forged_checkpoints(journal, head_position)
    elif journal.reader.checkpoint_digests():
        notes.append("the checkpoints are not checked: the frames' chain is broken")
    open_gaps = 0
    unrecoverable: dict[StreamKey, list[tuple[int, int]]] = {}
    for gap in checked.gaps:
        key = (gap.channel, owner(gap.session_id, gap.channel), gap.run_id)
        if gap.state == "unrecoverable":
            unrecoverable.setdefault(key, []).append((gap.from_seq, gap.to_seq))
        elif gap.state in ("open", "requested"):
            open_gaps += 1
            breaks.append(
                Break(
                    gap.detected_position,
                    "gap",
                    f"gap {gap.id} ({gap.channel} seq {gap.from_seq}..{gap.to_seq} of run "
                    f"{gap.run_id[:8]}) is still {gap.state}",
                )
            )
    for key, stream in streams.items():
        accepted = unrecoverable.get(key, [])
        for low, high, seen_at in stream.missing:
            if any(a <= low and high <= b for a, b in accepted):
                continue
            breaks.append(
                Break(
                    seen_at,
                    "seq",
                    f"{key[0]} stream of {key[1]} run {key[2][:8]}: seq {low}..{high} missing "
                    f"(jump seen at position {seen_at}) and not marked unrecoverable",
                )
            )
    return VerifyReport(
        frames=frames,
        head_position=head_position,
        head_hash=head_hash.hex(),
        streams=len(streams),
        malformed=malformed,
        duplicates=duplicates,
        replayed=replayed,
        breaks=tuple(_sorted(breaks)),
        clock_steps_back=steps_back,
        open_gaps=open_gaps,
        ledger_events=checked.events,
        ledger_head_hash=checked.head_hash.hex(),
        notes=tuple(notes),
    )


def _sorted(breaks: list[Break]) -> list[Break]:
    """Breaks by position, those of no position last."""
    return sorted(breaks, key=lambda b: (b.position is None, b.position or 0))


INTEGRITY_ERRORS = 20
"""How many of SQLite's messages an integrity check reports at most."""


def _file_damage(journal: Journal) -> list[Break]:
    """SQLite's own check of the file (``PRAGMA integrity_check``): pages, and every index
    against its table. The chain is recomputed from the table's rows; an index edited below
    SQL (its pages changed with a hex editor) hides frames from the look-ups by mid or stream
    and only this check sees it. On a 1M-frame journal ``quick_check`` (which skips the indexes'
    contents) took 0.3 s, ``integrity_check`` 1.0 to 1.5 s, the rest of verify 3.2 s: the whole
    check is made."""
    reader = journal.reader
    try:
        found = reader.integrity_check(INTEGRITY_ERRORS)
    except apsw.CorruptError:  # its index pass stops at a page it cannot read: say which
        found = reader.integrity_check(INTEGRITY_ERRORS, quick=True)
    if found == ["ok"]:
        return []
    return [
        Break(
            None,
            "sqlite",
            f"SQLite's integrity check of journal {journal.path}: {message.removeprefix(_MAIN)}: "
            "the file was damaged or edited below SQL; restore the journal from a copy",
        )
        for message in found
    ]


_MAIN = "*** in database main ***\n"


def _spools_kept_aside(journal: Journal) -> tuple[str, ...]:
    """Spools of this journal that a merge set aside as damaged: frames a writer acknowledged
    that the journal does not hold (:mod:`recorder.journal.spool`)."""
    kept = sorted(journal.path.parent.glob(journal.path.name + "-spool.damaged-*"))
    return tuple(
        f"{path} is a spool of this journal with a damaged record, set aside by a merge: frames "
        "a writer acknowledged after it are not in the journal; inspect it, and keep it with "
        "the journal"
        for path in kept
    )


def _missing_tables(journal: Journal) -> list[Break]:
    """A table of the schema that is gone (the ledger aside: :func:`check_ledger` reports it
    and checks what it can without it)."""
    tables = journal.reader.tables()
    return [
        Break(
            None,
            "table",
            f"journal {journal.path} has no {name} table (schema revision {SCHEMA_REVISION} has "
            "one): it was dropped outside the recorder, and the journal cannot be verified "
            "without it; restore the journal from a copy",
        )
        for name in schema.metadata.tables
        if name != "ledger" and name not in tables
    ]


def _stopped(breaks: list[Break]) -> VerifyReport:
    """The report of a verification that could not read the journal through."""
    return VerifyReport(
        frames=0, head_position=0, head_hash=GENESIS.hex(), streams=0, malformed=0,
        duplicates=0, replayed=0, breaks=tuple(_sorted(breaks)), clock_steps_back=0, open_gaps=0,
    )  # fmt: skip


def _forged_checkpoints(journal: Journal, head_position: int) -> list[Break]:
    """Every checkpoint's chain hash against the frame at its position (a look-up), then every
    projector checkpoint against the journal's own projection at its position (one pass per
    view, up to its highest checkpoint: 2.3 to 2.6 s a view for 1M frames). A checkpoint holds
    a state and its SHA-256, which whoever writes the state can recompute; ``recorder state``
    starts from the newest one, so a forged one changes what it prints. Checkpoints past the
    head are :func:`_outside_the_chain`'s."""
    breaks = []
    projectors = {checkpoint_name(view).encode(): Projector(view) for view in View}
    for name, position, digest, chain_hash, frame_hash in journal.stored_checkpoints():
        if isinstance(position, int) and position > head_position:
            continue
        if chain_hash is not None and chain_hash != frame_hash:
            breaks.append(
                Break(
                    position if isinstance(position, int) else None,
                    "checkpoint",
                    f"checkpoint {name.decode(errors='replace')!r} at position {position!r} "
                    "was not projected from this journal's frames there (its chain hash "
                    f"{hex_of(chain_hash)[:16]}, the frame's {hex_of(frame_hash)[:16]}): it was "
                    "moved, copied from another journal, or the frames were replaced, and "
                    "`recorder state` skips it; delete it",
                )
            )
            continue
        projector = projectors.get(name)
        if projector is None or not isinstance(position, int):
            breaks.append(
                Break(
                    position if isinstance(position, int) else None,
                    "checkpoint",
                    f"a checkpoint holds what no recorder writes (name {name!r}, position "
                    f"{position!r}): it was added or altered outside the recorder; delete it",
                )
            )
            continue
        projector.apply_rows(journal.rows(projector.position + 1, position + 1))
        _, expected = projector.to_checkpoint()
        if digest != expected:
            breaks.append(
                Break(
                    position,
                    "checkpoint",
                    f"checkpoint {name.decode()!r} at position {position} is not the journal's "
                    f"projection there (digest {digest.hex()[:16]}, the projection's "
                    f"{expected.hex()[:16]}): it was forged or altered, and `recorder state` "
                    "would start from it; delete the checkpoints (the state is rebuilt from "
                    "the frames, only slower)",
                )
            )
    return breaks


def _outside_the_chain(
    journal: Journal,
    frames: int,
    head_position: int,
    anchor: tuple[int, bytes] | None,
    scanned: bool,
    checked: LedgerCheck,
) -> list[Break]:
    """Rows the scan from position 1 to the head cannot see, and frames missing after it."""
    breaks = []
    rows, lowest = journal.reader.extent()
    if scanned and (rows != frames or (lowest is not None and lowest < 1)):
        breaks.append(
            Break(
                lowest,
                "position",
                f"{rows - frames} row(s) outside positions 1..{head_position} (the lowest at "
                f"{lowest}): rows inserted",
            )
        )
    named = max(journal.reader.highest_position_named(), checked.highest_position)
    if named > head_position:
        breaks.append(
            Break(
                head_position + 1,
                "position",
                f"the journal ends at position {head_position} but its checkpoints, gap ledger "
                f"or ledger name position {named}: frames after {head_position} were removed",
            )
        )
    if anchor is not None and anchor[0] > head_position:
        breaks.append(
            Break(
                head_position + 1,
                "anchor",
                f"the journal ends at position {head_position}, before the anchor's position "
                f"{anchor[0]}: frames were removed",
            )
        )
    return breaks


class _SessionCheck:
    """Every frame's session must be one a ledger event created (an adopted one counts), and
    the frame must not come before the ``session_started`` event: the recorder starts a
    session (its event at the frames head then) before it journals its first frame."""

    def __init__(self, starts: dict[int, tuple[int, int] | None] | None) -> None:
        self.starts = starts
        self.orphans: dict[int, list[int]] = {}
        """session id → [first position, last position, count] of its frames."""
        self.early: dict[int, tuple[int, int, int]] = {}
        """session id → the first frame before its start, and the event's position and id."""

    def see(self, position: int, session_id: int) -> None:
        if self.starts is None:
            return
        if session_id not in self.starts:
            seen = self.orphans.setdefault(session_id, [position, position, 0])
            seen[1] = position
            seen[2] += 1
            return
        start = self.starts[session_id]
        if start is not None and position < start[0] and session_id not in self.early:
            self.early[session_id] = (position, *start)

    def breaks(self) -> list[Break]:
        out = [
            Break(
                first,
                "session",
                f"{count} frame(s) at positions {first}..{last} belong to session "
                f"{session_id!r}, which no ledger event created: the session and its events "
                "were removed",
            )
            for session_id, (first, last, count) in self.orphans.items()
        ]
        out += [
            Break(
                position,
                "session",
                f"the frame at position {position} belongs to session {session_id!r}, which "
                f"ledger event {event_id} started only at position {started}: the session's "
                "events were rewritten",
            )
            for session_id, (position, started, event_id) in self.early.items()
        ]
        return out


def _stream_owners(participants: dict[int, str]) -> Callable[[int, str], str]:
    def owner(session_id: int, channel: str) -> str:
        participant = participants.get(session_id, "")
        if channel == "order" and participant:
            return f"participant {participant[:12]}"
        return f"session {session_id}"

    return owner


def _fill(stream: _Stream, seq: int) -> bool:
    """Remove ``seq`` from the stream's missing ranges; False if it was not missing."""
    for i, (low, high, seen_at) in enumerate(stream.missing):
        if low <= seq <= high:
            parts = []
            if low < seq:
                parts.append([low, seq - 1, seen_at])
            if seq < high:
                parts.append([seq + 1, high, seen_at])
            stream.missing[i : i + 1] = parts
            return True
    return False
