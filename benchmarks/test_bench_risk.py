"""Pre-trade risk check cost from Python, for a passing limit order with every check enabled.

The state is a working account: fresh market data (mid reference), a 1 BTC position, our resting
buy at 49,900 and sell at 50,100 (so the self-cross guard has something to compare), open-order,
position, gross/net exposure and order-rate limits all set (the token buckets hold enough tokens
for the whole run, so every order passes every check and takes a token). Each round checks a batch
of ``BATCH`` fresh orders (distinct client order ids, so the duplicate check stays a real lookup);
``extra_info.ns_per_op`` is the median round divided by ``BATCH`` and includes the Python ``for``
loop. The peer in the same run is that loop calling an empty Python function with the same
arguments: the floor any Python-callable check pays.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_risk.py --benchmark-only
--benchmark-json=benchmarks/results/risk.json``.
"""

from __future__ import annotations

import itertools
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "risk"))

from risk_builders import (
    ACC,
    BTC,
    T0,
    account_limits,
    make_engine,
    strategy_limits,
    submit,
)

from engine.core import Quantity
from engine.core.enums import LiquiditySide, Side
from engine.core.events import OrderFilled
from engine.core.fixed import Money, Price
from engine.core.ids import ClientOrderId, TradeId, VenueOrderId
from engine.risk import RiskEngine

BATCH = 1_000
ROUNDS = 200
TS = T0 + 1
_ids = itertools.count()


def _engine() -> RiskEngine:
    unlimited_rate = dict(max_orders_per_second=10**9, order_burst=10**9)
    risk = make_engine(
        acc_limits=account_limits(max_open_orders=100, **unlimited_rate),
        strat_limits=strategy_limits(**unlimited_rate),
    )
    risk.on_order_filled(
        OrderFilled(
            ts_event=T0,
            ts_init=T0,
            account_id=ACC,
            client_order_id=ClientOrderId("seed-fill"),
            instrument_id=BTC,
            venue_order_id=VenueOrderId("v0"),
            trade_id=TradeId("t0"),
            side=Side.BUY,
            last_price=Price("50000.00"),
            last_quantity=Quantity("1.000"),
            liquidity_side=LiquiditySide.TAKER,
            commission=Money("0", "USD"),
        )
    )
    for side, price in ((Side.BUY, "49900.00"), (Side.SELL, "50100.00")):
        cmd = submit(side, "0.100", price)
        assert risk.check_submit(cmd, TS).approved
        risk.on_order_opened(cmd)
    return risk


def _record(benchmark: Any) -> None:
    median = benchmark.stats.stats.median
    benchmark.extra_info["batch"] = BATCH
    benchmark.extra_info["ns_per_op"] = round(median / BATCH * 1e9, 1)
    benchmark.extra_info["ops_per_sec"] = round(BATCH / median)


def _coids() -> tuple[tuple[list[str]], dict[str, Any]]:
    return ([f"g-{next(_ids)}" for _ in range(BATCH)],), {}


@pytest.mark.benchmark(group="risk check, passing limit order, all checks (per order)")
def test_bench_gate_check_ints(benchmark: Any) -> None:
    risk = _engine()
    check = risk.gate.check

    def run(coids: list[str]) -> int:
        code = 0
        for coid in coids:
            code |= check(0, 0, 0, 1, 2, 5_000_000, 0, 10, False, coid, TS)
        return code

    codes = []
    benchmark.pedantic(lambda c: codes.append(run(c)), setup=_coids, rounds=ROUNDS, warmup_rounds=5)
    assert set(codes) == {0}
    _record(benchmark)


@pytest.mark.benchmark(group="risk check, passing limit order, all checks (per order)")
def test_bench_gate_check_fixed(benchmark: Any) -> None:
    risk = _engine()
    check = risk.gate.check_fixed

    def run(coids: list[str]) -> int:
        code = 0
        for coid in coids:
            code |= check(
                0, 0, 0, 1, 2, 50_000, 0, 0, 0, 1, 2, False, coid, TS
            )  # 50000, 0.01: other precisions
        return code

    codes = []
    benchmark.pedantic(lambda c: codes.append(run(c)), setup=_coids, rounds=ROUNDS, warmup_rounds=5)
    assert set(codes) == {0}
    _record(benchmark)


@pytest.mark.benchmark(group="risk check, passing limit order, all checks (per order)")
def test_bench_facade_check_submit(benchmark: Any) -> None:
    risk = _engine()
    check = risk.check_submit

    def setup() -> tuple[tuple[list[Any]], dict[str, Any]]:
        return ([submit(Side.BUY, "0.010", "50000.00", coid=f"f-{next(_ids)}") for _ in range(BATCH)],), {}

    def run(cmds: list[Any]) -> bool:
        ok = True
        for cmd in cmds:
            ok = check(cmd, TS).approved and ok
        return ok

    results = []
    benchmark.pedantic(lambda c: results.append(run(c)), setup=setup, rounds=ROUNDS, warmup_rounds=5)
    assert all(results)
    _record(benchmark)


@pytest.mark.benchmark(group="risk check, passing limit order, all checks (per order)")
def test_bench_empty_python_call_peer(benchmark: Any) -> None:
    def noop(*args: object) -> int:
        return 0

    def run(coids: list[str]) -> int:
        code = 0
        for coid in coids:
            code |= noop(0, 0, 0, 1, 2, 5_000_000, 0, 10, False, coid, TS)
        return code

    benchmark.pedantic(run, setup=_coids, rounds=ROUNDS, warmup_rounds=5)
    _record(benchmark)


def test_bench_state_when_built_then_every_check_has_data() -> None:
    risk = _engine()
    gate = risk.gate
    assert gate.best_resting(0, 0, 1) == 4_990_000 and gate.best_resting(0, 0, 2) == 5_010_000
    assert gate.position(0, 0) == 1_000 and gate.open_orders(0) == 2
    assert risk.exposure(ACC)[0] > Money("0", "USD")
    assert Decimal(str(risk.limits().accounts[ACC].max_gross_exposure.as_decimal())) > 0
