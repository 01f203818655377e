"""The capture service's cost: throughput and added round-trip latency, next to two baselines.

Seven paths between a bot and an exchange, measured in the same run, CURVE on every hop:

* **direct** — the bot's DEALER talks to the exchange's ROUTER;
* **simple proxy** — the plain pyzmq forwarding proxy of shared/PERF_NOTES.md (a poll loop, one
  ``recv_multipart``/``send_multipart`` per message, no parsing, no journal) in its own process;
  the baseline issue 8's target ("≥ 75% of a plain pyzmq forwarding proxy with no journal") names;
* **optimised proxy** — the same forwarding, tuned: up to 256 messages drained per wake-up, two
  ``recv()`` calls per message, no parsing, no journal; the stricter baseline;
* **journaling floor** — the simple proxy plus, for each frame, the capture service's record
  and a journal append before forwarding (same mode and committer), nothing else: the part of
  the capture's cost that journaling every frame before forwarding costs by itself;
* **journaling floor, batched** — the optimised proxy plus one journal append per wake-up's
  burst (each direction's frames as they came, before they are forwarded; same mode and
  committer), nothing else: what journaling every frame costs an otherwise optimal forwarder;
* **capture** — :class:`recorder.capture.CaptureService` in its own process, journal in ``safe``
  mode (every batch in the journal's spool before it is forwarded, committed by the journal's
  committer process, as `recorder capture` runs it), sequencing and routing on;
* **capture, inline commits** — the same with the loop committing the spool itself
  (``[capture] committer = "inline"``): the committer process's baseline.

The exchange is a minimal LX/1 responder in its own process: it parses each request's header and
answers one ``Status{ACK}`` under the request's mid with a continuous seq (what the capture
service tracks). *Throughput* is requests answered per second with 500 requests in flight (two
frames through the proxy per request); *latency* is the bot's round trip, one request at a time.
Every path's process is started first and the runs are interleaved: a throughput run is taken
in :data:`CHUNKS` turns per path, the paths in rotation, and the latency runs round trip by
round trip (one on each path in turn), so slow phases of a shared machine fall on all paths
alike; figures are medians of the runs. Request mids are uuid4 hex, as the SDK's are (random
keys are what the journal's mid index must absorb).

    python bench/capture_proxy.py            # 5 runs of 40k requests and 3,000 round trips
    python bench/capture_proxy.py --quick    # 1 run, 10k requests, 1,000 round trips, prints only
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, median, publish, table

from recorder.config import CaptureConfig

WINDOW = 500
CHUNKS = 8
"""A throughput run is taken in this many turns per path, so that noise falls on all alike."""
INLINE = "capture (safe, inline commits)"
"""The capture service with the loop committing itself: the committer process's baseline."""
FLOOR = "journaling floor"
"""The simple proxy plus the journal: what journaling each frame before forwarding costs alone."""
BATCHED = "journaling floor, batched"
"""The optimised proxy plus one journal append per burst: journaling's cost to a lean forwarder."""


def _keys() -> tuple[bytes, bytes]:
    public, secret = zmq.curve_keypair()
    return public, secret


def _server(ctx: zmq.Context[Any], kind: int, keys: tuple[bytes, bytes]) -> zmq.Socket[Any]:
    sock = ctx.socket(kind)
    sock.linger = 0
    sock.curve_server = True
    sock.curve_publickey, sock.curve_secretkey = keys
    sock.sndhwm = sock.rcvhwm = 0
    sock.bind("tcp://127.0.0.1:*")
    return cast("zmq.Socket[Any]", sock)


def _client(
    ctx: zmq.Context[Any], kind: int, server: bytes, keys: tuple[bytes, bytes], endpoint: str
) -> zmq.Socket[Any]:
    sock = ctx.socket(kind)
    sock.linger = 0
    sock.curve_serverkey = server
    sock.curve_publickey, sock.curve_secretkey = keys
    sock.sndhwm = sock.rcvhwm = 0
    if kind == zmq.SUB:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(endpoint)
    return cast("zmq.Socket[Any]", sock)


# ---------------------------------------------------------------------------- processes


