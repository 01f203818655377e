"""Audit: one order's complete story, and a report for a time window, straight from the journal.

* :func:`order_story` — every frame that concerns one request: the frames carrying its mid
  (request, resends, ACK, reports, replays) and the frames that name it (a ``Batch`` holding it,
  a ``BatchAcks`` entry, a cancel or cancel-replace of it and its reports, snapshots listing it),
  decoded, with both clocks. A replacement (``CancelReplace``) has the side and ``client_ref``
  of the order it replaces, looked up in the journal (the story holds the replacement's frames
  only, and LX/1's ``CancelReplace`` carries neither: docs/protocol.md).
* :func:`audit_report` — a Markdown or HTML document for compliance: the journal's identity and
  ``verify``'s verdict, sessions, traffic, every request's lifecycle, the gap ledger (how each gap
  was closed) and malformed frames, for ``since <= wall clock < until`` (a replacement in the
  window has the side and ``client_ref`` of its order, sent before the window or in it).

ACK latencies are on the monotonic clock where both frames come from one capture point
(:mod:`recorder.lifecycle`).
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from recorder import __version__
from recorder.core.frames import Direction, Frame
from recorder.journal import FrameFilter, Journal
from recorder.journal.frames_view import frame_view
from recorder.journal.verify import VerifyReport, verify
from recorder.lifecycle import Lifecycle, LifecycleBuilder, builder_for

_MENTIONING_KINDS = (
    "Batch",
    "BatchAcks",
    "CancelOrder",
    "CancelReplace",
    "ActionReport",
    "MessageReplay",
    "BookStateSnapshot",
    "OpenOrdersSnapshot",
)

Relation = Literal["carries mid", "names mid"]


@dataclass(frozen=True, slots=True)
class StoryFrame:
    """One frame of an order's story and how it relates to the order."""

    frame: Frame
    relation: Relation
    view: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OrderStory:
    """Everything the journal holds about one request."""

    mid: str
    frames: tuple[StoryFrame, ...]
    lifecycle: Lifecycle | None


def find_mid_by_client_ref(journal: Journal, client_ref: str) -> list[str]:
    """The mids of the orders sent with ``client_ref`` (usually one)."""
    needle = client_ref.encode()
    mids: list[str] = []
    for frame in journal.reader.containing(("LimitOrder", "Batch"), needle):
        builder = LifecycleBuilder()
        builder.apply(frame)
        mids += [m for m, life in builder.lifecycles.items() if life.client_ref == client_ref]
    return mids


def order_story(journal: Journal, mid: str) -> OrderStory:
    """The frames that carry or name ``mid``, in journal order, with the request's lifecycle."""
    direct = {f.position: f for f in journal.by_mid(mid)}
    related: dict[int, Frame] = {}
    needle = mid.encode()
    for frame in journal.reader.containing(_MENTIONING_KINDS, needle):
        if frame.position not in direct:
            related[frame.position] = frame
    story = [
        StoryFrame(f, "carries mid" if p in direct else "names mid", frame_view(f))
        for p, f in sorted({**direct, **related}.items())
    ]
    builder = builder_for(journal.sessions()).feed(s.frame for s in story)
    _replaced_terms(journal, builder)
    return OrderStory(mid, tuple(story), builder.lifecycles.get(mid))


def _replaced_terms(journal: Journal, builder: LifecycleBuilder) -> None:
    """Give each replacement the side and ``client_ref`` of the order it replaces: from that
    order's lifecycle, given its own first (they are in the order sent), or from its request in
    the journal when ``builder`` did not read it."""
    lives = builder.lifecycles
    for life in lives.values():
        if life.replaces:
            origin = lives.get(life.replaces) or _placed(journal, life.replaces)
            if origin is not None:
                life.is_ask = life.is_ask if origin.is_ask is None else origin.is_ask
                life.client_ref = origin.client_ref


