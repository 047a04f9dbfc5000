"""What every venue protocol shares: the ccxt.pro exchange subclass that routes raw messages to us,
connect-and-subscribe on ccxt's client, extra connections a venue needs (``ExtraStream``), instrument
construction from ccxt markets, exact parsing helpers, candles into ``Bar`` events and the generic
sequenced/checksummed book synchroniser.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import ccxt
import ccxt.pro
import numpy as np
import structlog

from engine.core.enums import InstrumentKind, Side
from engine.core.errors import ValidationError
from engine.core.events import Bar, TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import InstrumentId, TradeId
from engine.core.instruments import Instrument
from engine.ext.book.l2book import STATUS_CROSSED, STATUS_OK
from engine.marketdata.binance.depth import LevelParser
from engine.marketdata.book import OrderBook

if TYPE_CHECKING:
    from engine.marketdata.feeds.base import FeedHandler

__all__ = [
    "BOOK_WIRE_SIZE_INCREMENT",
    "CandleCloser",
    "ExtraStream",
    "SequencedBook",
    "VenueProtocol",
    "candle_bar",
    "decimal_str",
    "instrument_from_market",
    "ms_to_ns",
]

log = structlog.get_logger("engine.feeds")

#: Resolution of sizes in venue books. Resting sizes are often finer than a market's order step
#: (quote-quantity market orders leave remainders; see engine/marketdata/binance/instruments.py), so
#: a book's lot is the wire's 8 decimals (or the market's step, when that is finer). A size off this
#: grid raises (never rounded).
BOOK_WIRE_SIZE_INCREMENT = Decimal("0.00000001")
_MS = 1_000_000


def ms_to_ns(value: Any) -> int:
    """A venue's millisecond timestamp (int or digit string) as ns."""
    return int(value) * _MS


def decimal_str(value: Any) -> str:
    """A ccxt market-precision number (float in ccxt's unified markets) as the shortest decimal string.

    ccxt keeps tick sizes as floats; ``repr`` of such a float is the shortest decimal that round-trips,
    which is the venue's published tick ("0.01", "1e-05" -> "0.00001"). Only used for instrument
    metadata at startup, never for prices in the data path.
    """
    if isinstance(value, str):
        return value
    d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return format(d.normalize(), "f")


def instrument_from_market(venue: str, market: dict[str, Any], *, symbol: str | None = None) -> Instrument:
    """An engine ``Instrument`` on the book's grid from a ccxt unified market (TICK_SIZE precision)."""
    precision = market.get("precision") or {}
    if precision.get("price") is None or precision.get("amount") is None:
        raise ValidationError("market", f"{market.get('symbol')}: the venue gave no price/amount precision")
    price_increment = Price.parse(decimal_str(precision["price"]))
    step = Decimal(decimal_str(precision["amount"]))
    size_increment = Quantity.parse(format(min(step, BOOK_WIRE_SIZE_INCREMENT).normalize(), "f"))
    kind = InstrumentKind.SPOT
    if market.get("swap"):
        kind = InstrumentKind.PERPETUAL
    elif market.get("future"):
        kind = InstrumentKind.FUTURE
    quote = market["quote"]
    min_amount = ((market.get("limits") or {}).get("amount") or {}).get("min")
    min_quantity = size_increment
    if min_amount:
        candidate = Quantity.parse(decimal_str(min_amount))
        if candidate.precision <= size_increment.precision:
            min_quantity = candidate
    multiplier = Decimal(decimal_str(market["contractSize"])) if market.get("contractSize") else Decimal(1)
    return Instrument(
        id=InstrumentId.of(venue, symbol or market["id"]),
        kind=kind,
        base=market["base"],
        quote=quote,
        settlement=market.get("settle") or quote,
        price_increment=price_increment,
        size_increment=size_increment,
        min_quantity=min_quantity,
        min_notional=None,
        multiplier=multiplier,
    )


