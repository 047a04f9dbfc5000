"""Trading on a crypto venue instead of the simulator: live (ccxt) or paper (our paper venue on the
venue's real prices). The composition root's half of ``[venue]`` (``engine.config.VenueConfig``).

Both modes run the venue's market-data feed (``engine.marketdata.feeds.FeedHandler``, ccxt.pro): its
books are the reference for the paper venue and for ``GetOrderBook``; its trades and quotes reach the
risk gate, the OMS (trailing stops), the portfolio (marks) and the bus exactly as the simulator's do.

* **paper**: ``PaperVenue`` (``engine.venues.sim.paper``) fills our orders against the feed's books
  and trade prints; no API keys. ``DurablePaperVenue`` makes its state (orders, fills, balances)
  durable before its reports reach the OMS, so a restart reconciles against it.
* **live**: ``CcxtVenue`` sends our orders to the venue with the account's keys; after every
  reconnect it reconciles and then asks the OMS to reconcile (``OrderManager.reconcile``).
  The portfolio's balances are the venue's, fetched at start (positions and PnL come from the
  journalled fills).

A data directory remembers which venue mode wrote it (``venue/mode``): the engine refuses to start
another mode on it (the journal's open orders belong to that venue), instead of guessing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import structlog

from engine.app.venue_defaults import effective_quote_currency, effective_risk, paper_balances
from engine.app.venue_mode import check_venue_mode, venue_mode
from engine.bus import MessageBus
from engine.config import EngineConfig
from engine.config.model import FeedSourceConfig, RiskConfig
from engine.core.clock import LiveClock
from engine.core.errors import ConfigError, StartupError
from engine.core.events import Bar, DataQualityAlert, Event, OrderBookUpdated, QuoteTick, TradeTick
from engine.core.fixed import Money
from engine.core.ids import AccountId, ClientOrderId, InstrumentId
from engine.core.instruments import Instrument
from engine.marketdata.book import BookSnapshot
from engine.marketdata.feeds import BusFeedSink, FeedHandler
from engine.marketdata.feeds.service import feed_settings
from engine.oms.ports import VenueCommand
from engine.store.state import StateStore
from engine.store.writer import StoreWriter
from engine.venues.ccxt import (
    CcxtVenue,
    CcxtVenueConfig,
    build_exchange,
    load_credentials,
    load_instruments,
)
from engine.venues.ccxt.exchange import VENUE_NAMES, Credentials
from engine.venues.sim import PaperVenue, PaperVenueConfig

__all__ = ["DurablePaperVenue", "ExternalVenue", "check_venue_mode", "venue_mode"]

log = structlog.get_logger("engine.trading")

#: REST book requests for an instrument's reference price at start before the start is refused.
REFERENCE_ATTEMPTS = 4


class _Sink:
    """The feed's events into the engine: trades/quotes to the trading core (once it is ready) and
    the paper venue; books and alerts onto the bus. Candles are not republished: the engine's
    ``BarService`` builds ``data.bars`` from the trades."""

    def __init__(self, owner: ExternalVenue, bus: MessageBus) -> None:
        self._owner = owner
        self._bus_sink = BusFeedSink(bus)

    def on_trade(self, tick: TradeTick) -> None:
        owner = self._owner
        if owner.paper is not None and owner.paper.is_running:
            owner.paper.on_trade(tick)
        if owner.deliver is not None:
            owner.deliver(tick)

    def on_quote(self, tick: QuoteTick) -> None:
        if self._owner.deliver is not None:
            self._owner.deliver(tick)
        else:  # kept until the trading core is ready: its risk gate then has a price at once
            self._owner.early_quotes[tick.instrument_id] = tick

    def on_book(self, event: OrderBookUpdated) -> None:
        paper = self._owner.paper
        if paper is not None and paper.is_running:
            paper.on_book_update(event.instrument_id, event.ts_event)
        self._bus_sink.on_book(event)

    def on_bar(self, bar: Bar) -> None:
        return None

    def on_alert(self, alert: DataQualityAlert) -> None:
        self._bus_sink.on_alert(alert)


class DurablePaperVenue:
    """The paper venue as a party that survives ``kill -9``, like the simulated venue
    (``durable_venue.DurableSimVenue``): its complete state is written to LMDB **before** any order
    report it produced reaches the OMS, so after a crash the OMS reconciles against what the paper
    venue remembers (``VenuePort.order``). Reports are delivered in order, each batch once durable.
    Its own table (``paper_venue``): a paper state is never read as a simulator's or vice versa."""

    TABLE = "paper_venue"
    KEY_STATE = "state"

    def __init__(
        self,
        venue: PaperVenue,
        state: StateStore,
        writer: StoreWriter,
        deliver: Callable[[Event], None],
    ) -> None:
        self.venue = venue
        self._state = state
        self._writer = writer
        self._deliver = deliver
        self._buffer: list[Event] = []
        self._flush_scheduled = False
        self._pending: deque[tuple[asyncio.Future[Any], list[Event]]] = deque()
        venue.set_event_handler(self._on_event)

    @classmethod
    def saved_state(cls, state: StateStore) -> dict[str, Any] | None:
        return state.get(cls.TABLE, cls.KEY_STATE)

    # -- VenuePort -------------------------------------------------------------------------------
    def send(self, command: VenueCommand) -> None:
        self.venue.send(command)

    def order(self, account_id: AccountId, client_order_id: ClientOrderId) -> Any:
        return self.venue.order(account_id, client_order_id)

    # -- reports ---------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        self._buffer.append(event)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._buffer = self._buffer, []
        waiting = self._writer.wait(self._save())
        self._pending.append((waiting, batch))
        waiting.add_done_callback(lambda _f: self._release())

    def _release(self) -> None:
        while self._pending:
            waiting, batch = self._pending[0]
            if not waiting.done():
                return
            self._pending.popleft()
            if waiting.exception() is not None:
                continue  # not durable: withheld; reconciliation tells the OMS (the store failure halts)
            for event in batch:
                self._deliver(event)

    async def flush(self) -> None:
        """Make the current state durable and deliver everything pending (shutdown)."""
        if self._flush_scheduled:
            self._flush()
        await self._writer.wait(self._save())
        self._release()

    def _save(self) -> int:
        return self._state.put(self.TABLE, self.KEY_STATE, self.venue.snapshot())