def _placed(journal: Journal, entry_id: str) -> Lifecycle | None:
    """The request that placed order ``entry_id`` (its ``LimitOrder``, alone or in a
    ``Batch``), through the replacements it went through; None when the journal lacks it."""
    seen: set[str] = set()
    while entry_id not in seen:
        seen.add(entry_id)
        sent = {f.position: f for f in journal.by_mid(entry_id) if f.direction is Direction.OUT}
        sent.update((f.position, f) for f in journal.reader.containing("Batch", entry_id.encode()))
        life = LifecycleBuilder().feed(f for _, f in sorted(sent.items())).lifecycles.get(entry_id)
        if life is None or not life.replaces:
            return life
        entry_id = life.replaces
    return None


# ---------------------------------------------------------------------- the window report


@dataclass(frozen=True, slots=True)
class AuditData:
    """What an audit report says, before it is rendered."""

    journal: str
    generated: str
    since: str
    until: str
    report: VerifyReport
    sessions: list[dict[str, Any]]
    traffic: list[tuple[str, str, str, int]]
    lifecycles: list[Lifecycle]
    gaps: list[dict[str, Any]]
    malformed: list[dict[str, Any]]
    replayed: int


def collect(journal: Journal, since_ns: int | None, until_ns: int | None) -> AuditData:
    """Gather the facts of an audit report for ``since_ns <= wall_ns < until_ns``."""
    flt = FrameFilter(since_ns=since_ns, until_ns=until_ns)
    traffic: Counter[tuple[str, str, str]] = Counter()
    malformed: list[dict[str, Any]] = []
    replayed = 0
    builder = builder_for(journal.sessions())
    for frame in journal.select(flt):
        traffic[(frame.channel.value, frame.direction.value, frame.kind or "(malformed)")] += 1
        replayed += frame.is_replay
        if frame.malformed:
            malformed.append(
                {
                    "position": frame.position,
                    "time": _iso(frame.wall_ns),
                    "bytes": len(frame.payload),
                    "head": frame.payload[:24].hex(),
                }
            )
        builder.apply(frame)
    _replaced_terms(journal, builder)
    sessions = [
        {
            "id": s.id,
            "capture point": s.capture_point,
            "participant": s.participant[:16],
            "started": _iso(s.started_wall_ns),
            "ended": _iso(s.ended_wall_ns) if s.ended_wall_ns else "",
            "end reason": s.end_reason or "",
        }
        for s in journal.sessions()
        if _overlaps(s.started_wall_ns, s.ended_wall_ns, since_ns, until_ns)
    ]
    gaps = [
        {
            "id": g.id,
            "stream": f"session {g.session_id} {g.channel} run {g.run_id[:8]}",
            "seq": f"{g.from_seq}..{g.to_seq}",
            "detected": _iso(g.detected_wall_ns),
            "requested": _iso(g.requested_wall_ns) if g.requested_wall_ns else "",
            "closed": _iso(g.closed_wall_ns) if g.closed_wall_ns else "",
            "state": g.state,
            "reason": g.reason,
        }
        for g in journal.gaps()
        if _overlaps(g.detected_wall_ns, g.closed_wall_ns, since_ns, until_ns)
    ]
    return AuditData(
        journal=str(journal.path),
        generated=_iso(None),
        since=_iso(since_ns) if since_ns is not None else "the first frame",
        until=_iso(until_ns) if until_ns is not None else "the last frame",
        report=verify(journal),
        sessions=sessions,
        traffic=sorted((c, d, k, n) for (c, d, k), n in traffic.items()),
        lifecycles=list(builder.lifecycles.values()),
        gaps=gaps,
        malformed=malformed,
        replayed=replayed,
    )


def audit_report(
    journal: Journal,
    since_ns: int | None = None,
    until_ns: int | None = None,
    *,
    fmt: Literal["markdown", "html"] = "markdown",
) -> str:
    """The audit report for a window, as Markdown or as a standalone HTML page."""
    data = collect(journal, since_ns, until_ns)
    sections = _sections(data)
    if fmt == "html":
        return _html(data, sections)
    return _markdown(data, sections)


Section = tuple[str, str, list[str], list[list[Any]]]
"""(title, paragraph, table headers, table rows)."""


