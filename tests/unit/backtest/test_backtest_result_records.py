"""The result's order records are built from the run's OMS orders when first read (a sweep or a
metrics-only caller never pays for them), and are then the same list on every read; the JSON and the
metrics do not depend on whether they were read."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from engine.backtest import Backtest, BacktestConfig

T0 = 1_700_000_000
CLOSES = [100.0, 101.0, 103.0, 104.0, 102.0, 99.0, 98.0, 97.0, 99.0, 102.0, 104.0, 103.0, 100.0, 98.0]


def _csv(path: Path) -> str:
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{T0 + 60 * i},{c},{c + 1},{c - 1},{c},10" for i, c in enumerate(CLOSES)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_result_orders_when_first_read_then_built_once_and_complete(tmp_path: Path) -> None:
    data = [_csv(tmp_path / "b.csv")]
    result = Backtest("sma_cross", data, BacktestConfig(fill="close"), params={"fast": 2, "slow": 4}).run()
    assert callable(result.order_records)  # nothing built yet
    orders = result.orders
    assert result.orders is orders and result.order_records is orders
    assert len(orders) == result.metrics["orders"] >= 2
    assert [o["client_order_id"] for o in orders] == [f"bt-{n}" for n in range(1, len(orders) + 1)]
    assert {o["status"] for o in orders} == {"FILLED"}
    assert [o["side"] for o in orders][:2] == ["BUY", "SELL"]
    buy = orders[0]
    assert buy["type"] == "MARKET" and buy["filled_quantity"] == buy["quantity"]
    assert Decimal(buy["average_fill_price"]) == result.fills[0].price


def test_result_json_is_the_same_whether_or_not_orders_were_read_first(tmp_path: Path) -> None:
    data = [_csv(tmp_path / "b.csv")]
    config = BacktestConfig(fill="close")
    first = Backtest("sma_cross", data, config, params={"fast": 2, "slow": 4}).run()
    _ = first.orders
    second = Backtest("sma_cross", data, config, params={"fast": 2, "slow": 4}).run()
    a = first.write_json(tmp_path / "a.json").read_bytes()
    b = second.write_json(tmp_path / "b.json").read_bytes()
    assert a == b and json.loads(a)["orders"] == first.orders
