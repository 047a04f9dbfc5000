"""Moving averages and bands: batch kernels bit-compatible with TA-Lib.

The ``*_into`` kernels take the first bar to use (``begin``) and an output array; they write NaN over
``[0, begin + lookback)`` and TA-Lib's values after it. They are the building blocks the multi-stage
indicators (MACD, STOCH, BBANDS, ...) chain without copying. The ``*_nb`` kernels are the batch entry
points: they find ``begin`` like the TA-Lib wrapper (first non-NaN bar) and allocate the output.
"""

from __future__ import annotations

import math

from numba import njit

from ._base import NAN, first_valid1, fma

MA_SMA = 0
MA_EMA = 1
MA_WMA = 2
MA_DEMA = 3
MA_TEMA = 4


@njit(cache=True)
def _fill_nan(out, stop):
    for i in range(min(stop, out.shape[0])):
        out[i] = NAN


@njit(cache=True)
def _copy_from(src, begin, out):
    """TA-Lib's period-1 moving average: the input itself from ``begin``."""
    _fill_nan(out, begin)
    for i in range(begin, src.shape[0]):
        out[i] = src[i]


@njit(cache=True)
def sma_into(src, begin, period, out):
    """TA_INT_SMA from ``begin``: running total, add the new bar, emit, drop the trailing bar."""
    n = src.shape[0]
    start = begin + period - 1
    _fill_nan(out, start)
    if start >= n:
        return
    total = 0.0
    for i in range(begin, start):
        total += src[i]
    trailing = begin
    for i in range(start, n):
        total += src[i]
        out[i] = total / period
        total -= src[trailing]
        trailing += 1


@njit(cache=True)
def ema_into(src, begin, period, k, out):
    """TA_INT_EMA from ``begin``: SMA seed of the first ``period`` bars (period 1 copies), then
    ``fma(x - prev, k, prev)``: TA-Lib's step with one rounding (exact on a flat series, short chain)."""
    n = src.shape[0]
    if period == 1:
        _fill_nan(out, begin)
        for i in range(begin, n):
            out[i] = src[i]
        return
    start = begin + period - 1
    _fill_nan(out, start)
    if start >= n:
        return
    total = 0.0
    for i in range(begin, start + 1):
        total += src[i]
    prev = total / period
    out[start] = prev
    for i in range(start + 1, n):
        prev = fma(src[i] - prev, k, prev)
        out[i] = prev


@njit(cache=True)
def wma_into(src, begin, period, out):
    """TA_WMA from ``begin``: O(n) running plain and weighted sums, re-anchored every 8 * period bars."""
    n = src.shape[0]
    if period == 1:
        _fill_nan(out, begin)
        for i in range(begin, n):
            out[i] = src[i]
        return
    start = begin + period - 1
    _fill_nan(out, start)
    if start >= n:
        return
    divider = float(period) * (period + 1) / 2.0
    period_sub = 0.0
    period_sum = 0.0
    w = 1
    for i in range(begin, start):
        v = src[i]
        period_sub += v
        period_sum += v * w
        w += 1
    trailing_value = 0.0
    trailing = begin
    fperiod = float(period)
    bars_since_reseed = 8 * period
    for i in range(start, n):
        v = src[i]
        period_sub += v
        period_sub -= trailing_value
        period_sum += v * fperiod
        # TA-Lib re-anchors both running totals from the window every 8 * period bars.
        bars_since_reseed -= 1
        if bars_since_reseed <= 0:
            bars_since_reseed = 8 * period
            period_sub = 0.0
            period_sum = 0.0
            w = 1
            for j in range(i - period + 1, i + 1):
                x = src[j]
                period_sub += x
                period_sum += x * w
                w += 1
        trailing_value = src[trailing]
        trailing += 1
        out[i] = period_sum / divider
        period_sum -= period_sub


