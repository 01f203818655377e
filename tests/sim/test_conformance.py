"""Protocol conformance over real loopback sockets with CURVE: one test per PROTOCOL.md rule."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import zmq
from lxclient import Client, envelope_bytes, limit

from recorder.keys import KeyPair
from recorder.sim.engine import Engine
from recorder.sim.exchange import Exchange, Now
from recorder.sim.model import default_contracts
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import MVERSION


def kinds(envelopes: list[pb.Envelope]) -> list[str]:
    return [e.WhichOneof("body") or "" for e in envelopes]


def test_ack_is_always_the_first_reply(alice: Client) -> None:
    """§3: every request's first reply is a Status; for an order it is the ACK, then reports."""
    order = alice.request(limit(size=2))
    assert kinds(order) == ["status", "action_report"]
    assert order[0].status.code == pb.ACK
    assert order[1].mid == order[0].mid == order[1].action_report.entry_id
    contracts = alice.request(pb.GetContracts())
    assert kinds(contracts) == [
        "status",
        "contract_detail",
        "contract_detail",
        "contract_detail",
        "status",
    ]
    assert contracts[0].status.code == pb.ACK and contracts[-1].status.code == pb.DONE
    assert [c.contract_detail.tick_cents for c in contracts[1:4]] == [1, 5, 10]
    book = alice.request(pb.GetBookState(contract_id=1))
    assert kinds(book) == ["status", "book_state_snapshot"]
    assert [e.size for e in book[1].book_state_snapshot.entries] == [2]


def test_rejects_are_final(alice: Client) -> None:
    """§3: a REJECT_* is the first and only reply; nothing executes."""
    cases = [
        (limit(contract_id=99), pb.REJECT_UNKNOWN_CONTRACT),
        (limit(size=0), pb.REJECT_INVALID_SIZE),
        (limit(contract_id=2, price=5001), pb.REJECT_INVALID_PRICE),
        (limit(price=0), pb.REJECT_INVALID_PRICE),
        (pb.CancelOrder(contract_id=1, entry_id="0" * 32), pb.REJECT_UNKNOWN_ENTRY),
        (
            pb.CancelReplace(contract_id=1, entry_id="0" * 32, size=1, price_in_cents=100),
            pb.REJECT_UNKNOWN_ENTRY,
        ),
        (pb.GetBookState(contract_id=42), pb.REJECT_UNKNOWN_CONTRACT),
        (pb.MessageReplay(run_id="f" * 32), pb.REJECT_REPLAY_UNAVAILABLE),
    ]
    for body, code in cases:
        replies = alice.request(body)
        assert [(e.WhichOneof("body"), e.status.code) for e in replies] == [("status", code)]
        assert replies[0].status.message
    assert alice.server.book(1).bids == ()


def test_cancel_of_someone_elses_entry_is_unknown(alice: Client, bob: Client) -> None:
    entry = alice.request(limit())[0].mid
    replies = bob.request(pb.CancelOrder(contract_id=1, entry_id=entry))
    assert [e.status.code for e in replies] == [pb.REJECT_UNKNOWN_ENTRY]


def test_duplicate_mid_is_not_executed_again(alice: Client) -> None:
    """§3: a resent mid gets Status{ACK, duplicate=true} and nothing else."""
    mid = uuid.uuid4().hex
    first = alice.request(limit(size=3), mid=mid)
    assert first[0].status.code == pb.ACK and not first[0].status.duplicate
    again = alice.request(limit(size=3), mid=mid)
    assert [(e.status.code, e.status.duplicate) for e in again] == [(pb.ACK, True)]
    assert [o.size for o in alice.server.open_orders(alice.key)] == [3]
    bad = uuid.uuid4().hex
    alice.request(limit(size=0), mid=bad)
    again = alice.request(limit(size=0), mid=bad)
    assert [(e.status.code, e.status.duplicate) for e in again] == [(pb.REJECT_INVALID_SIZE, True)]


