"""The embedded capture tap: the SDK's side of ARCHITECTURE.md rule 1.

:class:`Tap` journals every frame the context sends (before ``socket.send``) and receives
(before any handler sees it), one journal session per connection lifetime
(``capture_point="sdk"``, the participant's z85 public key, both endpoints), and keeps the gap
ledger. With ``journal=None`` (benchmarks' baseline) it journals nothing and costs nothing.

In ``strict`` mode :meth:`Tap.frame` returns after the row is committed; in ``safe`` mode after
it is in the journal's spool (it survives ``kill -9``; committed within 30 ms); in
``fast`` mode after it is queued (committed within ``fast_flush_ms``).
"""

from __future__ import annotations

import time

from recorder.core.frames import Channel, Direction, FrameRecord
from recorder.core.recovery import CORRECTION_KIND
from recorder.journal import Journal
from recorder.journal.wire import WireFrame
from recorder.venues.lx import lx1_pb2 as pb

Envelope = pb.Envelope

VENUE = "lx1"
COMMIT_ROWS = 512
COMMIT_AGE_S = 0.03
"""At its idle moments the I/O thread commits the spool (hands it to the journal's committer
process, ``[client] committer``, the default; or commits it itself) once this many frames wait
or the oldest has waited this long: rarely, and before the journal's flusher would (it commits what
waits 4 times ``safe_commit_ms``, 40 ms at the default, in its own thread, beside this one for
the GIL). Rare commits keep them off the round trips: one order at a time, committing every 32
frames or 5 ms added ~45 µs at p50 over every 50 ms (a commit of a few frames costs nearly what
one of hundreds does, and its CPU, on two cores shared with the exchange and ZeroMQ's I/O
threads, lands on the round trips of the moment). The frames are safe in the spool from their
append; the commit makes them visible to other readers."""
CAPTURE_POINT = "sdk"
_IN = Direction.IN


class Tap:
    """Journals one context's frames, sessions and gaps (no-op without a journal)."""

    __slots__ = ("_owns", "journal", "last_position", "participant", "session_id")

    def __init__(self, journal: Journal | None, participant: str, *, owns: bool) -> None:
        self.journal = journal
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
    ) -> WireFrame | None:
        """Journal one frame exactly as it is on the wire; returns it as journaled (None: no
        journal; its position is then :attr:`last_position`). ``envelope``: the frame decoded,
        when the caller has it (its commit then reads the metadata from it, not the bytes).

        The frame is appended as it came (``append_wires``): its metadata is read when it is
        committed, off the frame's path. Malformed bytes are journaled too, flagged; this never
        refuses a frame.
        """
        journal = self.journal
        if journal is None:
            return None
        frame: WireFrame = (
            self.session_id, channel, direction, time.time_ns(), time.monotonic_ns(), flags,
            data, envelope,
        )  # fmt: skip
        self.last_position = journal.append_wires((frame,))
        return frame

    def frames(
        self, batch: list[tuple[bytes, int, Channel, Envelope | None]]
    ) -> tuple[int, list[WireFrame]]:
        """Journal inbound frames ``(data, flags, channel, envelope or None)`` in one append;
        returns the first one's position and the frames as journaled (the others' positions
        follow it; ``(0, [])`` without a journal)."""
        journal = self.journal
        if journal is None or not batch:
            return 0, []
        session, wall, mono, inbound = self.session_id, time.time_ns(), time.monotonic_ns(), _IN
        frames: list[WireFrame] = [
            (session, channel, inbound, wall, mono, flags, data, envelope)
            for data, flags, channel, envelope in batch
        ]
        first = journal.append_wires(frames)
        self.last_position = first + len(frames) - 1
        return first, frames

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

    def commit_idle(self) -> None:
        """The I/O thread is about to wait for its sockets: commit what the spool holds
        (``safe``: hand it to the committer process, or commit it on this thread), once
        :data:`COMMIT_ROWS` frames wait or the oldest has waited :data:`COMMIT_AGE_S`."""
        journal = self.journal
        if journal is not None and journal.durability == "safe":
            journal.commit_pending(COMMIT_ROWS, COMMIT_AGE_S)

    def flush(self) -> None:
        """Commit what is pending (``safe`` and ``fast`` mode)."""
        if self.journal is not None:
            self.journal.flush()

    def close(self) -> None:
        """Close the journal if the tap opened it."""
        if self.journal is not None and self._owns:
            self.journal.close()
