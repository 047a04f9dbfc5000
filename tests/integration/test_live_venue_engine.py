"""The engine with ``[venue] name = "binance"`` (live, keys from secret files) against the local Binance
trading mock: orders leave through the real ccxt venue, fills come back over the user websocket,
the portfolio's balances are the venue's, and an order that filled while the engine was down is
found by reconciliation when it starts again.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mockex.trading_binance import BinanceTradingMock, load_exchange_info

from engine.app import Engine
from engine.app.trading import MANUAL_STRATEGY
from engine.config import load_config
from engine.core.commands import SubmitOrder
from engine.core.enums import OrderStatus, OrderType, Side
from engine.core.fixed import Price, Quantity
from engine.core.ids import ClientOrderId, InstrumentId
from engine.venues.ccxt import CcxtVenue

API_KEY = "liveKEY-3c9e1a7f5b2d8046"
SECRET = "liveSECRET-8b1f4d7a2e6c9035"
BTC = InstrumentId("BINANCE:BTCUSDT")


@pytest.fixture
async def mock(shared_data: Path) -> AsyncIterator[BinanceTradingMock]:
    server = BinanceTradingMock(
        load_exchange_info(shared_data, {"BTCUSDT"}), api_key=API_KEY, secret=SECRET, market_price="50000"
    )
    await server.start()
    yield server
    await server.stop()


def live_overrides(tmp_path: Path, endpoint: str) -> dict[str, Any]:
    (tmp_path / "api_key").write_text(API_KEY + "\n")
    (tmp_path / "secret").write_text(SECRET + "\n")
    return {
        "data_dir": str(tmp_path / "data"),
        "grpc.port": 0,
        "metrics.port": 0,
        "store.durability": "async",
        "auth.argon2_memory_kib": 64,
        "auth.argon2_time_cost": 1,
        "venue.name": "binance",
        "venue.endpoint": endpoint,
        "venue.api_key_file": str(tmp_path / "api_key"),
        "venue.secret_file": str(tmp_path / "secret"),
        "venue.backoff_ms": 200,
        "risk.quote_currency": "USDT",
        "risk.instruments": {"BINANCE:BTCUSDT": {"max_order_quantity": "5", "max_position": "20"}},
    }


async def eventually(predicate: Callable[[], bool], timeout_s: float = 15.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def buy(coid: str, quantity: str, price: str, account: Any) -> SubmitOrder:
    return SubmitOrder(
        ts_init=0,
        account_id=account,
        strategy_id=MANUAL_STRATEGY,
        client_order_id=ClientOrderId(coid),
        instrument_id=BTC,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Quantity(quantity),
        price=Price(price),
    )


async def submit_when_priced(engine: Engine, command: SubmitOrder) -> Any:
    """Submit once the feed's first book has given the risk gate a reference price."""
    trading = engine.trading
    assert trading is not None and trading.oms is not None
    book = trading.external.feed.books[BTC]  # type: ignore[union-attr]
    await eventually(lambda: book.best_bid() is not None, what="a polled book from the venue")
    await asyncio.sleep(1.2)  # the quote that follows the book reaches the gate
    return await trading.oms.submit(command)


async def test_live_engine_when_no_risk_settings_then_limits_are_derived_from_the_venues_book(
    tmp_path: Path, mock: BinanceTradingMock
) -> None:
    """Live with only keys and the endpoint: USDT from the symbol, BTCUSDT's limits from the venue's
    REST book (mid 50,000): 10,000 / 50,000 = 0.2 per order, 50,000 / 50,000 = 1 held. The gate
    enforces them: 0.3 is denied, 0.01 goes to the venue."""
    overrides = {
        k: v for k, v in live_overrides(tmp_path, mock.endpoint).items() if not k.startswith("risk.")
    }
    engine = Engine(load_config(env={}, overrides=overrides))
    await engine.start()
    try:
        trading = engine.trading
        assert trading is not None and trading.risk is not None and trading.oms is not None
        assert trading.risk.quote_currency == "USDT" and trading.pnl_currency() == "USDT"
        limits = trading.risk.limits().instruments[BTC]
        assert limits.max_order_quantity == Quantity("0.2")
        assert limits.max_position == Quantity("1")
        order = await submit_when_priced(engine, buy("live-ok-0", "0.01", "49990", trading.account))
        for attempt in range(1, 40):  # until the polled book's quote has reached the gate
            if order.reason != "RISK_NO_REFERENCE_PRICE":
                break
            await asyncio.sleep(0.25)
            order = await trading.oms.submit(buy(f"live-ok-{attempt}", "0.01", "49990", trading.account))
        await eventually(lambda: order.status is OrderStatus.ACCEPTED, what=f"accepted ({order.reason})")
        too_big = await trading.oms.submit(buy("live-big", "0.3", "49990", trading.account))
        assert too_big.status is OrderStatus.DENIED and too_big.reason == "RISK_MAX_ORDER_QUANTITY"
    finally:
        await engine.stop()


async def test_live_engine_when_orders_fill_at_the_venue_then_oms_portfolio_and_reconciliation_agree(
    tmp_path: Path, mock: BinanceTradingMock
) -> None:
    overrides = live_overrides(tmp_path, mock.endpoint)
    engine = Engine(load_config(env={}, overrides=overrides))
    await engine.start()
    try:
        trading = engine.trading
        assert trading is not None and isinstance(trading.venue, CcxtVenue)
        account = trading.account
        assert trading.portfolio is not None and trading.oms is not None
        assert trading.portfolio.balances(account)["USDT"].as_decimal() == mock.balances["USDT"]
        order = await submit_when_priced(engine, buy("live-1", "0.01", "49990", account))
        await eventually(
            lambda: order.status is OrderStatus.ACCEPTED,
            what=f"accepted ({order.status.name} {order.reason})",
        )
        await mock.fill("live-1", "0.01")
        await eventually(lambda: order.status is OrderStatus.FILLED, what="filled over the user stream")
        position = trading.portfolio.position(account, BTC)
        assert position.quantity == Quantity("0.01").as_decimal()

        # An order rests; the engine stops; the venue fills it; the engine starts again.
        resting = await trading.oms.submit(buy("live-2", "0.02", "49980", account))
        await eventually(lambda: resting.status is OrderStatus.ACCEPTED, what="second order accepted")
    finally:
        await engine.stop()
    await mock.fill("live-2", "0.02")
    restarted = Engine(load_config(env={}, overrides=overrides))
    await restarted.start()
    try:
        trading = restarted.trading
        assert trading is not None and trading.oms is not None and trading.portfolio is not None
        order = trading.oms.get(trading.account, ClientOrderId("live-2"))
        assert order.status is OrderStatus.FILLED and order.filled_quantity == Quantity("0.02")
        # Found by the start-up reconciliation (lookup by client order id), before trading began.
        assert (
            isinstance(trading.venue, CcxtVenue) and trading.venue.resyncs >= 1 and trading.venue.lookups >= 1
        )
        position = trading.portfolio.position(trading.account, BTC)
        assert position.quantity == Quantity("0.03").as_decimal()
        balances = trading.portfolio.balances(trading.account)
        assert balances["BTC"].as_decimal() == mock.balances["BTC"]
        assert balances["USDT"].as_decimal() == mock.balances["USDT"]
        assert len(mock.creates()) == 2  # nothing was ever sent twice
    finally:
        await restarted.stop()
