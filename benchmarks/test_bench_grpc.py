"""gRPC API benchmarks: unary command throughput against a raw echo baseline, and stream fan-out.

Every server and every client runs in its own process (multiprocessing, spawn), so a client's CPU
is not the server's; the machine is shared, so the numbers that travel are the **ratios to the
peer measured in the same run** (the echo baseline) and medians.

The load generators are built to cost as little as a serious load tool (see grpc_load.py: request
bytes prepared once, answers and stream messages not decoded), and the unary load runs in ONE client
process: on a 2-core machine the server then has a core of its own instead of sharing two with the
clients (1,000 stream readers need two processes). Each result carries the server's CPU (cores) and
its CPU per call / per message / per delivered event -- the load-independent figures -- and the
clients' CPU, so a figure can be read for what limited it.

1. ``echo``: a raw grpc.aio server (uvloop) that returns the request bytes -- what one unary call
   costs on this machine with nothing behind it.
2. ``get_order_book``: the engine's unary floor (authenticated, rate-limited, metered, a cheap
   read), to split the gap between echo and SubmitOrder into API overhead and the order path.
3. ``submit_order``: ``OrderService.SubmitOrder`` on the real engine (authenticated with an API
   key, validated, risk-checked, journalled in LMDB, audited -- the audit record durable before
   the answer -- and sent to the simulated venue, whose acknowledgement the engine processes and
   journals on the same loop in the measured window: the answer itself carries the order as
   SUBMITTED, ACCEPTED follows on the order-event stream), resting limit orders. Both with
   ``CONCURRENCY`` concurrent callers (one call at a time
   each) and the same load generator: the echo server gets the very SubmitOrder request bytes.
   Goals: >= 80% of the echo calls/s, p99 <= 20 ms.
4. ``fanout``: ``FANOUT_SUBSCRIBERS`` streams of one instrument's trades and BBO from the engine's
   ``MarketDataHub`` (real servicer, real bus, published at a fixed rate in the server process).
   Goal: >= 500k delivered events/s in aggregate, p99 publish-to-receive <= 50 ms (measured on the
   oldest event of each message, so it is the worst event of the message; ``at_send_*``: that
   event's age when the server built the message, the server's share). Publishing starts once
   every stream is open; ``connected`` and ``streams_receiving`` in the results confirm it.
5. ``slow``: 100 subscribers, then 99 + one that never reads: the others' latency must not move.

Run: make bench BENCH=benchmarks/test_bench_grpc.py  (results: benchmarks/results/grpc.json)
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # grpc_load, importable by the spawned processes too

import grpc_load

RESULTS = Path(__file__).parent / "results" / "grpc.json"
CONCURRENCY = 50
#: One unary client process (many channels) keeps the server busy; a second would only take CPU
#: from it. 1,000 stream readers need two: one Python process cannot read that many messages.
CLIENT_PROCESSES = 1
FANOUT_CLIENT_PROCESSES = 2
UNARY_CHANNELS = 5
#: Subscribers per client channel (HTTP/2 connection) in the fan-out runs.
STREAMS_PER_CHANNEL = 100
#: Client processes start and connect, then load runs WARMUP_S unmeasured, then DURATION_S measured.
SETUP_S = 4.0
WARMUP_S = 2.0
DURATION_S = 6.0
FANOUT_SUBSCRIBERS = 1_000
FANOUT_TRADES_PER_S = 500
FANOUT_QUOTES_PER_S = 100
CONFLATION_WINDOW_MS = 5
_results: dict[str, Any] = {}
_ctx = mp.get_context("spawn")


def _percentile(ordered: list[int], q: float) -> float:
    return ordered[max(0, int(q * len(ordered)) - 1)] / 1e6 if ordered else float("nan")


def _latency_ms(latencies: list[int]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered) / 1e6 if ordered else float("nan"),
        "p90_ms": _percentile(ordered, 0.90),
        "p99_ms": _percentile(ordered, 0.99),
        "max_ms": ordered[-1] / 1e6 if ordered else float("nan"),
    }


class _Server:
    """A server process; ``info`` is what it reported once listening."""

    def __init__(self, target: Any, *args: Any) -> None:
        self._ready: mp.Queue = _ctx.Queue()
        self._stop = _ctx.Event()
        self._process = _ctx.Process(target=target, args=(self._ready, self._stop, *args), daemon=True)
        self._process.start()
        self.info: dict[str, Any] = self._ready.get(timeout=300)  # the engine imports a lot (ccxt)
        assert self._process.pid is not None
        self.pid = self._process.pid

    def stop(self, *, report: bool = False) -> dict[str, Any]:
        """Stop the server; with ``report`` it sends one last dict (what it measured) first."""
        self._stop.set()
        final: dict[str, Any] = self._ready.get(timeout=60) if report else {}
        self._process.join(120)  # the engine drains: streams, grace period, LMDB close
        if self._process.is_alive():
            self._process.kill()
        return final


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_clients(
    target: Any, args_per_process: list[tuple[Any, ...]], server: _Server
) -> tuple[list[dict[str, Any]], float]:
    """Run the client processes (each gets the measurement window's start as its last-but-one
    argument); returns their results and the server's CPU use in the window (cores)."""
    results: mp.Queue = _ctx.Queue()
    measure_from = time.time() + SETUP_S + WARMUP_S
    processes = [
        _ctx.Process(target=target, args=(*args, measure_from, DURATION_S, results), daemon=True)
        for args in args_per_process
    ]
    for process in processes:
        process.start()
    time.sleep(max(0.0, measure_from - time.time()))
    cpu_before = _cpu_s(server.pid)
    time.sleep(DURATION_S)
    server_cpu = (_cpu_s(server.pid) - cpu_before) / DURATION_S
    out = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(30)
    return out, server_cpu


