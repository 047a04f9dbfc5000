"""Realistic events and commands for store tests and benchmarks."""

from __future__ import annotations

import time
from pathlib import Path

from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.enums import LiquiditySide, OrderType, Side, TimeInForce, TradingState
from engine.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
    TradingStateChanged,
)
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from engine.store import LmdbStore

ACCOUNT = AccountId("sim-main")
INSTRUMENT = InstrumentId("SIM:BTC-USD")


def order_events(i: int) -> list[object]:
    """The life of one order: initialized, submitted, accepted, filled (the journal's bread)."""
    coid = ClientOrderId(f"o-{i:08d}")
    base = {"ts_event": 1_700_000_000_000_000_000 + i, "ts_init": 1_700_000_000_000_000_100 + i}
    ids = {"account_id": ACCOUNT, "client_order_id": coid, "instrument_id": INSTRUMENT}
    return [
        OrderInitialized(
            **base,
            **ids,
            sequence=4 * i + 1,
            strategy_id=StrategyId("mm-1"),
            side=Side.BUY if i % 2 else Side.SELL,
            order_type=OrderType.LIMIT,
            quantity=Quantity("0.015"),
            price=Price(f"{60000 + i % 500}.25"),
            trigger_price=None,
            time_in_force=TimeInForce.GTC,
            expire_at_ns=None,
            post_only=False,
            reduce_only=False,
        ),
        OrderSubmitted(**base, **ids, sequence=4 * i + 2),
        OrderAccepted(**base, **ids, sequence=4 * i + 3, venue_order_id=VenueOrderId(f"v{i}")),
        OrderFilled(
            **base,
            **ids,
            sequence=4 * i + 4,
            venue_order_id=VenueOrderId(f"v{i}"),
            trade_id=TradeId(f"t{i}"),
            side=Side.BUY if i % 2 else Side.SELL,
            last_price=Price(f"{60000 + i % 500}.25"),
            last_quantity=Quantity("0.015"),
            liquidity_side=LiquiditySide.MAKER,
            commission=Money("0.00036015", "USDT"),
        ),
    ]


def sample_events(n: int) -> list[object]:
    """``n`` realistic order events (cycling through order lives)."""
    out: list[object] = []
    i = 0
    while len(out) < n:
        out.extend(order_events(i))
        i += 1
    return out[:n]


def mixed_objects() -> list[object]:
    return [
        *order_events(7),
        OrderCanceled(
            ts_event=1,
            ts_init=2,
            account_id=ACCOUNT,
            client_order_id=ClientOrderId("x"),
            instrument_id=INSTRUMENT,
        ),
        TradingStateChanged(
            ts_event=3,
            ts_init=4,
            account_id=None,
            previous=TradingState.ACTIVE,
            current=TradingState.HALTED,
            reason="t",
        ),
        SubmitOrder(
            ts_init=5,
            account_id=ACCOUNT,
            strategy_id=StrategyId("s"),
            client_order_id=ClientOrderId("c1"),
            instrument_id=INSTRUMENT,
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=Quantity("2"),
        ),
        CancelOrder(ts_init=6, account_id=ACCOUNT, client_order_id=ClientOrderId("c1")),
    ]


def open_store(path: Path, *, durability: str = "async", map_size_mb: int = 64) -> LmdbStore:
    store = LmdbStore(path, map_size_mb=map_size_mb, durability=durability)
    store.open(time.time_ns())
    return store
