"""Composition root: the only place that picks implementations and wires them together.

Startup (DESIGN.md): verify compiled kernels -> lock the data directory -> claim the gRPC and metrics
ports (so a conflict changes nothing) -> open LMDB -> serve gRPC -> start the loop-lag monitor ->
RUNNING, trading ACTIVE, health SERVING.
Shutdown (SIGINT/SIGTERM) runs in reverse: health NOT_SERVING and stop accepting RPCs -> give
in-flight RPCs the grace period -> stop timers -> publish what other threads handed over -> flush
and close LMDB -> release the lock -> exit 0.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import uvloop

from algotrendy.v1 import (
    backtest_pb2_grpc,
    marketdata_pb2,
    orders_pb2,
    portfolio_pb2,
    risk_pb2,
    risk_pb2_grpc,
)
from engine import __version__
from engine.api.auth import ApiAuth, principal_audit
from engine.api.backtest_service import BACKTEST_SERVICE, BacktestServicer
from engine.api.marketdata_service import MarketDataServicer
from engine.api.orders_service import OrderServicer
from engine.api.portfolio_service import PortfolioServicer
from engine.api.risk_service import RiskServicer
from engine.api.server import GrpcServer
from engine.api.streams import (
    MarketDataHub,
    OrderEventSource,
    PositionSource,
    SequencedHub,
    Streams,
    add_service,
)
from engine.app.data_services import DataServices
from engine.app.strategies import StrategyRuntime
from engine.app.trading import TOPIC_ORDER_EVENTS, TOPIC_RISK_EVENTS, TradingCore
from engine.app.venue_defaults import shared_feeds
from engine.bus import MessageBus, ThreadHandoff
from engine.config import EngineConfig, load_config, redacted
from engine.core.clock import LiveClock
from engine.core.component import Component, ComponentStatus, EngineStatus
from engine.core.enums import ComponentState, EngineState, TradingState
from engine.core.errors import (
    AlgoTrendyError,
    ConfigError,
    DuplicateError,
    InvariantViolation,
    StartupError,
    StorageError,
)
from engine.core.events import ComponentStateChanged, TradingStateChanged
from engine.core.ids import AccountId
from engine.core.kernels import verify_kernels
from engine.marketdata.bars import BarService, parse_interval
from engine.marketdata.registry import MarketDataRegistry
from engine.store import DataDirLock, LmdbStore
from engine.store.persistence import Persistence
from engine.store.recovery import gc_paused
from engine.telemetry import CallbackCollector, EngineMetrics, LoopLagMonitor, configure_logging

if TYPE_CHECKING:
    # Imported where a feed is configured: the feeds import ccxt (~2 s of start-up).
    from engine.marketdata.feeds.service import FeedService

log = structlog.get_logger("engine.app")

#: Exit status for a configuration or environment problem (bad key, port in use, data dir locked).
EXIT_CONFIG = 2
TOPIC_COMPONENT_STATE = "engine.component_state"
TOPIC_TRADING_STATE = "engine.trading_state"


class Engine:
    """One engine instance: owns every component and their lifecycle."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.clock = LiveClock()
        self.state = EngineState.STARTING
        self._trading_state = TradingState.HALTED
        #: The trading state as last published by the loop, for readers on other threads.
        self._published_trading_state = int(TradingState.HALTED)
        self.started_at_ns = self.clock.timestamp_ns()
        self.metrics = EngineMetrics(config.engine.instance)
        self.metrics.info.labels(__version__, config.engine.instance).set(1)
        self.bus = MessageBus(on_invariant_violation=self._on_invariant_violation)
        self.handoff: ThreadHandoff | None = None
        self.lock = DataDirLock(config.data_dir)
        self.store = LmdbStore(
            config.data_dir / "lmdb",
            map_size_mb=config.store.map_size_mb,
            durability=config.store.durability,
            writemap=config.store.writemap,
        )
        self.loop_lag = LoopLagMonitor(
            config.metrics.loop_lag_interval_ms,
            config.metrics.loop_lag_window_samples,
            self.metrics.loop_lag,
        )
        self.marketdata = MarketDataRegistry()
        #: Market-data feeds besides the venue's own ([feeds]): GetOrderBook books, quality, failover.
        #: The trading venue's own symbols listed there share the venue's feed (one feed per instrument).
        try:
            feeds = shared_feeds(config)
        except ConfigError as exc:
            raise StartupError(f"config error: {exc}") from None
        self.feeds: FeedService | None = None
        if feeds.sources:
            from engine.marketdata.feeds.service import FeedService

            self.feeds = FeedService(
                feeds,
                self.bus,
                self.clock,
                instrument=self.marketdata.instrument,
                registry=self.metrics.registry,
            )
        #: Risk gate, order manager, portfolio and the simulated venue (the only venue so far).
        self.trading: TradingCore | None = (
            TradingCore(config, self.store, self.bus, self.clock, self._on_invariant_violation)
            if config.sim.enabled
            else None
        )
        #: The configured live strategies: validated now (a bad entry refuses the start), hosted on
        #: the bus once trading runs; their ids reach the risk gate before the journal replays.
        self.strategies: StrategyRuntime | None = None
        if config.strategies:
            try:
                self.strategies = StrategyRuntime(config, self.bus, self.clock, self.metrics)
                if self.trading is None:
                    raise ConfigError(
                        "strategies", "live strategies need the trading core (sim.enabled = true)"
                    )
            except ConfigError as exc:
                raise StartupError(f"config error: {exc}") from None
            self.trading.strategy_ids = self.strategies.strategy_ids
        #: Authentication, roles and rate limits: its interceptor sees every call.
        self.auth = ApiAuth(config.auth, config.rate_limits)
        #: The store's writer when no trading core owns one (sim disabled): users, keys, audit.
        self._api_persistence: Persistence | None = None
        self.grpc = GrpcServer(
            config.grpc, self.metrics, self.status, interceptors=[self.auth.interceptor], tls=config.tls
        )
        #: Every stream subscriber (admission, heartbeats, drain) and the market-data fan-out.
        self.streams = Streams(config.streams)
        #: Bars from trades for every instrument and configured interval (``data.bars.<id>``).
        self.bars = BarService(
            self.bus,
            tuple(parse_interval(text) for text in config.bars.intervals),
            grace_ns=config.bars.grace_ms * 1_000_000,
        )
        self._bars_timer: asyncio.TimerHandle | None = None
        #: [questdb] time-series sink and [replay] recording feed.
        self.data = DataServices(config, self.bus, self.clock, self.marketdata, self.bars, feeds=self.feeds)
        self.marketdata_hub = MarketDataHub(
            self.marketdata, self.streams, bar_intervals_ns=self.bars.intervals_ns
        )
        marketdata_service = marketdata_pb2.DESCRIPTOR.services_by_name["MarketDataService"]
        self.grpc.register(
            add_service(marketdata_service),
            MarketDataServicer(self.marketdata, self.clock, self.marketdata_hub),
            marketdata_service.full_name,
        )
        names = ["store", "bus", "grpc", "metrics", "loop_lag"]
        if self.trading is not None:
            names += ["trading", "sim_venue", "market_simulator"]
        if self.feeds is not None:
            names.append("feeds")
        names += self.data.component_names
        self.components = {name: Component(name, self.clock) for name in names}
        for component in self.components.values():
            component.on_state_change(self._on_component_state)
        self.metrics.register_collector(
            CallbackCollector(
                counters=[
                    (
                        "algotrendy_bus_published",
                        "Messages published on the bus.",
                        lambda: self.bus.published_count,
                    ),
                    (
                        "algotrendy_bus_handler_errors",
                        "Bus handler calls that raised (isolated; dispatch continued).",
                        lambda: self.bus.handler_error_count,
                    ),
                    (
                        "algotrendy_handoff_rejected",
                        "Messages other threads could not hand over because the queue was full.",
                        lambda: self.handoff.rejected_count if self.handoff else 0,
                    ),
                ],
                gauges=[
                    (
                        "algotrendy_engine_state",
                        "EngineState (1 starting, 2 running, 3 draining, 4 stopped).",
                        lambda: int(self.state),
                    ),
                    (
                        "algotrendy_trading_state",
                        "TradingState (1 active, 2 reducing, 3 halted).",
                        # Read by the metrics thread: the value the loop published, never the gate.
                        lambda: self._published_trading_state,
                    ),
                ],
            )
        )
        self._stop_requested = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Bring every component up; on failure, tear down what started and re-raise."""
        loop = asyncio.get_running_loop()
        self.bus.bind_to_current_thread()
        self.bars.subscribe(self.bus)
        self._close_bars()
        self.marketdata_hub.attach(self.bus)
        self.bus.subscribe(TOPIC_RISK_EVENTS, self._publish_trading_state)
        self.bus.subscribe(TOPIC_TRADING_STATE, self._publish_trading_state)
        self.handoff = ThreadHandoff(self.bus, loop)
        self._set("bus", ComponentState.RUNNING)
        try:
            verify_kernels()
            self.lock.acquire()
            # Claim both ports before touching any state: a port conflict then changes nothing.
            self._set("grpc", ComponentState.STARTING)
            grpc_port = self.grpc.bind()
            metrics_port = None
            if self.config.metrics.enabled:
                metrics_port = self.metrics.serve_http(self.config.metrics.host, self.config.metrics.port)
                self._set(
                    "metrics",
                    ComponentState.RUNNING,
                    f"/metrics on {self.config.metrics.host}:{metrics_port}",
                )
            else:
                self._set("metrics", ComponentState.STOPPED, "disabled by metrics.enabled = false")
            self._set("store", ComponentState.STARTING)
            self.store.open(self.clock.timestamp_ns())
            self._set(
                "store",
                ComponentState.RUNNING,
                "previous run did not shut down cleanly" if self.store.previous_run_crashed else "",
            )
            if self.store.previous_run_crashed:
                log.warning("store.previous_run_crashed", data_dir=str(self.config.data_dir))
            if self.trading is not None:
                self._set("trading", ComponentState.STARTING, "restoring the journal, reconciling the venue")
                await self.trading.start()
                trading = self.trading
                assert trading.venue is not None
                for instrument in trading.instruments.values():
                    self.marketdata.add_source(instrument, trading.book_source(instrument.id))
                    self.bars.precisions[instrument.id] = (
                        instrument.price_precision,
                        instrument.size_precision,
                    )
                self._set(
                    "trading",
                    ComponentState.RUNNING,
                    f"{trading.recovered_events} events restored, {trading.reconciled_orders} orders reconciled",
                )
                self._register_trading_services(trading)
                if self.strategies is not None:
                    self.strategies.start(trading)
                venue_detail, market_detail = trading.component_details()
                self._set("sim_venue", ComponentState.RUNNING, venue_detail)
                self._set("market_simulator", ComponentState.RUNNING, market_detail)
            if self.feeds is not None:
                await self._start_feeds(self.feeds)
            await self.data.start(self.trading, self._set)
            await self._start_auth()
            await self.grpc.start()
            self._set("grpc", ComponentState.RUNNING, f"listening on {self.config.grpc.host}:{grpc_port}")
            self.loop_lag.start()
            self._set("loop_lag", ComponentState.RUNNING)
        except BaseException:
            await self._teardown()
            raise
        self.started_at_ns = self.clock.timestamp_ns()
        self.state = EngineState.RUNNING
        if self.trading is None:
            self._set_trading_state(TradingState.ACTIVE, "engine started")
        else:
            # The risk gate's state came back from the journal: a HALT before a crash stays HALTED.
            log.info("trading_state.restored", state=self.trading_state.name)
        self._publish_trading_state()
        await self.grpc.set_serving(True)
        log.info(
            "engine.started",
            version=__version__,
            instance=self.config.engine.instance,
            pid=os.getpid(),
            data_dir=str(self.config.data_dir),
            grpc_port=grpc_port,
            metrics_port=metrics_port,
            loop=type(loop).__module__,
        )

    def request_stop(self, reason: str = "requested") -> None:
        """Ask the engine to shut down gracefully (signal handlers call this; idempotent)."""
        if not self._stop_requested.is_set():
            log.info("engine.stop_requested", reason=reason)
            self._stop_requested.set()

    async def wait_stopped(self) -> None:
        await self._stop_requested.wait()

    async def stop(self) -> None:
        if self.state in (EngineState.DRAINING, EngineState.STOPPED):
            return
        self.state = EngineState.DRAINING
        log.info("engine.draining", grace_period_s=self.config.grpc.grace_period_s)
        await self._teardown()
        self.state = EngineState.STOPPED
        log.info("engine.stopped", uptime_s=round((self.clock.timestamp_ns() - self.started_at_ns) / 1e9, 3))

    async def _start_feeds(self, feeds: FeedService) -> None:
        """[feeds]: start them, serve their books through GetOrderBook, and give the risk gate each
        ``reference_fallbacks`` target's reference quote (its own while healthy, else a fallback's)."""
        self._set("feeds", ComponentState.STARTING)
        await feeds.start()
        for instrument, book in feeds.books():
            try:
                self.marketdata.add_book(instrument, book)
            except DuplicateError:  # the trading venue serves this instrument's book already
                continue
            self.bars.precisions[instrument.id] = (instrument.price_precision, instrument.size_precision)
        risk = self.trading.risk if self.trading is not None else None
        if risk is not None and self.config.feeds.reference_fallbacks:
            from engine.marketdata.feeds.service import TOPIC_REFERENCE

            self.bus.subscribe(f"{TOPIC_REFERENCE}.*", risk.on_quote_tick)
        self._set("feeds", ComponentState.RUNNING, feeds.describe())

    async def _teardown(self) -> None:
        if self.components["grpc"].state in (ComponentState.RUNNING, ComponentState.STARTING):
            self._set("grpc", ComponentState.STOPPING)
            self.streams.close()  # streams end now (UNAVAILABLE, clients resume) instead of at the grace end
            await self.grpc.stop(self.config.grpc.grace_period_s)
            self._set("grpc", ComponentState.STOPPED)
        if self.feeds is not None and self.components["feeds"].state in (
            ComponentState.RUNNING,
            ComponentState.STARTING,
        ):
            self._set("feeds", ComponentState.STOPPING)
            await self.feeds.stop()
            self._set("feeds", ComponentState.STOPPED)
        await self.data.stop_replay(self._set)
        if self._api_persistence is not None:
            await self._api_persistence.close()
            self._api_persistence = None
        if self._bars_timer is not None:
            self._bars_timer.cancel()
            self._bars_timer = None
        if self.loop_lag.running:
            self.loop_lag.stop()
            self._set("loop_lag", ComponentState.STOPPED)
        if self.trading is not None and self.components["trading"].state in (
            ComponentState.RUNNING,
            ComponentState.STARTING,
        ):
            self._set("trading", ComponentState.STOPPING)
            if self.strategies is not None:
                await self.strategies.stop()
            await self.trading.stop()
            for name in ("trading", "sim_venue", "market_simulator"):
                self._set(name, ComponentState.STOPPED)
        await self.data.stop(self._set)  # after trading: the sink gets the last fills and equity
        if self.handoff is not None:
            delivered = self.handoff.close()
            if delivered:
                log.info("handoff.drained", messages=delivered)
            self._set("bus", ComponentState.STOPPED)
        if self.store.is_open:
            self._set("store", ComponentState.STOPPING)
            self.store.close(self.clock.timestamp_ns())
            self._set("store", ComponentState.STOPPED)
        self.metrics.stop_http()
        if self.components["metrics"].state is ComponentState.RUNNING:
            self._set("metrics", ComponentState.STOPPED)
        self.lock.release()

    async def _start_auth(self) -> None:
        """Users, keys and sessions from the state tables (first start: the admin credential file),
        then AuthService and AdminService. They share the trading core's writer when it runs."""
        persistence = self.trading.persistence if self.trading is not None else None
        if persistence is None:
            persistence = self._api_persistence = Persistence(self.store, clock=self.clock.timestamp_ns)
            persistence.start()
        await self.auth.start(persistence, self.config.data_dir, self.clock.timestamp_ns)
        audit = principal_audit(persistence.audit)
        for add_to_server, servicer, name in self.auth.services(self.store, audit, self._halt_on_internal):
            self.grpc.register(add_to_server, servicer, name)

    def _register_trading_services(self, trading: TradingCore) -> None:
        """OrderService, PortfolioService and RiskService over the started trading core."""
        assert trading.oms is not None and trading.portfolio is not None and trading.risk is not None
        assert trading.persistence is not None
        halt = self._halt_on_internal
        # Audit records name the authenticated caller of each command.
        audit = principal_audit(trading.persistence.audit)
        lookup = self.marketdata.instrument

        def account_exists(account_id: AccountId) -> bool:
            return account_id == trading.account

        # Order events and position updates: released once durable, resumable from the journal.
        journal = trading.persistence.journal
        head = trading.oms.sequence
        order_events = SequencedHub(
            "order-event",
            OrderEventSource(journal),
            journal,
            self.streams,
            orders_pb2.StreamOrderEventsResponse,
            head=head,
        )
        positions = SequencedHub(
            "position",
            PositionSource(journal, trading.instruments.values(), trading.portfolio.position),
            journal,
            self.streams,
            portfolio_pb2.StreamPositionsResponse,
            head=head,
        )
        self.bus.subscribe(f"{TOPIC_ORDER_EVENTS}.*", order_events.on_order_event)
        self.bus.subscribe(f"{TOPIC_ORDER_EVENTS}.*", positions.on_order_event)
        order_service = orders_pb2.DESCRIPTOR.services_by_name["OrderService"]
        portfolio_service = portfolio_pb2.DESCRIPTOR.services_by_name["PortfolioService"]
        self.grpc.register(
            add_service(order_service),
            OrderServicer(
                trading.oms,
                lookup,
                self.clock,
                account_exists=account_exists,
                audit=audit,
                on_internal=halt,
                events=order_events,
            ),
            order_service.full_name,
        )
        self.grpc.register(
            add_service(portfolio_service),
            PortfolioServicer(
                trading.portfolio,
                lookup,
                self.clock,
                currency=trading.pnl_currency(),
                account_exists=account_exists,
                equity_marks=trading.risk.equity_marks,
                on_internal=halt,
                positions=positions,
            ),
            portfolio_service.full_name,
        )
        self.grpc.register(
            risk_pb2_grpc.add_RiskServiceServicer_to_server,
            RiskServicer(
                trading.risk,
                lookup,
                self.clock,
                publish=trading.journal,
                audit=audit,
                on_internal=halt,
            ),
            risk_pb2.DESCRIPTOR.services_by_name["RiskService"].full_name,
        )
        # Backtests run in worker processes, never on this loop.
        self.grpc.register(
            backtest_pb2_grpc.add_BacktestServiceServicer_to_server, BacktestServicer(), BACKTEST_SERVICE
        )

    def _close_bars(self) -> None:
        """Close bars of quiet markets on time (a bar otherwise closes with the next trade)."""
        self.bars.on_time(self.clock.timestamp_ns())
        self._bars_timer = asyncio.get_running_loop().call_later(
            self.config.bars.close_check_ms / 1000, self._close_bars
        )

    def _halt_on_internal(self, exc: BaseException) -> None:
        """An RPC ended in INTERNAL: something unexpected happened; correct or halt."""
        self._on_invariant_violation(InvariantViolation(f"internal error in the API: {exc!r}"))

    # -- state ---------------------------------------------------------------------------------
    def status(self) -> EngineStatus:
        lag = self.loop_lag.snapshot()
        now = self.clock.timestamp_ns()
        self.metrics.uptime.set(max(now - self.started_at_ns, 0) / 1e9)
        return EngineStatus(
            version=__version__,
            instance=self.config.engine.instance,
            pid=os.getpid(),
            engine_state=self.state,
            trading_state=self.trading_state,
            started_at_ns=self.started_at_ns,
            server_time_ns=now,
            components=tuple(c.status for c in self.components.values()),
            loop_lag_p50_ns=lag.p50_ns,
            loop_lag_p99_ns=lag.p99_ns,
            loop_lag_max_ns=lag.max_ns,
            loop_lag_samples=lag.samples,
            loop_lag_window_ns=lag.window_ns,
        )

    def _set(self, name: str, state: ComponentState, detail: str = "") -> None:
        self.components[name].set_state(state, detail)

    def _on_component_state(self, status: ComponentStatus, previous: ComponentState) -> None:
        log.debug("component.state", component=status.name, state=status.state.name, detail=status.detail)
        if self.bus.owner_thread is not None:
            now = self.clock.timestamp_ns()
            self.bus.publish(
                TOPIC_COMPONENT_STATE,
                ComponentStateChanged(
                    ts_event=now,
                    ts_init=now,
                    component=status.name,
                    previous=previous,
                    current=status.state,
                    detail=status.detail,
                ),
            )

    @property
    def trading_state(self) -> TradingState:
        """The account's effective state at the risk gate once trading runs, else the engine's own."""
        trading = self.trading
        if trading is not None and trading.risk is not None:
            return trading.risk.trading_state(trading.account)
        return self._trading_state

    def _set_trading_state(self, state: TradingState, reason: str) -> None:
        previous = self.trading_state
        self._trading_state = state
        trading = self.trading
        if trading is not None and trading.risk is not None and trading.persistence is not None:
            # Journalled, so the state survives a restart (a HALT stays halted).
            change = trading.risk.set_trading_state(state, reason, self.clock.timestamp_ns())
            try:
                trading.journal(change)
            except StorageError as exc:  # the store itself failed: halt anyway, say it is not durable
                log.critical("trading_state.not_journalled", state=state.name, error=str(exc))
        if previous is not state:
            log.info("trading_state.changed", previous=previous.name, current=state.name, reason=reason)
            now = self.clock.timestamp_ns()
            self.bus.publish(
                TOPIC_TRADING_STATE,
                TradingStateChanged(
                    ts_event=now,
                    ts_init=now,
                    account_id=None,
                    previous=previous,
                    current=state,
                    reason=reason,
                ),
            )

    def _publish_trading_state(self, _event: object = None) -> None:
        """On the loop: refresh the copy of the trading state that other threads may read."""
        self._published_trading_state = int(self.trading_state)

    def _on_invariant_violation(self, exc: InvariantViolation) -> None:
        """Correct or halt: an invariant violation anywhere stops new trading immediately."""
        log.critical("invariant_violation", error=str(exc))
        self._set_trading_state(TradingState.HALTED, f"invariant violation: {exc}")