@njit(cache=True)
def dema_into(src, begin, period, out):
    """TA_DEMA from ``begin`` in one pass: 2*EMA - EMA(EMA), each EMA seeded with its SMA."""
    if period == 1:
        _copy_from(src, begin, out)
        return
    n = src.shape[0]
    lb = period - 1
    start = begin + 2 * lb
    _fill_nan(out, start)
    if start >= n:
        return
    k = 2.0 / (period + 1)
    total = 0.0
    for i in range(begin, begin + period):
        total += src[i]
    e1 = total / period
    total2 = e1
    for i in range(begin + period, start + 1):
        e1 = fma(src[i] - e1, k, e1)
        total2 += e1
    e2 = total2 / period
    out[start] = 2.0 * e1 - e2
    for i in range(start + 1, n):
        e1 = fma(src[i] - e1, k, e1)
        e2 = fma(e1 - e2, k, e2)
        out[i] = 2.0 * e1 - e2


@njit(cache=True)
def tema_into(src, begin, period, out):
    """TA_TEMA from ``begin`` in one pass: 3*EMA - 3*EMA(EMA) + EMA(EMA(EMA))."""
    if period == 1:
        _copy_from(src, begin, out)
        return
    n = src.shape[0]
    lb = period - 1
    start = begin + 3 * lb
    _fill_nan(out, start)
    if start >= n:
        return
    k = 2.0 / (period + 1)
    total = 0.0
    for i in range(begin, begin + period):
        total += src[i]
    e1 = total / period
    total2 = e1
    for i in range(begin + period, begin + 2 * lb + 1):
        e1 = fma(src[i] - e1, k, e1)
        total2 += e1
    e2 = total2 / period
    total3 = e2
    for i in range(begin + 2 * lb + 1, start + 1):
        e1 = fma(src[i] - e1, k, e1)
        e2 = fma(e1 - e2, k, e2)
        total3 += e2
    e3 = total3 / period
    out[start] = e3 + (3.0 * e1 - 3.0 * e2)
    for i in range(start + 1, n):
        e1 = fma(src[i] - e1, k, e1)
        e2 = fma(e1 - e2, k, e2)
        e3 = fma(e2 - e3, k, e3)
        out[i] = e3 + (3.0 * e1 - 3.0 * e2)


@njit(cache=True)
def ma_lookback(period, matype):
    """TA_MA_Lookback for the supported MA types (period 1 is the identity)."""
    if period <= 1:
        return 0
    if matype == MA_DEMA:
        return 2 * (period - 1)
    if matype == MA_TEMA:
        return 3 * (period - 1)
    return period - 1


@njit(cache=True)
def ma_into(src, begin, period, matype, out):
    """TA_MA from ``begin``: period 1 copies the input, otherwise dispatch on ``matype`` (0..4)."""
    if period == 1:
        _fill_nan(out, begin)
        for i in range(begin, src.shape[0]):
            out[i] = src[i]
    elif matype == MA_SMA:
        sma_into(src, begin, period, out)
    elif matype == MA_EMA:
        ema_into(src, begin, period, 2.0 / (period + 1), out)
    elif matype == MA_WMA:
        wma_into(src, begin, period, out)
    elif matype == MA_DEMA:
        dema_into(src, begin, period, out)
    else:
        tema_into(src, begin, period, out)


@njit(cache=True)
def sma_nb(real, timeperiod, out):
    """TA-Lib SMA."""
    sma_into(real, first_valid1(real), timeperiod, out)


@njit(cache=True)
def ema_nb(real, timeperiod, out):
    """TA-Lib EMA."""
    ema_into(real, first_valid1(real), timeperiod, 2.0 / (timeperiod + 1), out)


@njit(cache=True)
def wma_nb(real, timeperiod, out):
    """TA-Lib WMA."""
    wma_into(real, first_valid1(real), timeperiod, out)


@njit(cache=True)
def dema_nb(real, timeperiod, out):
    """TA-Lib DEMA."""
    dema_into(real, first_valid1(real), timeperiod, out)


@njit(cache=True)
def tema_nb(real, timeperiod, out):
    """TA-Lib TEMA."""
    tema_into(real, first_valid1(real), timeperiod, out)


