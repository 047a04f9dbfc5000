"""Paper trading on live data: the engine with ``[venue] name = "binance", paper = true`` — the ccxt.pro
feed of a local mock exchange replaying a recorded Binance spot session (FEEDS' tests/mockex) drives
the paper venue; our orders fill against those real prices, with no API keys anywhere.

In process (the Engine object, orders through its OMS) and as a subprocess (``algotrendy serve
--venue binance --paper``, an order over gRPC).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.app import Engine
from engine.app.trading import MANUAL_STRATEGY
from engine.config import load_config
from engine.core.commands import SubmitOrder
from engine.core.enums import OrderStatus, OrderType, Side
from engine.core.errors import StartupError
from engine.core.events import OrderFilled, TradeTick
from engine.core.fixed import Quantity
from engine.core.ids import ClientOrderId, InstrumentId
from tests.mockex.venues import VenueMock, binance

NKN = InstrumentId("BINANCE:NKNUSDT")


@pytest.fixture
async def venue_mock(shared_data: Path) -> AsyncIterator[VenueMock]:
    mock = binance(shared_data)
    await mock.mock.start()
    yield mock
    await mock.mock.stop()


def paper_overrides(tmp_path: Path, endpoint: str) -> dict[str, Any]:
    return {
        "data_dir": str(tmp_path / "data"),
        "grpc.port": 0,
        "metrics.port": 0,
        "store.durability": "async",
        "auth.argon2_memory_kib": 64,
        "auth.argon2_time_cost": 1,
        "venue.name": "binance",
        "venue.paper": True,
        "venue.endpoint": endpoint,
        "venue.symbols": ["NKN/USDT"],
        "risk.quote_currency": "USDT",
        # NKN's 0.00001 USDT tick x the book's 1e-8 lot makes the gate count in 1e-13 USDT units:
        # limits must fit int64 at that resolution (< 922,337 USDT).
        "risk.max_gross_exposure": "500000",
        "risk.max_net_exposure": "500000",
        "risk.max_order_notional": "100000",
        "risk.max_daily_loss": "10000",
        "risk.max_drawdown": "20000",
        "risk.instruments": {"BINANCE:NKNUSDT": {"max_order_quantity": "100000", "max_position": "1000000"}},
    }


async def eventually(predicate: Callable[[], bool], timeout_s: float = 15.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_paper_engine_when_the_feed_is_live_then_orders_fill_at_the_venues_real_prices(
    tmp_path: Path, venue_mock: VenueMock
) -> None:
    assert not any(k.startswith("ALGOTRENDY_VENUE_") for k in os.environ)  # no keys anywhere
    config = load_config(env={}, overrides=paper_overrides(tmp_path, f"127.0.0.1:{venue_mock.mock.port}"))
    engine = Engine(config)
    await engine.start()
    try:
        trading = engine.trading
        assert trading is not None and trading.external is not None and trading.oms is not None
        assert list(trading.instruments) == [NKN]
        book = trading.external.feed.books[NKN]
        await eventually(
            lambda: book.best_ask() is not None and book.best_bid() is not None, what="synced book"
        )
        best = book.best_ask()
        assert best is not None
        ask_price = best[0]
        # The instrument's book is what GetOrderBook serves.
        assert engine.marketdata.instrument(NKN).id == NKN
        fills: list[OrderFilled] = []
        engine.bus.subscribe(
            f"events.order.{trading.account}",
            lambda e: fills.append(e) if isinstance(e, OrderFilled) else None,
        )
        quantity = Quantity("10")
        order = await trading.oms.submit(
            SubmitOrder(
                ts_init=0,
                account_id=trading.account,
                strategy_id=MANUAL_STRATEGY,
                client_order_id=ClientOrderId("paper-1"),
                instrument_id=NKN,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=quantity,
                price=ask_price,  # marketable at the best ask of the replayed book
            )
        )
        await eventually(
            lambda: order.status is OrderStatus.FILLED,
            what=f"fill (order is {order.status.name}, {order.reason})",
        )
        assert fills and all(f.last_price <= ask_price for f in fills)
        assert sum((f.last_quantity for f in fills), Quantity("0")) == quantity
        position = trading.portfolio.position(trading.account, NKN)  # type: ignore[union-attr]
        assert position.quantity == quantity.as_decimal()
        balances = trading.portfolio.balances(trading.account)  # type: ignore[union-attr]
        assert balances["NKN"].as_decimal() == quantity.as_decimal()
        assert balances["USDT"].as_decimal() < 100_000
        bid = book.best_bid()
        assert bid is not None
        resting = await trading.oms.submit(
            SubmitOrder(
                ts_init=0,
                account_id=trading.account,
                strategy_id=MANUAL_STRATEGY,
                client_order_id=ClientOrderId("paper-rest"),
                instrument_id=NKN,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=quantity,
                price=trading.instruments[NKN].ticks_to_price(
                    trading.instruments[NKN].price_to_ticks(bid[0]) - 50
                ),
            )
        )
        await eventually(lambda: resting.status is OrderStatus.ACCEPTED, what="resting order accepted")
    finally:
        await engine.stop()
    # The paper venue's state is durable: after a restart the resting order is reconciled, not lost.
    again = Engine(config)
    await again.start()
    try:
        assert again.trading is not None and again.trading.oms is not None
        restored = again.trading.oms.get(again.trading.account, ClientOrderId("paper-rest"))
        assert restored.status is OrderStatus.ACCEPTED
        assert again.trading_state.name == "ACTIVE"
        assert again.trading.portfolio.position(again.trading.account, NKN).quantity == quantity.as_decimal()  # type: ignore[union-attr]
    finally:
        await again.stop()


async def test_paper_engine_when_feeds_list_the_venues_own_symbol_then_they_share_its_feed(
    tmp_path: Path, venue_mock: VenueMock
) -> None:
    """[feeds.sources] naming the trading venue's NKN/USDT next to BLZ/ETH: one feed per instrument (the
    venue's serves NKN; the source keeps BLZ/ETH), both books served, each recorded trade on the bus once."""
    endpoint = f"127.0.0.1:{venue_mock.mock.port}"
    overrides = paper_overrides(tmp_path, endpoint)
    overrides["feeds.sources"] = [
        {"venue": "binance", "symbols": ["NKN/USDT", "BLZ/ETH"], "endpoint": endpoint}
    ]
    engine = Engine(load_config(env={}, overrides=overrides))
    trades: list[TradeTick] = []
    engine.bus.subscribe(f"data.trades.{NKN}", trades.append)
    await engine.start()
    try:
        assert engine.feeds is not None
        assert [h.settings.symbols for h in engine.feeds.handlers] == [("BLZ/ETH",)]
        assert [str(i.id) for i in engine.marketdata.instruments()] == ["BINANCE:BLZETH", str(NKN)]
        await eventually(lambda: bool(trades), what="the recorded NKN trade")
        await asyncio.sleep(0.3)  # a second feed would replay the same trade now
        assert len({t.trade_id for t in trades}) == len(trades) == 1
    finally:
        await engine.stop()


