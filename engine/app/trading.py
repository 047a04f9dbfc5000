"""The trading core: risk gate, order manager, portfolio and the simulated venue, with persistence.

Start (``start``), on the loop, in the order DESIGN.md gives:

1. persistence: the writer thread over the LMDB environment (journal, state tables, audit);
2. restore: replay the journal — risk limits and trading states, order events (the OMS rebuilds
   every order and the sequence, the risk gate its open orders and positions through the same
   hooks as live), fills into the portfolio;
3. the simulated venue restores its own durable state (it is a separate party);
4. reconcile: every order the journal shows as open is looked up at the venue by client order id
   and brought up to date — an order the venue never received is rejected, never resent;
5. only then the market simulator and trading start.

Stop (``stop``): the simulator stops, the venue's state is made durable, in-flight OMS work
finishes, the writer drains and joins.

With ``[venue]`` naming a crypto venue (``engine.app.external_venue``) the same sequence runs with
that venue's market-data feed instead of the simulator, and as the venue either the paper venue on
the feed's books (durable like the simulated one) or the live ccxt venue, which adopts the open
orders, reconciles at start and again after every reconnect (then ``OrderManager.reconcile``).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import structlog

from engine.app.adapters import JournalAdapter, RiskAdapter
from engine.app.durable_venue import DurableSimVenue
from engine.app.venue_mode import check_venue_mode, venue_mode
from engine.bus import MessageBus
from engine.config import EngineConfig
from engine.core.clock import LiveClock
from engine.core.enums import TradingState
from engine.core.errors import ConfigError, InvariantViolation, StorageError
from engine.core.events import (
    Event,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
    QuoteTick,
    TradeTick,
    TradingStateChanged,
)
from engine.core.fixed import Money, Quantity
from engine.core.ids import AccountId, InstrumentId, StrategyId
from engine.oms.events import OrderListCreated
from engine.oms.manager import OrderManager
from engine.oms.portfolio import Portfolio
from engine.risk import RiskEngine
from engine.risk.events import RiskBreached, RiskLimitsChanged
from engine.risk.limits import AccountLimits, InstrumentLimits, StrategyLimits
from engine.store import LmdbStore
from engine.store.codec import CODEC
from engine.store.persistence import Persistence
from engine.store.recovery import JournalReader, gc_paused
from engine.venues.sim import (
    MarketSimulator,
    MarketSimulatorConfig,
    SimVenue,
    SimVenueConfig,
    default_instruments,
)
from engine.venues.sim.venue import VenueInput

if TYPE_CHECKING:
    # Imported only when [venue] names a crypto venue: both import ccxt (~2 s of start-up).
    from engine.app.external_venue import DurablePaperVenue, ExternalVenue
    from engine.venues.ccxt import CcxtVenue

log = structlog.get_logger("engine.trading")
#: A restart logs how far the journal replay got at most this often (a long journal takes seconds per
#: million records: an operator watching the log sees it move, and how long is left).
RECOVERY_PROGRESS_INTERVAL_S = 2.0

TOPIC_TRADES = "data.trades"
TOPIC_QUOTES = "data.quotes"
TOPIC_ORDER_EVENTS = "events.order"
TOPIC_RISK_EVENTS = "events.risk"
RISK_TABLE = "risk"
KEY_EQUITY = "equity"
EQUITY_SAVE_INTERVAL_NS = 1_000_000_000
#: Strategy id of orders entered by hand (CLI, UI) when the request names none.
MANUAL_STRATEGY = StrategyId("manual")

# Stable codec tags (engine/store/codec.py: 100-199 risk, 200-299 oms). Never reuse or renumber.
_CODEC_TAGS: dict[type, int] = {
    AccountLimits: 100,
    InstrumentLimits: 101,
    StrategyLimits: 102,
    RiskLimitsChanged: 110,
    RiskBreached: 111,
    OrderListCreated: 200,
    VenueInput: 300,
}


def register_codec() -> None:
    """Register the risk and OMS records with the journal codec (idempotent)."""
    for cls, tag in _CODEC_TAGS.items():
        CODEC.register(cls, tag)


class TradingCore:
    def __init__(
        self,
        config: EngineConfig,
        store: LmdbStore,
        bus: MessageBus,
        clock: LiveClock,
        on_invariant_violation: Callable[[InvariantViolation], None],
    ) -> None:
        register_codec()
        self.config = config
        self.account = AccountId(config.sim.account)
        self._store = store
        self._bus = bus
        self._clock = clock
        self._on_invariant_violation = on_invariant_violation
        self.instruments = {i.id: i for i in default_instruments()}
        #: Paper or live trading on a crypto venue (``[venue]``); None: the simulated venue.
        self.external: ExternalVenue | None = None
        if config.venue.name != "sim":
            from engine.app.external_venue import ExternalVenue

            self.external = ExternalVenue(config, clock, bus, self.account)
        self.persistence: Persistence | None = None
        self.risk: RiskEngine | None = None
        self.oms: OrderManager | None = None
        self.portfolio: Portfolio | None = None
        self.venue: DurableSimVenue | DurablePaperVenue | CcxtVenue | None = None
        #: The simulated and paper venues build every order report for its one delivery and keep
        #: no reference to it: the OMS may sequence it in place instead of copying it. A live
        #: venue's adapter makes no such promise.
        self._reports_owned = False
        self.simulator: MarketSimulator | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._equity_saved_ns = 0
        self.recovered_events = 0
        self.reconciled_orders = 0
        self.venue_inputs_replayed = 0
        #: Ids of the configured live strategies (``engine/app/strategies.py`` sets them before
        #: ``start``): registered with the risk gate before the journal replays their orders.
        self.strategy_ids: list[StrategyId] = []

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        persistence = self.persistence = Persistence(self._store, clock=self._clock.timestamp_ns)
        # Correct or halt: a commit that fails (disk full, I/O error) halts trading at once.
        persistence.writer.add_failure_listener(
            lambda exc: self._on_invariant_violation(InvariantViolation(f"store commit failed: {exc}"))
        )
        persistence.start()
        external = self.external
        if external is not None:
            await external.open()  # markets, instruments, books; live: credentials
            self.instruments = dict(external.instruments)
            # The user's risk config plus the venue's derived defaults (quote currency, limits of
            # instruments the user gave none: engine.app.venue_defaults).
            self.config = self.config.model_copy(update={"risk": external.risk})
            for instrument in self.instruments.values():
                if instrument.quote != self.config.risk.quote_currency:
                    raise ConfigError(
                        "risk.quote_currency",
                        f"is {self.config.risk.quote_currency} but {instrument.id} is quoted in "
                        f'{instrument.quote}: set risk.quote_currency = "{instrument.quote}"',
                    )
        risk = self.risk = self._build_risk()
        check_venue_mode(
            persistence.state, venue_mode(self.config), has_history=persistence.journal.last_sequence > 0
        )
        journal = JournalReader(
            self._store, progress=_RecoveryProgress(persistence.journal.last_sequence, time.perf_counter())
        )
        started = time.perf_counter()
        # The rebuild allocates millions of objects for a long journal, nearly all of them kept for
        # the engine's life: collector passes would only rescan them, so the collector waits (the
        # app keeps it paused over the whole start and freezes what it built, see ``_serve``).
        with gc_paused():
            portfolio = self.portfolio = Portfolio(
                self.instruments.values(), balances={self.account: self._starting_balances()}
            )
            venue = self._build_venue(persistence)
            oms = self.oms = OrderManager(
                clock=self._clock,
                venue=venue,
                risk=RiskAdapter(risk),
                journal=JournalAdapter(persistence.journal),
                instruments=self.instruments.values(),
                on_invariant_violation=self._on_invariant_violation,
            )
            # One pass: each record goes where it belongs as it is decoded, and is dropped.
            oms.restore(self._replay(journal, risk, portfolio), notify_risk=True)
            self.recovered_events = journal.count
            # From now on each fill and mark values the account for the post-trade monitor. Not
            # during the replay: history must not re-trigger breaches, and a valuation per
            # replayed fill would be work for nothing.
            portfolio.set_equity_hook(self._on_equity)
            risk.restore_equity_tracks(persistence.state.get(RISK_TABLE, KEY_EQUITY, {}))
        rebuilt_s = time.perf_counter() - started
        oms.subscribe(self._on_order_event)
        live = self._live_venue()
        if live is not None:
            # Adopt the open orders, connect, reconcile by client order id; again after reconnects.
            live.set_resync_handler(oms.reconcile)
            await live.start([o for o in oms.orders() if o.is_open])
        else:
            venue.venue.start()
        changed = await oms.reconcile(venue)
        self.reconciled_orders = len(changed)
        await oms.idle()
        if external is not None and not external.is_paper:
            # Live: balances are the venue's, taken once every fill found at start is applied (the
            # venue's balances already hold them); positions and PnL come from the fills.
            venue_balances = await external.live_balances()
            held = portfolio.balances(self.account)
            for asset in set(venue_balances) | set(held):
                target = venue_balances.get(asset, Money(0, asset))
                current = held.get(asset, Money(0, asset))
                if target != current:
                    portfolio.deposit(self.account, target - current)
        if external is not None:
            external.deliver = self._on_venue_event  # the feed's trades and quotes from now on
        else:
            self.simulator = MarketSimulator(
                venue.venue,
                self._clock,
                MarketSimulatorConfig(seed=self.config.sim.seed, step_ns=self.config.sim.step_ms * 1_000_000),
            )
            self.simulator.start()
            # One step now: the simulated market is quoted (and the risk gate has reference prices)
            # before the engine reports RUNNING, not one step interval later.
            self.simulator.step(self._clock.timestamp_ns())
        log.info(
            "trading.started",
            recovered_events=journal.count,
            recovery_s=round(rebuilt_s, 3),  # journal read, decoded and applied; the venue restored
            restored_orders=len(oms.orders()),
            reconciled_orders=len(changed),
            trading_state=risk.trading_state(self.account).name,
        )

    async def stop(self) -> None:
        if self.simulator is not None and self.simulator.is_running:
            self.simulator.stop()
        if self.risk is not None and self.persistence is not None:
            self._save_equity_tracks(self._clock.timestamp_ns())
        if self.external is not None:
            self.external.deliver = None
        if self.venue is not None and self.venue is not self._live_venue():  # simulated or paper
            await self.venue.flush()
            self.venue.venue.stop()
        if self.oms is not None:
            await self.oms.idle()
        if self.external is not None:
            await self.external.close()  # live venue (in-flight commands finish), feed
        if self.persistence is not None:
            await self.persistence.close()

    def _live_venue(self) -> CcxtVenue | None:
        """The live ccxt venue, or None when the venue is ours (simulated or paper, both durable)."""
        return self.external.live if self.external is not None else None

    # -- construction ----------------------------------------------------------------------------
    def _build_risk(self) -> RiskEngine:
        cfg = self.config.risk
        currency = cfg.quote_currency
        risk = RiskEngine(quote_currency=currency, notional_precision=self._notional_precision())
        for instrument in self.instruments.values():
            own = cfg.instruments.get(str(instrument.id))
            risk.register_instrument(
                instrument,
                None
                if own is None
                else InstrumentLimits(
                    max_order_quantity=Quantity(own.max_order_quantity),
                    max_order_notional=Money(cfg.max_order_notional, currency),
                    max_position=Quantity(own.max_position),
                    price_band_bps=cfg.price_band_bps,
                    max_data_age_ms=cfg.max_data_age_ms,
                ),
            )
        risk.register_account(
            self.account,
            AccountLimits(
                max_gross_exposure=Money(cfg.max_gross_exposure, currency),
                max_net_exposure=Money(cfg.max_net_exposure, currency),
                max_open_orders=cfg.max_open_orders,
                max_orders_per_second=cfg.max_orders_per_second,
                order_burst=cfg.order_burst,
                max_daily_loss=Money(cfg.max_daily_loss, currency),
                max_drawdown=Money(cfg.max_drawdown, currency),
                breach_state=TradingState.HALTED if cfg.breach_state == "halted" else TradingState.REDUCING,
            ),
        )
        risk.register_strategy(MANUAL_STRATEGY, self.default_strategy_limits())
        for strategy_id in self.strategy_ids:
            risk.register_strategy(strategy_id, self.default_strategy_limits())
        return risk

    def _notional_precision(self) -> int:
        """The risk gate's notional unit: 10**-8 of the quote currency, finer when a crypto venue's
        tick x lot needs it (e.g. 0.00001 USDT ticks x 0.00000001 lots: 10**-13), so that one tick
        times one lot is a whole number of units. Limits must then fit the gate's int64 units."""
        if self.external is None:
            return 8
        needed = 8
        for instrument in self.instruments.values():
            product = (
                instrument.price_increment.as_decimal()
                * instrument.size_increment.as_decimal()
                * instrument.multiplier
            ).normalize()
            needed = max(needed, -int(product.as_tuple().exponent))
        return min(needed, 18)

    def default_strategy_limits(self) -> StrategyLimits:
        cfg = self.config.risk
        return StrategyLimits(
            max_orders_per_second=cfg.strategy_max_orders_per_second, order_burst=cfg.strategy_order_burst
        )

    def _build_venue(self, persistence: Persistence) -> DurableSimVenue | DurablePaperVenue | CcxtVenue:
        sim = self.config.sim
        external = self.external
        if external is not None and external.live is not None:
            external.live.set_event_handler(self._on_venue_event)
            self.venue = external.live
            return external.live
        if external is not None:
            # Paper: durable like the simulated venue, so restarts reconcile against its state.
            from engine.app.external_venue import DurablePaperVenue

            saved_paper = DurablePaperVenue.saved_state(persistence.state)
            paper = external.build_paper(fresh=saved_paper is None)
            if saved_paper is not None:
                paper.restore(saved_paper)
            durable_paper = self.venue = DurablePaperVenue(
                paper, persistence.state, persistence.writer, self._on_venue_event
            )
            self._reports_owned = True
            return durable_paper
        saved = DurableSimVenue.saved_state(persistence.state)  # read and decoded once
        fresh = saved is None
        venue = SimVenue(
            list(self.instruments.values()),
            self._clock,
            SimVenueConfig(
                accounts={sim.account: dict(sim.starting_balances)} if fresh else {},
                order_latency_ns=sim.order_latency_us * 1_000,
                report_latency_ns=sim.report_latency_us * 1_000,
                closed_order_retention=sim.closed_order_retention,
            ),
        )
        durable = self.venue = DurableSimVenue(
            venue, persistence.state, persistence.writer, self._on_venue_event, self._clock.timestamp_ns
        )
        self._reports_owned = True
        self.venue_inputs_replayed = durable.restore(saved)
        return durable

    def _starting_balances(self) -> dict[str, Money]:
        if self.external is not None:
            return self.external.starting_balances()
        return {asset: Money(amount, asset) for asset, amount in self.config.sim.starting_balances.items()}

    def component_details(self) -> tuple[str, str]:
        """Status details of the venue and of the market-data source (simulator or live feed)."""
        if self.external is None:
            return f"{len(self.instruments)} instruments", f"seed {self.config.sim.seed}"
        feed = self.external.feed
        return (
            f"{self.external.mode}: {len(self.instruments)} instruments",
            f"{self.config.venue.name} feed instead of the simulator ({feed.state})",
        )

    def book_source(self, instrument_id: InstrumentId) -> Callable[[int], Any]:
        """``depth -> BookSnapshot`` of an instrument's book (the venue's, or the feed's)."""
        if self.external is not None:
            return self.external.book_source(instrument_id)
        assert isinstance(self.venue, DurableSimVenue)
        return functools.partial(self.venue.venue.book, instrument_id)

    def _replay(self, records: Iterable[Any], risk: RiskEngine, portfolio: Portfolio) -> Iterator[OrderEvent]:
        """The journal's order events, in order, for ``OrderManager.restore``; on the way each fill
        goes to ``portfolio`` and each risk limit or trading state change to ``risk``, in journal
        order. A strategy whose orders the gate once approved but that is no longer configured (a
        live strategy removed from [[strategies]]) is registered again before its first order
        opens, so its journalled open orders can be rebuilt; a strategy that was never registered
        (its orders were all denied) is not. Dispatch is by record class (final classes)."""
        registered = {MANUAL_STRATEGY, *self.strategy_ids}
        strategy_of: dict[tuple[AccountId, str], StrategyId] = {}
        is_order: dict[type, bool] = {}
        on_fill = portfolio.on_fill
        for record in records:
            cls = type(record)
            order = is_order.get(cls)
            if order is None:
                order = is_order[cls] = issubclass(cls, OrderEvent)
            if order:
                if cls is OrderFilled:
                    on_fill(record)
                elif cls is OrderInitialized:
                    strategy_of[(record.account_id, record.client_order_id)] = record.strategy_id
                elif cls is OrderSubmitted:
                    sid = strategy_of.get((record.account_id, record.client_order_id))
                    if sid is not None and sid not in registered:
                        registered.add(sid)
                        risk.register_strategy(sid, self.default_strategy_limits())
                yield record
            elif cls is RiskLimitsChanged:
                self._replay_limits(record)
            elif cls is TradingStateChanged:
                risk.set_trading_state(
                    record.current, record.reason, record.ts_event, account_id=record.account_id
                )

    def _replay_limits(self, event: RiskLimitsChanged) -> None:
        assert self.risk is not None
        subject = {"ACCOUNT": AccountId, "INSTRUMENT": InstrumentId, "STRATEGY": StrategyId}[event.subject]
        self.risk.set_limits(subject(event.subject_id), event.current, event.ts_event)

    # -- event flow (all on the loop) ------------------------------------------------------------
    def _on_venue_event(self, event: Event) -> None:
        """Reports from the venue, already durable on the venue's side."""
        assert self.oms is not None and self.portfolio is not None
        if isinstance(event, TradeTick):
            self.oms.on_trade(event)
            self.portfolio.on_trade(event)
            self._bus.publish_c(f"{TOPIC_TRADES}.{event.instrument_id}", event)
        elif isinstance(event, QuoteTick):
            self.oms.on_quote(event)
            self.portfolio.on_quote(event)
            self._bus.publish_c(f"{TOPIC_QUOTES}.{event.instrument_id}", event)
        elif isinstance(event, OrderEvent):
            self.oms.on_order_event(event, owned=self._reports_owned)

    def _on_order_event(self, event: OrderEvent) -> None:
        """Every order event the OMS applied (sequenced, journalled): portfolio and subscribers."""
        assert self.portfolio is not None
        if isinstance(event, OrderFilled):
            self.portfolio.on_fill(event)
        self._bus.publish_c(f"{TOPIC_ORDER_EVENTS}.{event.account_id}", event)

    def _on_equity(self, account_id: AccountId, equity: Money, ts_ns: int) -> None:
        """Post-trade: the loss monitor may escalate the account and cancel its open orders."""
        if self.risk is None or self.portfolio is None or self.persistence is None:
            return
        realised = self.portfolio.realised(account_id, equity.currency)
        breach = self.risk.on_equity(account_id, equity, realised, ts_ns)
        if ts_ns - self._equity_saved_ns >= EQUITY_SAVE_INTERVAL_NS:
            self._save_equity_tracks(ts_ns)
        if breach is None:
            return
        log.warning("risk.breached", account=str(account_id), reason=breach.reason, loss=str(breach.loss))
        self.persistence.journal.append(breach.state_change)
        self._bus.publish_c(TOPIC_RISK_EVENTS, breach)
        if self.oms is not None:
            task = asyncio.get_running_loop().create_task(self.oms.cancel_all(breach.cancel))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _save_equity_tracks(self, ts_ns: int) -> None:
        """Day-start and peak equity are not in the journal; a state write keeps them across
        restarts (at most ``EQUITY_SAVE_INTERVAL_NS`` old after a crash)."""
        assert self.risk is not None and self.persistence is not None
        self.persistence.state.put(RISK_TABLE, KEY_EQUITY, self.risk.equity_tracks())
        self._equity_saved_ns = ts_ns

    # -- runtime changes that must survive a restart ------------------------------------------
    def journal(self, record: Any) -> asyncio.Future[int]:
        """Journal a risk record (limits change, trading state change) so a replay repeats it;
        returns the future that resolves once it is durable (acknowledge only after that)."""
        if self.persistence is None:
            raise StorageError("the trading core is not started")
        journal = self.persistence.journal
        future = journal.durable(journal.append(record))
        self._bus.publish_c(TOPIC_RISK_EVENTS, record)
        return future

    def audit(self, method: str, summary: dict[str, Any], result: str) -> None:
        """Every state-changing RPC, into the hash-chained audit log (identity comes with auth)."""
        if self.persistence is None:
            raise StorageError("the trading core is not started")
        self.persistence.audit.append(actor="api", action=method, summary=summary, result=result)

    def pnl_currency(self) -> str:
        return self.config.risk.quote_currency


class _RecoveryProgress:
    """``JournalReader`` progress: a ``recovery.progress`` log line at most every
    ``RECOVERY_PROGRESS_INTERVAL_S`` with the records replayed of the journal's ``total``."""

    def __init__(self, total: int, started: float) -> None:
        self._total = total
        self._started = self._last = started

    def __call__(self, count: int) -> None:
        now = time.perf_counter()
        if now - self._last < RECOVERY_PROGRESS_INTERVAL_S:
            return
        self._last = now
        elapsed = now - self._started
        total = max(self._total, count)
        log.info(
            "recovery.progress",
            records=count,
            of=total,
            percent=count * 100 // total,
            elapsed_s=round(elapsed, 1),
            left_s=round(elapsed * (total - count) / count, 1),
        )
