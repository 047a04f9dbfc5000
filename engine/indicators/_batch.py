"""Batch indicators with TA-Lib's names, argument order, keywords and defaults.

Every function validates its inputs (1-d float64 NumPy arrays of one length, parameters in TA-Lib's
ranges) and calls a compiled Numba kernel from ``engine.ext.indicators``; it returns float64 arrays
(tuples for multi-output functions) with TA-Lib's NaN warm-up. Swapping ``import talib`` for
``from engine import indicators as talib`` and lower-casing the names is the whole migration.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import numpy as np

from engine.ext.indicators.stream import check_matype, check_period, check_real


def _kernels(name: str) -> ModuleType:
    """The Numba kernel module ``name``, executed on its first attribute access (``LazyLoader``).

    Importing Numba and loading the kernels costs about a second; the streaming indicators (the
    engine's, via ``registry``) are Cython and never call a batch kernel, so ``algotrendy serve`` does
    not pay for it. The first batch call (or ``warm_up()``) loads them.
    """
    full = f"engine.ext.indicators.{name}"
    loaded = sys.modules.get(full)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec(full)
    assert spec is not None and spec.loader is not None, full
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[full] = module
    spec.loader.exec_module(module)
    return module


_ch = _kernels("channels")
_mo = _kernels("momentum")
_ov = _kernels("overlap")
_vo = _kernels("volatility")

__all__ = [
    "adx",
    "atr",
    "bbands",
    "cci",
    "dema",
    "donchian",
    "ema",
    "keltner",
    "macd",
    "mfi",
    "minus_di",
    "mom",
    "natr",
    "obv",
    "plus_di",
    "roc",
    "rsi",
    "sma",
    "stoch",
    "stochrsi",
    "supertrend",
    "tema",
    "trix",
    "vwap",
    "vwap_rolling",
    "willr",
    "wma",
]


def _array(value: object, name: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of float64, got {type(value).__name__}")
    if value.dtype != np.float64:
        raise TypeError(f"{name} must have dtype float64, got {value.dtype}")
    if value.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got {value.ndim} dimensions")
    return np.ascontiguousarray(value)


def _arrays(**named: object) -> list[np.ndarray]:
    """Validate inputs in order; ValueError names the first whose length differs from the first's."""
    out = []
    first_name = ""
    length = -1
    for name, value in named.items():
        a = _array(value, name)
        if length < 0:
            first_name, length = name, a.shape[0]
        elif a.shape[0] != length:
            raise ValueError(f"{name} has length {a.shape[0]}, but {first_name} has length {length}")
        out.append(a)
    return out


def _run1(kernel, first: np.ndarray, *args) -> np.ndarray:
    """Run a one-output kernel into a NumPy-allocated array (NumPy's allocator reuses freed pages;
    arrays allocated inside Numba kernels page-fault afresh on every call, ~1 ms per 8 MB)."""
    out = np.empty(first.shape[0], dtype=np.float64)
    if first.shape[0]:
        kernel(first, *args, out)
    return out


def _run(kernel, k: int, scratch: int, first: np.ndarray, *args) -> tuple[np.ndarray, ...]:
    """Run a ``k``-output kernel (plus ``scratch`` work arrays) into NumPy-allocated arrays."""
    n = first.shape[0]
    outs = tuple(np.empty(n, dtype=np.float64) for _ in range(k + scratch))
    if n:
        kernel(first, *args, *outs)
    return outs[:k]


def sma(real: np.ndarray, timeperiod: int = 30) -> np.ndarray:
    """Simple moving average (TA-Lib SMA)."""
    (real,) = _arrays(real=real)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_ov.sma_nb, real, p)


def ema(real: np.ndarray, timeperiod: int = 30) -> np.ndarray:
    """Exponential moving average seeded with the SMA of the first period (TA-Lib EMA)."""
    (real,) = _arrays(real=real)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_ov.ema_nb, real, p)


def wma(real: np.ndarray, timeperiod: int = 30) -> np.ndarray:
    """Linearly weighted moving average (TA-Lib WMA)."""
    (real,) = _arrays(real=real)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_ov.wma_nb, real, p)


def dema(real: np.ndarray, timeperiod: int = 30) -> np.ndarray:
    """Double exponential moving average (TA-Lib DEMA)."""
    (real,) = _arrays(real=real)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_ov.dema_nb, real, p)


def tema(real: np.ndarray, timeperiod: int = 30) -> np.ndarray:
    """Triple exponential moving average (TA-Lib TEMA)."""
    (real,) = _arrays(real=real)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_ov.tema_nb, real, p)


