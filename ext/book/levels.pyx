# cython: language_level=3
"""Venue price levels -> int64 ticks and lots: the hot loop of book normalisation.

A venue sends a depth update as lists of ``[price, size]`` decimal strings (Binance: ``"b"`` and
``"a"``). ``parse_levels`` turns the bid and ask lists of one update into a batch for
``L2Book.apply_deltas`` (uint8 sides, int64 ticks, int64 lots) in one pass, parsing each string with
``parse_fixed_c`` (exact, no ``float``/``Decimal``) and dividing by the instrument's increment, which
must divide the value exactly. Nothing is rounded: a value off the grid is an error.
"""

import numpy as np

cimport numpy as cnp
from libc.stdint cimport int64_t, uint8_t

from engine.ext.core.fixedpoint cimport parse_fixed_c

cnp.import_array()

# Status codes of parse_levels_c (0 = ok; otherwise ``bad_index`` says which level).
cdef enum:
    LEVELS_OK = 0
    LEVELS_ERR_SHAPE = 1      # a level is not a [price, size] pair of str
    LEVELS_ERR_PRICE = 2      # not a decimal, too precise for the price precision, or off the tick grid
    LEVELS_ERR_SIZE = 3       # same for the size, or negative

_MESSAGES = {
    LEVELS_ERR_SHAPE: "is not a [price, size] pair of strings",
    LEVELS_ERR_PRICE: "has a price that is not a decimal on the tick grid",
    LEVELS_ERR_SIZE: "has a size that is not a non-negative decimal on the size grid",
}


cdef inline int _to_units(object text, int precision, int64_t step, int64_t* out) noexcept:
    cdef int64_t raw = 0
    if type(text) is not str:
        return -1
    if parse_fixed_c(<str>text, precision, &raw) != 0:
        return -1
    if step != 1:
        if raw % step != 0:
            return -1
        raw //= step
    out[0] = raw
    return 0


cdef int parse_levels_c(list levels, uint8_t side, int price_precision, int64_t price_step,
                        int size_precision, int64_t size_step, uint8_t* out_sides, int64_t* out_ticks,
                        int64_t* out_lots, Py_ssize_t* bad_index) noexcept:
    """Fill ``len(levels)`` entries of the output buffers. Trusts the buffers' sizes and the steps (> 0)."""
    cdef Py_ssize_t k
    cdef object level
    for k in range(len(levels)):
        level = levels[k]
        if (type(level) is not list and type(level) is not tuple) or len(level) < 2:
            bad_index[0] = k
            return LEVELS_ERR_SHAPE
        if _to_units(level[0], price_precision, price_step, &out_ticks[k]) != 0:
            bad_index[0] = k
            return LEVELS_ERR_PRICE
        if _to_units(level[1], size_precision, size_step, &out_lots[k]) != 0 or out_lots[k] < 0:
            bad_index[0] = k
            return LEVELS_ERR_SIZE
        out_sides[k] = side
    return LEVELS_OK


def parse_levels(list bids not None, list asks not None, int price_precision, int64_t price_step,
                 int size_precision, int64_t size_step):
    """``(sides, ticks, lots)`` arrays (uint8 1 = bid / 2 = ask, int64, int64) for bids then asks.

    ``price_precision``/``price_step``: a price ``p`` becomes ``p * 10**price_precision / price_step``
    ticks, which must be an integer (likewise sizes -> lots). Raises ``ValueError`` naming the level.
    """
    cdef Py_ssize_t n_bids = len(bids)
    cdef Py_ssize_t n = n_bids + len(asks)
    cdef Py_ssize_t bad = -1
    cdef int status
    if price_step <= 0 or size_step <= 0:
        raise ValueError("price_step and size_step must be positive")
    sides = np.empty(n, dtype=np.uint8)
    ticks = np.empty(n, dtype=np.int64)
    lots = np.empty(n, dtype=np.int64)
    cdef uint8_t[::1] s = sides
    cdef int64_t[::1] t = ticks
    cdef int64_t[::1] q = lots
    if n == 0:
        return sides, ticks, lots
    status = parse_levels_c(bids, 1, price_precision, price_step, size_precision, size_step,
                            &s[0], &t[0], &q[0], &bad)
    if status == LEVELS_OK and n > n_bids:
        status = parse_levels_c(asks, 2, price_precision, price_step, size_precision, size_step,
                                &s[n_bids], &t[n_bids], &q[n_bids], &bad)
        if status != LEVELS_OK:
            raise ValueError(f"asks[{bad}] = {asks[bad]!r} {_MESSAGES[status]}")
    elif status != LEVELS_OK:
        raise ValueError(f"bids[{bad}] = {bids[bad]!r} {_MESSAGES[status]}")
    return sides, ticks, lots
