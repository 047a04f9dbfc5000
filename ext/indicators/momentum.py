"""Momentum oscillators: batch kernels bit-compatible with TA-Lib.

Rolling highest-high / lowest-low (STOCH, STOCHRSI, WILLR) use the van Herk / Gil-Werman block scan,
O(n) whatever the trend (TA-Lib's WILLR uses it too), where TA-Lib's STOCH rescans the window each
time its extreme expires (O(n * period) on a steady trend). On finite inputs both give the same
extremes, so the same outputs bit for bit. TA-Lib's rescan gives NaN inputs an order-dependent
meaning, so when a NaN turns up after the first valid bar STOCH reruns TA-Lib's own rescan loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from ._base import TA_EPSILON, first_valid1, first_valid2, first_valid3, first_valid4, nan_fill
from .overlap import ma_into, ma_lookback


@njit(cache=True)
def rsi_into(real, begin, period, out):
    """TA_RSI from ``begin``: Wilder smoothing seeded with the plain average of ``period`` moves.

    TA-Lib's current form: branchless gain/loss split, a hoisted ``1/period``, and an exact test of
    the gain+loss total (0 when both are zero; a NaN move makes every later value 0, as TA-Lib's).
    """
    n = real.shape[0]
    start = begin + period
    for i in range(min(start, n)):
        out[i] = np.nan
    if start >= n:
        return
    inv = 1.0 / period
    pm1 = float(period - 1)
    prev_value = real[begin]
    prev_gain = 0.0
    prev_loss = 0.0
    for i in range(begin + 1, start + 1):
        v = real[i]
        d = v - prev_value
        prev_value = v
        g = d if d > 0.0 else 0.0
        prev_gain += g
        prev_loss += g - d
    prev_loss *= inv
    prev_gain *= inv
    s = prev_gain + prev_loss
    out[start] = 100.0 * (prev_gain / s) if s > 0.0 else 0.0
    for i in range(start + 1, n):
        v = real[i]
        d = v - prev_value
        prev_value = v
        prev_loss *= pm1
        prev_gain *= pm1
        g = d if d > 0.0 else 0.0
        prev_gain += g
        prev_loss += g - d
        prev_loss *= inv
        prev_gain *= inv
        s = prev_gain + prev_loss
        out[i] = 100.0 * (prev_gain / s) if s > 0.0 else 0.0


@njit(cache=True)
def rsi_nb(real, timeperiod, out):
    """TA-Lib RSI."""
    rsi_into(real, first_valid1(real), timeperiod, out)


@njit(cache=True)
def mom_nb(real, timeperiod, out):
    """TA-Lib MOM."""
    n = real.shape[0]
    start = first_valid1(real) + timeperiod
    nan_fill(out, start)
    if start < n:
        np.subtract(real[start:], real[start - timeperiod : n - timeperiod], out[start:])


@njit(cache=True)
def _roc_loop(cur, prev, out):
    for i in range(cur.shape[0]):
        p = prev[i]
        out[i] = ((cur[i] / p) - 1.0) * 100.0 if p != 0.0 else 0.0


@njit(cache=True)
def roc_nb(real, timeperiod, out):
    """TA-Lib ROC."""
    n = real.shape[0]
    start = first_valid1(real) + timeperiod
    nan_fill(out, start)
    if start < n:
        _roc_loop(real[start:], real[start - timeperiod : n - timeperiod], out[start:])


@njit(cache=True)
def _has_nan(a, b, begin, stop):
    for i in range(begin, stop):  # noqa: SIM110 (Numba: no generator any())
        if a[i] != a[i] or b[i] != b[i]:
            return True
    return False


@njit(cache=True)
def stoch_fastk_into(high, low, close, begin, period, out):
    """Fast %K from ``begin``: O(n) block scan; TA-Lib's own rescan loop when a NaN is present (TA-Lib's
    rescan gives NaNs an order-dependent meaning that only the same loop reproduces)."""
    n = high.shape[0]
    start = begin + period - 1
    for i in range(min(start, n)):
        out[i] = np.nan
    if start >= n:
        return
    if _has_nan(high, low, begin, n):
        _stoch_fastk_rescan(high, low, close, begin, period, out)
    else:
        _block_scan_into(high, low, close, begin, period, False, out)


@njit(cache=True)
def _stoch_fastk_rescan(high, low, close, begin, period, out):
    """TA-Lib's own fast %K loop (extreme rescanned when it leaves the window)."""
    n = high.shape[0]
    start = begin + period - 1
    trailing = begin
    lowest_idx = -1
    highest_idx = -1
    highest = 0.0
    lowest = 0.0
    diff = 0.0
    for today in range(start, n):
        tmp = low[today]
        if lowest_idx < trailing:
            lowest_idx = trailing
            lowest = low[lowest_idx]
            for i in range(lowest_idx + 1, today + 1):
                tmp = low[i]
                if tmp < lowest:
                    lowest_idx = i
                    lowest = tmp
            diff = (highest - lowest) / 100.0
        elif tmp <= lowest:
            lowest_idx = today
            lowest = tmp
            diff = (highest - lowest) / 100.0
        tmp = high[today]
        if highest_idx < trailing:
            highest_idx = trailing
            highest = high[highest_idx]
            for i in range(highest_idx + 1, today + 1):
                tmp = high[i]
                if tmp > highest:
                    highest_idx = i
                    highest = tmp
            diff = (highest - lowest) / 100.0
        elif tmp >= highest:
            highest_idx = today
            highest = tmp
            diff = (highest - lowest) / 100.0
        if abs(highest - lowest) <= TA_EPSILON * (abs(highest) + abs(lowest)):
            out[today] = 0.0
        else:
            out[today] = (close[today] - lowest) / diff
        trailing += 1


