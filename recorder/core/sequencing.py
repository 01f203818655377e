"""Per-stream sequencing: expected seq, gaps, duplicates, replays and held frames.

One :class:`StreamSequencer` watches one inbound stream (a session's order channel or market
channel). It is fed observations ``(seq, run_id, is_replay, item)`` and answers with a
:class:`Step`: the items to deliver now, in seq order, and the effects the I/O layer should carry
out. The item is opaque (a frame, a row, a position); the sequencer only stores it while holding.

Theory of operation
-------------------

The stream's state is the current ``run_id``, ``high`` (the highest seq seen in this run), the
sorted list of *open gaps* (ranges of missing seqs at or below ``high``) and, when holding, the
items that arrived behind the first gap.

* ``seq == high + 1`` with no open gap: the common case, delivered at once.
* ``seq > high + 1``: the seqs in between open a gap. On the order channel the effect is
  :class:`RequestReplay` (split into chunks of at most ``max_replay`` seqs, the LX/1 replay cap);
  on the market channel, which has no replay, it is :class:`ResyncBook` for every contract.
* a seq inside an open gap (a replayed frame, or a late one) fills it; a gap whose last seq is
  filled is closed (:class:`GapClosed` with ``filled=True``).
* a seq at or below ``high`` and in no open gap is a duplicate: ignored.
* a new ``run_id`` on a live frame is a run change (:class:`RunChanged`): the old run's gaps are
  declared unrecoverable, its held items are delivered in seq order, and the new run starts at
  seq 1 (a first seq above 1 opens a gap like any other jump). Frames of an earlier run that
  arrive later (late replays) are stale: ignored.

With ``hold=True`` (the "exchange" view, the order channel) items behind an open gap are held
and delivered, in seq order, when the gap before them closes or is declared unrecoverable with
:meth:`StreamSequencer.abandon` (a range of seqs, or all). With ``hold=False`` (the "as known"
view, and the market channel) everything that is not a duplicate or stale is delivered on
arrival; the gaps are still tracked and reported.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

REPLAY_CAP = 2500
"""The most messages one LX/1 ``MessageReplay`` returns (docs/protocol.md §3)."""


@dataclass(frozen=True, slots=True)
class RequestReplay:
    """Effect: ask the exchange to re-send order-channel seqs ``from_seq..to_seq`` (inclusive)."""

    run_id: str
    from_seq: int
    to_seq: int


@dataclass(frozen=True, slots=True)
class ResyncBook:
    """Effect: fetch ``GetBookState`` for ``contract_id`` and rebuild it; 0 = every contract."""

    contract_id: int


@dataclass(frozen=True, slots=True)
class GapOpened:
    """Effect (for the gap ledger): seqs ``from_seq..to_seq`` of ``run_id`` are missing."""

    run_id: str
    from_seq: int
    to_seq: int


@dataclass(frozen=True, slots=True)
class GapClosed:
    """Effect (for the gap ledger): a gap was filled, or declared unrecoverable."""

    run_id: str
    from_seq: int
    to_seq: int
    filled: bool


@dataclass(frozen=True, slots=True)
class RunChanged:
    """Effect: the exchange run changed; every open order of ``old_run_id`` is gone."""

    old_run_id: str
    new_run_id: str


Effect = RequestReplay | ResyncBook | GapOpened | GapClosed | RunChanged
"""Everything a sequencer can ask of the layer above."""


class Recovery(enum.Enum):
    """How a stream's gaps are recovered: replay (order channel) or book resync (market)."""

    REPLAY = "replay"
    RESYNC = "resync"


class Outcome(enum.Enum):
    """What happened to an observed item."""

    DELIVERED = "delivered"
    HELD = "held"
    DUPLICATE = "duplicate"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class Step(Generic[T]):
    """The answer to one observation: items to deliver now (seq order) and effects."""

    outcome: Outcome
    deliver: tuple[T, ...]
    effects: tuple[Effect, ...]


