"""The dispatcher alone (sans-I/O): a run change retires the sequencer of the channel that did
not bring it, and a late frame of the replaced run releases the request it answers, unseen by
the handlers."""

from __future__ import annotations

from typing import Any

from sdk_helpers import Recording

from recorder.client import FinishReason, IDStoreItem
from recorder.client.dispatch import Dispatcher, Handlers
from recorder.config import ClientConfig
from recorder.core.frames import Channel
from recorder.core.sequencing import GapClosed, RunChanged, Step
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import make_envelope

ORDER, MARKET = Channel.ORDER, Channel.MARKET


class Port:
    """A :class:`~recorder.client.dispatch.DispatchPort` that carries out run changes, as the
    context and the replay do, and notes them and the retirements."""

    def __init__(self) -> None:
        self.dispatcher: Dispatcher | None = None
        self.retirements: list[tuple[Channel, str, int, Step[None]]] = []
        self.run_changes: list[tuple[str, str, int]] = []

    def arrived(self, channel: Channel, available: bool, joined: bool) -> None:
        pass

    def sequenced(
        self, channel: Channel, envelope: pb.Envelope, run: str, high: int, step: Step[None]
    ) -> None:
        assert self.dispatcher is not None
        for effect in step.effects:
            if isinstance(effect, RunChanged):
                self.dispatcher.run_change(effect.old_run_id, effect.new_run_id)

    def retired(self, channel: Channel, run: str, high: int, step: Step[None]) -> None:
        self.retirements.append((channel, run, high, step))

    def market_seen(self, envelope: pb.Envelope, body: str) -> None:
        pass

    def order_handled(self, *args: Any) -> None:
        pass

    def order_done(self) -> None:
        pass

    def run_changed(self, previous: str, new: str, released: int) -> None:
        self.run_changes.append((previous, new, released))


def _beat(run_id: str, seq: int) -> pb.Envelope:
    return pb.Envelope(run_id=run_id, seq=seq, heartbeat=pb.Heartbeat(interval_ms=1000))


def _ack(mid: str, run_id: str, seq: int) -> pb.Envelope:
    return pb.Envelope(mid=mid, run_id=run_id, seq=seq, status=pb.Status(code=pb.ACK))


def _dispatcher() -> tuple[Dispatcher, Recording, Port]:
    processor, port = Recording(), Port()
    dispatcher = port.dispatcher = Dispatcher(Handlers(processor), ClientConfig(), port, 0)
    return dispatcher, processor, port


def test_a_run_change_on_the_market_channel_retires_the_order_channels_run() -> None:
    dispatcher, processor, port = _dispatcher()
    dispatcher.inbound(_beat("old", 1), ORDER, 0)
    dispatcher.inbound(_beat("old", 1), ORDER, 0)  # a duplicate: ignored
    dispatcher.inbound(_beat("old", 3), ORDER, 0)  # seq 2 missing: an open gap
    dispatcher.inbound(_beat("old", 7), MARKET, 0)
    called: list[pb.Envelope] = []
    order = IDStoreItem(
        make_envelope(pb.LimitOrder(contract_id=1, size=1), mid="a" * 32),
        lambda msg, _: called.append(msg),
    )
    dispatcher.store.add(order)
    dispatcher.store.mark_sent(order, order.msg, 0)

    dispatcher.inbound(_beat("new", 1), MARKET, 0)
    assert processor.named("run_change") == [("new", "old")]
    ((channel, run, high, step),) = port.retirements
    assert (channel, run, high) == (ORDER, "old", 3)
    assert step.effects == (GapClosed("old", 2, 2, filled=False),)  # the old gap written off
    assert dispatcher.order_seq.run_id == "" and not dispatcher.order_seq.open_gaps

    # The order's ACK of the old run comes late: stale, yet it shows the order was executed
    # there, so the order is released with the run's others (never resent into the new run).
    dispatcher.inbound(_ack(order.mid, "old", 4), ORDER, 0)
    assert order.finish_reason is FinishReason.RUN_CHANGE and order.mid not in dispatcher.store
    assert order.ack is not None and order.ack.run_id == "old"
    # The bot purged the old run: neither its handlers nor the order's callback see the ACK.
    assert processor.named("status") == [] and called == [] and order.replies == []

    # The order channel's first frame of the new run is no second run change.
    dispatcher.inbound(_beat("new", 1), ORDER, 0)
    assert dispatcher.order_seq.run_id == "new" and not dispatcher.order_seq.open_gaps
    assert processor.named("run_change") == [("new", "old")]
    assert [(p, n) for p, n, _ in port.run_changes] == [("old", "new")]


def test_a_run_change_on_the_order_channel_retires_the_market_channels_run() -> None:
    dispatcher, processor, port = _dispatcher()
    dispatcher.inbound(_beat("old", 1), ORDER, 0)
    dispatcher.inbound(_beat("old", 5), MARKET, 0)
    dispatcher.inbound(_beat("new", 1), ORDER, 0)
    assert [(c, r, h) for c, r, h, _ in port.retirements] == [(MARKET, "old", 5)]
    beats = len(processor.named("heartbeat"))
    dispatcher.inbound(_beat("old", 6), MARKET, 0)  # a late market frame of the old run
    assert len(processor.named("heartbeat")) == beats
    dispatcher.inbound(_beat("new", 1), MARKET, 0)
    assert dispatcher.market_seq.run_id == "new" and not dispatcher.market_seq.open_gaps
    assert processor.named("run_change") == [("new", "old")]
    assert len(processor.named("heartbeat")) == beats + 1