@njit(cache=True)
def stoch_nb(
    high,
    low,
    close,
    fastk_period,
    slowk_period,
    slowk_matype,
    slowd_period,
    slowd_matype,
    slowk,
    slowd,
    fastk,
):
    """TA-Lib STOCH (``fastk`` is scratch space of the inputs' length)."""
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    stoch_fastk_into(high, low, close, begin, fastk_period, fastk)
    b1 = begin + fastk_period - 1
    ma_into(fastk, b1, slowk_period, slowk_matype, slowk)
    b2 = b1 + ma_lookback(slowk_period, slowk_matype)
    ma_into(slowk, b2, slowd_period, slowd_matype, slowd)
    b3 = b2 + ma_lookback(slowd_period, slowd_matype)
    for i in range(min(b3, n)):
        slowk[i] = np.nan


@njit(cache=True)
def stochf_into(real, begin, fastk_period, fastd_period, fastd_matype, fastk, fastd):
    """TA_STOCHF on a single series (high = low = close) from ``begin``; aligns %K to %D."""
    n = real.shape[0]
    stoch_fastk_into(real, real, real, begin, fastk_period, fastk)
    b1 = begin + fastk_period - 1
    ma_into(fastk, b1, fastd_period, fastd_matype, fastd)
    b2 = b1 + ma_lookback(fastd_period, fastd_matype)
    for i in range(min(b2, n)):
        fastk[i] = np.nan


@njit(cache=True)
def stochrsi_nb(real, timeperiod, fastk_period, fastd_period, fastd_matype, fastk, fastd, rsi):
    """TA-Lib STOCHRSI (``rsi`` is scratch space of the input's length)."""
    begin = first_valid1(real)
    rsi_into(real, begin, timeperiod, rsi)
    stochf_into(rsi, begin + timeperiod, fastk_period, fastd_period, fastd_matype, fastk, fastd)


@njit(cache=True, error_model="numpy")  # divisors are checked; no per-division zero branch
def _willr_out(highest, lowest, close):
    # One division instead of TA-Lib's two ((h - c) / ((h - l) / -100)): the divider is the
    # bottleneck of this loop; the result differs from TA-Lib's by at most an ulp or two.
    diff = highest - lowest
    if diff != 0.0:
        value = (highest - close) * -100.0 / diff
        # TA-Lib 0.8 clamps %R to [-100, 0] (a close outside the window's range); NaN passes through.
        if value > 0.0:
            return 0.0
        if value < -100.0:
            return -100.0
        return value
    return 0.0


