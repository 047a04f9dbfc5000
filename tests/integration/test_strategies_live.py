"""Strategies configured in ``[[strategies]]`` run live in the engine: bars from the bar service on
the bus, intents through the risk gate and the OMS to the simulated venue; a failing strategy is
quarantined while the engine and the other strategies keep running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from engine.app import Engine
from engine.config import load_config
from engine.core.enums import OrderStatus, Side, TradingState
from engine.core.errors import StartupError
from engine.core.fixed import Quantity
from engine.core.ids import InstrumentId, StrategyId
from engine.strategy import StrategyQuarantined

BTC = InstrumentId("SIM:BTC-USD")

FAILING = """
from engine.strategy import Strategy

class Failing(Strategy):
    name = "failing"

    def on_bar(self, bar):
        raise RuntimeError("strategy bug")
"""


def _config(tmp_path: Path, strategies: list[dict[str, Any]], **extra: Any) -> Any:
    return load_config(
        env={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "grpc.port": 0,
            "metrics.enabled": False,
            "sim.step_ms": 10,
            "store.durability": "async",
            "auth.argon2_memory_kib": 64,
            "auth.argon2_time_cost": 1,
            "bars.intervals": ["200ms", "1m"],
            "strategy_host.max_errors": 2,
            "strategies": strategies,
            **extra,
        },
    )


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Engine, list[StrategyQuarantined]]]:
    failing = tmp_path / "failing.py"
    failing.write_text(FAILING)
    config = _config(
        tmp_path,
        [
            {
                "strategy": "sma_cross",
                "id": "sma",
                "instruments": ["SIM:BTC-USD"],
                "params": {"fast": 2, "slow": 3},
                "bar_interval": "200ms",
            },
            {"strategy": str(failing), "instruments": ["SIM:ETH-USD"], "bar_interval": "200ms"},
        ],
    )
    instance = Engine(config)
    quarantined: list[StrategyQuarantined] = []
    instance.bus.subscribe("events.strategy", quarantined.append)  # before any bar can arrive
    await instance.start()
    try:
        yield instance, quarantined
    finally:
        await instance.stop()


async def _until(condition: Any, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_live_strategies_when_bars_flow_then_orders_reach_the_venue_and_a_failing_one_is_quarantined(
    running: tuple[Engine, list[StrategyQuarantined]],
) -> None:
    engine, quarantined = running
    assert engine.strategies is not None and engine.trading is not None
    host = engine.strategies.host
    assert host is not None
    oms = engine.trading.oms
    assert oms is not None

    def strategy_orders() -> list[Any]:
        return [o for o in oms.orders() if o.strategy_id == StrategyId("sma")]

    await _until(lambda: len(strategy_orders()) >= 2 and not strategy_orders()[-1].is_open)
    orders = strategy_orders()
    assert [str(o.client_order_id) for o in orders] == [f"sma-{i}" for i in range(1, len(orders) + 1)]
    assert orders[0].side.name == "BUY" and orders[0].instrument_id == BTC
    # Through the risk gate (registered strategy, not denied) to the venue, which answered.
    assert all(o.status is not OrderStatus.DENIED for o in orders), [(o.status, o.reason) for o in orders]
    assert any(o.status is OrderStatus.FILLED for o in orders)

    # The failing strategy: quarantined after max_errors = 2, the engine keeps trading.
    await _until(lambda: bool(quarantined))
    [event] = quarantined
    assert event.strategy_id == StrategyId("failing") and event.errors == 2
    assert "RuntimeError: strategy bug" in event.last_error
    slot = host.slot("failing")
    assert slot.quarantined and host.quarantine_count == 1
    assert engine.trading_state is TradingState.ACTIVE
    before = len(strategy_orders())
    await _until(lambda: len(strategy_orders()) > before)  # sma keeps trading
    assert slot.errors == 2  # no more callbacks after the quarantine
    metrics = generate_latest(engine.metrics.registry).decode()
    assert "algotrendy_strategy_quarantines_total 1.0" in metrics
    assert "algotrendy_strategy_errors_total 2.0" in metrics
    assert "algotrendy_strategies_active 1.0" in metrics


async def test_config_when_unknown_strategy_or_parameter_then_start_refused(tmp_path: Path) -> None:
    with pytest.raises(
        StartupError, match=r"strategies\[0\]\.strategy: unknown strategy 'nope'; built-in strategies: "
    ):
        Engine(_config(tmp_path, [{"strategy": "nope", "instruments": ["SIM:BTC-USD"]}]))
    with pytest.raises(StartupError, match=r"strategies\[0\]\.slw: .*valid parameters: fast, slow"):
        Engine(
            _config(
                tmp_path, [{"strategy": "sma_cross", "instruments": ["SIM:BTC-USD"], "params": {"slw": 3}}]
            )
        )
    with pytest.raises(StartupError, match=r"strategies\[0\]\.bar_interval: '5m' is not built"):
        Engine(
            _config(
                tmp_path, [{"strategy": "sma_cross", "instruments": ["SIM:BTC-USD"], "bar_interval": "5m"}]
            )
        )


async def test_live_strategy_when_engine_restarts_then_ids_continue_and_position_comes_back(
    tmp_path: Path,
) -> None:
    config = _config(
        tmp_path,
        [
            {
                "strategy": "sma_cross",
                "id": "sma",
                "instruments": ["SIM:BTC-USD"],
                "params": {"fast": 2, "slow": 3},
                "bar_interval": "200ms",
            }
        ],
    )

    def ours(engine: Engine) -> list[Any]:
        assert engine.trading is not None and engine.trading.oms is not None
        return [o for o in engine.trading.oms.orders() if o.strategy_id == StrategyId("sma")]

    first = Engine(config)
    await first.start()
    try:
        await _until(lambda: len(ours(first)) >= 2 and not any(o.is_open for o in ours(first)))
    finally:
        await first.stop()
    before = ours(first)
    lots = {"BUY": 1, "SELL": -1}
    assert first.strategies is not None and first.strategies.host is not None
    position_before = first.strategies.host.slot("sma").ctx.position(BTC).lots

    second = Engine(config)
    await second.start()
    try:
        assert second.strategies is not None and second.strategies.host is not None
        ctx = second.strategies.host.slot("sma").ctx
        restored = ours(second)
        assert [o.client_order_id for o in restored] == [o.client_order_id for o in before]
        size = ctx.instrument(BTC).size_increment.raw
        journal_lots = sum(lots[o.side.name] * o.filled_quantity.raw // size for o in restored)
        assert ctx.position(BTC).lots == journal_lots == position_before
        await _until(lambda: len(ours(second)) > len(before))
        assert str(ours(second)[len(before)].client_order_id) == f"sma-{len(before) + 1}"
        # Leave one order of the strategy open (far from the market) across the next restart.
        last_close = second.strategies.host.bar_view(BTC, 200_000_000).close  # the last 200 ms bar
        below = ctx.price(BTC, last_close * 0.98, "down")  # not marketable, inside the 5 % price band
        ctx.submit_limit(BTC, Side.BUY, Quantity("0.001"), below)
        await _until(lambda: any(o.status is OrderStatus.ACCEPTED for o in ours(second)))
    finally:
        await second.stop()
    left_open = [o.client_order_id for o in ours(second) if o.is_open]
    assert left_open

    # The strategy is removed from the config: its journalled orders still come back (its id is
    # registered with the risk gate again because the gate had approved them).
    third = Engine(_config(tmp_path, []))
    await third.start()
    try:
        assert third.strategies is None
        assert [o.client_order_id for o in ours(third) if o.is_open] == left_open
    finally:
        await third.stop()