def test_trade_requests_report_until_size_zero(alice: Client, bob: Client) -> None:
    """§3-§5: reports under the order's mid until size 0; fills share a trade id on both sides."""
    alice.market_ready()
    rest = alice.request(limit(size=5, price=5000))
    entry = rest[0].mid
    assert rest[-1].action_report.status_type == pb.INSERTED
    take = bob.request(limit(is_ask=True, size=3, price=4900, ioc=True))
    assert [(r.action_report.status_type, r.action_report.size) for r in take[1:]] == [
        (pb.CROSS, 0)
    ]
    bob_fill = take[1].action_report
    assert (bob_fill.filled_size, bob_fill.filled_price) == (3, 5000)  # at the resting price
    alice_fill = alice.recv()
    assert alice_fill.mid == entry
    report = alice_fill.action_report
    assert (report.status_type, report.size, report.filled_size) == (pb.CROSS, 2, 3)
    assert report.trade_id == bob_fill.trade_id and report.mpid != bob_fill.mpid
    cancel = alice.request(pb.CancelOrder(contract_id=1, entry_id=entry))
    assert [(r.action_report.status_type, r.action_report.size) for r in cancel[1:]] == [
        (pb.CANCELLED, 0)
    ]
    assert cancel[1].action_report.entry_id == entry
    ioc = bob.request(limit(is_ask=True, size=1, price=6000, ioc=True))
    assert [(r.action_report.status_type, r.action_report.size) for r in ioc[1:]] == [
        (pb.NOT_FILLED, 0)
    ]
    public = [alice.market_recv() for _ in range(6)]
    reports = [e.action_report for e in public if e.WhichOneof("body") == "action_report"]
    assert [r.clock for r in reports] == list(range(1, len(reports) + 1))
    assert all(r.mpid == 0 for r in reports)
    crosses = [r for r in reports if r.status_type == pb.CROSS]
    assert len(crosses) == 2 and crosses[0].trade_id == crosses[1].trade_id


def test_cancel_replace_and_cancel_all(alice: Client) -> None:
    old = alice.request(limit(size=2, price=4000))[0].mid
    replaced = alice.request(
        pb.CancelReplace(contract_id=1, entry_id=old, size=4, price_in_cents=4100)
    )
    new = replaced[0].mid
    assert [
        (r.mid, r.action_report.entry_id, r.action_report.status_type, r.action_report.size)
        for r in replaced[1:]
    ] == [
        (new, old, pb.REPLACED, 0),
        (new, new, pb.INSERTED, 4),
    ]
    alice.request(limit(contract_id=2, size=1, price=4000))
    done = alice.request(pb.CancelAll(contract_id=0))
    assert [r.action_report.status_type for r in done[1:-1]] == [pb.CANCELLED, pb.CANCELLED]
    assert done[-1].status.code == pb.DONE
    assert alice.server.open_orders(alice.key) == []


def test_open_orders_snapshot(alice: Client) -> None:
    alice.request(limit(size=2, price=4000))
    replies = alice.request(pb.GetOpenOrders())
    snapshot = replies[1]
    assert snapshot.open_orders_snapshot.run_id == snapshot.run_id
    assert snapshot.open_orders_snapshot.as_of_seq == snapshot.seq - 1
    assert [
        (o.size, o.price_in_cents, o.original_size) for o in snapshot.open_orders_snapshot.entries
    ] == [(2, 4000, 2)]


def test_batch_rules(alice: Client) -> None:
    """§3: BatchAcks in order after the ACK, then each inner message's own reports."""
    first, second, cancel = (uuid.uuid4().hex for _ in range(3))
    inner = [
        pb.Envelope(mid=first, mversion=MVERSION, limit_order=limit(size=1, price=4000)),
        pb.Envelope(mid=second, mversion=MVERSION, limit_order=limit(size=0)),
        pb.Envelope(
            mid=cancel,
            mversion=MVERSION,
            cancel_order=pb.CancelOrder(contract_id=1, entry_id=first),
        ),
    ]
    replies = alice.request(pb.Batch(messages=inner))
    assert kinds(replies) == ["status", "batch_acks", "action_report", "action_report"]
    acks = replies[1].batch_acks.acks
    assert [(a.mid, a.code) for a in acks] == [
        (first, pb.ACK),
        (second, pb.REJECT_INVALID_SIZE),
        (cancel, pb.ACK),
    ]
    assert [(r.mid, r.action_report.status_type) for r in replies[2:]] == [
        (first, pb.INSERTED),
        (cancel, pb.CANCELLED),
    ]
    # More than 200, or a forbidden body: REJECT_BATCH and nothing inside runs.
    too_many = pb.Envelope(mid=uuid.uuid4().hex, mversion=MVERSION)
    for _ in range(201):
        too_many.batch.messages.add(
            mid=uuid.uuid4().hex, mversion=MVERSION, limit_order=limit(size=1, price=3000)
        )
    alice.send_raw(too_many.SerializeToString())
    assert alice.recv().status.code == pb.REJECT_BATCH
    forbidden = pb.Envelope(mid=uuid.uuid4().hex, mversion=MVERSION)
    forbidden.batch.messages.add(
        mid=uuid.uuid4().hex, mversion=MVERSION, limit_order=limit(size=1, price=3000)
    )
    forbidden.batch.messages.add(
        mid=uuid.uuid4().hex, mversion=MVERSION, get_book_state=pb.GetBookState(contract_id=1)
    )
    alice.send_raw(forbidden.SerializeToString())
    assert alice.recv().status.code == pb.REJECT_BATCH
    assert alice.server.open_orders(alice.key) == []
    full = [
        pb.Envelope(mid=uuid.uuid4().hex, mversion=MVERSION, limit_order=limit(size=1, price=3000))
        for _ in range(200)
    ]
    replies = alice.request(pb.Batch(messages=full))
    assert len(replies[1].batch_acks.acks) == 200 and len(replies) == 202


