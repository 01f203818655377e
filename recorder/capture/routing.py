"""Where an exchange message goes: which bot connections of the participant get it. Pure.

Several bot connections of one participant share one capture service, and the exchange sees a
single connection, so the service must route what comes back. :class:`Routes` learns from every
request a bot sends (:meth:`Routes.request`) and from the service's own requests
(:meth:`Routes.own`) and answers, for every inbound order-channel frame, the routing ids to
forward it to (:meth:`Routes.targets`; an empty tuple means *not forwarded*).

Theory of operation (docs/protocol.md, Decisions, "Capture service")
--------------------------------------------------------------------

* A frame with a mid goes to the connection that sent the request with that mid (a ``Batch``'s
  inner mids are learned too). The service's own mids route nowhere: their replies are journaled
  only. A mid nobody here sent (an order from before this session), or of a bot that has gone
  (:meth:`Routes.forget`; the service, finding a target gone as it sends, sends the frame to
  every other bot too), goes to every bot.
* An ``ActionReport`` under the mid of a ``CancelOrder``, ``CancelReplace``, ``CancelAll`` or
  ``Batch`` also goes to the connection that owns the report's ``entry_id``, when that is
  another bot: bot B learns that bot A cancelled B's order.
* Replayed frames (``is_replay``) answer the ``MessageReplay`` whose ACK came last — or, while
  no ACK is known (it was lost), the oldest one still outstanding: they go to the bot that
  asked (:attr:`Routes.replayer`), or, for the service's own replay, by their mid as above
  (:meth:`Routes.by_mid`, which also says who a bot's replayed frame is for when it fills the
  service's own gap).
* A frame without a mid is broadcast to every known bot (heartbeats, and so run changes), except
  an empty-mid ``Status`` (the exchange's ``REJECT_MALFORMED``), which goes to the oldest bot
  whose frame the exchange answers with an empty mid (bytes that are not an envelope, a
  multi-part message, a bad mid), or to every bot if none. Which bot that is, is decided when
  the reject is delivered (:class:`GarbageReply`, :meth:`Routes.garbage_sender`), in seq order:
  the exchange answers garbage in the order it came, whether the reject comes live, held behind
  a gap, or replayed into one; a duplicate, never delivered, takes nobody's turn. A frame flagged
  ``MALFORMED`` that
  the exchange still answers under its mid (an envelope without a body, a seq out of range: a
  version-1 envelope with a valid mid; a major version other than 1 with any mid but an empty
  one, answered ``REJECT_VERSION``) is learned under that mid like any request.

A bot is *known* from its first message on: a ROUTER cannot address a connection before that.
Mids are remembered up to :data:`MAX_MIDS` (oldest forgotten first; a forgotten mid routes like
an unknown one).
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque

from google.protobuf.message import DecodeError

from recorder.core.frames import FrameFlag, FrameRecord
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import kind_of

SERVICE = b""
"""The owner of the service's own requests (never a real ZeroMQ routing id)."""

MAX_MIDS = 1_000_000
"""The most request mids remembered for routing."""

_MID = re.compile(r"[0-9a-f]{32}").fullmatch
_CROSS_KINDS = frozenset({"CancelOrder", "CancelReplace", "CancelAll", "Batch"})
_parse = pb.Envelope.FromString
_NOWHERE: tuple[bytes, ...] = ()


class GarbageReply(tuple[bytes, ...]):
    """The targets of an empty-mid ``Status``: to be decided when it is delivered, by
    :meth:`Routes.garbage_sender` (see the module docstring). Its items are the bots that already
    have it (the bot whose own ``MessageReplay`` brought it)."""

    __slots__ = ()