def refine_grid(
    instrument: Instrument, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]
) -> Instrument:
    """``instrument`` with a price increment fine enough for every price of a book snapshot.

    When a venue shrinks or grows a market's tick, orders resting at the old tick stay in its book
    (seen in the 2021 Binance sessions: NKNUSDT tick 0.0001 with levels at 0.25974). The book's grid is
    then the greatest common divisor of the venue's tick and every snapshot price (exact integers);
    order entry still uses the venue's tick from its market metadata.
    """
    places = instrument.price_precision
    for price, _ in (*bids, *asks):
        places = max(places, len(str(price).partition(".")[2].rstrip("0")))
    gcd = instrument.price_increment.with_precision(places).raw
    for price, _ in (*bids, *asks):
        gcd = math.gcd(gcd, Price.parse(str(price)).with_precision(places).raw)
    if gcd == instrument.price_increment.with_precision(places).raw:
        return instrument
    tick = Price.from_raw(gcd, places)
    return dataclasses.replace(instrument, price_increment=tick)


def candle_bar(
    parser: LevelParser,
    ts_open: int,
    interval_ns: int,
    ohlc: Sequence[str],
    volume: str,
    ts_init: int,
) -> Bar:
    """A venue candle (open, high, low, close and volume as the venue's decimal strings) as a ``Bar``
    on the instrument's grid, exactly (a price or size off the grid raises ``ValidationError``).

    ``ts_event`` is the candle's close time; venue candles carry no trade count (0) and no VWAP.
    """
    inst = parser.instrument
    o, h, low, c = (inst.ticks_to_price(parser.ticks(str(text))) for text in ohlc)
    return Bar(
        ts_event=ts_open + interval_ns,
        ts_init=ts_init,
        instrument_id=inst.id,
        interval_ns=interval_ns,
        ts_open=ts_open,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=inst.lots_to_quantity(parser.lots(str(volume))),
        trade_count=0,
    )


class CandleCloser:
    """Emits each candle of a venue's candle channel once, when it is final, in time order.

    Venues push the candle still forming over and over. A push the venue marks closed (OKX
    ``confirm`` "1", Bybit ``confirm``) is emitted at once. A candle that never got such a push (a
    venue without the flag, like Crypto.com, or a closing push the venue skipped) is final when a
    later candle starts: its last push is its final state, emitted then (``ts_init`` = when that
    became known). Pushes of a candle at or before the last one emitted (a resubscription replays
    the current candle) and pushes older than the running candle are dropped.

    ``reset()`` belongs to a disconnect: the pushes during the outage are lost, so the running
    candle's last known state is not final and is never emitted (the next push starts afresh).

    Gaps (``hold_on_gap``, for venues that can fetch candles over REST): candles that closed while
    the connection was down are missing from the pushes. From a disconnect on (once a candle has been
    emitted) closed live candles are held back; the REST backfill after the reconnect hands its
    closed candles to ``fill``, which emits them and the held ones merged, in time order, once each,
    and releases the hold. Before any candle was emitted there is no gap to fill and nothing is held.
    The hold lasts as long as the backfill's REST requests (bounded by ccxt's request timeout and
    rate limiter); a failed backfill releases it too.
    """

    __slots__ = ("_emit", "_epoch", "_gap", "_held", "_hold_on_gap", "_last_emitted", "_running")

    def __init__(self, emit: Callable[[Bar], None], *, hold_on_gap: bool = False) -> None:
        self._emit = emit
        self._hold_on_gap = hold_on_gap
        #: (instrument, interval) -> the candle still forming.
        self._running: dict[tuple[InstrumentId, int], Bar] = {}
        #: (instrument, interval) -> ts_open of the last candle emitted.
        self._last_emitted: dict[tuple[InstrumentId, int], int] = {}
        #: Closed live candles waiting for the backfill of the current gap (``fill``).
        self._held: list[Bar] = []
        self._gap = False
        #: Counts disconnects with a gap: a backfill started before a newer one does not release.
        self._epoch = 0

    def push(self, bar: Bar, closed: bool) -> None:
        key = (bar.instrument_id, bar.interval_ns)
        last = self._last_emitted.get(key)
        if last is not None and bar.ts_open <= last:
            return
        running = self._running.get(key)
        if running is not None:
            if bar.ts_open < running.ts_open:
                return
            if running.ts_open < bar.ts_open:  # a later candle started: the running one is final
                del self._running[key]
                self._close(key, dataclasses.replace(running, ts_init=bar.ts_init))
        if closed:
            self._running.pop(key, None)
            self._close(key, bar)
        else:
            self._running[key] = bar

    def reset(self) -> None:
        self._running.clear()
        if self._hold_on_gap and self._last_emitted:
            self._gap = True
            self._epoch += 1

    def gap(self) -> tuple[int, dict[tuple[InstrumentId, int], int]] | None:
        """The open gap, if any: (its epoch for ``fill``, ts_open of the last candle emitted per
        (instrument, interval)); None when nothing is missing (no disconnect, or none emitted yet)."""
        if not self._gap:
            return None
        return self._epoch, dict(self._last_emitted)

    def fill(self, bars: Sequence[Bar], epoch: int) -> int:
        """Emit the backfilled closed candles ``bars`` and the held live ones, merged in time order,
        each candle once and only if newer than the last emitted; release the hold unless a newer gap
        opened meanwhile (its own backfill releases it). Returns how many of ``bars`` were emitted."""
        merged = sorted([*bars, *self._held], key=lambda b: b.ts_open)
        self._held = []
        if epoch == self._epoch:
            self._gap = False
        from_rest = {id(b) for b in bars}
        emitted = 0
        for bar in merged:
            key = (bar.instrument_id, bar.interval_ns)
            last = self._last_emitted.get(key)
            if last is not None and bar.ts_open <= last:
                continue
            self._last_emitted[key] = bar.ts_open
            self._emit(bar)
            emitted += id(bar) in from_rest
        for key, running in list(self._running.items()):  # a forming candle the backfill closed
            if running.ts_open <= self._last_emitted.get(key, running.ts_open - 1):
                del self._running[key]
        return emitted

    def _close(self, key: tuple[InstrumentId, int], bar: Bar) -> None:
        if self._gap:
            self._held.append(bar)
            return
        self._last_emitted[key] = bar.ts_open
        self._emit(bar)


