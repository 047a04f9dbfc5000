"""Indicators TA-Lib lacks: session and rolling VWAP, Keltner and Donchian channels, SuperTrend.

Their EMA and ATR stages are TA-Lib's (``overlap.ema_into``, ``volatility.atr_into``), so a Keltner
middle band equals ``talib.EMA`` and its width ``talib.ATR`` bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._base import first_valid3, first_valid4, nan_fill
from .overlap import ema_into
from .volatility import atr_into

NS_PER_DAY = 86_400_000_000_000


@njit(cache=True)
def vwap_nb(high, low, close, volume, ts_ns, out):
    """Session VWAP of the typical price (h+l+c)/3, reset at each UTC midnight of ``ts_ns`` (int64 ns).

    NaN where the session's cumulative volume is zero; a NaN bar makes the rest of its session NaN.
    """
    n = high.shape[0]
    day = np.int64(0)
    pv = 0.0
    vol = 0.0
    for i in range(n):
        d = ts_ns[i] // NS_PER_DAY
        if i == 0 or d != day:
            day = d
            pv = 0.0
            vol = 0.0
        v = volume[i]
        pv += (high[i] + low[i] + close[i]) / 3.0 * v
        vol += v
        out[i] = pv / vol if vol != 0.0 else np.nan


@njit(cache=True)
def vwap_rolling_nb(high, low, close, volume, timeperiod, out):
    """Rolling VWAP over the last ``timeperiod`` bars (running sums re-summed every 32 * period bars).

    Starts at the first bar where all inputs are non-NaN (like TA-Lib); NaN where the window volume is 0.
    """
    n = high.shape[0]
    begin = first_valid4(high, low, close, volume)
    start = begin + timeperiod - 1
    nan_fill(out, start)
    if start >= n:
        return
    pv = 0.0
    vol = 0.0
    for i in range(begin, start):
        v = volume[i]
        pv += (high[i] + low[i] + close[i]) / 3.0 * v
        vol += v
    bars = 32 * timeperiod
    for i in range(start, n):
        v = volume[i]
        pv += (high[i] + low[i] + close[i]) / 3.0 * v
        vol += v
        bars -= 1
        if bars <= 0:
            bars = 32 * timeperiod
            pv = 0.0
            vol = 0.0
            for j in range(i - timeperiod + 1, i + 1):
                v = volume[j]
                pv += (high[j] + low[j] + close[j]) / 3.0 * v
                vol += v
        out[i] = pv / vol if vol != 0.0 else np.nan
        j = i - timeperiod + 1
        v = volume[j]
        pv -= (high[j] + low[j] + close[j]) / 3.0 * v
        vol -= v


@njit(cache=True)
def keltner_nb(high, low, close, timeperiod, atrperiod, multiplier, upper, middle, lower):
    """Keltner channels: TA-Lib EMA(close, timeperiod) +/- multiplier * TA-Lib ATR(atrperiod)."""
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    ema_into(close, begin, timeperiod, 2.0 / (timeperiod + 1), middle)
    atr_into(high, low, close, begin, atrperiod, upper)  # the ATR goes through ``upper``
    start = begin + max(timeperiod - 1, atrperiod)
    nan_fill(upper, start)
    nan_fill(middle, start)
    nan_fill(lower, start)
    for i in range(start, n):
        w = multiplier * upper[i]
        upper[i] = middle[i] + w
        lower[i] = middle[i] - w


@njit(cache=True)
def donchian_nb(high, low, timeperiod, upper, middle, lower):
    """Donchian channels: rolling max(high) and min(low) over ``timeperiod`` bars and their midpoint.

    pandas ``rolling(timeperiod).max()/min()`` semantics: NaN while the window holds fewer than
    ``timeperiod`` bars or a NaN (per column; the midpoint is NaN if either is). O(n), monotonic deques.
    """
    n = high.shape[0]
    p = timeperiod
    qh = np.empty(p, dtype=np.int64)
    ql = np.empty(p, dtype=np.int64)
    hh = 0
    hs = 0
    lh = 0
    ls = 0
    last_nan_h = -p - 1
    last_nan_l = -p - 1
    for t in range(n):
        vh = high[t]
        vl = low[t]
        h_nan = np.isnan(vh)
        l_nan = np.isnan(vl)
        if h_nan:
            last_nan_h = t
        if l_nan:
            last_nan_l = t
        expired = t - p
        if hs > 0 and qh[hh] <= expired:
            hh += 1
            if hh == p:
                hh = 0
            hs -= 1
        if ls > 0 and ql[lh] <= expired:
            lh += 1
            if lh == p:
                lh = 0
            ls -= 1
        if not h_nan:
            while hs > 0:
                j = hh + hs - 1
                if j >= p:
                    j -= p
                if high[qh[j]] <= vh:
                    hs -= 1
                else:
                    break
            j = hh + hs
            if j >= p:
                j -= p
            qh[j] = t
            hs += 1
        if not l_nan:
            while ls > 0:
                j = lh + ls - 1
                if j >= p:
                    j -= p
                if low[ql[j]] >= vl:
                    ls -= 1
                else:
                    break
            j = lh + ls
            if j >= p:
                j -= p
            ql[j] = t
            ls += 1
        warm = t < p - 1
        hi = np.nan if warm or t - last_nan_h < p else high[qh[hh]]
        lo = np.nan if warm or t - last_nan_l < p else low[ql[lh]]
        upper[t] = hi
        lower[t] = lo
        middle[t] = (hi + lo) / 2.0


@njit(cache=True)
def supertrend_nb(high, low, close, timeperiod, multiplier, line, direction):
    """SuperTrend on hl2 with TA-Lib's ATR(timeperiod): returns (supertrend, direction).

    direction is +1.0 in an up-trend (the line is the final lower band) and -1.0 in a down-trend
    (the final upper band); the first bar with an ATR starts in a down-trend (TradingView's rule).
    """
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    atr_into(high, low, close, begin, timeperiod, line)  # the ATR goes through ``line``
    start = begin + timeperiod
    nan_fill(line, start)
    nan_fill(direction, start)
    if start >= n:
        return
    hl2 = (high[start] + low[start]) / 2.0
    w = multiplier * line[start]
    fu = hl2 + w
    fl = hl2 - w
    up = False
    line[start] = fu
    direction[start] = -1.0
    for i in range(start + 1, n):
        hl2 = (high[i] + low[i]) / 2.0
        w = multiplier * line[i]
        bu = hl2 + w
        bl = hl2 - w
        prev_close = close[i - 1]
        fl = bl if (bl > fl or prev_close < fl) else fl
        fu = bu if (bu < fu or prev_close > fu) else fu
        c = close[i]
        up = c >= fl if up else c > fu
        if up:
            line[i] = fl
            direction[i] = 1.0
        else:
            line[i] = fu
            direction[i] = -1.0
