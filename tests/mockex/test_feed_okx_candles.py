"""OKX candles on the ``/business`` endpoint: a real ccxt.pro client (our ``FeedHandler``) holding two
connections to one local mock exchange — ``/public`` replays the recorded 2022 session (books,
trades), ``/business`` serves the candle pushes built from nautilus's ``ws_candle.json`` fixture
(``tests.mockex.venues.okx_with_candles``). Bars are exact, each candle is emitted once, and either
connection can fail and come back without disturbing the other.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.core.clock import TestClock
from engine.core.events import Bar
from engine.core.fixed import Price, Quantity
from engine.marketdata.feeds import Channel, FeedHandler, FeedSettings, FeedState
from tests.mockex import venues
from tests.mockex.harness import FAST, RecordingSink, drained, running_feed, synced, until

#: The fixture's candle: BTC-USDT, 1D, opened 1597026383085 ms, confirm "1".
TS_OPEN = 1_597_026_383_085 * 1_000_000
DAY = 86_400 * 10**9


def _candles(shared_data: Path) -> venues.VenueMock:
    vm = venues.okx_with_candles(shared_data)
    if vm is None:
        pytest.skip(f"OKX candle fixture not found at {shared_data / venues.OKX_CANDLE_FIXTURE}")
    return vm


def _fixture_push(shared_data: Path) -> dict[str, object]:
    return json.loads((shared_data / venues.OKX_CANDLE_FIXTURE).read_text())  # type: ignore[no-any-return]


def _push(shared_data: Path, *, ts_ms: int | None = None, **edits: str) -> str:
    """The fixture's push with its one row edited: ``ts_ms``, ``inst``, ``channel``, ``confirm`` ("":
    drop the field, as pushes before OKX added it), or a price/volume column (``o h l c v``)."""
    message = _fixture_push(shared_data)
    row: list[str] = message["data"][0]  # type: ignore[index]
    if ts_ms is not None:
        row[0] = str(ts_ms)
    for column, value in edits.items():
        if column == "inst":
            message["arg"]["instId"] = value  # type: ignore[index]
        elif column == "channel":
            message["arg"]["channel"] = value  # type: ignore[index]
        elif column == "confirm":
            if value:
                row[8] = value
            else:
                del row[8]
        else:
            row["ohlcv".index(column) + 1] = value
    return json.dumps(message)


def _assert_fixture_bar(bar: Bar, ts_open: int = TS_OPEN) -> None:
    assert str(bar.instrument_id) == "OKX:BTC-USDT"
    assert (bar.ts_open, bar.interval_ns, bar.ts_event) == (ts_open, DAY, ts_open + DAY)
    assert (bar.open, bar.high, bar.low, bar.close) == (
        Price("8533.02"),
        Price("8553.74"),
        Price("8527.17"),
        Price("8548.26"),
    )
    assert bar.volume == Quantity("45247") and bar.trade_count == 0 and bar.vwap is None
    # on the instrument's grid, exactly: integer ticks and lots, never a float on the way
    assert str(bar.open) == "8533.02" and str(bar.volume) == "45247.00000000"
    assert bar.ts_init > 0


def _business_subscribes(business: venues.MockExchange) -> list[dict[str, object]]:
    return [json.loads(t) for _, t in business.ws_log if t != "ping" and '"subscribe"' in t]


def _all_handled(feed: FeedHandler, vm: venues.VenueMock, business: venues.MockExchange) -> bool:
    """Both replays are over and the feed has handled every message the mock sent on either
    connection: the public replay, the candle pushes and a pong per keep-alive ping. Nothing is left
    in flight that a later ``TestClock.advance`` would stamp as fresh. (``drained`` alone is not this:
    it compares the feed's message count over both connections with ``/public``'s sends, so it holds
    with the last public messages still unread once the candle pushes are counted.)"""
    pongs = sum(1 for mock in (vm.mock, business) for _, text in mock.ws_log if text == "ping")
    sent = vm.mock.sent + business.sent + pongs
    return vm.mock.replay_done.is_set() and business.replay_done.is_set() and feed.stats.messages >= sent


def _okx_feed_on_test_clock(
    vm: venues.VenueMock, base: str, clock: TestClock
) -> tuple[FeedHandler, RecordingSink]:
    settings = FeedSettings(
        venue="okx",
        symbols=vm.symbols,
        base_url_override=base,
        ohlcv_interval="1d",
        stale_after_ms=200,
        **FAST,
    )
    sink = RecordingSink()
    feed = FeedHandler(settings, sink, clock=clock)
    sink.feed = feed
    return feed, sink


async def test_okx_candles_when_pushed_on_business_then_one_exact_bar_per_closed_candle(
    shared_data: Path,
) -> None:
    vm = _candles(shared_data)
    business = venues.okx_business(vm)
    async with running_feed(vm, ohlcv_interval="1d") as (feed, sink):
        await until(lambda: drained(feed, vm) and synced(feed, vm) and sink.trades, what="public replay")
        await until(lambda: business.replay_done.is_set() and sink.bars, what="candle replay")
        (bar,) = sink.bars  # the forming push ("0") emitted nothing, the closing one ("1") the bar
        _assert_fixture_bar(bar)
        assert feed.stats.bars == 1 and feed.stats.parse_errors == 0
        # the candle connection subscribed candle1D for every instrument, on /business only
        assert _business_subscribes(business) == [
            {
                "op": "subscribe",
                "args": [
                    {"channel": "candle1D", "instId": i}
                    for i in ("BTC-USDT", "UNI-USD-SWAP", "BTC-USD-220527")
                ],
            }
        ]
        assert not any("candle" in t for _, t in vm.mock.ws_log)
        status = feed.streams["business"]
        assert status.state is FeedState.LIVE and status.connects == 1 and status.disconnects == 0
        assert feed.state is FeedState.LIVE and feed.stats.connects == 1


async def test_okx_when_business_connection_drops_then_it_reconnects_and_books_are_untouched(
    shared_data: Path,
) -> None:
    vm = _candles(shared_data)
    business = venues.okx_business(vm)
    business.drop_after = 1  # the forming push, then the socket closes
    async with running_feed(vm, ohlcv_interval="1d") as (feed, sink):
        await until(lambda: business.connections >= 2 and sink.bars, what="candle reconnect + bar")
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="public replay")
        status = feed.streams["business"]
        assert (status.connects, status.disconnects) == (2, 1)
        assert len(_business_subscribes(business)) == 2  # resubscribed on the new connection
        (bar,) = sink.bars  # the candle closed once, after the reconnect
        _assert_fixture_bar(bar)
        # the public connection never noticed: no reconnect, no resync, no polling
        assert vm.mock.connections == 1 and feed.stats.connects == 1 and feed.stats.disconnects == 0
        assert feed.stats.resyncs == 0 and feed.stats.rest_polls == 0 and feed.state is FeedState.LIVE
        assert not [a for a in sink.alerts if a.kind == "BOOK_RESYNC"]
        assert sink.quotes_from_invalid_books == 0 and sink.crossed_quotes == 0


async def test_okx_when_public_connection_drops_then_the_candle_connection_stays(shared_data: Path) -> None:
    vm = _candles(shared_data)
    business = venues.okx_business(vm)
    vm.mock.drop_after = len(vm.mock.ws_messages) // 2
    async with running_feed(vm, ohlcv_interval="1d") as (feed, sink):
        await until(lambda: vm.mock.connections >= 2, what="public reconnect")
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="public resync")
        await until(lambda: business.replay_done.is_set() and sink.bars, what="candle replay")
        assert (feed.stats.connects, feed.stats.disconnects) == (2, 1)
        status = feed.streams["business"]
        assert business.connections == 1 and (status.connects, status.disconnects) == (1, 0)
        assert status.state is FeedState.LIVE
        (bar,) = sink.bars
        _assert_fixture_bar(bar)


async def test_okx_candles_when_bad_or_foreign_pushes_then_ignored_and_the_candle_still_closes(
    shared_data: Path,
) -> None:
    vm = _candles(shared_data)
    business = venues.okx_business(vm)
    good = list(business.ws_messages)
    short_row = _fixture_push(shared_data)
    short_row["data"][0] = short_row["data"][0][:5]  # type: ignore[index]
    business.ws_messages = [
        _push(shared_data, inst="DOGE-USDT"),  # not an instrument of this feed
        _push(shared_data, channel="candle1H"),  # another bar size than the one subscribed
        _push(shared_data, channel="candle7x"),  # a bar size nobody knows
        _push(shared_data, o="8533.025"),  # off BTC-USDT's 0.01 grid: refused, not rounded
        _push(shared_data, c="not-a-price"),
        json.dumps(short_row),  # no volume
        '{"arg":{"channel":"candle1D","instId":"BTC-USDT"},"data":[["x"]]}',
        *good,
    ]
    async with running_feed(vm, ohlcv_interval="1d") as (feed, sink):
        await until(lambda: business.replay_done.is_set() and sink.bars, what="candle replay")
        await until(lambda: feed.stats.parse_errors == 4, what="bad pushes counted")
        (bar,) = sink.bars
        _assert_fixture_bar(bar)
        status = feed.streams["business"]
        assert status.disconnects == 0 and status.state is FeedState.LIVE
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="public replay")
        assert feed.stats.disconnects == 0 and feed.stats.resyncs == 0


async def test_okx_candles_without_confirm_then_a_candle_closes_when_the_next_starts_and_only_once(
    shared_data: Path,
) -> None:
    """Pushes without ``confirm`` (OKX before it added the field): a candle is final when a later one
    starts. The candles here are the fixture's row at its own time and one day later; a late closing
    push of a candle already emitted is dropped."""
    vm = _candles(shared_data)
    business = venues.okx_business(vm)
    ts_ms = TS_OPEN // 1_000_000
    business.ws_messages = [
        _push(shared_data, confirm=""),
        _push(shared_data, confirm=""),  # the same candle again
        _push(shared_data, ts_ms=ts_ms + DAY // 1_000_000, confirm=""),  # the next candle starts
        _push(shared_data, confirm="1"),  # a late closing push of the first: already emitted
    ]
    async with running_feed(vm, ohlcv_interval="1d") as (feed, sink):
        await until(lambda: business.replay_done.is_set() and sink.bars, what="candle replay")
        await until(lambda: feed.stats.messages >= vm.mock.sent + business.sent, what="all handled")
        assert len(sink.bars) == 1  # the second candle is still forming
        _assert_fixture_bar(sink.bars[0])


async def test_okx_candles_when_business_refused_then_its_circuit_opens_and_the_books_stay_live(
    shared_data: Path,
) -> None:
    vm = _candles(shared_data)
    business = venues.okx_business(vm)
    business.ws_enabled = False
    settings = {"ohlcv_interval": "1d", "breaker_failures": 3, "breaker_open_ms": 300}
    async with running_feed(vm, **settings) as (feed, sink):
        await until(lambda: any(a.kind == "CIRCUIT_OPEN" for a in sink.alerts), what="circuit open")
        opened = next(a for a in sink.alerts if a.kind == "CIRCUIT_OPEN")
        assert opened.detail == "business: CLOSED -> OPEN"
        assert sum(1 for _, t in business.ws_log if t == "<refused>") == 3  # none while open
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="public replay")
        assert feed.state is FeedState.LIVE and feed.breaker.state.name == "CLOSED"
        assert feed.stats.rest_polls == 0 and feed.stats.disconnects == 0
        business.ws_enabled = True
        await until(lambda: sink.bars, what="half-open probe connects, candle arrives")
        _assert_fixture_bar(sink.bars[0])
        await until(lambda: feed.streams["business"].breaker.state.name == "CLOSED", what="closed")
        kinds = [a.detail for a in sink.alerts if a.kind.startswith("CIRCUIT")]
        assert kinds[0] == "business: CLOSED -> OPEN" and kinds[-1] == "business: HALF_OPEN -> CLOSED"


async def test_okx_when_ohlcv_not_subscribed_then_no_business_connection(shared_data: Path) -> None:
    vm = _candles(shared_data)
    business = venues.okx_business(vm)
    async with running_feed(vm, channels=frozenset({Channel.BOOK, Channel.TRADES})) as (feed, sink):
        await until(lambda: drained(feed, vm) and synced(feed, vm) and sink.trades, what="public replay")
        assert feed.streams == {} and business.connections == 0 and not sink.bars


async def test_okx_when_ohlcv_interval_unknown_then_start_refused(shared_data: Path) -> None:
    vm = _candles(shared_data)
    with pytest.raises(ValueError, match="no '7m' candles"):
        async with running_feed(vm, ohlcv_interval="7m"):
            pass
    assert vm.mock.connections == 0 and venues.okx_business(vm).connections == 0


async def test_okx_when_business_goes_silent_then_stale_alert_and_only_it_reconnects(
    shared_data: Path,
) -> None:
    """Staleness is judged per connection on the feed's clock (a ``TestClock`` here, advanced by hand):
    the candle connection's limit is one bar longer than the feed's ``stale_after_ms`` (a quiet market
    may push nothing until its candle closes)."""
    vm = _candles(shared_data)
    business = venues.okx_business(vm)
    base = await vm.mock.start()
    clock = TestClock(time.time_ns())
    feed, sink = _okx_feed_on_test_clock(vm, base, clock)
    try:
        await feed.start()
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="public replay")
        await until(lambda: business.replay_done.is_set() and sink.bars, what="candle replay")
        # the clock moves only once nothing is in flight: a message handled after the advance would
        # be stamped with the new time and make its connection look fresh
        await until(lambda: _all_handled(feed, vm, business), what="every sent message handled")
        assert feed.streams["business"].stream.stale_after_ms == 200 + 86_400_000
        # Each connection's frames counted apart: the candle socket's are not the public replay's.
        business_pongs = sum(1 for _, text in business.ws_log if text == "ping")
        assert feed.streams["business"].messages == business.sent + business_pongs
        assert drained(feed, vm)
        clock.advance(1_000_000_000)  # 1 s: past the main limit, far within the candle one
        await until(lambda: vm.mock.connections >= 2, what="main reconnect after stale")
        assert [a.detail for a in sink.alerts if a.kind == "FEED_STALE"] == ["no message for 200 ms"]
        assert business.connections == 1 and feed.streams["business"].disconnects == 0
        clock.advance(DAY)  # one more day: the candle connection is silent past its limit too
        await until(lambda: business.connections >= 2, what="candle reconnect after stale")
        stale = [a.detail for a in sink.alerts if a.kind == "FEED_STALE"]
        assert "business: no message for 86400200 ms" in stale
        await until(lambda: len(_business_subscribes(business)) == 2, what="candle resubscription")
        await until(lambda: feed.streams["business"].state is FeedState.LIVE, what="candle live again")
        assert len(sink.bars) == 1  # the replayed closing push of an emitted candle is not emitted again
    finally:
        await feed.stop()
        await vm.mock.stop()


async def test_okx_when_business_only_answers_keepalive_pings_then_it_still_goes_stale(
    shared_data: Path,
) -> None:
    """Staleness is silence of data, not of the socket: OKX answers ccxt's keep-alive ``ping`` with
    ``pong`` every 18 s, so a pong that refreshed the candle connection would keep a subscription that
    went silent alive for ever (its limit is one bar plus ``stale_after_ms``). Here the candle
    connection's last data is at t0, a pong arrives at t0 + 150 ms, and the clock then stands one
    bar + 250 ms after the data but only one bar + 100 ms after the pong: stale."""
    vm = _candles(shared_data)
    business = venues.okx_business(vm)
    base = await vm.mock.start()
    t0 = time.time_ns()
    clock = TestClock(t0)
    feed, sink = _okx_feed_on_test_clock(vm, base, clock)
    try:
        await feed.start()
        await until(lambda: synced(feed, vm) and sink.bars, what="public and candle replays")
        await until(lambda: _all_handled(feed, vm, business), what="every sent message handled")
        status = feed.streams["business"]
        assert status.last_message_ns == t0 and status.stream.stale_after_ms == 200 + 86_400_000
        clock.advance(150_000_000)  # within the main limit too: nothing reconnects
        pings = sum(1 for _, text in business.ws_log if text == "ping")
        client = feed.exchange.client(status.stream.url)
        await client.send(feed.exchange.ping(client))  # what ccxt's keep-alive loop sends
        await until(lambda: business.ws_log[-1][1] == "ping", what="the ping at the mock")
        assert sum(1 for _, text in business.ws_log if text == "ping") == pings + 1
        await until(lambda: _all_handled(feed, vm, business), what="the pong handled")
        assert feed.stats.parse_errors == 0
        assert status.last_message_ns == t0  # the pong did not count as data
        assert business.connections == 1 and vm.mock.connections == 1 and not sink.alerts
        clock.advance(DAY + 100_000_000)
        await until(lambda: business.connections >= 2, what="candle reconnect after stale")
        stale = [a.detail for a in sink.alerts if a.kind == "FEED_STALE"]
        assert "business: no message for 86400200 ms" in stale
        assert status.disconnects == 1
    finally:
        await feed.stop()
        await vm.mock.stop()