@njit(cache=True)
def ma_nb(real, timeperiod, matype, out):
    """TA-Lib MA (matype 0..4: SMA, EMA, WMA, DEMA, TEMA)."""
    ma_into(real, first_valid1(real), timeperiod, matype, out)


@njit(cache=True)
def trix_nb(real, timeperiod, out):
    """TA-Lib TRIX: 1-bar rate of change (percent) of a triple EMA, in one pass."""
    n = real.shape[0]
    begin = first_valid1(real)
    lb = timeperiod - 1
    start = begin + 3 * lb + 1
    _fill_nan(out, start)
    if start >= n:
        return
    k = 2.0 / (timeperiod + 1)
    total = 0.0
    for i in range(begin, begin + timeperiod):
        total += real[i]
    e1 = total / timeperiod
    total2 = e1
    for i in range(begin + timeperiod, begin + 2 * lb + 1):
        e1 = fma(real[i] - e1, k, e1)
        total2 += e1
    e2 = total2 / timeperiod
    total3 = e2
    for i in range(begin + 2 * lb + 1, start):
        e1 = fma(real[i] - e1, k, e1)
        e2 = fma(e1 - e2, k, e2)
        total3 += e2
    e3 = total3 / timeperiod
    for i in range(start, n):
        e1 = fma(real[i] - e1, k, e1)
        e2 = fma(e1 - e2, k, e2)
        prev = e3
        e3 = fma(e2 - e3, k, e3)
        if prev != 0.0:
            out[i] = ((e3 / prev) - 1.0) * 100.0
        else:
            out[i] = 0.0


@njit(cache=True)
def macd_nb(real, fastperiod, slowperiod, signalperiod, macd, signal, hist):
    """TA-Lib MACD (both EMAs start together at the slow EMA's first bar, TA-Lib's seeding)."""
    n = real.shape[0]
    if slowperiod < fastperiod:
        fastperiod, slowperiod = slowperiod, fastperiod
    begin = first_valid1(real)
    lb_slow = slowperiod - 1
    lb_signal = signalperiod - 1
    start = begin + lb_slow + lb_signal
    _fill_nan(macd, start)
    _fill_nan(signal, start)
    _fill_nan(hist, start)
    if start >= n:
        return
    k_slow = 2.0 / (slowperiod + 1)
    k_fast = 2.0 / (fastperiod + 1)
    k_sig = 2.0 / (signalperiod + 1)
    first = begin + lb_slow  # first bar of both EMAs
    total = 0.0
    for i in range(begin, first + 1):
        total += real[i]
    slow = total / slowperiod
    total = 0.0
    for i in range(first - (fastperiod - 1), first + 1):
        total += real[i]
    fast = total / fastperiod
    line = fast - slow
    total = line
    for i in range(first + 1, start + 1):
        x = real[i]
        slow = fma(x - slow, k_slow, slow)
        fast = fma(x - fast, k_fast, fast)
        line = fast - slow
        total += line
    sig = total / signalperiod
    macd[start] = line
    signal[start] = sig
    hist[start] = line - sig
    for i in range(start + 1, n):
        x = real[i]
        slow = fma(x - slow, k_slow, slow)
        fast = fma(x - fast, k_fast, fast)
        line = fast - slow
        sig = fma(line - sig, k_sig, sig)
        macd[i] = line
        signal[i] = sig
        hist[i] = line - sig