async def test_paper_engine_when_the_data_dir_belongs_to_another_venue_mode_then_it_refuses_to_start(
    tmp_path: Path, venue_mock: VenueMock
) -> None:
    overrides = paper_overrides(tmp_path, f"127.0.0.1:{venue_mock.mock.port}")
    engine = Engine(load_config(env={}, overrides=overrides))
    await engine.start()
    await engine.stop()
    sim = {k: v for k, v in overrides.items() if not k.startswith(("venue.", "risk."))}
    other = Engine(load_config(env={}, overrides=sim))
    with pytest.raises(StartupError, match="paper:binance"):
        await other.start()


def recorded_ask_prices(mock: VenueMock, wire_symbol: str = "NKNUSDT") -> set[Decimal]:
    """Every ask price the mock's recorded Binance session shows for ``wire_symbol`` (REST snapshot,
    depth diffs, book ticker): where a paper market buy can fill."""
    prices: set[Decimal] = set()
    for record in mock.mock.rest:
        if record.path == "/api/v3/depth" and record.query.get("symbol") == wire_symbol:
            prices.update(Decimal(level[0]) for level in json.loads(record.body)["asks"])
    stream = wire_symbol.lower()
    for text in mock.mock.ws_messages:
        if f'"{stream}@' not in text:
            continue
        data = json.loads(text)["data"]
        if "a" in data and isinstance(data["a"], list):
            prices.update(Decimal(level[0]) for level in data["a"] if Decimal(level[1]) > 0)
        elif "A" in data:
            prices.add(Decimal(data["a"]))
    return prices