class SequencedBook:
    """One instrument's book under a venue that sends a WS snapshot then diffs.

    The protocol decides continuity (``expected``: does this diff continue the last one?) and, where
    the venue sends one, a checksum over our book's top levels. Any gap, checksum mismatch or crossed
    book invalidates the book (``L2Book.needs_snapshot``: no quotes are published from it) until the
    protocol's resync brings a snapshot.
    """

    __slots__ = ("_buffers", "book", "feed", "last_seq", "parser", "synced")

    def __init__(self, feed: FeedHandler, book: OrderBook) -> None:
        self.feed = feed
        self.book = book
        self.parser = LevelParser(book.instrument)
        self.last_seq = -1
        self.synced = False
        self._buffers: tuple[np.ndarray, np.ndarray] | None = None

    def snapshot(self, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]], seq: int) -> bool:
        try:
            bid_t, bid_l = self.parser.side_arrays(bids)
            ask_t, ask_l = self.parser.side_arrays(asks)
        except ValidationError as exc:
            self.lose("PARSE_ERROR", f"snapshot: {exc.message}")
            return False
        status = self.book.l2.apply_snapshot(bid_t, bid_l, ask_t, ask_l, -1)
        self.last_seq = seq
        if status == STATUS_CROSSED:
            self.lose("CROSSED", "snapshot is crossed")
            return False
        self.synced = True
        self.feed.record_success()
        return True

    def diff(self, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]], seq: int) -> bool:
        """Apply one diff (continuity already checked by the caller). False if the book lost sync.

        A level we cannot read exactly (off the grid, not a number) loses sync rather than skipping
        the diff: a venue without sequence numbers (Coinbase level2) would otherwise keep a wrong book.
        """
        try:
            sides, ticks, lots = self.parser.delta_arrays(bids, asks)
        except ValidationError as exc:
            self.lose("PARSE_ERROR", f"update {seq}: {exc.message}")
            return False
        status = self.book.l2.apply_deltas(sides, ticks, lots)
        self.last_seq = seq
        if status == STATUS_CROSSED:
            self.lose("CROSSED", f"book crossed after update {seq}")
            return False
        if status != STATUS_OK:
            self.lose("GAP", f"book refused update {seq} (status {status})")
            return False
        return True

    def lose(self, kind: str, detail: str) -> None:
        self.synced = False
        self.feed.book_lost_sync(self.book, kind, detail)

    def top_levels(self, side: int, n: int) -> list[tuple[int, int]]:
        """Top ``n`` (ticks, lots) of one side, best first (for checksums)."""
        ticks, lots = self.top_arrays(side, n)
        return list(zip(ticks, lots, strict=True))

    def top_arrays(self, side: int, n: int) -> tuple[list[int], list[int]]:
        """Top ``n`` ticks and lots of one side as two lists, best first."""
        buffers = self._buffers
        if buffers is None or buffers[0].shape[0] < n:
            buffers = self._buffers = (np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))
        count = self.book.l2.depth(side, buffers[0], buffers[1], n)
        return buffers[0][:count].tolist(), buffers[1][:count].tolist()


