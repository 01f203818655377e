"""pandas DataFrames from a journal, for notebooks and exports (the ``analysis`` extra).

Every table is read from the journal alone, through the same code as the rest of the recorder
(ARCHITECTURE.md: audit, analysis and replay are all the same act, so they cannot disagree):

* :func:`frames` — one row per journaled frame (metadata, both clocks; payload optional);
* :func:`orders` — one row per request: :mod:`recorder.lifecycle` (sent, acked, first fill and
  finished as timestamps, ACK latency and time to fill);
* :func:`fills` — the projector's fills (:func:`recorder.projection.project`), with their time
  and participant;
* :func:`positions` — position and realised P&L per participant and contract after each fill
  (FIFO, integer cents, the projector's :class:`~recorder.core.positions.PositionLedger`): the
  P&L curve;
* :func:`arrivals` — the book top of the order's contract at the moment each order was sent, as
  the bot knew it (the last ``BookTop`` journaled before the order), for slippage;
  :func:`slippage` joins it to the fills;
* :func:`gaps` — the journal's gap ledger;
* :func:`export` — all of them as Parquet or CSV files plus ``manifest.json`` (row counts, the
  sha256 of each file, the journal's head position and hash).

Times are ``datetime64[ns, UTC]`` columns named ``*_time`` next to the raw ``*_ns`` integers
(the wall clock); ``*_mono_ns`` are the monotonic clock of the frame's capture point. Durations
are in microseconds (``*_us``), measured on the monotonic clock of the capture point that
journaled both frames, and on the wall clocks only where the frames come from different capture
points (their monotonic clocks count from different origins): the ``*_clock`` column next to a
duration says which (``mono`` or ``wall``; :mod:`recorder.lifecycle`). A wall clock stepped or
slewed while a request waited (NTP) thus changes no duration of one capture point. Prices are
integer cents, as on the wire. Every column has its declared dtype, so an empty table exports
with the schema of a full one. pandas is imported here only, never by the core package.

Participants: a journal may hold several (sessions of several bots, or of a simulator's
clients). The projector reads one participant's streams (their seqs run per participant), so
the fill-based tables (:func:`fills`, :func:`positions`, :func:`slippage`) project each
participant's sessions apart and name the ``participant`` (the sessions' key; ``""`` where a
session names none) on every row; the P&L curve runs per participant.

Missing values, one convention per dtype:

* ``Int64`` (nullable integers: ``acked_ns``, ``first_fill_ns``, ``finished_ns``, their
  ``*_mono_ns``, the gap ledger's ``requested_wall_ns``, ``closed_wall_ns``,
  ``detected_position`` and ``contract_id``, ``top_position``) hold ``<NA>`` where there is no
  value, and every nanosecond where there is one; their ``*_time`` column is ``NaT`` there;
* ``float64`` (``ack_latency_us``, ``time_to_fill_us``, the arrival's ``bid``, ``ask``,
  ``mid_price``, ``spread_cents``, ``top_age_us``, and whatever ``slippage`` finds no arrival
  for) hold ``NaN``;
* ``str`` (pandas' own: ``object`` in pandas 2, the string dtype in pandas 3) is never missing:
  ``""`` says "none" — as on the wire, where LX/1 leaves a string empty — for the ``side`` of
  an order whose side is unknown, no ``client_ref`` / ``batch_mid``, no first reply yet
  (``ack_code``, ``run_id``, ``ack_latency_clock``), no fill (``time_to_fill_clock``), no
  book top (``top_age_clock``), a request still working (``outcome``), a frame without ``mid``
  or ``run_id``, a gap without ``reason``. Test them with ``== ""``, not ``isna()``. (A CSV export
  cannot tell ``""`` from missing: ``read_csv`` reads both as NaN; Parquet keeps them apart.)
"""

from __future__ import annotations

import hashlib
import heapq
import importlib
import json
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from recorder import __version__
from recorder.core.positions import PositionLedger
from recorder.core.projector import Projector
from recorder.core.state import State
from recorder.errors import RecorderError
from recorder.journal import Journal, open_journal
from recorder.journal.verify import verify
from recorder.lifecycle import (
    TRADE_KINDS,
    LatencyClock,
    Lifecycle,
    Stamp,
    builder_for,
    elapsed,
    session_clocks,
)
from recorder.projection import project
from recorder.venues.lx import lx1_pb2 as pb

__all__ = [
    "TABLES",
    "AnalysisUnavailable",
    "DataFrame",
    "arrivals",
    "export",
    "fills",
    "frames",
    "gaps",
    "orders",
    "positions",
    "slippage",
    "tables",
]