# -- process entry point ------------------------------------------------------------------------
async def _serve(config: EngineConfig) -> None:
    engine = Engine(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, engine.request_stop, signal.Signals(sig).name)
    try:
        # Everything the start builds (modules, config, instruments, the orders, positions and risk
        # state rebuilt from the journal) lives for the whole run. The collector is paused over the
        # start -- a rebuild of millions of objects would only be rescanned -- and what exists then
        # is frozen out of its reach (``gc.freeze``), so a collection later scans only what trading
        # allocates: shorter GC pauses on the loop (standard CPython server practice), and no pass
        # over the whole rebuild right after it (~2 s after a 1M-record journal, measured).
        gc.collect()  # what imports and configuration left behind (cheap before the start)
        with gc_paused(freeze=True):
            await engine.start()  # tears down what it started if it fails
        try:
            await engine.wait_stopped()
        finally:
            try:
                await asyncio.wait_for(engine.stop(), timeout=config.engine.shutdown_timeout_s)
            except TimeoutError:
                log.error("engine.shutdown_timeout", timeout_s=config.engine.shutdown_timeout_s)
                raise AlgoTrendyError(
                    f"graceful shutdown did not finish within {config.engine.shutdown_timeout_s} s",
                    reason="SHUTDOWN_TIMEOUT",
                ) from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def serve(
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    override_labels: Mapping[str, str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run an engine until SIGINT/SIGTERM; returns the process exit status.

    Configuration errors and refusals to start (port in use, data directory locked, kernels
    missing) print one line to stderr and return ``EXIT_CONFIG`` (2).
    """
    try:
        config = load_config(
            config_file,
            env=os.environ if env is None else env,
            overrides=overrides,
            override_labels=override_labels,
        )
    except ConfigError as exc:
        _print_error(f"config error: {exc}")
        return EXIT_CONFIG
    # py-lmdb releases the GIL around every record it writes; with the default 5 ms switch interval
    # the store's writer thread can wait that long per record whenever the loop is busy. 0.5 ms
    # keeps group commit above 500k events/s (benchmarks/test_bench_store.py). The lasting fix is a
    # writer process fed through a pipe.
    sys.setswitchinterval(0.0005)
    fmt = configure_logging(config.log.level, config.log.format)
    log.info("config.effective", config=redacted(config), log_format=fmt)
    try:
        uvloop.run(_serve(config))
    except StartupError as exc:
        log.error("engine.start_refused", error=exc.message)
        _print_error(f"cannot start: {exc.message}")
        return EXIT_CONFIG
    except AlgoTrendyError as exc:
        log.error("engine.failed", error=exc.message, reason=exc.reason)
        _print_error(f"engine failed: {exc.message}")
        return 1
    return 0


def _print_error(message: str) -> None:
    print(f"algotrendy: {message}", file=sys.stderr, flush=True)
