"""Order manager hot paths: one venue report applied (state machine + sequence + journal append +
publish), a submit through risk, journal and the real SimVenue, journal replay (restore), and one
order's whole cycle through the OMS, the real risk engine and the portfolio (submit, acknowledgement,
fill: the per-order work a backtest or a live strategy pays in these components).

Peer in the same run: a bare ``dict`` status update (the floor any order book of record pays).
Run: make bench BENCH=benchmarks/test_bench_oms.py
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import itertools
import pstats
import statistics
import time
from dataclasses import dataclass

import pytest

from engine.app.adapters import RiskAdapter
from engine.bus import MessageBus
from engine.core.clock import TestClock
from engine.core.commands import SubmitOrder
from engine.core.enums import LiquiditySide, OrderStatus, OrderType, Side, TradingState
from engine.core.events import OrderAccepted, OrderEvent, OrderFilled, OrderUpdated
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from engine.oms import OrderManager
from engine.oms.portfolio import Portfolio
from engine.risk import RiskEngine
from engine.risk.limits import AccountLimits, InstrumentLimits, StrategyLimits
from engine.venues.sim import SimVenue, SimVenueConfig, default_instruments

BTC = InstrumentId("SIM:BTC-USD")
MAIN = AccountId("main")


@dataclass(frozen=True)
class _Ok:
    approved: bool = True
    reason: str = ""
    detail: str = ""


class _Risk:
    ok = _Ok()

    def check_submit(self, *_):
        return self.ok

    check_amend = check_cancel = check_submit

    def on_order_opened(self, *_) -> None:
        pass

    on_order_updated = on_order_closed = on_fill = on_trade = on_quote = on_order_opened


class _Journal:
    def __init__(self) -> None:
        self.records: list[OrderEvent] = []
        self._done: asyncio.Future[None] | None = None

    def append(self, record: OrderEvent) -> asyncio.Future[None]:
        self.records.append(record)
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
            self._done.set_result(None)
        return self._done

    def commit_pending(self) -> bool:
        return True


def _manager() -> tuple[OrderManager, TestClock, SimVenue, _Journal]:
    clock = TestClock(1_700_000_000_000_000_000)
    venue = SimVenue(default_instruments(), clock, SimVenueConfig(accounts={"main": {"USD": "1000000000"}}))
    journal = _Journal()
    oms = OrderManager(
        clock=clock, venue=venue, risk=_Risk(), journal=journal, instruments=default_instruments()
    )
    venue.set_event_handler(lambda e: oms.on_order_event(e) if isinstance(e, OrderEvent) else None)
    venue.start()
    return oms, clock, venue, journal


_ids = itertools.count()


def _cmd() -> SubmitOrder:
    return SubmitOrder(
        ts_init=0,
        account_id=MAIN,
        strategy_id=StrategyId("bench"),
        client_order_id=ClientOrderId(f"o{next(_ids)}"),
        instrument_id=BTC,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Quantity("0.01"),
        price=Price("60000.0"),
    )


@pytest.mark.benchmark(group="oms submit -> durable -> SimVenue ack (one order)")
def test_bench_oms_submit_to_ack(benchmark) -> None:
    async def run() -> None:
        oms, clock, _, _ = _manager()

        async def one() -> None:
            order = await oms.submit(_cmd())
            clock.advance(1)
            assert order.status is OrderStatus.ACCEPTED

        for _ in range(50):  # warm-up
            await one()
        timings = []
        for _ in range(2000):
            t0 = time.perf_counter_ns()
            await one()
            timings.append(time.perf_counter_ns() - t0)
        timings.sort()
        benchmark.extra_info["p50_us"] = timings[len(timings) // 2] / 1e3
        benchmark.extra_info["p99_us"] = timings[len(timings) * 99 // 100] / 1e3
        print(
            f"submit->ack p50 {timings[len(timings) // 2] / 1e3:.1f} us, p99 {timings[len(timings) * 99 // 100] / 1e3:.1f} us"
        )

    benchmark.pedantic(lambda: asyncio.run(run()), rounds=1)


@pytest.mark.benchmark(group="oms apply one venue report")
def test_bench_oms_apply_report(benchmark) -> None:
    async def setup() -> tuple[OrderManager, OrderUpdated]:
        oms, clock, _, _ = _manager()
        order = await oms.submit(_cmd())
        clock.advance(1)
        return oms, OrderUpdated(
            ts_event=1,
            ts_init=1,
            account_id=MAIN,
            client_order_id=order.client_order_id,
            instrument_id=BTC,
            quantity=Quantity("0.01"),
            price=Price("60000.0"),
            trigger_price=None,
        )

    loop = asyncio.new_event_loop()
    try:
        oms, report = loop.run_until_complete(setup())
        benchmark(oms.on_order_event, report)
    finally:
        loop.close()


@pytest.mark.benchmark(group="oms apply one venue report")
def test_bench_dict_update_peer(benchmark) -> None:
    orders = {("main", "o1"): OrderStatus.ACCEPTED}

    def update() -> None:
        orders[("main", "o1")] = OrderStatus.ACCEPTED

    benchmark(update)


@pytest.mark.benchmark(group="oms restore (replay) 30k events")
def test_bench_oms_restore(benchmark) -> None:
    async def record() -> list[OrderEvent]:
        oms, clock, _, journal = _manager()
        for _ in range(10_000):
            await oms.submit(_cmd())
        clock.advance(1)
        return journal.records

    records = asyncio.run(record())
    assert len(records) == 30_000

    def replay() -> int:
        oms = OrderManager(
            clock=TestClock(0),
            venue=None,
            risk=_Risk(),
            journal=_Journal(),
            instruments=default_instruments(),
        )  # type: ignore[arg-type]
        oms.restore(records)
        return oms.sequence

    assert benchmark.pedantic(replay, rounds=3) == 30_000


def _cycle_setup() -> tuple[OrderManager, TestClock, _Journal, Portfolio, list[OrderEvent]]:
    """The OMS over the real risk engine (as the app wires it), a portfolio and a bus subscriber
    fed from the OMS fan-out; the venue's side is a list the cycle pops (its reports pre-built)."""
    (btc,) = [i for i in default_instruments() if i.id == BTC]
    clock = TestClock(1_700_000_000_000_000_000)
    risk = RiskEngine(quote_currency="USD", notional_precision=btc.price_precision + btc.size_precision)
    wide = Money(10**12, "USD")
    risk.register_instrument(
        btc,
        InstrumentLimits(
            max_order_quantity=btc.lots_to_quantity(10**9),
            max_order_notional=wide,
            max_position=btc.lots_to_quantity(10**9),
            price_band_bps=1_000_000,
            max_data_age_ms=86_400_000,
        ),
    )
    risk.register_account(
        MAIN,
        AccountLimits(
            max_gross_exposure=wide,
            max_net_exposure=wide,
            max_open_orders=100_000,
            max_orders_per_second=10**9,
            order_burst=10**9,
            max_daily_loss=wide,
            max_drawdown=wide,
            breach_state=TradingState.HALTED,
        ),
    )
    risk.register_strategy(
        StrategyId("bench"), StrategyLimits(max_orders_per_second=10**9, order_burst=10**9)
    )
    risk.gate.on_market(0, 650_000, 650_000, 650_001, clock.timestamp_ns())
    sent: list[OrderEvent] = []

    class _Venue:
        def send(self, command: object) -> None:
            sent.append(command)  # type: ignore[arg-type]

    journal = _Journal()
    oms = OrderManager(
        clock=clock, venue=_Venue(), risk=RiskAdapter(risk), journal=journal, instruments=[btc]
    )  # type: ignore[arg-type]
    portfolio = Portfolio([btc], balances={MAIN: {"USD": Money("100000000", "USD")}})
    bus = MessageBus()
    bus.subscribe("events.order.main", lambda event: None)

    def on_event(event: OrderEvent) -> None:
        if type(event) is OrderFilled:
            portfolio.on_fill(event)  # type: ignore[arg-type]
        bus.publish_c("events.order.main", event)

    oms.subscribe(on_event)
    return oms, clock, journal, portfolio, sent