DataFrame = Any
"""A ``pandas.DataFrame`` (pandas ships no type information; typed loosely here)."""

JournalLike = Journal | str | Path

TABLES = ("frames", "orders", "fills", "positions", "arrivals", "slippage", "gaps")
"""The tables :func:`tables` and :func:`export` produce, in this order."""


class AnalysisUnavailable(RecorderError):
    """pandas (or pyarrow, for Parquet) is not installed: ``pip install 'recorder[analysis]'``."""


def _pd() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError as exc:
        raise AnalysisUnavailable(
            "the analysis tables need pandas: pip install 'recorder[analysis]'"
        ) from exc


@contextmanager
def _opened(journal: JournalLike) -> Iterator[Journal]:
    if isinstance(journal, Journal):
        yield journal
        return
    j = open_journal(journal, create=False, readonly=True)
    try:
        yield j
    finally:
        j.close()


def _table(rows: list[tuple[Any, ...]], dtypes: dict[str, str]) -> Any:
    """``rows`` as a DataFrame with the declared column dtypes (``Int64`` where a value may be
    missing). pandas infers dtypes from the values, so an empty table would get ``object``
    columns, and :func:`_times` ``datetime64[s, UTC]`` from them: an empty day's export would
    have another Parquet schema than a full day's. The values go in as objects, never through
    an inferred dtype: integers with a ``None`` among them would be inferred ``float64``, which
    keeps only multiples of 256 of a nanosecond clock (1.7e18 is past 2**53)."""
    df = _pd().DataFrame(rows, columns=list(dtypes), dtype=object)
    return df.astype(dtypes)


def _times(df: Any, *columns: str) -> Any:
    pd = _pd()
    for column in columns:
        name = column.removesuffix("_ns").removesuffix("_wall") or "wall"
        df[name + "_time"] = pd.to_datetime(df[column], unit="ns", utc=True)
    return df


# ---------------------------------------------------------------------- tables


def frames(journal: JournalLike, *, payload: bool = False) -> DataFrame:
    """One row per frame, in position order: ``position, session_id, channel, direction,
    wall_ns, wall_time, mono_ns, run_id, seq, mid, kind, is_replay, flags, size`` (+ ``payload``
    bytes when asked)."""
    dtypes = {"position": "int64", "session_id": "int64", "channel": "str", "direction": "str",
              "wall_ns": "int64", "mono_ns": "int64", "run_id": "str", "seq": "int64",
              "mid": "str", "kind": "str", "is_replay": "bool", "flags": "int64",
              "size": "int64"}  # fmt: skip
    with _opened(journal) as j:
        rows = [(*r[:10], bool(r[10]), r[11], len(r[12])) for r in j.rows()]
        data = [r[12] for r in j.rows()] if payload else None
    df = _table(rows, dtypes)
    if data is not None:
        df["payload"] = data
    return _times(df, "wall_ns")


_ORDER_DTYPES = {
    "mid": "str", "kind": "str", "session_id": "int64", "contract_id": "int64", "side": "str",
    "size": "int64", "price_in_cents": "int64", "client_ref": "str", "batch_mid": "str",
    "run_id": "str", "resends": "int64", "ack_code": "str", "outcome": "str",
    "filled_size": "int64", "sent_ns": "int64", "acked_ns": "Int64", "first_fill_ns": "Int64",
    "finished_ns": "Int64", "sent_mono_ns": "int64", "acked_mono_ns": "Int64",
    "first_fill_mono_ns": "Int64", "ack_latency_us": "float64", "ack_latency_clock": "str",
    "time_to_fill_us": "float64", "time_to_fill_clock": "str", "sent_position": "int64",
    "frames": "int64",
}  # fmt: skip


def _lifecycles(journal: Journal) -> list[Lifecycle]:
    """The journal's lifecycles, each session's frames in its participant's streams (a replay
    after a reconnect re-sends frames journaled in an earlier session) and on its capture
    point's clock."""
    return list(builder_for(journal.sessions()).feed(journal.frames()).lifecycles.values())


def _side(life: Lifecycle) -> str:
    return "" if life.is_ask is None else ("ask" if life.is_ask else "bid")


def _us(ns: int | None) -> float | None:
    return None if ns is None else ns / 1000


def _clock(clock: LatencyClock | None) -> str:
    return "" if clock is None else clock.value