def exchange(keys: tuple[bytes, bytes], out: Any) -> None:
    """A minimal LX/1 exchange: ACK every request under its mid, seqs 1, 2, 3, ... per peer."""
    from recorder.venues.lx import lx1_pb2 as pb

    ctx: zmq.Context[Any] = zmq.Context()
    router = _server(ctx, zmq.ROUTER, keys)
    pub = _server(ctx, zmq.PUB, keys)
    out.put((router.getsockopt_string(zmq.LAST_ENDPOINT), pub.getsockopt_string(zmq.LAST_ENDPOINT)))
    header = pb.EnvelopeHeader.FromString
    run = "ab" * 16
    ack = pb.Status(code=pb.ACK)
    done = pb.Status(code=pb.DONE)
    seqs: dict[bytes, int] = {}  # one continuous stream per connection (each path has its own)
    recv, send = router.recv, router.send
    while True:
        rid = recv()
        data = recv()
        h = header(data)
        seq = seqs.get(rid, 0) + 1
        send(rid, zmq.SNDMORE)
        send(
            pb.Envelope(
                mid=h.mid, seq=seq, run_id=run, mversion="1.0", status=ack
            ).SerializeToString()
        )
        if h.WhichOneof("body") == "get_contracts":
            seq += 1
            reply = pb.Envelope(mid=h.mid, seq=seq, run_id=run, mversion="1.0", status=done)
            send(rid, zmq.SNDMORE)
            send(reply.SerializeToString())
        seqs[rid] = seq


def _proxy_sockets(
    upstream: str, exchange_key: bytes, keys: tuple[bytes, bytes], out: Any
) -> tuple[zmq.Socket[Any], zmq.Socket[Any], zmq.Poller]:
    """A forwarding proxy's sockets: a CURVE ROUTER for the bot (its endpoint put on ``out``),
    a CURVE DEALER to the exchange, and a poller on both."""
    ctx: zmq.Context[Any] = zmq.Context()
    front = _server(ctx, zmq.ROUTER, keys)
    back = _client(ctx, zmq.DEALER, exchange_key, _keys(), upstream)
    out.put(front.getsockopt_string(zmq.LAST_ENDPOINT))
    poller = zmq.Poller()
    poller.register(front, zmq.POLLIN)
    poller.register(back, zmq.POLLIN)
    return front, back, poller


def simple_proxy(upstream: str, exchange_key: bytes, keys: tuple[bytes, bytes], out: Any) -> None:
    """The plain forwarding proxy of PERF_NOTES.md: poll, then one multipart message each way."""
    front, back, poller = _proxy_sockets(upstream, exchange_key, keys, out)
    rid = b""
    while True:
        for sock, _ in poller.poll():
            if sock is front:
                rid, *parts = front.recv_multipart()
                back.send_multipart(parts)
            else:
                front.send_multipart([rid, *back.recv_multipart()])


def plain_proxy(upstream: str, exchange_key: bytes, keys: tuple[bytes, bytes], out: Any) -> None:
    """A tuned forwarding proxy with no journal (256 per wake-up): the stricter baseline."""
    front, back, poller = _proxy_sockets(upstream, exchange_key, keys, out)
    rid = b""
    frecv, fsend, brecv, bsend = front.recv, front.send, back.recv, back.send
    while True:
        events = dict(poller.poll())
        if front in events:
            for _ in range(256):
                try:
                    rid = frecv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                bsend(frecv())
        if back in events:
            for _ in range(256):
                try:
                    data = brecv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                fsend(rid, zmq.SNDMORE)
                fsend(data)


def _floor_journal(folder: str, name: str, durability: str, committer: str) -> tuple[Any, int]:
    """A floor path's journal (the service's mode and committer) and its session id."""
    from recorder.journal import open_journal

    journal = open_journal(
        Path(folder) / f"{name}-{time.monotonic_ns()}.journal",
        durability=durability,  # type: ignore[arg-type]
        committer=committer,  # type: ignore[arg-type]
    )
    return journal, journal.start_session(venue="lx1", capture_point=f"bench-{name}")


