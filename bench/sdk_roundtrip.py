"""Order -> ACK round trip through the SDK, journal on (safe, strict, fast) and off, in one run.

The simulator runs in a child process (its own GIL, as a real exchange would). This process runs
one SDK context at a time, alone with the simulator as a bot would be, each with a fresh journal
file: rounds interleave the modes (a context per mode per round) so that drift on a noisy
machine hits them alike, and no other context's I/O thread (journaling the measured orders'
public reports) competes for the GIL. Each sample is one IOC limit order
that cannot trade: ``limit_order()`` -> the ACK dispatched (``item.wait_acked()``); the bench waits
for the order's final report before the next one so that nothing is in flight. The figure that
matters is the p50 *added* by the journal in each mode, against the unjournaled baseline
(``journal=None``): target ``safe`` <= 60 us. Every order costs the journal two appends on the
round trip (the request before the send, the ACK before the dispatch).

    python bench/sdk_roundtrip.py             # 20 rounds x 1,000 orders per mode, updates the doc
    python bench/sdk_roundtrip.py --quick     # 2 rounds x 300 orders per mode, prints only
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, median, publish, table

from recorder.client import IOC, Commands, Context, KeyPair, MessageProcessor
from recorder.config import ClientConfig, Config, JournalConfig, SimConfig
from recorder.venues.lx import lx1_pb2 as pb

MODES = ("none", "safe", "strict", "fast")
INLINE = "safe, inline commits"
"""``safe`` with ``[client] committer = "inline"``: the I/O thread commits the spool itself."""
BUSY = "+busy poll"
"""A mode's twin with ``[client] busy_poll_us`` = :data:`BUSY_POLL_US`: the I/O thread polls
without sleeping after each wake-up."""
BUSY_POLL_US = 2000
BUSY_MODES = ("none" + BUSY, "safe" + BUSY)
RAW = "raw"
RAW_SAFE = "raw+safe"
"""The bare DEALER journaling its frames (``safe``) as the tap does: what a journal adds alone."""
TARGET_US = 60.0


class Run(NamedTuple):
    """One mode's round: its samples (ns), and the CPU time this process (the bot's thread, the
    SDK's threads, ZeroMQ's I/O thread; not the simulator) and the journal's committer process
    spent per order, in microseconds — a steadier figure than the latencies on a noisy
    machine."""

    samples: list[int]
    cpu_us: float


def _cpu_s(committer: int | None = None) -> float:
    """CPU seconds of this process, and of the journal's committer process if there is one."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    seconds = usage.ru_utime + usage.ru_stime
    if committer is not None:
        fields = Path(f"/proc/{committer}/stat").read_text().rsplit(")", 1)[1].split()
        seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


