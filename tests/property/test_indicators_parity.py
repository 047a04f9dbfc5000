"""Hypothesis: every TA-Lib indicator equals TA-Lib on random, realistic OHLCV; streams equal batch."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.indicators import registry


def _load_cases():
    name = "indicator_cases"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "unit" / "indicators" / "cases.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


cases = _load_cases()


@st.composite
def ohlcv(draw, min_size: int = 1, max_size: int = 300) -> dict[str, np.ndarray]:
    """Positive prices, high >= max(open, close), low <= min(open, close), volume >= 0; flat runs."""
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    level = draw(st.sampled_from([2.5e-5, 0.37, 1.0, 250.0, 46_000.0, 3.1e6]))
    vol = draw(st.sampled_from([0.0, 1e-4, 0.01, 0.05]))
    flat_share = draw(st.sampled_from([0.0, 0.3, 0.9]))
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, vol, n) * (rng.uniform(size=n) >= flat_share)
    close = level * np.exp(np.cumsum(steps))
    tick = draw(st.sampled_from([0.0, 1e-8, 0.01, 1.0]))
    if tick:
        close = np.maximum(np.round(close / tick) * tick, tick)
    open_ = np.r_[close[0], close[:-1]]
    wick = rng.uniform(0.0, vol, n) * (rng.uniform(size=n) >= flat_share)
    high = np.maximum(open_, close) * (1.0 + wick)
    low = np.minimum(open_, close) * (1.0 - wick)
    volume = rng.uniform(0.0, 1000.0, n) * (rng.uniform(size=n) >= draw(st.sampled_from([0.0, 0.5])))
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


@st.composite
def params_for(draw, name: str) -> dict:
    plist = cases.CASES[name][1]
    base = dict(draw(st.sampled_from(plist)))
    period = st.integers(2, 40)
    for key in ("timeperiod", "fastk_period", "slowk_period", "slowd_period", "fastd_period"):
        eligible = key in base or (key == "timeperiod" and name not in {"obv", "macd", "stoch"})
        if eligible and draw(st.booleans()):
            base[key] = draw(period)
    return base


SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _test_for(name: str):
    @SETTINGS
    @given(bars=ohlcv(), data=st.data())
    def test(bars, data) -> None:
        params = data.draw(params_for(name))
        got, ref = cases.run_both(name, bars, params)
        cases.assert_matches_talib(got, ref, f"{name}{params}")

    test.__name__ = f"test_{name}_when_random_ohlcv_then_matches_talib"
    return test


for _name in cases.CASES:
    globals()[f"test_{_name}_when_random_ohlcv_then_matches_talib"] = _test_for(_name)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=ohlcv(max_size=200), name=st.sampled_from(registry.names()))
def test_stream_when_random_ohlcv_then_equals_batch(bars, name) -> None:
    bars = dict(bars)
    bars["ts_ns"] = (
        1_700_000_000_000_000_000 + np.arange(len(bars["close"]), dtype=np.int64) * 3_600_000_000_000
    )
    cols = [bars["close" if i == "real" else i] for i in registry.spec(name).inputs]
    batch = registry.spec(name).batch(*cols)
    batch = batch if isinstance(batch, tuple) else (batch,)
    ind = registry.create(name)
    rows = []
    for k in range(len(cols[0])):
        out = ind.update(*[c[k].item() for c in cols])
        rows.append(out if isinstance(out, tuple) else (out,))
    for j, b in enumerate(batch):
        a = np.array([r[j] for r in rows])
        assert np.array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(b)
        if ok.any():
            scale = max(1.0, float(np.max(np.abs(b[ok]))))
            assert float(np.max(np.abs(a[ok] - b[ok]))) <= 1e-12 * scale