@njit(cache=True, error_model="numpy")  # divisors are checked; no per-division zero branch
def _fastk_out(highest, lowest, close):
    diff = (highest - lowest) / 100.0
    if abs(highest - lowest) <= TA_EPSILON * (abs(highest) + abs(lowest)):
        return 0.0
    return (close - lowest) / diff


@njit(cache=True, error_model="numpy")  # divisors are checked; no per-division zero branch
def _emit(willr, highest, lowest, close):
    return _willr_out(highest, lowest, close) if willr else _fastk_out(highest, lowest, close)


@njit(cache=True, error_model="numpy")  # divisors are checked; no per-division zero branch
def _block_scan_into(high, low, close, begin_, p_, willr, out):
    """Rolling highest-high / lowest-low by TA-Lib's van Herk / Gil-Werman block scan, O(n) for any
    trend: each block of ``p`` bars gets suffix extrema (backward) and the next block prefix extrema
    (forward); a window combines one of each. Emits Williams' %R (``willr``) or fast %K.

    Indices are unsigned: Numba checks every signed index it cannot prove non-negative for Python's
    negative-index wraparound, which cost a third of this loop. Invariant: whenever ``avail`` is
    computed, ``nxt == today <= end``, so no unsigned difference can underflow. Comparisons keep
    TA-Lib's order (``tmp > highest``), so NaNs propagate exactly as in TA-Lib.
    """
    one = uint64(1)
    zero = uint64(0)
    p = uint64(p_)
    n = uint64(high.shape[0])
    suf_h = np.empty(p_, dtype=np.float64)
    suf_l = np.empty(p_, dtype=np.float64)
    pre_h = np.empty(p_, dtype=np.float64)
    pre_l = np.empty(p_, dtype=np.float64)
    end = n - one
    block = uint64(begin_)
    today = block + p - one
    while today <= end:
        i = block + p - one
        highest = high[i]
        lowest = low[i]
        suf_h[p - one] = highest
        suf_l[p - one] = lowest
        while i > block:
            i -= one
            tmp = high[i]
            highest = tmp if tmp > highest else highest
            tmp = low[i]
            lowest = tmp if tmp < lowest else lowest
            suf_h[i - block] = highest
            suf_l[i - block] = lowest
        out[today] = _emit(willr, suf_h[zero], suf_l[zero], close[today])
        today += one
        if today > end:
            break
        nxt = block + p
        avail = min(end - nxt + one, p - one)
        highest = high[nxt]
        lowest = low[nxt]
        pre_h[zero] = highest
        pre_l[zero] = lowest
        k = one
        while k < avail:
            tmp = high[nxt + k]
            highest = tmp if tmp > highest else highest
            tmp = low[nxt + k]
            lowest = tmp if tmp < lowest else lowest
            pre_h[k] = highest
            pre_l[k] = lowest
            k += one
        m = one
        while m <= avail:
            highest = suf_h[m]
            tmp = pre_h[m - one]
            highest = tmp if tmp > highest else highest
            lowest = suf_l[m]
            tmp = pre_l[m - one]
            lowest = tmp if tmp < lowest else lowest
            out[today + m - one] = _emit(willr, highest, lowest, close[today + m - one])
            m += one
        today += avail
        block += p


@njit(cache=True, error_model="numpy")  # divisors are checked; no per-division zero branch
def willr_nb(high, low, close, timeperiod, out):
    """TA-Lib WILLR: TA-Lib's own block scan (O(n)), comparisons in TA-Lib's order so NaNs match."""
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    start = begin + timeperiod - 1
    nan_fill(out, start)
    if start < n:
        _block_scan_into(high, low, close, begin, timeperiod, True, out)


