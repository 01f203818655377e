"""Two small processors: one that does nothing, one that counts its calls.

``NullProcessor`` is the replayer's warm-up processor and the benchmark's no-op; ``CallCounter``
is what ``recorder replay`` feeds when no ``--into`` is given::

    from recorder.examples.processors import CallCounter
    counter = CallCounter()
    Replayer(journal, counter).run()
    print(counter.counts)  # {"handle_public_report": 1087, "handle_book_top": 365, ...}
"""

from __future__ import annotations

from recorder.client import MessageProcessor
from recorder.core.frames import Channel
from recorder.errors import RemoteProtocolError
from recorder.venues.lx import lx1_pb2 as pb

Envelope = pb.Envelope


class NullProcessor(MessageProcessor):
    """The smallest processor: every handler does nothing but tell :meth:`on_call` its name
    (the replayer's warm-up, benchmarks, and a base for processors that handle a few calls)."""

    def on_call(self, name: str) -> None:
        """Called by every handler with its name; does nothing here."""
        return None

    def handle_run_change(self, run_id: str, prev_run_id: str) -> None:
        self.on_call("handle_run_change")

    def handle_action_report(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        self.on_call("handle_action_report")

    def handle_contract_detail(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        self.on_call("handle_contract_detail")

    def handle_status_message(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        self.on_call("handle_status_message")

    def handle_batch_message(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        self.on_call("handle_batch_message")

    def handle_book_top(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        self.on_call("handle_book_top")

    def handle_book_state_snapshot(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        self.on_call("handle_book_state_snapshot")

    def handle_heartbeat(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        self.on_call("handle_heartbeat")

    def handle_open_orders(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        self.on_call("handle_open_orders")

    def handle_replay_done(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        self.on_call("handle_replay_done")

    def handle_public_report(self, msg: Envelope) -> None:
        self.on_call("handle_public_report")

    def handle_exchange_unavailable(self, channel: Channel, silent_ms: int) -> None:
        self.on_call("handle_exchange_unavailable")

    def handle_exchange_available(self, channel: Channel) -> None:
        self.on_call("handle_exchange_available")

    def handle_gap(self, channel: Channel, run_id: str, from_seq: int, to_seq: int) -> None:
        self.on_call("handle_gap")

    def handle_protocol_error(self, raw: bytes, error: RemoteProtocolError) -> None:
        self.on_call("handle_protocol_error")


class CallCounter(NullProcessor):
    """A processor that only counts its calls by handler name (``recorder replay``'s default)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        """Handler name → calls."""

    def on_call(self, name: str) -> None:
        """Count the call."""
        self.counts[name] = self.counts.get(name, 0) + 1