def test_replay_by_range_and_by_mids(alice: Client) -> None:
    """§3: replayed messages are the originals with is_replay; ReplayDone takes the next seq."""
    mids = [alice.request(limit(size=1, price=4000 + i))[0].mid for i in range(3)]
    originals = {pb.Envelope.FromString(d).seq: d for d in alice.received}
    replies = alice.request(pb.MessageReplay(run_id=alice.server.run_id, from_seq=2, to_seq=5))
    ack, *replayed, done = replies
    assert ack.status.code == pb.ACK
    assert [e.seq for e in replayed] == [2, 3, 4, 5] and all(e.is_replay for e in replayed)
    for envelope in replayed:
        original = pb.Envelope.FromString(originals[envelope.seq])
        original.is_replay = True
        assert envelope == original
    assert done.seq == ack.seq + 1
    assert (
        done.replay_done.from_seq,
        done.replay_done.to_seq,
        done.replay_done.count,
        done.replay_done.complete,
    ) == (2, 5, 4, True)
    by_mid = alice.request(pb.MessageReplay(mids=[mids[0], mids[2]]))
    assert [e.mid for e in by_mid[1:-1]] == [mids[0], mids[0], mids[2], mids[2]]
    assert by_mid[-1].replay_done.count == 4


def test_replay_cap_and_complete_false(alice: Client) -> None:
    """§3: at most 2,500 per request, complete=false, and the next request picks up."""
    for _ in range(13):  # 13 batches of 200 GTC orders: 13 x 201 messages after the ACKs
        inner = [
            pb.Envelope(
                mid=uuid.uuid4().hex, mversion=MVERSION, limit_order=limit(size=1, price=1000)
            )
            for _ in range(200)
        ]
        alice.request(pb.Batch(messages=inner))
    latest = max(pb.Envelope.FromString(d).seq for d in alice.received)
    assert latest > 2600
    first = alice.request(pb.MessageReplay(from_seq=1))
    done = first[-1].replay_done
    assert (done.count, done.complete, done.to_seq) == (2500, False, 2500)
    assert [e.seq for e in first[1:-1]] == list(range(1, 2501))
    rest = alice.request(pb.MessageReplay(from_seq=done.to_seq + 1))
    done = rest[-1].replay_done
    assert done.complete and done.from_seq == 2501 and done.to_seq >= latest
    assert [e.seq for e in rest[1:-1]] == list(range(2501, done.to_seq + 1))


def test_replay_by_mids_cut_short_ends_at_the_last_seq_re_sent() -> None:
    """docs/protocol.md, Replay: cut short by the cap, ReplayDone.to_seq is the last seq re-sent
    (not the last one looked at), by mids as by range; complete, the last seq examined."""
    exchange = Exchange(Engine(default_contracts(3)), lambda: uuid.uuid4().hex, replay_cap=2)
    exchange.add_participant("alice")

    def send(**body: object) -> list[pb.Envelope]:
        envelope = pb.Envelope(mid=uuid.uuid4().hex, mversion=MVERSION, **body)  # type: ignore[arg-type]
        return _send(exchange, "alice", envelope)

    orders = []
    for price in (4000, 4001, 4002):  # each: ACK, INSERTED; then GetContracts: ACK, detail, DONE
        orders.append(send(limit_order=limit(price=price))[0].mid)
        send(get_contracts=pb.GetContracts(contract_id=1))
    assert exchange.last_seq("alice") == 15  # orders[2] at seqs 11 and 12

    def replay(request: pb.MessageReplay) -> tuple[list[int], tuple[int, int, int, bool]]:
        _, *replayed, end = send(message_replay=request)
        done = end.replay_done
        return [e.seq for e in replayed], (done.from_seq, done.to_seq, done.count, done.complete)

    request = pb.MessageReplay(mids=[orders[0], orders[2]])
    assert replay(request) == ([1, 2], (1, 2, 2, False))  # seqs 3..10 were looked at, not sent
    request.from_seq = 3  # "ask again from to_seq + 1"
    # 16 and 17: the first replay's ACK and ReplayDone, the last seqs before this one's ACK
    assert replay(request) == ([11, 12], (3, 17, 2, True))