def orders(journal: JournalLike) -> DataFrame:
    """One row per request (:class:`recorder.lifecycle.Lifecycle`), in the order they were sent:
    ``sent_time``, ``acked_time``, ``first_fill_time``, ``finished_time`` (and the monotonic
    ``*_mono_ns`` of the first three), ``ack_latency_us`` and ``time_to_fill_us`` with the
    clock each was measured on, the outcome, the order's terms, ``resends`` (a ``Batch``'s
    inner messages count the batch's resends: they went out with it) and ``frames``."""
    with _opened(journal) as j:
        lives = _lifecycles(j)
    rows = [
        (
            life.mid, life.kind, life.session_id, life.contract_id, _side(life), life.size,
            life.price_in_cents, life.client_ref, life.batch_mid, life.run_id, life.resends,
            life.ack_code, life.outcome, life.filled_size, life.sent_ns, life.acked_ns,
            life.first_fill_ns, life.finished_ns, life.sent_mono_ns, life.acked_mono_ns,
            life.first_fill_mono_ns, _us(life.ack_latency_ns), _clock(life.ack_latency_clock),
            _us(life.time_to_fill_ns), _clock(life.time_to_fill_clock), life.sent_position,
            len(life.positions),
        )
        for life in lives
    ]  # fmt: skip
    df = _table(rows, _ORDER_DTYPES)
    return _times(df, "sent_ns", "acked_ns", "first_fill_ns", "finished_ns")


