"""The capture service's cost: throughput and added round-trip latency, next to two baselines.

Three paths between a bot and an exchange, measured in the same run, CURVE on every hop:

* **direct** — the bot's DEALER talks to the exchange's ROUTER;
* **plain proxy** — a pyzmq forwarding proxy (ROUTER in front, DEALER behind, two ``recv()``
  calls per message, no parsing, no journal) in its own process;
* **capture** — :class:`recorder.capture.CaptureService` in its own process, journal in ``safe``
  mode (every batch committed before it is forwarded), sequencing and routing on.

The exchange is a minimal LX/1 responder in its own process: it parses each request's header and
answers one ``Status{ACK}`` under the request's mid with a continuous seq (what the capture
service tracks). *Throughput* is requests answered per second with 500 requests in flight (two
frames through the proxy per request); *latency* is the bot's round trip, one request at a time,
and *added* is the difference of medians against the path before it.

    python bench/capture_proxy.py            # 3 runs of 40k requests and 3,000 round trips
    python bench/capture_proxy.py --quick    # 1 run, 10k requests, 1,000 round trips, prints only
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, median, table, write_section

WINDOW = 500


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
    return sock


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
    return sock


# ---------------------------------------------------------------------------- processes


def exchange(keys: tuple[bytes, bytes], out: Any) -> None:
    """A minimal LX/1 exchange: ACK every request under its mid, seqs 1, 2, 3, ..."""
    from recorder.venues.lx import lx1_pb2 as pb

    ctx: zmq.Context[Any] = zmq.Context()
    router = _server(ctx, zmq.ROUTER, keys)
    pub = _server(ctx, zmq.PUB, keys)
    out.put((router.last_endpoint.decode(), pub.last_endpoint.decode()))
    header = pb.EnvelopeHeader.FromString
    run = "ab" * 16
    ack = pb.Status(code=pb.ACK)
    done = pb.Status(code=pb.DONE)
    seq = 0
    recv, send = router.recv, router.send
    while True:
        rid = recv()
        data = recv()
        h = header(data)
        seq += 1
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


def plain_proxy(upstream: str, exchange_key: bytes, keys: tuple[bytes, bytes], out: Any) -> None:
    """A forwarding proxy with no journal: the baseline a Python proxy hop costs."""
    ctx: zmq.Context[Any] = zmq.Context()
    front = _server(ctx, zmq.ROUTER, keys)
    back = _client(ctx, zmq.DEALER, exchange_key, _keys(), upstream)
    out.put(front.last_endpoint.decode())
    poller = zmq.Poller()
    poller.register(front, zmq.POLLIN)
    poller.register(back, zmq.POLLIN)
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


def capture(
    upstream: tuple[str, str],
    exchange_key: bytes,
    bot_key: bytes,
    folder: str,
    out: Any,
    durability: str = "safe",
) -> None:
    """The capture service (journal in ``safe`` mode unless told otherwise)."""
    import logging

    from recorder.capture import CaptureService, Upstream
    from recorder.journal import open_journal
    from recorder.keys import KeyPair

    logging.getLogger("recorder").setLevel(logging.ERROR)
    journal = open_journal(
        Path(folder) / f"bench-{time.monotonic_ns()}.journal", durability=durability
    )  # type: ignore[arg-type]
    service = CaptureService(
        journal,
        keys=KeyPair.generate(),
        participant=KeyPair.generate(),
        upstream=Upstream(upstream[0], upstream[1], exchange_key),
        bot_keys=[bot_key],
        status_log_s=0,
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
            mid=f"{i + 1:032x}", seq=i + 1, mversion="1.0", limit_order=order
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


def latency(sock: zmq.Socket[Any], frames: list[bytes]) -> list[float]:
    """Round trips in µs, one request at a time."""
    out = []
    send, recv = sock.send, sock.recv
    clock = time.perf_counter_ns
    for data in frames:
        t0 = clock()
        send(data)
        recv()
        out.append((clock() - t0) / 1000)
    out.sort()
    return out


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]


def measure(
    endpoint: str, server_key: bytes, bot: tuple[bytes, bytes], args: Any
) -> dict[str, float]:
    ctx: zmq.Context[Any] = zmq.Context()
    sock = _client(ctx, zmq.DEALER, server_key, bot, endpoint)
    offset = 0

    def take(n: int) -> list[bytes]:
        nonlocal offset
        frames = ALL[offset : offset + n]
        offset += n
        return frames

    throughput(sock, take(2000))  # warm-up: connections, CURVE, page cache
    rates, p50s, p99s = [], [], []
    for _ in range(args.runs):
        rates.append(throughput(sock, take(args.requests)))
        rtts = latency(sock, take(args.round_trips))
        p50s.append(pct(rtts, 0.50))
        p99s.append(pct(rtts, 0.99))
    ctx.destroy(linger=0)
    return {"rate": median(rates), "p50": median(p50s), "p99": median(p99s)}


ALL: list[bytes] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short run; print only")
    parser.add_argument(
        "--durability", default="safe", choices=["strict", "safe", "fast"],
        help="the capture journal's mode (the targets are for safe; others print only)",
    )  # fmt: skip
    args = parser.parse_args()
    args.runs = 1 if args.quick else 3
    args.requests = 10_000 if args.quick else 40_000
    args.round_trips = 1_000 if args.quick else 3_000
    global ALL
    ALL = requests(2000 + args.runs * (args.requests + args.round_trips))

    spawn = mp.get_context("spawn")
    queue = spawn.Queue()
    exchange_keys, proxy_keys, bot = _keys(), _keys(), _keys()
    procs = [spawn.Process(target=exchange, args=(exchange_keys, queue), daemon=True)]
    procs[0].start()
    order, market = queue.get(timeout=30)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as folder:
        results["direct"] = measure(order, exchange_keys[0], bot, args)
        proxy = spawn.Process(
            target=plain_proxy, args=(order, exchange_keys[0], proxy_keys, queue), daemon=True
        )
        proxy.start()
        procs.append(proxy)
        results["plain proxy"] = measure(queue.get(timeout=30), proxy_keys[0], bot, args)
        proxy.terminate()
        service = spawn.Process(
            target=capture,
            args=((order, market), exchange_keys[0], bot[0], folder, queue, args.durability),
            daemon=True,
        )  # fmt: skip
        service.start()
        procs.append(service)
        endpoint, service_key = queue.get(timeout=30)
        results[f"capture ({args.durability})"] = measure(endpoint, service_key, bot, args)
    for proc in procs:
        proc.terminate()
        proc.join(5)
    report(results, args)


def report(results: dict[str, dict[str, float]], args: Any) -> None:
    plain, direct = results["plain proxy"], results["direct"]
    cap = results[f"capture ({args.durability})"]
    ratio = cap["rate"] / plain["rate"]
    added = cap["p50"] - plain["p50"]
    rows = []
    before = None
    for name, r in results.items():
        rows.append(
            [
                name,
                f"{r['rate']:,.0f}",
                f"{r['p50']:.0f}",
                f"{r['p99']:.0f}",
                "—" if before is None else f"{r['p50'] - before['p50']:+.0f}",
            ]
        )
        before = r
    body = "\n".join(
        [
            "## Capture service (`bench/capture_proxy.py`)",
            "",
            f"{machine()}; {args.runs} run(s) of {args.requests:,} requests ({WINDOW} in flight)"
            f" and {args.round_trips:,} round trips each, medians; CURVE on every hop; bot,"
            " proxy and exchange in separate processes.",
            "",
            table(
                ["path", "requests/s", "RTT p50 µs", "RTT p99 µs", "added p50 µs"],
                rows,
            ),
            "",
            f"* capture / plain proxy throughput: **{ratio:.2f}** (target ≥ 0.75)"
            f" — {'met' if ratio >= 0.75 else 'NOT met'}",
            f"* added p50 over the plain proxy: **{added:.0f} µs** (target ≤ 80 µs)"
            f" — {'met' if added <= 80 else 'NOT met'}",
            "* each request is two frames through the proxy (request out, ACK in), so the"
            " capture path journals and commits both directions; in `safe` a single round trip"
            " pays two commits (one per direction), under load one commit covers a whole batch.",
            f"* direct: {direct['rate']:,.0f} requests/s, p50 {direct['p50']:.0f} µs.",
            "* where the time goes (cProfile of the service process under load): per frame"
            " about 2 µs to parse the header and build the record, 1.5 µs of hash chain and row"
            " building, 3 µs of SQLite insert with two indexes, commits, routing, and three"
            " sends per request. The plain proxy drains 256 messages per wake-up and needs"
            " about 6 µs per request, so no single-threaded CPython journal fits the 0.75 budget"
            " next to it; the next step is a writer process pipelined with forwarding.",
        ]
    )
    print(body)
    if not args.quick and args.durability == "safe":
        write_section("capture_proxy", body)


if __name__ == "__main__":
    main()
