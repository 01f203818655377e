"""The capture service: a recording LX/1 proxy between a participant's bots and the exchange.

Bots connect to a ROUTER (order channel) and a SUB-facing PUB (market channel), both CurveZMQ
servers with the service's own key and a ZAP allow-list of bot public keys (an unknown key never
gets a byte). Upstream, the service is the participant: a DEALER and a SUB with the participant's
key pair. One thread (the *loop*) owns every socket and the journal's appender.

The hot path, per wake-up: drain every readable traffic socket (one message each first, then
up to :data:`~recorder.capture.intake.BURST` more; a wake-up with one socket readable, the
bot's or the exchange's order socket, takes its first message through a shorter path, which
journals it as it came — ``append_wires``, its row built when it is committed — and learns what
routing needs of a request only once it is sent; one
:class:`~recorder.core.frames.FrameRecord` per message: :mod:`recorder.capture.intake`), append
everything drained, both directions, to the journal in one call — in ``strict`` the append returns
after the commit, in ``safe`` once the frames are in the journal's spool (they survive a killed
process) — and only then forward any of it (ARCHITECTURE.md rule 1). After forwarding, the loop
hands the spool's frames on (:data:`COMMIT_ROWS` at a time, or :data:`COMMIT_AGE_S` after the
oldest): to the journal's committer process, which commits them to SQLite on another CPU
(``[capture] committer = "process"``, the default: :mod:`recorder.journal.committer`), or it
commits them itself (``"inline"``); either way off the frames' round trip. A
multi-part message is journaled as one frame flagged ``MULTIPART`` and forwarded as the same
parts.

What goes to which bot is :mod:`recorder.capture.routing`'s decision; sequencing and the
service's own gap filling (``MessageReplay``, ``GetBookState``, the gap ledger) are
:mod:`recorder.capture.recovery`'s. Both are pure; this module only moves bytes and carries out
their actions. docs/protocol.md ("Decisions", "Capture service") states the behaviour bots see.

Upstream loss: the housekeeping tick hands the counts of frames read from the exchange to an
:class:`~recorder.capture.upstream.UpstreamWatch` (nothing is added to a frame's path); when it
finds the exchange silent, the loop ends the journal session, replaces its DEALER and SUB with
new connections, starts a new session and lets the gap filler start over on them
(:meth:`CaptureService._reconnect`). The bots stay connected throughout.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import cast

import zmq
import zmq.auth.thread
from zmq.utils.monitor import recv_monitor_message

from recorder.capture.intake import BURST, Parts, drain, drain_router, joined, record_of, unusual
from recorder.capture.logs import event
from recorder.capture.recovery import Action, GapFiller, Item, OpenGap, Outcomes, SendRequest
from recorder.capture.routing import GarbageReply, Routes
from recorder.capture.sockets import AllowList, CaptureEndpoints, Peers, Upstream
from recorder.capture.status import CaptureStatus, answer
from recorder.capture.upstream import Reconnect, Restored, UpstreamWatch
from recorder.core.frames import Channel, Direction, FrameRecord
from recorder.errors import CaptureError
from recorder.journal import Journal
from recorder.keys import KeyPair
from recorder.venues.lx.codec import encode, make_envelope
from recorder.venues.lx.records import to_record

COMMIT_ROWS = 1024
COMMIT_AGE_S = 0.1
"""The loop commits (or hands to the committer process) the spool's frames (``safe``) once this
many wait or the oldest has waited this long. The frames are safe in the spool from their
append; the commit makes them visible to other readers (within ~``COMMIT_AGE_S`` +
``safe_commit_ms``). Rare commits are what keeps them off the round trips: one round trip at
a time, handing the spool on every 5 ms added ~80 µs at p50 over every 100 ms (the commit's
CPU, here shared by two cores with the bot, the exchange and ZeroMQ's I/O threads, lands on
the round trips of the moment); under load :data:`COMMIT_ROWS` come first."""
log = logging.getLogger("recorder.capture")

ZAP_DOMAIN = "lx1-capture"
"""The ZAP domain of the bot-facing sockets."""

_TICK_NS = 50_000_000
"""The loop's housekeeping period: gap timeouts, the rate, the status socket, socket events and
a stop request are looked at this often (the traffic sockets alone are polled in between: each
socket in a poll costs every frame's wake-up)."""
_ORDER, _MARKET = Channel.ORDER, Channel.MARKET
_IN, _OUT = Direction.IN, Direction.OUT
_NOBLOCK = zmq.NOBLOCK
_EVENTS, _POLLIN = zmq.EVENTS, zmq.POLLIN
_SNDMORE_NB = zmq.SNDMORE | zmq.NOBLOCK
_time_ns, _monotonic_ns = time.time_ns, time.monotonic_ns


def _holds_more(sock: zmq.Socket[bytes]) -> bool:
    """Whether a message waits on ``sock`` (``ZMQ_EVENTS``, cheaper than a failed ``recv``)."""
    return bool(cast(int, sock.get(_EVENTS)) & _POLLIN)


class CaptureService:
    """The capture service (see the module docstring).

    ``journal`` is open for writing and stays the caller's (closed by the caller after
    :meth:`stop`). ``keys`` is the service's own pair (bots use its public key as their server
    key), ``participant`` the pair the exchange knows; ``bot_keys`` the public keys allowed to
    connect. Run it with :meth:`start` + :meth:`run` (foreground) or :meth:`start_background`.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        keys: KeyPair,
        participant: KeyPair,
        upstream: Upstream,
        bot_keys: Iterable[bytes | str],
        order_bind: str = "tcp://127.0.0.1:*",
        market_bind: str = "tcp://127.0.0.1:*",
        status_bind: str = "tcp://127.0.0.1:*",
        capture_point: str = "capture",
        replay_timeout_ms: int = 2000,
        status_log_s: float = 10.0,
        heartbeat_ms: int = 1000,
        heartbeat_factor: int = 3,
        reconnect_backoff_cap_ms: int = 30_000,
    ) -> None:
        if keys.private is None or participant.private is None:
            raise CaptureError("the capture service needs its own and the participant's secret key")
        self.journal = journal
        self.keys = keys
        self.participant = participant
        self.upstream = upstream
        self.bot_keys = frozenset(k.encode("ascii") if isinstance(k, str) else k for k in bot_keys)
        self._binds = (order_bind, market_bind, status_bind)
        self.capture_point = capture_point
        self._status_log_ns = int(status_log_s * 1e9)
        self.routes = Routes()
        self.gaps = GapFiller(lambda: uuid.uuid4().hex, timeout_ns=replay_timeout_ms * 1_000_000)
        self._heartbeat = (heartbeat_ms, heartbeat_factor, reconnect_backoff_cap_ms)
        self.liveness = UpstreamWatch(*self._heartbeat, time.monotonic_ns())
        """Whether the exchange talks (counted from :meth:`start`)."""
        self.session_id = 0
        self.endpoints: CaptureEndpoints | None = None
        self._ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._auth: zmq.auth.thread.ThreadAuthenticator | None = None
        self._stop_reason: str | None = None
        self._rids: set[bytes] = set()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._gap_ids: dict[int, int] = {}
        self._own_seq = 0
        self._bots = Peers(log_as="bot")
        self._subscribers = Peers()
        self._started_ns = 0
        self.to_exchange = 0
        self.from_exchange = 0
        self.market = 0
        self.not_delivered = 0
        self._rate = 0.0
        self._gaps_detected = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> CaptureEndpoints:
        """Bind the bot-facing sockets, connect upstream and open the journal session."""
        if self._ctx is not None:
            raise CaptureError("the capture service is already started")
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._ctx = ctx
        self._auth = zmq.auth.thread.ThreadAuthenticator(ctx, log=log)
        self._auth.start()
        self._auth.configure_curve_callback(
            ZAP_DOMAIN, credentials_provider=AllowList(self.bot_keys)
        )
        order_bind, market_bind, status_bind = self._binds
        try:
            self._router = self._server_socket(zmq.ROUTER, order_bind)
            self._router.router_mandatory = 1
            self._pub = self._server_socket(zmq.PUB, market_bind)
            self._status = ctx.socket(zmq.REP)
            self._status.linger = 0
            self._status.bind(status_bind)
        except zmq.ZMQError as exc:
            self._close()
            raise CaptureError(
                f"cannot bind the capture service's sockets ({exc}); is another capture service "
                f"running on {order_bind}, {market_bind} or {status_bind}?"
            ) from exc
        self._connect_upstream()
        self._router_mon = self._router.get_monitor_socket(Peers.EVENTS)
        self._pub_mon = self._pub.get_monitor_socket(Peers.EVENTS)
        self.endpoints = CaptureEndpoints(
            self._router.getsockopt_string(zmq.LAST_ENDPOINT),
            self._pub.getsockopt_string(zmq.LAST_ENDPOINT),
            self._status.getsockopt_string(zmq.LAST_ENDPOINT),
        )
        self._start_session()
        self._started_ns = time.monotonic_ns()
        self.liveness = UpstreamWatch(*self._heartbeat, self._started_ns)
        event(
            log, logging.INFO, "capture started", session=self.session_id,
            orders=self.endpoints.order, market=self.endpoints.market,
            status=self.endpoints.status, upstream=self.upstream.order_endpoint,
            server_key=self.keys.public_text, participant=self.participant.public_text,
            bots_allowed=len(self.bot_keys),
        )  # fmt: skip
        self._carry_out(self.gaps.start(time.monotonic_ns()))
        return self.endpoints

    def _connect_upstream(self) -> None:
        """Open the DEALER and the SUB to the exchange (new connections)."""
        self._dealer = self._client_socket(zmq.DEALER)
        self._dealer.connect(self.upstream.order_endpoint)
        self._sub = self._client_socket(zmq.SUB)
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        self._sub.connect(self.upstream.market_endpoint)

    def _start_session(self) -> None:
        self.session_id = self.journal.start_session(
            venue="lx1",
            capture_point=self.capture_point,
            participant=self.participant.public_text,
            order_endpoint=self.upstream.order_endpoint,
            market_endpoint=self.upstream.market_endpoint,
        )

    def _end_session(self, reason: str) -> None:
        """Commit (``fast``: the batch too) and end the session row with ``reason``."""
        if self.journal.durability == "fast":
            self.journal.flush()
        self.journal.end_session(self.session_id, reason)

    def _server_socket(self, kind: int, endpoint: str) -> zmq.Socket[bytes]:
        assert self._ctx is not None and self.keys.private is not None
        sock = self._ctx.socket(kind)
        sock.linger = 0
        sock.curve_server = True
        sock.curve_publickey = self.keys.public
        sock.curve_secretkey = self.keys.private
        sock.zap_domain = ZAP_DOMAIN.encode("ascii")
        sock.sndhwm = 100_000
        sock.bind(endpoint)
        return sock

    def _client_socket(self, kind: int) -> zmq.Socket[bytes]:
        assert self._ctx is not None and self.participant.private is not None
        sock = self._ctx.socket(kind)
        sock.linger = 0
        sock.curve_serverkey = self.upstream.server_key
        sock.curve_publickey = self.participant.public
        sock.curve_secretkey = self.participant.private
        sock.sndhwm = 0
        sock.rcvhwm = 0
        return sock

    def start_background(self) -> CaptureEndpoints:
        """:meth:`start`, then :meth:`run` in a thread; :meth:`stop` ends it."""
        endpoints = self.start()
        self._thread = threading.Thread(target=self.run, name="lx1-capture", daemon=True)
        self._thread.start()
        return endpoints

    def request_stop(self, reason: str = "stopped") -> None:
        """Ask the loop to finish within a tick (thread- and signal-handler-safe); the first
        reason wins."""
        if self._stop_reason is None:
            self._stop_reason = reason

    def stop(self, reason: str = "stopped", timeout: float = 10.0) -> None:
        """Stop the loop started by :meth:`start_background` and wait for the clean end."""
        self.request_stop(reason)
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise CaptureError(f"the capture loop did not stop within {timeout} s")
            self._thread = None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the session has ended (True) or ``timeout`` passed (False)."""
        return self._done.wait(timeout)

    # ------------------------------------------------------------------ the loop

    def run(self) -> str:
        """Serve until :meth:`request_stop`; end the session; return the end reason."""
        if self._ctx is None:
            self.start()
        traffic, chores = zmq.Poller(), zmq.Poller()
        for sock in (self._dealer, self._sub, self._router):
            traffic.register(sock, zmq.POLLIN)
        for sock in (self._status, self._router_mon, self._pub_mon):
            chores.register(sock, zmq.POLLIN)
        reason = "stopped"
        next_tick = time.monotonic_ns() + _TICK_NS
        next_rate = time.monotonic_ns() + 1_000_000_000
        next_log = time.monotonic_ns() + (self._status_log_ns or 1 << 62)
        rate_mark = 0
        poll = traffic.poll
        commit_pending = self.journal.commit_pending
        router, dealer = self._router, self._dealer
        try:
            while self._stop_reason is None:
                now = time.monotonic_ns()
                events = poll(max(0, -((now - next_tick) // 1_000_000)))  # ms, rounded up
                if events:
                    if len(events) > 1:
                        self._traffic(dict(events))
                    elif events[0][0] is router:  # the common wake-ups: one socket readable
                        self._from_bot()
                    elif events[0][0] is dealer:
                        self._from_exchange()
                    else:
                        self._traffic(dict(events))
                    commit_pending(COMMIT_ROWS, COMMIT_AGE_S)  # after forwarding
                now = time.monotonic_ns()
                if now >= next_tick:
                    next_tick = now + _TICK_NS
                    commit_pending(COMMIT_ROWS, COMMIT_AGE_S)
                    self._housekeeping(dict(chores.poll(0)))
                    dealer = self._watch_upstream(now, traffic)
                    if self.gaps.pending:
                        self._carry_out(self.gaps.tick(now))
                    if now >= next_rate:
                        frames = self.frames
                        self._rate = (frames - rate_mark) * 1e9 / (now - next_rate + 1e9)
                        rate_mark, next_rate = frames, now + 1_000_000_000
                    if now >= next_log:
                        next_log = now + self._status_log_ns
                        event(log, logging.INFO, "status", **self.status().as_dict())
            reason = self._stop_reason or reason
        except BaseException as exc:
            reason = f"error: {exc!r}"
            log.exception("capture loop failed")
            raise
        finally:
            self._finish(reason)
        return reason

    @property
    def frames(self) -> int:
        """Frames journaled in this session."""
        return self.to_exchange + self.from_exchange + self.market

    def _traffic(self, events: dict[zmq.Socket[bytes], int]) -> None:
        """Move what the readable traffic sockets hold: first one message from each, then, once
        those are on their way, the rest. Most wake-ups bring one message (a round trip at a
        time), and asking a socket whether it holds another costs a ``getsockopt``, which this
        way is not on that message's path."""
        router, dealer, sub = self._router, self._dealer, self._sub
        up, down, market = router in events, dealer in events, sub in events
        self._move(up, down, market, 1)
        up = up and _holds_more(router)
        down = down and _holds_more(dealer)
        market = market and _holds_more(sub)
        if up or down or market:
            self._move(up, down, market, BURST)

    def _from_bot(self) -> None:
        """A wake-up with only the bot ROUTER readable (a request at a time, the latency case):
        its first message is journaled and forwarded in the fewest steps — the same steps as
        :meth:`_move`'s, for one message; the next poll finds anything behind it."""
        router = self._router
        try:
            rid = router.recv(_NOBLOCK)
        except zmq.Again:
            return
        frame = router.recv(copy=False)
        parts: Parts = {}
        if frame.more or rid not in self._rids:
            data, flags = unusual(router, rid, frame, parts, 0, self._new_bot, self._rids)
        else:
            data, flags = frame.bytes, 0
        sid = self.session_id
        self.journal.append_wires(
            ((sid, _ORDER, _OUT, _time_ns(), _monotonic_ns(), flags, data, None),)
        )
        self.to_exchange += 1  # rule 1: journaled (as it came: read when committed), then sent
        if flags and 0 in parts:
            self._dealer.send_multipart(parts[0])
        else:
            self._dealer.send(data)
        # What routing learns of a request (its mid) can wait until it is on its way.
        self.routes.request(rid, record_of(data, sid, _ORDER, _OUT, flags))
        # Whatever waits behind it, the next poll says (at once): asking the socket here
        # (ZMQ_EVENTS) cost a round trip ~27 µs at p50, one at a time.

    def _from_exchange(self) -> None:
        """:meth:`_from_bot` for a wake-up with only the upstream DEALER readable (a reply)."""
        dealer = self._dealer
        try:
            frame = dealer.recv(_NOBLOCK, copy=False)
        except zmq.Again:
            return
        parts: Parts = {}
        data, flags = (frame.bytes, 0) if not frame.more else joined(dealer, frame, parts, 0)
        record = record_of(data, self.session_id, _ORDER, _IN, flags)  # routing reads it
        position = self.journal.append_wires(  # rule 1; as it came: its row is built off the path
            ((record.session_id, _ORDER, _IN, record.wall_ns, record.mono_ns, flags, data, None),)
        )
        self.from_exchange += 1
        self._forward_orders([record], [position], parts, 0, 1)

    def _move(self, up: bool, down: bool, market: bool, limit: int) -> None:
        """Drain up to ``limit`` messages from the bot ROUTER (``up``), the upstream DEALER
        (``down``) and SUB (``market``), journal them all in one append, then forward them."""
        records: list[FrameRecord] = []
        parts: Parts = {}
        rids: list[bytes] = []
        sid = self.session_id
        if up:
            drain_router(self._router, records, parts, rids, sid, self._new_bot, self._rids, limit)
        n_bots = len(records)
        if down:
            drain(self._dealer, _ORDER, records, parts, sid, limit)
        n_orders = len(records)
        if market:
            drain(self._sub, _MARKET, records, parts, sid, limit)
        if not records:
            return
        # rule 1: journaled before anything is sent
        if len(records) == 1:
            positions = [self.journal.append_one(records[0])]
        else:
            positions = self.journal.append(records)
        if n_bots:
            self.to_exchange += n_bots
            self._forward_up(records, rids, parts)
        if n_orders > n_bots:
            self.from_exchange += n_orders - n_bots
            self._forward_orders(records, positions, parts, n_bots, n_orders)
        if len(records) > n_orders:
            self.market += len(records) - n_orders
            self._forward_market(records, positions, parts, n_orders)

    @staticmethod
    def _new_bot(rid: bytes, frame: zmq.Frame) -> None:
        event(log, logging.INFO, "bot seen", key=frame.get("User-Id"), rid=rid.hex())

    def _forward_up(self, records: list[FrameRecord], rids: list[bytes], parts: Parts) -> None:
        send = self._dealer.send
        for i in range(len(rids)):
            record = records[i]
            if record.flags and i in parts:
                self._dealer.send_multipart(parts[i])
            else:
                send(record.payload)
        # Learning where replies go can wait until the requests are on their way: every reply
        # is read by a later pass of this same loop.
        learn = self.routes.request
        for i, rid in enumerate(rids):
            learn(rid, records[i])

    def _forward_orders(
        self,
        records: list[FrameRecord],
        positions: list[int],
        parts: Parts,
        start: int,
        stop: int,
    ) -> None:
        routes, gaps = self.routes, self.gaps
        order_seq = gaps.order
        targets_of = routes.targets
        concerns = gaps.concerns
        send = self._router.send
        to_bots = self._to_bots
        targets: tuple[bytes, ...]
        for i in range(start, stop):
            record = records[i]
            if record.flags:  # garbage or multi-part: every bot gets it as it came
                to_bots(record, routes.peers, parts.get(i))
                continue
            if record.is_replay:
                replayer = routes.replayer
                if replayer is not None:  # a bot's own MessageReplay: that bot gets it now ...
                    self._send_each(record, (replayer,))
                # ... and, should it fill the service's own gap, the others it is for
                targets = () if gaps.is_backfill(record) else routes.by_mid(record, replayer)
            else:
                targets = targets_of(record)
                if order_seq.is_fast(record.seq, record.run_id):
                    order_seq.advance()
                    if concerns(record):
                        self._carry_out(gaps.on_in_order(record, time.monotonic_ns()))
                    if type(targets) is GarbageReply:  # delivered now: its sender's turn
                        targets = routes.garbage_sender(targets)
                    if len(targets) == 1:  # the common case, inlined: one bot asked
                        rid = targets[0]
                        try:
                            send(rid, _SNDMORE_NB)
                            send(record.payload, _NOBLOCK)
                        except zmq.ZMQError as exc:
                            if self._not_delivered(rid, exc):
                                self._send_each(record, routes.peers)
                    elif targets:
                        to_bots(record, targets)
                    continue
            item: Item = (record, targets)
            self._carry_out(gaps.on_order(item, positions[i], time.monotonic_ns()))

    def _forward_market(
        self,
        records: list[FrameRecord],
        positions: list[int],
        parts: Parts,
        start: int,
    ) -> None:
        market_seq = self.gaps.market
        publish = self._pub.send
        for i in range(start, len(records)):
            record = records[i]
            if not record.flags:
                if market_seq.is_fast(record.seq, record.run_id):
                    market_seq.advance()
                else:
                    self._carry_out(self.gaps.on_market(record, positions[i], time.monotonic_ns()))
            elif i in parts:
                self._pub.send_multipart(parts[i])
                continue
            publish(record.payload)

    def _to_bots(
        self, record: FrameRecord, targets: Sequence[bytes], parts: list[bytes] | None = None
    ) -> None:
        """Send a frame to ``targets``; if one of them has gone, to every other bot too: a frame
        for a bot that has gone goes to every bot (docs/protocol.md, "Capture service")."""
        if self._send_each(record, targets, parts):
            peers = self.routes.peers
            self._send_each(record, [rid for rid in peers if rid not in targets], parts)

    def _send_each(
        self, record: FrameRecord, targets: Sequence[bytes], parts: list[bytes] | None = None
    ) -> bool:
        """Send a frame to each of ``targets``, as it came; True if one of them has gone."""
        router = self._router
        payload = record.payload
        gone = False
        for rid in targets:
            try:
                if parts is None:
                    router.send(rid, _SNDMORE_NB)
                    router.send(payload, _NOBLOCK)
                else:
                    router.send_multipart([rid, *parts], _NOBLOCK)
            except zmq.ZMQError as exc:
                gone = self._not_delivered(rid, exc) or gone
        return gone

    def _not_delivered(self, rid: bytes, exc: zmq.ZMQError) -> bool:
        """Count a frame ``rid`` did not get; True when the bot has gone (it is forgotten)."""
        self.not_delivered += 1
        if exc.errno == errno.EHOSTUNREACH:
            self.routes.forget(rid)
            event(log, logging.INFO, "bot gone", rid=rid.hex())
            return True
        event(log, logging.WARNING, "bot not keeping up", rid=rid.hex(), error=exc)
        return False

    # ------------------------------------------------------------------ gap filling

    def _carry_out(self, outcomes: Outcomes) -> None:
        """Forward released frames and carry out the gap filler's actions (journal first)."""
        for record, targets in outcomes.deliver:
            if type(targets) is GarbageReply:  # delivered now, in seq order: its sender's turn
                targets = self.routes.garbage_sender(targets)
            if targets:
                self._to_bots(record, targets)
        if outcomes.actions:
            self._act(outcomes.actions)

    def _act(self, actions: Sequence[Action]) -> None:
        journal = self.journal
        requests: list[FrameRecord] = []
        for action in actions:
            if isinstance(action, SendRequest):
                self._own_seq += 1
                envelope = make_envelope(
                    action.body, mid=action.mid, seq=self._own_seq,
                    timestamp=time.time_ns(), ticks=time.monotonic_ns(),
                )  # fmt: skip
                record = to_record(
                    encode(envelope), session_id=self.session_id, channel=_ORDER,
                    direction=_OUT, wall_ns=time.time_ns(), mono_ns=time.monotonic_ns(),
                )  # fmt: skip
                self.routes.own(action.mid, record.kind)
                requests.append(record)
                event(log, logging.INFO, "own request", kind=record.kind, mid=action.mid,
                      body=str(action.body).replace("\n", " ").strip())  # fmt: skip
            elif isinstance(action, OpenGap):
                self._gaps_detected += 1
                self._gap_ids[action.key] = journal.open_gap(
                    session_id=self.session_id, channel=action.channel, run_id=action.run_id,
                    from_seq=action.from_seq, to_seq=action.to_seq,
                    detected_position=action.position,
                )  # fmt: skip
                event(
                    log, logging.WARNING, "gap opened", channel=action.channel.value,
                    run=action.run_id, from_seq=action.from_seq, to_seq=action.to_seq,
                )  # fmt: skip
            else:
                gap_id = self._gap_ids[action.key]
                journal.update_gap(gap_id, action.state, reason=action.reason)
                if action.state != "requested":
                    del self._gap_ids[action.key]
                level = logging.WARNING if action.state == "unrecoverable" else logging.INFO
                event(log, level, f"gap {action.state}", gap=gap_id, reason=action.reason)
        if requests:
            journal.append(requests)  # rule 1
            self.to_exchange += len(requests)
            for record in requests:
                self._dealer.send(record.payload)

    # ------------------------------------------------------------------ upstream loss

    def _watch_upstream(self, now: int, traffic: zmq.Poller) -> zmq.Socket[bytes]:
        """The upstream watch's tick, on the counts of frames read from the exchange; reconnect
        when it says so. Returns the DEALER (a new one after a reconnection)."""
        change = self.liveness.tick(now, self.from_exchange, self.market, self.gaps.heartbeat_ms)
        if isinstance(change, Reconnect):
            self._reconnect(change, traffic)
        elif isinstance(change, Restored):
            event(
                log, logging.INFO, "upstream available", session=self.session_id,
                reconnects=change.attempts, silent_ms=change.silent_ms,
            )  # fmt: skip
        return self._dealer

    def _reconnect(self, reconnect: Reconnect, traffic: zmq.Poller) -> None:
        """End the session, replace the upstream DEALER and SUB with new connections, start the
        next session and let the gap filler start over on them (docs/protocol.md, "Capture
        service", "Upstream loss"). What the old sockets still held is lost to them, not to the
        journal: the exchange replays the order channel's part, the books are resynced."""
        event(
            log, logging.WARNING, "upstream silent", reason=reconnect.reason,
            attempt=reconnect.attempt, session=self.session_id,
            upstream=self.upstream.order_endpoint,
        )  # fmt: skip
        self._end_session(reconnect.reason)
        for sock in (self._dealer, self._sub):
            traffic.unregister(sock)
            sock.close(0)
        self._connect_upstream()
        traffic.register(self._dealer, zmq.POLLIN)
        traffic.register(self._sub, zmq.POLLIN)
        self._start_session()
        self.routes.reconnected()
        self._carry_out(self.gaps.reconnected(time.monotonic_ns()))

    # ------------------------------------------------------------------ housekeeping

    def _housekeeping(self, events: dict[zmq.Socket[bytes], int]) -> None:
        for mon, peers in ((self._router_mon, self._bots), (self._pub_mon, self._subscribers)):
            if mon in events:  # before a status request: it reports who is connected
                while mon.poll(0):
                    peers.observe(recv_monitor_message(mon))
        if self._status in events:
            self._answer_status()

    def _answer_status(self) -> None:
        """Answer the status socket's request; whatever it holds, the loop serves on."""
        try:
            request = self._status.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        reply = answer(request, self.status)
        try:
            self._status.send(reply, zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # the asker has gone: the REP socket drops the reply
            event(log, logging.WARNING, "status reply not sent", error=str(exc))

    def status(self) -> CaptureStatus:
        """A snapshot of the counters (safe to call from any thread). The connection counts
        are as of the loop's last tick; the status socket's answer is current."""
        path = Path(self.journal.path)
        size = 0
        for file in (path, path.with_name(path.name + "-wal")):
            with contextlib.suppress(OSError):
                size += file.stat().st_size
        return CaptureStatus(
            session_id=self.session_id,
            participant=self.participant.public_text,
            upstream_order=self.upstream.order_endpoint,
            upstream_market=self.upstream.market_endpoint,
            uptime_s=round((time.monotonic_ns() - self._started_ns) / 1e9, 3),
            frames=self.frames,
            frames_per_s=round(self._rate, 1),
            to_exchange=self.to_exchange,
            from_exchange=self.from_exchange,
            market=self.market,
            journal_bytes=size,
            open_gaps=self.gaps.open_gaps,
            gaps_detected=self._gaps_detected,
            pending_requests=len(self.gaps.pending),
            bots_connected=self._bots.connected,
            market_subscribers=self._subscribers.connected,
            not_delivered=self.not_delivered,
            committer_pid=self.journal.committer_pid,
            upstream=self.liveness.state.value,
            reconnects=self.liveness.reconnects,
            heartbeat_ms=self.liveness.heartbeat_ms,
        )

    def _finish(self, reason: str) -> None:
        """Commit, end the session row with ``reason``, close the sockets."""
        try:
            self._end_session(reason)
            event(log, logging.INFO, "capture stopped", reason=reason, **self.status().as_dict())
        finally:
            self._done.set()
            self._close()

    def _close(self) -> None:
        for name in ("_router_mon", "_pub_mon"):
            sock = getattr(self, name, None)
            if sock is not None:
                sock.close(0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._ctx is not None:
            self._ctx.destroy(linger=0)
            self._ctx = None
