"""True range, ATR / NATR and Wilder's directional movement: batch kernels bit-compatible with TA-Lib."""

from __future__ import annotations

import numpy as np
from numba import njit

from ._base import first_valid3, is_zero, nan_head, true_range


@njit(cache=True)
def atr_into(high, low, close, begin, period, out):
    """TA_ATR from ``begin``: Wilder smoothing of the true range seeded with its ``period``-bar SMA."""
    n = high.shape[0]
    start = begin + period
    for i in range(min(start, n)):
        out[i] = np.nan
    if start >= n:
        return
    if period <= 1:
        for i in range(start, n):
            out[i] = true_range(high[i], low[i], close[i - 1])
        return
    total = 0.0
    for i in range(begin + 1, start + 1):
        total += true_range(high[i], low[i], close[i - 1])
    prev = total / period
    out[start] = prev
    pm1 = float(period - 1)
    for i in range(start + 1, n):
        prev *= pm1
        prev += true_range(high[i], low[i], close[i - 1])
        prev /= period
        out[i] = prev


@njit(cache=True)
def atr_nb(high, low, close, timeperiod):
    """TA-Lib ATR."""
    out = np.empty(high.shape[0], dtype=np.float64)
    atr_into(high, low, close, first_valid3(high, low, close), timeperiod, out)
    return out


@njit(cache=True)
def trange_nb(high, low, close):
    """TA-Lib TRANGE."""
    n = high.shape[0]
    start = first_valid3(high, low, close) + 1
    out = nan_head(n, start)
    for i in range(start, n):
        out[i] = true_range(high[i], low[i], close[i - 1])
    return out


@njit(cache=True)
def natr_nb(high, low, close, timeperiod):
    """TA-Lib NATR."""
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    start = begin + timeperiod
    out = nan_head(n, start)
    if start >= n:
        return out
    if timeperiod <= 1:
        # TA-Lib returns the plain true range here (no normalisation).
        for i in range(start, n):
            out[i] = true_range(high[i], low[i], close[i - 1])
        return out
    total = 0.0
    for i in range(begin + 1, start + 1):
        total += true_range(high[i], low[i], close[i - 1])
    prev = total / timeperiod
    c = close[start]
    out[start] = 0.0 if is_zero(c) else (prev / c) * 100.0
    pm1 = float(timeperiod - 1)
    for i in range(start + 1, n):
        prev *= pm1
        prev += true_range(high[i], low[i], close[i - 1])
        prev /= timeperiod
        c = close[i]
        out[i] = 0.0 if is_zero(c) else (prev / c) * 100.0
    return out


@njit(cache=True)
def adx_nb(high, low, close, timeperiod):
    """TA-Lib ADX."""
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    p = timeperiod
    start = begin + 2 * p - 1
    out = nan_head(n, start)
    if start >= n:
        return out
    fp = float(p)
    prev_minus = 0.0
    prev_plus = 0.0
    prev_tr = 0.0
    today = begin
    prev_high = high[today]
    prev_low = low[today]
    prev_close = close[today]
    for _ in range(p - 1):
        today += 1
        v = high[today]
        diff_p = v - prev_high
        prev_high = v
        v = low[today]
        diff_m = prev_low - v
        prev_low = v
        if diff_m > 0 and diff_p < diff_m:
            prev_minus += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            prev_plus += diff_p
        prev_tr += true_range(prev_high, prev_low, prev_close)
        prev_close = close[today]
    sum_dx = 0.0
    for _ in range(p):
        today += 1
        v = high[today]
        diff_p = v - prev_high
        prev_high = v
        v = low[today]
        diff_m = prev_low - v
        prev_low = v
        prev_minus -= prev_minus / fp
        prev_plus -= prev_plus / fp
        if diff_m > 0 and diff_p < diff_m:
            prev_minus += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            prev_plus += diff_p
        prev_tr = prev_tr - prev_tr / fp + true_range(prev_high, prev_low, prev_close)
        prev_close = close[today]
        if not is_zero(prev_tr):
            minus_di = 100.0 * (prev_minus / prev_tr)
            plus_di = 100.0 * (prev_plus / prev_tr)
            s = minus_di + plus_di
            if not is_zero(s):
                sum_dx += 100.0 * (abs(minus_di - plus_di) / s)
    prev_adx = sum_dx / fp
    out[today] = prev_adx
    pm1 = float(p - 1)
    while today < n - 1:
        today += 1
        v = high[today]
        diff_p = v - prev_high
        prev_high = v
        v = low[today]
        diff_m = prev_low - v
        prev_low = v
        prev_minus -= prev_minus / fp
        prev_plus -= prev_plus / fp
        if diff_m > 0 and diff_p < diff_m:
            prev_minus += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            prev_plus += diff_p
        prev_tr = prev_tr - prev_tr / fp + true_range(prev_high, prev_low, prev_close)
        prev_close = close[today]
        if not is_zero(prev_tr):
            minus_di = 100.0 * (prev_minus / prev_tr)
            plus_di = 100.0 * (prev_plus / prev_tr)
            s = minus_di + plus_di
            if not is_zero(s):
                dx = 100.0 * (abs(minus_di - plus_di) / s)
                prev_adx = (prev_adx * pm1 + dx) / fp
        out[today] = prev_adx
    return out


