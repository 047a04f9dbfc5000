"""The volume-weighted average fill price of an order, exact inputs, documented rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.core import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    LiquiditySide,
    Money,
    OrderType,
    Price,
    Quantity,
    Side,
    StrategyId,
    TimeInForce,
    TradeId,
    VenueOrderId,
)
from engine.core.errors import InvariantViolation
from engine.core.events import OrderFilled, OrderInitialized, OrderSubmitted
from engine.oms.order import Order

IDS = dict(
    account_id=AccountId("main"),
    client_order_id=ClientOrderId("c-1"),
    instrument_id=InstrumentId("SIM:BTC-USD"),
)


def _fill(n: int, price: str, qty: str) -> OrderFilled:
    return OrderFilled(
        ts_event=n,
        ts_init=n,
        **IDS,
        sequence=2 + n,
        venue_order_id=VenueOrderId("v-1"),
        trade_id=TradeId(f"t-{n}"),
        side=Side.BUY,
        last_price=Price(price),
        last_quantity=Quantity(qty),
        liquidity_side=LiquiditySide.TAKER,
        commission=Money("0", "USD"),
    )


def _buy_0_030(order_type: OrderType, price: Price | None) -> Order:
    """A new GTC buy order for 0.030."""
    return Order(
        OrderInitialized(
            ts_event=0,
            ts_init=0,
            **IDS,
            sequence=1,
            strategy_id=StrategyId("s"),
            side=Side.BUY,
            order_type=order_type,
            quantity=Quantity("0.030"),
            price=price,
            trigger_price=None,
            time_in_force=TimeInForce.GTC,
            expire_at_ns=None,
            post_only=False,
            reduce_only=False,
        ),
        index=0,
    )


def test_average_fill_price_when_filled_at_several_prices_then_volume_weighted() -> None:
    order = _buy_0_030(OrderType.LIMIT, Price("100.2"))
    assert order.average_fill_price is None
    order.apply(OrderSubmitted(ts_event=0, ts_init=0, **IDS, sequence=2))
    order.apply(_fill(1, "100.0", "0.010"))
    order.apply(_fill(2, "100.1", "0.010"))
    order.apply(_fill(3, "100.2", "0.010"))
    assert order.average_fill_price == Decimal("100.1")
    assert order.fill_notional == Decimal("3.00300")


def test_fills_when_precisions_differ_then_exact_sums_and_overfill_refused_without_change() -> None:
    """A venue may report a quantity or price with fewer or more decimals than the order's: the
    filled quantity, the notional and the status come out as exact sums all the same."""
    order = _buy_0_030(OrderType.MARKET, None)
    order.apply(OrderSubmitted(ts_event=0, ts_init=0, **IDS, sequence=2))
    order.apply(_fill(1, "100", "0.01"))  # fewer decimals than the order's quantity
    order.apply(_fill(2, "100.25", "0.0100"))  # more
    assert order.filled_quantity == Quantity("0.02") and order.status.name == "PARTIALLY_FILLED"
    assert order.fill_notional == Decimal("2.0025")
    with pytest.raises(InvariantViolation) as refused:
        order.apply(_fill(3, "100.0", "0.0101"))
    assert refused.value.reason == "OVERFILL"
    assert order.filled_quantity == Quantity("0.02") and order.trade_ids == {TradeId("t-1"), TradeId("t-2")}
    order.apply(_fill(4, "99.75", "0.010"))
    assert order.status.name == "FILLED" and order.filled_quantity == Quantity("0.030")
    assert order.fill_notional == Decimal("3.00000") and order.average_fill_price == Decimal("100")
