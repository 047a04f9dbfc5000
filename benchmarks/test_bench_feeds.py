"""Feed benchmarks: normalisation + book update throughput from raw venue JSON, and feed latency.

Throughput (per venue, messages/s): the venue's recorded messages (raw JSON text) go through what a
live feed does per message — ``orjson.loads`` (as ccxt.pro's client does) and our protocol handler
(``VenueProtocol.on_ws_message``: parse strings into ticks/lots, sequence/checksum checks, the
compiled book update, TradeTick/QuoteTick/OrderBookUpdated construction) with a sink that drops the
events. The peer, in the same run on the same messages, is a bare ``orjson.loads``; ``extra_info``
holds ``msgs_per_sec`` and ``x_orjson`` (our time per message / bare parse time per message).

Messages: Binance spot BTCUSDT (the 2024-08-08 capture in ``binance-l2``: the 1000-level REST
snapshot, depth diffs, trades, bookTickers; 20,000 lines), and the recorded cryptofeed sessions of
OKX (books with CRC-32 checks, trades), Kraken v1 (book with CRC-32 checks, trades), Coinbase
(level2, matches) and Bybit v5 (the real orderbook.500 capture). Each round starts from an empty
book so every round does the same work.

Latency (mock send -> engine event, p50/p99): a local mock exchange sends one recorded book update at
a time over a real WebSocket to the real ccxt.pro client; the time from just before ``send_str`` to
the sink receiving the ``OrderBookUpdated`` it produces (aiohttp framing, loopback, ccxt's decode, our
normalisation and book update). One message in flight at a time: unloaded latency.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_feeds.py --benchmark-only
--benchmark-json=benchmarks/results/feeds.json``.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from engine.core.events import Bar, DataQualityAlert, OrderBookUpdated, QuoteTick, TradeTick
from engine.marketdata.feeds import Channel, FeedHandler, FeedSettings
from tests.conftest import shared_data_path
from tests.mockex import venues
from tests.mockex.harness import FAST, until

BINANCE_LINES = 20_000


class _NullSink:
    def __init__(self) -> None:
        self.events = 0

    def on_trade(self, tick: TradeTick) -> None:
        self.events += 1

    def on_quote(self, tick: QuoteTick) -> None:
        self.events += 1

    def on_book(self, event: OrderBookUpdated) -> None:
        self.events += 1

    def on_bar(self, bar: Bar) -> None:
        self.events += 1

    def on_alert(self, alert: DataQualityAlert) -> None:
        self.events += 1


class _Client:
    """The parts of a ccxt websocket client that ccxt's own handlers read for the acks, heartbeats
    and status messages our protocols pass on to it (a real client in the feed; none here)."""

    lastPong = 0
    url = ""

    def __init__(self) -> None:
        self.subscriptions: dict[str, object] = {}


def _data() -> Path:
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"real market data not found at {path}")
    return path


def _binance_capture(data: Path) -> tuple[list[str], str]:
    """First ``BINANCE_LINES`` ws messages of the BTCUSDT capture and its REST snapshot line."""
    messages: list[str] = []
    snapshot = ""
    with gzip.open(data / "binance-l2" / "spot" / "btcusdt_20240808.gz", "rt") as f:
        for line in f:
            text = line.partition(" ")[2].strip()
            if '"lastUpdateId"' in text and not snapshot:
                snapshot = text
                messages.append(text)
            elif len(messages) < BINANCE_LINES:
                messages.append(text)
            if snapshot and len(messages) >= BINANCE_LINES:
                break
    return messages, snapshot


async def _loaded_feed(vm: venues.VenueMock, symbols: tuple[str, ...]) -> FeedHandler:
    """A feed with markets, instruments and books (from the mock's recorded REST), not connected."""
    await vm.mock.start()
    try:
        feed = FeedHandler(
            FeedSettings(venue=vm.venue, symbols=symbols, base_url_override=vm.mock.base_url, **FAST),
            _NullSink(),
        )
        feed.exchange = feed._make_exchange()
        await feed._load_markets()
        await feed.exchange.close()
    finally:
        await vm.mock.stop()
    return feed


def _prepare(venue: str) -> tuple[FeedHandler, list[str]]:
    data = _data()
    if venue == "binance":
        messages, snapshot = _binance_capture(data)
        vm = venues.binance(data)
        vm.mock.extra_rest["/api/v3/depth"] = snapshot
        feed = asyncio.run(_loaded_feed(vm, ("BTC/USDT",)))
        return feed, messages
    vm = venues.ALL[venue](data)
    feed = asyncio.run(_loaded_feed(vm, vm.symbols))
    return feed, list(vm.mock.ws_messages)


def _run_ours(feed: FeedHandler, messages: list[str]) -> int:
    protocol = feed.protocol
    protocol.on_disconnected()  # every round from empty, unsynced books
    for book in feed.books.values():
        book.clear()
    client = _Client()
    loads = orjson.loads
    on_message = protocol.on_ws_message
    binance_syncs = getattr(protocol, "syncs", None)
    for text in messages:
        message = loads(text)
        if binance_syncs is not None and "lastUpdateId" in message:
            sync = next(iter(binance_syncs.values()))
            sync.on_snapshot(message["lastUpdateId"], message["bids"], message["asks"])
            continue
        on_message(client, message)
    return feed.sink.events  # type: ignore[attr-defined, no-any-return]


def _run_orjson(messages: list[str]) -> int:
    loads = orjson.loads
    n = 0
    for text in messages:
        loads(text)
        n += 1
    return n


VENUES = ["binance", "okx", "kraken", "coinbase", "bybit"]
_prepared: dict[str, tuple[FeedHandler, list[str]]] = {}
_medians: dict[str, dict[str, float]] = {}


def _get(venue: str) -> tuple[FeedHandler, list[str]]:
    if venue not in _prepared:
        _prepared[venue] = _prepare(venue)
    return _prepared[venue]


def _record(benchmark: Any, venue: str, kind: str, n: int) -> None:
    median = benchmark.stats.stats.median
    per_msg = median / n
    _medians.setdefault(venue, {})[kind] = per_msg
    benchmark.extra_info.update(messages=n, msgs_per_sec=round(n / median), ns_per_msg=round(per_msg * 1e9))
    both = _medians[venue]
    if "ours" in both and "orjson" in both:
        benchmark.extra_info["x_orjson"] = round(both["ours"] / both["orjson"], 2)


@pytest.mark.parametrize("venue", VENUES)
def test_bench_feeds_orjson_parse(benchmark: Any, venue: str) -> None:
    _, messages = _get(venue)
    benchmark.group = f"feeds-{venue}"
    n = benchmark.pedantic(_run_orjson, args=(messages,), rounds=5, iterations=1, warmup_rounds=1)
    assert n == len(messages)
    _record(benchmark, venue, "orjson", len(messages))


@pytest.mark.parametrize("venue", VENUES)
def test_bench_feeds_normalise_and_book(benchmark: Any, venue: str) -> None:
    feed, messages = _get(venue)
    benchmark.group = f"feeds-{venue}"
    events = benchmark.pedantic(_run_ours, args=(feed, messages), rounds=5, iterations=1, warmup_rounds=1)
    stats = feed.stats
    assert events > 0 and stats.parse_errors == 0 and stats.checksum_mismatches == 0 and stats.gaps == 0
    assert all(not b.is_crossed() for b in feed.books.values())
    _record(benchmark, venue, "ours", len(messages))


# -- latency ------------------------------------------------------------------------------------------
class _TimingSink(_NullSink):
    def __init__(self) -> None:
        super().__init__()
        self.book_at: int = 0
        self.books = 0
        self.alerts: list[DataQualityAlert] = []

    def on_alert(self, alert: DataQualityAlert) -> None:
        self.alerts.append(alert)

    def on_book(self, event: OrderBookUpdated) -> None:
        self.books += 1
        self.book_at = time.perf_counter_ns()


async def _latency(venue: str, max_messages: int, alerts: list[str]) -> list[int]:
    data = _data()
    vm = venues.ALL[venue](data)
    messages = list(vm.mock.ws_messages)
    # the first book message (the snapshot) is replayed on subscribe; the rest are sent one by one
    first_book = next(i for i, m in enumerate(messages) if _is_book(venue, m))
    vm.mock.ws_messages = messages[: first_book + 1]
    await vm.mock.start()
    sink = _TimingSink()
    # books only: one subscribe message, so the mock replays the snapshot exactly once
    settings = FeedSettings(
        venue=vm.venue,
        symbols=vm.symbols,
        channels=frozenset({Channel.BOOK}),
        base_url_override=vm.mock.base_url,
        **FAST,
    )
    feed = FeedHandler(settings, sink)
    samples: list[int] = []
    try:
        await feed.start()
        # the mock's replay (other symbols' snapshots, then ours) must be over before we write too
        await until(
            lambda: vm.mock.replay_done.is_set() and feed.stats.messages >= vm.mock.sent, what="snapshot"
        )
        (ws,) = vm.mock._sockets
        for text in messages[first_book + 1 :]:
            if len(samples) >= max_messages:
                break
            if not _is_book(venue, text):
                continue
            before = sink.books
            t0 = time.perf_counter_ns()
            await ws.send_str(text)
            deadline = time.monotonic() + 1.0
            while sink.books == before and time.monotonic() < deadline:  # noqa: ASYNC110 - spin, no timer
                await asyncio.sleep(0)
            if sink.books > before:
                samples.append(sink.book_at - t0)
    finally:
        alerts.extend(f"{a.kind}: {a.detail}" for a in sink.alerts)
        await feed.stop()
        await vm.mock.stop()
    return samples


def _is_book(venue: str, text: str) -> bool:
    if venue == "okx":
        return '"channel":"books"' in text and '"instId":"BTC-USDT"' in text and '"data"' in text
    if venue == "coinbase":
        return '"product_id":"SKL-USD"' in text and ('"l2update"' in text or '"snapshot"' in text)
    if venue == "kraken":
        return text.startswith("[") and '"book-' in text and '"XMR/USD"' in text
    return False


@pytest.mark.parametrize("venue", ["okx", "coinbase", "kraken"])
def test_bench_feeds_latency_mock_send_to_book_event(benchmark: Any, venue: str) -> None:
    benchmark.group = "feeds-latency"
    samples: list[int] = []

    feed_alerts: list[str] = []

    def run() -> None:
        samples.extend(asyncio.run(_latency(venue, 300, feed_alerts)))

    benchmark.pedantic(run, rounds=1, iterations=1)
    assert len(samples) >= 50
    assert feed_alerts == [], feed_alerts  # every sample is a checksum-verified, in-sync update
    arr = np.array(samples, dtype=np.int64)
    benchmark.extra_info.update(
        samples=len(samples),
        p50_us=round(float(np.percentile(arr, 50)) / 1000, 1),
        p99_us=round(float(np.percentile(arr, 99)) / 1000, 1),
        max_us=round(float(arr.max()) / 1000, 1),
    )
