"""Servers and load generators for ``test_bench_grpc.py``; each runs in its own process.

Servers (uvloop, as the engine runs): ``echo_server`` (raw grpc.aio, bytes in = bytes out, the
baseline), ``engine_server`` (the real ``Engine``: auth, validation, risk, journal, simulated
venue), ``fanout_server`` (the engine's ``MarketDataHub`` behind the real MarketDataService
servicer, publishing trades and BBO on a real ``MessageBus`` at a fixed rate).

Clients: ``unary_clients`` (N concurrent callers, each one call at a time, serializing a fresh
SubmitOrderRequest per call and parsing the answer -- the same client work against the echo server
and the engine), ``stream_clients`` (market-data subscribers that measure publish-to-receive on the
oldest event of each message: ``time.time_ns()`` when the message is handed to its reader minus the
event's ``ts_init_ns``, stamped by the publisher in the server process; same host clock).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import uvloop
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from algotrendy.v1 import common_pb2, marketdata_pb2, orders_pb2

ECHO_METHOD = "/bench.Echo/Echo"
SUBMIT_METHOD = "/algotrendy.v1.OrderService/SubmitOrder"
BOOK_METHOD = "/algotrendy.v1.MarketDataService/GetOrderBook"
STREAM_METHOD = "/algotrendy.v1.MarketDataService/StreamMarketData"
INSTRUMENT = "SIM:BTC-USD"


def _wait(stop: Any) -> Any:
    return asyncio.get_running_loop().run_in_executor(None, stop.wait)


# == servers ======================================================================================
def echo_server(ready: mp.Queue, stop: Any) -> None:
    uvloop.run(_echo_server(ready, stop))


async def _echo_server(ready: mp.Queue, stop: Any) -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(echo)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    ready.put({"target": f"127.0.0.1:{port}"})
    await _wait(stop)
    await server.stop(0)


def engine_server(ready: mp.Queue, stop: Any, durability: str) -> None:
    sys.setswitchinterval(0.0005)  # as ``algotrendy serve`` does
    uvloop.run(_engine_server(ready, stop, durability))


async def _engine_server(ready: mp.Queue, stop: Any, durability: str) -> None:
    from engine.app import Engine
    from engine.config import load_config
    from engine.telemetry import configure_logging

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            env={},
            overrides={
                "data_dir": str(Path(tmp) / "data"),
                "grpc.port": 0,
                "metrics.enabled": False,
                "log.level": "warning",
                "store.durability": durability,
                "store.map_size_mb": 4096,
                "sim.step_ms": 500,
                # The benchmark measures the path, not the limits: none of them may throttle it.
                "rate_limits.orders_per_second": 1_000_000,
                "rate_limits.orders_burst": 1_000_000,
                "rate_limits.queries_per_second": 1_000_000,
                "rate_limits.queries_burst": 1_000_000,
                "risk.max_orders_per_second": 1_000_000,
                "risk.order_burst": 1_000_000,
                "risk.strategy_max_orders_per_second": 1_000_000,
                "risk.strategy_order_burst": 1_000_000,
                "risk.max_open_orders": 1_000_000,
                "risk.max_data_age_ms": 3_600_000,
                "risk.max_gross_exposure": "1000000000000",
                "risk.max_net_exposure": "1000000000000",
                "sim.starting_balances": {"USD": "1000000000000"},
            },
        )
        configure_logging(config.log.level, config.log.format)
        engine = Engine(config)
        await engine.start()
        deadline = time.monotonic() + 60
        while not (book := engine.marketdata.snapshot(INSTRUMENT, 1)).bids:  # the market makers quote
            if time.monotonic() > deadline:
                raise RuntimeError(f"the simulated market left {INSTRUMENT} without a bid")
            await asyncio.sleep(0.05)
        bid = book.bids[0][0].as_decimal()
        # What ``algotrendy serve`` does once started: what lives for the whole run leaves the
        # collector's reach, so the full collections of a run scan only what trading allocates.
        gc.collect()
        gc.freeze()
        credentials = Path(config.data_dir) / "admin-credentials.json"  # written by the first start
        authorization = (
            f"ApiKey {json.loads(credentials.read_text())['api_key']}" if credentials.exists() else ""
        )
        ready.put(
            {
                "target": f"127.0.0.1:{engine.grpc.port}",
                "authorization": authorization,
                "price": str((bid * Decimal("0.97")).quantize(Decimal("0.1"))),
            }
        )
        await _wait(stop)
        await engine.stop()


def fanout_server(
    ready: mp.Queue, stop: Any, trades_per_s: int, quotes_per_s: int, window_ms: int, subscribers: int
) -> None:
    sys.setswitchinterval(0.0005)  # as ``algotrendy serve`` does
    uvloop.run(_fanout_server(ready, stop, trades_per_s, quotes_per_s, window_ms, subscribers))


async def _fanout_server(
    ready: mp.Queue, stop: Any, trades_per_s: int, quotes_per_s: int, window_ms: int, subscribers: int
) -> None:
    """Publishing starts once ``subscribers`` streams are open (or after 60 s): a saturated loop
    accepts new calls slowly, so subscribers still connecting under load would never catch up and
    the run would measure fewer streams than it names."""
    from engine.api.interceptors import MetricsInterceptor
    from engine.api.marketdata_service import MarketDataServicer
    from engine.api.streams import MarketDataHub, Streams, add_service
    from engine.bus import MessageBus
    from engine.config.model import StreamsConfig
    from engine.core.clock import LiveClock
    from engine.core.enums import Side
    from engine.core.events import QuoteTick, TradeTick
    from engine.core.fixed import Price, Quantity
    from engine.core.ids import InstrumentId, TradeId
    from engine.marketdata.registry import MarketDataRegistry
    from engine.telemetry import EngineMetrics
    from engine.venues.sim import default_instruments

    bus = MessageBus()
    bus.bind_to_current_thread()
    registry = MarketDataRegistry()
    for instrument in default_instruments():
        registry.add_book(instrument)
    streams = Streams(StreamsConfig(conflation_window_ms=window_ms))
    hub = MarketDataHub(registry, streams)
    hub.attach(bus)
    # The engine's per-call metrics interceptor wraps every stream message, as in the engine.
    server = grpc.aio.server(
        interceptors=[MetricsInterceptor(EngineMetrics("bench"))], options=[("grpc.so_reuseport", 0)]
    )
    service = marketdata_pb2.DESCRIPTOR.services_by_name["MarketDataService"]
    add_service(service)(MarketDataServicer(registry, LiveClock(), hub), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    # As ``algotrendy serve`` does once the engine has started: what was built so far lives for the
    # whole run, out of the collector's reach (a full collection then scans only the streams' objects).
    gc.collect()
    gc.freeze()
    ready.put({"target": f"127.0.0.1:{port}"})

    iid = InstrumentId(INSTRUMENT)
    tick_s = 0.01
    per_tick_trades = max(1, round(trades_per_s * tick_s))
    per_tick_quotes = max(1, round(quotes_per_s * tick_s))
    size = Quantity("0.01000")
    stopping = asyncio.ensure_future(_wait(stop))
    connecting = time.perf_counter()
    # Polled: Streams has no event for "n admitted" (and needs none outside this benchmark).
    while len(streams) < subscribers and time.perf_counter() - connecting < 60 and not stopping.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    connected = len(streams)
    connected_s = time.perf_counter() - connecting
    started = next_at = time.perf_counter()
    n = published = 0
    while not stopping.done():
        for _ in range(per_tick_trades):
            n += 1
            now = time.time_ns()
            price = Price.from_raw(650_000 + n % 50, 1)
            bus.publish_c(
                f"data.trades.{iid}",
                TradeTick(
                    ts_event=now,
                    ts_init=now,
                    instrument_id=iid,
                    price=price,
                    size=size,
                    aggressor_side=Side.BUY,
                    trade_id=TradeId(f"t{n}"),
                ),
            )
        for _ in range(per_tick_quotes):
            now = time.time_ns()
            bid = Price.from_raw(650_000 + n % 50, 1)
            bus.publish_c(
                f"data.quotes.{iid}",
                QuoteTick(
                    ts_event=now,
                    ts_init=now,
                    instrument_id=iid,
                    bid_price=bid,
                    bid_size=size,
                    ask_price=Price.from_raw(bid.raw + 1, 1),
                    ask_size=size,
                ),
            )
        published += per_tick_trades + per_tick_quotes
        next_at += tick_s
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    # What the publisher managed (it shares the loop with the fan-out, so a saturated loop publishes less).
    published_per_s = published / (time.perf_counter() - started)
    await asyncio.sleep(1.0)  # the clients canceled their calls: let the subscriptions end
    ready.put(
        {
            "published_per_s": published_per_s,
            "connected": connected,
            "connected_s": connected_s,
            "refused": streams.refused,
            "skipped_trades": hub.skipped_trades,
            "conflated": hub.conflated,
        }
    )
    await server.stop(0)


# == clients ======================================================================================
# Built like a serious load tool (ghz, wrk): the per-call client work is what the transport needs
# and no more, so the client processes leave the server as much of the shared machine as they can.
#
# * requests are pre-serialized: a SubmitOrderRequest is serialized once with a fixed-width
#   placeholder client_order_id, and each call splices its own id (same width) into those bytes;
# * answers are not deserialized (the channel hands back raw bytes; the status says success);
#   one answer per caller is parsed and checked, so a wrong answer fails the run, not the figures;
# * stream messages are not decoded while the load runs: each reader logs (receive time, message)
#   and ``scan_stream_message`` counts every message's events as opaque byte strings after the run,
#   decoding only the first (oldest) event, for its timestamp.


def submit_requests(price: str, tag: str) -> Callable[[int], bytes]:
    """``request(n)``: the serialized SubmitOrderRequest with client_order_id ``<tag>-<n>`` (n
    zero-padded to a fixed width, so every request has the same length and one template serves)."""
    width = 12
    placeholder = "#" * (len(tag) + 1 + width)
    template = orders_pb2.SubmitOrderRequest(
        account_id="main",
        client_order_id=placeholder,
        instrument_id=INSTRUMENT,
        side=common_pb2.SIDE_BUY,
        order_type=common_pb2.ORDER_TYPE_LIMIT,
        quantity=common_pb2.Decimal(value="0.001"),
        price=common_pb2.Decimal(value=price),
        time_in_force=common_pb2.TIME_IN_FORCE_GTC,
    ).SerializeToString()
    head, tail = template.split(placeholder.encode())
    stem = f"{tag}-".encode()

    def request(n: int) -> bytes:
        return b"".join((head, stem, b"%012d" % n, tail))

    return request


def unary_clients(
    target: str,
    method: str,
    authorization: str,
    price: str,
    concurrency: int,
    channels: int,
    tag: str,
    measure_from_epoch: float,
    duration_s: float,
    results: mp.Queue,
) -> None:
    results.put(
        uvloop.run(
            _unary_clients(
                target,
                method,
                authorization,
                price,
                concurrency,
                channels,
                measure_from_epoch,
                duration_s,
                tag,
            )
        )
    )


def _check_answer(method: str, answer: bytes, request: bytes) -> None:
    """One answer per caller is parsed: the load must get real answers, not just OK statuses."""
    if method == ECHO_METHOD:
        ok = answer == request
    elif method == SUBMIT_METHOD:
        sent = orders_pb2.SubmitOrderRequest.FromString(request)
        order = orders_pb2.SubmitOrderResponse.FromString(answer).order
        ok = (
            order.client_order_id == sent.client_order_id
            and order.status != common_pb2.ORDER_STATUS_UNSPECIFIED
        )
    else:
        ok = marketdata_pb2.GetOrderBookResponse.FromString(answer).instrument_id == INSTRUMENT
    if not ok:
        raise AssertionError(f"{method}: unexpected answer {answer[:200]!r}")


async def _unary_clients(
    target: str,
    method: str,
    authorization: str,
    price: str,
    concurrency: int,
    channels: int,
    measure_from_epoch: float,
    duration_s: float,
    tag: str,
) -> dict[str, Any]:
    metadata = (("authorization", authorization),) if authorization else None
    if method == BOOK_METHOD:
        book = marketdata_pb2.GetOrderBookRequest(instrument_id=INSTRUMENT, depth=1).SerializeToString()

        def next_request(n: int) -> bytes:
            return book
    else:  # the echo server gets exactly the SubmitOrder requests (same bytes, same sizes)
        next_request = submit_requests(price, tag)
    opened = [grpc.aio.insecure_channel(target) for _ in range(channels)]
    # No serializer / deserializer: requests go out and answers come back as bytes.
    calls = [channel.unary_unary(method) for channel in opened]
    perf_ns = time.perf_counter_ns
    start = perf_ns()
    measure_from = start + int((measure_from_epoch - time.time()) * 1e9)  # the parent's window
    end = measure_from + int(duration_s * 1e9)
    latencies: list[int] = []
    counter = itertools.count()
    errors: dict[str, int] = {}
    first_error: list[str] = []
    cpu_start = time.process_time()

    async def worker(w: int) -> None:
        call = calls[w % channels]
        record = latencies.append
        checked = False
        while True:
            request = next_request(next(counter))
            t0 = perf_ns()
            if t0 >= end:
                return
            try:
                answer = await call(request, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                name = exc.code().name
                errors[name] = errors.get(name, 0) + 1
                if not first_error:
                    first_error.append(f"{name}: {exc.details()}")
                continue
            t1 = perf_ns()
            if t0 >= measure_from:
                record(t1 - t0)
            if not checked:
                _check_answer(method, answer, request)
                checked = True

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    cpu = (time.process_time() - cpu_start) / ((perf_ns() - start) / 1e9)
    for channel in opened:
        await channel.close()
    return {
        "calls": len(latencies),
        "seconds": duration_s,
        "latencies_ns": latencies,
        "errors": errors,
        "first_error": first_error[:1],
        "cpu": cpu,
    }


def _stream_view() -> Any:
    """A message type wire-compatible with StreamMarketDataResponse whose events are ``bytes``: the
    C parser then copies each event's bytes instead of decoding it (3 us a message instead of 10)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="bench/stream_view.proto", package="bench", syntax="proto3"
    )
    message = file.message_type.add(name="StreamView")
    field = descriptor_pb2.FieldDescriptorProto
    message.field.add(name="events", number=1, type=field.TYPE_BYTES, label=field.LABEL_REPEATED)
    message.field.add(name="heartbeat", number=2, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL)
    message.field.add(name="ts_ns", number=3, type=field.TYPE_INT64, label=field.LABEL_OPTIONAL)
    message.field.add(name="conflated", number=4, type=field.TYPE_UINT64, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.StreamView"))


_StreamView = _stream_view()


def scan_stream_message(data: bytes) -> tuple[int, int, int]:
    """``(events, ts_init_ns of the first event, ts_ns)`` of a serialized StreamMarketDataResponse:
    parsed as a ``StreamView`` (events left as bytes), and only the first (oldest) event decoded.
    ``ts_ns`` is when the server built the message (just before writing it). ``(0, 0, ts_ns)`` for
    a heartbeat."""
    view = _StreamView.FromString(data)
    events = view.events
    if not events:
        return 0, 0, view.ts_ns
    first = marketdata_pb2.MarketDataEvent.FromString(events[0])
    ts_init = first.trade.ts_init_ns if first.HasField("trade") else first.bbo.ts_init_ns
    return len(events), ts_init, view.ts_ns


def stream_clients(
    target: str,
    streams: int,
    channels: int,
    slow: int,
    measure_from_epoch: float,
    duration_s: float,
    results: mp.Queue,
) -> None:
    results.put(uvloop.run(_stream_clients(target, streams, channels, slow, measure_from_epoch, duration_s)))


async def _stream_clients(
    target: str, streams: int, channels: int, slow: int, measure_from_epoch: float, duration_s: float
) -> dict[str, Any]:
    request = marketdata_pb2.StreamMarketDataRequest(
        instrument_ids=[INSTRUMENT],
        channels=[
            marketdata_pb2.ChannelSubscription(channel=marketdata_pb2.MARKET_DATA_CHANNEL_TRADES),
            marketdata_pb2.ChannelSubscription(channel=marketdata_pb2.MARKET_DATA_CHANNEL_BBO),
        ],
    ).SerializeToString()
    # Each channel its own connection: channels with equal arguments would otherwise share one
    # (the global subchannel pool), and the streams beyond its concurrent-stream limit would wait.
    fast_channels = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(channels)
    ]
    slow_channel = grpc.aio.insecure_channel(
        target, options=[("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]
    )
    start = time.perf_counter()
    cpu_start = time.process_time()
    # The parent's measurement window on the clock the latencies use (the server stamps events with
    # time.time_ns(); a window of seconds does not notice the wall clock's slew).
    measure_from_ns = int(measure_from_epoch * 1e9)
    end_ns = measure_from_ns + int(duration_s * 1e9)
    started = [0]
    opened: list[Any] = []

    async def reader(call: Any, times: list[int], messages: list[bytes]) -> None:
        clock_ns = time.time_ns
        keep_time, keep = times.append, messages.append
        first = True
        async for raw in call:
            now = clock_ns()  # the receive time: taken as the message is handed to the reader
            if first:
                first = False
                started[0] += 1
            if now >= end_ns:
                return
            if now >= measure_from_ns:
                # Decoded after the run (``_received_stats``), like a load tool's log; kept as two
                # flat lists of ints and bytes, which the garbage collector does not track (a tuple
                # per message made the readers' collections scan every message logged so far).
                keep_time(now)
                keep(raw)

    tasks = []
    received: list[tuple[list[int], list[bytes]]] = []
    for s in range(streams):
        channel = fast_channels[s % channels]
        call = channel.unary_stream(STREAM_METHOD)(request)
        opened.append(call)
        received.append(([], []))
        tasks.append(asyncio.ensure_future(reader(call, *received[-1])))
    slow_calls = [slow_channel.unary_stream(STREAM_METHOD)(request) for _ in range(slow)]  # never read
    # What was set up lives until the end: out of the collector's reach, as the server does.
    gc.collect()
    gc.freeze()
    await asyncio.sleep(max(0.0, end_ns / 1e9 - time.time()))
    cpu = (time.process_time() - cpu_start) / (time.perf_counter() - start)  # while reading only
    for call in (*opened, *slow_calls):
        call.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in (*fast_channels, slow_channel):
        await channel.close()
    return {**_received_stats(received), "streams_started": started[0], "seconds": duration_s, "cpu": cpu}


def _received_stats(received: list[tuple[list[int], list[bytes]]]) -> dict[str, Any]:
    """Events, messages, publish-to-receive latencies (of each message's oldest event, its worst),
    that event's age when the server built the message (the server's part of the latency; the rest
    is delivery) and the streams that got events, from what every reader logged (receive times and
    messages)."""
    events = messages = receiving = 0
    latencies: list[int] = []
    ages_at_send: list[int] = []
    for times, logged in received:
        counted = False
        for now, raw in zip(times, logged, strict=True):
            count, ts, built = scan_stream_message(raw)
            if count:
                latencies.append(now - ts)
                ages_at_send.append(built - ts)
                events += count
                messages += 1
                if not counted:
                    counted = True
                    receiving += 1
    return {
        "events": events,
        "messages": messages,
        "streams_receiving": receiving,
        "latencies_ns": latencies,
        "ages_at_send_ns": ages_at_send,
    }
