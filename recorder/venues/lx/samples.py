"""Synthetic but realistic LX/1 traffic, seeded: for journal tests and benchmarks.

The mix follows what one participant's capture point sees while trading on a few contracts:
its requests and their ACKs, private and public action reports, book tops and heartbeats, with
per-stream sequence numbers and clocks that rise as the protocol says. For exchange-faithful
streams (matching, fills, books) use the simulator's driver instead.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from recorder.core.frames import Channel, Direction, FrameRecord
from recorder.venues.lx import lx1_pb2 as pb
from recorder.venues.lx.codec import encode, make_envelope
from recorder.venues.lx.records import to_record


@dataclass(frozen=True, slots=True)
class SampleFrame:
    """One synthetic frame: where it travels and its bytes."""

    channel: Channel
    direction: Direction
    payload: bytes


def sample_frames(n: int, *, seed: int = 1, contracts: int = 4) -> Iterator[SampleFrame]:
    """``n`` frames of one participant's traffic (order and market channels, both directions)."""
    rng = random.Random(seed)
    run_id = f"{rng.getrandbits(128):032x}"
    out_seq = order_seq = market_seq = 0
    clocks = [0] * (contracts + 1)
    trade_id = 0
    t = 1_700_000_000_000_000_000
    produced = 0
    while produced < n:
        t += rng.randrange(20_000, 400_000)
        roll = rng.random()
        contract = rng.randrange(1, contracts + 1)
        price = 10_000 + rng.randrange(-50, 50) * 5
        if roll < 0.12:
            mid = f"{rng.getrandbits(128):032x}"
            out_seq += 1
            body = pb.LimitOrder(
                contract_id=contract, is_ask=rng.random() < 0.5, size=rng.randrange(1, 20),
                price_in_cents=price, time_in_force=pb.GTC, client_ref=f"bot-{out_seq}",
            )  # fmt: skip
            env = make_envelope(body, mid=mid, seq=out_seq, timestamp=t, ticks=t)
            yield SampleFrame(Channel.ORDER, Direction.OUT, encode(env))
            order_seq += 1
            ack = make_envelope(
                pb.Status(code=pb.ACK), mid=mid, seq=order_seq, run_id=run_id, timestamp=t, ticks=t
            )
            yield SampleFrame(Channel.ORDER, Direction.IN, encode(ack))
            produced += 2
            continue
        if roll < 0.55:
            clocks[contract] += 1
            trade = rng.random() < 0.3
            if trade:
                trade_id += 1
            report = pb.ActionReport(
                contract_id=contract, entry_id=f"{rng.getrandbits(128):032x}",
                status_type=pb.CROSS if trade else pb.INSERTED, is_ask=rng.random() < 0.5,
                price_in_cents=price, size=rng.randrange(0, 20),
                filled_size=rng.randrange(1, 5) if trade else 0, filled_price=price if trade else 0,
                original_size=20, clock=clocks[contract], trade_id=trade_id if trade else 0,
            )  # fmt: skip
            private = rng.random() < 0.2
            if private:
                order_seq += 1
                report.mpid = 7
                env = make_envelope(report, mid=report.entry_id, seq=order_seq, run_id=run_id,
                                    timestamp=t, ticks=t)  # fmt: skip
                yield SampleFrame(Channel.ORDER, Direction.IN, encode(env))
            else:
                market_seq += 1
                env = make_envelope(report, seq=market_seq, run_id=run_id, timestamp=t, ticks=t)
                yield SampleFrame(Channel.MARKET, Direction.IN, encode(env))
        elif roll < 0.95:
            market_seq += 1
            top = pb.BookTop(
                contract_id=contract, bid=price - 5, bid_size=rng.randrange(1, 50),
                ask=price + 5, ask_size=rng.randrange(1, 50), clock=clocks[contract],
            )  # fmt: skip
            env = make_envelope(top, seq=market_seq, run_id=run_id, timestamp=t, ticks=t)
            yield SampleFrame(Channel.MARKET, Direction.IN, encode(env))
        else:
            order_seq += 1
            hb = make_envelope(pb.Heartbeat(interval_ms=1000, beat=order_seq), seq=order_seq,
                               run_id=run_id, timestamp=t, ticks=t)  # fmt: skip
            yield SampleFrame(Channel.ORDER, Direction.IN, encode(hb))
        produced += 1


def sample_records(
    n: int, *, session_id: int, seed: int = 1, wall_ns: int = 1_700_000_000_000_000_000
) -> list[FrameRecord]:
    """``n`` journal records of :func:`sample_frames`, wall clock rising 100 µs per frame."""
    records = []
    for i, frame in enumerate(sample_frames(n, seed=seed)):
        records.append(
            to_record(
                frame.payload,
                session_id=session_id,
                channel=frame.channel,
                direction=frame.direction,
                wall_ns=wall_ns + i * 100_000,
                mono_ns=i * 100_000,
            )
        )
    return records[:n]


def heartbeat_records(
    session_id: int, seqs: list[int], *, run_id: str, is_replay: bool = False
) -> list[FrameRecord]:
    """Inbound order-channel heartbeats with the given seqs (both clocks set to the seq): the
    smallest stream whose gaps and replays the journal's checks can be tried on."""
    return [
        to_record(
            encode(
                make_envelope(
                    pb.Heartbeat(interval_ms=1000, beat=s),
                    seq=s,
                    run_id=run_id,
                    is_replay=is_replay,
                )
            ),
            session_id=session_id,
            channel=Channel.ORDER,
            direction=Direction.IN,
            wall_ns=s,
            mono_ns=s,
        )
        for s in seqs
    ]