@pytest.mark.benchmark(group="oms order cycle (submit, ack, fill) with risk and portfolio")
def test_bench_oms_order_cycle(benchmark) -> None:
    """Per order: ``submit_nowait`` of a MARKET order (checks, risk gate, OrderInitialized +
    OrderSubmitted journalled, sent), then the venue's OrderAccepted and OrderFilled applied (state
    machine, risk, portfolio, bus). Alternating buy / sell keeps the position flat. CPU time
    (process_time, collector paused) per order, median of 7 runs of 5,000 orders."""
    (btc,) = [i for i in default_instruments() if i.id == BTC]
    quantity, price, fee = btc.lots_to_quantity(1000), btc.ticks_to_price(650_000), Money("0.13", "USD")
    n = 5000

    async def run() -> list[float]:
        oms, clock, journal, portfolio, sent = _cycle_setup()

        def cycle(base: int, profile: cProfile.Profile | None = None) -> float:
            orders = []
            for k in range(n):
                i = base + k
                side = Side.BUY if k % 2 == 0 else Side.SELL
                coid = ClientOrderId(f"c{i}")
                ts = clock.timestamp_ns() + k
                orders.append(
                    (
                        SubmitOrder(
                            ts_init=ts,
                            account_id=MAIN,
                            strategy_id=StrategyId("bench"),
                            client_order_id=coid,
                            instrument_id=BTC,
                            side=side,
                            order_type=OrderType.MARKET,
                            quantity=quantity,
                        ),
                        OrderAccepted(
                            ts_event=ts,
                            ts_init=ts,
                            account_id=MAIN,
                            client_order_id=coid,
                            instrument_id=BTC,
                            venue_order_id=VenueOrderId(f"v{i}"),
                        ),
                        OrderFilled(
                            ts_event=ts,
                            ts_init=ts,
                            account_id=MAIN,
                            client_order_id=coid,
                            instrument_id=BTC,
                            venue_order_id=VenueOrderId(f"v{i}"),
                            trade_id=TradeId(f"t{i}"),
                            side=side,
                            last_price=price,
                            last_quantity=quantity,
                            liquidity_side=LiquiditySide.TAKER,
                            commission=fee,
                        ),
                    )
                )
            submit, report = oms.submit_nowait, oms.on_order_event
            gc.collect()
            gc.disable()
            if profile is not None:
                profile.enable()
            t0 = time.process_time()
            for command, accepted, filled in orders:
                clock.advance(1)
                submit(command)
                report(accepted, owned=True)
                report(filled, owned=True)
            elapsed = time.process_time() - t0
            if profile is not None:
                profile.disable()
            gc.enable()
            sent.clear()
            return elapsed / n * 1e6

        cycle(0)  # warm-up
        runs = [cycle((r + 1) * n) for r in range(7)]
        profile = cProfile.Profile()
        cycle(8 * n, profile)
        # Function calls per order (deterministic, unlike time on a shared machine): Python
        # functions and builtins alike, as the profiler counts them.
        calls.append(sum(stat[1] for stat in pstats.Stats(profile).stats.values()) / n)  # type: ignore[attr-defined]
        assert portfolio.position(MAIN, BTC).quantity == 0
        assert oms.sequence == len(journal.records) == 9 * n * 4
        return runs

    runs: list[list[float]] = []
    calls: list[float] = []
    benchmark.pedantic(lambda: runs.append(asyncio.run(run())), rounds=1)
    median = statistics.median(runs[-1])
    benchmark.extra_info["cpu_us_per_order"] = median
    benchmark.extra_info["calls_per_order"] = calls[-1]
    print(
        f"order cycle: {median:.2f} us CPU per order (median of 7), {calls[-1]:.1f} function calls per order"
    )
