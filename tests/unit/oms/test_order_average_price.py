"""The volume-weighted average fill price of an order, exact inputs, documented rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=300, deadline=None)
@given(
    order_places=st.integers(0, 8),
    order_units=st.integers(1, 10**6),
    fills=st.lists(st.tuples(st.integers(0, 18), st.integers(1, 10**7)), min_size=1, max_size=6),
)
def test_fills_when_any_precisions_then_filled_quantity_and_status_are_the_quantity_arithmetic(
    order_places: int, order_units: int, fills: list[tuple[int, int]]
) -> None:
    """Whatever the precisions of the order and of each fill, the filled quantity (value and
    precision), the completion and the overfill refusal are those of ``Quantity`` arithmetic."""
    ordered = Quantity.from_raw(order_units, order_places)
    order = _buy_0_030(OrderType.MARKET, None)
    order.quantity = ordered  # (the order's terms, as an OrderInitialized with this size builds them)
    order.filled_quantity = Quantity.from_raw(0, order_places)
    order.apply(OrderSubmitted(ts_event=0, ts_init=0, **IDS, sequence=2))
    expected = order.filled_quantity
    for n, (places, units) in enumerate(fills, start=1):
        if order.status.name == "FILLED":
            break
        last = Quantity.from_raw(units, places)
        fill = _fill(n, "100", "1")
        object.__setattr__(fill, "last_quantity", last)
        try:
            total = expected + last
        except OverflowError:  # the sum leaves the 64-bit range at its precision: refused alike
            with pytest.raises(OverflowError):
                order.apply(fill)
            assert order.filled_quantity == expected
            continue
        if total > ordered:
            with pytest.raises(InvariantViolation) as refused:
                order.apply(fill)
            assert refused.value.reason == "OVERFILL"
        else:
            order.apply(fill)
            expected = total
            assert order.status.name == ("FILLED" if total == ordered else "PARTIALLY_FILLED")
        assert order.filled_quantity == expected
        assert order.filled_quantity.precision == expected.precision