def trix(real: np.ndarray, timeperiod: int = 30) -> np.ndarray:
    """1-bar rate of change of a triple EMA, in percent (TA-Lib TRIX)."""
    (real,) = _arrays(real=real)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_ov.trix_nb, real, p)


def rsi(real: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Relative strength index, Wilder smoothing (TA-Lib RSI)."""
    (real,) = _arrays(real=real)
    p = check_period(timeperiod, "timeperiod", 2)
    return _run1(_mo.rsi_nb, real, p)


def macd(
    real: np.ndarray, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line, signal and histogram (TA-Lib MACD): returns (macd, macdsignal, macdhist)."""
    (real,) = _arrays(real=real)
    f = check_period(fastperiod, "fastperiod", 2)
    s = check_period(slowperiod, "slowperiod", 2)
    g = check_period(signalperiod, "signalperiod", 1)
    return _run(_ov.macd_nb, 3, 0, real, f, s, g)  # type: ignore[return-value]


def bbands(
    real: np.ndarray, timeperiod: int = 20, nbdevup: float = 2.0, nbdevdn: float = 2.0, matype: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands (TA-Lib BBANDS): returns (upperband, middleband, lowerband).

    ``matype`` 0..4 (SMA, EMA, WMA, DEMA, TEMA) is supported; TA-Lib's 5..8 raise ValueError.
    """
    (real,) = _arrays(real=real)
    p = check_period(timeperiod, "timeperiod", 2)
    up = check_real(nbdevup, "nbdevup")
    dn = check_real(nbdevdn, "nbdevdn")
    mt = check_matype(matype, "matype")
    return _run(_ov.bbands_nb, 3, 0, real, p, up, dn, mt)  # type: ignore[return-value]


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Average true range, Wilder smoothing (TA-Lib ATR)."""
    high, low, close = _arrays(high=high, low=low, close=close)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_vo.atr_nb, high, low, close, p)


def natr(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """ATR as a percentage of the close (TA-Lib NATR; period 1 returns the true range, as TA-Lib)."""
    high, low, close = _arrays(high=high, low=low, close=close)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_vo.natr_nb, high, low, close, p)


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Average directional index (TA-Lib ADX)."""
    high, low, close = _arrays(high=high, low=low, close=close)
    p = check_period(timeperiod, "timeperiod", 2)
    return _run1(_vo.adx_nb, high, low, close, p)


def plus_di(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Plus directional indicator (TA-Lib PLUS_DI)."""
    high, low, close = _arrays(high=high, low=low, close=close)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_vo.plus_di_nb, high, low, close, p)


