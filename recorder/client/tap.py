"""The embedded capture tap: the SDK's side of ARCHITECTURE.md rule 1.

:class:`Tap` journals every frame the context sends (before ``socket.send``) and receives
(before any handler sees it), one journal session per connection lifetime
(``capture_point="sdk"``, the participant's z85 public key, both endpoints), and keeps the gap
ledger. With ``journal=None`` (benchmarks' baseline) it journals nothing and costs nothing.

In ``strict`` mode :meth:`Tap.frame` returns after the row is committed; in ``safe`` mode after
it is in the journal's spool (it survives ``kill -9``; committed within ``safe_commit_ms``); in
``fast`` mode after it is queued (committed within ``fast_flush_ms``).
"""

from __future__ import annotations

import time

from recorder.core.frames import Channel, Direction, FrameRecord
from recorder.core.recovery import CORRECTION_KIND
from recorder.journal import Journal
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.records import to_record

Envelope = pb.Envelope

VENUE = "lx1"
COMMIT_ROWS = 32
COMMIT_AGE_S = 0.005
"""The I/O thread commits the spool when a request went out and this many frames wait or the
oldest has waited this long: one commit's fixed cost (most of it) shared by several orders."""
IDLE_COMMIT_ROWS = 512
"""With no request out, the I/O thread commits this many frames at once (a busy market channel),
or the frames older than ``safe_commit_ms``."""
CAPTURE_POINT = "sdk"


class Tap:
    """Journals one context's frames, sessions and gaps (no-op without a journal)."""

    __slots__ = ("_owns", "journal", "last_position", "participant", "safe_commit_s", "session_id")

    def __init__(
        self, journal: Journal | None, participant: str, *, owns: bool, safe_commit_ms: int = 10
    ) -> None:
        self.journal = journal
        self.safe_commit_s = safe_commit_ms / 1000
        """``[journal] safe_commit_ms``: the longest a frame waits in the spool."""
        self.participant = participant
        self.session_id = 0
        self.last_position = 0
        """The position of the last frame journaled through this tap."""
        self._owns = owns

    @property
    def enabled(self) -> bool:
        """False when journaling is disabled (``journal=None``)."""
        return self.journal is not None

    def start_session(self, order_endpoint: str, market_endpoint: str) -> int:
        """Start a journal session for a new connection; returns its id (0 without journal)."""
        if self.journal is not None:
            self.session_id = self.journal.start_session(
                venue=VENUE,
                capture_point=CAPTURE_POINT,
                participant=self.participant,
                order_endpoint=order_endpoint,
                market_endpoint=market_endpoint,
            )
        return self.session_id

    def end_session(self, reason: str) -> None:
        """End the current session (its frames are committed first)."""
        if self.journal is not None and self.session_id:
            self.journal.flush()
            self.journal.end_session(self.session_id, reason)
            self.session_id = 0

    def frame(
        self,
        data: bytes,
        channel: Channel,
        direction: Direction,
        flags: int = 0,
        envelope: Envelope | None = None,
    ) -> FrameRecord | None:
        """Journal one frame exactly as it is on the wire; returns its record (None: no journal;
        its position is then :attr:`last_position`). ``envelope``: the frame decoded, when the
        caller has it (its metadata is then not parsed again).

        Malformed bytes are journaled too, flagged; this never refuses a frame.
        """
        journal = self.journal
        if journal is None:
            return None
        wall, mono, session = time.time_ns(), time.monotonic_ns(), self.session_id
        record = to_record(
            data, session_id=session, channel=channel, direction=direction, wall_ns=wall,
            mono_ns=mono, flags=flags, envelope=envelope,
        )  # fmt: skip
        self.last_position = journal.append_one(record)
        return record

    def frames(
        self, batch: list[tuple[bytes, int, Channel, Envelope | None]]
    ) -> list[tuple[int, FrameRecord]]:
        """Journal inbound frames ``(data, flags, channel, envelope or None)`` in one append;
        returns ``(position, record)`` per frame (empty without a journal)."""
        journal = self.journal
        if journal is None or not batch:
            return []
        wall, mono, session = time.time_ns(), time.monotonic_ns(), self.session_id
        records = [
            to_record(data, session_id=session, channel=channel, direction=Direction.IN,
                      wall_ns=wall, mono_ns=mono, flags=flags, envelope=envelope)
            for data, flags, channel, envelope in batch
        ]  # fmt: skip
        if len(records) == 1:  # most wake-ups: the appender's one-frame path
            self.last_position = position = journal.append_one(records[0])
            return [(position, records[0])]
        positions = journal.append(records)
        self.last_position = positions[-1]
        return list(zip(positions, records, strict=True))

    def correction(self, payload: bytes, run_id: str, mid: str) -> tuple[int, FrameRecord] | None:
        """Journal one correction row (docs/protocol.md, "Recorder decisions"): a new inbound
        order-channel row of kind ``Correction`` with seq 0; returns ``(position, record)``."""
        journal = self.journal
        if journal is None:
            return None
        record = FrameRecord(
            self.session_id, Channel.ORDER, Direction.IN, time.time_ns(), time.monotonic_ns(),
            run_id, 0, mid, CORRECTION_KIND, False, 0, payload,
        )  # fmt: skip
        self.last_position = journal.append_one(record)
        return self.last_position, record

    def open_gap(self, channel: Channel, run_id: str, from_seq: int, to_seq: int) -> int:
        """Record a detected gap in the ledger; returns its id (0 without journal)."""
        if self.journal is None:
            return 0
        return self.journal.open_gap(
            session_id=self.session_id,
            channel=channel,
            run_id=run_id,
            from_seq=from_seq,
            to_seq=to_seq,
            detected_position=self.last_position or None,
        )

    def update_gap(self, gap_id: int, state: str, reason: str = "") -> None:
        """Move a ledger gap to ``requested``, ``filled`` or ``unrecoverable``."""
        if self.journal is not None and gap_id:
            self.journal.update_gap(gap_id, state, reason=reason)

    def commit_idle(self, *, replies_due: bool) -> None:
        """The I/O thread is about to wait for its sockets: commit what the spool holds
        (``safe``), on this thread (no GIL hand-off to a flusher). Right after requests went
        out (``replies_due``) their replies take a network round trip, and the commit fits in
        it: :data:`COMMIT_ROWS` frames or :data:`COMMIT_AGE_S` are enough. Otherwise the next
        frame may come at once, and only frames older than ``safe_commit_ms`` are committed."""
        journal = self.journal
        if journal is None or journal.durability != "safe":
            return
        if replies_due:
            journal.commit_pending(COMMIT_ROWS, COMMIT_AGE_S)
        else:
            journal.commit_pending(IDLE_COMMIT_ROWS, self.safe_commit_s)

    def flush(self) -> None:
        """Commit what is pending (``safe`` and ``fast`` mode)."""
        if self.journal is not None:
            self.journal.flush()

    def close(self) -> None:
        """Close the journal if the tap opened it."""
        if self.journal is not None and self._owns:
            self.journal.close()
