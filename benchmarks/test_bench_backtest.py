"""Backtester throughput against backtrader, measured in the same run; sweep throughput.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_backtest.py --benchmark-only -s``

Data: the real 1-minute BTC perpetual candles (``../shared/data/candles/btc-perp-...csv``, 45,031
bars) tiled end to end to the length needed (each copy shifted in time by the file's span, so
timestamps keep increasing; prices repeat, so the series jumps back at each seam). Both engines run
the same strategy on it: SMA(10) / SMA(30) crossover, long/flat, all-in, no fees.

* ``ours_1m``: ``Backtest("sma_cross")`` on 1,000,000 bars, event-driven end to end (the Python
  strategy through the strategy host, every order through the real risk gate, the order manager
  and the paper venue, exact portfolio), fills at the next open; results and metrics included.
* ``ours_1m_no_orders``: the same replay with a strategy that computes the same two SMAs and the
  signal but never trades: the cost of the bar path alone.
* ``backtrader_200k``: backtrader 1.9 (``Cerebro`` defaults: preload + runonce, its fastest
  mode) with ``bt.indicators.SMA`` x2 and ``CrossOver``, ``order_target_percent``; 200,000 bars from
  a pandas feed.
* ``sweep``: a grid of 8 SMA parameter sets on the real file (45,031 bars) on every core:
  parameter-sets x bars per second.

At the end bars/s of each, the ratio ours/backtrader, the cost per order and the sweep throughput
are printed and saved to ``benchmarks/results/backtest.json``. The machine is shared: compare the
ratio, which is measured in the same run, more than the absolute numbers.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.backtest import Backtest, BacktestConfig
from engine.backtest.data import BarSeries, BarStream, load_bar_stream
from engine.backtest.sweep import run_sweep, sweep_space
from engine.strategy.api import BarView, Strategy
from engine.strategy.params import IntParam

RESULTS = Path(__file__).resolve().parent / "results" / "backtest.json"
#: Whole runs on a shared machine take minutes (backtrader 200k bars alone ~20 s of CPU).
pytestmark = pytest.mark.timeout(3600)
CANDLES = "candles/btc-perp-20211231-20220201_1m.csv"
N_OURS = 1_000_000
N_PEER = 200_000
_results: dict[str, Any] = {}


def _data_path() -> Path:
    root = Path(
        os.environ.get("ALGOTRENDY_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    path = root / CANDLES
    if not path.is_file():
        pytest.skip(f"real candles not found at {path}")
    return path


def tiled_stream(n: int) -> BarStream:
    """``n`` bars: the real candle file repeated, each copy shifted by the file's time span."""
    s = load_bar_stream([str(_data_path())]).series[0]
    reps = -(-n // len(s))
    span = int(s.ts_open[-1]) - int(s.ts_open[0]) + s.interval_ns
    ts_open = np.concatenate([s.ts_open + k * span for k in range(reps)])[:n]

    def tile(a: np.ndarray) -> np.ndarray:
        return np.tile(a, reps)[:n]

    series = BarSeries(
        instrument=s.instrument,
        paths=s.paths,
        ts_open=ts_open,
        ts_close=ts_open + s.interval_ns,
        open=tile(s.open),
        high=tile(s.high),
        low=tile(s.low),
        close=tile(s.close),
        volume=tile(s.volume),
        interval_ns=s.interval_ns,
    )
    return BarStream((series,), np.zeros(n, dtype=np.int32), np.arange(n, dtype=np.int64))


class SmaSignalOnly(Strategy):
    """sma_cross's bar work (two SMA updates and the comparison) without ever trading."""

    name = "sma_signal_only"
    fast = IntParam(10, low=2, high=500)
    slow = IntParam(30, low=3, high=2000)

    def on_start(self) -> None:
        self.fast_update = self.ctx.indicator("sma", timeperiod=self.fast).update
        self.slow_update = self.ctx.indicator("sma", timeperiod=self.slow).update
        self.longs = 0

    def on_bar(self, bar: BarView) -> None:
        close = bar.close
        if self.fast_update(close) > self.slow_update(close):
            self.longs += 1


def _timed(fn) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


@pytest.fixture(scope="module")
def stream_1m() -> BarStream:
    return tiled_stream(N_OURS)


def test_ours_sma_cross_1m_bars(benchmark, stream_1m: BarStream) -> None:
    config = BacktestConfig(fill="next_open")

    def run():
        return _timed(lambda: Backtest("sma_cross", stream_1m, config, params={"fast": 10, "slow": 30}).run())

    result, wall, cpu = benchmark.pedantic(run, rounds=1, iterations=1)
    assert result.bars == N_OURS and result.metrics["trades"] > 10_000
    _results["ours_1m"] = {
        "bars": N_OURS,
        "orders": result.metrics["orders"],
        "wall_s": wall,
        "cpu_s": cpu,
        "bars_per_s": N_OURS / wall,
        "bars_per_cpu_s": N_OURS / cpu,
    }


def test_ours_bar_path_1m_bars_no_orders(benchmark, stream_1m: BarStream) -> None:
    config = BacktestConfig(fill="next_open")

    def run():
        return _timed(lambda: Backtest(SmaSignalOnly, stream_1m, config).run())

    result, wall, cpu = benchmark.pedantic(run, rounds=1, iterations=1)
    assert result.bars == N_OURS and result.metrics["orders"] == 0
    _results["ours_1m_no_orders"] = {
        "bars": N_OURS,
        "wall_s": wall,
        "cpu_s": cpu,
        "bars_per_s": N_OURS / wall,
        "bars_per_cpu_s": N_OURS / cpu,
    }


def _backtrader_run(n: int) -> tuple[float, int]:
    import backtrader as bt
    import pandas as pd

    s = tiled_stream(n).series[0]
    frame = pd.DataFrame(
        {
            "open": s.as_float(s.open),
            "high": s.as_float(s.high),
            "low": s.as_float(s.low),
            "close": s.as_float(s.close),
            "volume": s.volume,
        },
        index=pd.to_datetime(s.ts_open, unit="ns"),
    )

    class SmaCross(bt.Strategy):
        params = (("fast", 10), ("slow", 30))

        def __init__(self) -> None:
            self.crossover = bt.indicators.CrossOver(
                bt.indicators.SMA(self.data.close, period=self.p.fast),
                bt.indicators.SMA(self.data.close, period=self.p.slow),
            )
            self.orders = 0

        def next(self) -> None:
            if not self.position and self.crossover > 0:
                self.order_target_percent(target=0.99)
                self.orders += 1
            elif self.position and self.crossover < 0:
                self.close()
                self.orders += 1

    cerebro = bt.Cerebro()
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(100_000.0)
    strategy = cerebro.run()[0]
    return cerebro.broker.getvalue(), strategy.orders


def test_backtrader_sma_cross_200k_bars(benchmark) -> None:
    pytest.importorskip("backtrader")
    (value, orders), wall, cpu = benchmark.pedantic(
        lambda: _timed(lambda: _backtrader_run(N_PEER)), rounds=1, iterations=1
    )
    assert value > 0 and orders > 1000
    _results["backtrader_200k"] = {
        "bars": N_PEER,
        "orders": orders,
        "wall_s": wall,
        "cpu_s": cpu,
        "bars_per_s": N_PEER / wall,
        "bars_per_cpu_s": N_PEER / cpu,
    }


def test_sweep_throughput(benchmark) -> None:
    data = [str(_data_path())]
    config = BacktestConfig(fill="next_open")
    space = sweep_space("sma_cross", vary="fast=5|10|15|20,slow=30|60")

    def run():
        return _timed(lambda: run_sweep("sma_cross", data, config, space, sort_by="sharpe"))

    report, wall, _cpu = benchmark.pedantic(run, rounds=1, iterations=1)
    assert len(report.rows) == 8
    _results["sweep"] = {
        "parameter_sets": len(report.rows),
        "bars": report.bars,
        "workers": report.workers,
        "wall_s": wall,
        "param_sets_x_bars_per_s": len(report.rows) * report.bars / wall,
    }


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if not _results:
        return
    ours, peer = _results.get("ours_1m"), _results.get("backtrader_200k")
    bare = _results.get("ours_1m_no_orders")
    summary: dict[str, Any] = dict(_results)
    if ours and peer:
        summary["ratio_ours_vs_backtrader"] = ours["bars_per_s"] / peer["bars_per_s"]
        summary["ratio_ours_vs_backtrader_cpu"] = ours["bars_per_cpu_s"] / peer["bars_per_cpu_s"]
    if ours and bare and ours["orders"]:
        summary["order_path_us_per_order_cpu"] = (ours["cpu_s"] - bare["cpu_s"]) / ours["orders"] * 1e6
        summary["bar_path_us_per_bar_cpu"] = bare["cpu_s"] / bare["bars"] * 1e6
    summary["machine"] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print("\nbacktest benchmark (wall; cpu in brackets)")
    for key in ("ours_1m", "ours_1m_no_orders", "backtrader_200k"):
        if key in _results:
            r = _results[key]
            print(f"  {key:20s} {r['bars_per_s']:>12,.0f} bars/s  [{r['bars_per_cpu_s']:,.0f}]")
    if "ratio_ours_vs_backtrader" in summary:
        print(
            f"  ours / backtrader    {summary['ratio_ours_vs_backtrader']:.1f}x  "
            f"[{summary['ratio_ours_vs_backtrader_cpu']:.1f}x]"
        )
    if "order_path_us_per_order_cpu" in summary:
        print(
            f"  bar path {summary['bar_path_us_per_bar_cpu']:.2f} us/bar, order path "
            f"{summary['order_path_us_per_order_cpu']:.1f} us/order (cpu)"
        )
    if "sweep" in _results:
        sw = _results["sweep"]
        print(
            f"  sweep {sw['parameter_sets']} sets x {sw['bars']} bars on {sw['workers']} workers: "
            f"{sw['param_sets_x_bars_per_s']:,.0f} set-bars/s"
        )
