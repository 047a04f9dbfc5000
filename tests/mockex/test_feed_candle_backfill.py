"""Candles that close while the candle connection is down are backfilled over REST after the
reconnect (OKX: ``/business`` drops, ``GET /api/v5/market/candles`` fills the hole): a real ccxt.pro
client (our ``FeedHandler``) against one local mock exchange. The live pushes come from nautilus's
``ws_candle.json`` fixture (``tests.mockex.venues.okx_with_candles``), the REST candles from its
``http_get_candlesticks.json`` rows (OKX's own REST shape), re-timed onto the days after the pushed
candle. The feed runs on a ``TestClock`` just after those days, so "closed" is judged on known times.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from engine.core.clock import TestClock
from engine.core.events import Bar
from engine.core.fixed import Price, Quantity
from engine.marketdata.book import OrderBook
from engine.marketdata.feeds import FeedHandler, FeedSettings, FeedState
from tests.mockex import venues
from tests.mockex.harness import FAST, RecordingSink, running_feed, until
from tests.mockex.server import MockExchange

REST_CANDLES_FIXTURE = f"{venues.FIXTURES}/okx/test_data/http_get_candlesticks.json"
CANDLES_PATH = "/api/v5/market/candles"
#: The pushed candle: BTC-USDT, 1D, opened 1597026383085 ms (the WS fixture's).
TS_OPEN = 1_597_026_383_085 * 1_000_000
DAY = 86_400 * 10**9
#: The feed's clock: half way through the fourth day after the pushed candle (days 1 and 2 closed,
#: day 3 still forming).
NOW = TS_OPEN + 3 * DAY + DAY // 2


def _mock(shared_data: Path) -> venues.VenueMock:
    vm = venues.okx_with_candles(shared_data)
    if vm is None:
        pytest.skip(f"OKX candle fixture not found at {shared_data / venues.OKX_CANDLE_FIXTURE}")
    if not (shared_data / REST_CANDLES_FIXTURE).is_file():
        pytest.skip(f"OKX REST candle fixture not found at {shared_data / REST_CANDLES_FIXTURE}")
    return vm


def _rest_rows(shared_data: Path) -> list[list[str]]:
    """The REST fixture's two rows as days 1 and 2 (closed) plus row 1 again as day 3 (forming)."""
    rows: list[list[str]] = json.loads((shared_data / REST_CANDLES_FIXTURE).read_text())["data"]
    day = lambda row, n, confirm: [str((TS_OPEN + n * DAY) // 10**6), *row[1:8], confirm]  # noqa: E731
    return [day(rows[0], 3, "0"), day(rows[1], 2, "1"), day(rows[0], 1, "1")]  # newest first, as OKX


def _rest_body(shared_data: Path) -> str:
    body = json.loads((shared_data / REST_CANDLES_FIXTURE).read_text())
    body["data"] = _rest_rows(shared_data)
    return json.dumps(body)


def _push(row: list[str]) -> str:
    return json.dumps({"arg": {"channel": "candle1D", "instId": "BTC-USDT"}, "data": [row]})


def _expect(bar: Bar, row: list[str]) -> None:
    """``bar`` is ``row`` exactly (integer ticks and lots on BTC-USDT's grid, never a float)."""
    assert str(bar.instrument_id) == "OKX:BTC-USDT" and bar.interval_ns == DAY
    assert (bar.ts_open, bar.ts_event) == (int(row[0]) * 10**6, int(row[0]) * 10**6 + DAY)
    assert (bar.open, bar.high, bar.low, bar.close) == tuple(Price(p) for p in row[1:5])
    assert bar.volume == Quantity(row[5]) and bar.trade_count == 0


def _candle_requests(vm: venues.VenueMock) -> list[tuple[float, str, int]]:
    return [entry for entry in vm.mock.rest_log if entry[1].startswith(CANDLES_PATH)]


def _feed(vm: venues.VenueMock, *, now: int = NOW, **settings: Any) -> Any:
    """A feed for ``vm``'s venue on a ``TestClock`` at ``now`` (OKX daily candles unless told)."""
    return running_feed(vm, clock=TestClock(now), **{"ohlcv_interval": "1d", **settings})


async def _backfilled_and_replayed(feed: FeedHandler, sink: RecordingSink, vm: venues.VenueMock) -> None:
    """The main connection reconnected and backfilled once, the mock replayed everything, three bars
    arrived and every message sent was handled."""
    await until(lambda: feed.stats.connects >= 2 and feed.stats.candle_backfills == 1, what="backfill")
    await until(lambda: vm.mock.replay_done.is_set() and len(sink.bars) >= 3, what="bars")
    await until(lambda: feed.stats.messages >= vm.mock.sent, what="all handled")


def _dropping_business(vm: venues.VenueMock, shared_data: Path) -> venues.MockExchange:
    """``/business`` pushes the fixture's candle (forming, then closed) and drops; every later
    connection replays that (already emitted), then day 2's closing push (also served by REST) and
    day 3 forming."""
    business = venues.okx_business(vm)
    rows = _rest_rows(shared_data)
    business.ws_messages = [*business.ws_messages, _push(rows[1]), _push(rows[0])]
    business.drop_after = 2
    return business


async def test_okx_when_business_reconnects_then_missed_candles_arrive_from_rest_in_order_once(
    shared_data: Path,
) -> None:
    vm = _mock(shared_data)
    business = _dropping_business(vm, shared_data)
    vm.mock.extra_rest[CANDLES_PATH] = _rest_body(shared_data)
    rows = _rest_rows(shared_data)
    async with _feed(vm) as (feed, sink):
        await until(lambda: business.connections >= 2 and feed.stats.candle_backfills == 1, what="backfill")
        await until(lambda: business.replay_done.is_set() and len(sink.bars) >= 3, what="bars")
        await until(lambda: feed.stats.messages >= vm.mock.sent + business.sent, what="all handled")
        # the pushed candle (live), day 1 (REST only), day 2 (REST and live: once); day 3 is forming
        assert [b.ts_open for b in sink.bars] == [TS_OPEN, TS_OPEN + DAY, TS_OPEN + 2 * DAY]
        assert str(sink.bars[0].open) == "8533.02"
        _expect(sink.bars[1], rows[2])
        _expect(sink.bars[2], rows[1])
        assert feed.stats.bars == 3 and feed.stats.candle_backfill_errors == 0
        assert feed.stats.bars_backfilled in (1, 2)  # day 2 came from whichever arrived first
        # one request, for BTC-USDT only (the one instrument with a candle emitted), answered
        ((_, _, status),) = _candle_requests(vm)
        assert status == 200
        status_ = feed.streams["business"]
        assert (status_.connects, status_.disconnects) == (2, 1) and status_.state is FeedState.LIVE
        assert not [a for a in sink.alerts if a.kind == "CANDLE_BACKFILL_FAILED"]


async def test_okx_backfill_asks_okx_for_the_gap_since_the_last_emitted_candle(shared_data: Path) -> None:
    vm = _mock(shared_data)
    business = _dropping_business(vm, shared_data)
    vm.mock.extra_rest[CANDLES_PATH] = _rest_body(shared_data)
    async with _feed(vm) as (feed, _):
        await until(lambda: business.connections >= 2 and feed.stats.candle_backfills == 1, what="backfill")
    (request,) = [t for t in vm.mock.rest_log if t[1].startswith(CANDLES_PATH)]
    # the mock logs the query of unrecorded paths only on 404; ask ccxt's last request instead
    url = feed.exchange.last_request_url or ""
    since_ms = (TS_OPEN + DAY) // 10**6
    until_ms = (NOW + DAY) // 10**6
    for part in ("instId=BTC-USDT", "bar=1D", f"before={since_ms - 1}", f"after={until_ms}", "limit=300"):
        assert part in url, (part, url)
    assert request[2] == 200


async def test_okx_first_connect_and_a_drop_before_any_candle_backfill_nothing(shared_data: Path) -> None:
    vm = _mock(shared_data)
    business = venues.okx_business(vm)
    business.drop_after = 1  # only the forming push, then the socket closes: nothing emitted yet
    vm.mock.extra_rest[CANDLES_PATH] = _rest_body(shared_data)
    async with _feed(vm) as (feed, sink):
        await until(lambda: business.connections >= 2 and sink.bars, what="reconnect + bar")
        await until(business.replay_done.is_set, what="candle replay")
        assert [b.ts_open for b in sink.bars] == [TS_OPEN]
        assert _candle_requests(vm) == [] and feed.stats.candle_backfills == 0


async def test_okx_backfill_is_capped_to_the_most_recent_candles(shared_data: Path) -> None:
    vm = _mock(shared_data)
    business = _dropping_business(vm, shared_data)
    vm.mock.extra_rest[CANDLES_PATH] = _rest_body(shared_data)
    async with _feed(vm, candle_backfill_max=1) as (feed, sink):
        await until(lambda: feed.stats.candle_backfills == 1, what="backfill")
        await until(lambda: business.replay_done.is_set() and len(sink.bars) >= 2, what="bars")
        await until(lambda: feed.stats.messages >= vm.mock.sent + business.sent, what="all handled")
        # day 1 is older than the last 1 + 1 intervals before now: left out (the hole is capped)
        assert [b.ts_open for b in sink.bars] == [TS_OPEN, TS_OPEN + 2 * DAY]


async def test_okx_when_the_rest_backfill_fails_then_live_candles_go_on(shared_data: Path) -> None:
    vm = _mock(shared_data)
    business = _dropping_business(vm, shared_data)
    rows = _rest_rows(shared_data)
    closing_day_3 = [*rows[0][:8], "1"]
    business.ws_messages = [*business.ws_messages, _push(closing_day_3)]
    vm.mock.extra_rest[CANDLES_PATH] = _rest_body(shared_data)
    vm.mock.fail_rest(CANDLES_PATH, 500, count=1, body='{"code":"50001","msg":"Service unavailable"}')
    async with _feed(vm) as (feed, sink):
        await until(lambda: feed.stats.candle_backfills == 1, what="backfill attempt")
        await until(lambda: business.replay_done.is_set() and len(sink.bars) >= 3, what="live bars")
        await until(lambda: feed.stats.messages >= vm.mock.sent + business.sent, what="all handled")
        # day 1 stays missing; the live days 2 and 3 arrive, in order, once
        assert [b.ts_open for b in sink.bars] == [TS_OPEN, TS_OPEN + 2 * DAY, TS_OPEN + 3 * DAY]
        _expect(sink.bars[2], closing_day_3)
        assert feed.stats.candle_backfill_errors == 1 and feed.stats.bars_backfilled == 0
        (alert,) = [a for a in sink.alerts if a.kind == "CANDLE_BACKFILL_FAILED"]
        assert str(alert.instrument_id) == "OKX:BTC-USDT"
        assert feed.streams["business"].state is FeedState.LIVE
        assert [s for _, _, s in _candle_requests(vm)] == [500]


async def test_okx_when_the_feed_stops_during_a_backfill_then_the_backfill_ends_with_it(
    shared_data: Path,
) -> None:
    vm = _mock(shared_data)
    business = _dropping_business(vm, shared_data)
    vm.mock.extra_rest[CANDLES_PATH] = _rest_body(shared_data)
    release = vm.mock.hold_rest(CANDLES_PATH)
    try:
        async with _feed(vm) as (feed, sink):
            await until(
                lambda: business.connections >= 2 and vm.mock.held_requests == 1, what="held backfill"
            )
            await feed.stop()  # the backfill's request is still waiting at the venue
            bars, alerts = len(sink.bars), len(sink.alerts)
            release.set()
            await asyncio.sleep(0.2)  # time for a backfill that outlived the feed to fail and report
            # cancelled with the feed: no failure counted or alerted, nothing emitted after the stop
            assert feed.stats.candle_backfill_errors == 0
            assert not [a for a in sink.alerts if a.kind == "CANDLE_BACKFILL_FAILED"]
            assert (len(sink.bars), len(sink.alerts)) == (bars, alerts)
    finally:
        release.set()


# -- Bybit: candles on the main connection --------------------------------------------------------------
BYBIT_FIXTURES = f"{venues.FIXTURES}/bybit/test_data"
BYBIT_KLINE_PATH = "/v5/market/kline"
FIVE_MIN = 300 * 10**9


def _bybit(shared_data: Path) -> tuple[venues.VenueMock, dict[str, Any], list[list[str]]]:
    """The Bybit mock (XRPUSDT book, BTCUSDT trade) plus ``ws_kline.json``'s BTCUSDT 5-minute candle
    (closed) and the REST rows of ``http_get_klines_linear.json`` re-timed onto the three candles after
    it (newest first, the last still forming on the feed's clock)."""
    ws_path, rest_path = shared_data / BYBIT_FIXTURES / "ws_kline.json", shared_data / BYBIT_FIXTURES
    rest_path = rest_path / "http_get_klines_linear.json"
    if not ws_path.is_file() or not rest_path.is_file():
        pytest.skip(f"Bybit kline fixtures not found under {shared_data / BYBIT_FIXTURES}")
    vm = venues.bybit(shared_data)
    push = json.loads(ws_path.read_text())
    push["data"][0]["confirm"] = True
    (row,) = json.loads(rest_path.read_text())["result"]["list"]
    start_ms = push["data"][0]["start"]
    rows = [[str(start_ms + n * FIVE_MIN // 10**6), *row[1:]] for n in (3, 2, 1)]
    return vm, push, rows


def _kline_push(push: dict[str, Any], row: list[str]) -> str:
    """``push`` carrying REST ``row``'s candle (the same candle, as the live stream would send it)."""
    candle = dict(push["data"][0])
    start = int(row[0])
    candle.update(start=start, end=start + FIVE_MIN // 10**6 - 1, confirm=True)
    candle.update(open=row[1], high=row[2], low=row[3], close=row[4], volume=row[5], turnover=row[6])
    return json.dumps({**push, "data": [candle]})


async def test_bybit_when_the_socket_reconnects_then_missed_klines_arrive_from_rest_in_order_once(
    shared_data: Path,
) -> None:
    vm, push, rows = _bybit(shared_data)
    start = push["data"][0]["start"] * 10**6
    recorded = list(vm.mock.ws_messages)
    # the candle closes live, then the socket drops before the live push of the second one after it
    vm.mock.ws_messages = [*recorded, json.dumps(push), _kline_push(push, rows[1])]
    vm.mock.drop_after = len(recorded) + 1
    vm.mock.extra_rest[BYBIT_KLINE_PATH] = json.dumps(
        {
            **json.loads((shared_data / BYBIT_FIXTURES / "http_get_klines_linear.json").read_text()),
            "result": {"category": "linear", "symbol": "BTCUSDT", "list": rows},
        }
    )
    now = start + 3 * FIVE_MIN + FIVE_MIN // 2
    async with _feed(vm, now=now, ohlcv_interval="5m", rest_poll_ms=0) as (feed, sink):
        await _backfilled_and_replayed(feed, sink, vm)
        assert [b.ts_open for b in sink.bars] == [start, start + FIVE_MIN, start + 2 * FIVE_MIN]
        for bar, row in zip(sink.bars[1:], (rows[2], rows[1]), strict=True):
            assert str(bar.instrument_id) == "BYBIT_LINEAR:BTCUSDT" and bar.interval_ns == FIVE_MIN
            assert (bar.open, bar.high, bar.low, bar.close) == tuple(Price(p) for p in row[1:5])
            assert bar.volume == Quantity(row[5]) and bar.ts_event == bar.ts_open + FIVE_MIN
        assert str(sink.bars[0].open) == "16649.5"
        assert feed.stats.candle_backfill_errors == 0
        url = feed.exchange.last_request_url or ""
        for part in (
            "category=linear",
            "symbol=BTCUSDT",
            "interval=5",
            f"start={(start + FIVE_MIN) // 10**6}",
        ):
            assert part in url, (part, url)


# -- Kraken: candles on the main connection, closed when the next one starts ------------------------------
KRAKEN_OHLC_FIXTURE = f"{venues.FIXTURES}/kraken/test_data/http_ohlc.json"
MINUTE = 60 * 10**9


def _kraken_push(row: list[Any]) -> str:
    """A v1 ``ohlc-1`` push of XMR/USD carrying REST ``row``'s candle while it forms:
    ``[channelID, [time, etime, open, high, low, close, vwap, volume, count], "ohlc-1", pair]``."""
    begin = int(row[0])
    payload = [f"{begin + 30}.000000", f"{begin + 60}.000000", *row[1:5], row[5], row[6], row[7]]
    return json.dumps([321, payload, "ohlc-1", "XMR/USD"])


async def test_kraken_when_the_socket_reconnects_then_missed_ohlc_arrive_from_rest_in_order_once(
    shared_data: Path,
) -> None:
    """REST rows: ``http_ohlc.json`` as recorded (1-minute candles, the XBTUSDT answer served for
    XMR/USD, whose 0.01 grid holds its prices). The live stream closes the first minute (the second
    starts), drops; after the reconnect minutes 2 and 3 come from REST (minute 4 is forming on the
    feed's clock) and the replayed live pushes of minutes 1 and 2 add nothing."""
    path = shared_data / KRAKEN_OHLC_FIXTURE
    if not path.is_file():
        pytest.skip(f"Kraken OHLC fixture not found at {path}")
    vm = venues.kraken(shared_data)
    body = json.loads(path.read_text())
    rows = body["result"]["XBTUSDT"]
    t0 = int(rows[0][0]) * 10**9
    recorded = list(vm.mock.ws_messages)
    vm.mock.ws_messages = [*recorded, _kraken_push(rows[0]), _kraken_push(rows[1]), _kraken_push(rows[3])]
    vm.mock.drop_after = len(recorded) + 2
    vm.mock.extra_rest["/0/public/OHLC"] = json.dumps(body)
    now = t0 + 3 * MINUTE + MINUTE // 2
    async with _feed(vm, now=now, ohlcv_interval="1m", rest_poll_ms=0) as (feed, sink):
        await _backfilled_and_replayed(feed, sink, vm)
        assert [b.ts_open for b in sink.bars] == [t0, t0 + MINUTE, t0 + 2 * MINUTE]
        for bar, row in zip(sink.bars, rows, strict=False):
            assert str(bar.instrument_id) == "KRAKEN:XMR/USD" and bar.interval_ns == MINUTE
            assert (bar.open, bar.high, bar.low, bar.close) == tuple(Price(p) for p in row[1:5])
            assert bar.volume == Quantity(row[6]) and bar.trade_count == int(row[7])
        assert feed.stats.bars_backfilled == 2 and feed.stats.candle_backfill_errors == 0
        url = feed.exchange.last_request_url or ""
        for part in ("interval=1", f"since={(t0 + MINUTE) // 10**9 - 1}"):
            assert part in url, (part, url)


# -- Crypto.com: no recording exists; the documented shapes through a real ccxt client --------------------
#: ccxt's documented ``public/get-candlestick`` candle (``cryptocom.fetch_ohlcv``), opened at T0.
CRYPTOCOM_T0_MS = 1_687_237_080_000
CRYPTOCOM_CANDLE = {"o": "26949.89", "h": "26957.64", "l": "26948.24", "c": "26950.00", "v": "0.0670"}


def _cryptocom_candle(minute: int, close: str) -> dict[str, Any]:
    return {**CRYPTOCOM_CANDLE, "c": close, "t": CRYPTOCOM_T0_MS + minute * 60_000}


def _cryptocom_push(candle: dict[str, Any]) -> dict[str, Any]:
    result = {
        "instrument_name": "BTC_USDT",
        "subscription": "candlestick.1m.BTC_USDT",
        "channel": "candlestick",
        "interval": "1m",
        "data": [candle],
    }
    return {"id": -1, "method": "subscribe", "code": 0, "result": result}


async def test_cryptocom_after_a_reconnect_then_missed_candles_arrive_from_rest_in_order_once() -> None:
    """The feed's own hooks as its supervision calls them on a main-connection drop and reconnect
    (``on_disconnected``, ``on_connected``); the REST answer is ccxt's documented example re-timed."""
    rest = {
        "id": -1,
        "method": "public/get-candlestick",
        "code": 0,
        "result": {
            "interval": "1m",
            "instrument_name": "BTC_USDT",
            "data": [_cryptocom_candle(m, c) for m, c in ((1, "26951.00"), (2, "26952.00"), (3, "26953.00"))],
        },
    }
    mock = MockExchange([], [])
    mock.extra_rest["/exchange/v1/public/get-candlestick"] = json.dumps(rest)
    base = await mock.start()
    sink = RecordingSink()
    t0 = CRYPTOCOM_T0_MS * 10**6
    feed = FeedHandler(
        FeedSettings(venue="cryptocom", symbols=("BTC/USDT",), base_url_override=base, **FAST),
        sink,
        clock=TestClock(t0 + 3 * MINUTE + MINUTE // 2),  # minute 3 is still forming
    )
    sink.feed = feed
    feed.exchange = feed._make_exchange()
    try:
        feed.exchange.set_markets([venues.CRYPTOCOM_MARKET])
        instrument = feed.protocol.instrument(venues.CRYPTOCOM_MARKET)
        feed.instruments[instrument.id] = instrument
        feed.books[instrument.id] = OrderBook(instrument)
        protocol = feed.protocol
        protocol.on_markets_loaded()
        await protocol.connect_and_subscribe()

        class _Client:
            lastPong = 0
            url = protocol.ws_url()

        client = _Client()
        protocol.on_ws_message(client, _cryptocom_push(_cryptocom_candle(0, "26950.00")))
        protocol.on_ws_message(client, _cryptocom_push(_cryptocom_candle(1, "26950.50")))  # minute 0 closes
        assert [b.ts_open for b in sink.bars] == [t0]
        protocol.on_disconnected()  # the connection drops: minute 1's forming state is forgotten
        protocol.on_ws_message(client, _cryptocom_push(_cryptocom_candle(2, "26952.00")))  # after it
        protocol.on_ws_message(client, _cryptocom_push(_cryptocom_candle(3, "26953.00")))  # minute 2 held
        assert len(sink.bars) == 1  # held until the backfill says what came before it
        protocol.on_connected("")
        await until(lambda: feed.stats.candle_backfills == 1, what="backfill")
        assert [b.ts_open for b in sink.bars] == [t0, t0 + MINUTE, t0 + 2 * MINUTE]
        assert [str(b.close) for b in sink.bars] == ["26950.00", "26951.00", "26952.00"]
        assert str(sink.bars[1].open) == "26949.89" and sink.bars[1].volume == Quantity("0.0670")
        # minute 2 came both from REST and held from the live stream: emitted once (REST's, first)
        assert feed.stats.bars_backfilled == 2 and feed.stats.candle_backfill_errors == 0
        url = feed.exchange.last_request_url or ""
        for part in (
            "instrument_name=BTC_USDT",
            "timeframe=1m",
            f"end_ts={(t0 + 3 * MINUTE + MINUTE // 2) // 10**6}",
        ):
            assert part in url, (part, url)
        # the live stream goes on: minute 3 closes when minute 4 starts
        protocol.on_ws_message(client, _cryptocom_push(_cryptocom_candle(4, "26954.00")))
        assert [b.ts_open for b in sink.bars][-1] == t0 + 3 * MINUTE and len(sink.bars) == 4
    finally:
        await feed.exchange.close()
        await mock.stop()


# -- Binance: closed klines on the main connection -----------------------------------------------------
BINANCE_KLINE_FIXTURES = (
    f"{venues.FIXTURES}/binance/test_data/futures/market_data_json/kline_stream_closed.json",
    f"{venues.FIXTURES}/binance/test_data/spot/http_json/klines_response.json",
)


def _binance_push(kline: dict[str, Any], row: list[Any]) -> str:
    """``kline`` (a closed kline event) for BLZETH carrying REST ``row``'s 1-minute candle."""
    k = {**kline["k"], "s": "BLZETH", "t": row[0], "T": row[0] + 59_999, "x": True}
    k.update(o=row[1], h=row[2], l=row[3], c=row[4], v=row[5], n=row[8])
    return json.dumps({"stream": "blzeth@kline_1m", "data": {**kline, "s": "BLZETH", "k": k}})


async def test_binance_when_the_socket_reconnects_then_missed_klines_arrive_from_rest_in_order_once(
    shared_data: Path,
) -> None:
    """The live kline is nautilus's closed-kline fixture, the REST rows its ``klines_response.json``
    row (Binance's shape) re-timed onto consecutive minutes; BLZ/ETH's 1e-8 grid holds their prices."""
    paths = [shared_data / p for p in BINANCE_KLINE_FIXTURES]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"Binance kline fixtures not found: {[str(p) for p in paths]}")
    kline = json.loads(paths[0].read_text())
    (row,) = json.loads(paths[1].read_text())
    t0_ms = kline["k"]["t"]
    rows = [[t0_ms + n * 60_000, *row[1:]] for n in range(4)]  # minute 0 (live) .. minute 3 (forming)
    vm = venues.binance(shared_data)
    recorded = list(vm.mock.ws_messages)
    # minute 0 closes live, the socket drops; on the next connection minute 2's close is replayed too
    vm.mock.ws_messages = [*recorded, _binance_push(kline, rows[0]), _binance_push(kline, rows[2])]
    vm.mock.drop_after = len(recorded) + 1
    vm.mock.extra_rest["/api/v3/klines"] = json.dumps(rows[1:])
    t0 = t0_ms * 10**6
    now = t0 + 3 * MINUTE + MINUTE // 2
    async with _feed(vm, now=now, ohlcv_interval="1m", rest_poll_ms=0) as (feed, sink):
        await _backfilled_and_replayed(feed, sink, vm)
        assert [b.ts_open for b in sink.bars] == [t0, t0 + MINUTE, t0 + 2 * MINUTE]
        for bar, r in zip(sink.bars, rows, strict=False):
            assert str(bar.instrument_id) == "BINANCE:BLZETH" and bar.interval_ns == MINUTE
            assert (bar.open, bar.high, bar.low, bar.close) == tuple(Price(p) for p in r[1:5])
            assert bar.volume == Quantity(r[5]) and bar.trade_count == r[8]
        assert feed.stats.candle_backfill_errors == 0
        url = feed.exchange.last_request_url or ""
        for part in ("symbol=BLZETH", "interval=1m", f"startTime={t0_ms + 60_000}"):
            assert part in url, (part, url)