def _sections(data: AuditData) -> list[Section]:
    report = data.report
    verdict = (
        "PASSED: the hash chain is intact, every stream is continuous and no gap is open."
        if report.ok
        else f"FAILED at position {report.first_bad_position}."
    )
    checks = [[b.position, b.kind, b.message] for b in report.breaks]
    orders = [
        [
            life.mid,
            life.kind + (f" (batch {life.batch_mid[:8]})" if life.batch_mid else ""),
            life.client_ref,
            life.contract_id or "",
            "" if life.is_ask is None else ("sell" if life.is_ask else "buy"),
            life.size or "",
            life.price_in_cents or "",
            _iso(life.sent_ns),
            _us(life.ack_latency_ns),
            life.ack_code,
            life.filled_size or "",
            life.outcome or "working",
            life.resends or "",
        ]
        for life in data.lifecycles
    ]
    return [
        (
            "Verification",
            f"{verdict} {report.frames:,} frames in the journal, head position "
            f"{report.head_position}, head hash `{report.head_hash}`; {report.replayed:,} "
            f"replayed, {report.duplicates:,} duplicates, {report.malformed:,} malformed.",
            ["position", "check", "finding"],
            checks,
        ),
        (
            "Sessions",
            "Capture sessions active in the window.",
            list(data.sessions[0]) if data.sessions else ["id"],
            [list(s.values()) for s in data.sessions],
        ),
        (
            "Traffic",
            f"Frames journaled in the window ({data.replayed:,} of them replayed).",
            ["channel", "direction", "kind", "frames"],
            [list(t) for t in data.traffic],
        ),
        (
            "Requests",
            "Every request sent in the window: first reply and outcome (ACK latency in µs).",
            [
                "mid",
                "kind",
                "client ref",
                "contract",
                "side",
                "size",
                "price",
                "sent",
                "ack µs",
                "first reply",
                "filled",
                "outcome",
                "resends",
            ],
            orders,
        ),
        (
            "Gaps",
            "The gap ledger: every sequence gap detected, when it was requested and how it closed.",
            list(data.gaps[0]) if data.gaps else ["id"],
            [list(g.values()) for g in data.gaps],
        ),
        (
            "Malformed frames",
            "Frames that were not valid LX/1 envelopes, journaled exactly as they came.",
            ["position", "time", "bytes", "head"],
            [list(m.values()) for m in data.malformed],
        ),
    ]


def _markdown(data: AuditData, sections: list[Section]) -> str:
    lines = [
        f"# Audit report — {data.journal}",
        "",
        f"Window: {data.since} to {data.until}. Generated {data.generated} by recorder "
        f"{__version__}.",
    ]
    for title, text, headers, rows in sections:
        lines += ["", f"## {title}", "", text, ""]
        if rows:
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
        else:
            lines.append("_None._")
    return "\n".join(lines) + "\n"


def _html(data: AuditData, sections: list[Section]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Audit report — {e(data.journal)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        "th{background:#f3f3f3}code{font-size:90%}</style></head><body>",
        f"<h1>Audit report — {e(data.journal)}</h1>",
        f"<p>Window: {e(data.since)} to {e(data.until)}. Generated {e(data.generated)} by "
        f"recorder {e(__version__)}.</p>",
    ]
    for title, text, headers, rows in sections:
        parts.append(f"<h2>{e(title)}</h2><p>{e(text)}</p>")
        if not rows:
            parts.append("<p><em>None.</em></p>")
            continue
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{e(_text(c))}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _overlaps(start: int, end: int | None, since: int | None, until: int | None) -> bool:
    return (until is None or start < until) and (since is None or end is None or end >= since)


def _iso(wall_ns: int | None) -> str:
    moment = datetime.now(UTC) if wall_ns is None else datetime.fromtimestamp(wall_ns / 1e9, UTC)
    return moment.isoformat(timespec="microseconds")


def _us(ns: int | None) -> str:
    return "" if ns is None else f"{ns / 1000:,.0f}"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _md(value: Any) -> str:
    return _text(value).replace("|", "\\|")
