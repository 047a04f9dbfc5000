"""A state-changing RPC answers only once its audit record is committed: with either durability, the
moment SubmitOrder or SetTradingState returns, a fresh read transaction of the engine's store
already holds the call's record (who, what, the outcome) at the head of an intact chain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from grpc_auth import admin_authorization, aio_channel
from sdk_harness import running_engine

from algotrendy.v1 import common_pb2, orders_pb2, orders_pb2_grpc, risk_pb2, risk_pb2_grpc
from engine.app import Engine
from engine.store.audit import tail, verify

INSTRUMENT = "SIM:BTC-USD"


@pytest.fixture(params=["async", "sync"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    overrides = {"store.durability": request.param, "metrics.enabled": False, "sim.step_ms": 50}
    async with running_engine(tmp_path / "data", quoted=False, **overrides) as running:
        yield running.engine


async def _resting_price(engine: Engine) -> str:
    """A buy price 3% under the best bid of the simulated market (polled until it quotes)."""
    deadline = time.monotonic() + 30
    while not (book := engine.marketdata.snapshot(INSTRUMENT, 1)).bids:
        assert time.monotonic() < deadline, f"the simulated market left {INSTRUMENT} without a bid"
        await asyncio.sleep(0.02)
    return str((book.bids[0][0].as_decimal() * Decimal("0.97")).quantize(Decimal("0.1")))


async def test_commands_when_answered_then_their_audit_records_already_committed(engine: Engine) -> None:
    assert engine.trading is not None and engine.trading.persistence is not None
    store = engine.trading.persistence.store
    authorization = admin_authorization(engine.config.data_dir)
    actor = f"admin/key:{authorization.split('_')[1]}"
    price = await _resting_price(engine)
    async with aio_channel(f"127.0.0.1:{engine.grpc.port}", authorization) as channel:
        orders = orders_pb2_grpc.OrderServiceStub(channel)
        for n in range(3):
            answer = await orders.SubmitOrder(
                orders_pb2.SubmitOrderRequest(
                    account_id=engine.config.sim.account,
                    client_order_id=f"durable-{n}",
                    instrument_id=INSTRUMENT,
                    side=common_pb2.SIDE_BUY,
                    order_type=common_pb2.ORDER_TYPE_LIMIT,
                    quantity=common_pb2.Decimal(value="0.001"),
                    price=common_pb2.Decimal(value=price),
                    time_in_force=common_pb2.TIME_IN_FORCE_GTC,
                )
            )
            assert answer.order.client_order_id == f"durable-{n}"
            head = tail(store.env, 1)[-1]  # no wait: what is committed right now
            assert (head.actor, head.action, head.result) == (actor, "SubmitOrder", "OK")
            assert head.summary["client_order_id"] == f"durable-{n}"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await orders.SubmitOrder(orders_pb2.SubmitOrderRequest(account_id="main"))
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        head = tail(store.env, 1)[-1]
        assert (head.action, head.result) == ("SubmitOrder", "INVALID_ARGUMENT:INVALID_ARGUMENT")
        await risk_pb2_grpc.RiskServiceStub(channel).SetTradingState(
            risk_pb2.SetTradingStateRequest(state=common_pb2.TRADING_STATE_REDUCING, reason="drill")
        )
        head = tail(store.env, 1)[-1]
        assert (head.actor, head.action, head.result) == (actor, "SetTradingState", "OK")
    assert verify(store).ok
