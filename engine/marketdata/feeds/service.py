"""``FeedService``: the configured ``[feeds]`` running inside the engine.

* starts one ``FeedHandler`` per ``[[feeds.sources]]`` entry and publishes its events on the bus
  (``data.trades|quotes|books.<id>``, ``data.alerts``; venue candles are not republished: the engine's
  ``BarService`` builds ``data.bars`` from the trades, one source of bars);
* hands its books to the composition root, which registers them with the ``MarketDataRegistry`` so
  ``GetOrderBook`` serves them;
* watches every quote on the bus (``data.quotes.*``: these feeds' and the trading venue's) for
  cross-venue mid divergence (``DivergenceMonitor``), and routes reference quotes
  (``ReferencePrices``): ``data.reference.<target>`` carries each ``reference_fallbacks`` target's
  reference quote — its own while fresh and healthy; when they are stale, diverging or its feed's
  circuit is open, the first usable fallback venue's (on the target's grid, with the source's
  timestamps, alert ``REFERENCE_FAILOVER``). The composition root feeds it to the risk gate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry

from engine.bus import MessageBus
from engine.config.model import FeedsConfig, FeedSourceConfig
from engine.core.clock import Clock
from engine.core.enums import InstrumentKind
from engine.core.errors import StartupError
from engine.core.events import Bar, QuoteTick
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.marketdata.book import OrderBook
from engine.marketdata.feeds.base import Channel, FeedHandler, FeedSettings
from engine.marketdata.feeds.breaker import CircuitState
from engine.marketdata.feeds.quality import DivergenceMonitor, ReferencePrices
from engine.marketdata.feeds.sink import TOPIC_QUOTES, BusFeedSink

__all__ = ["TOPIC_REFERENCE", "FeedService", "feed_settings", "pair_key"]

log = structlog.get_logger("engine.feeds")

TOPIC_REFERENCE = "data.reference"


def feed_settings(config: FeedsConfig, source: FeedSourceConfig) -> FeedSettings:
    return FeedSettings(
        venue=source.venue,
        symbols=tuple(source.symbols),
        channels=frozenset(Channel(c) for c in source.channels),
        book_depth=source.book_depth,
        backoff_base_ms=config.backoff_ms,
        backoff_max_ms=config.max_backoff_ms,
        backoff_jitter=config.backoff_jitter,
        stale_after_ms=config.stale_after_ms,
        quote_refresh_ms=config.quote_refresh_ms,
        rest_poll_ms=config.rest_poll_ms,
        candle_backfill_max=config.candle_backfill_max,
        breaker_failures=config.breaker_failures,
        breaker_window_ms=config.breaker_window_ms,
        breaker_open_ms=config.breaker_open_ms,
        breaker_successes=config.breaker_successes,
        sandbox=source.sandbox,
        base_url_override=f"http://{source.endpoint}" if source.endpoint else "",
    )


def pair_key(instrument: Instrument) -> str:
    """What makes quotes of two venues comparable: ``BTC/USDT`` (spot) or ``BTC/USDT:PERPETUAL``."""
    base = "BTC" if instrument.base in ("XBT", "XXBT") else instrument.base
    key = f"{base}/{instrument.quote}"
    return key if instrument.kind is InstrumentKind.SPOT else f"{key}:{instrument.kind.name}"


class _Sink(BusFeedSink):
    def on_bar(self, bar: Bar) -> None:
        return None  # one source of bars: BarService, from trades


class FeedService:
    def __init__(
        self,
        config: FeedsConfig,
        bus: MessageBus,
        clock: Clock,
        *,
        instrument: Callable[[str], Instrument],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self._bus = bus
        self._clock = clock
        self._instrument = instrument
        sink = _Sink(bus)
        self.handlers = [FeedHandler(feed_settings(config, s), sink, clock=clock) for s in config.sources]
        max_age_ns = config.reference_max_age_ms * 1_000_000
        self.monitor = DivergenceMonitor(
            max_divergence_bps=config.max_divergence_bps,
            max_age_ns=max_age_ns,
            clock=clock,
            on_alert=sink.on_alert,
            min_venues=config.divergence_min_venues,
            registry=registry,
        )
        self.references = ReferencePrices(
            instruments=lambda iid: instrument(str(iid)),
            max_age_ns=max_age_ns,
            clock=clock,
            on_reference=self._publish_reference,
            on_alert=sink.on_alert,
            is_healthy=self._healthy,
        )
        for target, fallbacks in config.reference_fallbacks.items():
            tid = InstrumentId(target)
            self.references.add_route(tid, [tid, *(InstrumentId(s) for s in fallbacks)])
        self._keys: dict[InstrumentId, str | None] = {}
        self._check: asyncio.TimerHandle | None = None
        self._subscribed = False

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        results = await asyncio.gather(*(h.start() for h in self.handlers), return_exceptions=True)
        failed = [(h, r) for h, r in zip(self.handlers, results, strict=True) if isinstance(r, BaseException)]
        if failed:
            await self.stop()
            names = ", ".join(f"{h.settings.venue}: {r}" for h, r in failed)
            raise StartupError(f"market-data feeds could not start ({names})")
        if not self._subscribed:
            self._bus.subscribe(f"{TOPIC_QUOTES}.*", self._on_quote)
            self._subscribed = True
        self._schedule_check()

    async def stop(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None
        await asyncio.gather(*(h.stop() for h in self.handlers), return_exceptions=True)

    def books(self) -> list[tuple[Instrument, OrderBook]]:
        return [(book.instrument, book) for h in self.handlers for book in h.books.values()]

    def describe(self) -> str:
        return ", ".join(f"{h.venue} {len(h.books)} books {h.state.value}" for h in self.handlers)

    # -- quality -----------------------------------------------------------------------------------
    def _on_quote(self, tick: QuoteTick) -> None:
        iid = tick.instrument_id
        if iid not in self._keys:
            try:
                key: str | None = pair_key(self._instrument(str(iid)))
            except Exception:  # an instrument nobody registered: nothing to compare it with
                key = None
            self._keys[iid] = key
            if key is not None:
                self.monitor.register(iid, key)
        self.monitor.on_quote(tick)
        self.references.on_quote(tick)

    def _healthy(self, iid: InstrumentId) -> bool:
        if iid in self.monitor.diverging:
            return False
        for handler in self.handlers:
            if iid in handler.books:
                return (
                    handler.breaker.state is not CircuitState.OPEN
                    and not handler.books[iid].l2.needs_snapshot
                )
        return True

    def _publish_reference(self, tick: QuoteTick) -> None:
        self._bus.publish_c(f"{TOPIC_REFERENCE}.{tick.instrument_id}", tick)

    def _schedule_check(self) -> None:
        period_s = max(self.config.reference_max_age_ms / 4000, 0.01)

        def check() -> None:
            self.references.check()
            self._schedule_check()

        self._check = asyncio.get_running_loop().call_later(period_s, check)