class Routes:
    """The routing table of one capture service (see the module docstring)."""

    __slots__ = ("_bad", "_cross", "_owners", "_peers", "_replay_mids", "max_mids", "replay_owner")

    def __init__(self, max_mids: int = MAX_MIDS) -> None:
        self.max_mids = max_mids
        # Oldest first. An OrderedDict, not a dict: forgetting a plain dict's first key leaves a
        # hole at the front of its entry table, so finding the next oldest one scans every hole
        # left since the last resize (~18 µs per request at 200,000 mids, growing with the cap).
        self._owners: OrderedDict[str, bytes] = OrderedDict()
        self._peers: dict[bytes, None] = {}
        self._replay_mids: dict[str, bytes] = {}
        self._cross: set[str] = set()
        self._bad: deque[bytes] = deque(maxlen=1024)
        self.replay_owner: bytes | None = None
        """Who asked the replay being answered now (None between replays)."""

    # ------------------------------------------------------------------ learning

    @property
    def peers(self) -> tuple[bytes, ...]:
        """The bot connections known so far, oldest first."""
        return tuple(self._peers)

    def request(self, rid: bytes, record: FrameRecord) -> None:
        """Learn from a frame bot connection ``rid`` sends to the exchange."""
        if rid not in self._peers:
            self._peers[rid] = None
        mid = record.mid
        if record.flags or not _MID(mid):
            if not (record.flags and self._answered_under_mid(rid, record)):
                self._bad.append(rid)
            return
        self._remember(mid, rid)
        kind = record.kind
        if kind in _CROSS_KINDS:
            self._cross.add(mid)
            if kind == "Batch":
                for inner in _parse(record.payload).batch.messages:
                    if inner.mid:
                        self._remember(inner.mid, rid)
                        self._cross.add(inner.mid)
        elif kind == "MessageReplay":
            self._replay_mids[mid] = rid

    def _answered_under_mid(self, rid: bytes, record: FrameRecord) -> bool:
        """Learn a flagged frame the exchange answers under its mid all the same, as the exchange
        reads it (the simulator: docs/protocol.md, "Envelope and first replies"): a major version
        other than 1 is refused under its mid, whatever it is; a version-1 envelope with a valid
        mid is answered under it (no body: ``REJECT_MALFORMED``; a seq out of range: executed).
        False for what is answered with an empty mid (bytes that are not an envelope, a
        multi-part message, a bad mid): the sender then waits for an empty-mid ``Status``."""
        if record.flags & FrameFlag.MULTIPART:
            return False
        try:
            envelope = _parse(record.payload)
        except DecodeError:
            return False
        mid = envelope.mid
        if envelope.mversion.partition(".")[0] != "1":
            if mid:
                self._remember(mid, rid)  # REJECT_VERSION is its only reply
            return bool(mid)
        if not _MID(mid):
            return False
        kind = kind_of(envelope) if envelope.WhichOneof("body") else ""
        self.request(rid, record._replace(mid=mid, kind=kind, flags=0))
        return True

    def own(self, mid: str, kind: str) -> None:
        """Learn a request the service itself sends (its replies are not forwarded)."""
        self._remember(mid, SERVICE)
        if kind == "MessageReplay":
            self._replay_mids[mid] = SERVICE

    @property
    def replayer(self) -> bytes | None:
        """The bot whose own ``MessageReplay`` the replayed frames arriving now answer, if any:
        the one whose ACK came last or, while no ACK is known, the oldest still outstanding (the
        exchange answers requests in turn, so replayed frames with no ACK before them are that
        replay's, its ACK lost on the way). None for the service's own replay, or a bot gone."""
        owner = self.replay_owner
        if owner is None:
            owner = next(iter(self._replay_mids.values()), None)
        return owner if owner is not None and owner in self._peers else None

    def reconnected(self) -> None:
        """The upstream connection was replaced: the replays asked on the old one are answered
        there or never (the service asks its own again), so none is taken for the one replayed
        frames arriving now answer."""
        self._replay_mids.clear()
        self.replay_owner = None

    def forget(self, rid: bytes) -> None:
        """A bot connection is gone: stop addressing it (its mids then route to every bot)."""
        self._peers.pop(rid, None)
        if self.replay_owner == rid:
            self.replay_owner = None

    def _remember(self, mid: str, rid: bytes) -> None:
        owners = self._owners
        owners[mid] = rid
        if len(owners) > self.max_mids:
            oldest, _ = owners.popitem(last=False)
            self._cross.discard(oldest)

    # ------------------------------------------------------------------ routing

    def targets(self, record: FrameRecord) -> tuple[bytes, ...]:
        """Where an inbound order-channel frame goes, decided in arrival order."""
        mid = record.mid
        if record.is_replay:
            replayer = self.replayer
            if replayer is not None:
                return (replayer,)
        elif mid in self._replay_mids:
            self._replay_progress(record)
        owner = self._owners.get(mid)  # the common case first: a reply to a bot still here
        if owner is not None and owner in self._peers and mid not in self._cross:
            return (owner,)
        return self.by_mid(record)

    def by_mid(self, record: FrameRecord, has_it: bytes | None = None) -> tuple[bytes, ...]:
        """Where an inbound frame goes by its mid alone (what :meth:`targets` decides for a frame
        that answers no bot's replay), but ``has_it``, the bot that got it already (its own
        replay brought it). Learns nothing."""
        targets = self._by_mid(record)
        if has_it is None:
            return targets
        if type(targets) is GarbageReply:
            return GarbageReply((*targets, has_it))
        return tuple(rid for rid in targets if rid != has_it)

    def garbage_sender(self, has_it: GarbageReply) -> tuple[bytes, ...]:
        """Who the empty-mid ``Status`` delivered now is for (its :class:`GarbageReply` was
        ``has_it``): the oldest bot still waiting for one (taken off the queue), or every bot if
        none is or that bot has gone; but those who have it."""
        targets = self._live(self._bad.popleft()) if self._bad else tuple(self._peers)
        return tuple(rid for rid in targets if rid not in has_it) if has_it else targets

    def _by_mid(self, record: FrameRecord) -> tuple[bytes, ...]:
        mid = record.mid
        if not mid:
            return GarbageReply() if record.kind == "Status" else tuple(self._peers)
        owner = self._owners.get(mid)
        if owner is None:
            return tuple(self._peers)
        if owner == SERVICE:
            return _NOWHERE
        if owner not in self._peers:
            return tuple(self._peers)
        if mid in self._cross and record.kind == "ActionReport":
            entry = _parse(record.payload).action_report.entry_id
            other = self._owners.get(entry)
            if other is not None and other != owner and other in self._peers:
                return (owner, other)
        return (owner,)

    def _live(self, rid: bytes) -> tuple[bytes, ...]:
        return (rid,) if rid in self._peers else tuple(self._peers)

    def _replay_progress(self, record: FrameRecord) -> None:
        """Track which replay is being answered: its ACK opens it, its ReplayDone closes it."""
        mid = record.mid
        if record.kind == "ReplayDone":
            owner = self._replay_mids.pop(mid)
            if self.replay_owner == owner:
                self.replay_owner = None
        elif record.kind == "Status":
            status = _parse(record.payload).status
            if status.code == pb.ACK and not status.duplicate:
                self.replay_owner = self._replay_mids[mid]
            else:  # rejected, or a duplicate: no replayed frames and no ReplayDone follow
                self._replay_mids.pop(mid)