class ExternalVenue:
    """The feed, the instruments and the order venue of a paper or live crypto venue."""

    def __init__(self, config: EngineConfig, clock: LiveClock, bus: MessageBus, account: AccountId) -> None:
        self._config = config
        self._clock = clock
        self._bus = bus
        self._account = account
        venue = config.venue
        self.mode = venue_mode(config)
        # The trading venue's own market data, tuned like every feed by [feeds] (staleness, quote
        # refresh, REST fallback, circuit breaker, reconnect backoff).
        source = FeedSourceConfig(
            venue=venue.name, symbols=list(venue.symbols), sandbox=venue.sandbox, endpoint=venue.endpoint
        )
        self.feed = FeedHandler(feed_settings(config.feeds, source), _Sink(self, bus), clock=clock)
        self.instruments: dict[InstrumentId, Instrument] = {}
        self.paper: PaperVenue | None = None
        self.live: CcxtVenue | None = None
        self._credentials = Credentials()
        #: What the venue trades with (``open`` fills them in): the risk gate's currency, the risk
        #: config with the derived defaults (``engine.app.venue_defaults``), the paper starting balances.
        self.quote_currency = config.risk.quote_currency
        self.risk: RiskConfig = config.risk
        self.paper_balances: dict[str, str] = dict(venue.paper_balances)
        self._deliver: Callable[[Event], None] | None = None
        #: The latest quote per instrument that arrived before the trading core was ready.
        self.early_quotes: dict[InstrumentId, QuoteTick] = {}

    @property
    def deliver(self) -> Callable[[Event], None] | None:
        """Where the feed's trades and quotes go once the trading core is ready for them."""
        return self._deliver

    @deliver.setter
    def deliver(self, target: Callable[[Event], None] | None) -> None:
        """Set by the trading core when it is ready: it first gets the latest quote of each instrument
        seen while it started (with their own receive times, so the gate judges their age), instead of
        waiting up to ``quote_refresh_ms`` (or a REST poll) for the next one."""
        self._deliver = target
        early, self.early_quotes = self.early_quotes, {}
        if target is not None:
            for tick in early.values():
                target(tick)

    @property
    def is_paper(self) -> bool:
        return self._config.venue.paper

    async def open(self) -> None:
        """Start the market-data feed (markets, books, connection) and, live, load the venue's
        order-entry instruments with the account's credentials."""
        venue = self._config.venue
        try:  # before any network: a config the risk gate cannot use (exit status 2, nothing started)
            self.quote_currency = effective_quote_currency(self._config)
        except ConfigError as exc:
            raise StartupError(f"config error: {exc}") from None
        await self.feed.start()
        if self.is_paper:
            self.instruments = {i.id: i for i in (self.feed.instrument_for(s) for s in venue.symbols)}
            await self._apply_defaults()
            return
        self._credentials = load_credentials(
            api_key_file=_path(venue.api_key_file),
            secret_file=_path(venue.secret_file),
            password_file=_path(venue.password_file),
        )
        if not self._credentials.present:
            raise StartupError(
                f"live trading on {venue.name} needs API keys: set ALGOTRENDY_VENUE_API_KEY and "
                "ALGOTRENDY_VENUE_SECRET or venue.api_key_file/secret_file (or use --paper)"
            )
        exchange = build_exchange(
            venue.name,
            credentials=self._credentials,
            sandbox=venue.sandbox,
            endpoint=venue.endpoint,
            timeout_ms=venue.request_timeout_ms,
        )
        try:
            by_symbol = await load_instruments(exchange, VENUE_NAMES[venue.name], venue.symbols)
        except BaseException:
            await exchange.close()
            raise
        self.instruments = {i.id: i for i in by_symbol.values()}
        try:
            await self._apply_defaults()
        except BaseException:
            await exchange.close()
            raise
        self.live = CcxtVenue(
            exchange,
            by_symbol,
            self._clock,
            CcxtVenueConfig(
                account_id=self._account,
                order_lookup_timeout_ms=venue.order_lookup_timeout_ms,
                backoff_ms=venue.backoff_ms,
                max_backoff_ms=venue.max_backoff_ms,
                websockets=venue.websockets,
                poll_interval_ms=venue.poll_interval_ms,
            ),
            secrets=self._credentials.secrets(),
            name=venue.name,
        )

    async def _apply_defaults(self) -> None:
        """The risk config and paper balances this venue trades with: the user's, plus defaults derived
        from the symbols and the market data for what the user did not set (``venue_defaults``); logged
        once. An instrument left without limits is warned about: the gate denies its orders."""
        config = self._config
        currency = self.quote_currency
        needed = [i for i in self.instruments.values() if str(i.id) not in config.risk.instruments]
        prices: dict[str, Decimal] = {}
        if needed and Decimal(config.venue.default_order_notional) > 0:
            prices = {str(i.id): await self._reference_price(i) for i in needed}
        try:
            self.risk, derived = effective_risk(config, currency, list(self.instruments.values()), prices)
        except ConfigError as exc:
            raise StartupError(f"config error: {exc}") from None
        if self.is_paper:
            self.paper_balances = paper_balances(config.venue, currency)
        if currency != config.risk.quote_currency or derived or self.is_paper:
            log.info(
                "venue.defaults",
                quote_currency=currency,
                instruments={
                    iid: {
                        "max_order_quantity": limits.max_order_quantity,
                        "max_position": limits.max_position,
                        "reference_price": str(prices[iid]),
                    }
                    for iid, limits in derived.items()
                },
                paper_balances=self.paper_balances if self.is_paper else None,
            )
        for iid in self.instruments:
            if str(iid) not in self.risk.instruments:
                log.warning(
                    "venue.instrument_without_risk_limits",
                    instrument=str(iid),
                    hint=f'add [risk.instruments."{iid}"] max_order_quantity / max_position',
                )

    async def _reference_price(self, instrument: Instrument) -> Decimal:
        """The instrument's mid now: from the feed's book when it is synced already, else from a REST
        book snapshot (the feed's own request, rate limited; retried with the feed's backoff)."""
        book = self.feed.books[instrument.id]
        mid = book.mid()
        if mid is not None:
            return mid.as_decimal()
        symbol = next(
            s for s in self._config.venue.symbols if self.feed.instrument_for(s).id == instrument.id
        )
        market = self.feed.exchange.market(symbol)
        attempt = 0
        while True:
            try:
                _, bids, asks, _ = await self.feed.protocol.fetch_book(market)
                break
            except ccxt.BaseError as exc:
                attempt += 1
                if attempt >= REFERENCE_ATTEMPTS:
                    raise StartupError(
                        f"no reference price for {instrument.id} to derive its risk limits from ({exc}); "
                        f'set [risk.instruments."{instrument.id}"] max_order_quantity / max_position'
                    ) from None
                await asyncio.sleep(self.feed._backoff(attempt))
        sides = [Decimal(str(levels[0][0])) for levels in (bids, asks) if levels]
        if not sides or min(sides) <= 0:
            raise StartupError(
                f"no reference price for {instrument.id} to derive its risk limits from (its book is "
                f'empty or unpriced); set [risk.instruments."{instrument.id}"] max_order_quantity / max_position'
            )
        return sum(sides, Decimal(0)) / len(sides)

    def build_paper(self, fresh: bool) -> PaperVenue:
        books = {iid: self.feed.books[iid] for iid in self.instruments}
        accounts = {str(self._account): dict(self.paper_balances)} if fresh else {}
        config = PaperVenueConfig(
            accounts=accounts, closed_order_retention=self._config.venue.paper_closed_order_retention
        )
        self.paper = PaperVenue(books, self._clock, config, name=f"paper-{self._config.venue.name}")
        return self.paper

    def starting_balances(self) -> dict[str, Money]:
        """Paper: ``venue.paper_balances`` (with the quote currency's default); live: none here
        (``live_balances`` after the replay)."""
        if not self.is_paper:
            return {}
        return {a: Money(v, a) for a, v in self.paper_balances.items()}

    async def live_balances(self) -> dict[str, Money]:
        assert self.live is not None
        return await self.live.fetch_balances()

    def book_source(self, instrument_id: InstrumentId) -> Callable[[int], BookSnapshot]:
        book = self.feed.books[instrument_id]
        return book.snapshot

    async def close(self) -> None:
        if self.live is not None:
            await self.live.stop()  # also closes its connections when it never started
        await self.feed.stop()

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "symbols": list(self._config.venue.symbols), "feed": str(self.feed.state)}


def _path(text: str) -> Path | None:
    return Path(text) if text else None
