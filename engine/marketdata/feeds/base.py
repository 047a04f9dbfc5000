"""Live feed handlers: the public API (``FeedHandler``, ``FeedSettings``, ``FeedSink``) and the
supervision every venue shares (connect, subscribe, reconnect with backoff, resync, REST fallback,
stale detection).

Who does what
-------------
``ccxt.pro`` supplies, per venue: the endpoint URLs (``exchange.urls``, sandbox switch), the
WebSocket client (aiohttp connection, JSON decoding with orjson, the venue's keep-alive ping, the
per-connection send throttle, future rejection on disconnect), the REST client with the venue's
``rateLimit`` token bucket (``enableRateLimit``) and its HTTP-error -> ccxt-exception mapping
(``RateLimitExceeded``/``DDoSProtection`` for 429/418 and the venue's own codes), and market
metadata (``load_markets``).

Our code supplies, per venue (``engine/marketdata/feeds/venues/``): the subscription messages, the
parsing of the raw JSON straight into integer ticks and lots on the instrument's grid (never through
ccxt's float-valued unified structures), the venue's book synchronisation rules (sequence continuity,
snapshot resync after a gap, checksum validation) applied into OUR compiled book
(``engine.marketdata.book.OrderBook`` / ``L2Book``; ccxt's Python order book is never used), and
here: reconnect with exponential backoff and jitter, resubscription, the REST polling fallback while
the socket is down, the circuit breaker and the stale-feed watchdog.

Connections
-----------
A feed holds its venue's main connection (``VenueProtocol.ws_url``: books and trades; its state is
``FeedHandler.state``, its breaker ``FeedHandler.breaker``) and any extra connections the protocol
declares (``VenueProtocol.extra_streams``, e.g. OKX's ``/business`` endpoint for candles). Each runs
in its own task under the same supervision (backoff with jitter, resubscription, a circuit breaker,
the stale watchdog) and is seen in ``FeedHandler.streams``; losing an extra connection never touches
the books, the REST fallback or the main connection, and losing the main one never drops an extra.

Books resync after a gap with a snapshot; candles have the equivalent: after a reconnect of the
connection carrying a venue's candles (``VenueProtocol.candle_stream``), the candles that closed
while it was down are fetched over REST (``VenueProtocol.backfill_candles``, capped by
``FeedSettings.candle_backfill_max``) and emitted, merged with the live ones, in time order, once each.

Using a feed
------------
::

    feed = FeedHandler(FeedSettings(venue="binance", symbols=("BTC/USDT",)), sink)
    await feed.start()          # loads markets, builds instruments and books, connects
    feed.books[instrument_id]   # OrderBook kept in sync (register it with MarketDataRegistry)
    await feed.stop()

``sink`` receives, on the loop thread: ``on_trade(TradeTick)``, ``on_quote(QuoteTick)`` (top of
our synced book, whenever it changes and at least every ``quote_refresh_ms``), ``on_book(
OrderBookUpdated)``, ``on_bar(Bar)`` (closed candles) and ``on_alert(DataQualityAlert)``.
``ts_event`` is the venue's time, ``ts_init`` our receive time: the risk gate's market-data age is the
``ts_init`` of the last quote it saw, so a feed that stops (or whose book is invalid and waiting for a
resync: no quotes then) makes the gate deny orders after ``max_data_age_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import ccxt
import structlog

from engine.core.clock import Clock, LiveClock
from engine.core.events import Bar, DataQualityAlert, OrderBookUpdated, QuoteTick, TradeTick
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.marketdata.book import OrderBook
from engine.marketdata.feeds.breaker import CircuitBreaker, CircuitState

if TYPE_CHECKING:
    from engine.marketdata.feeds.venues.common import ExtraStream, VenueProtocol

__all__ = [
    "Channel",
    "FeedHandler",
    "FeedSettings",
    "FeedSink",
    "FeedState",
    "FeedStats",
    "StreamStatus",
    "backoff_delay_s",
]

log = structlog.get_logger("engine.feeds")


class Channel(StrEnum):
    TRADES = "trades"
    BOOK = "book"  # L2 diffs into our book; quotes are its top
    OHLCV = "ohlcv"


class FeedState(StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    LIVE = "live"  # websocket up and subscribed
    POLLING = "polling"  # websocket down: REST polling fallback
    BACKOFF = "backoff"  # waiting before the next connect attempt


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """What to subscribe to and how to behave (``engine.config`` ``[feeds]`` maps onto this)."""

    #: ccxt exchange id of the market: binance, binanceusdm, bybit, okx, coinbase, kraken, cryptocom.
    venue: str
    #: ccxt unified symbols, e.g. ``BTC/USDT`` (spot) or ``BTC/USDT:USDT`` (linear perpetual).
    symbols: tuple[str, ...]
    channels: frozenset[Channel] = frozenset(Channel)
    #: Book depth to subscribe (0 = the venue protocol's default).
    book_depth: int = 0
    ohlcv_interval: str = "1m"
    #: After a reconnect of the connection carrying candles, the candles that closed while it was down
    #: are fetched over REST (venues with a REST candle endpoint): at most this many per instrument,
    #: the most recent ones (a longer outage leaves the older part of its gap). 0 disables the
    #: backfill. One request per instrument, so it is also bounded by the venue's page size (OKX 300,
    #: Bybit 1000).
    candle_backfill_max: int = 300
    #: Reconnect backoff: base * 2**attempt, capped, times a random factor in [1 - jitter, 1 + jitter].
    backoff_base_ms: int = 500
    backoff_max_ms: int = 30_000
    backoff_jitter: float = 0.25
    #: A connected feed with no message for this long is treated as dead (reconnect + alert). Only
    #: what the venue protocol takes as data counts (market data, a venue heartbeat it accepts), not
    #: the answers to ccxt's keep-alive pings, subscription acks or errors.
    stale_after_ms: int = 10_000
    #: A quote is re-emitted at least this often while the book is live (keeps the gate's age fresh).
    quote_refresh_ms: int = 1_000
    #: REST polling fallback interval while the websocket is down (0 disables the fallback).
    rest_poll_ms: int = 2_000
    #: Circuit breaker: opens after ``breaker_failures`` within ``breaker_window_ms``, half-opens after
    #: ``breaker_open_ms``, closes after ``breaker_successes`` successes while half-open.
    breaker_failures: int = 5
    breaker_window_ms: int = 60_000
    breaker_open_ms: int = 30_000
    breaker_successes: int = 3
    #: Use the venue's testnet/sandbox URLs (ccxt ``set_sandbox_mode``).
    sandbox: bool = False
    #: Replace the scheme and host of every venue URL (``http://127.0.0.1:8080``: mock exchanges, a
    #: recording proxy). ``ws``/``wss`` URLs get the matching ``ws``/``wss`` scheme.
    base_url_override: str = ""
    #: ccxt's ``rateLimit`` (ms between request-cost units); 0 keeps ccxt's venue default.
    rate_limit_ms: int = 0
    #: Extra ccxt constructor options (merged into ``options``).
    ccxt_options: dict[str, Any] = field(default_factory=dict)


class FeedSink(Protocol):
    def on_trade(self, tick: TradeTick) -> None: ...
    def on_quote(self, tick: QuoteTick) -> None: ...
    def on_book(self, event: OrderBookUpdated) -> None: ...
    def on_bar(self, bar: Bar) -> None: ...
    def on_alert(self, alert: DataQualityAlert) -> None: ...


@dataclass(slots=True)
class FeedStats:
    """Counters of a feed. ``connects``/``disconnects`` are the main connection's (an extra stream
    counts its own in ``StreamStatus``); every other counter covers all connections."""

    messages: int = 0
    trades: int = 0
    quotes: int = 0
    book_updates: int = 0
    snapshots: int = 0
    bars: int = 0
    connects: int = 0
    disconnects: int = 0
    resyncs: int = 0  # books re-synchronised after a gap / checksum mismatch / crossed book
    gaps: int = 0
    checksum_mismatches: int = 0
    crossed: int = 0
    rate_limited: int = 0
    rest_polls: int = 0
    parse_errors: int = 0
    candle_backfills: int = 0  # REST candle backfills run after a reconnect of the candle connection
    bars_backfilled: int = 0  # bars emitted from those backfills
    candle_backfill_errors: int = 0  # instruments whose backfill request or parse failed


@dataclass(slots=True, eq=False)
class StreamStatus:
    """Supervision state of one extra connection of a feed (``FeedHandler.streams[name]``)."""

    stream: ExtraStream
    breaker: CircuitBreaker
    state: FeedState = FeedState.STOPPED
    connects: int = 0
    disconnects: int = 0
    #: Frames received on this connection (data, acks, pongs; ``FeedStats.messages`` counts every
    #: connection's).
    messages: int = 0
    #: ts_init of the last data message on this connection, or of its connect (what its staleness is
    #: judged on; pongs, acks and errors do not count: see ``FeedSettings.stale_after_ms``).
    last_message_ns: int = 0
    task: asyncio.Task[None] | None = None


def backoff_delay_s(attempt: int, base_ms: int, max_ms: int, jitter: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: ``min(max, base * 2**attempt) * U(1 - jitter, 1 + jitter)``."""
    delay_ms = min(max_ms, base_ms * (2 ** min(attempt, 30)))
    return delay_ms * rng.uniform(1.0 - jitter, 1.0 + jitter) / 1000.0


