"""Hand-built LX/1 journals: the exact frames of a scenario (a reconnect, a restart seen late)
that a simulator run produces only by chance, written through the ordinary journal API."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from recorder.core.frames import Channel, Direction, FrameRecord
from recorder.core.recovery import CORRECTION_KIND, Correction, correction_payload
from recorder.journal import open_journal
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.records import to_record

RUN_A = "a" * 32
RUN_B = "b" * 32


class JournalBuilder:
    """Appends frames session by session; the clocks advance 1 ms per frame and each run's
    order-channel and market seqs count from 1 unless a frame gives its own (a replay)."""

    def __init__(self, path: Path, participant: str = "bot") -> None:
        self.path = path
        self.participant = participant
        self.journal = open_journal(path, durability="strict")
        self.wall_ns = 1_700_000_000_000_000_000
        self.mono_ns = 10_000_000_000
        self.session_id = 0
        self.order_seq: dict[tuple[str, str], int] = {}
        self.market_seq: dict[str, int] = {}
        self._records: list[FrameRecord] = []

    def session(self, participant: str | None = None) -> int:
        """Start a session (a new connection) of ``participant`` (default: the builder's)."""
        self._flush()
        self.participant = participant or self.participant
        self.session_id = self.journal.start_session(
            venue="lx1", capture_point="test", participant=self.participant, wall_ns=self.wall_ns
        )
        return self.session_id

    def end(self, reason: str = "stopped") -> None:
        self._flush()
        self.journal.end_session(self.session_id, reason, wall_ns=self.wall_ns)

    def send(self, **body: Any) -> pb.Envelope:
        """An outbound request with a fresh mid, e.g. ``send(limit_order=pb.LimitOrder(...))``."""
        env = pb.Envelope(mid=uuid.uuid4().hex, **body)
        self._add(env, Channel.ORDER, Direction.OUT)
        return env

    def receive(
        self, mid: str, *, run: str = RUN_A, seq: int | None = None, replay: bool = False,
        **body: Any,
    ) -> pb.Envelope:  # fmt: skip
        """An inbound order-channel frame; ``seq`` (with ``replay``) for a frame re-sent."""
        if seq is None:
            key = (self.participant, run)
            seq = self.order_seq[key] = self.order_seq.get(key, 0) + 1
        env = pb.Envelope(mid=mid, seq=seq, run_id=run, is_replay=replay, **body)
        self._add(env, Channel.ORDER, Direction.IN)
        return env

    def market(self, *, run: str = RUN_A, **body: Any) -> pb.Envelope:
        seq = self.market_seq[run] = self.market_seq.get(run, 0) + 1
        env = pb.Envelope(seq=seq, run_id=run, **body)
        self._add(env, Channel.MARKET, Direction.IN)
        return env

    def correction(self, c: Correction, *, evidence_mid: str = "", run: str = RUN_A) -> bytes:
        """A reconciler's correction row (docs/protocol.md, "Recorder decisions"): inbound,
        order channel, kind ``Correction``, seq 0."""
        self.wall_ns += 1_000_000
        self.mono_ns += 1_000_000
        payload = correction_payload(
            c, evidence_mid=evidence_mid, run_id=run, wall_ns=self.wall_ns, mono_ns=self.mono_ns
        )
        self._records.append(
            FrameRecord(self.session_id, Channel.ORDER, Direction.IN, self.wall_ns, self.mono_ns,
                        run, 0, evidence_mid, CORRECTION_KIND, False, 0, payload)
        )  # fmt: skip
        return payload

    def close(self) -> Path:
        self._flush()
        self.journal.close()
        return self.path

    def _add(self, env: pb.Envelope, channel: Channel, direction: Direction) -> None:
        self.wall_ns += 1_000_000
        self.mono_ns += 1_000_000
        env.mversion, env.timestamp, env.ticks = "1.0", self.wall_ns, self.mono_ns
        self._records.append(
            to_record(env.SerializeToString(), session_id=self.session_id, channel=channel,
                      direction=direction, wall_ns=self.wall_ns, mono_ns=self.mono_ns)
        )  # fmt: skip

    def _flush(self) -> None:
        if self._records:
            self.journal.append(self._records)
            self._records = []


def ack(code: int = pb.ACK) -> dict[str, Any]:
    return {"status": pb.Status(code=code)}


def report(
    entry_id: str, status: int, size: int, *, is_ask: bool = False, price: int = 100,
    filled: int = 0, original: int = 10, trade_id: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """A private ``ActionReport`` of ``entry_id`` on contract 1 (a fill at its price)."""
    return {
        "action_report": pb.ActionReport(
            contract_id=1, entry_id=entry_id, status_type=status, is_ask=is_ask,
            price_in_cents=price, size=size, filled_size=filled,
            filled_price=price if filled else 0, original_size=original, trade_id=trade_id,
        )
    }  # fmt: skip