def _wall_at(journal: Journal, positions: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for position in sorted(set(positions)):
        for row in journal.rows(position, position + 1):
            out[position] = row[4]
    return out


_Projection = tuple[str, State]
"""A participant and the projection of its sessions."""


def _projections(journal: Journal, state: State | None) -> list[_Projection]:
    """One projection per participant: the journal's own (``state`` when given) when it holds
    one participant; else each participant's sessions projected apart, as the projector reads
    one participant's streams (order-channel seqs run per participant)."""
    sessions: dict[str, set[int]] = {}
    for s in journal.sessions():
        sessions.setdefault(s.participant, set()).add(s.id)
    if len(sessions) <= 1:
        return [(next(iter(sessions), ""), state or project(journal))]
    if state is not None:
        names = ", ".join(repr(p[:16]) for p in sessions)
        raise ValueError(
            f"journal {journal.path} holds {len(sessions)} participants ({names}) and a state "
            "is one projection of them all: leave state out, each participant is projected "
            "from its own sessions"
        )
    out = []
    for participant, ids in sessions.items():
        projector = Projector()
        projector.apply_rows(row for row in journal.rows() if row[1] in ids)
        out.append((participant, projector.state()))
    return out


def fills(journal: JournalLike, *, state: State | None = None) -> DataFrame:
    """The projector's own fills, in the order they happened: ``position, wall_ns, wall_time,
    participant, trade_id, contract_id, entry_id, side, is_ask, price_in_cents, size,
    client_ref``. ``state`` (a projection of the journal, to share one) only for a journal of
    one participant: one of several is projected from its own sessions."""
    with _opened(journal) as j:
        return _fills(j, _projections(j, state))


def _fills(journal: Journal, projections: list[_Projection]) -> DataFrame:
    # each participant's fills in the order its projection applied them (a frame held behind a
    # gap comes after the frames that filled it), the participants' interleaved by position
    everyone = list(
        heapq.merge(
            *([(f, who) for f in state.fills] for who, state in projections),
            key=lambda x: x[0].position,
        )
    )
    walls = _wall_at(journal, [f.position for f, _ in everyone])
    refs = {o.entry_id: o.client_ref for _, state in projections for o in state.orders}
    rows = [
        (f.position, walls.get(f.position, 0), who, f.trade_id, f.contract_id, f.entry_id,
         "ask" if f.is_ask else "bid", f.is_ask, f.price_in_cents, f.size,
         refs.get(f.entry_id, ""))
        for f, who in everyone
    ]  # fmt: skip
    dtypes = {"position": "int64", "wall_ns": "int64", "participant": "str",
              "trade_id": "int64", "contract_id": "int64", "entry_id": "str", "side": "str",
              "is_ask": "bool", "price_in_cents": "int64", "size": "int64",
              "client_ref": "str"}  # fmt: skip
    return _times(_table(rows, dtypes), "wall_ns")


def positions(journal: JournalLike, *, state: State | None = None) -> DataFrame:
    """Position and realised P&L of the fill's participant in the fill's contract after each
    fill (the P&L curve): ``position, wall_time, participant, contract_id, net_size,
    avg_price_in_cents, open_cost_cents, realised_pnl_cents, bought, sold,
    total_realised_pnl_cents`` (the participant's, over all its contracts). ``state``: as in
    :func:`fills`."""
    return _positions(fills(journal, state=state))


def _positions(fills_df: DataFrame) -> DataFrame:
    ledgers: dict[tuple[str, int], PositionLedger] = {}
    totals: dict[str, int] = {}
    rows = []
    for f in fills_df.itertuples(index=False):
        key = (f.participant, f.contract_id)
        ledger = ledgers.setdefault(key, PositionLedger(f.contract_id))
        before = ledger.realised
        ledger.fill(bool(f.is_ask), int(f.price_in_cents), int(f.size))
        total = totals[f.participant] = totals.get(f.participant, 0) + ledger.realised - before
        p = ledger.view()
        rows.append(
            (f.position, f.wall_ns, f.participant, f.contract_id, p.net_size,
             p.avg_price_in_cents, p.open_cost_cents, p.realised_pnl_cents, p.bought, p.sold,
             total)
        )  # fmt: skip
    dtypes = {"position": "int64", "wall_ns": "int64", "participant": "str",
              "contract_id": "int64", "net_size": "int64", "avg_price_in_cents": "float64",
              "open_cost_cents": "int64", "realised_pnl_cents": "int64", "bought": "int64",
              "sold": "int64", "total_realised_pnl_cents": "int64"}  # fmt: skip
    return _times(_table(rows, dtypes), "wall_ns")


def arrivals(journal: JournalLike) -> DataFrame:
    """The book top of each order's contract when the order was sent, as the bot knew it: the
    last ``BookTop`` of that contract journaled before the order, in the current run.

    One row per ``LimitOrder`` / ``CancelReplace`` (inner batch orders included): ``mid, kind,
    contract_id, side, price_in_cents, size, sent_position, sent_time, bid, bid_size, ask,
    ask_size, mid_price, spread_cents`` (NaN when a side is empty or no top was seen yet) and
    ``top_position`` / ``top_age_us`` / ``top_age_clock`` (which ``BookTop``, how old it was
    when the order was sent, and on which clock: see the module docstring).
    """
    with _opened(journal) as j:
        clocks = session_clocks(j.sessions())
        lives = sorted(
            (life for life in _lifecycles(j) if life.kind in TRADE_KINDS),
            key=lambda x: x.sent_position,
        )
        sends = iter(lives)
        pending = next(sends, None)
        tops: dict[int, _Top] = {}
        run = ""
        rows = []
        for row in j.rows():
            while pending is not None and pending.sent_position <= row[0]:
                rows.append(_arrival(pending, tops.get(pending.contract_id), clocks))
                pending = next(sends, None)
            if pending is None:
                break
            if row[2] != "market" or row[3] != "in" or row[11]:
                continue
            if row[6] != run:
                run = row[6]
                tops.clear()  # a new run: the old books are gone
            if row[9] == "BookTop":
                t = pb.Envelope.FromString(row[12]).book_top
                stamp = Stamp(row[1], row[4], row[5])
                tops[t.contract_id] = (t.bid, t.bid_size, t.ask, t.ask_size, row[0], stamp)
        while pending is not None:
            rows.append(_arrival(pending, tops.get(pending.contract_id), clocks))
            pending = next(sends, None)
    dtypes = {"mid": "str", "kind": "str", "contract_id": "int64", "side": "str",
              "price_in_cents": "int64", "size": "int64", "sent_position": "int64",
              "sent_ns": "int64", "bid": "float64", "bid_size": "int64", "ask": "float64",
              "ask_size": "int64", "mid_price": "float64", "spread_cents": "float64",
              "top_position": "Int64", "top_age_us": "float64",
              "top_age_clock": "str"}  # fmt: skip
    return _times(_table(rows, dtypes), "sent_ns")


_Top = tuple[int, int, int, int, int, Stamp]
"""A ``BookTop``: bid, bid size, ask, ask size, its position and when it was journaled."""


def _arrival(life: Lifecycle, top: _Top | None, clocks: Mapping[int, Hashable]) -> tuple[Any, ...]:
    if top is None:
        bid, bid_size, ask, ask_size, position, age, clock = 0, 0, 0, 0, None, None, ""
    else:
        bid, bid_size, ask, ask_size, position, seen = top
        sent = Stamp(life.session_id, life.sent_ns, life.sent_mono_ns)
        age_ns, on = elapsed(seen, sent, clocks)
        age, clock = age_ns / 1000, on.value
    return (
        life.mid, life.kind, life.contract_id, _side(life),
        life.price_in_cents, life.size, life.sent_position, life.sent_ns,
        bid or None, bid_size, ask or None, ask_size,
        (bid + ask) / 2 if bid and ask else None, (ask - bid) if bid and ask else None,
        position, age, clock,
    )  # fmt: skip


def slippage(journal: JournalLike, *, state: State | None = None) -> DataFrame:
    """Each fill against the book top when its order was sent: ``slippage_cents`` is what the
    fill cost against the arrival mid (positive = worse: bought above / sold below it), and
    ``vs_touch_cents`` against the far touch (the ask for a buy, the bid for a sell).
    ``state``: as in :func:`fills`."""
    return _slippage(fills(journal, state=state), arrivals(journal))


def _slippage(f: DataFrame, arrived: DataFrame) -> DataFrame:
    columns = ["mid", "bid", "ask", "mid_price", "sent_time", "top_age_us", "top_age_clock"]
    df = f.merge(arrived[columns].rename(columns={"mid": "entry_id"}), on="entry_id", how="left")
    sign = df["is_ask"].map({True: -1, False: 1}).astype("int64")
    df["slippage_cents"] = (df["price_in_cents"] - df["mid_price"]) * sign
    touch = df["ask"].where(~df["is_ask"], df["bid"])
    df["vs_touch_cents"] = (df["price_in_cents"] - touch) * sign
    return df


def gaps(journal: JournalLike) -> DataFrame:
    """The gap ledger: every gap detected, how it was closed (``filled`` / ``unrecoverable``,
    the reason) and when, with ``detected_time``, ``requested_time`` and ``closed_time``."""
    dtypes = {"id": "int64", "session_id": "int64", "channel": "str", "run_id": "str",
              "from_seq": "int64", "to_seq": "int64", "contract_id": "Int64", "state": "str",
              "detected_wall_ns": "int64", "detected_position": "Int64",
              "requested_wall_ns": "Int64", "closed_wall_ns": "Int64",
              "reason": "str"}  # fmt: skip
    with _opened(journal) as j:
        rows = [tuple(getattr(g, c) for c in dtypes) for g in j.gaps()]
    df = _table(rows, dtypes)
    df["missing"] = df["to_seq"] - df["from_seq"] + 1
    return _times(df, "detected_wall_ns", "requested_wall_ns", "closed_wall_ns")


def tables(journal: JournalLike) -> dict[str, DataFrame]:
    """Every table of :data:`TABLES` (one projection per participant shared by the fill-based
    ones)."""
    with _opened(journal) as j:
        own_fills = _fills(j, _projections(j, None))
        arrived = arrivals(j)
        return {
            "frames": frames(j),
            "orders": orders(j),
            "fills": own_fills,
            "positions": _positions(own_fills),
            "arrivals": arrived,
            "slippage": _slippage(own_fills, arrived),
            "gaps": gaps(j),
        }


# ---------------------------------------------------------------------- export


def export(
    journal: JournalLike,
    out_dir: Path | str,
    fmt: Literal["parquet", "csv"] = "parquet",
) -> dict[str, Any]:
    """Write every table to ``out_dir`` as ``<table>.parquet`` or ``<table>.csv`` and a
    ``manifest.json``; returns the manifest (journal path, head position and hash, verify's
    verdict, and per table: file, rows, columns, sha256 of the file)."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be parquet or csv, not {fmt!r}")
    if fmt == "parquet":
        try:
            importlib.import_module("pyarrow")
        except ImportError as exc:
            raise AnalysisUnavailable(
                "Parquet export needs pyarrow: pip install 'recorder[analysis]' (or --format csv)"
            ) from exc
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _opened(journal) as j:
        head_position, head_hash = j.reader.head()
        report = verify(j)
        data = tables(j)
        path = str(j.path)
    manifest: dict[str, Any] = {
        "journal": path,
        "head_position": head_position,
        "head_hash": head_hash.hex(),
        "verify_ok": report.ok,
        "recorder_version": __version__,
        "format": fmt,
        "tables": {},
    }
    for name, df in data.items():
        target = out / f"{name}.{fmt}"
        if fmt == "parquet":
            df.to_parquet(target, index=False)
        else:
            df.to_csv(target, index=False)
        manifest["tables"][name] = {
            "file": target.name,
            "rows": len(df),
            "columns": [str(c) for c in df.columns],
            "sha256": _sha256(target),
        }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