def crc32_signed(text: str) -> int:
    """CRC-32 of ``text`` as a signed 32-bit int (OKX's convention)."""
    value = zlib.crc32(text.encode())
    return value - (1 << 32) if value >= (1 << 31) else value


def format_units(units: int, step_raw: int, precision: int) -> str:
    """ticks/lots back to the decimal string at ``precision`` places (for checksums)."""
    raw = units * step_raw
    sign = "-" if raw < 0 else ""
    raw = abs(raw)
    if precision == 0:
        return f"{sign}{raw}"
    s = str(raw).rjust(precision + 1, "0")
    return f"{sign}{s[:-precision]}.{s[-precision:]}"


class UnitStrings:
    """Memoised ``format_units`` for one grid (checksums format the same prices and sizes over and
    over; a dict lookup is ~20x cheaper than formatting). Bounded: cleared when it grows past
    ``max_size`` entries."""

    __slots__ = ("_cache", "_fmt", "_max", "_precision", "_step")

    def __init__(
        self, step_raw: int, precision: int, fmt: Callable[[int, int, int], str], max_size: int = 65_536
    ):
        self._cache: dict[int, str] = {}
        self._step = step_raw
        self._precision = precision
        self._fmt = fmt
        self._max = max_size

    def __call__(self, units: int) -> str:
        text = self._cache.get(units)
        if text is None:
            if len(self._cache) >= self._max:
                self._cache.clear()
            text = self._cache[units] = self._fmt(units, self._step, self._precision)
        return text

    def many(self, units: list[int]) -> list[str]:
        cache = self._cache
        return [cache[u] if u in cache else self(u) for u in units]


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class ExtraStream:
    """A websocket connection a venue needs beside its main one (``ws_url``), e.g. OKX's
    ``/business`` endpoint, the only one serving candles since 2023.

    The feed runs each in its own task under the main connection's supervision (reconnect with
    backoff and jitter, resubscription on every new connection, a circuit breaker of its own whose
    successes are connects and data messages handled, the stale watchdog) without touching the main
    connection: a candle endpoint that fails neither drops nor invalidates the books. Messages
    arriving on ``url`` go to ``handle`` (same contract as ``VenueProtocol.handle``: False passes the
    message to ccxt's own handling: acks, pongs, errors).
    """

    #: Short name for logs, alerts (``<name>: ...`` in their detail) and ``FeedHandler.streams``.
    name: str
    url: str
    #: Called on every (re)connect: the subscriptions to send.
    subscribe_messages: Callable[[], list[Any]]
    handle: Callable[[Any, int], bool]
    #: Called when the connection is lost (forget per-connection state).
    on_disconnected: Callable[[], None] = _nothing
    #: Silence after which the connection is judged dead (0: the feed's ``stale_after_ms``).
    stale_after_ms: int = 0