@njit(cache=True)
def cci_nb(high, low, close, timeperiod, out):
    """TA-Lib CCI (mean deviation summed in TA-Lib's circular-buffer order: O(n * period), exact)."""
    n = high.shape[0]
    begin = first_valid3(high, low, close)
    start = begin + timeperiod - 1
    nan_fill(out, start)
    if start >= n:
        return
    buf = np.zeros(timeperiod, dtype=np.float64)
    pos = 0
    for i in range(begin, start):
        buf[pos] = (high[i] + low[i] + close[i]) / 3.0
        pos += 1
    for i in range(start, n):
        last = (high[i] + low[i] + close[i]) / 3.0
        buf[pos] = last
        avg = 0.0
        for j in range(timeperiod):
            avg += buf[j]
        avg /= timeperiod
        dev = 0.0
        for j in range(timeperiod):
            dev += abs(buf[j] - avg)
        dev /= timeperiod
        d = last - avg
        # TA-Lib's dead-zone scaled to the average: a flat window's rounding residue reads as 0
        scale = TA_EPSILON * abs(avg)
        if abs(d) <= scale or abs(dev) <= scale:
            out[i] = 0.0
        else:
            out[i] = d / (0.015 * dev)
        pos += 1
        if pos == timeperiod:
            pos = 0


@njit(cache=True)
def _mfi_out(pos_sum, neg_sum):
    total = pos_sum + neg_sum
    pos = 0.0 if pos_sum < 0.0 else (total if pos_sum > total else pos_sum)
    if total <= 0.0:
        return 0.0
    return 100.0 * (pos / total)


@njit(cache=True)
def mfi_nb(high, low, close, volume, timeperiod, out):
    """TA-Lib MFI: running money-flow sums over a ring, a scaled dead-zone on the typical-price move,
    sums reset to exact zero after a full period without flow, ratio clamped into [0, 100]."""
    n = high.shape[0]
    begin = first_valid4(high, low, close, volume)
    start = begin + timeperiod
    nan_fill(out, start)
    if start >= n:
        return
    pos_buf = np.zeros(timeperiod, dtype=np.float64)
    neg_buf = np.zeros(timeperiod, dtype=np.float64)
    idx = 0
    prev = (high[begin] + low[begin] + close[begin]) / 3.0
    pos_sum = 0.0
    neg_sum = 0.0
    null_run = 0
    for today in range(begin + 1, n):
        if today > start:
            pos_sum -= pos_buf[idx]
            neg_sum -= neg_buf[idx]
        tp = (high[today] + low[today] + close[today]) / 3.0
        d = tp - prev
        scale = abs(tp) + abs(prev)
        prev = tp
        flow = tp * volume[today]
        money = 0.0 if abs(d) <= TA_EPSILON * scale else flow
        pos_flow = 0.0 if d < 0.0 else money
        neg_flow = money if d < 0.0 else 0.0
        pos_buf[idx] = pos_flow
        neg_buf[idx] = neg_flow
        pos_sum += pos_flow
        neg_sum += neg_flow
        null_run = null_run + 1 if money == 0.0 else 0
        if null_run >= timeperiod:
            null_run = timeperiod
            pos_sum = 0.0
            neg_sum = 0.0
        if today >= start:
            out[today] = _mfi_out(pos_sum, neg_sum)
        idx += 1
        if idx == timeperiod:
            idx = 0


@njit(cache=True)
def obv_nb(real, volume, out):
    """TA-Lib OBV."""
    n = real.shape[0]
    begin = first_valid2(real, volume)
    nan_fill(out, begin)
    if n == 0:
        return
    prev_obv = volume[begin]
    prev_real = real[begin]
    for i in range(begin, n):
        v = real[i]
        vol = volume[i]
        # selects, not branches (a price move is a coin flip): adding or subtracting 0.0 is exact
        up = vol if v > prev_real else 0.0
        down = vol if v < prev_real else 0.0
        prev_obv = prev_obv + up - down
        out[i] = prev_obv
        prev_real = v