def test_heartbeats_on_both_channels(
    make_server: Callable[..., SimServer], alice_keys: KeyPair, clients: list[Client]
) -> None:
    """§4: heartbeats every interval_ms on both channels; beats count; order seqs advance."""
    server = make_server(heartbeat_ms=200)
    alice = Client(server, alice_keys, market=True)
    clients.append(alice)
    alice.request(limit())
    started = time.monotonic()
    beats = [alice.recv(heartbeats=True) for _ in range(3)]
    assert kinds(beats) == ["heartbeat"] * 3
    assert time.monotonic() - started < 3 * 0.2 + 0.5  # due within interval_ms each
    assert beats[0].heartbeat.interval_ms == 200
    assert beats[1].heartbeat.beat == beats[0].heartbeat.beat + 1
    assert beats[1].seq == beats[0].seq + 1 and beats[0].mid == ""
    market: list[pb.Envelope] = []
    while len(market) < 2:
        envelope = alice.market_recv(heartbeats=True)
        if envelope.WhichOneof("body") == "heartbeat":
            market.append(envelope)
    assert market[0].heartbeat.interval_ms == 200
    assert market[1].heartbeat.beat == market[0].heartbeat.beat + 1
    assert market[1].seq == market[0].seq + 1


def test_order_channel_seq_has_no_holes_and_follows_the_participant(
    server: SimServer, alice: Client, alice_keys: KeyPair, clients: list[Client]
) -> None:
    """§2: per participant, +1 per message, heartbeats counted — across reconnects too."""
    for i in range(20):
        alice.request(limit(size=1, price=3000 + i))
    server.beat()
    alice.recv_until(lambda e: e.WhichOneof("body") == "heartbeat", heartbeats=True)
    seqs = [pb.Envelope.FromString(d).seq for d in alice.received]
    assert seqs == list(range(1, len(seqs) + 1))
    alice.close()
    again = Client(server, alice_keys)
    clients.append(again)
    replies = again.request(limit(size=1, price=2000))
    assert replies[0].seq > seqs[-1]
    assert replies[0].run_id == pb.Envelope.FromString(alice.received[0]).run_id


def test_market_seq_and_clock_have_no_holes(alice: Client, bob: Client) -> None:
    alice.market_ready()
    for _ in range(10):
        alice.request(limit(size=2, price=5000))
        bob.request(limit(is_ask=True, size=1, price=5000))
    alice.request(pb.GetContracts())  # everything published before this reply is out
    envelopes = []
    while alice.sub is not None and alice.sub.poll(200):
        alice.market_recv(heartbeats=True)
    envelopes = [pb.Envelope.FromString(d) for d in alice.market]
    seqs = [e.seq for e in envelopes]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    clocks = [e.action_report.clock for e in envelopes if e.WhichOneof("body") == "action_report"]
    assert (
        clocks == list(range(1, len(clocks) + 1)) and len(clocks) == 30
    )  # INSERTED + 2 CROSS per round


def test_run_change_resets_everything(alice: Client, bob: Client) -> None:
    """§6: new run_id, orders gone without reports, seqs and clocks from 1, old run unavailable."""
    old = alice.request(limit(size=1, price=4000))
    old_run = old[0].run_id
    bob.request(limit(is_ask=True, size=1, price=6000))
    new_run = alice.server.restart()
    assert new_run != old_run
    replies = alice.request(pb.GetOpenOrders())
    assert replies[0].run_id == new_run and replies[0].seq == 1
    assert replies[1].open_orders_snapshot.entries == []
    assert all(e.run_id == new_run for e in replies)
    book = alice.request(pb.GetBookState(contract_id=1))[1].book_state_snapshot
    assert (book.clock, list(book.entries)) == (0, [])
    fresh = bob.request(limit(is_ask=True, size=1, price=6000))
    assert fresh[-1].action_report.clock == 1
    assert fresh[0].seq == 1  # bob got nothing in between: no cancel reports for the old order
    unavailable = alice.request(pb.MessageReplay(run_id=old_run, from_seq=1))
    assert [e.status.code for e in unavailable] == [pb.REJECT_REPLAY_UNAVAILABLE]


def test_unknown_curve_key_gets_nothing(
    server: SimServer, alice: Client, clients: list[Client]
) -> None:
    """§1: a key not on the allow-list never gets a reply; everyone else is served."""
    stranger = Client(server, KeyPair.generate())
    clients.append(stranger)
    stranger.send(limit())
    assert stranger.silent(0.8)
    assert alice.request(limit())[0].status.code == pb.ACK