def journaling_floor(
    upstream: str,
    exchange_key: bytes,
    keys: tuple[bytes, bytes],
    out: Any,
    folder: str,
    durability: str,
    committer: str,
) -> None:
    """The simple proxy's loop with what journaling adds and nothing else: each frame appended
    to a journal as it came (the service's mode and committer; ``append_wires``, as the service
    journals a round trip's frames) before it is forwarded, the spool handed on as the service
    does after each wake-up; no parsing, no routing (one bot), no sequencing, no gap filling.
    The least any proxy that journals every frame before forwarding it adds on this machine."""
    from recorder.capture.service import COMMIT_AGE_S, COMMIT_ROWS
    from recorder.core.frames import Channel, Direction

    front, back, poller = _proxy_sockets(upstream, exchange_key, keys, out)
    journal, sid = _floor_journal(folder, "floor", durability, committer)
    append, commit = journal.append_wires, journal.commit_pending
    order, bot_to_exchange, exchange_to_bot = Channel.ORDER, Direction.OUT, Direction.IN
    wall, mono = time.time_ns, time.monotonic_ns
    rid = b""
    while True:
        for sock, _ in poller.poll():
            if sock is front:
                rid, data = front.recv_multipart()
                append(((sid, order, bot_to_exchange, wall(), mono(), 0, data, None),))
                back.send(data)
            else:
                data = back.recv()
                append(((sid, order, exchange_to_bot, wall(), mono(), 0, data, None),))
                front.send_multipart([rid, data])
        commit(COMMIT_ROWS, COMMIT_AGE_S)


def batched_floor(
    upstream: str,
    exchange_key: bytes,
    keys: tuple[bytes, bytes],
    out: Any,
    folder: str,
    durability: str,
    committer: str,
) -> None:
    """The optimised proxy's loop plus, per wake-up and direction, one journal append of the
    burst's frames as they came (``append_wires``) before any of them is forwarded, and the
    spool handed on after forwarding as the service does: journaling with nothing else around
    it, at the cost of one append per burst — what a forwarder that journals every frame
    before forwarding it could cost at best with this journal."""
    from recorder.capture.service import COMMIT_AGE_S, COMMIT_ROWS
    from recorder.core.frames import Channel, Direction

    front, back, poller = _proxy_sockets(upstream, exchange_key, keys, out)
    journal, sid = _floor_journal(folder, "batched", durability, committer)
    append, commit = journal.append_wires, journal.commit_pending
    order, bot_to_exchange, exchange_to_bot = Channel.ORDER, Direction.OUT, Direction.IN
    wall, mono = time.time_ns, time.monotonic_ns
    rid = b""
    frecv, fsend, brecv, bsend = front.recv, front.send, back.recv, back.send
    while True:
        events = dict(poller.poll())
        if front in events:
            up: list[bytes] = []
            for _ in range(256):
                try:
                    rid = frecv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                up.append(frecv())
            if up:
                w, m = wall(), mono()
                append([(sid, order, bot_to_exchange, w, m, 0, data, None) for data in up])
                for data in up:
                    bsend(data)
        if back in events:
            down: list[bytes] = []
            for _ in range(256):
                try:
                    down.append(brecv(zmq.NOBLOCK))
                except zmq.Again:
                    break
            if down:
                w, m = wall(), mono()
                append([(sid, order, exchange_to_bot, w, m, 0, data, None) for data in down])
                for data in down:
                    fsend(rid, zmq.SNDMORE)
                    fsend(data)
        commit(COMMIT_ROWS, COMMIT_AGE_S)


def capture(
    upstream: tuple[str, str],
    exchange_key: bytes,
    bot_key: bytes,
    folder: str,
    out: Any,
    durability: str = "safe",
    committer: str = CaptureConfig().committer,
) -> None:
    """The capture service (journal in ``safe`` mode unless told otherwise; its commits in the
    committer process, as `recorder capture` has them, unless told otherwise)."""
    import logging

    from recorder.capture import CaptureService, Upstream
    from recorder.journal import open_journal
    from recorder.keys import KeyPair

    logging.getLogger("recorder").setLevel(logging.ERROR)
    journal = open_journal(
        Path(folder) / f"bench-{time.monotonic_ns()}.journal",
        durability=durability,  # type: ignore[arg-type]
        committer=committer,  # type: ignore[arg-type]
    )
    service = CaptureService(
        journal,
        keys=KeyPair.generate(),
        participant=KeyPair.generate(),
        upstream=Upstream(upstream[0], upstream[1], exchange_key),
        bot_keys=[bot_key],
        status_log_s=0,
        # The minimal exchange sends no heartbeats: the upstream watch must not take its quiet
        # market channel for a lost connection (and reconnect mid-run).
        heartbeat_ms=3_600_000,
        reconnect_backoff_cap_ms=3 * 3_600_000,
    )
    endpoints = service.start()
    out.put((endpoints.order, service.keys.public))
    service.run()