def rewrite_urls(urls: Any, base: str, hostname: str | None = None) -> Any:
    """Every ``scheme://host[:port]`` in a ccxt ``urls['api']`` tree replaced by ``base``'s."""
    scheme, _, host = base.partition("://")
    ws_scheme = "wss" if scheme == "https" else "ws"
    if isinstance(urls, dict):
        return {k: rewrite_urls(v, base, hostname) for k, v in urls.items()}
    if isinstance(urls, list):
        return [rewrite_urls(v, base, hostname) for v in urls]
    if isinstance(urls, str) and "://" in urls:
        if hostname is not None:
            urls = urls.replace("{hostname}", hostname)
        old_scheme, _, rest = urls.partition("://")
        path = rest[rest.find("/") :] if "/" in rest else ""
        new_scheme = ws_scheme if old_scheme in ("ws", "wss") else scheme
        return f"{new_scheme}://{host}{path}"
    return urls


class FeedHandler:
    """One venue's market data for a set of symbols, normalised into engine events."""

    def __init__(
        self,
        settings: FeedSettings,
        sink: FeedSink,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        from engine.marketdata.feeds.venues import protocol_for  # venue table (imports every venue)

        if not settings.symbols:
            raise ValueError("a feed needs at least one symbol")
        self.settings = settings
        self.sink = sink
        self.clock: Clock = clock or LiveClock()
        self._rng = rng or random.Random()
        self.stats = FeedStats()
        self.state = FeedState.STOPPED
        self.breaker = self._make_breaker(functools.partial(self._on_breaker_change, ""))
        self.protocol: VenueProtocol = protocol_for(settings.venue)(self)
        self.exchange: Any = None
        self.instruments: dict[InstrumentId, Instrument] = {}
        self.books: dict[InstrumentId, OrderBook] = {}
        #: ts_init (our clock) of the last message applied per instrument: what staleness is judged on.
        self.last_update_ns: dict[InstrumentId, int] = {}
        #: ts_init of the last data message on the main connection, or of its connect (its staleness).
        self.last_message_ns = 0
        #: The extra connections the venue protocol declared, by name (filled at start).
        self.streams: dict[str, StreamStatus] = {}
        self._task: asyncio.Task[None] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._stopping = False
        self._last_quote: dict[InstrumentId, tuple[tuple[int, int, int, int], int]] = {}
        self._state_listeners: list[Callable[[FeedState], None]] = []

    # -- public ------------------------------------------------------------------------------------
    @property
    def venue(self) -> str:
        """The engine's venue name of this feed's instruments (``BINANCE``, ``BYBIT_LINEAR`` ...)."""
        if self.instruments:
            return next(iter(self.instruments)).venue
        return self.protocol.venue

    def instrument_for(self, symbol: str) -> Instrument:
        return self.instruments[self.protocol.instrument_id(symbol)]

    def on_state_change(self, listener: Callable[[FeedState], None]) -> None:
        self._state_listeners.append(listener)

    async def start(self) -> None:
        """Create the ccxt client, load markets (REST, rate limited), build books, start the loop."""
        if self._task is not None:
            raise RuntimeError("feed already started")
        self._stopping = False
        self.exchange = self._make_exchange()
        try:
            await self._load_markets()
            extras = self.protocol.extra_streams()
            urls = [self.protocol.ws_url(), *(stream.url for stream in extras)]
            if len(set(urls)) != len(urls) or len({stream.name for stream in extras}) != len(extras):
                raise ValueError(f"{self.venue} feed: every connection needs its own URL and name: {urls}")
        except BaseException:
            await self.exchange.close()  # no dangling HTTP session when the start fails
            raise
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name=f"feed:{self.venue}")
        self.streams = {}
        for stream in extras:
            breaker = self._make_breaker(functools.partial(self._on_breaker_change, stream.name))
            status = self.streams[stream.name] = StreamStatus(stream, breaker)
            status.task = loop.create_task(self._run(status), name=f"feed:{self.venue}:{stream.name}")
        self._watchdog = loop.create_task(self._watch_stale())

    async def stop(self) -> None:
        self._stopping = True
        tasks = [self._task, self._poll_task, self._watchdog, *(s.task for s in self.streams.values())]
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):  # shutting down
                    await task
        self._task = self._poll_task = self._watchdog = None
        await self.protocol.cancel_tasks()  # a resubscription or backfill in flight ends with the feed
        for status in self.streams.values():
            status.task = None
            status.state = FeedState.STOPPED
        if self.exchange is not None:
            try:
                await self.exchange.close()
            except Exception as exc:  # a failing close must not stop the engine's shutdown
                log.warning("feed.close_failed", venue=self.venue, error=str(exc))
        self._set_state(FeedState.STOPPED)

    async def wait_live(self, timeout_s: float) -> None:
        """Wait until the websocket is subscribed (tests, startup)."""
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    def is_stale(self, instrument_id: InstrumentId, max_age_ns: int) -> bool:
        last = self.last_update_ns.get(instrument_id)
        return last is None or self.clock.timestamp_ns() - last > max_age_ns

    def disconnect(self, stream: str = "") -> None:
        """Drop the main websocket (or the extra ``stream``'s) as a network failure would; its loop
        reconnects, resubscribes and resyncs."""
        if stream:
            self.protocol.drop_connection(self.streams[stream].stream.url)
        else:
            self.protocol.drop_connection()

    # -- construction ------------------------------------------------------------------------------
    def _make_breaker(self, on_change: Callable[[CircuitState, CircuitState], None]) -> CircuitBreaker:
        s = self.settings
        return CircuitBreaker(
            failures=s.breaker_failures,
            window_ns=s.breaker_window_ms * 1_000_000,
            open_ns=s.breaker_open_ms * 1_000_000,
            successes=s.breaker_successes,
            clock=self.clock,
            on_change=on_change,
        )

    def _make_exchange(self) -> Any:
        cls = self.protocol.exchange_class()
        options = {**self.protocol.ccxt_options(), **self.settings.ccxt_options}
        config: dict[str, Any] = {"enableRateLimit": True, "options": options}
        if self.settings.rate_limit_ms:
            config["rateLimit"] = self.settings.rate_limit_ms
        exchange = cls(config)
        # Market data needs markets, not the currency list (often a private or extra endpoint).
        exchange.has = {**exchange.has, "fetchCurrencies": False}
        if self.settings.sandbox:
            exchange.set_sandbox_mode(True)
        if self.settings.base_url_override:
            exchange.urls["api"] = rewrite_urls(
                exchange.urls["api"], self.settings.base_url_override, getattr(exchange, "hostname", None)
            )
        exchange.feed_handler = self
        return exchange

    async def _load_markets(self) -> None:
        attempt = 0
        while True:
            try:
                await self.exchange.load_markets()
                break
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection, ccxt.NetworkError) as exc:
                self._count_rate_limit(exc)
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                if attempt > 8:
                    raise
        for symbol in self.settings.symbols:
            market = self.exchange.market(symbol)
            instrument = self.protocol.instrument(market)
            if self.protocol.infer_grid:
                instrument = await self._refine_grid(instrument, market)
            self.instruments[instrument.id] = instrument
            self.books[instrument.id] = OrderBook(instrument)
        self.protocol.on_markets_loaded()

    async def _refine_grid(self, instrument: Instrument, market: dict[str, Any]) -> Instrument:
        from engine.marketdata.feeds.venues.common import refine_grid

        attempt = 0
        while True:
            try:
                _, bids, asks, _ = await self.protocol.fetch_book(market)
                return refine_grid(instrument, bids, asks)
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection, ccxt.NetworkError) as exc:
                self._count_rate_limit(exc)
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                if attempt > 8:
                    raise

    # -- supervision -------------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        s = self.settings
        return backoff_delay_s(attempt, s.backoff_base_ms, s.backoff_max_ms, s.backoff_jitter, self._rng)

    def _count_rate_limit(self, exc: BaseException) -> None:
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            self.stats.rate_limited += 1
            log.warning("feed.rate_limited", venue=self.venue, error=str(exc)[:200])

    async def _run(self, status: StreamStatus | None = None) -> None:
        """Keep one connection up: the main one (``status`` None; its state is the feed's, its loss
        invalidates the books and starts the REST fallback) or an extra stream."""
        breaker = self.breaker if status is None else status.breaker
        name = "main" if status is None else status.stream.name
        attempt = 0
        while not self._stopping:
            if not breaker.allow():
                if status is None:
                    self._set_state(FeedState.POLLING)
                    self._ensure_polling()
                else:
                    self._set_connection_state(status, FeedState.BACKOFF)
                await asyncio.sleep(max(breaker.remaining_open_ns() / 1e9, 0.001))
                continue
            self._set_connection_state(status, FeedState.CONNECTING)
            try:
                connection = await self.protocol.connect_and_subscribe(
                    None if status is None else status.stream
                )
                breaker.record_success()
                now = self.clock.timestamp_ns()  # a new connection: silence is judged from here
                if status is None:
                    self.stats.connects += 1
                    self.last_message_ns = now
                    self._set_state(FeedState.LIVE)
                    self._connected.set()
                    self._stop_polling()
                else:
                    status.connects += 1
                    status.last_message_ns = now
                    self._set_connection_state(status, FeedState.LIVE)
                self.protocol.on_connected("" if status is None else status.stream.name)
                attempt = 0
                await connection  # rejected by ccxt when the socket closes or errors
                raise ccxt.NetworkError("connection closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ccxt.NetworkError / ExchangeError / protocol errors
                if self._stopping:
                    return
                self._count_rate_limit(exc)
                breaker.record_failure()
                if status is None:
                    self._connected.clear()
                    self.stats.disconnects += 1
                    self.protocol.on_disconnected()
                    self._invalidate_books()
                    self._ensure_polling()
                else:
                    status.disconnects += 1
                    status.stream.on_disconnected()
                delay = self._backoff(attempt)
                attempt += 1
                log.warning(
                    "feed.disconnected",
                    venue=self.venue,
                    stream=name,
                    error=str(exc)[:200],
                    retry_in_s=round(delay, 3),
                )
                if breaker.state is CircuitState.OPEN:
                    continue  # the open circuit decides when to try again
                self._set_connection_state(status, FeedState.BACKOFF)
                await asyncio.sleep(delay)

    def _set_connection_state(self, status: StreamStatus | None, state: FeedState) -> None:
        if status is None:
            self._set_state(state)
        else:
            status.state = state

    def record_success(self) -> None:
        """A venue interaction succeeded (a book synced, a REST poll answered)."""
        self.breaker.record_success()

    def _invalidate_books(self) -> None:
        """After a disconnect no book can be trusted until it resyncs (no quotes from them until then)."""
        for book in self.books.values():
            book.l2.invalidate()
        self._last_quote.clear()

    def _ensure_polling(self) -> None:
        if self.settings.rest_poll_ms <= 0 or self._stopping:
            return
        if self._poll_task is None or self._poll_task.done():
            self._poll_task = asyncio.get_running_loop().create_task(self._poll_rest())

    def _stop_polling(self) -> None:
        if self._poll_task is not None:
            self._poll_task.cancel()
            self._poll_task = None

    async def _poll_rest(self) -> None:
        """REST fallback: book snapshots at ``rest_poll_ms`` while the socket is down (rate limited by
        ccxt's throttle; a rate-limit answer backs off exponentially)."""
        attempt = 0
        while not self._stopping:
            for instrument_id in list(self.books):
                if self.state is FeedState.LIVE:
                    return
                try:
                    await self.protocol.poll_book(instrument_id)
                    self.stats.rest_polls += 1
                    attempt = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._count_rate_limit(exc)
                    self.breaker.record_failure()
                    await asyncio.sleep(self._backoff(attempt))
                    attempt += 1
            await asyncio.sleep(self.settings.rest_poll_ms / 1000)

    async def _watch_stale(self) -> None:
        """A connection that is up but silent for its stale limit is dropped (and reconnects)."""
        limits_ms = [self.settings.stale_after_ms]
        limits_ms += [s.stream.stale_after_ms or self.settings.stale_after_ms for s in self.streams.values()]
        period_s = max(min(limits_ms) / 4000, 0.01)
        stale_ns = self.settings.stale_after_ms * 1_000_000
        while not self._stopping:
            await asyncio.sleep(period_s)
            now = self.clock.timestamp_ns()
            if (
                self.state is FeedState.LIVE
                and self.last_message_ns
                and now - self.last_message_ns > stale_ns
            ):
                self.alert(None, "FEED_STALE", f"no message for {self.settings.stale_after_ms} ms")
                self.last_message_ns = now
                self.protocol.drop_connection()
            for status in self.streams.values():
                limit_ms = status.stream.stale_after_ms or self.settings.stale_after_ms
                if status.state is not FeedState.LIVE or not status.last_message_ns:
                    continue
                if now - status.last_message_ns > limit_ms * 1_000_000:
                    self.alert(None, "FEED_STALE", f"{status.stream.name}: no message for {limit_ms} ms")
                    status.last_message_ns = now
                    self.protocol.drop_connection(status.stream.url)

    def _set_state(self, state: FeedState) -> None:
        if state is self.state:
            return
        self.state = state
        for listener in self._state_listeners:
            listener(state)

    def _on_breaker_change(self, stream: str, previous: CircuitState, current: CircuitState) -> None:
        kind = "CIRCUIT_OPEN" if current is CircuitState.OPEN else f"CIRCUIT_{current.name}"
        prefix = f"{stream}: " if stream else ""
        self.alert(None, kind, f"{prefix}{previous.name} -> {current.name}")

    # -- emitting (called by the venue protocols, on the loop) --------------------------------------
    def alert(self, instrument_id: InstrumentId | None, kind: str, detail: str, value: str = "") -> None:
        now = self.clock.timestamp_ns()
        log.warning(
            "feed.alert", venue=self.venue, instrument=str(instrument_id or ""), kind=kind, detail=detail
        )
        self.sink.on_alert(
            DataQualityAlert(
                ts_event=now,
                ts_init=now,
                venue=self.venue,
                instrument_id=instrument_id,
                kind=kind,
                detail=detail,
                value=value,
            )
        )

    def emit_trade(self, tick: TradeTick) -> None:
        self.stats.trades += 1
        self.last_update_ns[tick.instrument_id] = tick.ts_init
        self.sink.on_trade(tick)

    def candle_backfill_failed(self, instrument_id: InstrumentId, exc: BaseException) -> None:
        """A REST candle backfill failed for one instrument: its gap stays (logged, counted, alerted);
        the live candles go on."""
        self._count_rate_limit(exc)
        self.stats.candle_backfill_errors += 1
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        self.alert(instrument_id, "CANDLE_BACKFILL_FAILED", detail)

    def emit_bar(self, bar: Bar) -> None:
        self.stats.bars += 1
        self.sink.on_bar(bar)

    def emit_book(
        self, book: OrderBook, ts_event: int, ts_init: int, *, snapshot: bool, sequence: int | None = None
    ) -> None:
        """After a book update was applied (and the book is in sync): book event + quote if due."""
        instrument_id = book.instrument.id
        self.last_update_ns[instrument_id] = ts_init
        if snapshot:
            self.stats.snapshots += 1
        else:
            self.stats.book_updates += 1
        l2 = book.l2
        self.sink.on_book(
            OrderBookUpdated(
                ts_event=ts_event,
                ts_init=ts_init,
                instrument_id=instrument_id,
                sequence=l2.last_sequence if sequence is None else sequence,
                is_snapshot=snapshot,
            )
        )
        top = l2.top()
        if not top[1] or not top[3]:
            return
        previous = self._last_quote.get(instrument_id)
        if (
            previous is not None
            and previous[0] == top
            and ts_init - previous[1] < self.settings.quote_refresh_ms * 1_000_000
        ):
            return
        self._last_quote[instrument_id] = (top, ts_init)
        inst = book.instrument
        self.stats.quotes += 1
        self.sink.on_quote(
            QuoteTick(
                ts_event=ts_event,
                ts_init=ts_init,
                instrument_id=instrument_id,
                bid_price=inst.ticks_to_price(top[0]),
                bid_size=inst.lots_to_quantity(top[1]),
                ask_price=inst.ticks_to_price(top[2]),
                ask_size=inst.lots_to_quantity(top[3]),
            )
        )

    def book_lost_sync(self, book: OrderBook, kind: str, detail: str) -> None:
        """A gap, checksum mismatch or crossed book: invalidate, alert, count; the protocol resyncs."""
        book.l2.invalidate()
        self._last_quote.pop(book.instrument.id, None)
        if kind == "CHECKSUM_MISMATCH":
            self.stats.checksum_mismatches += 1
        elif kind == "CROSSED":
            self.stats.crossed += 1
        elif kind == "PARSE_ERROR":
            self.stats.parse_errors += 1
        else:
            self.stats.gaps += 1
        self.stats.resyncs += 1
        self.alert(book.instrument.id, "BOOK_RESYNC", f"{kind}: {detail}")