def minus_di(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Minus directional indicator (TA-Lib MINUS_DI)."""
    high, low, close = _arrays(high=high, low=low, close=close)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_vo.minus_di_nb, high, low, close, p)


def stoch(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowk_matype: int = 0,
    slowd_period: int = 3,
    slowd_matype: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic (TA-Lib STOCH): returns (slowk, slowd)."""
    high, low, close = _arrays(high=high, low=low, close=close)
    fk = check_period(fastk_period, "fastk_period")
    sk = check_period(slowk_period, "slowk_period")
    skm = check_matype(slowk_matype, "slowk_matype")
    sd = check_period(slowd_period, "slowd_period")
    sdm = check_matype(slowd_matype, "slowd_matype")
    return _run(_mo.stoch_nb, 2, 1, high, low, close, fk, sk, skm, sd, sdm)  # type: ignore[return-value]


def stochrsi(
    real: np.ndarray,
    timeperiod: int = 14,
    fastk_period: int = 5,
    fastd_period: int = 3,
    fastd_matype: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic RSI (TA-Lib STOCHRSI): returns (fastk, fastd)."""
    (real,) = _arrays(real=real)
    tp = check_period(timeperiod, "timeperiod", 2)
    fk = check_period(fastk_period, "fastk_period")
    fd = check_period(fastd_period, "fastd_period")
    fdm = check_matype(fastd_matype, "fastd_matype")
    return _run(_mo.stochrsi_nb, 2, 1, real, tp, fk, fd, fdm)  # type: ignore[return-value]


def mfi(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, timeperiod: int = 14
) -> np.ndarray:
    """Money flow index (TA-Lib MFI)."""
    high, low, close, volume = _arrays(high=high, low=low, close=close, volume=volume)
    p = check_period(timeperiod, "timeperiod", 2)
    return _run1(_mo.mfi_nb, high, low, close, volume, p)


def obv(real: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume (TA-Lib OBV)."""
    real, volume = _arrays(real=real, volume=volume)
    return _run1(_mo.obv_nb, real, volume)


def cci(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Commodity channel index (TA-Lib CCI)."""
    high, low, close = _arrays(high=high, low=low, close=close)
    p = check_period(timeperiod, "timeperiod", 2)
    return _run1(_mo.cci_nb, high, low, close, p)


def willr(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 14) -> np.ndarray:
    """Williams' %R (TA-Lib WILLR)."""
    high, low, close = _arrays(high=high, low=low, close=close)
    p = check_period(timeperiod, "timeperiod", 2)
    return _run1(_mo.willr_nb, high, low, close, p)


def roc(real: np.ndarray, timeperiod: int = 10) -> np.ndarray:
    """Rate of change in percent, ((x / x[-n]) - 1) * 100 (TA-Lib ROC)."""
    (real,) = _arrays(real=real)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_mo.roc_nb, real, p)


def mom(real: np.ndarray, timeperiod: int = 10) -> np.ndarray:
    """Momentum, x - x[-n] (TA-Lib MOM)."""
    (real,) = _arrays(real=real)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_mo.mom_nb, real, p)


def _timestamps_ns(value: object, name: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of int64 nanoseconds, got {type(value).__name__}")
    if value.dtype == np.dtype("datetime64[ns]"):
        value = value.view(np.int64)
    if value.dtype != np.int64:
        raise TypeError(
            f"{name} must have dtype int64 (UTC nanoseconds) or datetime64[ns], got {value.dtype}"
        )
    if value.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got {value.ndim} dimensions")
    return np.ascontiguousarray(value)


def vwap(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, ts_ns: np.ndarray
) -> np.ndarray:
    """Session VWAP of the typical price (h+l+c)/3, reset at every UTC midnight.

    ``ts_ns`` are the bars' UTC timestamps as int64 **nanoseconds** since the epoch (the engine's time
    unit; ``datetime64[ns]`` is accepted too). NaN while the session's volume is zero; a NaN bar makes
    the rest of its session NaN.
    """
    high, low, close, volume = _arrays(high=high, low=low, close=close, volume=volume)
    ts = _timestamps_ns(ts_ns, "ts_ns")
    if ts.shape[0] != high.shape[0]:
        raise ValueError(f"ts_ns has length {ts.shape[0]}, but high has length {high.shape[0]}")
    return _run1(_ch.vwap_nb, high, low, close, volume, ts)


def vwap_rolling(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, timeperiod: int = 20
) -> np.ndarray:
    """VWAP of the typical price over the last ``timeperiod`` bars (NaN where their volume is 0)."""
    high, low, close, volume = _arrays(high=high, low=low, close=close, volume=volume)
    p = check_period(timeperiod, "timeperiod")
    return _run1(_ch.vwap_rolling_nb, high, low, close, volume, p)


def keltner(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    timeperiod: int = 20,
    atrperiod: int = 10,
    multiplier: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keltner channels: EMA(close, timeperiod) +/- multiplier * ATR(atrperiod), TA-Lib's EMA and ATR.

    Returns (upper, middle, lower).
    """
    high, low, close = _arrays(high=high, low=low, close=close)
    p = check_period(timeperiod, "timeperiod", 2)
    a = check_period(atrperiod, "atrperiod")
    m = check_real(multiplier, "multiplier")
    return _run(_ch.keltner_nb, 3, 0, high, low, close, p, a, m)  # type: ignore[return-value]


def donchian(
    high: np.ndarray, low: np.ndarray, timeperiod: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Donchian channels: rolling highest high, midpoint and lowest low over ``timeperiod`` bars.

    Returns (upper, middle, lower); pandas ``rolling`` semantics (NaN while a window holds a NaN).
    """
    high, low = _arrays(high=high, low=low)
    p = check_period(timeperiod, "timeperiod")
    return _run(_ch.donchian_nb, 3, 0, high, low, p)  # type: ignore[return-value]


def supertrend(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 10, multiplier: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """SuperTrend on (high+low)/2 with TA-Lib's ATR(timeperiod): returns (supertrend, direction).

    ``direction`` is +1.0 in an up-trend (the line is the trailing lower band), -1.0 in a down-trend.
    """
    high, low, close = _arrays(high=high, low=low, close=close)
    p = check_period(timeperiod, "timeperiod")
    m = check_real(multiplier, "multiplier")
    return _run(_ch.supertrend_nb, 2, 0, high, low, close, p, m)  # type: ignore[return-value]
