"""Failures inside the simulator's loop: counted, and logged without flooding. Pure.

The socket server's loop serves every participant, so a bug in one of its steps (a request,
the heartbeats, the liquidity bots, the release of delayed deliveries, the fault layer, the
control socket) must not end it: the loop catches the failure, skips that step once and serves
on (docs/protocol.md, "Background work the simulator fails on"). A bug that fires on every tick
would then write a traceback every few milliseconds, so :class:`FailureLog` decides what each
failure is worth: the first of its kind — the step, the exception type and the line that raised
it — is logged with its traceback; later ones of that kind only count, and are reported as one
line at most every :data:`REPORT_EVERY_NS`, and once more at the loop's end (:meth:`pending`),
so none goes unreported. Time comes in as an argument.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class Step(enum.StrEnum):
    """The steps of the simulator's loop, as a failure names them."""

    ORDERS = "orders"
    """Reading the order channel, executing each request, the fault layer, sending replies."""
    CONTROL = "control"
    """Answering the control socket."""
    HEARTBEATS = "heartbeats"
    LIQUIDITY = "liquidity"
    """A background maker's or taker's request, from its choice to its replies."""
    DELAYED = "delayed"
    """Releasing deliveries a ``delay`` fault held back."""


REPORT_EVERY_NS = 10_000_000_000
"""The repeats of one kind of failure are reported at most this often (10 s)."""


def kind_of(error: BaseException) -> str:
    """A failure's kind: its exception type and the line that raised it (``"KeyError at
    engine.py:212"``); the same bug failing again has the same kind, whatever its message."""
    name = type(error).__qualname__
    tb = error.__traceback__
    if tb is None:
        return name
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{name} at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"


@dataclass(frozen=True, slots=True)
class Report:
    """What to log of a failure: the first of its kind (``repeats == 0``: with its traceback),
    or ``repeats`` failures of one kind in the ``over_ns`` since it was last reported, the last
    of them described by ``detail``."""

    step: Step
    kind: str
    repeats: int
    over_ns: int
    detail: str


class _Kind:
    __slots__ = ("detail", "reported_ns", "unreported")

    def __init__(self, now_ns: int, detail: str) -> None:
        self.reported_ns = now_ns
        self.unreported = 0
        self.detail = detail


class FailureLog:
    """Counts the loop's failures per step and decides which are logged (module docstring)."""

    def __init__(self, every_ns: int = REPORT_EVERY_NS) -> None:
        self.every_ns = every_ns
        self.counts: dict[Step, int] = {}
        """Failures per step since the loop started (only steps that failed)."""
        self._kinds: dict[tuple[Step, str], _Kind] = {}

    @property
    def total(self) -> int:
        """Every failure since the loop started."""
        return sum(self.counts.values())

    def note(self, step: Step, error: BaseException, now_ns: int, detail: str) -> Report | None:
        """Count one failure of ``step`` (``detail`` says what failed); return what to log of
        it, or None while its kind's repeats are still being counted."""
        self.counts[step] = self.counts.get(step, 0) + 1
        kind = kind_of(error)
        seen = self._kinds.get((step, kind))
        if seen is None:
            self._kinds[step, kind] = _Kind(now_ns, detail)
            return Report(step, kind, 0, 0, detail)
        seen.unreported += 1
        seen.detail = detail
        if now_ns - seen.reported_ns < self.every_ns:
            return None
        return self._report(step, kind, seen, now_ns)

    def pending(self, now_ns: int) -> list[Report]:
        """The repeats counted but not yet reported, one report per kind (at the loop's end)."""
        return [
            self._report(step, kind, seen, now_ns)
            for (step, kind), seen in self._kinds.items()
            if seen.unreported
        ]

    @staticmethod
    def _report(step: Step, kind: str, seen: _Kind, now_ns: int) -> Report:
        report = Report(step, kind, seen.unreported, now_ns - seen.reported_ns, seen.detail)
        seen.unreported = 0
        seen.reported_ns = now_ns
        return report
