"""PortfolioService over a real grpc.aio channel: positions, balances and PnL after real fills."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import grpc
import pytest
from test_orders_api_harness import ASK, Api, serve_api, trailers

from algotrendy.v1 import common_pb2, orders_pb2, portfolio_pb2


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with serve_api() as api:
        yield api


async def market_buy(api: Api, coid: str, quantity: str) -> None:
    await api.orders.SubmitOrder(
        orders_pb2.SubmitOrderRequest(
            account_id="main",
            client_order_id=coid,
            instrument_id="SIM:BTC-USD",
            side=common_pb2.SIDE_BUY,
            order_type=common_pb2.ORDER_TYPE_MARKET,
            time_in_force=common_pb2.TIME_IN_FORCE_IOC,
            quantity=common_pb2.Decimal(value=quantity),
        )
    )
    await api.settle()


async def rejected(call: Any, request: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(request)
    return info.value


async def test_list_positions_when_market_buy_filled_then_long_position_at_the_ask(api: Api) -> None:
    assert list((await api.positions.ListPositions(portfolio_pb2.ListPositionsRequest())).positions) == []
    await market_buy(api, "m-1", "0.5")
    response = await api.positions.ListPositions(portfolio_pb2.ListPositionsRequest(account_id="main"))
    (position,) = response.positions
    assert (position.account_id, position.instrument_id, position.currency) == ("main", "SIM:BTC-USD", "USD")
    assert position.quantity.value == "0.50000"
    assert Decimal(position.average_entry_price.value) == Decimal(ASK)
    assert Decimal(position.realised_pnl.value) == 0
    assert position.HasField("mark_price") and position.HasField("unrealised_pnl")
    filtered = await api.positions.ListPositions(
        portfolio_pb2.ListPositionsRequest(instrument_id="SIM:ETH-USD")
    )
    assert list(filtered.positions) == []
    everyone = await api.positions.ListPositions(
        portfolio_pb2.ListPositionsRequest(instrument_id="SIM:BTC-USD")
    )
    assert [p.account_id for p in everyone.positions] == ["main"]


async def test_get_balances_when_bought_then_quote_debited_base_credited_sorted_by_asset(api: Api) -> None:
    await market_buy(api, "m-1", "0.5")
    response = await api.positions.GetBalances(portfolio_pb2.GetBalancesRequest(account_id="main"))
    assert response.account_id == "main"
    balances = {b.asset: Decimal(b.total.value) for b in response.balances}
    assert [b.asset for b in response.balances] == ["BTC", "USD"]
    assert balances["BTC"] == Decimal("100.5")
    notional = Decimal(ASK) * Decimal("0.5")
    fee = notional * Decimal("0.0005")
    assert balances["USD"] == Decimal("10000000") - notional - fee
    empty = await api.positions.GetBalances(portfolio_pb2.GetBalancesRequest(account_id="other"))
    assert list(empty.balances) == []


async def test_get_pnl_when_bought_then_fees_equity_and_loss_limit_marks_reported(api: Api) -> None:
    await market_buy(api, "m-1", "0.5")
    pnl = await api.positions.GetPnl(portfolio_pb2.GetPnlRequest(account_id="main"))
    assert (pnl.account_id, pnl.currency, pnl.ts_ns) == ("main", "USD", api.clock.timestamp_ns())
    fees = Decimal(pnl.fees.value)
    assert fees == Decimal(ASK) * Decimal("0.5") * Decimal("0.0005")
    assert Decimal(pnl.realised_pnl.value) == 0
    assert pnl.HasField("equity")
    assert pnl.HasField("day_start_equity") and pnl.HasField("peak_equity")
    assert Decimal(pnl.peak_equity.value) >= Decimal(pnl.equity.value)
    fresh = await api.positions.GetPnl(portfolio_pb2.GetPnlRequest(account_id="other"))
    assert Decimal(fresh.equity.value) == 0
    assert not fresh.HasField("day_start_equity")


@pytest.mark.parametrize(
    ("method", "request_", "code", "detail"),
    [
        ("GetBalances", portfolio_pb2.GetBalancesRequest(), grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
        (
            "GetBalances",
            portfolio_pb2.GetBalancesRequest(account_id="a b"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "account_id",
        ),
        (
            "GetBalances",
            portfolio_pb2.GetBalancesRequest(account_id="ghost"),
            grpc.StatusCode.NOT_FOUND,
            "UNKNOWN_ACCOUNT",
        ),
        ("GetPnl", portfolio_pb2.GetPnlRequest(), grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
        (
            "GetPnl",
            portfolio_pb2.GetPnlRequest(account_id="x" * 129),
            grpc.StatusCode.INVALID_ARGUMENT,
            "account_id",
        ),
        (
            "GetPnl",
            portfolio_pb2.GetPnlRequest(account_id="ghost"),
            grpc.StatusCode.NOT_FOUND,
            "UNKNOWN_ACCOUNT",
        ),
        (
            "ListPositions",
            portfolio_pb2.ListPositionsRequest(account_id="ghost"),
            grpc.StatusCode.NOT_FOUND,
            "UNKNOWN_ACCOUNT",
        ),
        (
            "ListPositions",
            portfolio_pb2.ListPositionsRequest(account_id="!"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "account_id",
        ),
        (
            "ListPositions",
            portfolio_pb2.ListPositionsRequest(instrument_id="BTC-USD"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "instrument_id",
        ),
        (
            "ListPositions",
            portfolio_pb2.ListPositionsRequest(instrument_id="SIM:DOGE-USD"),
            grpc.StatusCode.NOT_FOUND,
            "UNKNOWN_INSTRUMENT",
        ),
    ],
)
async def test_portfolio_when_request_invalid_then_named_error_and_nothing_changes(
    api: Api, method: str, request_: Any, code: grpc.StatusCode, detail: str
) -> None:
    await market_buy(api, "m-1", "0.1")
    before = api.state()
    error = await rejected(getattr(api.positions, method), request_)
    assert error.code() == code
    key = "algotrendy-field" if code is grpc.StatusCode.INVALID_ARGUMENT else "algotrendy-reason"
    assert trailers(error)[key] == detail
    assert api.state() == before
    assert [m for m, _, _ in api.audit] == ["SubmitOrder"]  # reads are never audited