def _unary(method: str, server: _Server, tag: str) -> dict[str, Any]:
    info = server.info
    per_process = CONCURRENCY // CLIENT_PROCESSES
    parts, server_cpu = _run_clients(
        grpc_load.unary_clients,
        [
            (
                info["target"],
                method,
                info.get("authorization", ""),
                info.get("price", "60000.0"),
                per_process,
                UNARY_CHANNELS,
                f"{tag}{p}",
            )
            for p in range(CLIENT_PROCESSES)
        ],
        server,
    )
    calls = sum(p["calls"] for p in parts)
    latencies = [x for p in parts for x in p["latencies_ns"]]
    errors: dict[str, int] = {}
    for part in parts:
        for code, count in part["errors"].items():
            errors[code] = errors.get(code, 0) + count
    first_error = next((p["first_error"][0] for p in parts if p["first_error"]), "")
    clients_cpu = sum(p["cpu"] for p in parts)
    return {
        "calls": calls,
        "calls_per_s": calls / DURATION_S,
        **_latency_ms(latencies),
        # The server's CPU in the window (cores), its CPU per call and calls per server CPU-second:
        # what one core would sustain -- the load-independent figures on a shared machine.
        "server_cpu": server_cpu,
        "server_us_per_call": server_cpu * DURATION_S / calls * 1e6 if calls else 0.0,
        "calls_per_server_cpu_s": calls / DURATION_S / server_cpu if server_cpu else 0.0,
        "clients_cpu": clients_cpu,
        "client_us_per_call": clients_cpu * DURATION_S / calls * 1e6 if calls else 0.0,
        "errors": errors,
        "first_error": first_error,
    }


def _with_ratios(result: dict[str, Any]) -> dict[str, Any]:
    echo = _results["echo"]
    result["ratio_to_echo"] = result["calls_per_s"] / echo["calls_per_s"]
    if echo["calls_per_server_cpu_s"]:
        result["cpu_ratio_to_echo"] = result["calls_per_server_cpu_s"] / echo["calls_per_server_cpu_s"]
    return result


def _save() -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(_results, indent=2) + "\n")


@pytest.mark.timeout(600)
def test_bench_grpc_echo(benchmark: Any) -> None:
    def run() -> None:
        echo = _Server(grpc_load.echo_server)
        try:
            _results["echo"] = _unary(grpc_load.ECHO_METHOD, echo, "e")
        finally:
            echo.stop()

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(_results["echo"])
    _save()
    assert _results["echo"]["calls"] > 0