@njit(cache=True)
def _di_nb(high, low, close, timeperiod, plus):
    """TA-Lib PLUS_DI (``plus``) or MINUS_DI."""
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    p = timeperiod
    start = begin + (p if p > 1 else 1)
    out = nan_head(n, start)
    if start >= n:
        return out
    today = begin
    prev_high = high[today]
    prev_low = low[today]
    prev_close = close[today]
    if p <= 1:
        while today < n - 1:
            today += 1
            v = high[today]
            diff_p = v - prev_high
            prev_high = v
            v = low[today]
            diff_m = prev_low - v
            prev_low = v
            if plus:
                hit = diff_p > 0 and diff_p > diff_m
                dm = diff_p
            else:
                hit = diff_m > 0 and diff_p < diff_m
                dm = diff_m
            if hit:
                tr = true_range(prev_high, prev_low, prev_close)
                out[today] = 0.0 if is_zero(tr) else dm / tr
            else:
                out[today] = 0.0
            prev_close = close[today]
        return out
    fp = float(p)
    prev_dm = 0.0
    prev_tr = 0.0
    for _ in range(p - 1):
        today += 1
        v = high[today]
        diff_p = v - prev_high
        prev_high = v
        v = low[today]
        diff_m = prev_low - v
        prev_low = v
        if plus:
            if diff_p > 0 and diff_p > diff_m:
                prev_dm += diff_p
        elif diff_m > 0 and diff_p < diff_m:
            prev_dm += diff_m
        prev_tr += true_range(prev_high, prev_low, prev_close)
        prev_close = close[today]
    while today < n - 1:
        today += 1
        v = high[today]
        diff_p = v - prev_high
        prev_high = v
        v = low[today]
        diff_m = prev_low - v
        prev_low = v
        if plus:
            if diff_p > 0 and diff_p > diff_m:
                prev_dm = prev_dm - prev_dm / fp + diff_p
            else:
                prev_dm = prev_dm - prev_dm / fp
        elif diff_m > 0 and diff_p < diff_m:
            prev_dm = prev_dm - prev_dm / fp + diff_m
        else:
            prev_dm = prev_dm - prev_dm / fp
        prev_tr = prev_tr - prev_tr / fp + true_range(prev_high, prev_low, prev_close)
        prev_close = close[today]
        out[today] = 0.0 if is_zero(prev_tr) else 100.0 * (prev_dm / prev_tr)
    return out


@njit(cache=True)
def plus_di_nb(high, low, close, timeperiod):
    """TA-Lib PLUS_DI."""
    return _di_nb(high, low, close, timeperiod, True)


@njit(cache=True)
def minus_di_nb(high, low, close, timeperiod):
    """TA-Lib MINUS_DI."""
    return _di_nb(high, low, close, timeperiod, False)
