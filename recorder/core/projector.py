"""The projector: journal frames in, books / own orders / fills / positions / gaps out.

Theory of operation
-------------------

:meth:`Projector.apply_row` takes one journal row — the tuple of
:meth:`recorder.journal.Journal.rows`, ``(position, session_id, channel, direction, wall_ns,
mono_ns, run_id, seq, mid, kind, is_replay, flags, payload)`` — in position order.
:meth:`Projector.apply` does the same for a :class:`~recorder.core.frames.Frame`.

* Outbound order-channel frames are the bot's requests: a ``LimitOrder`` (or the replacement of
  a ``CancelReplace``, with the replaced order's side; of no side, until an exchange report
  states it, when that order is not in the projection: docs/protocol.md, "Recorder decisions")
  creates an own order in state ``sent``; a ``MessageReplay`` is remembered so that its
  rejection can close the gaps it was meant to fill.
* Inbound frames go through one :class:`~recorder.core.sequencing.StreamSequencer` per channel
  first. In the ``exchange`` view the order channel holds frames behind an open gap until it is
  filled or declared unrecoverable; in the ``known`` view nothing is held. The market channel is
  never held: LX/1 cannot replay it, books are resynced from snapshots instead.
* Only two journal facts declare order-channel seqs unrecoverable: a range ``MessageReplay``
  refused with ``REJECT_REPLAY_UNAVAILABLE`` in the current run (the exchange no longer holds
  them), and a run change (the run is gone). A complete ``ReplayDone`` that leaves seqs of its
  range missing does **not**: its replayed frames were lost on the way, the exchange still holds
  them, and the SDK's reconciler asks again, so the missing frames may still reach the journal.
  The gap stays open (the ``exchange`` view keeps holding what follows it) until a later replay
  fills it, a refusal or a run change. Writing it off instead and then applying the late frames
  out of seq order would not be sound: own-order transitions are not commutative (a partial
  fill after the order's size-0 report is an illegal transition, fills would be out of trade
  order), and an order-channel ``BookStateSnapshot`` applied late would move a book's clock
  back. Ignoring the late frames would leave fills in the journal that the state never shows.
  Either way the state would not converge to the exchange's, so it waits. The price: a range
  the reconciler gives up on without a refusal (its tries exhausted) keeps the ``exchange`` view
  held until a refusal or a run change; on restart the reconciler takes the still-open gap over
  from this projector and asks for it again.
  Streams are keyed by channel alone: LX/1 seqs run per (participant, run), across
  reconnections, and a journal is one participant's capture point.
* Delivered frames are dispatched by kind through one table of handlers: public action reports
  build the books in clock order (:mod:`recorder.core.book`), private ones drive the own-order
  state machine (:mod:`recorder.core.orders`), fills and positions
  (:mod:`recorder.core.positions`); ``BookTop`` and ``OpenOrdersSnapshot`` are checked against the
  projection and a disagreement becomes an anomaly with the frame's position.
* A frame with a new ``run_id`` is a run change: books restart empty, working orders become
  ``run_cancelled``. So is a correction row of a new run, even while that run's first frames
  are held behind a gap: the reconciler writes it only once it has seen the run.

Nothing here raises on bad input: undecodable payloads, illegal transitions and mismatches are
anomalies in the state. The whole state serializes to canonical JSON (:meth:`Projector.dump`),
whose SHA-256 is the digest; :meth:`Projector.load` restores it exactly.
:meth:`Projector.to_checkpoint` writes the same state split so that a restart parses only its
working part (:meth:`Projector.from_checkpoint`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf.message import DecodeError

from recorder.core.book import Book, ReportResult
from recorder.core.frames import Channel, Frame, FrameFlag
from recorder.core.orders import OPEN_STATUSES, Order
from recorder.core.own_orders import OwnOrders
from recorder.core.recovery import CORRECTION_KIND
from recorder.core.sequencing import (
    GapClosed,
    GapOpened,
    Outcome,
    Recovery,
    Step,
    StreamSequencer,
)
from recorder.core.state import (
    Anomaly,
    AnomalyKind,
    BookView,
    GapStatus,
    GapView,
    State,
    View,
)
from recorder.venues.lx import lx1_pb2 as pb

Row = tuple[Any, ...]
"""A journal row: ``(position, session_id, channel, direction, wall_ns, mono_ns, run_id, seq,
mid, kind, is_replay, flags, payload)``."""

FORMAT = 2
"""Version of the serialized state; a checkpoint of another format is not loaded (the state is
rebuilt from the journal instead). 2: a complete ``ReplayDone`` no longer writes a gap off and an
older ``BookStateSnapshot`` no longer moves a book back, so a format-1 checkpoint may hold a state
that replaying the journal would no longer give."""

_parse = pb.Envelope.FromString
_MALFORMED = int(FrameFlag.MALFORMED)
_ACK = pb.ACK
_REJECT_MIN = 10
_REPLAY_UNAVAILABLE = pb.REJECT_REPLAY_UNAVAILABLE


class Projector:
    """Applies journal frames in position order and keeps the projected state.

    ``view`` picks the timeline (:class:`View`). The projector is pure: feed it rows, read
    :meth:`state`; :meth:`dump` / :meth:`load` serialize it for checkpoints.
    """

    def __init__(self, view: View = View.EXCHANGE) -> None:
        self.view = View(view)
        self.position = 0
        self.run_id = ""
        self._past_runs: set[str] = set()
        self.books: dict[int, Book] = {}
        self._replays: dict[str, list[Any]] = {}
        self._anomalies: list[list[Any]] = []
        self.own = OwnOrders(self._anomalies)
        self._gaps: list[list[Any]] = []
        """[channel, contract_id, run_id, from, to, status, detected, closed, lost]"""
        self._contracts: dict[int, list[Any]] = {}
        hold = self.view is View.EXCHANGE
        self._order_seq: StreamSequencer[Row] = StreamSequencer(Recovery.REPLAY, hold=hold)
        self._market_seq: StreamSequencer[Row] = StreamSequencer(Recovery.RESYNC, hold=False)
        self._order_handlers: dict[str, Callable[[Row], None]] = {
            "ActionReport": self._on_private_report,
            "Status": self._on_status,
            "BatchAcks": self._on_batch_acks,
            "BookStateSnapshot": self._on_book_snapshot,
            "OpenOrdersSnapshot": self._on_open_orders,
            "ContractDetail": self._on_contract,
        }
        self._market_handlers: dict[str, Callable[[Row], None]] = {
            "ActionReport": self._on_public_report,
            "BookTop": self._on_book_top,
        }
        self._handlers = {"order": self._order_handlers, "market": self._market_handlers}

    # ------------------------------------------------------------------ feeding

    def apply(self, frame: Frame) -> None:
        """Apply one journaled frame (the next in position order)."""
        self.apply_row(
            (
                frame.position,
                frame.session_id,
                frame.channel.value,
                frame.direction.value,
                frame.wall_ns,
                frame.mono_ns,
                frame.run_id,
                frame.seq,
                frame.mid,
                frame.kind,
                frame.is_replay,
                frame.flags,
                frame.payload,
            )
        )

    def apply_rows(self, rows: Iterable[Row]) -> int:
        """Apply rows in position order; returns how many were applied.

        The hot loop: an in-order market frame of the current run (most of a journal) is
        handled inline; everything else goes through :meth:`apply_row`.
        """
        n = 0
        apply_row = self.apply_row
        market = self._market_seq
        order = self._order_seq
        order_handlers = self._order_handlers
        replays = self._replays
        books = self.books
        parse = _parse
        inserted = pb.INSERTED
        run = self.run_id  # only apply_row (the slow path) changes these three
        market_run, order_run = market.run_id, order.run_id
        for row in rows:
            n += 1
            position, _, channel, direction, _, _, run_id, seq, mid, kind, replay, flags, data = row
            if (
                channel == "market"
                and seq == market.high + 1
                and run_id == run
                and run_id == market_run
                and not flags
                and direction == "in"
            ):
                market.high = seq
                self.position = position
                if kind != "ActionReport" and kind != "BookTop":
                    continue  # a heartbeat
                try:
                    env = parse(data)
                except DecodeError as exc:
                    self._anomaly(AnomalyKind.MALFORMED, f"{kind} does not parse: {exc}")
                    continue
                if kind == "BookTop":
                    self._book_top(env.book_top)
                    continue
                r = env.action_report
                book = books.get(r.contract_id)
                clock = r.clock
                if book is None or clock != book.clock + 1 or book.pending:
                    self._public_report(r)
                    continue
                # Book._apply, inlined: this is most of a journal
                book.clock = clock
                entry_id = r.entry_id
                size = r.size
                entry = book.entries.get(entry_id)
                if entry is not None:
                    side = book.asks if entry[0] else book.bids
                    level = side[entry[1]]
                    if size:
                        level[entry_id] = size
                    else:
                        del level[entry_id]
                        if not level:
                            del side[entry[1]]
                        del book.entries[entry_id]
                elif size and r.status_type == inserted:
                    book._apply(entry_id, r.is_ask, r.price_in_cents, size, inserted)
            elif (
                channel == "order"
                and seq == order.high + 1
                and run_id == run
                and run_id == order_run
                and direction == "in"
                and not replay
                and not flags
                and not order._gaps
                and kind != "ReplayDone"
                and mid not in replays
            ):
                order.high = seq
                self.position = position
                handler = order_handlers.get(kind)
                if handler is not None:
                    try:
                        handler(row)
                    except DecodeError as exc:
                        self._anomaly(AnomalyKind.MALFORMED, f"{kind} does not parse: {exc}")
            else:
                apply_row(row)
                run = self.run_id
                market_run, order_run = market.run_id, order.run_id
        return n

    def apply_row(self, row: Row) -> None:
        """Apply one journal row (see :data:`Row`), the next in position order."""
        self.position = row[0]
        if row[9] == CORRECTION_KIND:
            run_id = row[6]
            if run_id and run_id != self.run_id and run_id not in self._past_runs:
                # The reconciler writes a correction in a run only once it has seen that run:
                # the change came before, even if the run's first frames are still held here
                # behind a gap (its seq 1 lost before this connection existed).
                self._change_run(run_id)
            self._on_correction(row)
            return
        if row[11] & _MALFORMED:
            self._anomaly(AnomalyKind.MALFORMED, f"{row[2]} {row[3]} frame flagged malformed")
            return
        channel = row[2]
        if row[3] == "out":
            if channel == "order":
                self._on_request(row)
            return
        if channel == "order":
            seqr = self._order_seq
            if row[8] in self._replays or row[9] == "ReplayDone":
                self._before_sequencing(row)
        else:
            seqr = self._market_seq
        seq = row[7]
        if seq == seqr.high + 1 and not row[10] and seqr.is_fast(seq, row[6]):
            seqr.high = seq
            self._deliver(row)
        else:
            step = seqr.observe(seq, row[6], row[10], row)
            if step.outcome is Outcome.STALE:
                self._stale(row)
            self._step(seqr, channel, step)

    def _step(self, seqr: StreamSequencer[Row], channel: str, step: Step[Row]) -> None:
        for effect in step.effects:
            if isinstance(effect, GapOpened):
                self._open_gap(channel, 0, effect.run_id, effect.from_seq, effect.to_seq, False)
                if seqr.recovery is Recovery.RESYNC:  # market: no replay, books are resynced
                    self._step(seqr, channel, seqr.abandon())
            elif isinstance(effect, GapClosed):
                self._gap_closed(channel, effect, seqr)
        for row in step.deliver:
            self._deliver(row)

    def _open_gap(
        self, channel: str, contract_id: int, run_id: str, lo: int, hi: int, lost: bool
    ) -> None:
        """A new entry in the gap ledger: seqs of a channel, or clocks of ``contract_id``."""
        entry = [channel, contract_id, run_id, lo, hi, GapStatus.OPEN.value, self.position, 0, lost]
        self._gaps.append(entry)

    def _gap_closed(self, channel: str, effect: GapClosed, seqr: StreamSequencer[Row]) -> None:
        """Close the ledger entry holding ``effect``'s range once no part of it is open."""
        for gap in self._gaps:
            if (
                gap[5] == "open"
                and gap[0] == channel
                and gap[1] == 0
                and gap[2] == effect.run_id
                and gap[3] <= effect.from_seq <= gap[4]
            ):
                gap[8] = gap[8] or not effect.filled
                lo, hi = gap[3], gap[4]
                if seqr.run_id != effect.run_id or not any(
                    g.from_seq <= hi and g.to_seq >= lo for g in seqr.open_gaps
                ):
                    gap[5] = (GapStatus.UNRECOVERABLE if gap[8] else GapStatus.FILLED).value
                    gap[7] = self.position
                return

    def _before_sequencing(self, row: Row) -> None:
        """Replay outcomes act on the gaps before the frame itself is sequenced: a frame that
        closes a gap may sit behind it."""
        seqr = self._order_seq
        try:
            env = _parse(row[12])
        except DecodeError:
            return
        if row[9] == "ReplayDone":
            # The replay is over, but a complete ReplayDone that left seqs of its range missing
            # writes nothing off: the exchange still holds those seqs (their replayed frames
            # were lost on the way) and the reconciler asks again, so they may still arrive.
            # Abandoning here would release the held frames ahead of them, and the late frames
            # would then be duplicates (ignored) or, if applied, applied out of seq order, which
            # own-order transitions and book clocks do not allow. The gap stays open (and holds
            # in the exchange view) until it is filled, a replay of it is refused as
            # unavailable, or the run changes: state stays a pure function of the journal that
            # converges to the exchange's (see the module docstring).
            self._replays.pop(row[8], None)  # None: a replay by mids, or not ours
        elif row[9] == "Status" and env.status.code >= _REJECT_MIN and row[8] in self._replays:
            run_id, _, to_seq = self._replays.pop(row[8])
            if env.status.code == _REPLAY_UNAVAILABLE and run_id == seqr.run_id:
                self._step(seqr, "order", seqr.abandon(to_seq or None))

    def _deliver(self, row: Row) -> None:
        run_id = row[6]
        if run_id != self.run_id and run_id:
            if run_id in self._past_runs:
                self._stale(row)
                return
            self._change_run(run_id)
        handler = self._handlers[row[2]].get(row[9])
        if handler is not None:
            try:
                handler(row)
            except DecodeError as exc:
                self._anomaly(AnomalyKind.MALFORMED, f"{row[9]} payload does not parse: {exc}")

    def _stale(self, row: Row) -> None:
        """A frame of a replaced run: an anomaly; a private fill not yet seen is still recorded
        (the money moved even though the order is gone)."""
        self._anomaly(AnomalyKind.STALE_RUN, f"{row[9]} of replaced run {row[6]}")
        if row[2] != "order" or row[3] != "in" or row[9] != "ActionReport":
            return
        try:
            r = _parse(row[12]).action_report
        except DecodeError:
            return
        if r.status_type == pb.CROSS and not self.own.has_fill(r.entry_id, r.trade_id):
            self.own.report(r, row[0])

    def _change_run(self, run_id: str) -> None:
        for channel, seqr in (("order", self._order_seq), ("market", self._market_seq)):
            if seqr.run_id == self.run_id and self.run_id:
                # frames of the old run held behind a gap happened before the change
                self._step(seqr, channel, seqr.retire())
        if self.run_id:
            self._past_runs.add(self.run_id)
        self.run_id = run_id
        self.books.clear()
        for gap in self._gaps:
            if gap[5] == "open" and gap[1]:
                gap[5], gap[7] = GapStatus.UNRECOVERABLE.value, self.position
        self._replays.clear()
        self.own.run_change(self.position)

    def _anomaly(self, kind: AnomalyKind, detail: str) -> None:
        self._anomalies.append([self.position, kind.value, detail])

    # ------------------------------------------------------------------ requests (out)

    def _on_request(self, row: Row) -> None:
        try:
            env = _parse(row[12])
        except DecodeError:
            self._anomaly(AnomalyKind.MALFORMED, f"outbound {row[9]} does not parse")
            return
        if row[9] == "MessageReplay":
            b = env.message_replay
            if not b.mids:  # a replay by mids says nothing about the seqs it did not list
                self._replays[env.mid] = [b.run_id, b.from_seq, b.to_seq]
        else:
            self.own.request(env, row[0])

    # ------------------------------------------------------------------ order channel (in)

    def _on_correction(self, row: Row) -> None:
        """A recorder correction row (docs/protocol.md, "Recorder decisions"): the named open
        order is closed (size 0) or takes the exchange's open size; others are left alone."""
        try:
            r = _parse(row[12]).action_report
        except DecodeError:
            self._anomaly(AnomalyKind.MALFORMED, "a correction row does not parse")
            return
        order = self.own.get(r.entry_id)
        if order is None or order.status not in OPEN_STATUSES:
            return
        if r.size == 0:
            self.own.report(r, row[0], correction=True)
        else:
            order.open_size, order.updated = r.size, row[0]

    def _on_status(self, row: Row) -> None:
        self.own.answer(row[8], _parse(row[12]).status.code, row[0])

    def _on_batch_acks(self, row: Row) -> None:
        answer, position = self.own.answer, row[0]
        for ack in _parse(row[12]).batch_acks.acks:
            answer(ack.mid, ack.code, position)

    def _on_private_report(self, row: Row) -> None:
        self.own.report(_parse(row[12]).action_report, row[0])

    def _on_open_orders(self, row: Row) -> None:
        self.own.open_orders_snapshot(_parse(row[12]).open_orders_snapshot, row[0])

    def _on_book_snapshot(self, row: Row) -> None:
        s = _parse(row[12]).book_state_snapshot
        book = self._book(s.contract_id)
        if s.clock <= book.clock and (s.clock or book.clock):
            # Not ahead of the book: a book at clock c already reflects every public report up
            # to c, so an older snapshot would only move it back. It happens when the exchange
            # view held the snapshot behind an order-channel gap while the market channel (never
            # held) moved on, or when a replay re-sends it.
            return
        book.load_snapshot(
            s.clock, ((e.entry_id, e.is_ask, e.price_in_cents, e.size) for e in s.entries)
        )
        if book.synced:
            self._close_clock_gaps(s.contract_id)

    def _on_contract(self, row: Row) -> None:
        c = _parse(row[12]).contract_detail
        self._contracts[c.contract_id] = [c.label, c.tick_cents, c.multiplier, c.active]

    # ------------------------------------------------------------------ market channel (in)

    def _book(self, contract_id: int) -> Book:
        book = self.books.get(contract_id)
        if book is None:
            book = self.books[contract_id] = Book(contract_id)
        return book

    def _on_public_report(self, row: Row) -> None:
        self._public_report(_parse(row[12]).action_report)

    def _public_report(self, r: pb.ActionReport) -> None:
        cid = r.contract_id
        book = self.books.get(cid)
        if book is None:
            book = self.books[cid] = Book(cid)
        before = book.clock
        result = book.apply_report(
            r.clock, r.entry_id, r.is_ask, r.price_in_cents, r.size, r.status_type
        )
        if result is ReportResult.GAP:
            self._open_gap("market", cid, self.run_id, before + 1, r.clock - 1, True)
        elif result is ReportResult.APPLIED and before + 1 != book.clock and book.synced:
            self._close_clock_gaps(cid)

    def _close_clock_gaps(self, contract_id: int) -> None:
        for gap in self._gaps:
            if gap[1] == contract_id and gap[5] == "open":
                gap[5], gap[7] = GapStatus.RESYNCED.value, self.position

    def _on_book_top(self, row: Row) -> None:
        self._book_top(_parse(row[12]).book_top)

    def _book_top(self, t: pb.BookTop) -> None:
        book = self.books.get(t.contract_id)
        if book is None or not book.synced or book.clock != t.clock:
            return
        mine = book.top_tuple()
        theirs = (t.bid, t.bid_size, t.ask, t.ask_size)
        if mine != theirs:
            self._anomaly(
                AnomalyKind.BOOK_TOP_MISMATCH,
                f"contract {t.contract_id} clock {t.clock}: BookTop {theirs}, projected {mine}",
            )

    # ------------------------------------------------------------------ reading

    def open_orders(self) -> list[Order]:
        """Own orders acknowledged and not finished, in the order they were sent."""
        return self.own.open_values()

    def live_orders(self) -> list[Order]:
        """Own orders not finished: sent and unanswered, or open (what a restarting client must
        still track), in the order they were sent."""
        return [o.value() for o in sorted(self.own.orders.values(), key=_sent) if o.live]

    def state(self) -> State:
        """The projected state as values, with its digest."""
        blob = self.dump()
        books = {
            cid: BookView(cid, b.clock, b.synced, b.levels(False), b.levels(True), b.l3())
            for cid, b in sorted(self.books.items())
        }
        orders = tuple(self.own.values())
        return State(
            position=self.position,
            view=self.view,
            run_id=self.run_id,
            books=books,
            orders=orders,
            open_orders=tuple(o for o in orders if o.status in OPEN_STATUSES),
            fills=tuple(self.own.fill_values()),
            positions={cid: p.view() for cid, p in sorted(self.own.positions.items())},
            gaps=tuple(
                GapView(Channel(g[0]), g[1], g[2], g[3], g[4], GapStatus(g[5]), g[6], g[7])
                for g in self._gaps
            ),
            anomalies=tuple(Anomaly(a[0], AnomalyKind(a[1]), a[2]) for a in self._anomalies),
            sha256=hashlib.sha256(blob).hexdigest(),
        )

    def digest(self) -> str:
        """SHA-256 (hex) of :meth:`dump`."""
        return hashlib.sha256(self.dump()).hexdigest()

    # ------------------------------------------------------------------ serialization

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain JSON-able values."""
        return {
            "format": FORMAT,
            "view": self.view.value,
            "position": self.position,
            "run_id": self.run_id,
            "past_runs": sorted(self._past_runs),
            "books": [b.snapshot() for _, b in sorted(self.books.items())],
            "own": self.own.snapshot(),
            "replays": sorted([k, *v] for k, v in self._replays.items()),
            "anomalies": self._anomalies,
            "gaps": self._gaps,
            "contracts": sorted([k, *v] for k, v in self._contracts.items()),
            "order_seq": self._order_seq.snapshot(_row_out),
            "market_seq": self._market_seq.snapshot(_row_out),
        }

    def dump(self) -> bytes:
        """Canonical serialization: compact JSON with sorted keys (deterministic)."""
        return json.dumps(self.snapshot(), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def load(cls, data: bytes) -> Projector:
        """Rebuild a projector from :meth:`dump` bytes (raises ``ValueError`` if not one)."""
        d = json.loads(data)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"not a projector state of format {FORMAT}")
        return cls._from_snapshot(d, own=True)

    @classmethod
    def _from_snapshot(cls, d: dict[str, Any], *, own: bool) -> Projector:
        p = cls(View(d["view"]))
        p.position = d["position"]
        p.run_id = d["run_id"]
        p._past_runs = set(d["past_runs"])
        p.books.update((b["contract_id"], Book.restore(b)) for b in d["books"])
        p._replays = {r[0]: r[1:] for r in d["replays"]}
        p._anomalies[:] = d["anomalies"]
        if own:
            p.own.restore(d["own"])
        p._gaps = d["gaps"]
        p._contracts = {c[0]: c[1:] for c in d["contracts"]}
        p._order_seq.restore(d["order_seq"], _row_in)
        p._market_seq.restore(d["market_seq"], _row_in)
        return p

    def to_checkpoint(self) -> tuple[bytes, bytes]:
        """``(state, sha256(state))`` for a checkpoint.

        ``state`` is one line of canonical JSON — the whole state with the own orders' *hot*
        part only — then a newline and the *cold* part (finished orders and fills, see
        :mod:`recorder.core.own_orders`), so that :meth:`from_checkpoint` parses only what a
        restart needs. Identical states give identical bytes.
        """
        hot, cold = self.own.checkpoint_parts()
        snap = self.snapshot()
        snap["own"] = hot
        blob = json.dumps(snap, separators=(",", ":"), sort_keys=True).encode() + b"\n" + cold
        return blob, hashlib.sha256(blob).digest()

    @classmethod
    def from_checkpoint(cls, state: bytes, digest: bytes) -> Projector:
        """Restore from :meth:`to_checkpoint`; ``ValueError`` when the digest does not verify
        or the bytes are not a projector state of this format."""
        if hashlib.sha256(state).digest() != digest:
            raise ValueError("checkpoint digest does not match its state")
        head, newline, cold = state.partition(b"\n")
        try:
            d = json.loads(head)
            if not newline or not isinstance(d, dict) or d.get("format") != FORMAT:
                raise ValueError(f"not a projector checkpoint of format {FORMAT}")
            p = cls._from_snapshot(d, own=False)
            p.own.restore_checkpoint(d["own"], cold)
        except (KeyError, IndexError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"checkpoint state is not a projector state: {exc!r}") from exc
        return p


def _sent(order: Any) -> tuple[int, str]:
    return order.created, order.entry_id


def _row_out(row: Row) -> list[Any]:
    """A held row as a checkpoint keeps it: ``is_replay`` as the journal's 0/1 (a live writer
    hands a bool), so the checkpoint is the one a projection of the journal writes."""
    return [*row[:10], int(row[10]), row[11], row[12].hex()]


def _row_in(data: list[Any]) -> Row:
    return (*data[:12], bytes.fromhex(data[12]))
