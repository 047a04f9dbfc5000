# cython: language_level=3
"""Exact decimal-string <-> fixed-point int64 conversion (no binary floating point anywhere).

A value with ``precision`` p is stored as ``raw = value * 10**p`` in a signed 64-bit integer. This is
the hottest conversion in market-data normalisation (every price and size a venue sends is a decimal
string), so it never goes through ``decimal.Decimal``.
"""

from libc.stdint cimport int64_t, uint64_t

cdef int MAX_PRECISION = 18

cdef uint64_t[19] _POW10
cdef int _i
_POW10[0] = 1
for _i in range(1, 19):
    _POW10[_i] = _POW10[_i - 1] * 10

# Status codes of parse_fixed_c (0 = ok).
cdef enum:
    OK = 0
    ERR_EMPTY = 1
    ERR_SYNTAX = 2
    ERR_TOO_PRECISE = 3
    ERR_OVERFLOW = 4
    ERR_PRECISION = 5

_MESSAGES = {
    ERR_EMPTY: "is empty",
    ERR_SYNTAX: "is not a decimal number",
    ERR_TOO_PRECISE: "has more decimal places than the precision allows",
    ERR_OVERFLOW: "is out of the 64-bit fixed-point range",
    ERR_PRECISION: "precision must be between 0 and 18",
}

cdef inline int _accumulate(uint64_t* acc, int digit) noexcept:
    # acc = acc * 10 + digit, with overflow detection against the int64 magnitude limit.
    # Symmetric range: |raw| <= 2**63 - 1, so negation never overflows.
    if acc[0] > <uint64_t>922337203685477580ULL or (
        acc[0] == <uint64_t>922337203685477580ULL and digit > 7
    ):
        return ERR_OVERFLOW
    acc[0] = acc[0] * 10 + <uint64_t>digit
    return OK


cdef int parse_fixed_c(str text, int precision, int64_t* out) noexcept:
    """Parse ``text`` (``[+-]digits[.digits][e[+-]digits]``) into ``out`` at ``precision``."""
    cdef Py_ssize_t n = len(text)
    cdef Py_ssize_t i = 0
    cdef Py_UCS4 ch
    cdef bint negative = False
    cdef bint seen_digit = False
    cdef bint in_fraction = False
    cdef uint64_t acc = 0
    cdef int frac_digits = 0          # fractional digits consumed into acc
    cdef int dropped_nonzero = 0      # a non-zero digit beyond what we can keep
    cdef int pending_zeros = 0        # fractional zeros not yet multiplied in
    cdef int overflow_at_frac = -1    # fractional position where acc overflowed, if it did
    cdef int exponent = 0
    cdef bint exp_negative = False
    cdef int exp_digits = 0
    cdef int scale
    cdef int status
    cdef int digit
    cdef int k

    if precision < 0 or precision > MAX_PRECISION:
        return ERR_PRECISION
    if n == 0:
        return ERR_EMPTY
    ch = text[0]
    if ch == u'-' or ch == u'+':
        negative = ch == u'-'
        i = 1
    # Mantissa. Fractional digits are kept in acc; trailing zeros are counted lazily so that
    # "1.000000000000000000000" at low precision does not overflow.
    while i < n:
        ch = text[i]
        if u'0' <= ch <= u'9':
            digit = <int>ch - 48
            seen_digit = True
            if in_fraction:
                if digit == 0:
                    pending_zeros += 1
                else:
                    if overflow_at_frac >= 0 or frac_digits + pending_zeros + 1 > precision + 64:
                        dropped_nonzero = 1
                    else:
                        while pending_zeros > 0 and overflow_at_frac < 0:
                            if _accumulate(&acc, 0) != OK:
                                overflow_at_frac = frac_digits + 1
                            pending_zeros -= 1
                            frac_digits += 1
                        if overflow_at_frac < 0:
                            if _accumulate(&acc, digit) != OK:
                                overflow_at_frac = frac_digits + 1
                            frac_digits += 1
                        else:
                            dropped_nonzero = 1
            else:
                status = _accumulate(&acc, digit)
                if status != OK:
                    return status
        elif ch == u'.' and not in_fraction:
            in_fraction = True
        else:
            break
        i += 1
    if not seen_digit:
        return ERR_SYNTAX
    if i < n:
        ch = text[i]
        if ch != u'e' and ch != u'E':
            return ERR_SYNTAX
        i += 1
        if i < n and (text[i] == u'-' or text[i] == u'+'):
            exp_negative = text[i] == u'-'
            i += 1
        while i < n:
            ch = text[i]
            if not (u'0' <= ch <= u'9'):
                return ERR_SYNTAX
            if exponent < 10000:
                exponent = exponent * 10 + (<int>ch - 48)
            exp_digits += 1
            i += 1
        if exp_digits == 0:
            return ERR_SYNTAX
        if exp_negative:
            exponent = -exponent
    if overflow_at_frac >= 0:
        # Too many significant digits for 64 bits: the fault is excess precision if the digit that
        # overflowed lies beyond `precision` places (after the exponent shifts it), else magnitude.
        return ERR_TOO_PRECISE if overflow_at_frac - exponent > precision else ERR_OVERFLOW
    if dropped_nonzero:
        return ERR_TOO_PRECISE
    # value = acc * 10**(exponent - frac_digits); we want acc * 10**(precision + exponent - frac_digits)
    scale = precision + exponent - frac_digits
    if acc == 0:
        out[0] = 0
        return OK
    if scale >= 0:
        for k in range(scale):
            status = _accumulate(&acc, 0)
            if status != OK:
                return status
    else:
        if -scale > 18:
            return ERR_TOO_PRECISE
        if acc % _POW10[-scale] != 0:
            return ERR_TOO_PRECISE
        acc //= _POW10[-scale]
    out[0] = -<int64_t>acc if negative else <int64_t>acc
    return OK


cdef str format_fixed_c(int64_t raw, int precision):
    cdef bint negative = raw < 0
    cdef uint64_t magnitude = <uint64_t>(-(raw + 1)) + 1 if negative else <uint64_t>raw  # safe for INT64_MIN
    cdef uint64_t whole
    cdef uint64_t frac
    cdef str frac_text
    if precision == 0:
        return ("-" if negative else "") + str(magnitude)
    whole = magnitude // _POW10[precision]
    frac = magnitude % _POW10[precision]
    frac_text = str(frac)
    return ("-" if negative else "") + str(whole) + "." + "0" * (precision - len(frac_text)) + frac_text


def parse_fixed(str text not None, int precision):
    """Parse a decimal string into a fixed-point int64 at ``precision`` decimal places.

    Raises ``ValueError`` naming the problem when the text is not a decimal, carries non-zero digits
    beyond ``precision``, or does not fit in 64 bits.
    """
    cdef int64_t out = 0
    cdef int status = parse_fixed_c(text, precision, &out)
    if status != OK:
        raise ValueError(f"{text!r} {_MESSAGES[status]}" + (f" ({precision})" if status == ERR_TOO_PRECISE or status == ERR_PRECISION else ""))
    return out


def format_fixed(int64_t raw, int precision):
    """Format a fixed-point int64 as a decimal string with exactly ``precision`` decimal places."""
    if precision < 0 or precision > MAX_PRECISION:
        raise ValueError(f"precision must be between 0 and 18, got {precision}")
    return format_fixed_c(raw, precision)
