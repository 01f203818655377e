"""The recovery planner, pure: what to resend, replay, resync or correct after an outage.

The I/O layer (the SDK's reconciler, :mod:`recorder.client.reconcile`) gathers the *facts* of a
moment when local state may have diverged from the exchange's — the bot started on an existing
journal, the order channel reconnected, a gap was detected, the exchange became available again,
a replay was refused — and :func:`plan` answers with the *actions* that bring the two back
together. Nothing here reads a clock, a socket or a database.

Theory of operation
-------------------

The facts are the projector's view (the run the local state is in, the highest order-channel
seq seen in it, its open gaps, the open orders, the contracts), the reconnect's view (the
current run if a message of it arrived, the in-flight mids from the MID tracker) and two flags
(a market gap, a refused replay). :data:`RULES` is an ordered table: each row is a condition on
the facts and the actions it contributes; a plan is the concatenation of the rows that hold.

=====================  ===========================================  ==============================
rule                   when                                         actions
=====================  ===========================================  ==============================
``run_change``         the current run is known and differs from    :class:`CancelRunOrders` for
                       the local state's run                        every open order of the old run
``resend_unacked``     a request awaits its ACK (S1)                :class:`Resend` (same mid)
``replay_range``       order-channel seqs are missing in the run    :class:`ReplayRange`, chunks
                       the exchange still holds                     of at most ``REPLAY_CAP`` seqs
``replay_mids``        ACKed requests of the run have no final      :class:`ReplayMids`, chunks of
                       reply (S2) and the trigger is a reconnect    at most ``MIDS_PER_REPLAY``
                       or a start                                   mids
``open_orders``        a replay was refused (the run is not held),  :class:`GetOpenOrders`
                       or on a start / reconnect (it also tells     (``correct=True`` only when
                       the exchange where the connection is)        a replay was refused)
``resync_books``       a market gap, or a start / reconnect (the    :class:`GetBookState` per
                       market channel was not heard meanwhile)      contract
=====================  ===========================================  ==============================

After a ``GetOpenOrders`` with ``correct=True``, :func:`corrections` compares the projected open
orders with the exchange's snapshot: every difference is a :class:`Correction` naming the order
it changes. The reconciler journals each as a new row (kind :data:`CORRECTION_KIND`,
:func:`correction_payload`) that the projector applies — never an update of an old row
(docs/protocol.md, "Recorder decisions").
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from recorder.core.sequencing import REPLAY_CAP
from recorder.venues.lx import lx1_pb2 as pb

MIDS_PER_REPLAY = 200
"""The most mids one ``MessageReplay`` by mids lists (a batch's worth)."""

CORRECTION_KIND = "Correction"
"""The journal ``kind`` of a correction row (an inbound order-channel row with seq 0)."""


class Trigger(enum.StrEnum):
    """Why a plan is made."""

    STARTUP = "startup"
    """``Context.start()`` on a journal with history (crash recovery)."""
    RECONNECT = "reconnect"
    """The order channel was reconnected after it went silent."""
    GAP = "gap"
    """A sequencer detected missing seqs."""
    AVAILABLE = "available"
    """The exchange is heard again after it was unavailable."""
    REPLAY_UNAVAILABLE = "replay_unavailable"
    """The exchange refused a ``MessageReplay`` (``REJECT_REPLAY_UNAVAILABLE``)."""


class CorrectionKind(enum.StrEnum):
    """What a correction does to one local order."""

    CLOSE = "close"
    """Open locally, not open at the exchange: closed (``cancelled``, size 0)."""
    RESIZE = "resize"
    """Open on both sides with different open sizes: the exchange's size is taken."""
    ADOPT = "adopt"
    """Open at the exchange, unknown or closed locally: recorded (the projector adopts it from
    the snapshot itself)."""
    RUN_CANCELLED = "run_cancelled"
    """Open in a run the exchange replaced: cancelled by the run change."""


@dataclass(frozen=True, slots=True)
class InFlight:
    """One tracked request: its mid, kind, whether it was ACKed, and in which run."""

    mid: str
    kind: str
    acked: bool
    run_id: str = ""


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An open order as one side sees it (the projection, or the exchange's snapshot)."""

    entry_id: str
    contract_id: int
    is_ask: bool
    price_in_cents: int
    open_size: int
    original_size: int = 0


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the planner knows at one moment (see the module docstring)."""

    trigger: Trigger
    local_run_id: str = ""
    """The run the local state (journal projection) is in; "" when it has none."""
    current_run_id: str = ""
    """The exchange's run as last heard on this connection; "" when not heard yet."""
    last_seq: int = 0
    """The highest order-channel seq of ``local_run_id`` seen."""
    exchange_seq: int = 0
    """A seq the exchange just sent in ``current_run_id`` (0: none yet)."""
    missing: tuple[tuple[int, int], ...] = ()
    """Order-channel seq ranges of the current run known to be missing and not yet requested."""
    in_flight: tuple[InFlight, ...] = ()
    open_orders: tuple[OpenOrder, ...] = ()
    contracts: tuple[int, ...] = ()
    market_gap: bool = False
    replay_unavailable: bool = False


@dataclass(frozen=True, slots=True)
class Resend:
    """Send the journaled bytes of ``mid`` again (S1; the exchange de-duplicates by mid)."""

    mid: str


@dataclass(frozen=True, slots=True)
class ReplayRange:
    """``MessageReplay{run_id, from_seq, to_seq}`` (at most ``REPLAY_CAP`` seqs)."""

    run_id: str
    from_seq: int
    to_seq: int


@dataclass(frozen=True, slots=True)
class ReplayMids:
    """``MessageReplay{run_id, mids}``: the replies of ACKed requests with no final one (S2)."""

    run_id: str
    mids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GetBookState:
    """Fetch a contract's book and rebuild it from the snapshot."""

    contract_id: int


@dataclass(frozen=True, slots=True)
class GetOpenOrders:
    """Fetch the participant's open orders; with ``correct`` the snapshot is authoritative and
    :func:`corrections` are journaled."""

    correct: bool = False


@dataclass(frozen=True, slots=True)
class CancelRunOrders:
    """The run changed: every open order of ``old_run_id`` is cancelled (journaled as such)."""

    old_run_id: str
    new_run_id: str
    entry_ids: tuple[str, ...]


Action = Resend | ReplayRange | ReplayMids | GetBookState | GetOpenOrders | CancelRunOrders
"""Everything the planner can ask of the reconciler."""


@dataclass(frozen=True, slots=True)
class Correction:
    """One change that makes a local order match the exchange's snapshot."""

    kind: CorrectionKind
    entry_id: str
    contract_id: int
    is_ask: bool
    price_in_cents: int
    old_size: int
    new_size: int
    original_size: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    """The actions of one plan, in the order to carry them out, and the rules that made it."""

    trigger: Trigger
    actions: tuple[Action, ...]
    rules: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------- the rules


def _run_changed(f: Facts) -> bool:
    return bool(f.current_run_id and f.local_run_id and f.current_run_id != f.local_run_id)


def _live_run(f: Facts) -> str:
    return f.current_run_id or f.local_run_id


def _unavailable(f: Facts) -> bool:
    return f.replay_unavailable or f.trigger is Trigger.REPLAY_UNAVAILABLE


def _is_contact(f: Facts) -> bool:
    return f.trigger in (Trigger.STARTUP, Trigger.RECONNECT)


def _rule_run_change(f: Facts) -> list[Action]:
    if not _run_changed(f) or not f.open_orders:
        return []
    ids = tuple(o.entry_id for o in f.open_orders)
    return [CancelRunOrders(f.local_run_id, f.current_run_id, ids)]


def _rule_resend(f: Facts) -> list[Action]:
    return [Resend(m.mid) for m in f.in_flight if not m.acked]


def missing_ranges(f: Facts) -> list[tuple[int, int]]:
    """The order-channel seqs to replay: the known holes, and what lies between the local
    state's last seq and the seq the exchange just sent (1.. after a run change)."""
    ranges = [r for r in f.missing if r[0] <= r[1]]
    if f.exchange_seq:
        start = 1 if _run_changed(f) or not f.local_run_id else f.last_seq + 1
        if f.exchange_seq > start:
            ranges.append((start, f.exchange_seq - 1))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _rule_replay_range(f: Facts) -> list[Action]:
    if _unavailable(f):
        return []
    run = _live_run(f)
    return [ReplayRange(run, lo, hi) for lo, hi in chunk_range(missing_ranges(f))]


def chunk_range(ranges: Iterable[tuple[int, int]], cap: int = REPLAY_CAP) -> list[tuple[int, int]]:
    """Split inclusive seq ranges into chunks of at most ``cap`` seqs."""
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        start = lo
        while start <= hi:
            stop = min(hi, start + cap - 1)
            out.append((start, stop))
            start = stop + 1
    return out


def _rule_replay_mids(f: Facts) -> list[Action]:
    if not _is_contact(f) or _unavailable(f) or _run_changed(f):
        return []
    run = _live_run(f)
    mids = [m.mid for m in f.in_flight if m.acked and (not m.run_id or m.run_id == run)]
    return [
        ReplayMids(run, tuple(mids[i : i + MIDS_PER_REPLAY]))
        for i in range(0, len(mids), MIDS_PER_REPLAY)
    ]


def _rule_open_orders(f: Facts) -> list[Action]:
    if _unavailable(f) and not _run_changed(f):
        return [GetOpenOrders(correct=True)]
    if _is_contact(f):
        return [GetOpenOrders(correct=False)]
    return []


def _rule_resync(f: Facts) -> list[Action]:
    if f.market_gap or _is_contact(f):
        return [GetBookState(c) for c in sorted(set(f.contracts))]
    return []


RULES: tuple[tuple[str, Callable[[Facts], list[Action]]], ...] = (
    ("run_change", _rule_run_change),
    ("resend_unacked", _rule_resend),
    ("replay_range", _rule_replay_range),
    ("replay_mids", _rule_replay_mids),
    ("open_orders", _rule_open_orders),
    ("resync_books", _rule_resync),
)
"""The planner's table, in order (see the module docstring)."""


def plan(facts: Facts) -> Plan:
    """The actions that reconcile local state with the exchange, given ``facts``."""
    actions: list[Action] = []
    rules: list[str] = []
    for name, rule in RULES:
        got = rule(facts)
        if got:
            rules.append(name)
            actions.extend(got)
    return Plan(facts.trigger, tuple(actions), tuple(rules))


# ---------------------------------------------------------------------- corrections


def corrections(
    local: Sequence[OpenOrder], exchange: Sequence[OpenOrder]
) -> tuple[Correction, ...]:
    """The corrections that make the projected open orders ``local`` match the exchange's
    snapshot ``exchange``: closes and resizes in local order, then adoptions in the exchange's
    order. Orders that agree give nothing."""
    theirs = {o.entry_id: o for o in exchange}
    mine = {o.entry_id for o in local}
    out: list[Correction] = []
    for o in local:
        other = theirs.get(o.entry_id)
        if other is None:
            out.append(_correction(CorrectionKind.CLOSE, o, o.open_size, 0))
        elif other.open_size != o.open_size:
            out.append(_correction(CorrectionKind.RESIZE, o, o.open_size, other.open_size))
    for o in exchange:
        if o.entry_id not in mine:
            out.append(_correction(CorrectionKind.ADOPT, o, 0, o.open_size))
    return tuple(out)


def run_change_corrections(
    action: CancelRunOrders, local: Sequence[OpenOrder]
) -> tuple[Correction, ...]:
    """The corrections recording that the open orders of a replaced run are cancelled."""
    wanted = set(action.entry_ids)
    return tuple(
        _correction(CorrectionKind.RUN_CANCELLED, o, o.open_size, 0)
        for o in local
        if o.entry_id in wanted
    )


def _correction(kind: CorrectionKind, o: OpenOrder, old: int, new: int) -> Correction:
    return Correction(
        kind, o.entry_id, o.contract_id, o.is_ask, o.price_in_cents, old, new, o.original_size
    )


_STATUS_OF = {
    CorrectionKind.CLOSE: pb.CANCELLED,
    CorrectionKind.RUN_CANCELLED: pb.CANCELLED,
    CorrectionKind.RESIZE: pb.INSERTED,
    CorrectionKind.ADOPT: pb.INSERTED,
}


def correction_payload(
    c: Correction, *, evidence_mid: str, run_id: str, wall_ns: int, mono_ns: int
) -> bytes:
    """The bytes of a correction row: an LX/1 envelope (seq 0, ``is_replay`` false) whose mid is
    the request that produced the evidence (the ``GetOpenOrders``; empty for a run change) and
    whose ``ActionReport`` names the order (``entry_id``) and its corrected open ``size``."""
    env = pb.Envelope(
        mid=evidence_mid,
        seq=0,
        run_id=run_id,
        timestamp=wall_ns,
        ticks=mono_ns,
        mversion="1.0",
    )
    r = env.action_report
    r.contract_id = c.contract_id
    r.entry_id = c.entry_id
    r.status_type = _STATUS_OF[c.kind]
    r.is_ask = c.is_ask
    r.price_in_cents = c.price_in_cents
    r.size = c.new_size
    r.original_size = c.original_size
    return env.SerializeToString()


def snapshot_orders(snap: pb.OpenOrdersSnapshot) -> tuple[OpenOrder, ...]:
    """The entries of an ``OpenOrdersSnapshot`` as :class:`OpenOrder` values."""
    return tuple(
        OpenOrder(e.entry_id, e.contract_id, e.is_ask, e.price_in_cents, e.size, e.original_size)
        for e in snap.entries
    )
