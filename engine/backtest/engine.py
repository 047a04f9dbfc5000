"""``Backtest``: replay bars through the engine's own components in simulated time.

The pieces are the live ones: the message bus, the strategy host and its contexts, the compiled risk
gate (``RiskEngine``), the order manager (``OrderManager``: state machine, sequencing, journal port),
the paper venue (``PaperVenue``: matching, maker/taker fees, latency) and the exact portfolio. Only the
clock (``TestClock``), the journal (in memory) and the market (bars, see ``engine.backtest.fills``)
differ. Same inputs, same outputs: nothing reads the wall clock, iteration orders are fixed, and
client order ids are ``<strategy>-<n>``.

The replay loop is built for speed (about 0.6 us of CPU per bar with the SMA-cross strategy's own
work included, measured by ``benchmarks/test_bench_backtest.py``; every order costs far more: risk
gate, OMS, paper venue, exact portfolio, and its records in the result):

* bars come from NumPy arrays in chunks and go to the strategy host's bar fast path
  (``StrategyHost.bar_pusher``: the strategy's ``BarView`` overwritten in place, no ``Bar`` object and
  no bus dispatch per bar);
* order events go from the run's one OMS subscriber straight to the strategy host's
  ``on_order_event`` (the call the live bus makes), only the kinds the host acts on; the bus topic
  ``events.order.<account>`` carries them only when something subscribed to it before the run;
* order records (``result.orders``) are built from the OMS's orders, fill records (``result.fills``)
  from the fill log, when first read; round trips come from the fills' integers;
* the clock is moved by a plain assignment unless a timer (strategy timers, venue latency) is due;
* the venue, risk gate and order manager are touched only when the strategy sends something or when
  we have orders working (then the bar's intrabar path is walked, see ``fills``);
* the equity curve is not marked bar by bar in exact money: fills are recorded with the bar they
  happened in, and the per-bar curve (float, analytics) is computed once at the end with NumPy. The
  final equity is exact: the portfolio is marked at the last close.

Risk in a backtest: the real gate with wide default limits (``BacktestRisk``); the post-trade loss
monitor (daily loss / drawdown breach) is not fed per bar.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import operator
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from engine.backtest.data import BarSeries, BarStream, load_bar_stream
from engine.backtest.fills import BarBooks, FillAt
from engine.backtest.metrics import equity_stats, trade_stats
from engine.backtest.result import BacktestResult, FillRecord, TradeRecord, decimal_str
from engine.backtest.runtime import BacktestRisk, InstantVenue, MemoryJournal, SimOrderRouter
from engine.bus import MessageBus
from engine.core.clock import TestClock
from engine.core.enums import LiquiditySide, OrderStatus, OrderType, Side, TimeInForce, TradingState
from engine.core.errors import ValidationError
from engine.core.events import (
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from engine.core.fixed import EXACT, Money
from engine.core.ids import AccountId, InstrumentId, StrategyId
from engine.ext.backtest.replay import run_bars
from engine.marketdata.book import OrderBook
from engine.oms.manager import OrderManager
from engine.oms.order import TERMINAL_STATUSES
from engine.oms.portfolio import Portfolio
from engine.risk import RiskEngine
from engine.risk.limits import AccountLimits, InstrumentLimits, StrategyLimits
from engine.strategy.api import Strategy
from engine.strategy.host import StrategyHost
from engine.strategy.loader import load_strategy
from engine.venues.sim import PaperVenue, PaperVenueConfig

__all__ = ["METRIC_KEYS", "Backtest", "BacktestConfig", "ProgressCallback", "run_backtest"]

#: The keys of ``BacktestResult.metrics`` (``--json``), in order.
METRIC_KEYS = (
    "total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "max_drawdown_duration",
    "max_drawdown_duration_bars", "calmar", "win_rate", "profit_factor", "expectancy", "exposure",
    "turnover", "trades", "fills", "orders", "bars", "starting_cash", "final_equity", "net_pnl", "fees",
    "gross_profit", "gross_loss", "currency", "periods_per_year", "strategy_errors",
)  # fmt: skip
#: progress(bars_done, bars_total)
ProgressCallback = Callable[[int, int], None]
TOPIC_ORDER_EVENTS = "events.order"
_CHUNK = 65_536
_WIDE_MONEY = "1000000000000000"
#: Largest order / position in lots the venue accepts (2**53 - 1).
_MAX_LOTS = (1 << 53) - 1
_WIDE_RATE = 1_000_000_000
#: The order events that can end an order (the state machine's terminal transitions): only after
#: one of these can an order leave the working set.
_MAY_CLOSE = frozenset((OrderFilled, OrderCanceled, OrderRejected, OrderExpired, OrderDenied))


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """How to simulate. Money and rates are exact decimals (strings accepted)."""

    cash: Decimal = Decimal("100000")
    currency: str = "USD"
    fill: FillAt = FillAt.NEXT_OPEN
    slippage_bps: Decimal = Decimal(0)
    #: Taker fee, and the maker fee (defaults to the taker fee when None), in basis points.
    fees_bps: Decimal = Decimal(0)
    maker_fees_bps: Decimal | None = None
    order_latency_ns: int = 0
    report_latency_ns: int = 0
    #: Price grid of the data (None: inferred per symbol) and the lot size of orders (None: one tick x
    #: one lot = 1e-11 of the quote currency, at most 8 decimals: 0.00000001 BTC at a 0.001 tick).
    tick_size: str | None = None
    size_increment: str | None = None
    account: str = "backtest"

    def __post_init__(self) -> None:
        for name in ("cash", "slippage_bps", "fees_bps", "maker_fees_bps"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                d = value if isinstance(value, Decimal) else Decimal(str(value))
            except Exception:
                raise ValidationError(name, f"not a decimal number: {value!r}") from None
            if not d.is_finite():
                raise ValidationError(name, f"must be finite, got {value!r}")
            object.__setattr__(self, name, d)
        if self.cash <= 0:
            raise ValidationError("cash", f"must be positive, got {self.cash}")
        if self.slippage_bps < 0 or self.slippage_bps >= 10_000:
            raise ValidationError("slippage_bps", f"must be in [0, 10000), got {self.slippage_bps}")
        if abs(self.fees_bps) >= 10_000 or (
            self.maker_fees_bps is not None and abs(self.maker_fees_bps) >= 10_000
        ):
            raise ValidationError("fees_bps", "must be within (-10000, 10000)")
        if self.order_latency_ns < 0 or self.report_latency_ns < 0:
            raise ValidationError("latency", "must be >= 0 ns")
        try:
            object.__setattr__(self, "fill", FillAt(self.fill))
        except ValueError:
            raise ValidationError("fill", f"must be one of {', '.join(f.value for f in FillAt)}") from None

    @property
    def taker_fee(self) -> Decimal:
        return self.fees_bps / 10_000

    @property
    def maker_fee(self) -> Decimal:
        return (self.fees_bps if self.maker_fees_bps is None else self.maker_fees_bps) / 10_000

    def describe(self) -> dict[str, Any]:
        return {
            "cash": str(self.cash),
            "currency": self.currency,
            "fill": self.fill.value,
            "slippage_bps": str(self.slippage_bps),
            "fees_bps": str(self.fees_bps),
            "maker_fees_bps": str(self.maker_fees_bps if self.maker_fees_bps is not None else self.fees_bps),
            "order_latency_ns": self.order_latency_ns,
            "report_latency_ns": self.report_latency_ns,
            "size_increment": self.size_increment or "auto",
        }


class Backtest:
    """One run: ``Backtest(strategy, data, config).run()`` -> ``BacktestResult``."""

    def __init__(
        self,
        strategy: str | type[Strategy],
        data: BarStream | Sequence[str],
        config: BacktestConfig | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        strategy_id: str = "bt",
    ) -> None:
        self.config = cfg = config or BacktestConfig()
        self.strategy_cls = load_strategy(strategy)
        # Parameters are checked before any data is read: an unknown one lists the valid ones.
        self.params = self.strategy_cls.resolve(dict(params or {}))
        self.strategy_id = StrategyId(strategy_id)
        self.account = AccountId(cfg.account)
        self._load(data)

    def _load(self, data: Any) -> None:
        """Read the market data (bars here; ``engine.backtest.l2`` reads L2 captures)."""
        cfg = self.config
        if isinstance(data, BarStream):
            self.stream = data
        else:
            self.stream = load_bar_stream(
                list(data),
                tick_size=cfg.tick_size,
                size_increment=cfg.size_increment,
                quote=cfg.currency,
                maker_fee=cfg.maker_fee,
                taker_fee=cfg.taker_fee,
            )
        self.instruments = [s.instrument for s in self.stream.series]
        quotes = {i.quote for i in self.instruments}
        if len(quotes) == 1 and cfg.currency not in quotes:
            # A recording carries its instruments (e.g. quoted in USDT): cash is held in their quote.
            self.config = cfg = dataclasses.replace(cfg, currency=quotes.pop())
        for inst in self.instruments:
            if (
                inst.maker_fee != cfg.maker_fee
                or inst.taker_fee != cfg.taker_fee
                or inst.quote != cfg.currency
            ):
                raise ValidationError("data", "the bar stream was loaded with other fees or currency")

    # == the run ===================================================================================
    def run(self, progress: ProgressCallback | None = None) -> BacktestResult:
        """Run to the end (its own event loop) and return the result."""
        box: list[BacktestResult] = []

        async def main() -> None:
            # The main coroutine returns nothing: on the way out ``asyncio.run`` (3.11) formats its
            # task, result included (``signal.getsignal`` builds an error text with the repr of the
            # SIGINT handler, a partial bound to the task) -- every fill and order of the result,
            # tens of milliseconds thrown away.
            box.append(await self.run_async(progress))

        asyncio.run(main())
        return box[0]

    async def run_async(self, progress: ProgressCallback | None = None) -> BacktestResult:
        started = time.perf_counter()
        self._build()
        with _fewer_young_collections():
            try:
                await self._replay(progress)
            finally:
                self._host_stop()
            result = self._result()
        result.elapsed_s = time.perf_counter() - started
        return result

    def _build(self) -> None:
        cfg = self.config
        self.clock = clock = TestClock(self._start_ns())
        self.bus = MessageBus()
        # Notional units fine enough that one tick x one lot is a whole unit for every instrument.
        precision = max(i.price_precision + i.size_precision for i in self.instruments)
        risk = RiskEngine(quote_currency=cfg.currency, notional_precision=min(precision, 18))
        self.risk = BacktestRisk(risk)
        # "Wide" limits must still fit the gate's int64 notional units at this precision.
        wide_money = Money(min(int(_WIDE_MONEY), (1 << 62) // 10 ** min(precision, 18)), cfg.currency)
        for inst in self.instruments:
            ix = risk.register_instrument(
                inst,
                InstrumentLimits(
                    max_order_quantity=inst.lots_to_quantity(_MAX_LOTS),
                    max_order_notional=wide_money,
                    max_position=inst.lots_to_quantity(_MAX_LOTS),
                    price_band_bps=1_000_000,
                    max_data_age_ms=86_400_000,
                ),
            )
            self.risk.register(inst.id, ix)
        risk.register_account(
            self.account,
            AccountLimits(
                max_gross_exposure=wide_money,
                max_net_exposure=wide_money,
                max_open_orders=100_000,
                max_orders_per_second=_WIDE_RATE,
                order_burst=_WIDE_RATE,
                max_daily_loss=wide_money,
                max_drawdown=wide_money,
                breach_state=TradingState.HALTED,
            ),
        )
        risk.register_strategy(
            self.strategy_id, StrategyLimits(max_orders_per_second=_WIDE_RATE, order_burst=_WIDE_RATE)
        )
        self.venue = venue = PaperVenue(
            self._market_books(),
            clock,
            PaperVenueConfig(
                order_latency_ns=cfg.order_latency_ns,
                report_latency_ns=cfg.report_latency_ns,
                accounts={str(self.account): {cfg.currency: str(cfg.cash)}},
            ),
            on_event=self._on_venue_event,
        )
        self._bind_market(venue)
        self.journal = MemoryJournal()
        # Zero latency: commands run through the venue's synchronous core without a clock alert each.
        self.instant = (
            InstantVenue(venue, self._on_venue_event, clock)
            if cfg.order_latency_ns == 0 and cfg.report_latency_ns == 0
            else None
        )
        self.oms = oms = OrderManager(
            clock=clock,
            venue=self.instant or venue,
            risk=self.risk,
            journal=self.journal,
            instruments=self.instruments,
        )
        if self.instant is not None:
            # The zero-latency venue's events go straight to the OMS (they are all order events,
            # built for this call only: the OMS may sequence them in place).
            self.instant.set_event_handler(functools.partial(oms.on_order_event, owned=True))
        self.portfolio = Portfolio(
            self.instruments, balances={self.account: {cfg.currency: Money(str(cfg.cash), cfg.currency)}}
        )
        self.router = SimOrderRouter(oms, self._before_send)
        self._fill_log: list[tuple[int, OrderFilled]] = []
        # What ``_on_order_event`` calls for every event, bound once.
        self._portfolio_fill = self.portfolio.on_fill
        self._orders_by_key = oms.find
        self._publish = self.bus.publish_c
        oms.subscribe(self._on_order_event)
        self._order_topic = f"{TOPIC_ORDER_EVENTS}.{self.account}"
        #: Client order ids of our orders that are working (submitted and not finished).
        self._working: set[Any] = set()
        #: Per series, the row of its last bar seen (-1 before the first).
        self._last_row = [-1] * len(self.instruments)
        #: Per series, what ``_before_send`` reads (instrument, close and open readers, bar count):
        #: built on the first order.
        self._reference_columns: list[tuple[InstrumentId, Any, Any, int]] | None = None
        self._fill_bar = 0
        self._dirty = True
        self._row_by_time = False
        #: (first row, close times) of the chunk ``_replay_single`` is replaying: a Python list
        #: that ``_before_send`` bisects instead of calling into NumPy per order.
        self._chunk: tuple[int, list[int]] = (0, [])
        self._ref_ts = -1
        self._in_walk = False
        venue.start()
        self._host_start()

    def _start_ns(self) -> int:
        return min(int(s.ts_open[0]) for s in self.stream.series)

    def _market_books(self) -> dict[InstrumentId, OrderBook]:
        """The books the venue fills against: synthetic one-level books moved by the bars."""
        self.books = BarBooks(self.instruments, self.config.slippage_bps)
        return self.books.books

    def _bind_market(self, venue: PaperVenue) -> None:
        self.books.bind(venue)

    # -- strategy host ------------------------------------------------------------------------------
    def _host_start(self) -> None:
        self.host = host = StrategyHost(
            clock=self.clock,
            router=self.router,
            portfolio=self.portfolio,
            instruments=self.instruments,
            account_id=self.account,
        )
        host.add(
            self.strategy_cls,
            instruments=[i.id for i in self.instruments],
            params=self.params,
            strategy_id=str(self.strategy_id),
        )
        # Order events go from the run's one OMS subscriber (``_on_order_event``) straight to the host
        # (bars take the host's fast path too); the bus carries them only for its own subscribers.
        host.attach(self.bus, order_events=False)
        self._host_order_event = host.on_order_event
        self._host_order_types = host.order_event_types()
        self._bus_order_events = self.bus.has_subscribers(self._order_topic)
        host.start()
        self._settle_now()

    def _host_stop(self) -> None:
        host = getattr(self, "host", None)
        if host is not None and host.started:
            host.stop()

    # -- the loop ----------------------------------------------------------------------------------
    async def _replay(self, progress: ProgressCallback | None) -> None:
        stream = self.stream
        n = len(stream)
        series = stream.series
        clock = self.clock
        heap = clock._heap  # TestClock's timer heap: a due timer means advance_to, else a plain move
        router = self.router
        host = self.host
        pushers = [host.bar_pusher(s.instrument.id, s.interval_ns) for s in series]
        next_open = self.config.fill is FillAt.NEXT_OPEN
        last_row = self._last_row
        # Commands waiting for the zero-latency venue (a deque that stays empty otherwise).
        queue = self.instant._queue if self.instant is not None else ()
        single = len(series) == 1
        if single:
            await self._replay_single(progress)
            return
        done = 0
        for start in range(0, n, _CHUNK):
            end = min(n, start + _CHUNK)
            which = stream.series_of[start:end].tolist()
            rows = stream.row_of[start:end].tolist()
            cols = [_chunk_columns(s, rows, single) for s in series]
            for j in range(end - start):
                s = which[j]
                tso, tsc, o, h, lo, c, v = cols[s]
                jj = j if single else rows[j]
                t = tsc[jj]
                k = start + j
                if self._working:
                    self._walk(s, rows[j], k)
                if heap and heap[0].next_ns <= t:
                    clock.advance_to(t)
                else:
                    clock._now = t
                last_row[s] = rows[j]
                self._dirty = True
                self._fill_bar = k
                sent = router.commands
                pushers[s](tso[jj], t, o[jj], h[jj], lo[jj], c[jj], v[jj], 0)
                if router.commands != sent or (heap and heap[0].next_ns <= t) or queue:
                    if next_open:
                        self._fill_bar = k + 1
                    if self._deliver_due(t):
                        await self._settle(t)
            done = end
            if progress is not None:
                progress(done, n)

    async def _replay_single(self, progress: ProgressCallback | None) -> None:
        """The loop for one instrument, kept to the minimum per bar: move the clock, push the bar;
        the current bar is found from the clock when an order needs it (``_before_send``)."""
        series = self.stream.series[0]
        n = len(series)
        clock = self.clock
        heap = clock._heap
        router = self.router
        push = self.host.bar_pusher(series.instrument.id, series.interval_ns)
        next_open = self.config.fill is FillAt.NEXT_OPEN
        queue = self.instant._queue if self.instant is not None else ()
        working = self._working
        as_float = series.as_float
        self._row_by_time = True
        for start in range(0, n, _CHUNK):
            end = min(n, start + _CHUNK)
            tso = series.ts_open[start:end].tolist()
            tsc = series.ts_close[start:end].tolist()
            self._chunk = (start, tsc)
            o = as_float(series.open[start:end]).tolist()
            h = as_float(series.high[start:end]).tolist()
            lo = as_float(series.low[start:end]).tolist()
            c = as_float(series.close[start:end]).tolist()
            v = series.volume[start:end].tolist()
            # The bars that need nothing but the strategy run in the compiled loop (``run_bars``:
            # clock, push, the checks below, in this order); it stops before a bar with working
            # orders or an alert due (that bar runs here) and after a bar that left work for the
            # engine (delivered here).
            k = start
            while k < end:
                stop = run_bars(
                    k, end, start, tso, tsc, o, h, lo, c, v, push, clock, heap, working, queue, router
                )
                if stop == end:
                    break
                if stop >= 0:  # bar ``stop`` needs the engine first: the whole bar runs here
                    k = stop
                    i = k - start
                    t = tsc[i]
                    if working:
                        self._walk(0, k, k)
                    if heap and heap[0].next_ns <= t:
                        self._fill_bar = k
                        clock.advance_to(t)
                    else:
                        clock._now = t
                    push(tso[i], t, o[i], h[i], lo[i], c[i], v[i])
                    k += 1
                    if not (queue or router.pending or (heap and heap[0].next_ns <= t)):
                        continue
                else:  # bar ``-stop - 1`` was pushed and left work for the engine
                    k = -stop
                    t = tsc[k - 1 - start]
                self._fill_bar = k if next_open else k - 1
                if self._deliver_due(t):
                    await self._settle(t)
            if progress is not None:
                progress(end, n)

    def _walk(self, s: int, row: int, k: int) -> None:
        """Work our resting orders through bar ``row`` of series ``s``: open, the nearer extreme,
        the other extreme, close (see ``engine.backtest.fills``)."""
        series = self.stream.series[s]
        iid = series.instrument.id
        t0 = int(series.ts_open[row])
        t1 = int(series.ts_close[row])
        step = (t1 - t0) // 3
        o, h, lo, c = (
            int(series.open[row]),
            int(series.high[row]),
            int(series.low[row]),
            int(series.close[row]),
        )
        path = (o, lo, h, c) if c >= o else (o, h, lo, c)
        self._fill_bar = k
        self._dirty = True
        # Orders sent from callbacks during the walk take the book of the path point they see.
        self._in_walk = True
        try:
            for n, ticks in enumerate(path):
                if not self._working:
                    break
                ts = t1 if n == 3 else t0 + n * step
                ts = max(ts, self.clock.timestamp_ns())
                self._advance(ts)
                self.risk.set_price(iid, ticks, ts)
                self.books.print_at(iid, ticks, ts)
                if self.instant is not None:
                    self.instant.flush()
        finally:
            self._in_walk = False

    def _advance(self, ts: int) -> None:
        clock = self.clock
        heap = clock._heap
        if heap and heap[0].next_ns <= ts:
            clock.advance_to(ts)
        elif ts > clock._now:
            clock._now = ts

    def _deliver_due(self, t: int) -> bool:
        """Deliver everything due at ``t`` that runs synchronously (zero-latency venue commands and
        reports, timers); True when OMS work is suspended on the loop (then ``_settle``). The usual
        order needs no loop round trip, so the replay awaits nothing for it."""
        clock = self.clock
        heap = clock._heap
        instant = self.instant
        queue = instant._queue if instant is not None else ()  # (``instant.pending``, no call)
        while True:
            if queue:
                instant.flush()  # type: ignore[union-attr]
                continue
            if heap and heap[0].next_ns <= t:
                clock.advance_to(t)
                continue
            return self.router.pending > 0

    async def _settle(self, t: int) -> None:
        """Deliver everything due at ``t`` (``_deliver_due``) and resume suspended OMS work, until
        nothing is left for this instant."""
        while True:
            if not self._deliver_due(t):
                return
            await asyncio.sleep(0)  # let the suspended OMS work resume

    def _settle_now(self) -> None:
        clock = self.clock
        heap = clock._heap
        now = clock.timestamp_ns()
        while heap and heap[0].next_ns <= now:
            clock.advance_to(now)

    # -- events ------------------------------------------------------------------------------------
    def _on_venue_event(self, event: Any) -> None:
        # The paper venue builds each report for this call only (``PaperVenue.apply`` returns a new
        # list; the venue keeps no reference): the OMS may sequence it in place instead of copying.
        if isinstance(event, OrderEvent):
            self.oms.on_order_event(event, owned=True)

    def _on_order_event(self, event: OrderEvent) -> None:
        """Every order event the OMS applied, in one dispatch: the portfolio and the fill log, the
        working set, the strategy host (only the event kinds it acts on, see
        ``StrategyHost.order_event_types``), and the bus topic ``events.order.<account>`` when
        something subscribed to it before the run started (nothing does by default: the host is
        called directly, as the live app's bus would call it)."""
        kind = type(event)
        if kind is OrderFilled:
            self._portfolio_fill(event)  # type: ignore[arg-type]
            self._fill_log.append((self._fill_bar, event))  # type: ignore[arg-type]
        if kind is OrderSubmitted:
            self._working.add(event.client_order_id)
        elif kind in _MAY_CLOSE and event.client_order_id in self._working:
            order = self._orders_by_key(event.account_id, event.client_order_id)
            if order is None or order.status in TERMINAL_STATUSES:
                self._working.discard(event.client_order_id)
        host_types = self._host_order_types
        if host_types is None or kind in host_types:
            self._host_order_event(event)
        if self._bus_order_events:
            self._publish(self._order_topic, event)

    def _before_send(self) -> None:
        """Right before a command goes to the OMS: show the venue and the risk gate the current
        prices (lazily: bars without orders never pay for this)."""
        if self._in_walk:
            return
        ts = self.clock._now  # (``timestamp_ns()`` of the run's TestClock, without the call)
        if self._row_by_time:  # one instrument: its last closed bar follows from the clock
            if ts == self._ref_ts:
                return
            self._ref_ts = ts
            first, chunk = self._chunk
            if chunk and chunk[0] <= ts <= chunk[-1]:
                # Within the chunk being replayed (close times strictly increase): its rows before
                # ``first`` all closed earlier, the ones after it later.
                self._last_row[0] = first + bisect_right(chunk, ts) - 1
            else:  # (``on_start`` / ``on_stop``: the method, not the ``np.searchsorted`` wrapper)
                closes = self.stream.series[0].ts_close
                self._last_row[0] = int(closes.searchsorted(ts, side="right")) - 1
        elif not self._dirty:
            return
        self._dirty = False
        next_open = self.config.fill is FillAt.NEXT_OPEN
        set_price, set_reference = self.risk.set_price, self.books.set_reference
        columns = self._reference_columns
        if columns is None:
            # ``ndarray.item`` reads a Python int straight from the array (``int(a[i])`` builds a
            # NumPy scalar first).
            columns = self._reference_columns = [
                (s.instrument.id, s.close.item, s.open.item, len(s)) for s in self.stream.series
            ]
        for (iid, close_at, open_at, n), row in zip(columns, self._last_row, strict=True):
            if row < 0:
                continue
            close = close_at(row)
            set_price(iid, close, ts)
            if not next_open:
                set_reference(iid, close, ts)
            elif row + 1 < n:
                set_reference(iid, open_at(row + 1), ts)
            else:  # the last bar has no next open: nothing to fill against
                self.books.clear(iid, ts)

    # == results ===================================================================================
    def _result(self) -> BacktestResult:
        cfg = self.config
        stream = self.stream
        n = len(stream)
        currency = cfg.currency
        ts_last = self.clock.timestamp_ns()
        for series in stream.series:
            if len(series):
                self.portfolio.mark(
                    series.instrument.id, series.instrument.ticks_to_price(int(series.close[-1])), ts_last
                )
        final_equity = self.portfolio.equity(self.account, currency).as_decimal()
        fees_total = self.portfolio.fees(self.account).get(currency)
        fees = fees_total.as_decimal() if fees_total is not None else Decimal(0)

        fill_log = self._fill_log
        columns = _FillColumns(fill_log)
        fills: list[FillRecord] | Callable[[], list[FillRecord]]
        fills = functools.partial(_fill_records, fill_log)  # (built when first read)
        trades = _round_trips_exact(columns)
        if trades is None:  # the general path (see ``_round_trips_exact``)
            fills = fills()
            trades = _round_trips(fills)
        ts_close, equity, position_value, notional = _equity_curve(stream, columns, float(cfg.cash))
        in_position = position_value != 0
        first_open = min(int(s.ts_open[0]) for s in stream.series)
        last_close = max(int(s.ts_close[-1]) for s in stream.series)
        stats = equity_stats(equity, ts_close, float(cfg.cash), last_close - first_open, in_position)
        pnl = np.array([float(t.pnl) for t in trades], dtype=np.float64)
        tstats = trade_stats(pnl)
        mean_equity = float(equity.mean()) if n else float(cfg.cash)
        gross_profit = sum((t.pnl for t in trades if t.pnl > 0), Decimal(0))
        gross_loss = -sum((t.pnl for t in trades if t.pnl < 0), Decimal(0))
        orders = self.oms.orders()  # (the OMS's own orders: their records are built when read)
        metrics: dict[str, Any] = {
            "total_return": stats.total_return,
            "cagr": stats.cagr,
            "volatility": stats.volatility,
            "sharpe": stats.sharpe,
            "sortino": stats.sortino,
            "max_drawdown": stats.max_drawdown,
            "max_drawdown_duration": stats.max_drawdown_duration,
            "max_drawdown_duration_bars": stats.max_drawdown_duration_bars,
            "calmar": stats.calmar,
            "win_rate": tstats["win_rate"],
            "profit_factor": tstats["profit_factor"],
            "expectancy": tstats["expectancy"],
            "exposure": stats.exposure,
            "turnover": notional / mean_equity if mean_equity else None,
            "trades": len(trades),
            "fills": len(fill_log),
            "orders": len(orders),
            "bars": n,
            "starting_cash": decimal_str(cfg.cash),
            "final_equity": decimal_str(final_equity),
            "net_pnl": decimal_str(final_equity - cfg.cash),
            "fees": decimal_str(fees),
            "gross_profit": decimal_str(gross_profit),
            "gross_loss": decimal_str(gross_loss),
            "currency": currency,
            "periods_per_year": stats.periods_per_year,
            "strategy_errors": self.host.error_count,
        }
        return BacktestResult(
            strategy=self.strategy_cls.name or self.strategy_cls.__name__,
            params=dict(self.params),
            instruments=[str(i.id) for i in self.instruments],
            data=[p for s in stream.series for p in s.paths],
            settings=cfg.describe(),
            currency=currency,
            starting_cash=cfg.cash,
            final_equity=final_equity,
            fees=fees,
            metrics=metrics,
            bars=n,
            ts_close_ns=ts_close,
            equity=equity,
            position_value=position_value,
            fill_records=fills,
            trades=trades,
            order_records=functools.partial(_order_records, orders),
        )


class _FewerYoungCollections:
    """``with fewer_young_collections():`` runs with the cyclic garbage collector's first threshold
    raised to ``threshold`` allocations (default 700).

    Why: a run allocates ~150 small objects per order (events, Money, records) and keeps many of
    them (the journal, the orders, the fill log), so at the default threshold the collector passes
    over the young survivors every few orders: measured ~30% of the CPU per order. Nothing a run
    does per order is cyclic garbage (``gc.collect()`` with a finished run still referenced finds 0
    objects), and the collector still runs, only less often, so a strategy that does make cycles
    stays bounded in memory. The setting is process-wide: nested or concurrent runs (threads) share
    it and the last one out restores the previous thresholds.

    It also freezes (``gc.freeze``) what existed before the run, unless the process froze objects
    itself (the live app does at startup; then nothing is frozen or thawed here): the run's
    collections then pass only over its own objects. Without that, a run in a process holding a
    previous run's result (a benchmark, a sweep worker, a test session) paid for an older
    generation's pass over all of it: measured +1.2 s of CPU on a 1M-bar run with 42k orders. The
    last one out thaws them (``gc.unfreeze``: they go back to the oldest generation); nothing is
    collected while frozen, so a cycle from before the run is freed after it."""

    def __init__(self, threshold: int) -> None:
        self._threshold = threshold
        self._lock = threading.Lock()
        self._runs = 0
        self._saved: tuple[int, int, int] | None = None
        self._froze = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._runs == 0:
                self._saved = saved = gc.get_threshold()
                gc.set_threshold(max(saved[0], self._threshold), saved[1], saved[2])
                self._froze = gc.get_freeze_count() == 0
                if self._froze:
                    gc.freeze()
            self._runs += 1
        try:
            yield
        finally:
            with self._lock:
                self._runs -= 1
                if self._runs == 0 and self._saved is not None:
                    gc.set_threshold(*self._saved)
                    self._saved = None
                    if self._froze:
                        gc.unfreeze()
                        self._froze = False


_fewer_young_collections = _FewerYoungCollections(100_000)


def _chunk_columns(series: BarSeries, rows: list[int], single: bool) -> tuple[list[Any], ...]:
    """Python lists (ints and floats) of one chunk of a series: the loop reads them by index."""
    if single:
        lo, hi = rows[0], rows[-1] + 1
    else:
        lo, hi = 0, len(series)
    f = series.as_float
    return (
        series.ts_open[lo:hi].tolist(),
        series.ts_close[lo:hi].tolist(),
        f(series.open[lo:hi]).tolist(),
        f(series.high[lo:hi]).tolist(),
        f(series.low[lo:hi]).tolist(),
        f(series.close[lo:hi]).tolist(),
        series.volume[lo:hi].tolist(),
    )


#: Member names per enum (``member.name`` is a Python-level descriptor: several per order add up
#: on a run with tens of thousands of orders). One dict per enum: IntEnum members of different
#: enums with the same value are equal keys.
_SIDE_NAME = {m: m.name for m in Side}
_LIQUIDITY_NAME = {m: m.name for m in LiquiditySide}
_TYPE_NAME = {m: m.name for m in OrderType}
_TIF_NAME = {m: m.name for m in TimeInForce}
_STATUS_NAME = {m: m.name for m in OrderStatus}


def _fill_record(bar: int, ev: OrderFilled) -> FillRecord:
    # Positional (the field order of FillRecord) and ``as_decimal`` inlined: one per fill of the run.
    price, quantity, commission = ev.last_price, ev.last_quantity, ev.commission
    return FillRecord(
        ev.ts_event,
        bar,
        str(ev.instrument_id),
        str(ev.client_order_id),
        _SIDE_NAME[ev.side],
        Decimal(price._raw).scaleb(-price._precision, EXACT),
        Decimal(quantity._raw).scaleb(-quantity._precision, EXACT),
        Decimal(commission._raw).scaleb(-commission._precision, EXACT),
        _LIQUIDITY_NAME[ev.liquidity_side],
    )


def _fill_records(fill_log: list[tuple[int, OrderFilled]]) -> list[FillRecord]:
    return [_fill_record(bar, ev) for bar, ev in fill_log]


def _order_records(orders: list[Any]) -> list[dict[str, Any]]:
    return [_order_record(o) for o in orders]


def _order_record(o: Any) -> dict[str, Any]:
    avg = o.average_fill_price
    return {
        "client_order_id": str(o.client_order_id),
        "instrument_id": str(o.instrument_id),
        "strategy_id": str(o.strategy_id),
        "side": _SIDE_NAME[o.side],
        "type": _TYPE_NAME[o.order_type],
        "quantity": str(o.quantity),
        "price": None if o.price is None else str(o.price),
        "trigger_price": None if o.trigger_price is None else str(o.trigger_price),
        "time_in_force": _TIF_NAME[o.time_in_force],
        "status": _STATUS_NAME[o.status],
        "filled_quantity": str(o.filled_quantity),
        "average_fill_price": None if avg is None else str(avg),
        "reason": o.reason,
        "ts_created": o.ts_created,
        "ts_last": o.ts_last,
    }


class _OpenTrade:
    """A round trip in progress on one instrument (exact ``Decimal`` sums)."""

    __slots__ = (
        "direction",
        "entry_bar",
        "entry_notional",
        "entry_qty",
        "entry_ts",
        "exit_notional",
        "exit_qty",
        "fees",
        "qty",
    )

    def __init__(self, ts_ns: int, bar: int, direction: int) -> None:
        self.qty = self.entry_qty = self.entry_notional = _ZERO
        self.exit_qty = self.exit_notional = self.fees = _ZERO
        self.entry_ts = ts_ns
        self.entry_bar = bar
        self.direction = direction


_ZERO = Decimal(0)


def _round_trips(fills: list[FillRecord]) -> list[TradeRecord]:
    """Flat -> position -> flat (or a flip, split pro rata) per instrument, exact, net of fees: the
    general path, on the fill records (``_round_trips_exact`` is the usual one)."""
    open_: dict[str, _OpenTrade] = {}
    trades: list[TradeRecord] = []
    for f in fills:
        signed = f.quantity if f.side == "BUY" else -f.quantity
        st = open_.get(f.instrument_id)
        remaining = signed
        commission = f.commission
        while remaining:
            if st is None or st.qty == 0:
                st = open_[f.instrument_id] = _OpenTrade(f.ts_ns, f.bar_index, 1 if remaining > 0 else -1)
            qty = st.qty
            if qty == 0 or (qty > 0) == (remaining > 0):
                take = remaining
                st.entry_qty += abs(take)
                st.entry_notional += abs(take) * f.price
            else:
                take = remaining if abs(remaining) <= abs(qty) else -qty
                st.exit_qty += abs(take)
                st.exit_notional += abs(take) * f.price
            share = commission if take == remaining else (commission * abs(take) / abs(signed))
            st.fees += share
            commission -= share
            st.qty += take
            remaining -= take
            if st.qty == 0:
                d = st.direction
                gross = (st.exit_notional - st.entry_notional) * d
                # Positional: the field order of TradeRecord.
                trades.append(
                    TradeRecord(
                        f.instrument_id,
                        "LONG" if d > 0 else "SHORT",
                        st.entry_ts,
                        f.ts_ns,
                        st.entry_bar,
                        f.bar_index,
                        st.entry_qty,
                        st.entry_notional / st.entry_qty,
                        st.exit_notional / st.exit_qty,
                        gross - st.fees,
                        st.fees,
                    )
                )
                st = None
                open_.pop(f.instrument_id, None)
    return trades


class _FillColumns:
    """The fill log as columns, read with C-level ``map``s (no Python loop per fill and field): bar,
    time, instrument, side, and the fills' exact price, quantity and commission objects."""

    __slots__ = ("bars", "commission", "instrument", "n", "price", "quantity", "side", "ts")

    def __init__(self, fill_log: list[tuple[int, OrderFilled]]) -> None:
        events = [ev for _, ev in fill_log]
        self.n = len(events)
        self.bars = [bar for bar, _ in fill_log]
        self.ts = list(map(_TS_EVENT, events))
        self.instrument = list(map(_INSTRUMENT, events))
        self.side = list(map(_SIDE_OF, events))
        self.price = list(map(_LAST_PRICE, events))
        self.quantity = list(map(_LAST_QUANTITY, events))
        self.commission = list(map(_COMMISSION, events))


_TS_EVENT = operator.attrgetter("ts_event")
_INSTRUMENT = operator.attrgetter("instrument_id")
_SIDE_OF = operator.attrgetter("side")
_LAST_PRICE = operator.attrgetter("last_price")
_LAST_QUANTITY = operator.attrgetter("last_quantity")
_COMMISSION = operator.attrgetter("commission")
_RAW = operator.attrgetter("_raw")
_PRECISION = operator.attrgetter("_precision")
#: Integer sums below 10**28 are exact in ``Decimal`` arithmetic too (28 significant digits).
_DECIMAL_EXACT = 10**28


def _round_trips_exact(columns: _FillColumns) -> list[TradeRecord] | None:
    """``_round_trips`` on the fills' integers: the same records (the same ``Decimal`` values, down to
    their exponents), with ``Decimal`` arithmetic once per round trip instead of several times per
    fill, and no fill records. None when it cannot promise that, and the caller takes the general
    path: a fill flips a position (its commission is split pro rata there, a rounded ``Decimal``
    quotient), the fills' prices, quantities or commissions differ in precision, or a sum reaches 28
    digits (where ``Decimal`` arithmetic would round).

    Per fill: ``entry/exit quantity += q`` and ``entry/exit notional += q * p`` (raw integers at
    ``q`` + ``p`` places), ``fees += c``; a finished round trip's fields are then made from the sums
    with the operations ``_round_trips`` ends with (the average prices are the same 28-digit
    quotients of the same operands; a round trip without a flip exits what it entered)."""
    prices, quantities, commissions = columns.price, columns.quantity, columns.commission
    precisions = [set(map(_PRECISION, v)) for v in (quantities, prices, commissions)]
    if any(len(p) > 1 for p in precisions):
        return None
    (qp,), (pp,), (cp,) = precisions if columns.n else ({0}, {0}, {0})
    zero_fees = Decimal(0).scaleb(-cp, EXACT)
    buy = Side.BUY
    #: instrument -> [direction, entry ts, entry bar, position, entry qty, entry notional,
    #: exit notional, fees, the fees' absolute sum]
    open_: dict[Any, list[Any]] = {}
    trades: list[TradeRecord] = []
    for q, p, c, side, iid, ts, bar in zip(
        map(_RAW, quantities),
        map(_RAW, prices),
        map(_RAW, commissions),
        columns.side,
        columns.instrument,
        columns.ts,
        columns.bars,
        strict=True,
    ):
        if q <= 0:  # (never from the order manager, which refuses a fill of nothing)
            return None
        st = open_.get(iid)
        if st is None:
            st = open_[iid] = [1 if side is buy else -1, ts, bar, 0, 0, 0, 0, 0, 0]
        position = st[3]
        if position == 0 or (position > 0) == (side is buy):
            st[4] += q
            st[5] += q * p
        elif q <= abs(position):
            st[6] += q * p
        else:  # a flip
            return None
        if c:
            st[7] += c
            st[8] += abs(c)
        position = st[3] = position + q if side is buy else position - q
        if position:
            continue
        del open_[iid]
        if st[5] >= _DECIMAL_EXACT or st[6] >= _DECIMAL_EXACT or st[8] >= _DECIMAL_EXACT:
            return None
        direction = st[0]
        quantity = Decimal(st[4]).scaleb(-qp, EXACT)
        entry_notional = Decimal(st[5]).scaleb(-qp - pp, EXACT)
        exit_notional = Decimal(st[6]).scaleb(-qp - pp, EXACT)
        fees = Decimal(st[7]).scaleb(-cp, EXACT) if st[7] else zero_fees
        trades.append(
            TradeRecord(
                str(iid),
                "LONG" if direction > 0 else "SHORT",
                st[1],
                ts,
                st[2],
                bar,
                quantity,
                entry_notional / quantity,
                exit_notional / quantity,
                (exit_notional - entry_notional) * direction - fees,
                fees,
            )
        )
    return trades


def _equity_curve(
    stream: BarStream, columns: _FillColumns, cash: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per merged bar: close time, equity and position value (float64, marked at each close), and the
    total traded notional. Fills count from the bar they are attributed to.

    The fills' prices, quantities and commissions become floats straight from their exact integers
    (``raw / 10**precision``: the correctly rounded double, as ``float(Decimal)``), and the per-fill
    sums are NumPy's unbuffered ``ufunc.at`` in fill order: the same additions, in the same order, as
    a loop over the fills."""
    n = len(stream)
    cash_flow = np.zeros(n + 1)
    index = {s.instrument.id: i for i, s in enumerate(stream.series)}
    pos_delta = np.zeros((len(stream.series), n + 1))
    notional = 0.0
    if columns.n:
        bars = np.minimum(np.array(columns.bars, dtype=np.int64), n)
        if len(index) == 1:
            rows = np.zeros(columns.n, dtype=np.int64)
        else:
            rows = np.array([index[iid] for iid in columns.instrument], dtype=np.int64)
        price = _as_floats(columns.price)
        q = _as_floats(columns.quantity)
        fee = _as_floats(columns.commission)
        sign = np.where(np.array(columns.side, dtype=np.int64) == int(Side.BUY), 1.0, -1.0)
        value = price * q
        notional = float(np.cumsum(value)[-1])
        np.subtract.at(cash_flow, bars, sign * value + fee)
        np.add.at(pos_delta, (rows, bars), sign * q)
    cash_curve = cash + np.cumsum(cash_flow)[:n]
    if len(stream.series) == 1 and len(stream.series[0]) == n:
        # One series (the usual run): the merged order is its own row order, so its closes are the
        # marks from the first bar on, with no forward fill: the general path below gives the same
        # numbers with ~ten more arrays of the run's length allocated and filled.
        series = stream.series[0]
        position_value = np.cumsum(pos_delta[0])[:n] * series.close_float()
        return series.ts_close.copy(), cash_curve + position_value, position_value, notional
    ts_close = np.empty(n, dtype=np.int64)
    position_value = np.zeros(n)
    for s, series in enumerate(stream.series):
        mask = stream.series_of == s
        rows = stream.row_of[mask]
        ts_close[mask] = series.ts_close[rows]
        # The series' last close so far at every merged step (forward filled across other series).
        last = np.full(n, np.nan)
        last[mask] = series.close_float()[rows]
        idx = np.where(~np.isnan(last), np.arange(n), 0)
        np.maximum.accumulate(idx, out=idx)
        marks = np.where(np.arange(n) >= np.argmax(mask) if mask.any() else False, last[idx], 0.0)
        pos = np.cumsum(pos_delta[s])[:n]
        position_value += np.nan_to_num(pos * marks)
    return ts_close, cash_curve + position_value, position_value, notional


def _as_floats(values: list[Any]) -> np.ndarray:
    """Exact fixed-point values (``Price``, ``Quantity``, ``Money``) as float64: each the correctly
    rounded double of ``raw / 10**precision`` (what ``float(Decimal)`` gives). Vectorised when every
    value has one precision of at most 22 and ``|raw| < 2**53``: then both operands are exact doubles
    and one IEEE division rounds the same quotient as Python's exact int division."""
    raws = list(map(_RAW, values))
    precisions = set(map(_PRECISION, values))
    if len(precisions) == 1:
        (precision,) = precisions
        if precision <= 22 and max(map(abs, raws)) < (1 << 53):
            return np.array(raws, dtype=np.float64) / 10.0**precision
    return np.array([v._raw / 10**v._precision for v in values], dtype=np.float64)


def run_backtest(
    strategy: str | type[Strategy],
    data: Sequence[str] | BarStream,
    config: BacktestConfig | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> BacktestResult:
    """Convenience: build and run one backtest."""
    return Backtest(strategy, data, config, params=params).run(progress)
