"""The engine in this process on port 0, spoken to over a real grpc.aio channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from grpc_auth import admin_authorization, aio_channel

from algotrendy.v1 import common_pb2, engine_pb2, engine_pb2_grpc
from engine.api.server import GrpcServer
from engine.app import Engine
from engine.config import load_config
from engine.core.enums import EngineState, TradingState
from engine.core.errors import InvariantViolation
from engine.core.events import TradingStateChanged
from engine.telemetry import EngineMetrics


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    config = load_config(
        env={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "grpc.port": 0,
            "metrics.port": 0,
            "metrics.loop_lag_interval_ms": 2,
            "sim.step_ms": 20,
            "store.durability": "async",
            "auth.argon2_memory_kib": 64,
            "auth.argon2_time_cost": 1,
        },
    )
    instance = Engine(config)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


def _admin_channel(engine: Engine) -> grpc.aio.Channel:
    return aio_channel(f"127.0.0.1:{engine.grpc.port}", admin_authorization(engine.config.data_dir))


async def _get_status(engine: Engine) -> engine_pb2.GetStatusResponse:
    async with _admin_channel(engine) as channel:
        return await engine_pb2_grpc.EngineServiceStub(channel).GetStatus(
            engine_pb2.GetStatusRequest(), timeout=5
        )


async def test_get_status_when_loop_lag_sampled_then_percentiles_reported(engine: Engine) -> None:
    deadline = asyncio.get_running_loop().time() + 5
    while engine.loop_lag.snapshot().samples < 20:
        assert asyncio.get_running_loop().time() < deadline, "loop-lag monitor produced no samples"
        await asyncio.sleep(0.01)
    status = await _get_status(engine)
    lag = status.loop_lag
    assert lag.samples >= 20
    assert 0 < lag.p50_ns <= lag.p99_ns <= lag.max_ns
    assert lag.window_ns == lag.samples * 2_000_000
    assert status.engine_state == engine_pb2.ENGINE_STATE_RUNNING


async def test_invariant_violation_when_raised_in_a_handler_then_trading_halts(engine: Engine) -> None:
    changes: list[TradingStateChanged] = []
    engine.bus.subscribe("engine.trading_state", changes.append)

    def broken(message: object) -> None:
        raise InvariantViolation("fill for an unknown order")

    engine.bus.subscribe("test.topic", broken)
    engine.bus.publish("test.topic", object())
    assert engine.trading_state is TradingState.HALTED
    assert [c.current for c in changes] == [TradingState.HALTED]
    # The metrics thread reads the state the loop published, and it followed the halt.
    assert engine.metrics.registry.get_sample_value("algotrendy_trading_state") == int(TradingState.HALTED)
    assert "fill for an unknown order" in changes[0].reason
    status = await _get_status(engine)
    assert status.trading_state == common_pb2.TRADING_STATE_HALTED
    assert engine.bus.handler_error_count == 1


async def test_get_status_when_provider_fails_then_internal_without_leaking_details() -> None:
    def failing_status():  # a status provider that breaks
        raise RuntimeError("secret internals")

    config = load_config(env={}, overrides={"grpc.port": 0})
    server = GrpcServer(config.grpc, EngineMetrics("test"), failing_status)
    port = server.bind()
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await engine_pb2_grpc.EngineServiceStub(channel).GetStatus(
                    engine_pb2.GetStatusRequest(), timeout=5
                )
        assert info.value.code() == grpc.StatusCode.INTERNAL
        assert "secret" not in (info.value.details() or "")
        assert ("algotrendy-reason", "INTERNAL") in tuple(info.value.trailing_metadata() or ())
    finally:
        await server.stop(0)


async def test_engine_when_stopped_then_every_component_stopped_and_lock_released(tmp_path: Path) -> None:
    config = load_config(
        env={}, overrides={"data_dir": str(tmp_path / "d"), "grpc.port": 0, "metrics.port": 0}
    )
    first = Engine(config)
    await first.start()
    await first.stop()
    assert first.state is EngineState.STOPPED
    assert {c.status.state.name for c in first.components.values()} == {"STOPPED"}
    second = Engine(config)  # the data directory lock was released
    await second.start()
    assert second.store.start_count == 2
    await second.stop()


async def test_engine_when_sim_enabled_then_live_books_over_grpc_and_trades_on_the_bus(
    engine: Engine,
) -> None:
    from algotrendy.v1 import marketdata_pb2, marketdata_pb2_grpc

    trades: list[object] = []
    engine.bus.subscribe("data.trades.SIM:BTC-USD", trades.append)
    deadline = asyncio.get_running_loop().time() + 20
    while not trades:
        assert asyncio.get_running_loop().time() < deadline, "the market simulator printed no trades"
        await asyncio.sleep(0.05)
    async with _admin_channel(engine) as channel:
        stub = marketdata_pb2_grpc.MarketDataServiceStub(channel)
        listed = await stub.ListInstruments(marketdata_pb2.ListInstrumentsRequest(venue="SIM"))
        assert "SIM:BTC-USD" in [i.instrument_id for i in listed.instruments]
        book = await stub.GetOrderBook(
            marketdata_pb2.GetOrderBookRequest(instrument_id="SIM:BTC-USD", depth=5)
        )
    assert book.bids and book.asks
    assert Decimal(book.bids[0].price.value) < Decimal(book.asks[0].price.value)
    assert not book.crossed
    status = await _get_status(engine)
    states = {c.name: c.state for c in status.components}
    assert states["sim_venue"] == states["market_simulator"] == common_pb2.COMPONENT_STATE_RUNNING