@dataclass(frozen=True, slots=True)
class OpenGap:
    """A range of missing seqs in the current run, inclusive."""

    run_id: str
    from_seq: int
    to_seq: int


_NO_EFFECTS: tuple[Effect, ...] = ()


def _lo(gap: list[int]) -> int:
    return gap[0]


class StreamSequencer(Generic[T]):
    """Sequencing of one inbound stream. See the module docstring for the rules."""

    __slots__ = ("_gaps", "_held", "_past_runs", "high", "hold", "max_replay", "recovery", "run_id")

    def __init__(
        self,
        recovery: Recovery = Recovery.REPLAY,
        *,
        hold: bool = True,
        max_replay: int = REPLAY_CAP,
    ) -> None:
        self.recovery = recovery
        self.hold = hold
        self.max_replay = max_replay
        self.run_id = ""
        """The current run ("" before the first frame)."""
        self.high = 0
        """The highest seq seen in the current run."""
        self._gaps: list[list[int]] = []
        self._held: dict[int, T] = {}
        self._past_runs: set[str] = set()

    # ------------------------------------------------------------------ queries

    @property
    def expected(self) -> int:
        """The next seq that would be delivered in order (the first missing one)."""
        return self._gaps[0][0] if self._gaps else self.high + 1

    @property
    def open_gaps(self) -> tuple[OpenGap, ...]:
        """The open gaps of the current run, lowest first."""
        return tuple(OpenGap(self.run_id, lo, hi) for lo, hi in self._gaps)

    @property
    def held_count(self) -> int:
        """How many items are held behind the first open gap."""
        return len(self._held)

    def is_fast(self, seq: int, run_id: str) -> bool:
        """True when ``seq`` is simply the next one (no gap, same run): the caller may deliver
        it directly and call :meth:`advance` instead of :meth:`observe`."""
        return seq == self.high + 1 and not self._gaps and run_id == self.run_id

    def is_next(self, seq: int, run_id: str) -> bool:
        """True when :meth:`observe` would only set ``high = seq`` and deliver the item, with no
        effect: ``seq`` is the next one of the current run and either no gap is open or the
        stream does not hold (its open gaps stay open; a stream whose gaps cannot be filled, the
        market channel, lives here after its first gap)."""
        return seq == self.high + 1 and run_id == self.run_id and not (self._gaps and self.hold)

    def advance(self) -> None:
        """Record the in-order seq checked by :meth:`is_fast` (the hot path of a projector)."""
        self.high += 1

    # ------------------------------------------------------------------ the transition

    def observe(self, seq: int, run_id: str, is_replay: bool, item: T) -> Step[T]:
        """Feed one frame's ``(seq, run_id, is_replay)``; ``item`` is what to deliver back."""
        if run_id != self.run_id:
            if is_replay or run_id in self._past_runs:
                return Step(Outcome.STALE, (), _NO_EFFECTS)
            return self._change_run(seq, run_id, item)
        gaps = self._gaps
        if seq == self.high + 1 and not gaps:
            self.high = seq
            return Step(Outcome.DELIVERED, (item,), _NO_EFFECTS)
        effects: list[Effect] = []
        if seq > self.high:
            if seq > self.high + 1:
                self._open(self.high + 1, seq - 1, effects)
            self.high = seq
        elif not self._fill(seq, effects):
            return Step(Outcome.DUPLICATE, (), tuple(effects))
        if not self.hold or not gaps or seq < gaps[0][0]:
            deliver = (item, *self._release()) if self.hold else (item,)
            return Step(Outcome.DELIVERED, deliver, tuple(effects))
        self._held[seq] = item
        return Step(Outcome.HELD, (), tuple(effects))

    def abandon(self, up_to: int | None = None, *, from_seq: int = 1) -> Step[T]:
        """Declare the missing seqs ``from_seq..up_to`` (from the first, up to the last when
        None) unrecoverable and deliver the items they were holding, in seq order. The missing
        seqs outside that range stay open: a gap reaching past either end keeps its remainder
        (a replay that came back without its range writes off that range only, not a lower gap
        whose own replay is still to come)."""
        effects: list[Effect] = []
        keep: list[list[int]] = []
        for lo, hi in self._gaps:
            first = max(lo, from_seq)
            last = hi if up_to is None else min(hi, up_to)
            if first > last:
                keep.append([lo, hi])
                continue
            if lo < first:
                keep.append([lo, first - 1])
            effects.append(GapClosed(self.run_id, first, last, filled=False))
            if last < hi:
                keep.append([last + 1, hi])
        self._gaps = keep
        return Step(Outcome.DELIVERED, self._release(), tuple(effects))

    def retire(self) -> Step[T]:
        """End the current run without a frame of the next one (the layer above learnt of the
        run change elsewhere, e.g. on the other channel): its gaps become unrecoverable, its
        held items are delivered, and its later frames are stale."""
        step = self.abandon()
        if self.run_id:
            self._past_runs.add(self.run_id)
        self.run_id = ""
        self.high = 0
        return step

    # ------------------------------------------------------------------ internals

    def _change_run(self, seq: int, run_id: str, item: T) -> Step[T]:
        old = self.run_id
        released = self.abandon()
        effects: list[Effect] = list(released.effects)
        if old:
            self._past_runs.add(old)
            effects.append(RunChanged(old, run_id))
        self.run_id = run_id
        self.high = 0
        step = self.observe(seq, run_id, False, item)
        return Step(step.outcome, released.deliver + step.deliver, (*effects, *step.effects))

    def _open(self, lo: int, hi: int, effects: list[Effect]) -> None:
        self._gaps.append([lo, hi])
        effects.append(GapOpened(self.run_id, lo, hi))
        if self.recovery is Recovery.REPLAY:
            start = lo
            while start <= hi:
                stop = min(hi, start + self.max_replay - 1)
                effects.append(RequestReplay(self.run_id, start, stop))
                start = stop + 1
        else:
            effects.append(ResyncBook(0))

    def _fill(self, seq: int, effects: list[Effect]) -> bool:
        """Remove ``seq`` from the open gaps; False when it is in none (a duplicate)."""
        gaps = self._gaps
        i = bisect_right(gaps, seq, key=_lo) - 1
        if i < 0 or gaps[i][1] < seq:
            return False
        lo, hi = gaps[i]
        if lo == hi:
            del gaps[i]
            effects.append(GapClosed(self.run_id, lo, hi, filled=True))
        elif seq == lo:
            gaps[i][0] = seq + 1
        elif seq == hi:
            gaps[i][1] = seq - 1
        else:
            gaps[i][1] = seq - 1
            gaps.insert(i + 1, [seq + 1, hi])
        return True

    def _release(self) -> tuple[T, ...]:
        """Pop the held items that no open gap precedes, in seq order."""
        held = self._held
        if not held:
            return ()
        limit = self._gaps[0][0] if self._gaps else None
        ready = sorted(s for s in held if limit is None or s < limit)
        return tuple(held.pop(s) for s in ready)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self, encode_item: Callable[[T], Any]) -> dict[str, Any]:
        """The sequencer's state as plain JSON-able values (held items through ``encode_item``)."""
        return {
            "run_id": self.run_id,
            "high": self.high,
            "gaps": [list(g) for g in self._gaps],
            "held": [[s, encode_item(self._held[s])] for s in sorted(self._held)],
            "past_runs": sorted(self._past_runs),
        }

    def restore(self, data: dict[str, Any], decode_item: Callable[[Any], T]) -> None:
        """Load a state written by :meth:`snapshot` (policy settings are the constructor's)."""
        self.run_id = data["run_id"]
        self.high = data["high"]
        self._gaps = [list(g) for g in data["gaps"]]
        self._held = {s: decode_item(v) for s, v in data["held"]}
        self._past_runs = set(data["past_runs"])
