"""Market-data fan-out: trades, best bid/offer, L2 top-N books, bars and indicator values.

One hub per engine listens on the bus (``data.trades.*``, ``data.quotes.*``, ``data.books.*``,
``data.bars.*``). Work per event is O(1) whatever the number of subscribers: a trade is encoded
once (``encode``) and kept for the current window, a quote replaces the window's previous one.
When the window closes (``streams.conflation_window_ms``, one timer for all subscribers) the
window's trades of an instrument are joined into one chunk and appended ONCE to the instrument's
shared ``_TradeLog``, the latest quote is encoded once into its ``_QuoteState``, changed books are
snapshotted once per (instrument, depth), and the subscribers waiting for news are woken. The
window paces the idle subscribers only: one that is about to send anyway (under load every
subscriber is, its next write follows the last) first closes the open window without waking
anyone, so its message carries every event published until then instead of missing the newest
window's worth (``_close_open_windows``). Trades and BBO cost nothing per subscriber per window:
each subscriber keeps a cursor and picks up what is new (``catch_up``) when it builds its next
message, so a message carries every event since the last one, and a subscriber still busy writing
sends everything that piled up as soon as that write completes. (With 1,000 subscribers, handing
each window to each subscriber was a third of the fan-out's CPU.) The bounds below are applied at
pick-up time exactly as if each window had been handed over when it closed (``add_trades`` /
``put_latest``, in window order), and a log is trimmed by catching up the subscribers far behind,
so it stays short even with a stalled reader.

Bounded per subscriber, never slowing the engine or the other subscribers:

* BBO, book and indicator values keep the **latest value per key** (instrument, channel,
  parameters): a slow reader gets fewer, current values (``conflated`` counts the replaced ones,
  including those replaced within a window); they follow the message's trades and bars, in no
  meaningful order among themselves (each names its instrument and carries its times);
* trades and bars are kept in order up to ``streams.marketdata_queue_max`` events; a window's
  trades that would take the queue past it -- and all later ones until the report went out -- are
  **not queued but summarised** per instrument in one ``TradesSkipped`` event (count, volume,
  low/high, last price, time range) that takes their place in the stream; bars are never dropped
  (one per interval);
* book snapshots are taken when the window closes, only for books that changed.

Indicators: one streaming indicator (``engine.indicators.registry``) per (instrument, bar interval,
name, parameters), shared by its subscribers, fed with every newly closed bar (revision 0; a bar
amended later by a late trade does not re-run it). It is created by the first subscription, so its
values are NaN until it has seen enough bars, and dropped with the last one.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc

from algotrendy.v1 import marketdata_pb2
from engine.api.streams.encode import (
    bar_entry,
    bbo_entry,
    book_entry,
    indicator_entry,
    trade_entry,
    trades_skipped_entry,
)
from engine.api.streams.subscriber import Streams, Subscriber
from engine.core.errors import NotFoundError, ValidationError
from engine.core.events import Bar, QuoteTick, TradeTick
from engine.core.fixed import EXACT
from engine.indicators import registry as indicators
from engine.marketdata.registry import MarketDataRegistry

__all__ = ["MarketDataHub", "MarketDataSubscriber"]

Channel = marketdata_pb2.MarketDataChannel
MAX_INSTRUMENTS = 64
MAX_CHANNELS = 16
MAX_BOOK_DEPTH = 100
DEFAULT_BOOK_DEPTH = 10
MAX_INDICATOR_PARAMS = 16

TOPICS = ("data.trades.*", "data.quotes.*", "data.books.*", "data.bars.*")

#: Subscription keys: ("trades", iid) ("bbo", iid) ("book", iid, depth) ("bars", iid, interval)
#: ("indicator", iid, interval, name, params).
Key = tuple[Any, ...]


class _Skipped:
    """Trades a slow subscriber did not get, summarised (exact decimals)."""

    __slots__ = ("count", "first_ts", "high", "last", "last_ts", "low", "volume")

    def __init__(self, tick: TradeTick) -> None:
        price = tick.price.as_decimal()
        self.count = 1
        self.volume = tick.size.as_decimal()
        self.low = self.high = self.last = price
        self.first_ts = self.last_ts = tick.ts_event

    def add(self, tick: TradeTick) -> None:
        price = tick.price.as_decimal()
        self.count += 1
        self.volume = EXACT.add(self.volume, tick.size.as_decimal())
        self.low = min(self.low, price)
        self.high = max(self.high, price)
        self.last = price
        self.last_ts = tick.ts_event

    def entry(self, instrument_id: str) -> bytes:
        return trades_skipped_entry(
            instrument_id,
            self.count,
            self.volume,
            self.low,
            self.high,
            self.last,
            self.first_ts,
            self.last_ts,
        )


#: A trade log holds at most this many windows; past it, the subscribers furthest behind are caught
#: up (their bounded queue takes the windows, or their skip summary) and the log is cut short.
_LOG_TRIM = 256


class _TradeLog:
    """One instrument's closed trade windows, shared by its TRADES subscribers: ``(seq, chunk,
    window)`` with the hub-wide close order (``seq``: a subscriber of several instruments gets
    their windows in that order), the window's entries joined (``chunk``) and its ``(entry, tick)``
    pairs (for skip reports). ``base`` is the absolute index of ``windows[0]``; ``idle`` the
    subscribers waiting for news."""

    __slots__ = ("base", "idle", "subscribers", "windows")

    def __init__(self) -> None:
        self.base = 0
        self.windows: list[tuple[int, bytes, list[tuple[bytes, TradeTick]]]] = []
        self.subscribers: list[MarketDataSubscriber] = []
        self.idle: dict[MarketDataSubscriber, None] = {}

    @property
    def end(self) -> int:
        return self.base + len(self.windows)


class _QuoteState:
    """One instrument's latest BBO entry for its BBO subscribers: ``version`` counts the windows
    that had a quote, ``quotes`` every quote (so a subscriber's conflation count is exact)."""

    __slots__ = ("entry", "idle", "quotes", "subscribers", "version")

    def __init__(self) -> None:
        self.entry = b""
        self.version = 0
        self.quotes = 0
        self.subscribers: list[MarketDataSubscriber] = []
        self.idle: dict[MarketDataSubscriber, None] = {}


class _TradeCursor:
    __slots__ = ("log", "position")

    def __init__(self, log: _TradeLog) -> None:
        self.log = log
        self.position = log.end


class _QuoteCursor:
    __slots__ = ("key", "quotes", "state", "version")

    def __init__(self, key: Key, state: _QuoteState) -> None:
        self.key = key
        self.state = state
        self.version = state.version
        self.quotes = state.quotes


class MarketDataSubscriber(Subscriber):
    __slots__ = (
        "conflated",
        "counts",
        "dirty",
        "items",
        "keys",
        "latest",
        "queue_limit",
        "queued",
        "quote_cursors",
        "skipped",
        "skipped_trades",
        "trade_cursors",
    )

    def __init__(
        self, context: grpc.aio.ServicerContext | None, keys: list[Key], queue_limit: int = 0
    ) -> None:
        super().__init__(context)
        self.keys = keys
        #: ``streams.marketdata_queue_max``, applied when shared trade windows are picked up.
        self.queue_limit = queue_limit
        #: Positions in the shared trade logs and BBO states of this subscriber's instruments.
        self.trade_cursors: list[_TradeCursor] = []
        self.quote_cursors: list[_QuoteCursor] = []
        #: Chunks of pre-encoded trades and bars in arrival order, and how many events each holds.
        self.items: list[bytes] = []
        self.counts: list[int] = []
        self.queued = 0
        #: Latest BBO / book / indicator value per key (BBO added from the shared state on pick-up).
        self.latest: dict[Key, bytes] = {}
        self.skipped: dict[str, _Skipped] = {}
        self.dirty = False
        #: Values replaced before they were sent, and trades skipped (cumulative, for the client).
        self.conflated = 0
        self.skipped_trades = 0

    @property
    def has_data(self) -> bool:
        if self.items or self.latest or self.skipped:
            return True
        for trades in self.trade_cursors:
            if trades.position < trades.log.base + len(trades.log.windows):
                return True
        return any(quotes.version != quotes.state.version for quotes in self.quote_cursors)

    def parked(self) -> None:
        """About to wait: be woken by the next trade window or quote of its instruments."""
        for trades in self.trade_cursors:
            trades.log.idle[self] = None
        for quotes in self.quote_cursors:
            quotes.state.idle[self] = None

    def catch_up(self) -> None:
        """Pick up the shared trade windows and BBO values that closed since the last call, as if
        each had been handed over when it closed (``add_trades`` / ``put_latest`` in order)."""
        pending: list[tuple[int, bytes, list[tuple[bytes, TradeTick]]]] = []
        for trades in self.trade_cursors:
            log = trades.log
            end = log.base + len(log.windows)
            if trades.position < end:
                pending.extend(log.windows[trades.position - log.base :])
                trades.position = end
        if pending:
            if len(self.trade_cursors) > 1:
                pending.sort(key=_close_order)  # several instruments: in the order the windows closed
            counts = [len(window) for _, _, window in pending]
            total = sum(counts)
            if not self.skipped and self.queued + total <= self.queue_limit:
                # The usual case, all at once: every window fits, so add_trades would queue each.
                self.items.extend([chunk for _, chunk, _ in pending])
                self.counts.extend(counts)
                self.queued += total
            else:
                for _, chunk, window in pending:
                    self.add_trades(chunk, window, self.queue_limit)
        for quotes in self.quote_cursors:
            state = quotes.state
            if quotes.version != state.version:
                # The windows' quotes but the one sent were replaced (put_latest adds one more if
                # an unsent value of the key is still waiting).
                self.put_latest(quotes.key, state.entry, state.quotes - quotes.quotes - 1)
                quotes.version = state.version
                quotes.quotes = state.quotes

    def add_trades(self, chunk: bytes, trades: list[tuple[bytes, TradeTick]], limit: int) -> None:
        """A window's trades of one instrument (``chunk``: their entries joined): queued whole, or,
        if they would take the queue past ``limit`` (or a skip report is pending), summarised."""
        n = len(trades)
        if not self.skipped and self.queued + n <= limit:
            self.items.append(chunk)
            self.counts.append(n)
            self.queued += n
            return
        for _, tick in trades:
            key = str(tick.instrument_id)
            skipped = self.skipped.get(key)
            if skipped is None:
                self.skipped[key] = _Skipped(tick)
            else:
                skipped.add(tick)
        self.skipped_trades += n

    def add_item(self, entry: bytes) -> None:
        """One event that is never dropped (a bar)."""
        self.items.append(entry)
        self.counts.append(1)
        self.queued += 1

    def put_latest(self, key: Key, entry: bytes, replaced: int = 0) -> None:
        """``replaced``: values of this key the hub already conflated in the window."""
        latest = self.latest
        if key in latest:
            replaced += 1
        self.conflated += replaced
        latest[key] = entry

    def take(self, limit: int, ts_ns: int) -> bytes | None:
        """The next message (about ``limit`` events at most: whole chunks), or None when there is
        nothing to send and no heartbeat is due."""
        if self.trade_cursors or self.quote_cursors:
            self.catch_up()
        items = self.items
        counts = self.counts
        n = len(items)
        taken = self.queued
        if taken > limit:  # (else all of it: the loop would take every chunk)
            taken = 0
            n = 0
            while n < len(items) and (taken == 0 or taken + counts[n] <= limit):
                taken += counts[n]
                n += 1
        if n < len(items):
            parts = items[:n]
            del items[:n]
            del counts[:n]
            self.queued -= taken
        else:
            parts = items
            self.items = []
            self.counts = []
            self.queued = 0
            if self.skipped:
                parts.extend(s.entry(iid) for iid, s in self.skipped.items())
                self.skipped.clear()
            if self.latest:
                parts.extend(self.latest.values())
                self.latest = {}
        if not parts and not self.heartbeat_due:
            return None
        self.sent()
        trailer = marketdata_pb2.StreamMarketDataResponse(
            heartbeat=not parts, ts_ns=ts_ns, conflated=self.conflated
        ).SerializeToString()
        parts.append(trailer)
        return b"".join(parts)


class _Indicator:
    __slots__ = ("inputs", "instance", "name", "outputs", "params", "subscribers")

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        spec = indicators.spec(name)
        self.name = name
        self.instance = indicators.create(name, **params)
        self.inputs = spec.inputs
        self.outputs = spec.outputs
        self.params = {k: float(v) for k, v in {**spec.params, **params}.items()}
        self.subscribers: list[MarketDataSubscriber] = []

    def update(self, bar: Bar) -> tuple[float, ...]:
        values = {
            "real": _float(bar.close),
            "high": _float(bar.high),
            "low": _float(bar.low),
            "close": _float(bar.close),
            "volume": _float(bar.volume),
            "ts_ns": bar.ts_open,
        }
        out = self.instance.update(*(values[name] for name in self.inputs))
        return tuple(out) if isinstance(out, tuple) else (out,)


def _float(value: Any) -> float:
    return float(value.raw / 10**value.precision)


class MarketDataHub:
    """See the module docstring. ``bar_intervals_ns``: the intervals bars are built for (BARS and
    INDICATOR subscriptions must name one of them)."""

    def __init__(
        self,
        registry: MarketDataRegistry,
        streams: Streams,
        *,
        bar_intervals_ns: Iterable[int] = (),
        timestamp_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._registry = registry
        self._streams = streams
        self._now = timestamp_ns
        self.bar_intervals_ns = tuple(sorted(set(bar_intervals_ns)))
        self._trades: dict[str, _TradeLog] = {}
        self._window_seq = itertools.count()
        self._bbo: dict[str, _QuoteState] = {}
        self._books: dict[str, dict[int, list[MarketDataSubscriber]]] = {}
        self._bars: dict[str, dict[int, list[MarketDataSubscriber]]] = {}
        self._indicators: dict[str, dict[int, dict[tuple[Any, ...], _Indicator]]] = {}
        self._dirty: list[MarketDataSubscriber] = []
        self._dirty_books: set[str] = set()
        #: This window's trades per instrument, and latest quote (with how many it replaced).
        self._window_trades: dict[str, list[tuple[bytes, TradeTick]]] = {}
        self._window_bbo: dict[str, tuple[QuoteTick, int]] = {}
        #: Instruments whose trade log / BBO state got news this window that their idle subscribers
        #: have not been woken for yet (``_close_open_windows``; woken by ``_flush``).
        self._trade_news: set[str] = set()
        self._quote_news: set[str] = set()
        #: Over ended subscriptions: trades skipped (reported in TradesSkipped) and values conflated.
        self.skipped_trades = 0
        self.conflated = 0
        #: The last quote of every instrument: a new BBO subscriber starts from it.
        self._last_quote: dict[str, QuoteTick] = {}
        self._flush_handle: asyncio.Handle | None = None

    def attach(self, bus: Any) -> None:
        """Listen on the bus (call on the loop, once)."""
        bus.subscribe(TOPICS[0], self.on_trade)
        bus.subscribe(TOPICS[1], self.on_quote)
        bus.subscribe(TOPICS[2], self.on_book)
        bus.subscribe(TOPICS[3], self.on_bar)

    # -- bus handlers (loop) -----------------------------------------------------------------------
    def on_trade(self, tick: TradeTick) -> None:
        """O(1) per trade: encoded once, kept for the window; fanned out (as one chunk) at its end."""
        iid = str(tick.instrument_id)
        if iid in self._trades:
            window = self._window_trades.get(iid)
            if window is None:
                window = self._window_trades[iid] = []
            window.append((trade_entry(tick), tick))
            self._schedule()
        if iid in self._books:
            self._dirty_books.add(iid)
            self._schedule()

    def on_quote(self, tick: QuoteTick) -> None:
        """O(1) per quote: the window keeps the latest (BBO conflates by design), encoded at its end."""
        iid = str(tick.instrument_id)
        self._last_quote[iid] = tick
        if iid in self._bbo:
            previous = self._window_bbo.get(iid)
            self._window_bbo[iid] = (tick, 0 if previous is None else previous[1] + 1)
            self._schedule()
        if iid in self._books:
            self._dirty_books.add(iid)
            self._schedule()

    def on_book(self, event: Any) -> None:
        iid = str(event.instrument_id)
        if iid in self._books:
            self._dirty_books.add(iid)
            self._schedule()

    def on_bar(self, bar: Bar) -> None:
        iid = str(bar.instrument_id)
        by_interval = self._bars.get(iid)
        subscribers = by_interval.get(bar.interval_ns) if by_interval else None
        if subscribers:
            self._close_window(iid)  # the trades before the bar go first
            entry = bar_entry(bar)
            for subscriber in subscribers:
                subscriber.catch_up()
                subscriber.add_item(entry)  # never dropped: one per interval
                self._mark(subscriber)
            self._schedule()
        computed = self._indicators.get(iid)
        group = computed.get(bar.interval_ns) if computed else None
        if group and bar.revision == 0:
            for (name, params_key), indicator in group.items():
                values = indicator.update(bar)
                entry = indicator_entry(iid, name, indicator.params, bar, indicator.outputs, values)
                key = ("indicator", iid, bar.interval_ns, name, params_key)
                for subscriber in indicator.subscribers:
                    subscriber.put_latest(key, entry)
                    self._mark(subscriber)
            self._schedule()

    def _mark(self, subscriber: MarketDataSubscriber) -> None:
        if not subscriber.dirty:
            subscriber.dirty = True
            self._dirty.append(subscriber)

    def _schedule(self) -> None:
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            window_ms = self._streams.config.conflation_window_ms
            self._flush_handle = (
                loop.call_later(window_ms / 1000, self._flush) if window_ms else loop.call_soon(self._flush)
            )

    def _close_window(self, iid: str, *, wake: bool = True) -> None:
        """The instrument's window of trades into its shared log (one append), waking its idle
        subscribers (``wake``) or leaving that to the window's timer (``_trade_news``)."""
        window = self._window_trades.pop(iid, None)
        log = self._trades.get(iid)
        if not window or log is None:
            return
        log.windows.append((next(self._window_seq), b"".join([entry for entry, _ in window]), window))
        if len(log.windows) > _LOG_TRIM:
            self._trim(log)
        if wake:
            _wake(log.idle)
        else:
            self._trade_news.add(iid)

    def _close_open_windows(self) -> None:
        """The open window's trades and latest quotes into the shared logs and BBO states, without
        waking anyone: called before a subscriber builds a message it sends anyway, so the message
        carries everything published until now. Under load a subscriber is always busy writing and
        its messages would otherwise miss the newest up-to-a-window of events (a window's worth,
        plus the loop's lag, of latency on every event). The idle subscribers are still woken only
        by the window's timer (``_flush``), which keeps batching the trickle for them."""
        for iid in list(self._window_trades):
            self._close_window(iid, wake=False)
        if self._window_bbo:
            for iid, (tick, replaced) in self._window_bbo.items():
                state = self._bbo.get(iid)
                if state is None:
                    continue
                state.entry = bbo_entry(tick)
                state.version += 1
                state.quotes += replaced + 1  # the window's quotes: the one kept and those it replaced
                self._quote_news.add(iid)
            self._window_bbo.clear()

    @staticmethod
    def _trim(log: _TradeLog) -> None:
        """Catch up the subscribers behind the log's middle (their own bounded queue or skip summary
        takes the windows), then drop the windows every subscriber has passed."""
        middle = log.base + len(log.windows) // 2
        for subscriber in log.subscribers:
            if any(c.log is log and c.position < middle for c in subscriber.trade_cursors):
                subscriber.catch_up()
        start = min(
            (c.position for s in log.subscribers for c in s.trade_cursors if c.log is log), default=log.end
        )
        del log.windows[: start - log.base]
        log.base = start

    def _flush(self) -> None:
        """End of a conflation window: append its trades (one chunk per instrument) to the shared
        logs, set the latest quotes, snapshot changed books, wake every subscriber with news."""
        self._flush_handle = None
        self._close_open_windows()  # this window's news, closed here or early by a sending subscriber
        if self._trade_news:
            for iid in self._trade_news:
                log = self._trades.get(iid)
                if log is not None:
                    _wake(log.idle)
            self._trade_news.clear()
        if self._quote_news:
            for iid in self._quote_news:
                state = self._bbo.get(iid)
                if state is not None:
                    _wake(state.idle)
            self._quote_news.clear()
        if self._dirty_books:
            now = self._now()
            for iid in self._dirty_books:
                for depth, subscribers in self._books.get(iid, {}).items():
                    entry = book_entry(self._registry.snapshot(iid, depth), now)
                    key = ("book", iid, depth)
                    for subscriber in subscribers:
                        subscriber.put_latest(key, entry)
                        self._mark(subscriber)
            self._dirty_books.clear()
        dirty = self._dirty
        self._dirty = []
        for subscriber in dirty:
            subscriber.dirty = False
            subscriber.wake()

    # -- subscriptions -----------------------------------------------------------------------------
    def subscribe(
        self, request: marketdata_pb2.StreamMarketDataRequest, context: grpc.aio.ServicerContext | None
    ) -> MarketDataSubscriber:
        """Validate the request (every field) and register the subscriber; nothing changes on error."""
        keys, indicator_specs = self._parse(request)
        subscriber = MarketDataSubscriber(context, keys, self._streams.config.marketdata_queue_max)
        self._streams.admit(subscriber)
        for key in keys:
            kind, iid = key[0], key[1]
            if kind == "trades":
                log = self._trades.get(iid)
                if log is None:
                    log = self._trades[iid] = _TradeLog()
                log.subscribers.append(subscriber)
                subscriber.trade_cursors.append(_TradeCursor(log))
            elif kind == "bbo":
                state = self._bbo.get(iid)
                if state is None:
                    state = self._bbo[iid] = _QuoteState()
                state.subscribers.append(subscriber)
                subscriber.quote_cursors.append(_QuoteCursor(key, state))
                last = self._last_quote.get(iid)
                if last is not None:  # the first message carries the current BBO
                    subscriber.latest[("bbo", iid)] = bbo_entry(last)
                    self._mark(subscriber)
                    self._schedule()
            elif kind == "book":
                self._books.setdefault(iid, {}).setdefault(key[2], []).append(subscriber)
                self._dirty_books.add(iid)  # the first message carries the current book
                self._schedule()
            elif kind == "bars":
                self._bars.setdefault(iid, {}).setdefault(key[2], []).append(subscriber)
            else:
                group = self._indicators.setdefault(iid, {}).setdefault(key[2], {})
                indicator = group.get((key[3], key[4]))
                if indicator is None:
                    name, params = indicator_specs[key]
                    indicator = group[(key[3], key[4])] = _Indicator(name, params)
                indicator.subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: MarketDataSubscriber) -> None:
        subscriber.catch_up()  # what it skipped and had conflated, for the hub's counts
        self.skipped_trades += subscriber.skipped_trades
        self.conflated += subscriber.conflated
        for key in subscriber.keys:
            kind, iid = key[0], key[1]
            if kind == "trades":
                log = self._trades.get(iid)
                if log is not None:
                    _leave(log, subscriber)
                    if not log.subscribers:
                        del self._trades[iid]
            elif kind == "bbo":
                state = self._bbo.get(iid)
                if state is not None:
                    _leave(state, subscriber)
                    if not state.subscribers:
                        del self._bbo[iid]
            elif kind == "book":
                _remove(self._books.get(iid, {}), key[2], subscriber)
                if not self._books.get(iid, True):
                    del self._books[iid]
            elif kind == "bars":
                _remove(self._bars.get(iid, {}), key[2], subscriber)
                if not self._bars.get(iid, True):
                    del self._bars[iid]
            else:
                group = self._indicators.get(iid, {}).get(key[2], {})
                indicator = group.get((key[3], key[4]))
                if indicator is not None and subscriber in indicator.subscribers:
                    indicator.subscribers.remove(subscriber)
                    if not indicator.subscribers:
                        del group[(key[3], key[4])]
                        if not group:
                            del self._indicators[iid][key[2]]
                            if not self._indicators[iid]:
                                del self._indicators[iid]
        self._streams.release(subscriber)

    async def stream(self, subscriber: MarketDataSubscriber) -> AsyncIterator[bytes]:
        limit = self._streams.config.batch_max_events
        try:
            while True:
                await subscriber.wait()
                if subscriber.failure is not None:
                    raise subscriber.failure
                if self._window_trades or self._window_bbo:
                    self._close_open_windows()
                message = subscriber.take(limit, self._now())
                if message is not None:
                    subscriber.in_write = True
                    yield message
                    subscriber.in_write = False
        finally:
            self.unsubscribe(subscriber)

    # -- request validation ------------------------------------------------------------------------
    def _parse(
        self, request: marketdata_pb2.StreamMarketDataRequest
    ) -> tuple[list[Key], dict[Key, tuple[str, dict[str, Any]]]]:
        if not request.instrument_ids:
            raise ValidationError("instrument_ids", "name at least one instrument")
        if len(request.instrument_ids) > MAX_INSTRUMENTS:
            raise ValidationError("instrument_ids", f"at most {MAX_INSTRUMENTS} instruments per stream")
        if not request.channels:
            raise ValidationError("channels", "name at least one channel")
        if len(request.channels) > MAX_CHANNELS:
            raise ValidationError("channels", f"at most {MAX_CHANNELS} channels per stream")
        instrument_ids: list[str] = []
        for i, text in enumerate(request.instrument_ids):
            field = f"instrument_ids[{i}]"
            try:
                instrument = self._registry.instrument(text)
            except ValidationError as exc:
                raise ValidationError(field, exc.problem, reason=exc.reason) from None
            except NotFoundError:
                raise NotFoundError(
                    f"{field}: unknown instrument {text}", reason="UNKNOWN_INSTRUMENT"
                ) from None
            iid = str(instrument.id)
            if iid in instrument_ids:
                raise ValidationError(field, f"{iid} is named twice")
            instrument_ids.append(iid)
        specs: list[tuple[Any, ...]] = []
        indicator_params: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
        for i, channel in enumerate(request.channels):
            spec = self._parse_channel(channel, f"channels[{i}]", indicator_params)
            if spec in specs:
                raise ValidationError(f"channels[{i}]", "the same channel is subscribed twice")
            specs.append(spec)
        keys: list[Key] = []
        params_by_key: dict[Key, tuple[str, dict[str, Any]]] = {}
        for iid in instrument_ids:
            for spec in specs:
                key = (spec[0], iid, *spec[1:])
                keys.append(key)
                if spec[0] == "indicator":
                    params_by_key[key] = indicator_params[spec]
        return keys, params_by_key

    def _parse_channel(
        self,
        channel: marketdata_pb2.ChannelSubscription,
        field: str,
        indicator_params: dict[tuple[Any, ...], tuple[str, dict[str, Any]]],
    ) -> tuple[Any, ...]:
        kind = channel.channel
        if kind == Channel.MARKET_DATA_CHANNEL_UNSPECIFIED:
            raise ValidationError(
                f"{field}.channel", "must be set (MARKET_DATA_CHANNEL_UNSPECIFIED is not allowed)"
            )
        if kind not in Channel.values():
            raise ValidationError(f"{field}.channel", f"{kind} is not a valid MarketDataChannel")
        uses_interval = kind in (Channel.MARKET_DATA_CHANNEL_BARS, Channel.MARKET_DATA_CHANNEL_INDICATOR)
        if channel.book_depth and kind != Channel.MARKET_DATA_CHANNEL_BOOK:
            raise ValidationError(f"{field}.book_depth", "only for MARKET_DATA_CHANNEL_BOOK")
        if channel.bar_interval_ns and not uses_interval:
            raise ValidationError(f"{field}.bar_interval_ns", "only for the BARS and INDICATOR channels")
        if (channel.indicator or channel.indicator_params) and kind != Channel.MARKET_DATA_CHANNEL_INDICATOR:
            name = "indicator" if channel.indicator else "indicator_params"
            raise ValidationError(f"{field}.{name}", "only for MARKET_DATA_CHANNEL_INDICATOR")
        if kind == Channel.MARKET_DATA_CHANNEL_TRADES:
            return ("trades",)
        if kind == Channel.MARKET_DATA_CHANNEL_BBO:
            return ("bbo",)
        if kind == Channel.MARKET_DATA_CHANNEL_BOOK:
            depth = channel.book_depth or DEFAULT_BOOK_DEPTH
            if depth > MAX_BOOK_DEPTH:
                raise ValidationError(
                    f"{field}.book_depth",
                    f"must be between 1 and {MAX_BOOK_DEPTH} (0 = {DEFAULT_BOOK_DEPTH})",
                )
            return ("book", depth)
        interval = channel.bar_interval_ns
        if interval not in self.bar_intervals_ns:
            supported = ", ".join(str(i) for i in self.bar_intervals_ns) or "none are configured"
            raise ValidationError(
                f"{field}.bar_interval_ns", f"{interval} is not a bar interval of this engine ({supported})"
            )
        if kind == Channel.MARKET_DATA_CHANNEL_BARS:
            return ("bars", interval)
        name = channel.indicator
        if not name:
            raise ValidationError(f"{field}.indicator", "is required (a name from the indicator registry)")
        try:
            spec = indicators.spec(name)
        except ValueError as exc:
            raise ValidationError(f"{field}.indicator", str(exc)) from None
        if len(channel.indicator_params) > MAX_INDICATOR_PARAMS:
            raise ValidationError(f"{field}.indicator_params", f"at most {MAX_INDICATOR_PARAMS} parameters")
        params: dict[str, Any] = {}
        for param in sorted(channel.indicator_params):
            value = channel.indicator_params[param]
            where = f"{field}.indicator_params.{param}"
            if param not in spec.params:
                raise ValidationError(
                    where,
                    f"{name} has no parameter {param!r}; parameters: {', '.join(spec.params) or 'none'}",
                )
            if not math.isfinite(value):
                raise ValidationError(where, "must be a finite number")
            default = spec.params[param]
            if isinstance(default, int) and not isinstance(default, bool):
                if value != int(value):
                    raise ValidationError(where, f"must be a whole number, got {value}")
                params[param] = int(value)
            else:
                params[param] = float(value)
        try:
            indicators.create(name, **params)
        except (ValueError, TypeError, OverflowError) as exc:
            message = str(exc)
            blamed = next((p for p in params if p in message), None)
            raise ValidationError(
                f"{field}.indicator_params" + (f".{blamed}" if blamed else ""), message
            ) from None
        params_key = tuple(sorted(params.items()))
        spec_key = ("indicator", interval, name, params_key)
        indicator_params[spec_key] = (name, params)
        return spec_key


def _close_order(window: tuple[int, bytes, list[tuple[bytes, TradeTick]]]) -> int:
    return window[0]


def _wake(idle: dict[MarketDataSubscriber, None]) -> None:
    if idle:
        for subscriber in idle:
            subscriber.wake()
        idle.clear()


def _leave(shared: _TradeLog | _QuoteState, subscriber: MarketDataSubscriber) -> None:
    if subscriber in shared.subscribers:
        shared.subscribers.remove(subscriber)
    shared.idle.pop(subscriber, None)


def _remove(index: dict[Any, list[MarketDataSubscriber]], key: Any, subscriber: MarketDataSubscriber) -> None:
    subscribers = index.get(key)
    if subscribers is None:
        return
    if subscriber in subscribers:
        subscribers.remove(subscriber)
    if not subscribers:
        del index[key]