class Quiet(MessageProcessor):
    """Handlers that do nothing: the bench measures the SDK, not the bot."""

    def handle_run_change(self, run_id: str, prev_run_id: str) -> None:
        pass

    def handle_action_report(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        pass

    def handle_contract_detail(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        pass

    def handle_status_message(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        pass

    def handle_batch_message(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        pass

    def handle_book_top(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        pass

    def handle_book_state_snapshot(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        pass

    def handle_heartbeat(self, msg: pb.Envelope, prev_msg: pb.Envelope | None) -> None:
        pass


def serve() -> None:
    """Child process: run the simulator until stdin closes; print the endpoints first.

    The keys come on stdin's first line (z85 text may start with '-', which argv would take
    for an option): the exchange's public and secret key, then each participant's public key.
    """
    from recorder.keys import KeyPair as Keys
    from recorder.sim.server import SimServer

    loopback = "tcp://127.0.0.1:*"
    public, private, *participants = sys.stdin.readline().split()
    server = SimServer(
        SimConfig(order_bind=loopback, market_bind=loopback, control_bind=loopback, makers=0,
                  takers=0, heartbeat_ms=1000),
        keys=Keys(public.encode(), private.encode()),
        participants=participants,
        liquidity=False,
    )  # fmt: skip
    endpoints = server.start()
    print(endpoints.order, endpoints.market, flush=True)
    sys.stdin.read()
    server.stop()


def percentile(sorted_ns: list[int], q: float) -> float:
    """The q-quantile of sorted samples, in microseconds."""
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def run(rounds: int, orders: int) -> dict[str, list[Run]]:
    """Every mode's rounds, in order."""
    exchange = KeyPair.generate()
    assert exchange.private is not None
    names = (*MODES, INLINE, *BUSY_MODES, RAW, RAW_SAFE)
    # A participant per mode per round: a context on a fresh journal that finds the exchange's
    # seq past 1 opens a gap and replays the participant's whole history (thousands of frames
    # by the later rounds, journaled and projected while the orders are measured).
    keys = {(mode, round_): KeyPair.generate() for mode in names for round_ in range(rounds)}
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    line = [exchange.public.decode(), exchange.private.decode()]
    child.stdin.write(" ".join([*line, *(k.public_text for k in keys.values())]) + "\n")
    child.stdin.flush()
    order_ep, market_ep = child.stdout.readline().split()
    endpoints = (order_ep, market_ep)
    samples: dict[str, list[Run]] = {mode: [] for mode in names}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(rounds):
                turn = round_ % len(names)  # each mode in turn first: none always after another
                for mode in names[turn:] + names[:turn]:
                    path = Path(tmp) / f"{mode}-{round_}.journal"
                    pair = keys[mode, round_]
                    if mode == RAW:
                        run = _raw_orders(endpoints[0], pair, exchange.public, orders)
                    elif mode == RAW_SAFE:
                        run = _raw_orders(endpoints[0], pair, exchange.public, orders, path)
                    else:
                        run = _session(mode, path, pair, exchange, endpoints, orders)
                    samples[mode].append(run)
    finally:
        child.stdin.close()
        child.wait(10)
    return samples


def _session(
    mode: str,
    path: Path,
    pair: KeyPair,
    exchange: KeyPair,
    endpoints: tuple[str, str],
    orders: int,
) -> Run:
    """One SDK context alone with the simulator (a fresh journal): its order round trips."""
    journal, busy = mode.removesuffix(BUSY), mode.endswith(BUSY)
    committer: Literal["process", "inline"] = "inline" if mode == INLINE else "process"
    journal = "safe" if mode == INLINE else journal
    config = Config(
        journal=JournalConfig(path=path, durability="safe" if journal == "none" else journal),  # type: ignore[arg-type]
        client=ClientConfig(
            ack_timeout_ms=5000,
            backoff_cap_ms=5000,
            busy_poll_us=BUSY_POLL_US if busy else 0,
            committer=committer,
        ),
    )
    assert pair.private is not None
    context = Context(
        endpoints[0], pair.private, pair.public, exchange.public, Quiet,
        market_endpoint=endpoints[1], journal=None if journal == "none" else path, config=config,
    )  # fmt: skip
    context.start()
    try:
        assert Commands(context).get_contracts().wait_done(10)  # connected, attached
        child = None if context.tap.journal is None else context.tap.journal.committer_pid
        measured = _orders(Commands(context), orders, child)
    finally:
        context.stop()
        context.join(10)
    if journal != "none":
        _check_no_replay(path)
    return measured


def _check_no_replay(path: Path) -> None:
    """The session measured round trips only: the journal holds no replayed frame (a replay
    running beside the orders would be measured with them)."""
    from recorder.journal import open_journal

    journal = open_journal(path, readonly=True)
    try:
        replayed = sum(1 for frame in journal.frames() if frame.is_replay)
    finally:
        journal.close()
    if replayed:
        raise RuntimeError(f"{path}: {replayed} replayed frames were journaled beside the orders")


def _raw_orders(
    order_ep: str, pair: KeyPair, server_key: bytes, count: int, journal: Path | None = None
) -> Run:
    """The same orders from a bare pyzmq DEALER in this thread: the wire and the simulator.

    With ``journal``, each frame is also journaled (``safe``) as the SDK's tap does it — the
    request before it is sent, each reply before it is parsed, the spool committed after each
    send — and nothing else: the least journaling adds to a round trip with no SDK around it.
    """
    import uuid

    import zmq

    from recorder.client.tap import COMMIT_AGE_S, COMMIT_ROWS
    from recorder.core.frames import Channel, Direction
    from recorder.journal import open_journal
    from recorder.venues.lx.codec import make_envelope

    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.curve_serverkey = server_key
    sock.curve_publickey = pair.public
    assert pair.private is not None
    sock.curve_secretkey = pair.private
    sock.connect(order_ep)
    body = pb.LimitOrder(contract_id=1, size=1, price_in_cents=100, time_in_force=IOC)
    out: list[int] = []
    clock = time.perf_counter_ns
    parse = pb.Envelope.FromString
    journaled = None if journal is None else open_journal(journal, durability="safe")
    session = 0 if journaled is None else journaled.start_session(venue="lx1", capture_point="raw")

    def frame(data: bytes, direction: Direction, envelope: pb.Envelope) -> None:
        if journaled is not None:  # as the tap journals it: as it came, with its envelope
            journaled.append_wires(
                ((session, Channel.ORDER, direction, time.time_ns(), time.monotonic_ns(), 0, data,
                  envelope),)
            )  # fmt: skip

    def receive() -> pb.Envelope:
        data = sock.recv()
        reply = parse(data)
        frame(data, Direction.IN, reply)
        return reply

    cpu = _cpu_s()
    try:
        for i in range(count + count // 10):
            mid = uuid.uuid4().hex
            t0 = clock()
            request = make_envelope(body, mid=mid, seq=i + 1)
            data = request.SerializeToString()
            frame(data, Direction.OUT, request)
            sock.send(data)
            if journaled is not None:
                journaled.commit_pending(COMMIT_ROWS, COMMIT_AGE_S)  # the tap's commit_idle
            while True:
                reply = receive()
                if reply.mid == mid and reply.WhichOneof("body") == "status":
                    break
            if i >= count // 10:
                out.append(clock() - t0)
            while not (reply.mid == mid and reply.WhichOneof("body") == "action_report"):
                reply = receive()
        cpu = _cpu_s() - cpu
    finally:
        ctx.destroy(linger=0)
        if journaled is not None:
            journaled.close()
    return Run(out, cpu / (count + count // 10) * 1e6)


def _orders(cmd: Commands, count: int, committer: int | None) -> Run:
    out: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(count // 10):  # warm-up, not measured
        item = cmd.limit_order(contract_id=1, size=1, price_in_cents=100, time_in_force=IOC)
        item.wait_done(10)
    cpu = _cpu_s(committer)
    for _ in range(count):
        t0 = clock()
        item = cmd.limit_order(contract_id=1, size=1, price_in_cents=100, time_in_force=IOC)
        if not item.wait_acked(10):
            raise RuntimeError("no ACK within 10 s")
        out.append(clock() - t0)
        item.wait_done(10)
    return Run(out, (_cpu_s(committer) - cpu) / count * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds x 300 orders, no doc")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    rounds, orders = (2, 300) if args.quick else (20, 1000)
    per_round = run(rounds, orders)
    samples = {
        mode: sorted(ns for one in runs for ns in one.samples) for mode, runs in per_round.items()
    }
    cpu = {mode: median([one.cpu_us for one in runs]) for mode, runs in per_round.items()}
    base = samples["none"]
    base_p50 = percentile(base, 0.5)
    raw, raw_safe = samples[RAW], samples[RAW_SAFE]
    raw_p50, floor_p50 = percentile(raw, 0.5), percentile(raw_safe, 0.5)

    def spread(mode: str, against: str) -> str:
        """The p50 ``mode`` adds over ``against`` round by round: median and range."""
        added = sorted(
            percentile(sorted(a.samples), 0.5) - percentile(sorted(b.samples), 0.5)
            for a, b in zip(per_round[mode], per_round[against], strict=True)
        )
        return f"{median(added):+.0f} ({added[0]:+.0f} to {added[-1]:+.0f})"

    def figures(mode: str) -> tuple[str, ...]:
        """p25, p50, p99 of ``mode``'s samples and its CPU per order."""
        s = samples[mode]
        quantiles = (f"{percentile(s, q):.0f}" for q in (0.25, 0.5, 0.99))
        return (*quantiles, f"{cpu[mode]:.0f}")

    rows: list[tuple[str, ...]] = [
        ("bare pyzmq DEALER, no SDK (reference)", *figures(RAW), "-", "-",
         f"{raw_p50 / base_p50:.2f}"),
        ("bare pyzmq DEALER journaling its frames (safe), no SDK", *figures(RAW_SAFE),
         f"{floor_p50 - raw_p50:+.0f} over bare", spread(RAW_SAFE, RAW),
         f"{floor_p50 / base_p50:.2f}"),
    ]  # fmt: skip
    verdict = ""
    for mode in MODES:
        p50 = percentile(samples[mode], 0.5)
        added = p50 - base_p50
        rows.append(
            (mode if mode != "none" else "no journal (baseline)", *figures(mode),
             "-" if mode == "none" else f"{added:+.0f}",
             "-" if mode == "none" else spread(mode, "none"), f"{p50 / base_p50:.2f}")
        )  # fmt: skip
        if mode == "safe":
            ok = added <= TARGET_US
            verdict = (
                f"`safe` adds {added:.0f} us at p50 (target <= {TARGET_US:.0f} us: "
                f"{'met' if ok else 'NOT met'}), ratio {p50 / base_p50:.2f}; round by round it"
                f" added {spread('safe', 'none')} us."
            )
    inline_p50 = percentile(samples[INLINE], 0.5)
    rows.append(
        (INLINE, *figures(INLINE), f"{inline_p50 - base_p50:+.0f}", spread(INLINE, "none"),
         f"{inline_p50 / base_p50:.2f}")
    )  # fmt: skip
    busy_none, busy_safe = BUSY_MODES
    busy_base = percentile(samples[busy_none], 0.5)
    for mode in BUSY_MODES:
        p50 = percentile(samples[mode], 0.5)
        first = mode == busy_none
        rows.append(
            (mode, *figures(mode), "-" if first else f"{p50 - busy_base:+.0f} over none{BUSY}",
             "-" if first else spread(mode, busy_none), f"{p50 / base_p50:.2f}")
        )  # fmt: skip
    busy_added = percentile(samples[busy_safe], 0.5) - busy_base
    verdict += (
        f" With the I/O thread busy polling ({BUSY_POLL_US} us), `safe` adds {busy_added:.0f} us"
        f" at p50 over the same SDK busy polling without a journal (target:"
        f" {'met' if busy_added <= TARGET_US else 'NOT met'}); round by round"
        f" {spread(busy_safe, busy_none)} us."
    )
    body = "\n".join(
        [
            "## SDK order -> ACK round trip (`bench/sdk_roundtrip.py`)",
            "",
            f"{machine()}; simulator in a child process over loopback with CURVE; "
            f"{rounds} interleaved rounds x {orders} IOC orders per mode "
            f"({len(base)} samples each); microseconds. *Added at p50*: the p50 of all of a"
            " mode's samples against the baseline's; *per round*: the same taken round by round"
            " (each round runs every mode once, back to back, a different mode first each"
            " round), its median and its range, which"
            " show how far the machine's noise moves one round's figure. *CPU/order*: the CPU"
            " time of the bench's process (the bot's thread, the SDK's threads and ZeroMQ's I/O"
            " thread; not the simulator's) and of the journal's committer process per order,"
            " median of the rounds: what journaling"
            " costs in work, steadier than the latencies here.",
            "",
            table(
                [
                    "journal",
                    "p25",
                    "p50",
                    "p99",
                    "CPU/order",
                    "added at p50",
                    "per round: median (range)",
                    "p50 ratio",
                ],
                rows,
            ),
            "",
            verdict,
            "",
            f"The floor: the bare DEALER loop, journaling each frame as the tap does (the request"
            f" before the send, each reply before it is parsed, each as it came, the spool"
            f" committed as the tap commits it) and nothing else, pays"
            f" {floor_p50 - raw_p50:+.0f} us at p50 for it, in the"
            f" same run: that much of `safe`'s cost comes with journaling a round trip's frames"
            f" on this machine before any SDK work; the rest is the same appends run on the"
            f" SDK's I/O thread, between its hand-offs with the bot's thread.",
            "",
            "Each round trip carries two journal appends: the request before the send, the ACK"
            " before its dispatch. `strict` commits and fsyncs each; `safe` copies each, as it"
            " came (bytes and clocks: `append_wires`; its row is built at the commit), into the"
            " memory map of the journal's spool, and at the I/O thread's idle moments, every"
            " 512 frames or 30 ms, hands the spool to the journal's committer process, which"
            ' commits it to SQLite (`[client] committer = "process"`, the default; *safe,'
            " inline commits*: the I/O thread commits it itself); `fast` only queues them"
            " (committed within `fast_flush_ms` by a flusher thread). With a journal the SDK"
            " also keeps its local state, a live projection of the journal, which catches up"
            " in batches: at the commits' moments, when the sockets are quiet, or on a read.",
            "",
            "On these virtual machines the latencies are bimodal: for stretches of about a"
            " hundred consecutive orders every step of a round trip runs about twice as slowly"
            " (CPU steps included), and a round trip takes ~2 ms instead of ~0.7; such"
            " stretches come and go with the host's load, more often the more the two vCPUs"
            " sleep and wake, so the p50 of a mode is partly the share of its samples that fell"
            " in them. The p25 and the CPU per order are less moved by it.",
            "",
            f"*{BUSY}*: the same SDK with `[client] busy_poll_us = {BUSY_POLL_US}` (0 by"
            " default): after each wake-up the I/O thread polls its sockets without sleeping"
            " for that long before it waits, so a reply finds it awake; it keeps a core busy"
            " while orders come. Against the bimodal latencies above it is the SDK's own"
            " lever: the round trip no longer waits for a sleeping thread's vCPU.",
        ]
    )
    publish("sdk_roundtrip", body, write=not args.quick)


if __name__ == "__main__":
    main()
