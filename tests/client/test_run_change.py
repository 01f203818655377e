"""Run changes (docs/protocol.md §6) that the two channels bring at different moments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sdk_helpers import WAIT, Recording, read_journal, until

from recorder.client import Commands, Context, FinishReason
from recorder.core.frames import Channel, Direction
from recorder.replay import Replayer
from recorder.sim.server import SimServer


def test_run_change_seen_first_on_the_market_channel_releases_a_late_acked_order(
    make_server: Callable[..., SimServer],
    make_context: Callable[..., Context],
    client_keys: Any,
    tmp_path: Path,
) -> None:
    server = make_server(heartbeat_ms=3000)  # the test's beat() brings the new run
    processor = Recording()
    # No S1 resend while the ACK is held back: the order is executed once, in the old run.
    context = make_context(processor, server=server, ack_timeout_ms=5000, backoff_cap_ms=5000)
    cmd = Commands(context)
    assert cmd.get_contracts().wait_done(WAIT)
    old_run = context.run_id

    server.delay(client_keys.public, 700)  # the order's ACK, and its INSERTED behind it, held
    item = cmd.limit_order(contract_id=1, size=1, price_in_cents=5000)
    until(lambda: [o for o in server.open_orders(client_keys.public) if o.entry_id == item.mid])
    new_run = server.restart()
    server.beat()  # the market channel's heartbeat brings the new run first
    processor.wait_for(lambda _: processor.named("run_change"))
    # Then the order channel: the held ACK and INSERTED of the old run, its new-run heartbeat.
    until(lambda: context.order_seq.run_id == new_run)

    # The late ACK shows the order was executed in the replaced run: its orders are gone, so it
    # is released like the run's other orders, not left in flight nor resent into the new run.
    assert item.wait_done(WAIT) and item.finish_reason is FinishReason.RUN_CHANGE
    assert item.ack is not None and item.ack.run_id == old_run and item.resends == 0
    assert item.mid not in context.store
    assert server.open_orders(client_keys.public) == []
    # The bot purged the old run in handle_run_change: no handler is given its late frames.
    assert processor.named("run_change") == [(new_run, old_run)]
    assert not [m for m, _ in processor.named("status") if m.mid == item.mid]
    assert not [m for m, _ in processor.named("action_report") if m.mid == item.mid]
    context.stop()
    context.join(WAIT)
    with read_journal(tmp_path / "sdk.journal") as journal:  # the late frames are journaled
        late = [
            (f.kind, f.run_id)
            for f in journal.by_mid(item.mid)
            if f.channel is Channel.ORDER and f.direction is Direction.IN
        ]
    assert late == [("Status", old_run), ("ActionReport", old_run)]
    # A replay of the journal makes the same calls (it dispatches as the SDK does).
    replayed = Recording()
    with read_journal(tmp_path / "sdk.journal") as journal:
        Replayer(journal, replayed, client_config=context.client_config).run()
    assert replayed.calls == processor.calls
