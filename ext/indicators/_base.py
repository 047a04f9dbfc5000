"""Shared helpers of the batch indicator kernels (Numba, ``cache=True``, no fastmath).

Conventions of every batch kernel in ``engine.ext.indicators``:

* inputs are 1-d C-contiguous float64 arrays of one length, parameters are int64 / float64 already
  validated by ``engine.indicators`` (the kernels trust their caller);
* like the TA-Lib Python wrapper, a kernel starts at the first bar where every input is non-NaN
  (``begin``) and writes NaN over ``[0, begin + lookback)``;
* arithmetic is TA-Lib's, operation for operation, unless the kernel's docstring says otherwise.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.core.extending import intrinsic

NAN = np.nan

# TA-Lib's TA_IS_ZERO / TA_IS_ZERO_OR_NEG band (ta_utility.h, TA_EPSILON).
TA_EPSILON = 1e-14


@intrinsic
def fma(typingctx, a, b, c):
    """Fused multiply-add ``a * b + c`` with one rounding (``llvm.fma``), like TA-Lib's fused steps."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@njit(cache=True)
def is_zero(v):
    """TA_IS_ZERO."""
    return -TA_EPSILON < v < TA_EPSILON


@njit(cache=True)
def first_valid1(a):
    """First index where ``a`` is not NaN, else ``len - 1`` (talib's check_begidx1)."""
    n = a.shape[0]
    for i in range(n):
        if a[i] == a[i]:
            return i
    return n - 1


@njit(cache=True)
def first_valid2(a, b):
    """First index where neither input is NaN, else ``len - 1`` (talib's check_begidx2)."""
    n = a.shape[0]
    for i in range(n):
        if a[i] == a[i] and b[i] == b[i]:
            return i
    return n - 1


@njit(cache=True)
def first_valid3(a, b, c):
    """First index where no input is NaN, else ``len - 1`` (talib's check_begidx3)."""
    n = a.shape[0]
    for i in range(n):
        if a[i] == a[i] and b[i] == b[i] and c[i] == c[i]:
            return i
    return n - 1


@njit(cache=True)
def first_valid4(a, b, c, d):
    """First index where no input is NaN, else ``len - 1`` (talib's check_begidx4)."""
    n = a.shape[0]
    for i in range(n):
        if a[i] == a[i] and b[i] == b[i] and c[i] == c[i] and d[i] == d[i]:
            return i
    return n - 1


@njit(cache=True)
def nan_fill(out, start):
    """Write NaN over ``out[0:start]`` (the warm-up)."""
    for i in range(min(start, out.shape[0])):
        out[i] = NAN


@njit(cache=True)
def true_range(high, low, prev_close):
    """TA-Lib's TRUE_RANGE macro (greatest of high-low, |high-prevclose|, |low-prevclose|)."""
    greatest = high - low
    v = abs(high - prev_close)
    if v > greatest:  # noqa: PLR1730 (NaN order matters: TA-Lib compares this way)
        greatest = v
    v = abs(low - prev_close)
    if v > greatest:  # noqa: PLR1730 (NaN order matters: TA-Lib compares this way)
        greatest = v
    return greatest
