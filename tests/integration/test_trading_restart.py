"""A graceful restart brings the trading state back exactly: orders, fills, positions, balances,
the order-event sequence, runtime risk limits, the trading state and the loss monitor's equity marks."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.app import Engine
from engine.config import load_config
from engine.core import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    OrderType,
    Quantity,
    Side,
    StrategyId,
    TimeInForce,
    TradingState,
)
from engine.core.commands import SubmitOrder
from engine.core.fixed import Money, Price

ACCOUNT = AccountId("main")
BTC = InstrumentId("SIM:BTC-USD")


def _config(data_dir: Path):  # type: ignore[no-untyped-def]
    return load_config(
        env={},
        overrides={
            "data_dir": str(data_dir),
            "grpc.port": 0,
            "metrics.enabled": False,
            "sim.step_ms": 10,
            "store.durability": "async",
        },
    )


def _state(engine: Engine) -> dict[str, Any]:
    trading = engine.trading
    assert trading is not None and trading.oms is not None and trading.portfolio is not None and trading.risk
    return {
        "orders": sorted(
            (
                str(o.client_order_id),
                o.status.name,
                str(o.filled_quantity),
                o.last_sequence,
                str(o.fill_notional),
            )
            for o in trading.oms.orders()
        ),
        "sequence": trading.oms.sequence,
        "positions": sorted(
            (str(p.instrument_id), str(p.quantity)) for p in trading.portfolio.positions(ACCOUNT)
        ),
        "balances": {k: str(v) for k, v in trading.portfolio.balances(ACCOUNT).items()},
        "limits": trading.risk.limits(),
        "trading_state": trading.risk.trading_state(ACCOUNT),
        "equity_tracks": trading.risk.equity_tracks(),
        "risk_position": trading.risk.position(ACCOUNT, BTC),
    }


def _order(engine: Engine, coid: str, side: Side, quantity: str, price: Price | None = None) -> SubmitOrder:
    """A manual order on BTC: LIMIT (GTC) at ``price``, or MARKET (IOC) without one."""
    return SubmitOrder(
        ts_init=engine.clock.timestamp_ns(),
        account_id=ACCOUNT,
        strategy_id=StrategyId("manual"),
        client_order_id=ClientOrderId(coid),
        instrument_id=BTC,
        side=side,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        quantity=Quantity(quantity),
        price=price,
        time_in_force=TimeInForce.GTC if price is not None else TimeInForce.IOC,
    )


async def _wait(predicate, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


async def _started(data_dir: Path) -> tuple[Engine, Any, Any]:
    """An engine started on ``data_dir`` once the simulated market quotes BTC: (engine, its trading
    core, its simulated venue)."""
    engine = Engine(_config(data_dir))
    await engine.start()
    trading = engine.trading
    assert trading is not None and trading.oms is not None and trading.risk is not None
    venue = trading.venue
    assert venue is not None
    await _wait(lambda: venue.venue.quote(BTC) is not None)
    return engine, trading, venue


async def _restarted(data_dir: Path) -> Engine:
    """The engine started again on ``data_dir``, its simulated market stopped at once (so the state
    compares with what the first engine had)."""
    engine = Engine(_config(data_dir))
    await engine.start()
    assert engine.trading is not None and engine.trading.simulator is not None
    engine.trading.simulator.stop()
    return engine


async def test_engine_when_restarted_then_trading_state_comes_back_exactly(tmp_path: Path) -> None:
    first, trading, venue = await _started(tmp_path / "data")
    # Marketable buys and sells so the account trades against the simulated market.
    for n in range(12):
        quote = venue.venue.quote(BTC)
        assert quote is not None
        side = Side.BUY if n % 2 == 0 else Side.SELL
        price = quote.ask_price + Price("1.0") if side is Side.BUY else quote.bid_price - Price("1.0")
        await trading.oms.submit(
            _order(first, f"r-{n}", side, "0.010" if side is Side.BUY else "0.004", price)
        )
    await _wait(lambda: sum(Decimal(str(o.filled_quantity)) > 0 for o in trading.oms.orders()) >= 6)
    # A runtime limits change and a HALT: both journalled, both must survive.
    changed = replace(
        trading.risk.limits().accounts[ACCOUNT],
        max_open_orders=123,
        max_daily_loss=Money("12345", "USD"),
        breach_state=TradingState.REDUCING,
    )
    await trading.journal(trading.risk.set_limits(ACCOUNT, changed, first.clock.timestamp_ns()))
    first._set_trading_state(TradingState.HALTED, "operator halt before maintenance")
    trading.simulator.stop()  # type: ignore[union-attr]  # freeze the market so the states compare
    await trading.oms.idle()
    before = _state(first)
    await first.stop()

    second = await _restarted(tmp_path / "data")
    try:
        assert second.trading is not None
        after = _state(second)
        assert before["orders"] and any(o[2] != "0.00000" for o in before["orders"])
        assert before["equity_tracks"], "the loss monitor saw no equity"
        assert before["positions"] and before["risk_position"][1] != Quantity("0")
        assert after == before
        assert after["trading_state"] is TradingState.HALTED
        assert after["limits"].accounts[ACCOUNT].max_open_orders == 123
        assert second.trading.recovered_events > 0
    finally:
        await second.stop()


async def test_engine_when_limits_and_states_change_between_orders_then_a_restart_replays_them_in_order(
    tmp_path: Path,
) -> None:
    """The restart replays the journal in one pass: limit and trading-state changes reach the risk
    engine between the order events they were journalled between. Its open orders and their keys,
    limits and state come back as the live engine had them (exposure is valued at the market of the
    moment, which moves at the restart: positions are compared instead, in ``_state``)."""
    first, trading, venue = await _started(tmp_path / "data")
    risk, oms = trading.risk, trading.oms

    async def order(n: int, *, rest: bool) -> None:
        """A limit buy resting 500 below the bid, or a market buy (filled, any rest canceled)."""
        quote = venue.venue.quote(BTC)
        assert quote is not None
        await oms.submit(
            _order(first, f"i-{n}", Side.BUY, "0.002", quote.bid_price - Price("500.0") if rest else None)
        )
        await oms.idle()
        placed = oms.get(ACCOUNT, ClientOrderId(f"i-{n}"))
        await _wait(lambda: placed.status.name in ("ACCEPTED", "DENIED") if rest else placed.is_terminal)

    async def open_orders_limit(n: int) -> None:
        changed = replace(risk.limits().accounts[ACCOUNT], max_open_orders=n)
        await trading.journal(risk.set_limits(ACCOUNT, changed, first.clock.timestamp_ns()))

    await order(0, rest=False)
    await order(1, rest=True)
    await open_orders_limit(7)
    await order(2, rest=False)
    first._set_trading_state(TradingState.REDUCING, "operator: reduce only for a while")
    await order(3, rest=True)  # denied: REDUCING lets only reducing orders through
    first._set_trading_state(TradingState.ACTIVE, "operator: back to normal")
    await order(4, rest=True)
    await open_orders_limit(9)
    await order(5, rest=False)
    trading.simulator.stop()  # type: ignore[union-attr]  # freeze the market so the states compare
    await oms.idle()
    assert {o.client_order_id: o.status.name for o in oms.orders()}["i-3"] == "DENIED"
    assert sorted(o.client_order_id for o in oms.orders() if o.is_open) == ["i-1", "i-4"]

    def risk_view() -> dict[str, Any]:
        snapshot = risk.snapshot()
        return {
            "orders": snapshot["orders"],
            "next_key": snapshot["next_key"],
            "limits": snapshot["limits"],
            "state": risk.trading_state(ACCOUNT),
        }

    before, risk_before = _state(first), risk_view()
    await first.stop()

    second = await _restarted(tmp_path / "data")
    try:
        assert second.trading is not None
        risk = second.trading.risk  # (risk_view reads ``risk``)
        assert risk is not None
        assert _state(second) == before
        assert risk_view() == risk_before
        assert risk_before["limits"]["accounts"][str(ACCOUNT)]["max_open_orders"] == 9
        assert risk_before["state"] is TradingState.ACTIVE and len(risk_before["orders"]) == 2
    finally:
        await second.stop()


async def test_engine_when_restarted_on_a_journal_then_recovery_progress_is_logged(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import structlog

    from engine.app import trading as trading_module

    first, trading, venue = await _started(tmp_path / "data")
    quote = venue.venue.quote(BTC)
    assert quote is not None
    await trading.oms.submit(_order(first, "p-1", Side.BUY, "0.010", quote.bid_price - Price("100.0")))
    await trading.oms.idle()
    await first.stop()

    monkeypatch.setattr(trading_module, "RECOVERY_PROGRESS_INTERVAL_S", 0.0)  # every chunk logs
    with structlog.testing.capture_logs() as logs:
        second = await _restarted(tmp_path / "data")
    try:
        assert second.trading is not None
        records = second.trading.recovered_events
        progress = [e for e in logs if e["event"] == "recovery.progress"]
        assert progress, "no recovery.progress line"
        assert progress[-1]["records"] == progress[-1]["of"] == records >= 2
        assert progress[-1]["percent"] == 100 and progress[-1]["left_s"] == 0
        started = [e for e in logs if e["event"] == "trading.started"]
        assert started and started[0]["recovered_events"] == records
    finally:
        await second.stop()
