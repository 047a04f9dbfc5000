"""The TA-Lib parity cases shared by the unit and property tests: our call and the oracle's call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import talib

from engine import indicators as ind

Bars = dict[str, np.ndarray]

# name -> (inputs, [params...]); every params dict is passed by keyword to both libraries.
CASES: dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]] = {
    "sma": (("close",), [{}, {"timeperiod": 1}, {"timeperiod": 7}]),
    "ema": (("close",), [{}, {"timeperiod": 1}, {"timeperiod": 9}]),
    "wma": (("close",), [{}, {"timeperiod": 1}, {"timeperiod": 5}]),
    "dema": (("close",), [{}, {"timeperiod": 1}, {"timeperiod": 5}]),
    "tema": (("close",), [{}, {"timeperiod": 1}, {"timeperiod": 5}]),
    "trix": (("close",), [{}, {"timeperiod": 1}, {"timeperiod": 5}]),
    "rsi": (("close",), [{}, {"timeperiod": 2}]),
    "macd": (
        ("close",),
        [
            {},
            {"fastperiod": 26, "slowperiod": 12, "signalperiod": 1},
            {"fastperiod": 3, "slowperiod": 7, "signalperiod": 4},
        ],
    ),
    "bbands": (
        ("close",),
        [{}, {"timeperiod": 5, "nbdevup": 1.0, "nbdevdn": 1.5}]
        + [{"timeperiod": 6, "matype": m} for m in range(1, 5)],
    ),
    "atr": (("high", "low", "close"), [{}, {"timeperiod": 1}]),
    "natr": (("high", "low", "close"), [{}, {"timeperiod": 1}]),
    "adx": (("high", "low", "close"), [{}, {"timeperiod": 2}]),
    "plus_di": (("high", "low", "close"), [{}, {"timeperiod": 1}]),
    "minus_di": (("high", "low", "close"), [{}, {"timeperiod": 1}]),
    "stoch": (
        ("high", "low", "close"),
        [{}, {"fastk_period": 1, "slowk_period": 1, "slowd_period": 1}]
        + [
            {"fastk_period": 7, "slowk_period": 4, "slowk_matype": m, "slowd_period": 3, "slowd_matype": m}
            for m in range(1, 5)
        ],
    ),
    "stochrsi": (
        ("close",),
        [{}]
        + [{"timeperiod": 9, "fastk_period": 6, "fastd_period": 4, "fastd_matype": m} for m in range(1, 5)],
    ),
    "mfi": (("high", "low", "close", "volume"), [{}, {"timeperiod": 2}]),
    "obv": (("close", "volume"), [{}]),
    "cci": (("high", "low", "close"), [{}, {"timeperiod": 2}]),
    "willr": (("high", "low", "close"), [{}, {"timeperiod": 2}]),
    "roc": (("close",), [{}, {"timeperiod": 1}]),
    "mom": (("close",), [{}, {"timeperiod": 1}]),
}


def ours(name: str) -> Callable[..., Any]:
    return getattr(ind, name)


def oracle(name: str) -> Callable[..., Any]:
    return getattr(talib, name.upper())


def as_tuple(x: Any) -> tuple[np.ndarray, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def assert_matches_talib(ours_out: Any, ref_out: Any, where: str) -> None:
    """Same NaN warm-up, and max |ours - TA-Lib| <= 1e-9 * max |TA-Lib| (per output)."""
    a_all, b_all = as_tuple(ours_out), as_tuple(ref_out)
    assert len(a_all) == len(b_all), where
    for k, (a, b) in enumerate(zip(a_all, b_all, strict=True)):
        assert a.dtype == np.float64, where
        assert a.shape == b.shape, f"{where} output {k}: shape {a.shape} != {b.shape}"
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        if not np.array_equal(nan_a, nan_b):
            first = int(np.argmax(nan_a != nan_b))
            raise AssertionError(
                f"{where} output {k}: NaN pattern differs first at {first}: {a[first]} vs {b[first]}"
            )
        if nan_b.all():
            continue
        scale = float(np.max(np.abs(b[~nan_b])))
        diff = float(np.max(np.abs(a[~nan_a] - b[~nan_b])))
        assert diff <= 1e-9 * scale, f"{where} output {k}: max diff {diff:.3e} > 1e-9 * {scale:.3e}"


def run_both(name: str, bars: Bars, params: dict[str, Any]) -> tuple[Any, Any]:
    inputs = CASES[name][0]
    args = [bars[i] for i in inputs]
    return ours(name)(*args, **params), oracle(name)(*args, **params)