# ---------------------------------------------------------------------------- the bot


def requests(n: int) -> list[bytes]:
    from recorder.venues.lx import lx1_pb2 as pb

    order = pb.LimitOrder(contract_id=1, is_ask=False, size=1, price_in_cents=5000)
    return [
        pb.Envelope(
            mid=uuid.uuid4().hex, seq=i + 1, mversion="1.0", limit_order=order
        ).SerializeToString()
        for i in range(n)
    ]


def throughput(sock: zmq.Socket[Any], frames: list[bytes]) -> float:
    """Requests answered per second with WINDOW requests in flight."""
    send, recv = sock.send, sock.recv
    n = len(frames)
    sent = got = 0
    start = time.perf_counter()
    while got < n:
        while sent < n and sent - got < WINDOW:
            send(frames[sent])
            sent += 1
        recv()
        got += 1
    return n / (time.perf_counter() - start)


def latency(paths: list[Measured], n: int) -> None:
    """``n`` round trips on every path, one request at a time, the paths taking turns round
    trip by round trip (the first path moves on by one each round), so that a noisy moment of a
    shared machine falls on every path alike; each path's p50 and p99 are appended to its
    figures."""
    clock = time.perf_counter_ns
    turns: list[tuple[Any, Any, list[bytes], list[float]]] = [
        (path.sock.send, path.sock.recv, take(n), []) for path in paths
    ]
    k = len(turns)
    for i in range(n):
        for j in range(k):
            send, recv, frames, out = turns[(i + j) % k]
            t0 = clock()
            send(frames[i])
            recv()
            out.append((clock() - t0) / 1000)
    for path, (_, _, _, rtts) in zip(paths, turns, strict=True):
        rtts.sort()
        path.p50s.append(pct(rtts, 0.50))
        path.p99s.append(pct(rtts, 0.99))


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads) and of its children (the
    capture service's committer process); None off Linux."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
    if pid not in stats:
        return None
    ticks = 0
    for fields in stats.values():
        ppid = int(fields[1])
        if ppid == pid or fields is stats[pid]:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def busy_cores() -> float | None:
    """CPU seconds the whole machine has spent busy (all CPUs, from /proc/stat); None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def single_appends(folder: str, durability: str, n: int = 2000) -> float:
    """p50 µs of ``Journal.append_wires`` of one frame (a request's size) in ``durability``
    mode: what each direction of a round trip pays before it may be forwarded."""
    from recorder.core.frames import Channel, Direction
    from recorder.journal import open_journal

    path = Path(folder) / "single-appends.journal"
    with open_journal(path, durability=durability) as journal:  # type: ignore[arg-type]
        sid = journal.start_session(venue="lx1", capture_point="bench")
        times = []
        clock = time.perf_counter_ns
        append, order, out = journal.append_wires, Channel.ORDER, Direction.OUT
        for data in requests(n):
            t0 = clock()
            append(((sid, order, out, time.time_ns(), time.monotonic_ns(), 0, data, None),))
            times.append((clock() - t0) / 1000)
    times.sort()
    return pct(times[n // 4 :], 0.5)  # the first quarter warms the file up


class Measured:
    """One measured path: a bot connection to an endpoint and the figures of each run."""

    def __init__(
        self, name: str, endpoint: str, server_key: bytes, bot: tuple[bytes, bytes], pid: int
    ) -> None:
        self.name, self.pid = name, pid
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.sock = _client(self.ctx, zmq.DEALER, server_key, bot, endpoint)
        self.rates: list[float] = []
        self.p50s: list[float] = []
        self.p99s: list[float] = []
        self.cores: list[float] = []
        self.machine: list[float] = []
        self._run: list[float] = [0, 0.0, 0.0, 0.0]
        """The current run's requests, seconds, proxy CPU seconds and machine CPU seconds."""

    def chunk(self, n: int) -> None:
        """``n`` requests of the current run's throughput measure (its totals grow)."""
        cpu0, all0, t0 = cpu_seconds(self.pid), busy_cores(), time.perf_counter()
        throughput(self.sock, take(n))
        cpu1, all1, t1 = cpu_seconds(self.pid), busy_cores(), time.perf_counter()
        self._run[0] += n
        self._run[1] += t1 - t0
        if cpu0 is not None and cpu1 is not None:
            self._run[2] += cpu1 - cpu0
        if all0 is not None and all1 is not None:
            self._run[3] += all1 - all0

    def end_run(self) -> None:
        """Close the current run: its rate, proxy cores and machine cores."""
        n, seconds, cpu, busy = self._run
        self.rates.append(n / seconds)
        if cpu:
            self.cores.append(cpu / seconds)
        if busy:
            self.machine.append(busy / seconds)
        self._run = [0, 0.0, 0.0, 0.0]

    def result(self) -> dict[str, float]:
        self.ctx.destroy(linger=0)
        return {
            "rate": median(self.rates),
            "p50": median(self.p50s),
            "p99": median(self.p99s),
            "cores": median(self.cores) if self.cores else float("nan"),
            "machine": median(self.machine) if self.machine else float("nan"),
        }


_offset = 0


def take(n: int) -> list[bytes]:
    """The next ``n`` distinct requests (every request of the whole bench has its own mid)."""
    global _offset
    frames = ALL[_offset : _offset + n]
    _offset += n
    return frames


ALL: list[bytes] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short run; print only")
    parser.add_argument(
        "--durability", default="safe", choices=["strict", "safe", "fast"],
        help="the capture journal's mode (the targets are for safe; others print only)",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, help="interleaved runs per path (default 5, quick 1)")
    args = parser.parse_args()
    args.runs = args.runs or (1 if args.quick else 5)
    args.requests = 10_000 if args.quick else 40_000
    args.round_trips = 1_000 if args.quick else 3_000
    global ALL
    paths_n = 7
    ALL = requests(paths_n * (2000 + args.runs * (args.requests + args.round_trips)))

    spawn = mp.get_context("spawn")
    queue = spawn.Queue()
    exchange_keys, proxy_keys, bot = _keys(), _keys(), _keys()
    procs = [spawn.Process(target=exchange, args=(exchange_keys, queue), daemon=True)]
    procs[0].start()
    order, market = queue.get(timeout=30)
    cap = f"capture ({args.durability})"
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as folder:
        paths = [Measured("direct", order, exchange_keys[0], bot, procs[0].pid or 0)]
        for name, target in (("simple proxy", simple_proxy), ("optimised proxy", plain_proxy)):
            proc = spawn.Process(
                target=target, args=(order, exchange_keys[0], proxy_keys, queue), daemon=True
            )
            proc.start()
            procs.append(proc)
            paths.append(Measured(name, queue.get(timeout=30), proxy_keys[0], bot, proc.pid or 0))
        for name, floor_loop in ((FLOOR, journaling_floor), (BATCHED, batched_floor)):
            floor = spawn.Process(
                target=floor_loop,
                args=(order, exchange_keys[0], proxy_keys, queue, folder, args.durability,
                      CaptureConfig().committer),
                daemon=True,
            )  # fmt: skip
            floor.start()
            procs.append(floor)
            paths.append(Measured(name, queue.get(timeout=30), proxy_keys[0], bot, floor.pid or 0))
        services = [(cap, CaptureConfig().committer)]
        if args.durability == "safe":  # the committer process against inline commits
            services.append((INLINE, "inline"))
        for name, committer in services:
            service = spawn.Process(
                target=capture,
                args=((order, market), exchange_keys[0], bot[0], folder, queue, args.durability,
                      committer),
                daemon=True,
            )  # fmt: skip
            service.start()
            procs.append(service)
            endpoint, service_key = queue.get(timeout=30)
            paths.append(Measured(name, endpoint, service_key, bot, service.pid or 0))
        for path in paths:  # warm-up: connections, CURVE, page cache
            throughput(path.sock, take(2000))
        for _ in range(args.runs):
            for _ in range(CHUNKS):  # the paths take turns, a few thousand requests each
                for path in paths:
                    path.chunk(args.requests // CHUNKS)
            for path in paths:
                path.end_run()
            latency(paths, args.round_trips)
        results = {path.name: path.result() for path in paths}
        per_run = {path.name: path.p50s for path in paths}
        rates = {path.name: path.rates for path in paths}
        for proc in procs:
            proc.terminate()
            proc.join(5)
        results["single append"] = {"p50": single_appends(folder, args.durability)}
    report(results, per_run, rates, args)


def added_per_run(per_run: dict[str, list[float]], path: str, against: str) -> str:
    """The p50 ``path`` adds over ``against`` run by run: median and range (µs)."""
    added = sorted(a - b for a, b in zip(per_run[path], per_run[against], strict=True))
    return f"{median(added):+.0f} µs ({added[0]:+.0f} to {added[-1]:+.0f})"


def ratio_per_run(rates: dict[str, list[float]], path: str, against: str) -> str:
    """``path``'s throughput over ``against``'s run by run: median and range."""
    ratios = sorted(a / b for a, b in zip(rates[path], rates[against], strict=True))
    return f"{median(ratios):.2f} ({ratios[0]:.2f} to {ratios[-1]:.2f})"


def report(
    results: dict[str, dict[str, float]],
    per_run: dict[str, list[float]],
    rates: dict[str, list[float]],
    args: Any,
) -> None:
    append_p50 = results.pop("single append")["p50"]
    inline = results.get(INLINE)
    direct, simple = results["direct"], results["simple proxy"]
    tuned, cap = results["optimised proxy"], results[f"capture ({args.durability})"]
    floor, batched = results[FLOOR], results[BATCHED]
    rows = []
    for name, r in results.items():
        proxy = name != "direct"
        rows.append(
            [
                name,
                f"{r['rate']:,.0f}",
                f"{r['p50']:.0f}",
                f"{r['p99']:.0f}",
                f"{r['p50'] - direct['p50']:+.0f}" if proxy else "—",
                f"{r['cores']:.2f}" if proxy else "—",
                f"{r['cores'] / r['rate'] * 1e6:.1f}" if proxy else "—",
                f"{r['machine']:.2f}",
            ]
        )

    def per_request(r: dict[str, float]) -> float:
        """A path's proxy CPU per request, µs."""
        return r["cores"] / r["rate"] * 1e6

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    r_simple, r_tuned = cap["rate"] / simple["rate"], cap["rate"] / tuned["rate"]
    a_simple, a_tuned = cap["p50"] - simple["p50"], cap["p50"] - tuned["p50"]
    extra_cpu = (cap["cores"] / cap["rate"] - tuned["cores"] / tuned["rate"]) * 1e6
    body = "\n".join(
        [
            "## Capture service (`bench/capture_proxy.py`)",
            "",
            f"{machine()}; {args.runs} interleaved run(s) per path of {args.requests:,} requests"
            f" ({WINDOW} in flight, in {CHUNKS} turns) and {args.round_trips:,} round trips (one on"
            " each path in turn), medians; CURVE on every hop; bot, proxy and exchange in"
            " separate processes."
            " *Proxy cores*: CPU time of the proxy process (all its threads, ZeroMQ's I/O thread"
            " included, and its children: the capture service's committer process) per second"
            " of the throughput runs; *µs CPU/request*: the same per"
            " request; *machine cores*: CPU time of the whole machine (bot, exchange, proxy and"
            " anything else running) per second.",
            "",
            table(
                [
                    "path",
                    "requests/s",
                    "RTT p50 µs",
                    "RTT p99 µs",
                    "p50 over direct µs",
                    "proxy cores",
                    "proxy µs CPU/request",
                    "machine cores",
                ],
                rows,
            ),
            "",
            'Issue 8\'s targets are against "a plain pyzmq forwarding proxy with no journal",'
            " the Python forwarding hop of shared/PERF_NOTES.md: that is the *simple proxy* (one"
            " `recv_multipart`/`send_multipart` per message). The *optimised proxy* (256 messages"
            " per wake-up) is the stricter baseline; both are reported.",
            "",
            f"* capture / simple proxy throughput: **{r_simple:.2f}** (target ≥ 0.75)"
            f" — {verdict(r_simple >= 0.75)}; run by run (each run measures every path, a few"
            " thousand requests at a time in turn):"
            f" {ratio_per_run(rates, f'capture ({args.durability})', 'simple proxy')},"
            " median and range",
            f"* capture / optimised proxy throughput: **{r_tuned:.2f}** (same target)"
            f" — {verdict(r_tuned >= 0.75)}",
            f"* added p50 over the simple proxy: **{a_simple:+.0f} µs** (target ≤ 80 µs)"
            f" — {verdict(a_simple <= 80)}; run by run (each run measures every path, round"
            " trip by round trip in turn):"
            f" {added_per_run(per_run, f'capture ({args.durability})', 'simple proxy')},"
            " median and range",
            f"* added p50 over the optimised proxy: **{a_tuned:+.0f} µs** (same target)"
            f" — {verdict(a_tuned <= 80)}",
            "* each request is two frames through the proxy (request out, ACK in). In"
            f" `{args.durability}` every frame is journaled before it is forwarded, so one round"
            " trip at a time pays two single-frame appends, one per direction (in `safe` a copy"
            " of the frame as it came, bytes and clocks, into the memory map of the journal's"
            " spool, `append_wires`; after forwarding, 1,024 frames or 100 ms at a time, the loop"
            " hands the spool's rows to the journal's committer process, which commits them to"
            " SQLite); under load one append covers every frame drained in a wake-up, both"
            " directions."
            f" One single-frame `{args.durability}` append, measured on its own in the same"
            f" folder after the runs, back to back: **{append_p50:.0f} µs** p50, so two of them"
            f" are {2 * append_p50:.0f} µs in a hot loop; run once per wake-up, as on a round"
            " trip, the same work costs several times that (`bench/wakeup_cost.py`).",
            f"* the journaling floor (the simple proxy's loop plus each frame's journal append"
            " as it came and the service's hand-offs to the committer, nothing else) adds"
            f" **{floor['p50'] - simple['p50']:+.0f} µs** p50 over the simple proxy (run by run"
            f" {added_per_run(per_run, FLOOR, 'simple proxy')}), one round trip at a time:"
            " that much of the capture service's added latency comes with journaling every"
            " frame before forwarding it, whatever else the proxy does; the"
            " service's routing, sequencing and gap filling add the other"
            f" {cap['p50'] - floor['p50']:+.0f} µs. (Under load the floor keeps only"
            f" {floor['rate'] / simple['rate']:.2f} of the simple proxy's throughput: it appends"
            " and hands on frame by frame, where the service batches a wake-up's frames.)",
            f"* throughput: capture spends {extra_cpu:.1f} µs more CPU per request than the"
            " optimised proxy (the proxy columns include the committer process). Where the"
            " machine's cores are all busy (*machine cores* near 2) throughput is set by the CPU"
            " every request costs, the proxy's included, wherever it is spent. The batched"
            " journaling floor (the optimised proxy plus one journal append per burst, nothing"
            f" else) keeps **{batched['rate'] / simple['rate']:.2f}** of the simple proxy's"
            f" throughput at {per_request(batched):.1f} µs of CPU per request: journaling every"
            f" frame (spool, hand-off, records, hash chain, SQLite with its indexes) costs"
            f" {per_request(batched) - per_request(tuned):.1f} µs per request by itself; the"
            " service's intake (a parse and a record per frame), routing and sequencing cost the"
            f" other {per_request(cap) - per_request(batched):.1f} µs.",
            f"* direct: {direct['rate']:,.0f} requests/s, p50 {direct['p50']:.0f} µs.",
            *(
                []
                if inline is None
                else [
                    "* the committer process against inline commits (the capture loop committing"
                    ' between wake-ups, `[capture] committer = "inline"`), same run:'
                    f" {cap['rate'] / simple['rate']:.2f} against"
                    f" {inline['rate'] / simple['rate']:.2f} of the simple proxy's throughput,"
                    f" p50 {cap['p50']:.0f} against {inline['p50']:.0f} µs; CPU per request"
                    f" {cap['cores'] / cap['rate'] * 1e6:.1f} against"
                    f" {inline['cores'] / inline['rate'] * 1e6:.1f} µs (the hand-over and the"
                    " child cost CPU of their own; what the committer frees is the loop's thread,"
                    " and here the two cores are shared with the bot, the exchange and ZeroMQ's"
                    " I/O threads)."
                ]
            ),
        ]
    )
    publish("capture_proxy", body, write=not args.quick and args.durability == "safe")


if __name__ == "__main__":
    main()
