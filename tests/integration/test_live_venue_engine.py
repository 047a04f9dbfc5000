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
