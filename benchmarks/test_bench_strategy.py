"""Strategy hot path: ``on_bar`` dispatch through the host plus the streaming SMA updates, per bar.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_strategy.py --benchmark-only``

The backtest target (>= 500k bars/s end to end with a Python SMA-cross strategy) leaves ~2 us per bar
for everything; this isolates the strategy side of it:

* ``sma_update_x2``: two ``SMA.update`` calls per bar from Python (the indicator floor);
* ``dispatch_empty``: ``host.bar_pusher`` into a strategy whose ``on_bar`` does nothing (the host's
  cost: fill the ``BarView`` in place, call the subscribed handler inside the safe wrapper);
* ``sma_signal_no_orders``: dispatch + both SMA updates + the signal, no trading (the bar path);
* ``sma_cross``: the built-in ``sma_cross`` (10/30) end to end on the strategy side: dispatch, two
  SMA updates, the signal, and on each crossing an all-in market order (exact sizing, a client
  order id, a ``SubmitOrder``) handed to a router that fills it at once (no OMS here: the
  backtester's benchmark measures the full path).

The medians per bar are printed at the end and saved to ``benchmarks/results/strategy.json``.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.core.clock import TestClock
from engine.core.commands import SubmitOrder
from engine.core.enums import LiquiditySide
from engine.core.events import OrderFilled
from engine.core.fixed import Money, Price
from engine.core.ids import AccountId, InstrumentId, TradeId, VenueOrderId
from engine.core.instruments import Instrument
from engine.indicators import registry
from engine.strategy import BarView, Strategy, StrategyHost
from engine.venues.sim import default_instruments

N_BARS = 200_000
BTC = InstrumentId("SIM:BTC-USD")
MAIN = AccountId("main")
RESULTS = Path(__file__).resolve().parent / "results" / "strategy.json"
_medians: dict[str, float] = {}
_orders: dict[str, int] = {}
_cpu: dict[str, float] = {}


def _closes() -> np.ndarray:
    rng = np.random.default_rng(42)
    return np.round(40_000 + np.cumsum(rng.normal(0, 20, N_BARS)), 1)


class _Cash:
    """A fixed balance (the strategy re-invests the same cash on every entry)."""

    def __init__(self) -> None:
        self._balances = {"USD": Money("100000", "USD")}

    def balances(self, account_id: AccountId) -> dict[str, Money]:
        return dict(self._balances)


class _FillNow:
    """Records each submit and fills it in full right after the bar (the host applies the fill)."""

    on_intent_failed: Any = None

    def __init__(self) -> None:
        self.pending: list[SubmitOrder] = []
        self.sent = 0

    def submit(self, command: SubmitOrder) -> None:
        self.pending.append(command)
        self.sent += 1

    def submit_bracket(self, *commands: SubmitOrder) -> None:  # pragma: no cover - unused
        raise NotImplementedError

    amend = cancel = submit_bracket


class _Nothing(Strategy):
    def on_bar(self, bar: BarView) -> None:
        pass


class _SignalOnly(Strategy):
    """The SMA-cross bar path without trading: both SMAs and the signal, no orders."""

    def on_start(self) -> None:
        self.fast = self.ctx.indicator("sma", timeperiod=10).update
        self.slow = self.ctx.indicator("sma", timeperiod=30).update
        self.long = False

    def on_bar(self, bar: BarView) -> None:
        close = bar.close
        self.long = self.fast(close) > self.slow(close)


def _instruments() -> list[Instrument]:
    out = []
    for i in default_instruments():
        fields = {k: getattr(i, k) for k in i.__dataclass_fields__ if not k.startswith("_")}
        fields.update(taker_fee=Decimal(0), min_notional=None)
        out.append(Instrument(**fields))
    return out


def _host(strategy: Any, params: dict[str, Any] | None = None) -> tuple[StrategyHost, _FillNow]:
    router = _FillNow()
    host = StrategyHost(
        clock=TestClock(0), router=router, portfolio=_Cash(), instruments=_instruments(), account_id=MAIN
    )
    host.add(strategy, instruments=[BTC], params=params)
    host.start()
    return host, router


def _run_host(host: StrategyHost, router: _FillNow, closes: list[float]) -> None:
    push = host.bar_pusher(BTC, 60_000_000_000)
    pending = router.pending
    zero = Money("0", "USD")
    venue_order_id = VenueOrderId("v")
    trade = 0
    for i, c in enumerate(closes):
        push(i, i + 1, c, c, c, c, 1.0, 1)
        if pending:
            for cmd in pending:
                trade += 1
                host.on_order_event(
                    OrderFilled(
                        ts_event=i,
                        ts_init=i,
                        account_id=cmd.account_id,
                        client_order_id=cmd.client_order_id,
                        instrument_id=cmd.instrument_id,
                        venue_order_id=venue_order_id,
                        trade_id=TradeId(f"t{trade}"),
                        side=cmd.side,
                        last_price=Price.from_raw(round(c * 10), 1),
                        last_quantity=cmd.quantity,
                        liquidity_side=LiquiditySide.TAKER,
                        commission=zero,
                    )
                )
            pending.clear()


def _per_bar(name: str, benchmark: Any, fn: Any) -> None:
    """Wall-clock median from pytest-benchmark, plus the median CPU time of the same rounds (less
    sensitive to a shared, oversubscribed machine)."""
    cpu: list[float] = []

    def timed() -> None:
        t0 = time.process_time()
        fn()
        cpu.append(time.process_time() - t0)

    benchmark.pedantic(timed, rounds=7, iterations=1, warmup_rounds=1)
    _medians[name] = benchmark.stats.stats.median / N_BARS * 1e9
    _cpu[name] = statistics.median(cpu[1:]) / N_BARS * 1e9


def test_bench_sma_update_x2(benchmark: Any) -> None:
    closes = _closes().tolist()

    def run() -> None:
        fast = registry.create("sma", timeperiod=10).update
        slow = registry.create("sma", timeperiod=30).update
        for c in closes:
            fast(c) > slow(c)  # noqa: B015 - the compare is part of the measured work

    _per_bar("sma_update_x2", benchmark, run)


def test_bench_dispatch_empty(benchmark: Any) -> None:
    closes = _closes().tolist()

    def run() -> None:
        host, router = _host(_Nothing)
        _run_host(host, router, closes)

    _per_bar("dispatch_empty", benchmark, run)


def test_bench_sma_signal_no_orders(benchmark: Any) -> None:
    closes = _closes().tolist()

    def run() -> None:
        host, router = _host(_SignalOnly)
        _run_host(host, router, closes)

    _per_bar("sma_signal_no_orders", benchmark, run)


def test_bench_sma_cross(benchmark: Any) -> None:
    closes = _closes().tolist()
    sent: list[int] = []

    def run() -> None:
        host, router = _host("sma_cross", {"fast": 10, "slow": 30})
        _run_host(host, router, closes)
        sent.append(router.sent)

    _per_bar("sma_cross", benchmark, run)
    assert sent[0] > 1000  # it does trade: each crossing is an order
    _orders["sma_cross"] = sent[0]


@pytest.fixture(scope="module", autouse=True)
def _report() -> Any:
    yield
    if not _medians:
        return
    rows = {k: round(v, 1) for k, v in _medians.items()}
    cpu_rows = {k: round(v, 1) for k, v in _cpu.items()}
    if "sma_cross" in rows:
        rows["sma_cross_bars_per_s"] = round(1e9 / _medians["sma_cross"])
        cpu_rows["sma_cross_bars_per_cpu_s"] = round(1e9 / _cpu["sma_cross"])
    if "sma_cross" in rows and "sma_signal_no_orders" in rows:
        # Strategy-side cost of one order: sizing, ids, the SubmitOrder, and applying its fill
        # (plus this benchmark's own OrderFilled construction).
        for out, src in ((rows, _medians), (cpu_rows, _cpu)):
            extra_ns = (src["sma_cross"] - src["sma_signal_no_orders"]) * N_BARS
            out["per_order_us"] = round(extra_ns / _orders["sma_cross"] / 1000, 2)
        rows["orders"] = _orders["sma_cross"]
    print("\nstrategy hot path, median ns per bar (wall | cpu):")
    for k, v in rows.items():
        print(f"  {k:24s} {v} | {cpu_rows.get(k, cpu_rows.get(k.replace('_per_s', '_per_cpu_s'), ''))}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "bars": N_BARS,
                "ns_per_bar": rows,
                "cpu_ns_per_bar": cpu_rows,
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            indent=2,
        )
    )
