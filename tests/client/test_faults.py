"""The SDK under the simulator's injected faults: S1 (lost request, lost ACK), S2 (lost reports),
order-channel gaps, a malformed frame from the exchange, a handler that raises, silence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sdk_helpers import WAIT, Recording, read_journal

from recorder.client import IOC, Commands, Context, FinishReason, ItemState
from recorder.core.frames import Channel, Direction, FrameFlag
from recorder.errors import RemoteProtocolError
from recorder.journal.verify import verify
from recorder.sim.server import SimServer
from recorder.venues.lx import lx1_pb2 as pb


def _verified(path: Path) -> Any:
    with read_journal(path) as journal:
        report = verify(journal)
        gaps = journal.gaps()
    assert report.breaks == (), report.breaks
    return gaps


def _stop(context: Context) -> None:
    context.stop()
    context.join(WAIT)
    assert not context.is_alive()


def test_s1_lost_request_is_resent_and_executed_once(
    server: SimServer, make_context: Callable[..., Context], client_keys: Any, tmp_path: Path
) -> None:
    context = make_context()
    server.drop_requests(client_keys.public, 1)
    item = Commands(context).limit_order(contract_id=1, size=1, price_in_cents=5000)
    assert item.wait_acked(WAIT)
    assert item.resends >= 1 and item.state is ItemState.ACKED
    assert [o.entry_id for o in server.open_orders(client_keys.public)] == [item.mid]
    _stop(context)
    with read_journal(tmp_path / "sdk.journal") as journal:
        sent = [f.payload for f in journal.by_mid(item.mid) if f.direction is Direction.OUT]
    assert len(sent) == item.resends + 1 and set(sent) == {item.wire}  # the same bytes again


def test_s1_dropped_ack_is_resent_and_executed_once(
    make_server: Callable[..., SimServer],
    make_context: Callable[..., Context],
    client_keys: Any,
    tmp_path: Path,
) -> None:
    server = make_server(heartbeat_ms=3000)  # no heartbeat reveals the gap before the resend
    processor = Recording()
    context = make_context(processor, server=server)
    # The ACK is lost, and so is the report behind it: nothing tells the client the order
    # arrived, so it resends the same envelope; the exchange answers a duplicate ACK.
    server.drop_ack(client_keys.public)
    server.drop_next(client_keys.public, 1, replies_only=True)
    item = Commands(context).limit_order(contract_id=1, size=1, price_in_cents=5000)
    assert item.wait_acked(WAIT)
    processor.wait_for(lambda _: processor.named("replay_done"))  # the gap was replayed
    assert item.resends >= 1
    statuses = [m.status for m in item.replies if m.WhichOneof("body") == "status"]
    assert any(s.duplicate for s in statuses)
    # Executed once: one resting entry, one INSERTED (the replayed original) and no second one.
    assert [o.entry_id for o in server.open_orders(client_keys.public)] == [item.mid]
    reports = [m for m in item.replies if m.WhichOneof("body") == "action_report"]
    assert [(r.action_report.status_type, r.is_replay) for r in reports] == [(pb.INSERTED, True)]
    _stop(context)
    gaps = _verified(tmp_path / "sdk.journal")
    assert [(g.channel, g.state) for g in gaps] == [("order", "filled")]


def test_s1_dropped_ack_alone_is_recovered_by_the_gap_replay(
    server: SimServer, make_context: Callable[..., Context], client_keys: Any, tmp_path: Path
) -> None:
    processor = Recording()
    context = make_context(processor, ack_timeout_ms=5000, backoff_cap_ms=5000)
    server.drop_ack(client_keys.public)
    item = Commands(context).limit_order(contract_id=1, size=1, price_in_cents=5000)
    # The INSERTED report's seq reveals the lost ACK's seq: MessageReplay brings it back.
    assert item.wait_acked(WAIT)
    assert item.ack is not None and item.ack.is_replay and item.resends == 0
    processor.wait_for(lambda _: processor.named("replay_done"))
    assert [o.entry_id for o in server.open_orders(client_keys.public)] == [item.mid]
    (gap,) = processor.named("gap")
    assert gap[0] is Channel.ORDER and gap[2] == gap[3] == item.ack.seq
    _stop(context)
    gaps = _verified(tmp_path / "sdk.journal")
    assert [(g.from_seq, g.to_seq, g.state) for g in gaps] == [(gap[2], gap[3], "filled")]


def test_s2_dropped_reports_keep_the_request_in_flight_until_replayed(
    make_server: Callable[..., SimServer],
    make_context: Callable[..., Context],
    client_keys: Any,
    tmp_path: Path,
) -> None:
    server = make_server(heartbeat_ms=2000)  # long enough that the silence is not noticed
    processor = Recording()
    context = make_context(processor, server=server)
    processor.wait_for(lambda _: processor.named("heartbeat"))  # the market channel is live
    server.drop_after_ack(client_keys.public)
    cmd = Commands(context)
    item = cmd.limit_order(contract_id=1, size=1, price_in_cents=5000, time_in_force=IOC)
    assert item.wait_acked(WAIT)
    # The exchange finished the order (public NOT_FILLED on the market channel) but the private
    # report was dropped: the request is ACKed, not finished — kept in flight (S2).
    processor.wait_for(
        lambda _: [m for (m,) in processor.named("public_report") if m.mid == item.mid]
    )
    assert item.state is ItemState.ACKED and not item.wait_done(0)
    assert item in context.store.awaiting_final()
    # The next request ends the outage; its ACK's seq shows the gap, MessageReplay fills it.
    assert cmd.get_contracts(1).wait_done(WAIT)
    assert item.wait_done(WAIT) and item.finish_reason is FinishReason.SIZE_ZERO
    last = item.replies[-1]
    assert last.is_replay and last.action_report.status_type == pb.NOT_FILLED
    assert item not in context.store.in_flight()
    _stop(context)
    gaps = _verified(tmp_path / "sdk.journal")
    assert [g.state for g in gaps] == ["filled"]


def test_order_channel_gap_is_replayed_and_ledgered(
    server: SimServer, make_context: Callable[..., Context], client_keys: Any, tmp_path: Path
) -> None:
    processor = Recording()
    context = make_context(processor)
    cmd = Commands(context)
    assert cmd.get_contracts().wait_done(WAIT)  # attaches: order-channel heartbeats flow
    server.drop_next(client_keys.public, 3)
    items = [cmd.get_book_state(c) for c in (1, 2, 3)]
    assert all(i.wait_done(WAIT) for i in items)
    processor.wait_for(lambda _: processor.named("replay_done"))
    snapshots = [m for m, _ in processor.named("book_state")]
    assert sorted(m.book_state_snapshot.contract_id for m in snapshots) == [1, 2, 3]
    _stop(context)
    gaps = _verified(tmp_path / "sdk.journal")
    assert gaps and all(g.state == "filled" for g in gaps)


def test_malformed_frame_is_journaled_flagged_reported_and_survived(
    server: SimServer, make_context: Callable[..., Context], client_keys: Any, tmp_path: Path
) -> None:
    processor = Recording()
    context = make_context(processor)
    cmd = Commands(context)
    assert cmd.get_contracts(1).wait_done(WAIT)  # the exchange knows the connection now
    garbage = server.send_garbage(client_keys.public, 24)
    ((raw, error),) = processor.wait_for(lambda _: processor.named("protocol_error"))
    assert raw == garbage and isinstance(error, RemoteProtocolError) and error.raw == garbage
    assert context.is_alive()
    assert cmd.get_contracts(2).wait_done(WAIT)  # still running
    _stop(context)
    with read_journal(tmp_path / "sdk.journal") as journal:
        bad = [f for f in journal.frames() if f.malformed]
        report = verify(journal)
    assert [(f.payload, f.channel, f.direction) for f in bad] == [
        (garbage, Channel.ORDER, Direction.IN)
    ]
    assert report.malformed == 1 and report.breaks == ()


def test_a_message_of_several_frames_is_journaled_joined_flagged_and_survived(
    server: SimServer, make_context: Callable[..., Context], client_keys: Any, tmp_path: Path
) -> None:
    """LX/1 messages are one ZeroMQ frame: one of three is journaled as it came, joined, and
    flagged multi-part (and malformed: these bytes are no envelope either)."""
    processor = Recording()
    context = make_context(processor)
    cmd = Commands(context)
    assert cmd.get_contracts(1).wait_done(WAIT)
    garbage = server.send_garbage(client_keys.public, 30, parts=3)
    ((raw, error),) = processor.wait_for(lambda _: processor.named("protocol_error"))
    assert raw == garbage and isinstance(error, RemoteProtocolError)
    assert cmd.get_contracts(2).wait_done(WAIT)  # still running, and the stream goes on
    _stop(context)
    with read_journal(tmp_path / "sdk.journal") as journal:
        bad = [f for f in journal.frames() if f.flags]
    assert [(f.payload, f.flags) for f in bad] == [
        (garbage, FrameFlag.MULTIPART | FrameFlag.MALFORMED)
    ]


def test_raising_handler_and_callback_are_reported_with_their_mid(
    make_context: Callable[..., Context],
) -> None:
    class Raising(Recording):
        def handle_status_message(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
            super().handle_status_message(msg, prev_msg)
            raise RuntimeError(f"bot bug on {msg.mid}")

    processor = Raising()
    context = make_context(processor)
    cmd = Commands(context)
    item = cmd.get_contracts(1)
    assert item.wait_done(WAIT)
    errors = processor.wait_for(lambda _: processor.named("handler_error"))
    assert {mid for mid, _ in errors} == {item.mid}
    assert all(isinstance(e, RuntimeError) and item.mid in str(e) for _, e in errors)

    def bad_callback(msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        raise ValueError("callback bug")

    second = cmd.get_contracts(2, callback=bad_callback)
    assert second.wait_done(WAIT)
    processor.wait_for(
        lambda _: [
            e
            for m, e in processor.named("handler_error")
            if m == second.mid and isinstance(e, ValueError)
        ]
    )
    assert context.is_alive()
    assert cmd.get_book_state(1).wait_done(WAIT)  # the I/O thread goes on


def test_silent_order_channel_is_unavailable_then_reconnected(
    make_server: Callable[..., SimServer],
    make_context: Callable[..., Context],
    client_keys: Any,
    tmp_path: Path,
) -> None:
    server = make_server(heartbeat_ms=100)
    processor = Recording()
    context = make_context(processor, server=server, default_heartbeat_ms=100)
    cmd = Commands(context)
    assert cmd.get_contracts(1).wait_done(WAIT)
    server.disconnect(client_keys.public)  # the exchange stops talking to this connection
    processor.wait_for(
        lambda _: [a for a in processor.named("unavailable") if a[0] is Channel.ORDER]
    )
    # The context reconnected (a new journal session) and asked for its open orders.
    processor.wait_for(lambda _: processor.named("open_orders"))
    processor.wait_for(lambda _: [a for a in processor.named("available") if a[0] is Channel.ORDER])
    assert cmd.get_contracts(2).wait_done(WAIT)
    _stop(context)
    with read_journal(tmp_path / "sdk.journal") as journal:
        sessions = journal.sessions()
        report = verify(journal)
    assert len(sessions) == 2 and sessions[0].end_reason.startswith("order channel silent")
    assert report.breaks == ()
