"""Fixtures for the simulated and paper venue tests: a test clock, a venue, command builders."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.core.clock import TestClock
from engine.core.commands import AmendOrder, CancelAllOrders, CancelOrder, SubmitOrder
from engine.core.enums import OrderType, Side, TimeInForce
from engine.core.fixed import Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.marketdata.book import OrderBook
from engine.venues.sim import SimVenue, SimVenueConfig, default_instruments

BTC = InstrumentId("SIM:BTC-USD")
START_NS = 1_700_000_000_000_000_000


@pytest.fixture
def clock() -> TestClock:
    return TestClock(START_NS)


@pytest.fixture
def book() -> OrderBook:
    """The paper venue's market: a two-sided L2 book of the first simulated instrument."""
    b = OrderBook(default_instruments()[0])
    b.apply_snapshot(
        [("64999.00", "1.0"), ("64998.00", "2.0")],
        [("65001.00", "0.5"), ("65002.00", "1.0"), ("65003.00", "3.0")],
    )
    return b


@pytest.fixture
def venue(clock: TestClock) -> SimVenue:
    config = SimVenueConfig(
        accounts={"main": {"USD": "1000000", "BTC": "10"}, "mm": {"USD": "1000000", "BTC": "10"}},
    )
    return SimVenue(default_instruments(), clock, config)


Submit = Callable[..., SubmitOrder]


@pytest.fixture
def submit(clock: TestClock) -> Submit:
    def build(
        coid: str,
        side: Side,
        qty: str,
        price: str | None = None,
        *,
        account: str = "main",
        order_type: OrderType | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        trigger: str | None = None,
        expire_at_ns: int | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        instrument: InstrumentId = BTC,
    ) -> SubmitOrder:
        if order_type is None:
            order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
        return SubmitOrder(
            ts_init=clock.timestamp_ns(),
            account_id=AccountId(account),
            strategy_id=StrategyId("test"),
            client_order_id=ClientOrderId(coid),
            instrument_id=instrument,
            side=side,
            order_type=order_type,
            quantity=Quantity(qty),
            price=Price(price) if price is not None else None,
            trigger_price=Price(trigger) if trigger is not None else None,
            time_in_force=tif,
            expire_at_ns=expire_at_ns,
            post_only=post_only,
            reduce_only=reduce_only,
        )

    return build


@pytest.fixture
def cancel(clock: TestClock) -> Callable[..., CancelOrder]:
    def build(coid: str, account: str = "main") -> CancelOrder:
        return CancelOrder(
            ts_init=clock.timestamp_ns(), account_id=AccountId(account), client_order_id=ClientOrderId(coid)
        )

    return build


@pytest.fixture
def amend(clock: TestClock) -> Callable[..., AmendOrder]:
    def build(
        coid: str,
        *,
        qty: str | None = None,
        price: str | None = None,
        trigger: str | None = None,
        account: str = "main",
    ) -> AmendOrder:
        return AmendOrder(
            ts_init=clock.timestamp_ns(),
            account_id=AccountId(account),
            client_order_id=ClientOrderId(coid),
            quantity=Quantity(qty) if qty is not None else None,
            price=Price(price) if price is not None else None,
            trigger_price=Price(trigger) if trigger is not None else None,
        )

    return build


@pytest.fixture
def cancel_all(clock: TestClock) -> Callable[..., CancelAllOrders]:
    def build(
        account: str = "main", *, side: Side | None = None, instrument: InstrumentId | None = None
    ) -> CancelAllOrders:
        return CancelAllOrders(
            ts_init=clock.timestamp_ns(), account_id=AccountId(account), instrument_id=instrument, side=side
        )

    return build
