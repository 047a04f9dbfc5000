"""True range, ATR / NATR and Wilder's directional movement: batch kernels bit-compatible with TA-Lib."""

from __future__ import annotations

import numpy as np
from numba import njit

from ._base import first_valid3, fma, is_zero, nan_fill, true_range


@njit(cache=True)
def atr_into(high, low, close, begin, period, out):
    """TA_ATR from ``begin``: Wilder smoothing ``fma(prev, (p-1)/p, tr/p)`` of the true range, seeded with
    its ``period``-bar SMA (TA-Lib fuses the same step; the short dependency chain is what makes it fast)."""
    n = high.shape[0]
    start = begin + period
    for i in range(min(start, n)):
        out[i] = np.nan
    if start >= n:
        return
    total = 0.0
    for i in range(begin + 1, start + 1):
        total += true_range(high[i], low[i], close[i - 1])
    prev = total / period
    out[start] = prev
    inv = 1.0 / period
    a = (period - 1) * inv
    for i in range(start + 1, n):
        prev = fma(prev, a, true_range(high[i], low[i], close[i - 1]) * inv)
        out[i] = prev


@njit(cache=True)
def atr_nb(high, low, close, timeperiod, out):
    """TA-Lib ATR."""
    atr_into(high, low, close, first_valid3(high, low, close), timeperiod, out)


@njit(cache=True)
def trange_nb(high, low, close, out):
    """TA-Lib TRANGE."""
    n = high.shape[0]
    start = first_valid3(high, low, close) + 1
    nan_fill(out, start)
    for i in range(start, n):
        out[i] = true_range(high[i], low[i], close[i - 1])


@njit(cache=True)
def natr_nb(high, low, close, timeperiod, out):
    """TA-Lib NATR: ATR / close * 100 (period 1 gives the un-normalised Wilder true range, as TA-Lib)."""
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    if timeperiod <= 1:
        atr_into(high, low, close, begin, timeperiod, out)
        return
    start = begin + timeperiod
    nan_fill(out, start)
    if start >= n:
        return
    total = 0.0
    for i in range(begin + 1, start + 1):
        total += true_range(high[i], low[i], close[i - 1])
    prev = total / timeperiod
    c = close[start]
    out[start] = 0.0 if is_zero(c) else (prev / c) * 100.0
    inv = 1.0 / timeperiod
    a = (timeperiod - 1) * inv
    for i in range(start + 1, n):
        prev = fma(prev, a, true_range(high[i], low[i], close[i - 1]) * inv)
        c = close[i]
        out[i] = 0.0 if is_zero(c) else (prev / c) * 100.0


@njit(cache=True)
def _dm1(diff_p, diff_m):
    """TA-Lib's branch-free one-bar +DM and -DM."""
    minus_sel = diff_m if diff_m - diff_p > 0.0 else 0.0
    plus_sel = diff_p if diff_p - diff_m > 0.0 else 0.0
    minus_dm1 = minus_sel if diff_m > 0.0 else 0.0
    plus_dm1 = plus_sel if diff_p > 0.0 else 0.0
    return plus_dm1, minus_dm1


@njit(cache=True)
def adx_nb(high, low, close, timeperiod, out):
    """TA-Lib ADX (Wilder steps by 1/period; exact test of the true-range sum, as TA-Lib)."""
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    p = timeperiod
    start = begin + 2 * p - 1
    nan_fill(out, start)
    if start >= n:
        return
    inv = 1.0 / p
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
        plus1, minus1 = _dm1(diff_p, diff_m)
        prev_minus += minus1
        prev_plus += plus1
        prev_tr += true_range(prev_high, prev_low, prev_close)
        prev_close = close[today]
    sum_dx = 0.0
    prev_adx = 0.0
    while today < n - 1:
        today += 1
        v = high[today]
        diff_p = v - prev_high
        prev_high = v
        v = low[today]
        diff_m = prev_low - v
        prev_low = v
        prev_minus -= prev_minus * inv
        prev_plus -= prev_plus * inv
        plus1, minus1 = _dm1(diff_p, diff_m)
        prev_minus += minus1
        prev_plus += plus1
        prev_tr = prev_tr - (prev_tr * inv) + true_range(prev_high, prev_low, prev_close)
        prev_close = close[today]
        seeding = today < start
        if prev_tr > 0.0:
            minus_di = 100.0 * (prev_minus / prev_tr)
            plus_di = 100.0 * (prev_plus / prev_tr)
            s = minus_di + plus_di
            if not is_zero(s):
                dx = 100.0 * (abs(minus_di - plus_di) / s)
                if seeding or today == start:
                    sum_dx += dx
                else:
                    prev_adx = prev_adx - (prev_adx - dx) * inv
        if today == start:
            prev_adx = sum_dx / p
        if not seeding:
            out[today] = prev_adx


@njit(cache=True)
def _di_nb(high, low, close, timeperiod, plus, out):
    """TA-Lib PLUS_DI (``plus``) or MINUS_DI (Wilder steps by 1/period, exact true-range test)."""
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    p = timeperiod
    start = begin + (p if p > 1 else 1)
    nan_fill(out, start)
    if start >= n:
        return
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
                hit = diff_m > 0 and diff_m > diff_p
                dm = diff_m
            if hit:
                tr = true_range(prev_high, prev_low, prev_close)
                out[today] = 0.0 if tr <= 0.0 else dm / tr
            else:
                out[today] = 0.0
            prev_close = close[today]
        return
    inv = 1.0 / p
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
        plus1, minus1 = _dm1(diff_p, diff_m)
        dm1 = plus1 if plus else minus1
        t = prev_dm + dm1
        prev_dm = prev_dm if prev_dm > t else t
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
        plus1, minus1 = _dm1(diff_p, diff_m)
        dm1 = plus1 if plus else minus1
        t = prev_dm - (prev_dm * inv)
        prev_dm = t + dm1
        prev_dm = t if t > prev_dm else prev_dm
        prev_tr = prev_tr - (prev_tr * inv) + true_range(prev_high, prev_low, prev_close)
        prev_close = close[today]
        out[today] = 100.0 * (prev_dm / prev_tr) if prev_tr > 0.0 else 0.0


@njit(cache=True)
def plus_di_nb(high, low, close, timeperiod, out):
    """TA-Lib PLUS_DI."""
    _di_nb(high, low, close, timeperiod, True, out)


@njit(cache=True)
def minus_di_nb(high, low, close, timeperiod, out):
    """TA-Lib MINUS_DI."""
    _di_nb(high, low, close, timeperiod, False, out)
