"""Acceptance (issue 8, "same code"): a strategy run by the backtester and run live over the same
recorded data produces the same orders.

Backtest: ``engine.backtest.Backtest`` (simulated time, its own replay loop, the host's bar fast path,
its ``SimOrderRouter``), fills at the bar close, no fees.

Live: the live composition on a running event loop with the wall clock (``LiveClock``), as the
engine wires it: the recorded bars are published as exact ``Bar`` events on ``data.bars.<id>`` (what
the bar service or a replay publishes), the strategy host subscribed to the bus, intents through the
live ``OmsOrderRouter`` (a task per intent) into the real risk gate (``RiskEngine`` behind the engine's
``RiskAdapter``) and ``OrderManager`` with the LMDB journal (``Persistence`` + ``JournalAdapter``), to
the simulated paper venue whose book is the recorded market (the bar close on both sides, as the
backtest's ``close`` fill model shows it), order events back through the OMS to the portfolio and
the bus.

The orders must be identical: client order id, side, type, quantity, price, status, filled quantity,
average fill price, and the bar each was created on.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.app.adapters import JournalAdapter, RiskAdapter
from engine.app.trading import register_codec
from engine.backtest import Backtest, BacktestConfig
from engine.backtest.data import BarStream, load_bar_stream
from engine.backtest.fills import UNLIMITED_LOTS, BarBooks
from engine.bus import MessageBus
from engine.core.clock import LiveClock
from engine.core.enums import TradingState
from engine.core.events import Bar, Event, OrderEvent, OrderFilled, OrderInitialized, QuoteTick, TradeTick
from engine.core.fixed import Money, Quantity
from engine.core.ids import AccountId, StrategyId
from engine.oms.manager import OrderManager
from engine.oms.portfolio import Portfolio
from engine.risk import RiskEngine
from engine.risk.limits import AccountLimits, InstrumentLimits, StrategyLimits
from engine.store import LmdbStore
from engine.store.persistence import Persistence
from engine.strategy import StrategyHost
from engine.strategy.router import OmsOrderRouter
from engine.venues.sim import PaperVenue, PaperVenueConfig

CANDLES = "candles/btc-perp-20211231-20220201_1m.csv"
BARS = 1500
CASH = "100000"
STRATEGY_ID = "same"
ACCOUNT = AccountId("live")
_ORDER_FIELDS = (
    "client_order_id",
    "instrument_id",
    "strategy_id",
    "side",
    "type",
    "quantity",
    "price",
    "trigger_price",
    "time_in_force",
    "status",
    "filled_quantity",
    "average_fill_price",
)


@pytest.fixture(scope="module")
def recorded(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first BARS one-minute bars of the real BTC perpetual candles (a temp copy, never in the repo)."""
    lines = (shared_data / CANDLES).read_text().splitlines()
    path = tmp_path_factory.mktemp("recorded") / "btc-perp_1m.csv"
    path.write_text("\n".join(lines[: BARS + 1]) + "\n")
    return path


def _bar_of(ts_close: np.ndarray, ts: int) -> int:
    return int(np.searchsorted(ts_close, ts))


def _backtest(
    stream: BarStream, strategy: str, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[int]]:
    bt = Backtest(
        strategy,
        stream,
        BacktestConfig(cash=Decimal(CASH), fill="close"),
        params=params,
        strategy_id=STRATEGY_ID,
    )
    result = bt.run()
    ts_close = stream.series[0].ts_close
    return (
        [{k: o[k] for k in _ORDER_FIELDS} for o in result.orders],
        [_bar_of(ts_close, o["ts_created"]) for o in result.orders],
    )


