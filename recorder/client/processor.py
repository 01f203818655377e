"""``MessageProcessor``: the handlers a bot implements, in the shape of the LedgerX SDK.

The eight handlers of the seed are abstract; the others have defaults (logging) so that a
processor written for the seed works unchanged. Every handler runs on the context's I/O thread,
after the message was journaled (ARCHITECTURE.md rule 1); a handler should return quickly and
may submit commands (they are queued, never sent from inside the handler).

``msg`` is the decoded LX/1 :class:`~recorder.venues.lx.lx1_pb2.Envelope` (``msg.mid``,
``msg.seq``, ``msg.run_id``, ``msg.is_replay`` and the body, e.g. ``msg.action_report.size``).
``prev_msg`` is the previous message with the same mid (see :mod:`recorder.client.store`), or
None (heartbeats, book tops, a message whose mid is not in flight).
"""

from __future__ import annotations

import abc
import logging
from typing import TYPE_CHECKING

from recorder.core.frames import Channel
from recorder.errors import RemoteProtocolError
from recorder.venues.lx import lx1_pb2 as pb

if TYPE_CHECKING:
    from recorder.client.context import Context
    from recorder.client.reconcile import ReconcileReport

log = logging.getLogger("recorder.client")

Envelope = pb.Envelope


class MessageProcessor(abc.ABC):
    """Handlers for everything the exchange sends, and for the connection's events.

    The context builds one instance (``processor_cls(context)`` if the class accepts the
    context, else ``processor_cls()``); :attr:`context` is set before the first handler runs.
    """

    context: Context | None = None

    # ------------------------------------------------------------------ the seed's handlers

    @abc.abstractmethod
    def handle_run_change(self, run_id: str, prev_run_id: str) -> None:
        """The exchange restarted: every open order of ``prev_run_id`` is cancelled (purge
        them); the context has already released their mids."""

    @abc.abstractmethod
    def handle_action_report(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """A private action report for one of your entries (order channel). For an order's
        first report ``prev_msg`` is the order request itself."""

    @abc.abstractmethod
    def handle_contract_detail(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """One ``ContractDetail`` answering ``GetContracts``."""

    @abc.abstractmethod
    def handle_status_message(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """A ``Status``: the ACK or reject of a request, or a ``DONE``."""

    @abc.abstractmethod
    def handle_batch_message(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """``BatchAcks``: one status per inner message of a batch you sent."""

    @abc.abstractmethod
    def handle_book_top(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """A ``BookTop`` from the market channel (``prev_msg`` is None)."""

    @abc.abstractmethod
    def handle_book_state_snapshot(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """A ``BookStateSnapshot``; ``prev_msg`` is the ``GetBookState`` request."""

    @abc.abstractmethod
    def handle_heartbeat(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """A heartbeat (either channel); the next one is due within ``interval_ms``."""

    # ------------------------------------------------------------------ with defaults

    def handle_open_orders(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """An ``OpenOrdersSnapshot`` (also requested by the context after a reconnect)."""
        return None

    def handle_replay_done(self, msg: Envelope, prev_msg: Envelope | None) -> None:
        """``ReplayDone`` closing a ``MessageReplay`` (also those the context asks for)."""
        return None

    def handle_public_report(self, msg: Envelope) -> None:
        """A public action report from the market channel (``mpid`` = 0)."""
        return None

    def handle_exchange_unavailable(self, channel: Channel, silent_ms: int) -> None:
        """Nothing arrived on ``channel`` for ``heartbeat interval x factor``."""
        log.warning("exchange unavailable: no %s-channel message for %d ms", channel, silent_ms)

    def handle_exchange_available(self, channel: Channel) -> None:
        """The first message on ``channel`` after it was unavailable (gaps and a run change are
        checked on that very message)."""
        log.info("exchange available again on the %s channel", channel)

    def handle_gap(self, channel: Channel, run_id: str, from_seq: int, to_seq: int) -> None:
        """Seqs ``from_seq..to_seq`` are missing on ``channel``; the context is recovering
        them (``MessageReplay`` on the order channel, ``GetBookState`` on the market one)."""
        log.info("%s-channel gap: seq %d..%d of run %s", channel, from_seq, to_seq, run_id[:8])

    def handle_reconciled(self, report: ReconcileReport) -> None:
        """The local state is reconciled with the exchange (after a start on an existing
        journal, a reconnect, a gap, the exchange available again, a refused replay):
        ``report`` says what was resent, replayed, resynced and corrected."""
        log.info("reconciled (%s) in %.1f ms", report.trigger, report.duration_ms)

    def handle_protocol_error(self, raw: bytes, error: RemoteProtocolError) -> None:
        """The exchange sent bytes that are not a valid LX/1 frame; they were journaled as they
        came (flagged malformed) and the context keeps running."""
        log.error("malformed frame from the exchange (%d bytes): %s", len(raw), error)

    def handle_handler_error(self, mid: str, error: Exception) -> None:
        """A handler or callback raised while handling the message with ``mid`` ("" for none);
        the I/O thread logged it and goes on."""
        return None

    def handle_fatal_error(self, error: Exception) -> None:
        """The context stopped itself (a journal failure: nothing may be sent unjournaled)."""
        return None