@njit(cache=True)
def rolling_var_into(real, begin, period, out):
    """TA_VAR from ``begin``: shifted running sums, re-anchored on cancellation, outliers and every
    32 * period bars (TA-Lib's cancellation-free population variance)."""
    n = real.shape[0]
    lb = period - 1
    start = begin + lb
    _fill_nan(out, start)
    if start >= n:
        return
    inv = 1.0 / period
    trailing = begin
    shift = real[trailing]
    t1 = 0.0
    t2 = 0.0
    for j in range(trailing, start):
        d = real[j] - shift
        t1 += d
        t2 += d * d
    bars = 32 * period
    for i in range(start, n):
        d = real[i] - shift
        t1 += d
        t2 += d * d
        mean1 = t1 * inv
        var = t2 * inv - mean1 * mean1
        d = real[trailing] - shift
        t1 -= d
        d *= d
        t2 -= d
        trailing += 1
        bars -= 1
        if var < 0.000001 * (t2 * inv) or d > 1000000.0 * t2 or bars <= 0:
            bars = 32 * period
            ws = i - lb
            acc = 0.0
            for j in range(ws, i + 1):
                acc += real[j]
            shift = acc * inv
            t1 = 0.0
            t2 = 0.0
            for j in range(ws, i + 1):
                d = real[j] - shift
                t1 += d
                t2 += d * d
            mean1 = t1 * inv
            var = t2 * inv - mean1 * mean1
            if var < 0.000000000001 * (t2 * inv):
                var = 0.0
            d = real[ws] - shift
            t1 -= d
            t2 -= d * d
        out[i] = var


@njit(cache=True)
def _bbands_sma_fused(real, begin, period, nbdevup, nbdevdn, upper, middle, lower):
    """TA-Lib's fused SMA path: the SMA running total and the re-anchored shifted variance in one pass."""
    n = real.shape[0]
    lb = period - 1
    start = begin + lb
    inv = 1.0 / period
    trailing = begin
    shift = real[trailing]
    ma_total = 0.0
    t1 = 0.0
    t2 = 0.0
    for j in range(trailing, start):
        x = real[j]
        ma_total += x
        d = x - shift
        t1 += d
        t2 += d * d
    bars = 32 * period
    same = nbdevup == nbdevdn
    for i in range(start, n):
        x = real[i]
        ma_total += x
        d = x - shift
        t1 += d
        t2 += d * d
        mean1 = t1 * inv
        var = t2 * inv - mean1 * mean1
        m = ma_total / period
        old = real[trailing]
        ma_total -= old
        d = old - shift
        t1 -= d
        d *= d
        t2 -= d
        trailing += 1
        bars -= 1
        if var < 0.000001 * (t2 * inv) or d > 1000000.0 * t2 or bars <= 0:
            bars = 32 * period
            ws = i - lb
            acc = 0.0
            for j in range(ws, i + 1):
                acc += real[j]
            shift = acc * inv
            t1 = 0.0
            t2 = 0.0
            for j in range(ws, i + 1):
                d = real[j] - shift
                t1 += d
                t2 += d * d
            mean1 = t1 * inv
            var = t2 * inv - mean1 * mean1
            if var < 0.000000000001 * (t2 * inv):
                var = 0.0
            d = real[ws] - shift
            t1 -= d
            t2 -= d * d
        sd = math.sqrt(var) if var != 0.0 else 0.0
        middle[i] = m
        if same:
            t = sd * nbdevup
            upper[i] = m + t
            lower[i] = m - t
        else:
            upper[i] = m + sd * nbdevup
            lower[i] = m - sd * nbdevdn


@njit(cache=True)
def bbands_nb(real, timeperiod, nbdevup, nbdevdn, matype, upper, middle, lower):
    """TA-Lib BBANDS (population standard deviation from TA-Lib's re-anchored shifted sums)."""
    n = real.shape[0]
    begin = first_valid1(real)
    start = begin + ma_lookback(timeperiod, matype)
    if matype == MA_SMA:
        _fill_nan(upper, start)
        _fill_nan(middle, start)
        _fill_nan(lower, start)
        if start < n:
            _bbands_sma_fused(real, begin, timeperiod, nbdevup, nbdevdn, upper, middle, lower)
        return
    ma_into(real, begin, timeperiod, matype, middle)
    rolling_var_into(real, begin, timeperiod, upper)
    for i in range(min(start, n)):
        upper[i] = NAN
        lower[i] = NAN
        middle[i] = NAN
    for i in range(start, n):
        var = upper[i]
        sd = math.sqrt(var) if var != 0.0 else 0.0
        m = middle[i]
        if nbdevup == nbdevdn:
            t = sd * nbdevup
            upper[i] = m + t
            lower[i] = m - t
        else:
            upper[i] = m + sd * nbdevup
            lower[i] = m - sd * nbdevdn