class VenueProtocol(ABC):
    """One venue's wire protocol over ccxt.pro's client. Subclasses set the class variables."""

    #: Engine venue name (the ``VENUE`` of ``VENUE:SYMBOL``).
    venue: str = ""
    ccxt_id: ClassVar[str] = ""
    default_depth: ClassVar[int] = 0
    #: Fetch a REST snapshot at start to widen the price grid for levels resting at an old tick.
    infer_grid: ClassVar[bool] = False
    #: The connection carrying the venue's candles: "" the main one, else an ``ExtraStream``'s name.
    candle_stream: ClassVar[str] = ""

    def __init__(self, feed: FeedHandler) -> None:
        self.feed = feed
        self.instrument_by_wire: dict[str, InstrumentId] = {}
        self.books: dict[InstrumentId, SequencedBook] = {}
        self.trade_parsers: dict[InstrumentId, LevelParser] = {}
        self._exchange_class: type | None = None
        #: Background work (resubscriptions, snapshot fetches, candle backfills): held here because
        #: the loop keeps only a weak reference to a task, and cancelled when the feed stops.
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Extra streams by URL (filled as they connect): where their messages go.
        self._extra_by_url: dict[str, ExtraStream] = {}
        #: Candle pushes -> closed ``Bar`` events; holds live closes across a gap when the venue can
        #: backfill it over REST (``fetch_candles``).
        self.candles = CandleCloser(
            feed.emit_bar, hold_on_gap=self.backfills_candles and feed.settings.candle_backfill_max > 0
        )

    @property
    def backfills_candles(self) -> bool:
        """Whether this venue fetches missed candles over REST after a reconnect (``fetch_candles``)."""
        return type(self).fetch_candles is not VenueProtocol.fetch_candles

    # -- ccxt ----------------------------------------------------------------------------------------
    def exchange_class(self) -> type:
        """The ccxt.pro class with ``handle_message`` routed to this protocol (ccxt keeps everything else:
        connection, keep-alive ping, throttle, REST, error mapping)."""
        if self._exchange_class is None:
            base = getattr(ccxt.pro, self.ccxt_id)
            protocol = self

            class FeedExchange(base):  # type: ignore[misc, valid-type]
                def handle_message(self, client: Any, message: Any) -> None:
                    protocol.on_ws_message(client, message)

                def ccxt_handle_message(self, client: Any, message: Any) -> None:
                    base.handle_message(self, client, message)

            FeedExchange.__name__ = f"Feed{base.__name__}"
            self._exchange_class = FeedExchange
        return self._exchange_class

    def ccxt_options(self) -> dict[str, Any]:
        return {}

    @property
    def exchange(self) -> Any:
        return self.feed.exchange

    # -- markets ---------------------------------------------------------------------------------------
    def wire_symbol(self, market: dict[str, Any]) -> str:
        """The market's name on the wire (the instrument id's symbol)."""
        return str(market["id"])

    def instrument(self, market: dict[str, Any]) -> Instrument:
        return instrument_from_market(self.venue_of(market), market, symbol=self.wire_symbol(market))

    def venue_of(self, market: dict[str, Any]) -> str:
        return self.venue

    def instrument_id(self, symbol: str) -> InstrumentId:
        market = self.exchange.market(symbol)
        return InstrumentId.of(self.venue_of(market), self.wire_symbol(market))

    def on_markets_loaded(self) -> None:
        for symbol in self.feed.settings.symbols:
            market = self.exchange.market(symbol)
            iid = self.instrument_id(symbol)
            self.instrument_by_wire[self.wire_symbol(market)] = iid
            self.books[iid] = SequencedBook(self.feed, self.feed.books[iid])
            self.trade_parsers[iid] = self.books[iid].parser

    def markets(self) -> list[dict[str, Any]]:
        return [self.exchange.market(s) for s in self.feed.settings.symbols]

    @property
    def depth(self) -> int:
        return self.feed.settings.book_depth or self.default_depth

    # -- connection ------------------------------------------------------------------------------------
    @abstractmethod
    def ws_url(self) -> str: ...

    @abstractmethod
    def subscribe_messages(self) -> list[Any]: ...

    def extra_streams(self) -> list[ExtraStream]:
        """Further connections this feed needs (asked once markets are loaded; none by default)."""
        return []

    async def connect_and_subscribe(self, stream: ExtraStream | None = None) -> asyncio.Future[Any]:
        """Open ccxt's client for ``ws_url`` (or ``stream``'s URL) and send the subscriptions; returns
        a future that ccxt rejects when the connection closes or errors (the feed awaits it)."""
        if stream is not None:
            self._extra_by_url[stream.url] = stream
        url = self.ws_url() if stream is None else stream.url
        exchange = self.exchange
        alive = exchange.watch(url, "algotrendy:alive")
        client = exchange.client(url)
        await asyncio.wait({client.connected, alive}, return_when=asyncio.FIRST_COMPLETED)
        if alive.done():
            alive.result()  # raises the connect error
        messages = self.subscribe_messages() if stream is None else stream.subscribe_messages()
        for message in messages:
            if exchange.enableRateLimit:
                await client.throttle(1)
            await client.send(message)
        if stream is None:
            self.after_subscribe()
        return alive

    def after_subscribe(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Hook: start snapshot fetches etc. once subscriptions are sent."""

    def on_connected(self, stream: str) -> None:
        """The connection ``stream`` ("" the main one) is up and subscribed: after a reconnect of the
        candle connection, backfill the candles that closed while it was down (in its own task: the
        live stream never waits for REST)."""
        if stream == self.candle_stream and self.candles.gap() is not None:
            self.spawn(self.backfill_candles())

    def on_disconnected(self) -> None:
        if not self.candle_stream:
            self.candles.reset()
        for sync in self.books.values():
            sync.synced = False
            sync.last_seq = -1

    def drop_connection(self, url: str = "") -> None:
        """Fail the main connection (or the one to ``url``) as a network error would."""
        url = url or self.ws_url()
        client = (self.exchange.clients or {}).get(url) if self.exchange is not None else None
        if client is not None and not client.closed():
            client.on_error(ccxt.NetworkError("connection dropped by the feed handler"))

    async def send(self, message: Any) -> None:
        client = self.exchange.client(self.ws_url())
        if self.exchange.enableRateLimit:
            await client.throttle(1)
        await client.send(message)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_task_error)

    async def cancel_tasks(self) -> None:
        """Cancel the background work still running (the feed is stopping) and wait for it to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):  # shutting down
                await task

    # -- messages --------------------------------------------------------------------------------------
    def on_ws_message(self, client: Any, message: Any) -> None:
        feed = self.feed
        ts_init = feed.clock.timestamp_ns()
        extra = self._extra_by_url.get(client.url) if self._extra_by_url else None
        status = None if extra is None else feed.streams[extra.name]
        handle = self.handle if extra is None else extra.handle
        feed.stats.messages += 1
        if status is not None:
            status.messages += 1
        # Any inbound frame proves the connection is alive. ccxt's keep-alive compares this with its
        # own wall-clock milliseconds, so it is wall time, whatever clock the feed runs on (a
        # replay or test clock far from now would have ccxt drop a healthy connection).
        client.lastPong = time.time_ns() // _MS
        try:
            handled = handle(message, ts_init)
        except (ValidationError, KeyError, ValueError, TypeError, IndexError) as exc:
            feed.stats.parse_errors += 1
            log.warning(
                "feed.parse_error", venue=self.venue, error=str(exc)[:200], message=str(message)[:200]
            )
        else:
            if not handled:
                # Subscription acks, pongs, venue errors: ccxt's own handling. They show the socket is
                # up (ccxt's keep-alive judges that), not that data flows, so they leave the
                # connection's freshness alone: OKX's pong to ccxt's ping every 18 s would otherwise
                # keep a candle connection whose subscription went silent "fresh" for ever.
                try:
                    self.exchange.ccxt_handle_message(client, message)
                except Exception as exc:
                    log.debug("feed.unhandled_message", venue=self.venue, error=str(exc)[:200])
                return
            if status is not None:
                status.breaker.record_success()  # data read on an extra stream: its endpoint works
        # market data (or a data push we could not read): what the stale watchdog judges
        if status is None:
            feed.last_message_ns = ts_init
        else:
            status.last_message_ns = ts_init

    @abstractmethod
    def handle(self, message: Any, ts_init: int) -> bool:
        """Normalise one decoded message; False if it is not market data (acks, pongs, errors: ccxt
        handles them, and they do not refresh the connection's freshness). A venue heartbeat the
        protocol accepts (Kraken's, Coinbase's heartbeat channel) returns True and counts as data."""

    # -- REST fallback -----------------------------------------------------------------------------------
    @abstractmethod
    async def fetch_book(self, market: dict[str, Any]) -> tuple[int, list[Any], list[Any], int]:
        """A REST book snapshot: (sequence or -1, bids, asks, ts_event ns) with decimal-string levels."""

    async def poll_book(self, instrument_id: InstrumentId) -> None:
        market = self._market_of(instrument_id)
        seq, bids, asks, ts_event = await self.fetch_book(market)
        sync = self.books[instrument_id]
        ts_init = self.feed.clock.timestamp_ns()
        if sync.snapshot(bids, asks, seq):
            sync.synced = False  # a polled book is not a websocket sync: the next WS snapshot decides
            self.feed.emit_book(sync.book, ts_event or ts_init, ts_init, snapshot=True, sequence=seq)

    async def fetch_candles(
        self, market: dict[str, Any], interval_ns: int, since_ns: int, limit: int, ts_init: int
    ) -> list[tuple[Bar, bool | None]]:
        """The venue's REST candles of ``market`` opened at or after ``since_ns`` (at most ``limit``;
        more is fine, the caller filters), each with the venue's own closed flag (None: the venue
        gives none, the feed clock decides). Exact: parsed from the raw endpoint's decimal strings,
        never ccxt's float OHLCV. Venues without a REST candle endpoint do not override this."""
        raise NotImplementedError(f"{self.venue}: no REST candles")

    async def backfill_candles(self) -> None:
        """Fill the gap the last disconnect of the candle connection left: per (instrument,
        interval), the closed candles since the last one emitted (at most ``candle_backfill_max``,
        the most recent ones), through ccxt's rate-limited REST client. A failure (an instrument's
        request, a parse) is logged, counted (``FeedStats.candle_backfill_errors``) and alerted
        (``CANDLE_BACKFILL_FAILED``); the held live candles are emitted either way."""
        gap = self.candles.gap()
        if gap is None:
            return
        epoch, last_emitted = gap
        feed = self.feed
        cap = feed.settings.candle_backfill_max
        fetched: list[Bar] = []
        try:
            for (iid, interval_ns), last in last_emitted.items():
                now = feed.clock.timestamp_ns()
                since = max(last + interval_ns, now - (cap + 1) * interval_ns)
                try:
                    rows = await self.fetch_candles(
                        self._market_of(iid), interval_ns, since, cap + 1, feed.clock.timestamp_ns()
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # ccxt errors, parse errors: this instrument's gap stays
                    feed.candle_backfill_failed(iid, exc)
                    continue
                now = feed.clock.timestamp_ns()
                bars = sorted(
                    (
                        bar
                        for bar, closed in rows
                        if bar.instrument_id == iid
                        and bar.ts_open >= since
                        and (bar.ts_event <= now if closed is None else closed)
                    ),
                    key=lambda b: b.ts_open,
                )
                fetched.extend(bars[-cap:])
        finally:
            emitted = self.candles.fill(fetched, epoch)
            feed.stats.candle_backfills += 1
            feed.stats.bars_backfilled += emitted

    def _market_of(self, instrument_id: InstrumentId) -> dict[str, Any]:
        for symbol in self.feed.settings.symbols:
            if self.instrument_id(symbol) == instrument_id:
                return self.exchange.market(symbol)
        raise KeyError(instrument_id)

    # -- helpers -------------------------------------------------------------------------------------------
    def trade(
        self,
        instrument_id: InstrumentId,
        price: str,
        size: str,
        buyer_is_taker: bool,
        trade_id: Any,
        ts_event: int,
        ts_init: int,
    ) -> None:
        parser = self.trade_parsers[instrument_id]
        inst = parser.instrument
        side = Side.BUY if buyer_is_taker else Side.SELL
        self.feed.emit_trade(
            TradeTick(
                ts_event=ts_event,
                ts_init=ts_init,
                instrument_id=instrument_id,
                price=inst.ticks_to_price(parser.ticks(price)),
                size=inst.lots_to_quantity(parser.lots(size)),
                aggressor_side=side,
                trade_id=TradeId(str(trade_id)),
            )
        )


def _log_task_error(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.warning("feed.task_failed", error=str(exc)[:200], type=type(exc).__name__)


#: Venues registered by name (ccxt id and aliases).
PROTOCOLS: dict[str, Callable[[FeedHandler], VenueProtocol]] = {}


def register(*names: str) -> Callable[[type[VenueProtocol]], type[VenueProtocol]]:
    def deco(cls: type[VenueProtocol]) -> type[VenueProtocol]:
        for name in names:
            PROTOCOLS[name] = cls
        return cls

    return deco
