"""Crypto.com Exchange v1: no recorded session exists in ../shared/data, so this drives the protocol
with the message shapes of the venue's v1 API documentation (book snapshot, book.update with u/pu,
trade) through a real ccxt.pro client whose URLs point at a local mock (which receives the
resubscription after a gap). Markets are given to ccxt directly (``set_markets``): no REST recording."""

from __future__ import annotations

import asyncio
import json

from engine.core.clock import Clock, TestClock
from engine.core.enums import Side
from engine.core.fixed import Price, Quantity
from engine.marketdata.book import OrderBook
from engine.marketdata.feeds import FeedHandler, FeedSettings
from tests.mockex.harness import FAST, RecordingSink, until
from tests.mockex.server import MockExchange
from tests.mockex.venues import CRYPTOCOM_MARKET as MARKET


def _message(result: dict[str, object]) -> dict[str, object]:
    return {"id": -1, "method": "subscribe", "code": 0, "result": result}


def _book(channel: str, data: dict[str, object]) -> dict[str, object]:
    return _message(
        {
            "instrument_name": "BTC_USDT",
            "subscription": "book.BTC_USDT.50",
            "channel": channel,
            "depth": 50,
            "data": [data],
        }
    )


class _Client:
    lastPong = 0


def _feed_with_market(base: str, clock: Clock | None = None) -> tuple[FeedHandler, RecordingSink]:
    """A Crypto.com feed whose ccxt exchange points at the mock at ``base``, with BTC/USDT's market,
    instrument and book set up as after loading markets."""
    sink = RecordingSink()
    feed = FeedHandler(
        FeedSettings(venue="cryptocom", symbols=("BTC/USDT",), base_url_override=base, **FAST),
        sink,
        clock=clock,
    )
    sink.feed = feed
    feed.exchange = feed._make_exchange()
    feed.exchange.set_markets([MARKET])
    instrument = feed.protocol.instrument(MARKET)
    feed.instruments[instrument.id] = instrument
    feed.books[instrument.id] = OrderBook(instrument)
    feed.protocol.on_markets_loaded()
    return feed, sink


async def test_cryptocom_when_snapshot_updates_and_gap_then_book_exact_and_resubscribed() -> None:
    mock = MockExchange([], [])
    base = await mock.start()
    feed, sink = _feed_with_market(base)
    instrument = feed.protocol.instrument(MARKET)
    try:
        protocol, client = feed.protocol, _Client()
        alive = await protocol.connect_and_subscribe()  # ccxt's client to the mock, our subscription
        assert not alive.done()
        protocol.on_ws_message(
            client,
            _book(
                "book",
                {
                    "bids": [["43737.46", "0.14096", "1"], ["43737.00", "1.00000", "2"]],
                    "asks": [["43755.46", "0.10000", "1"]],
                    "t": 1704484068898,
                    "u": 78795598162080,
                },
            ),
        )
        protocol.on_ws_message(
            client,
            _book(
                "book.update",
                {
                    "update": {"asks": [["43755.46", "0", "0"], ["43756.00", "0.50000", "1"]], "bids": []},
                    "t": 1704484068999,
                    "tt": 1704484068990,
                    "u": 78795598253024,
                    "pu": 78795598162080,
                },
            ),
        )
        book = feed.books[instrument.id]
        assert book.best_bid() == (Price("43737.46"), Quantity("0.14096"))
        assert book.best_ask() == (Price("43756.00"), Quantity("0.50000"))
        assert [e.sequence for e in sink.books] == [78795598162080, 78795598253024]
        assert (
            sink.quotes[-1].ask_price == Price("43756.00")
            and sink.quotes[-1].ts_event == 1704484068999 * 10**6
        )
        protocol.on_ws_message(
            client,
            _message(
                {
                    "instrument_name": "BTC_USDT",
                    "subscription": "trade.BTC_USDT",
                    "channel": "trade",
                    "data": [
                        {
                            "d": "2030407068",
                            "t": 1613581138462,
                            "p": "51327.50",
                            "q": "0.00010",
                            "s": "BUY",
                            "i": "BTC_USDT",
                        }
                    ],
                }
            ),
        )
        (trade,) = sink.trades
        assert (trade.price, trade.size, trade.aggressor_side) == (
            Price("51327.50"),
            Quantity("0.0001"),
            Side.BUY,
        )
        # a missing update: pu does not continue u -> book invalid, resubscribed for a new snapshot
        quotes = len(sink.quotes)
        protocol.on_ws_message(
            client,
            _book(
                "book.update",
                {
                    "update": {"asks": [], "bids": [["43738.00", "1.00000", "1"]]},
                    "t": 1704484069100,
                    "u": 78795598300000,
                    "pu": 78795598299999,
                },
            ),
        )
        assert feed.stats.gaps == 1 and book.l2.needs_snapshot
        assert len(sink.quotes) == quotes and sink.alerts[-1].kind == "BOOK_RESYNC"
        await until(lambda: len(mock.ws_log) >= 3, what="resubscription")
        sent = [json.loads(t) for _, t in mock.ws_log]
        assert [(m["method"], m["params"]["channels"]) for m in sent] == [
            ("subscribe", ["book.BTC_USDT.50", "trade.BTC_USDT", "candlestick.1m.BTC_USDT"]),
            ("unsubscribe", ["book.BTC_USDT.50"]),
            ("subscribe", ["book.BTC_USDT.50"]),
        ]
    finally:
        await feed.exchange.close()
        await mock.stop()
    await asyncio.sleep(0)


async def test_inbound_frame_when_feed_runs_on_a_past_clock_then_ccxt_keepalive_sees_wall_time() -> None:
    """ccxt's keep-alive compares ``lastPong`` with its own wall-clock milliseconds: a feed on a
    replay or test clock (here: 2021) must not make a healthy connection look 5 years silent."""
    import time

    mock = MockExchange([], [])
    base = await mock.start()
    feed, _sink = _feed_with_market(base, TestClock(1_609_459_200_000_000_000))  # 2021-01-01
    try:
        client = _Client()
        before_ms = time.time_ns() // 1_000_000
        feed.protocol.on_ws_message(client, {"id": 1, "method": "public/heartbeat", "code": 0})
        assert before_ms <= client.lastPong <= time.time_ns() // 1_000_000
        assert feed.stats.messages == 1
    finally:
        await feed.exchange.close()
        await mock.stop()