@pytest.mark.slow
async def test_serve_venue_binance_paper_when_only_the_endpoint_is_set_then_market_and_limit_orders_trade(
    tmp_path: Path, venue_mock: VenueMock
) -> None:
    """Out of the box: no risk, balance or auth settings — the quote currency, NKN's limits and the
    paper balance are derived (and logged once); a MARKET order fills at the recorded prices, a LIMIT
    order below the bid rests and cancels."""
    import grpc
    from engine_process import EngineProcess, clean_env

    from algotrendy.v1 import (
        common_pb2,
        marketdata_pb2,
        marketdata_pb2_grpc,
        orders_pb2,
        orders_pb2_grpc,
        portfolio_pb2,
        portfolio_pb2_grpc,
    )

    endpoint = f"127.0.0.1:{venue_mock.mock.port}"  # the mock's recording has NKN/USDT, not BTC/USDT
    engine = EngineProcess(
        tmp_path / "data",
        *("--venue", "binance", "--paper", "--symbols", "NKN/USDT", "--set", f"venue.endpoint={endpoint}"),
        env=clean_env(),
    )
    loop = asyncio.get_running_loop()
    try:
        await asyncio.to_thread(engine.wait_started, 60.0)  # the mock answers on this loop meanwhile
        defaults = [r for r in engine.logs if r.get("event") == "venue.defaults"]
        assert len(defaults) == 1
        assert defaults[0]["quote_currency"] == "USDT"
        assert defaults[0]["paper_balances"] == {"USDT": "100000"}
        derived = defaults[0]["instruments"][str(NKN)]
        reference = Decimal(derived["reference_price"])
        asks = recorded_ask_prices(venue_mock)
        assert min(asks) * Decimal("0.95") < reference < max(asks)  # the recorded book's mid at start
        assert Decimal(derived["max_order_quantity"]) * reference <= 10_000  # venue.default_order_notional
        assert Decimal(derived["max_position"]) * reference <= 50_000
        assert not any(r.get("event") == "venue.instrument_without_risk_limits" for r in engine.logs)
        async with engine.aio_channel() as channel:
            orders = orders_pb2_grpc.OrderServiceStub(channel)
            market = orders_pb2.SubmitOrderRequest(
                account_id="main",
                client_order_id="paper-market-0",
                instrument_id=str(NKN),
                side=common_pb2.SIDE_BUY,
                order_type=common_pb2.ORDER_TYPE_MARKET,
                quantity=common_pb2.Decimal(value="25"),
                time_in_force=common_pb2.TIME_IN_FORCE_IOC,
            )
            deadline = loop.time() + 30
            attempt = 0
            while True:  # until the feed's first prices have reached the risk gate
                try:
                    order = (await orders.SubmitOrder(market, timeout=10)).order
                    break
                except grpc.aio.AioRpcError as exc:  # denied: no reference price yet
                    assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc
                    assert loop.time() < deadline, exc.details()
                attempt += 1
                market.client_order_id = f"paper-market-{attempt}"
                await asyncio.sleep(0.2)
            get = orders_pb2.GetOrderRequest(account_id="main", client_order_id=market.client_order_id)
            while order.status != common_pb2.ORDER_STATUS_FILLED:
                assert loop.time() < deadline, order
                await asyncio.sleep(0.05)
                order = (await orders.GetOrder(get, timeout=10)).order
            assert Decimal(order.filled_quantity.value) == 25
            average = Decimal(order.average_fill_price.value)
            assert min(asks) <= average <= max(asks)  # the mock's prices, nothing invented

            balances = await portfolio_pb2_grpc.PortfolioServiceStub(channel).GetBalances(
                portfolio_pb2.GetBalancesRequest(account_id="main"), timeout=10
            )
            held = {b.asset: Decimal(b.total.value) for b in balances.balances}
            assert held["NKN"] == 25
            assert 100_000 - 25 * average * Decimal("1.01") <= held["USDT"] <= 100_000 - 25 * average

            book = await marketdata_pb2_grpc.MarketDataServiceStub(channel).GetOrderBook(
                marketdata_pb2.GetOrderBookRequest(instrument_id=str(NKN), depth=1), timeout=10
            )
            below_bid = Decimal(book.bids[0].price.value) - Decimal("0.0005")
            limit = await orders.SubmitOrder(
                orders_pb2.SubmitOrderRequest(
                    account_id="main",
                    client_order_id="paper-limit",
                    instrument_id=str(NKN),
                    side=common_pb2.SIDE_BUY,
                    order_type=common_pb2.ORDER_TYPE_LIMIT,
                    quantity=common_pb2.Decimal(value="100"),
                    price=common_pb2.Decimal(value=str(below_bid)),
                    time_in_force=common_pb2.TIME_IN_FORCE_GTC,
                ),
                timeout=10,
            )
            get = orders_pb2.GetOrderRequest(account_id="main", client_order_id="paper-limit")
            status = limit.order.status
            while status != common_pb2.ORDER_STATUS_ACCEPTED:
                assert status in (common_pb2.ORDER_STATUS_INITIALIZED, common_pb2.ORDER_STATUS_SUBMITTED)
                assert loop.time() < deadline, status
                await asyncio.sleep(0.05)
                status = (await orders.GetOrder(get, timeout=10)).order.status
            await orders.CancelOrder(
                orders_pb2.CancelOrderRequest(account_id="main", client_order_id="paper-limit"), timeout=10
            )
            while status != common_pb2.ORDER_STATUS_CANCELED:
                assert loop.time() < deadline, status
                await asyncio.sleep(0.05)
                status = (await orders.GetOrder(get, timeout=10)).order.status
        assert not any("ALGOTRENDY_VENUE" in line for line in engine.raw_stderr)
        assert await asyncio.to_thread(engine.stop) == 0
    finally:
        engine.kill()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"risk.quote_currency": "USD"},
            'risk.quote_currency: is USD but BTC/USDT is quoted in USDT: set risk.quote_currency = "USDT"',
        ),
        ({"venue.symbols": ["BTC/USDT", "ETH/BTC"]}, "venue.symbols: are quoted in different currencies"),
    ],
    ids=["explicit-currency-wins", "symbols-of-two-currencies"],
)
async def test_paper_engine_when_risk_currency_cannot_be_the_symbols_quote_then_refused_before_any_network(
    tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    overrides = {
        "data_dir": str(tmp_path / "data"),
        "grpc.port": 0,
        "metrics.port": 0,
        "venue.name": "binance",
        "venue.paper": True,
        "venue.endpoint": "127.0.0.1:9",  # nothing listens: the check must come first
        **settings,
    }
    engine = Engine(load_config(env={}, overrides=overrides))
    with pytest.raises(StartupError, match=re.escape(message)):
        await engine.start()
