"""Foundation hot paths: decimal-string -> ticks (every venue price/size), bus publish.

Peers in the same run: ``decimal.Decimal`` scaling for parsing, a bare Python call for dispatch.
Run: make bench BENCH=benchmarks/test_bench_core.py
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.bus import MessageBus
from engine.core.fixed import Price
from engine.ext.core.fixedpoint import parse_fixed

PRICES = ["65432.10", "0.00001234", "1.5", "98765.43210000", "3000.00", "0.10000000", "123456.7", "42"]


def _ours() -> int:
    total = 0
    for text in PRICES:
        total += parse_fixed(text, 8)
    return total


def _decimal() -> int:
    total = 0
    for text in PRICES:
        total += int(Decimal(text).scaleb(8))
    return total


@pytest.mark.benchmark(group="parse decimal string to int64 ticks (8 strings)")
def test_bench_parse_fixed(benchmark) -> None:
    assert benchmark(_ours) == _decimal()


@pytest.mark.benchmark(group="parse decimal string to int64 ticks (8 strings)")
def test_bench_parse_decimal_peer(benchmark) -> None:
    assert benchmark(_decimal) == _ours()


@pytest.mark.benchmark(group="Price from string")
def test_bench_price_parse(benchmark) -> None:
    assert benchmark(Price.parse, "65432.10", 2).raw == 6543210


@pytest.mark.benchmark(group="bus publish, one handler")
def test_bench_bus_publish(benchmark) -> None:
    bus = MessageBus()
    bus.bind_to_current_thread()
    seen: list[object] = []
    bus.subscribe("data.trades.SIM:BTC-USD", seen.append)
    benchmark(bus.publish, "data.trades.SIM:BTC-USD", 1)
    assert seen


@pytest.mark.benchmark(group="bus publish, one handler")
def test_bench_direct_call_peer(benchmark) -> None:
    seen: list[object] = []
    benchmark(seen.append, 1)
    assert seen