async def _live(
    stream: BarStream, strategy: str, params: dict[str, Any], data_dir: Path
) -> tuple[list[dict[str, Any]], list[int]]:
    series = stream.series[0]
    instrument = series.instrument
    iid = instrument.id
    clock = LiveClock()
    bus = MessageBus()
    bus.bind_to_current_thread()

    # The risk gate: limits that let an all-in strategy trade, everything else as in the engine.
    risk = RiskEngine(
        quote_currency="USD",
        notional_precision=min(instrument.price_precision + instrument.size_precision, 18),
    )
    wide = Money("1000000000", "USD")
    risk.register_instrument(
        instrument,
        InstrumentLimits(
            max_order_quantity=Quantity("1000000"),
            max_order_notional=wide,
            max_position=Quantity("1000000"),
            price_band_bps=500,
            max_data_age_ms=60_000,
        ),
    )
    risk.register_account(
        ACCOUNT,
        AccountLimits(
            max_gross_exposure=wide,
            max_net_exposure=wide,
            max_open_orders=100,
            max_orders_per_second=1_000,
            order_burst=1_000,
            max_daily_loss=wide,
            max_drawdown=wide,
            breach_state=TradingState.HALTED,
        ),
    )
    risk.register_strategy(
        StrategyId(STRATEGY_ID), StrategyLimits(max_orders_per_second=1_000, order_burst=1_000)
    )

    register_codec()
    store = LmdbStore(data_dir / "lmdb", map_size_mb=256, durability="async")
    store.open(clock.timestamp_ns())
    persistence = Persistence(store, clock=clock.timestamp_ns)
    persistence.start()

    books = BarBooks([instrument], Decimal(0))
    portfolio = Portfolio([instrument], balances={ACCOUNT: {"USD": Money(CASH, "USD")}})
    oms: OrderManager | None = None
    row = -1
    created_at: dict[str, int] = {}

    def on_venue_event(event: Event) -> None:  # as TradingCore._on_venue_event
        assert oms is not None
        if isinstance(event, OrderEvent):
            oms.on_order_event(event)
        elif isinstance(event, TradeTick):
            oms.on_trade(event)
            portfolio.on_trade(event)

    venue = PaperVenue(
        books.books, clock, PaperVenueConfig(accounts={str(ACCOUNT): {"USD": CASH}}), on_event=on_venue_event
    )
    books.bind(venue)
    oms = OrderManager(
        clock=clock,
        venue=venue,
        risk=RiskAdapter(risk),
        journal=JournalAdapter(persistence.journal),
        instruments=[instrument],
    )

    def on_order_event(event: OrderEvent) -> None:  # as TradingCore._on_order_event
        if isinstance(event, OrderFilled):
            portfolio.on_fill(event)
        if isinstance(event, OrderInitialized):
            created_at[str(event.client_order_id)] = row
        bus.publish_c(f"events.order.{event.account_id}", event)

    oms.subscribe(on_order_event)
    venue.start()
    router = OmsOrderRouter(oms)
    host = StrategyHost(
        clock=clock, router=router, portfolio=portfolio, instruments=[instrument], account_id=ACCOUNT
    )
    host.add(
        strategy,
        instruments=[iid],
        params=params,
        strategy_id=STRATEGY_ID,
        bar_interval_ns=series.interval_ns,
    )
    host.attach(bus)
    host.start()

    big = Quantity.from_raw(UNLIMITED_LOTS * instrument.size_increment.raw, instrument.size_precision)
    price = instrument.ticks_to_price
    try:
        for row in range(len(series)):
            now = clock.timestamp_ns()
            close = price(int(series.close[row]))
            # The recorded market: the venue's book and the quote the risk gate and portfolio see.
            books.set_reference(iid, int(series.close[row]), now)
            quote = QuoteTick(
                ts_event=now,
                ts_init=now,
                instrument_id=iid,
                bid_price=close,
                bid_size=big,
                ask_price=close,
                ask_size=big,
            )
            oms.on_quote(quote)
            portfolio.on_quote(quote)
            bus.publish(
                f"data.bars.{iid}",
                Bar(
                    ts_event=int(series.ts_close[row]),
                    ts_init=now,
                    instrument_id=iid,
                    interval_ns=series.interval_ns,
                    ts_open=int(series.ts_open[row]),
                    open=price(int(series.open[row])),
                    high=price(int(series.high[row])),
                    low=price(int(series.low[row])),
                    close=close,
                    volume=Quantity(repr(float(series.volume[row]))),
                    trade_count=0,
                ),
            )
            # Live, the next bar comes a minute later: everything the bar caused has settled by then.
            await router.idle()
            for _ in range(100_000):  # the venue's zero-latency reports arrive on later loop turns
                if not any(o.is_open for o in oms.orders()):
                    break
                await asyncio.sleep(0)
            else:
                raise AssertionError(f"orders still open after bar {row}")
            await oms.idle()
        host.stop()
        assert host.error_count == 0 and router.refused == 0
        orders = [_record(o) for o in oms.orders()]
        return orders, [created_at[o["client_order_id"]] for o in orders]
    finally:
        venue.stop()
        await persistence.close()
        store.close(clock.timestamp_ns())


def _record(o: Any) -> dict[str, Any]:
    avg = o.average_fill_price
    return {
        "client_order_id": str(o.client_order_id),
        "instrument_id": str(o.instrument_id),
        "strategy_id": str(o.strategy_id),
        "side": o.side.name,
        "type": o.order_type.name,
        "quantity": str(o.quantity),
        "price": None if o.price is None else str(o.price),
        "trigger_price": None if o.trigger_price is None else str(o.trigger_price),
        "time_in_force": o.time_in_force.name,
        "status": o.status.name,
        "filled_quantity": str(o.filled_quantity),
        "average_fill_price": None if avg is None else str(avg),
    }


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("sma_cross", {"fast": 10, "slow": 30}),
        ("bollinger_reversion", {"period": 20, "nbdev": 2.0}),
        ("mfi_reversion", {"period": 14, "oversold": 25, "overbought": 75}),
    ],
)
async def test_same_code_when_backtested_and_run_live_on_recorded_bars_then_same_orders(
    recorded: Path, tmp_path: Path, strategy: str, params: dict[str, Any]
) -> None:
    stream = load_bar_stream([recorded])
    expected, expected_bars = await asyncio.get_running_loop().run_in_executor(
        None, _backtest, stream, strategy, params
    )
    orders, bars = await _live(stream, strategy, params, tmp_path)
    assert len(expected) >= 10, "the recorded slice must make the strategy trade"
    assert orders == expected
    assert bars == expected_bars
    assert {o["status"] for o in orders} == {"FILLED"}
