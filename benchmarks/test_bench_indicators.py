"""Indicator kernels against TA-Lib on 1M bars, measured in the same run; streaming update cost.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_indicators.py --benchmark-only``

Each indicator is one benchmark group holding ``ours`` and ``talib`` (same inputs, same parameters, both
called through their public Python function, validation and allocation included). At the end of the
module the median times, the ratio ours/TA-Lib per indicator, their geometric mean and the streaming
``update`` cost per bar are printed and saved to ``benchmarks/results/indicators.json``. The table uses
a paired measurement (ours and TA-Lib alternated call by call, median of 21 each) because the machine
is shared and noisy; pytest-benchmark's separate medians are saved alongside.
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import talib

from engine import indicators as ind
from engine.indicators import registry

N_BARS = 1_000_000
N_UPDATES = 100_000
RESULTS = Path(__file__).resolve().parent / "results" / "indicators.json"

# name -> inputs (TA-Lib's order); default parameters everywhere (TA-Lib's defaults).
KERNELS = {
    "sma": ("close",),
    "ema": ("close",),
    "wma": ("close",),
    "dema": ("close",),
    "tema": ("close",),
    "trix": ("close",),
    "rsi": ("close",),
    "macd": ("close",),
    "bbands": ("close",),
    "atr": ("high", "low", "close"),
    "natr": ("high", "low", "close"),
    "adx": ("high", "low", "close"),
    "plus_di": ("high", "low", "close"),
    "minus_di": ("high", "low", "close"),
    "stoch": ("high", "low", "close"),
    "stochrsi": ("close",),
    "mfi": ("high", "low", "close", "volume"),
    "obv": ("close", "volume"),
    "cci": ("high", "low", "close"),
    "willr": ("high", "low", "close"),
    "roc": ("close",),
    "mom": ("close",),
}

_medians: dict[str, dict[str, float]] = {}
_paired: dict[str, dict[str, float]] = {}
_stream_ns: dict[str, float] = {}
PAIRED_ROUNDS = 21


def _bars(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240101)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.001, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.001, n))
    volume = rng.uniform(0.1, 50.0, n)
    ts_ns = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return {"high": high, "low": low, "close": close, "volume": volume, "ts_ns": ts_ns}


BARS = _bars(N_BARS)


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    ind.warm_up()
    yield
    _write_report(request.config)


def _median(benchmark) -> float | None:
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else float(stats.stats.median)


def _run(benchmark, fn, args) -> None:
    benchmark.pedantic(fn, args=args, rounds=11, iterations=1, warmup_rounds=2)


@pytest.mark.parametrize("impl", ["ours", "talib"])
@pytest.mark.parametrize("name", list(KERNELS))
def test_bench_indicator_1m_bars(benchmark, name: str, impl: str) -> None:
    args = tuple(BARS[k] for k in KERNELS[name])
    fn = getattr(ind, name) if impl == "ours" else getattr(talib, name.upper())
    benchmark.group = f"{name} (1M bars)"
    benchmark.name = f"{name}[{impl}]"
    _run(benchmark, fn, args)
    median = _median(benchmark)
    if median is not None:
        _medians.setdefault(name, {})[impl] = median
        if impl == "talib":
            _paired_medians(name, args)
    # the thing measured is correct: same output as TA-Lib
    out = fn(*args)
    ref = getattr(talib, name.upper())(*args)
    for a, b in zip(
        out if isinstance(out, tuple) else (out,), ref if isinstance(ref, tuple) else (ref,), strict=True
    ):
        ok = ~np.isnan(b)
        assert np.array_equal(np.isnan(a), ~ok)
        assert np.max(np.abs(a[ok] - b[ok])) <= 1e-9 * np.max(np.abs(b[ok]))


def _paired_medians(name: str, args: tuple) -> None:
    """Ours and TA-Lib alternated call by call, so both see the same machine noise (shared cores)."""
    ours, ref = getattr(ind, name), getattr(talib, name.upper())
    t_ours, t_ref = [], []
    for _ in range(PAIRED_ROUNDS):
        t0 = time.perf_counter()
        ours(*args)
        t1 = time.perf_counter()
        ref(*args)
        t2 = time.perf_counter()
        t_ours.append(t1 - t0)
        t_ref.append(t2 - t1)
    _paired[name] = {"ours": float(np.median(t_ours)), "talib": float(np.median(t_ref))}


@pytest.mark.parametrize("name", registry.names())
def test_bench_stream_update(benchmark, name: str) -> None:
    """Cost of one ``update`` called from Python (loop overhead included), per bar."""
    spec = registry.spec(name)
    columns = [BARS["close" if i == "real" else i][:N_UPDATES].tolist() for i in spec.inputs]
    rows = list(zip(*columns, strict=True))
    indicator = registry.create(name)
    update = indicator.update

    def feed() -> None:
        for row in rows:
            update(*row)

    benchmark.group = "stream update (100k bars)"
    benchmark.name = name
    benchmark.pedantic(feed, rounds=5, iterations=1, warmup_rounds=1)
    median = _median(benchmark)
    if median is not None:
        _stream_ns[name] = median / N_UPDATES * 1e9


def _loop_overhead_ns() -> float:
    rows = [(float(i),) for i in range(N_UPDATES)]

    def noop(*_: float) -> None:
        return None

    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        for row in rows:
            noop(*row)
        best = min(best, time.perf_counter() - t0)
    return best / N_UPDATES * 1e9


def _table(medians: dict[str, dict[str, float]]) -> list[tuple[str, float, float, float]]:
    return [
        (n, m["ours"], m["talib"], m["ours"] / m["talib"])
        for n, m in medians.items()
        if {"ours", "talib"} <= set(m)
    ]


def _geomean(rows) -> float:
    return math.exp(sum(math.log(r[3]) for r in rows) / len(rows)) if rows else float("nan")


def _write_report(config) -> None:
    rows = _table(_paired) or _table(_medians)
    separate = _table(_medians)
    if not rows and not _stream_ns:
        return
    geomean = _geomean(rows)
    overhead = _loop_overhead_ns()
    report = {
        "n_bars": N_BARS,
        "n_updates": N_UPDATES,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "talib_c_version": talib.__ta_version__.decode() if isinstance(talib.__ta_version__, bytes) else "",
        "method": f"paired: ours and TA-Lib alternated, median of {PAIRED_ROUNDS} calls each",
        "batch": {n: {"ours_ms": o * 1e3, "talib_ms": t * 1e3, "ratio": r} for n, o, t, r in rows},
        "geomean_ratio": geomean,
        "max_ratio": max((r[3] for r in rows), default=float("nan")),
        "pytest_benchmark_separate_medians": {
            "batch": {n: {"ours_ms": o * 1e3, "talib_ms": t * 1e3, "ratio": r} for n, o, t, r in separate},
            "geomean_ratio": _geomean(separate),
        },
        "stream_update_ns": dict(sorted(_stream_ns.items())),
        "python_loop_and_call_overhead_ns": overhead,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    tr = config.pluginmanager.getplugin("terminalreporter")
    write = tr.write_line if tr is not None else print
    write("")
    write(f"{'indicator':<10} {'ours ms':>9} {'talib ms':>9} {'ratio':>6}   (1M bars, {report['method']})")
    for name, o, t, r in sorted(rows, key=lambda x: x[3]):
        write(f"{name:<10} {o * 1e3:>9.2f} {t * 1e3:>9.2f} {r:>6.2f}")
    write(f"geometric mean ratio ours/TA-Lib: {geomean:.3f}; max {report['max_ratio']:.2f}")
    if _stream_ns:
        write(
            f"stream update, ns per bar from Python (a bare Python call in the same loop: {overhead:.0f} ns)"
        )
        for name, ns in sorted(_stream_ns.items(), key=lambda x: x[1]):
            write(f"  {name:<13} {ns:7.0f}")
    write(f"saved {RESULTS}")