@pytest.mark.timeout(600)
@pytest.mark.parametrize("durability", ["async", "sync"])
def test_bench_grpc_submit_order(benchmark: Any, durability: str) -> None:
    """After ``test_bench_grpc_echo`` (same run): the ratios are to that baseline."""
    if "echo" not in _results:
        pytest.skip("needs the echo baseline of the same run (run the whole module)")

    def run() -> None:
        engine = _Server(grpc_load.engine_server, durability)
        try:
            if durability == "async":
                # The engine's unary floor: auth, rate limit, metrics, a cheap read -- no order path.
                _results["get_order_book"] = _with_ratios(_unary(grpc_load.BOOK_METHOD, engine, "book"))
            _results[f"submit_order/{durability}"] = _with_ratios(
                _unary(grpc_load.SUBMIT_METHOD, engine, f"o{durability}")
            )
        finally:
            engine.stop()

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(_results[f"submit_order/{durability}"])
    _save()
    assert _results[f"submit_order/{durability}"]["calls"] > 0


def _fanout(subscribers: int, slow: int, trades_per_s: int, quotes_per_s: int) -> dict[str, Any]:
    server = _Server(
        grpc_load.fanout_server, trades_per_s, quotes_per_s, CONFLATION_WINDOW_MS, subscribers + slow
    )
    try:
        sizes = [
            subscribers // FANOUT_CLIENT_PROCESSES + (1 if p < subscribers % FANOUT_CLIENT_PROCESSES else 0)
            for p in range(FANOUT_CLIENT_PROCESSES)
        ]
        parts, server_cpu = _run_clients(
            grpc_load.stream_clients,
            [
                (server.info["target"], size, max(1, size // STREAMS_PER_CHANNEL), slow if p == 0 else 0)
                for p, size in enumerate(sizes)
            ],
            server,
        )
    finally:
        final = server.stop(report=True)
    events = sum(p["events"] for p in parts)
    messages = sum(p["messages"] for p in parts)
    # Streams open when publishing began (and how long they took), and readers that got messages in
    # the measured window: a run where these fall short of ``subscribers`` measured fewer streams.
    connected = {"connected": final.get("connected", 0), "connected_s": final.get("connected_s", 0.0)}
    receiving = sum(p["streams_receiving"] for p in parts)
    latencies = [x for p in parts for x in p["latencies_ns"]]
    # How old each message's oldest event was when the server built the message: the server's share
    # of the latency (its pass over the streams); the rest is delivery (gRPC, network, the reader).
    at_send = _latency_ms([x for p in parts for x in p["ages_at_send_ns"]])
    return {
        "subscribers": subscribers,
        "slow_subscribers": slow,
        **connected,
        "streams_receiving": receiving,
        "target_published_per_s": trades_per_s + quotes_per_s,
        "published_per_s": final.get("published_per_s", 0.0),
        "delivered_events_per_s": events / DURATION_S,
        # delivered / (published x subscribers): 1.0 = every trade and (unconflated) quote arrived.
        "delivered_ratio": events / DURATION_S / (final.get("published_per_s") or 1) / (subscribers or 1),
        "messages_per_s": messages / DURATION_S,
        "events_per_message": events / messages if messages else 0.0,
        "skipped_trades": final.get("skipped_trades", 0),
        "conflated": final.get("conflated", 0),
        "server_cpu": server_cpu,
        "delivered_events_per_server_cpu_s": events / DURATION_S / server_cpu if server_cpu else 0.0,
        "server_us_per_event": server_cpu * DURATION_S / events * 1e6 if events else 0.0,
        "server_us_per_message": server_cpu * DURATION_S / messages * 1e6 if messages else 0.0,
        "clients_cpu": sum(p["cpu"] for p in parts),
        **_latency_ms(latencies),
        **{f"at_send_{name}": value for name, value in at_send.items()},
    }


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", ["fanout-1000", "fanout-100", "fanout-99+1-slow"])
def test_bench_grpc_fanout(benchmark: Any, case: str) -> None:
    def run() -> None:
        if case == "fanout-1000":
            _results[case] = _fanout(FANOUT_SUBSCRIBERS, 0, FANOUT_TRADES_PER_S, FANOUT_QUOTES_PER_S)
        elif case == "fanout-100":
            _results[case] = _fanout(100, 0, FANOUT_TRADES_PER_S, FANOUT_QUOTES_PER_S)
        else:
            # 99 readers + 1 that never reads (it is conflated; the others must not notice).
            _results[case] = _fanout(99, 1, FANOUT_TRADES_PER_S, FANOUT_QUOTES_PER_S)

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(_results[case])
    _save()
    assert _results[case]["delivered_events_per_s"] > 0
