"""Batch indicators against TA-Lib (the oracle) on real candles and on edge cases."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import talib

from engine import indicators as ind


def _load_cases():
    name = "indicator_cases"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("cases.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


cases = _load_cases()
ALL = [(name, params) for name, (_, plist) in cases.CASES.items() for params in plist]
IDS = [f"{n}-{'-'.join(f'{k}{v}' for k, v in p.items()) or 'default'}" for n, p in ALL]


@pytest.mark.parametrize(("name", "params"), ALL, ids=IDS)
def test_indicator_when_real_candles_then_matches_talib(candles, name, params) -> None:
    for file, bars in candles.items():
        got, ref = cases.run_both(name, bars, params)
        cases.assert_matches_talib(got, ref, f"{name}{params} on {file}")


@pytest.mark.parametrize(("name", "params"), ALL, ids=IDS)
def test_indicator_when_leading_and_inner_nans_then_matches_talib(walk, name, params) -> None:
    bars = {k: v.copy() for k, v in walk.items()}
    bars["close"][:7] = np.nan  # leading NaNs are skipped, as TA-Lib's wrapper skips them
    bars["high"][3] = np.nan
    bars["close"][400] = np.nan  # an inner NaN propagates exactly as in TA-Lib's own loops
    bars["low"][900] = np.nan
    bars["volume"][1300] = np.nan
    got, ref = cases.run_both(name, bars, params)
    cases.assert_matches_talib(got, ref, f"{name}{params} with NaNs")


@pytest.mark.parametrize("name", list(cases.CASES))
def test_indicator_when_flat_then_tiny_prices_then_matches_talib(name) -> None:
    # Flat stretches and sub-satoshi prices exercise TA-Lib's zero tests (flat windows, dead-zones).
    n = 400
    close = np.full(n, 2.854e-05)
    close[150:] += np.cumsum(np.where(np.arange(n - 150) % 7 == 0, 1e-8, 0.0))
    bars = {"high": close + 1e-8, "low": close - 1e-8, "close": close, "volume": np.full(n, 1000.0)}
    bars["high"][:100] = close[:100]
    bars["low"][:100] = close[:100]
    for params in cases.CASES[name][1]:
        got, ref = cases.run_both(name, bars, params)
        cases.assert_matches_talib(got, ref, f"{name}{params} on flat data")


@pytest.mark.parametrize("n", [0, 1, 2, 5, 33, 34])
def test_indicator_when_shorter_than_warmup_then_same_shape_as_talib(walk, n) -> None:
    bars = {k: v[:n].copy() for k, v in walk.items()}
    for name, (_, plist) in cases.CASES.items():
        got, ref = cases.run_both(name, bars, plist[0])
        cases.assert_matches_talib(got, ref, f"{name} on {n} bars")


def test_indicator_when_all_nan_then_all_nan_like_talib() -> None:
    x = np.full(50, np.nan)
    for name in ("sma", "ema", "rsi", "trix"):
        got = getattr(ind, name)(x)
        assert np.isnan(got).all()
        assert np.isnan(getattr(talib, name.upper())(x)).all()


def test_indicator_when_non_contiguous_input_then_same_result(walk) -> None:
    strided = walk["close"][::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(ind.ema(strided, 10), ind.ema(np.ascontiguousarray(strided), 10))


def test_macd_when_default_periods_then_uses_per_period_k_not_fixed(walk) -> None:
    # MACD(12, 26) is seeded and smoothed with 2/(n+1); only MACDFIX uses the fixed 0.15/0.075.
    got = ind.macd(walk["close"])
    cases.assert_matches_talib(got, talib.MACD(walk["close"]), "macd default")
    fixed = talib.MACDFIX(walk["close"])
    assert not np.allclose(got[0][40:], fixed[0][40:])


def test_indicators_when_warmed_up_then_every_registered_kernel_runs() -> None:
    spent = ind.warm_up()
    assert set(spent) == set(ind.registry.names())
    assert all(t >= 0.0 for t in spent.values())