def test_malformed_bytes_are_rejected_and_the_server_keeps_serving(
    alice: Client, bob: Client
) -> None:
    """§1: garbage or multipart -> Status{REJECT_MALFORMED}, empty mid; others still served."""
    alice.send_raw(b"\xff\xfe not protobuf")
    bad = alice.recv()
    assert (bad.status.code, bad.mid) == (pb.REJECT_MALFORMED, "")
    alice.send_raw(envelope_bytes(limit(), uuid.uuid4().hex), b"second part")
    bad = alice.recv()
    assert (bad.status.code, bad.mid) == (pb.REJECT_MALFORMED, "")
    mid = uuid.uuid4().hex
    alice.send_raw(envelope_bytes(limit(), mid, mversion="2.0"))
    assert (alice.recv().status.code, alice.received and mid) == (pb.REJECT_VERSION, mid)
    alice.send_raw(envelope_bytes(limit(), "NOT-A-MID"))
    assert alice.recv().status.code == pb.REJECT_MALFORMED
    not_request = pb.Envelope(mid=uuid.uuid4().hex, mversion=MVERSION, status=pb.Status(code=1))
    alice.send_raw(not_request.SerializeToString())
    assert alice.recv().status.code == pb.REJECT_MALFORMED
    assert bob.request(limit())[0].status.code == pb.ACK
    assert alice.request(limit())[0].status.code == pb.ACK
    seqs = [pb.Envelope.FromString(d).seq for d in alice.received]
    assert seqs == list(range(1, len(seqs) + 1))


def test_frame_log_holds_the_exact_bytes(server: SimServer, alice: Client) -> None:
    alice.request(limit(size=2))
    logged = [
        f.data
        for f in server.frames(alice.key)
        if f.participant == alice.key and f.direction.value == "in"
    ]
    assert logged[: len(alice.received)] == alice.received
    sent = [f for f in server.frames(alice.key) if f.direction.value == "out"]
    assert len(sent) == 2 and pb.Envelope.FromString(sent[0].data).WhichOneof("body") == (
        "limit_order"
    )


def test_a_second_server_in_the_same_process(
    make_server: Callable[..., SimServer], server: SimServer
) -> None:
    other = make_server()
    assert other.endpoints != server.endpoints
    assert other.run_id != server.run_id
    assert zmq.zmq_version_info() >= (4, 3)


def _exchange() -> Exchange:
    exchange = Exchange(Engine(default_contracts(3)), lambda: uuid.uuid4().hex)
    exchange.add_participant("alice")
    exchange.add_participant("bob")
    return exchange


def _send(exchange: Exchange, who: str, envelope: pb.Envelope) -> list[pb.Envelope]:
    now = Now(1_700_000_000_000_000_000, 1)
    sent = exchange.receive(who, [envelope.SerializeToString()], now)
    return [pb.Envelope.FromString(d.data) for d in sent]


def test_a_version_rejection_is_final_for_its_mid() -> None:
    """PROTOCOL.md §3: a REJECT_* first reply is final; a resent mid is not executed again."""
    exchange = _exchange()
    mid = uuid.uuid4().hex
    order = pb.Envelope(
        mid=mid,
        mversion="2.0",
        limit_order=pb.LimitOrder(contract_id=1, size=1, price_in_cents=100),
    )
    assert [e.status.code for e in _send(exchange, "alice", order)] == [pb.REJECT_VERSION]
    for version in ("2.0", "1.0"):  # resent as it was, then in a version it speaks
        order.mversion = version
        again = _send(exchange, "alice", order)
        assert [(e.status.code, e.status.duplicate) for e in again] == [(pb.REJECT_VERSION, True)]
    assert exchange.engine.book(1).bids == ()  # never executed


def test_a_level_whose_sizes_pass_a_uint64_saturates_in_book_top() -> None:
    """Two valid orders (size is a uint64) at one price: each still gets its first reply."""
    exchange = _exchange()
    big = (1 << 64) - 1
    for who, size in (("alice", big), ("bob", 1)):
        order = pb.Envelope(
            mid=uuid.uuid4().hex, mversion="1.0",
            limit_order=pb.LimitOrder(contract_id=1, size=size, price_in_cents=100),
        )  # fmt: skip
        replies = _send(exchange, who, order)
        assert replies[0].status.code == pb.ACK
    tops = [e.book_top for e in replies if e.WhichOneof("body") == "book_top"]
    assert [t.bid_size for t in tops] == [big]
