"""Running a real ``FeedHandler`` (real ccxt.pro client) against a ``MockExchange``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from engine.core.clock import Clock
from engine.core.events import Bar, DataQualityAlert, OrderBookUpdated, QuoteTick, TradeTick
from engine.marketdata.feeds import FeedHandler, FeedSettings
from tests.mockex.venues import VenueMock


@dataclass
class RecordingSink:
    """Keeps every event; checks on each quote that the book it came from is in sync and not crossed."""

    feed: FeedHandler | None = None
    trades: list[TradeTick] = field(default_factory=list)
    quotes: list[QuoteTick] = field(default_factory=list)
    books: list[OrderBookUpdated] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    alerts: list[DataQualityAlert] = field(default_factory=list)
    crossed_quotes: int = 0
    quotes_from_invalid_books: int = 0

    def on_trade(self, tick: TradeTick) -> None:
        self.trades.append(tick)

    def on_quote(self, tick: QuoteTick) -> None:
        self.quotes.append(tick)
        if tick.bid_price >= tick.ask_price:
            self.crossed_quotes += 1
        if self.feed is not None and self.feed.books[tick.instrument_id].l2.needs_snapshot:
            self.quotes_from_invalid_books += 1

    def on_book(self, event: OrderBookUpdated) -> None:
        self.books.append(event)

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)

    def on_alert(self, alert: DataQualityAlert) -> None:
        self.alerts.append(alert)


FAST = {"backoff_base_ms": 20, "backoff_max_ms": 200, "backoff_jitter": 0.0, "rate_limit_ms": 1}


@asynccontextmanager
async def running_feed(
    vm: VenueMock, *, clock: Clock | None = None, **settings: Any
) -> AsyncIterator[tuple[FeedHandler, RecordingSink]]:
    base = await vm.mock.start()
    sink = RecordingSink()
    options = {**FAST, **settings}
    feed = FeedHandler(
        FeedSettings(venue=vm.venue, symbols=vm.symbols, base_url_override=base, **options),
        sink,
        clock=clock,
    )
    sink.feed = feed
    try:
        await feed.start()
        yield feed, sink
    finally:
        await feed.stop()
        await vm.mock.stop()


async def until(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` on the loop until it holds (no fixed sleeps); fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.005)


def book_ids(feed: FeedHandler, vm: VenueMock) -> list[Any]:
    """Instrument ids of the symbols whose recorded stream has a book."""
    return [feed.protocol.instrument_id(s) for s in vm.book_symbols]


def synced(feed: FeedHandler, vm: VenueMock) -> bool:
    return all(not feed.books[i].l2.needs_snapshot and len(feed.books[i]) > 0 for i in book_ids(feed, vm))


def drained(feed: FeedHandler, vm: VenueMock) -> bool:
    """The mock finished its replay and the feed has handled every message it sent on the main
    connection: its replay and a pong per keep-alive ping (frames on a feed's extra connections,
    e.g. OKX's candle socket, are counted apart and left out)."""
    main = feed.stats.messages - sum(s.messages for s in feed.streams.values())
    pongs = sum(1 for _, text in vm.mock.ws_log if text == "ping")
    return vm.mock.replay_done.is_set() and main >= vm.mock.sent + pongs


def book_state(feed: FeedHandler, vm: VenueMock, depth: int = 25) -> dict[str, Any]:
    """Top ``depth`` levels of every book the recording feeds, as decimal strings."""
    return {str(i): feed.books[i].snapshot(depth).as_strings() for i in book_ids(feed, vm)}
