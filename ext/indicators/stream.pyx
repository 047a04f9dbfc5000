# cython: language_level=3
"""Streaming indicators: one object per indicator, ``update(...)`` per bar in O(1) without allocation.

Every class reproduces its batch kernel in ``engine.ext.indicators`` operation for operation (same
seeds, same running sums, same re-anchoring schedule), so after warm-up ``update`` returns exactly
the value the batch function gives for that bar. During warm-up it returns NaN. Like the TA-Lib
wrapper, bars before the first one whose inputs are all non-NaN are skipped (they return NaN and do
not count towards the warm-up).

State lives in C fields and fixed-size NumPy buffers allocated once by the constructor.
``snapshot()`` returns a plain dict (name, params, state) and ``restore(snapshot)`` loads it back, so an
indicator survives a restart. Multi-output indicators return a tuple from ``update``.

Exceptions to O(1): CCI's mean deviation is summed over its window (O(period)), exactly as TA-Lib
does, because the summation order decides TA-Lib's zero tests on flat windows; the rolling min/max
deques (STOCH, STOCHRSI, Donchian) are amortised O(1); WILLR's block scan costs O(period) once per
period; the re-anchoring of WMA, BBANDS and rolling VWAP costs O(period) once every 8 or 32 periods.

NaNs after the first valid bar go through the same arithmetic and compares as in the batch kernels,
so they give the batch's (TA-Lib's) results: a NaN poisons running sums and smoothers, and the
rolling extremes of STOCH / STOCHRSI (TA-Lib's rescan loop) and WILLR (the block scan) treat a NaN
exactly as those loops do (see ``_RescanHL`` and ``_BlockHL``).
"""

from libc.math cimport fabs, fma, sqrt, NAN

import numpy as np

cdef double TA_EPSILON = 1e-14
cdef long long NS_PER_DAY = 86400000000000

MA_TYPES = {0: "SMA", 1: "EMA", 2: "WMA", 3: "DEMA", 4: "TEMA"}


cdef inline bint _isnan(double x) noexcept:
    return x != x


cdef inline bint _is_zero(double v) noexcept:
    return -TA_EPSILON < v < TA_EPSILON


cdef inline double _true_range(double high, double low, double prev_close) noexcept:
    cdef double greatest = high - low
    cdef double v = fabs(high - prev_close)
    if v > greatest:
        greatest = v
    v = fabs(low - prev_close)
    if v > greatest:
        greatest = v
    return greatest


def check_period(value, str name, int minimum=1, int maximum=100000):
    """Validate an integer period parameter; ValueError names the parameter."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or value > maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def check_real(value, str name, double limit=3e37):
    """Validate a float parameter (finite, |value| <= 3e37 as TA-Lib); ValueError names it."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (-limit <= x <= limit):
        raise ValueError(f"{name} must be a finite number between {-limit:g} and {limit:g}, got {value!r}")
    return x


def check_matype(value, str name):
    """Validate a TA-Lib MA type; only 0..4 (SMA, EMA, WMA, DEMA, TEMA) are implemented."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be an integer MA type, got {value!r}")
    value = int(value)
    if value not in MA_TYPES:
        raise ValueError(
            f"{name} must be one of 0 (SMA), 1 (EMA), 2 (WMA), 3 (DEMA), 4 (TEMA), got {value}"
        )
    return value


def ma_lookback(int period, int matype):
    """TA_MA_Lookback for the supported MA types (period 1 is the identity)."""
    if period <= 1:
        return 0
    if matype == 3:
        return 2 * (period - 1)
    if matype == 4:
        return 3 * (period - 1)
    return period - 1


def _restored(values, current, dtype):
    """A fresh buffer from a snapshot list, checked against the current buffer's size."""
    arr = np.array(values, dtype=dtype)
    if arr.ndim != 1 or arr.shape[0] != current.shape[0]:
        raise ValueError("snapshot buffer size does not match the indicator's parameters")
    return arr


# --------------------------------------------------------------------------------------------
# Building blocks (cdef classes: C-level calls, state snapshotted as plain dicts).
# --------------------------------------------------------------------------------------------

cdef class _Ema:
    """TA_INT_EMA: SMA seed of the first ``period`` values, then fma(x - prev, k, prev)."""
    cdef int period
    cdef double k
    cdef double a
    cdef long long count
    cdef double total
    cdef double value

    def __cinit__(self, int period, double k):
        self.period = period
        self.k = k
        self.a = 1.0 - k
        self.count = 0
        self.total = 0.0
        self.value = NAN

    cdef inline double push(self, double x) noexcept:
        if self.count >= self.period:
            self.value = fma(x - self.value, self.k, self.value)
            return self.value
        self.total += x
        self.count += 1
        if self.count == self.period:
            self.value = self.total / self.period
            return self.value
        return NAN

    cdef dict state(self):
        return {"count": self.count, "total": self.total, "value": self.value}

    cdef load(self, dict s):
        self.count = s["count"]
        self.total = s["total"]
        self.value = s["value"]


cdef class _Ring:
    """Fixed-capacity ring of doubles (the last ``cap`` values pushed)."""
    cdef double[::1] buf
    cdef int cap
    cdef int pos       # next write slot
    cdef long long count

    def __cinit__(self, int cap):
        self.cap = cap
        self.buf = np.zeros(cap, dtype=np.float64)
        self.pos = 0
        self.count = 0

    cdef inline void push(self, double x) noexcept:
        self.buf[self.pos] = x
        self.pos += 1
        if self.pos == self.cap:
            self.pos = 0
        self.count += 1

    cdef inline double ago(self, int k) noexcept:
        """Value pushed ``k`` pushes ago (0 = the last one); k < cap."""
        cdef int j = self.pos - 1 - k
        if j < 0:
            j += self.cap
        return self.buf[j]

    cdef dict state(self):
        return {"buf": list(self.buf), "pos": self.pos, "count": self.count}

    cdef load(self, dict s):
        self.buf = _restored(s["buf"], self.buf, np.float64)
        self.pos = s["pos"]
        self.count = s["count"]


cdef class _Deque:
    """Monotonic deque over the last ``cap`` bars: max (``is_max``) or min of the pushed values.

    With ``keep_ties`` an equal value does not evict the older one, so the front is the *earliest*
    bar holding the extreme (what a forward scan with a strict compare finds); otherwise the latest.
    """
    cdef long long[::1] idx
    cdef double[::1] val
    cdef int cap
    cdef int head
    cdef int size
    cdef bint is_max
    cdef bint keep_ties

    def __cinit__(self, int cap, bint is_max, bint keep_ties=False):
        self.cap = cap
        self.is_max = is_max
        self.keep_ties = keep_ties
        self.idx = np.zeros(cap, dtype=np.int64)
        self.val = np.zeros(cap, dtype=np.float64)
        self.head = 0
        self.size = 0

    cdef inline void expire(self, long long t) noexcept:
        """Drop the front if it is older than the window ending at bar ``t``."""
        if self.size > 0 and self.idx[self.head] <= t - self.cap:
            self.head += 1
            if self.head == self.cap:
                self.head = 0
            self.size -= 1

    cdef inline void push(self, long long t, double v) noexcept:
        cdef int j
        cdef double b
        while self.size > 0:
            j = self.head + self.size - 1
            if j >= self.cap:
                j -= self.cap
            b = self.val[j]
            if self.keep_ties:
                if not ((b < v) if self.is_max else (b > v)):
                    break
            elif not ((b <= v) if self.is_max else (b >= v)):
                break
            self.size -= 1
        j = self.head + self.size
        if j >= self.cap:
            j -= self.cap
        self.idx[j] = t
        self.val[j] = v
        self.size += 1

    cdef inline double front(self) noexcept:
        return self.val[self.head] if self.size > 0 else NAN

    cdef inline long long front_idx(self) noexcept:
        return self.idx[self.head] if self.size > 0 else -1

    cdef dict state(self):
        return {"idx": list(self.idx), "val": list(self.val), "head": self.head, "size": self.size}

    cdef load(self, dict s):
        self.idx = _restored(s["idx"], self.idx, np.int64)
        self.val = _restored(s["val"], self.val, np.float64)
        self.head = s["head"]
        self.size = s["size"]


cdef class _RescanHL:
    """Highest high / lowest low of the last ``p`` bars exactly as TA-Lib's STOCH fast %K loop finds
    them (the batch ``_stoch_fastk_rescan``), NaNs included, in amortised O(1).

    TA-Lib keeps each extreme with its bar. While that bar is in the window, today's value replaces
    the extreme when ``<=`` (low) / ``>=`` (high) it; a NaN never compares, so a NaN bar is skipped
    and a NaN extreme stays. When the bar leaves the window TA-Lib rescans it, seeded with the oldest
    value and compared strictly: a NaN seed makes the extreme NaN (anchored at the oldest bar, so it is
    rescanned at the next bar), a number gives the extreme of the window's non-NaN values at its
    earliest bar, which is the front of a tie-keeping monotonic deque of the non-NaN values. On a
    window without NaN this is the exact extreme, so it also equals the batch block scan.
    """
    cdef int p
    cdef double[::1] hbuf
    cdef double[::1] lbuf
    cdef int pos        # ring slot of the next bar (= the oldest bar of the window once full)
    cdef long long t    # bars pushed
    cdef _Deque hi
    cdef _Deque lo
    cdef double highest
    cdef double lowest
    cdef long long hidx
    cdef long long lidx

    def __cinit__(self, int p):
        self.p = p
        self.hbuf = np.zeros(p, dtype=np.float64)
        self.lbuf = np.zeros(p, dtype=np.float64)
        self.pos = 0
        self.t = 0
        self.hi = _Deque(p, True, True)
        self.lo = _Deque(p, False, True)
        self.highest = 0.0
        self.lowest = 0.0
        self.hidx = -1
        self.lidx = -1

    cdef inline bint push(self, double high, double low) noexcept:
        """Consume one bar; True once the window is full (``highest`` / ``lowest`` are then set)."""
        cdef long long t = self.t
        cdef long long trailing = t - self.p + 1
        cdef double seed
        self.hbuf[self.pos] = high
        self.lbuf[self.pos] = low
        self.pos += 1
        if self.pos == self.p:
            self.pos = 0
        self.t = t + 1
        self.hi.expire(t)
        self.lo.expire(t)
        if high == high:
            self.hi.push(t, high)
        if low == low:
            self.lo.push(t, low)
        if trailing < 0:
            return False
        if self.lidx < trailing:
            seed = self.lbuf[self.pos]
            if seed != seed:
                self.lowest = NAN
                self.lidx = trailing
            else:
                self.lowest = self.lo.front()
                self.lidx = self.lo.front_idx()
        elif low <= self.lowest:
            self.lowest = low
            self.lidx = t
        if self.hidx < trailing:
            seed = self.hbuf[self.pos]
            if seed != seed:
                self.highest = NAN
                self.hidx = trailing
            else:
                self.highest = self.hi.front()
                self.hidx = self.hi.front_idx()
        elif high >= self.highest:
            self.highest = high
            self.hidx = t
        return True

    cdef dict state(self):
        return {"hbuf": list(self.hbuf), "lbuf": list(self.lbuf), "pos": self.pos, "t": self.t,
                "hi": self.hi.state(), "lo": self.lo.state(), "highest": self.highest,
                "lowest": self.lowest, "hidx": self.hidx, "lidx": self.lidx}

    cdef load(self, dict s):
        self.hbuf = _restored(s["hbuf"], self.hbuf, np.float64)
        self.lbuf = _restored(s["lbuf"], self.lbuf, np.float64)
        self.pos = s["pos"]
        self.t = s["t"]
        self.hi.load(s["hi"])
        self.lo.load(s["lo"])
        self.highest = s["highest"]
        self.lowest = s["lowest"]
        self.hidx = s["hidx"]
        self.lidx = s["lidx"]


cdef class _BlockHL:
    """Highest high / lowest low of the last ``p`` bars exactly as the van Herk / Gil-Werman block
    scan of the batch WILLR finds them, NaNs included, in amortised O(1).

    Bars form blocks of ``p`` from the first one. When a block completes, its suffix extremes are
    scanned backward seeded with its last bar (O(p) once per ``p`` bars); the current block keeps a
    prefix extreme seeded with its first bar. A window is a suffix of the previous block joined with a
    prefix of the current one. Compares are the batch's, so a NaN seed poisons its suffix (or is
    outranked by the suffix when it seeds the prefix) and any other NaN is skipped.
    """
    cdef int p
    cdef double[::1] cur_h
    cdef double[::1] cur_l
    cdef double[::1] suf_h
    cdef double[::1] suf_l
    cdef double pre_h
    cdef double pre_l
    cdef int pos        # position of the next bar in its block
    cdef bint full      # a whole block has been seen
    cdef double highest
    cdef double lowest

    def __cinit__(self, int p):
        self.p = p
        self.cur_h = np.zeros(p, dtype=np.float64)
        self.cur_l = np.zeros(p, dtype=np.float64)
        self.suf_h = np.zeros(p, dtype=np.float64)
        self.suf_l = np.zeros(p, dtype=np.float64)
        self.pre_h = 0.0
        self.pre_l = 0.0
        self.pos = 0
        self.full = False
        self.highest = 0.0
        self.lowest = 0.0

    cdef inline bint push(self, double high, double low) noexcept:
        """Consume one bar; True once the window is full (``highest`` / ``lowest`` are then set)."""
        cdef int i, pos = self.pos, last = self.p - 1
        cdef double h, l, v
        self.cur_h[pos] = high
        self.cur_l[pos] = low
        if pos == 0:
            self.pre_h = high
            self.pre_l = low
        else:
            if high > self.pre_h:
                self.pre_h = high
            if low < self.pre_l:
                self.pre_l = low
        if pos == last:
            h = high
            l = low
            self.suf_h[last] = h
            self.suf_l[last] = l
            for i in range(last - 1, -1, -1):
                v = self.cur_h[i]
                if v > h:
                    h = v
                v = self.cur_l[i]
                if v < l:
                    l = v
                self.suf_h[i] = h
                self.suf_l[i] = l
            self.highest = h
            self.lowest = l
            self.pos = 0
            self.full = True
            return True
        self.pos = pos + 1
        if not self.full:
            return False
        h = self.suf_h[pos + 1]
        if self.pre_h > h:
            h = self.pre_h
        l = self.suf_l[pos + 1]
        if self.pre_l < l:
            l = self.pre_l
        self.highest = h
        self.lowest = l
        return True

    cdef dict state(self):
        return {"cur_h": list(self.cur_h), "cur_l": list(self.cur_l), "suf_h": list(self.suf_h),
                "suf_l": list(self.suf_l), "pre_h": self.pre_h, "pre_l": self.pre_l, "pos": self.pos,
                "full": bool(self.full), "highest": self.highest, "lowest": self.lowest}

    cdef load(self, dict s):
        self.cur_h = _restored(s["cur_h"], self.cur_h, np.float64)
        self.cur_l = _restored(s["cur_l"], self.cur_l, np.float64)
        self.suf_h = _restored(s["suf_h"], self.suf_h, np.float64)
        self.suf_l = _restored(s["suf_l"], self.suf_l, np.float64)
        self.pre_h = s["pre_h"]
        self.pre_l = s["pre_l"]
        self.pos = s["pos"]
        self.full = s["full"]
        self.highest = s["highest"]
        self.lowest = s["lowest"]


cdef class _MA:
    """TA_MA for matype 0..4 (period 1 is the identity), one value per push (NaN in warm-up)."""
    cdef int period
    cdef int matype
    cdef _Ring ring
    cdef double total
    cdef double period_sub
    cdef double period_sum
    cdef double divider
    cdef long long bars
    cdef _Ema e1
    cdef _Ema e2
    cdef _Ema e3

    def __cinit__(self, int period, int matype):
        cdef double k = 2.0 / (period + 1)
        self.period = period
        self.matype = matype
        self.ring = _Ring(period + 1)
        self.total = 0.0
        self.period_sub = 0.0
        self.period_sum = 0.0
        self.divider = <double>period * (period + 1) / 2.0
        self.bars = 8 * period
        self.e1 = _Ema(period, k)
        self.e2 = _Ema(period, k)
        self.e3 = _Ema(period, k)

    cdef double push(self, double x) noexcept:
        cdef double out, e1, e2, e3, v
        cdef int j, w
        cdef long long n
        if self.period == 1:
            return x
        if self.matype == 0:
            self.ring.push(x)
            self.total += x
            if self.ring.count < self.period:
                return NAN
            out = self.total / self.period
            self.total -= self.ring.ago(self.period - 1)
            return out
        if self.matype == 1:
            return self.e1.push(x)
        if self.matype == 2:
            self.ring.push(x)
            n = self.ring.count
            if n < self.period:
                self.period_sub += x
                self.period_sum += x * n
                return NAN
            self.period_sub += x
            if n > self.period:
                self.period_sub -= self.ring.ago(self.period)  # value that left the window
            self.period_sum += x * <double>self.period
            self.bars -= 1
            if self.bars <= 0:
                self.bars = 8 * self.period
                self.period_sub = 0.0
                self.period_sum = 0.0
                w = 1
                for j in range(self.period - 1, -1, -1):
                    v = self.ring.ago(j)
                    self.period_sub += v
                    self.period_sum += v * w
                    w += 1
            out = self.period_sum / self.divider
            self.period_sum -= self.period_sub
            return out
        e1 = self.e1.push(x)
        if _isnan(e1) and self.e1.count < self.period:
            return NAN
        e2 = self.e2.push(e1)
        if self.e2.count < self.period:
            return NAN
        if self.matype == 3:
            return 2.0 * e1 - e2
        e3 = self.e3.push(e2)
        if self.e3.count < self.period:
            return NAN
        return e3 + (3.0 * e1 - 3.0 * e2)

    cdef dict state(self):
        return {
            "ring": self.ring.state(), "total": self.total, "period_sub": self.period_sub,
            "period_sum": self.period_sum, "bars": self.bars,
            "e1": self.e1.state(), "e2": self.e2.state(), "e3": self.e3.state(),
        }

    cdef load(self, dict s):
        self.ring.load(s["ring"])
        self.total = s["total"]
        self.period_sub = s["period_sub"]
        self.period_sum = s["period_sum"]
        self.bars = s["bars"]
        self.e1.load(s["e1"])
        self.e2.load(s["e2"])
        self.e3.load(s["e3"])


cdef class _Atr:
    """TA_ATR: Wilder smoothing of the true range, seeded with its SMA (period 1: the true range)."""
    cdef int period
    cdef long long count   # bars seen (the first one only provides a previous close)
    cdef double prev_close
    cdef double total
    cdef double value
    cdef double inv
    cdef double a

    def __cinit__(self, int period):
        self.period = period
        self.inv = 1.0 / period
        self.a = (period - 1) * self.inv
        self.count = 0
        self.prev_close = NAN
        self.total = 0.0
        self.value = NAN

    cdef inline double push(self, double high, double low, double close) noexcept:
        cdef double tr
        self.count += 1
        if self.count == 1:
            self.prev_close = close
            return NAN
        tr = _true_range(high, low, self.prev_close)
        self.prev_close = close
        if self.count <= self.period:
            self.total += tr
            return NAN
        if self.count == self.period + 1:
            self.total += tr
            self.value = self.total / self.period
            return self.value
        self.value = fma(self.value, self.a, tr * self.inv)
        return self.value

    cdef dict state(self):
        return {"count": self.count, "prev_close": self.prev_close, "total": self.total, "value": self.value}

    cdef load(self, dict s):
        self.count = s["count"]
        self.prev_close = s["prev_close"]
        self.total = s["total"]
        self.value = s["value"]


# --------------------------------------------------------------------------------------------
# Public streaming indicators.
# --------------------------------------------------------------------------------------------

cdef class StreamIndicator:
    """Base of every streaming indicator: name, params, bar count, snapshot/restore."""
    cdef readonly str name
    cdef readonly dict params
    cdef public long long nbars       # valid bars consumed (after the leading NaN bars)
    cdef bint started

    def _init_base(self, str name, dict params):
        self.name = name
        self.params = params
        self.nbars = 0
        self.started = False

    cdef dict _state(self):
        return {}

    cdef _load(self, dict s):
        pass

    def snapshot(self):
        """The whole state as a plain dict (JSON/pickle friendly): name, params and state."""
        return {
            "name": self.name, "params": dict(self.params), "version": 1,
            "state": {"nbars": self.nbars, "started": bool(self.started), "core": self._state()},
        }

    def restore(self, dict snapshot):
        """Load a ``snapshot()`` taken from an indicator with the same name and params."""
        if snapshot.get("name") != self.name:
            raise ValueError(f"snapshot is of {snapshot.get('name')!r}, not {self.name!r}")
        if snapshot.get("params") != self.params:
            raise ValueError(f"snapshot params {snapshot.get('params')!r} differ from {self.params!r}")
        if snapshot.get("version") != 1:
            raise ValueError(f"unsupported snapshot version {snapshot.get('version')!r}")
        state = snapshot["state"]
        self._load(state["core"])
        self.nbars = state["nbars"]
        self.started = state["started"]

    def __reduce__(self):
        return (_rebuild, (type(self), self.params, self.snapshot()))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _rebuild(cls, params, snapshot):
    obj = cls(**params)
    obj.restore(snapshot)
    return obj


cdef class _Single(StreamIndicator):
    """Base of single-input (``real``) indicators: handles the leading-NaN skip."""

    cdef double step(self, double x) noexcept:
        return NAN

    def update(self, double real):
        """Consume one bar; return the indicator value (NaN during warm-up)."""
        if not self.started:
            if real != real:
                return NAN
            self.started = True
        self.nbars += 1
        return self.step(real)


cdef class SMA(_Single):
    cdef _MA ma

    def __init__(self, timeperiod=30):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("sma", {"timeperiod": p})
        self.ma = _MA(p, 0)

    cdef double step(self, double x) noexcept:
        return self.ma.push(x)

    cdef dict _state(self):
        return self.ma.state()

    cdef _load(self, dict s):
        self.ma.load(s)


cdef class EMA(_Single):
    cdef _Ema ema

    def __init__(self, timeperiod=30):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("ema", {"timeperiod": p})
        self.ema = _Ema(p, 2.0 / (p + 1))

    cdef double step(self, double x) noexcept:
        if self.ema.period == 1:  # TA-Lib copies the input at period 1
            return x
        return self.ema.push(x)

    cdef dict _state(self):
        return self.ema.state()

    cdef _load(self, dict s):
        self.ema.load(s)


cdef class WMA(_Single):
    cdef _MA ma

    def __init__(self, timeperiod=30):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("wma", {"timeperiod": p})
        self.ma = _MA(p, 2)

    cdef double step(self, double x) noexcept:
        return self.ma.push(x)

    cdef dict _state(self):
        return self.ma.state()

    cdef _load(self, dict s):
        self.ma.load(s)


cdef class DEMA(_Single):
    cdef _MA ma

    def __init__(self, timeperiod=30):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("dema", {"timeperiod": p})
        self.ma = _MA(p, 3)

    cdef double step(self, double x) noexcept:
        return self.ma.push(x)

    cdef dict _state(self):
        return self.ma.state()

    cdef _load(self, dict s):
        self.ma.load(s)


cdef class TEMA(_Single):
    cdef _MA ma

    def __init__(self, timeperiod=30):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("tema", {"timeperiod": p})
        self.ma = _MA(p, 4)

    cdef double step(self, double x) noexcept:
        return self.ma.push(x)

    cdef dict _state(self):
        return self.ma.state()

    cdef _load(self, dict s):
        self.ma.load(s)


cdef class TRIX(_Single):
    cdef _Ema e1
    cdef _Ema e2
    cdef _Ema e3
    cdef double prev

    def __init__(self, timeperiod=30):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("trix", {"timeperiod": p})
        k = 2.0 / (p + 1)
        self.e1 = _Ema(p, k)
        self.e2 = _Ema(p, k)
        self.e3 = _Ema(p, k)
        self.prev = NAN

    cdef double step(self, double x) noexcept:
        cdef double e1 = self.e1.push(x)
        cdef double e2, e3, prev
        if self.e1.count < self.e1.period:
            return NAN
        e2 = self.e2.push(e1)
        if self.e2.count < self.e2.period:
            return NAN
        e3 = self.e3.push(e2)
        if self.e3.count < self.e3.period:
            return NAN
        prev = self.prev
        self.prev = e3
        if self.e3.count == self.e3.period and self.nbars == 3 * (self.e1.period - 1) + 1:
            return NAN  # first triple-EMA value: TRIX needs one more bar
        if prev != 0.0:
            return ((e3 / prev) - 1.0) * 100.0
        return 0.0

    cdef dict _state(self):
        return {"e1": self.e1.state(), "e2": self.e2.state(), "e3": self.e3.state(), "prev": self.prev}

    cdef _load(self, dict s):
        self.e1.load(s["e1"])
        self.e2.load(s["e2"])
        self.e3.load(s["e3"])
        self.prev = s["prev"]


cdef class RSI(_Single):
    cdef int period
    cdef double inv
    cdef double pm1
    cdef double prev_value
    cdef double gain
    cdef double loss

    def __init__(self, timeperiod=14):
        p = check_period(timeperiod, "timeperiod", 2)
        self._init_base("rsi", {"timeperiod": p})
        self.period = p
        self.inv = 1.0 / p
        self.pm1 = <double>(p - 1)
        self.prev_value = NAN
        self.gain = 0.0
        self.loss = 0.0

    cdef double step(self, double x) noexcept:
        cdef double d, g, s
        if self.nbars == 1:
            self.prev_value = x
            return NAN
        d = x - self.prev_value
        self.prev_value = x
        g = d if d > 0.0 else 0.0
        if self.nbars <= self.period + 1:
            self.gain += g
            self.loss += g - d
            if self.nbars < self.period + 1:
                return NAN
        else:
            self.loss *= self.pm1
            self.gain *= self.pm1
            self.gain += g
            self.loss += g - d
        self.loss *= self.inv
        self.gain *= self.inv
        s = self.gain + self.loss
        return 100.0 * (self.gain / s) if s > 0.0 else 0.0

    cdef dict _state(self):
        return {"prev_value": self.prev_value, "gain": self.gain, "loss": self.loss}

    cdef _load(self, dict s):
        self.prev_value = s["prev_value"]
        self.gain = s["gain"]
        self.loss = s["loss"]


cdef class MOM(_Single):
    cdef _Ring ring
    cdef int period

    def __init__(self, timeperiod=10):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("mom", {"timeperiod": p})
        self.period = p
        self.ring = _Ring(p + 1)

    cdef double step(self, double x) noexcept:
        self.ring.push(x)
        if self.ring.count <= self.period:
            return NAN
        return x - self.ring.ago(self.period)

    cdef dict _state(self):
        return self.ring.state()

    cdef _load(self, dict s):
        self.ring.load(s)


cdef class ROC(_Single):
    cdef _Ring ring
    cdef int period

    def __init__(self, timeperiod=10):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("roc", {"timeperiod": p})
        self.period = p
        self.ring = _Ring(p + 1)

    cdef double step(self, double x) noexcept:
        cdef double prev
        self.ring.push(x)
        if self.ring.count <= self.period:
            return NAN
        prev = self.ring.ago(self.period)
        if prev != 0.0:
            return ((x / prev) - 1.0) * 100.0
        return 0.0

    cdef dict _state(self):
        return self.ring.state()

    cdef _load(self, dict s):
        self.ring.load(s)


cdef class MACD(StreamIndicator):
    cdef int fast
    cdef int slow
    cdef _Ema slow_ema
    cdef _Ema fast_ema
    cdef _Ema signal_ema

    def __init__(self, fastperiod=12, slowperiod=26, signalperiod=9):
        f = check_period(fastperiod, "fastperiod", 2)
        s = check_period(slowperiod, "slowperiod", 2)
        g = check_period(signalperiod, "signalperiod", 1)
        self._init_base("macd", {"fastperiod": f, "slowperiod": s, "signalperiod": g})
        if s < f:
            f, s = s, f
        self.fast = f
        self.slow = s
        self.slow_ema = _Ema(s, 2.0 / (s + 1))
        self.fast_ema = _Ema(f, 2.0 / (f + 1))
        self.signal_ema = _Ema(g, 2.0 / (g + 1))

    def update(self, double real):
        """Consume one bar; return (macd, macdsignal, macdhist) (NaNs during warm-up)."""
        cdef double slow, line, sig
        if not self.started:
            if real != real:
                return (NAN, NAN, NAN)
            self.started = True
        self.nbars += 1
        slow = self.slow_ema.push(real)
        if self.nbars > self.slow - self.fast:
            self.fast_ema.push(real)
        if self.nbars < self.slow:
            return (NAN, NAN, NAN)
        line = self.fast_ema.value - slow
        sig = self.signal_ema.push(line)
        if sig != sig and self.signal_ema.count < self.signal_ema.period:
            return (NAN, NAN, NAN)
        return (line, sig, line - sig)

    cdef dict _state(self):
        return {"slow": self.slow_ema.state(), "fast": self.fast_ema.state(), "signal": self.signal_ema.state()}

    cdef _load(self, dict s):
        self.slow_ema.load(s["slow"])
        self.fast_ema.load(s["fast"])
        self.signal_ema.load(s["signal"])


cdef class BBANDS(StreamIndicator):
    cdef int period
    cdef int lookback
    cdef double nbdevup
    cdef double nbdevdn
    cdef _MA ma
    cdef _Ring ring
    cdef double inv
    cdef double shift
    cdef double t1
    cdef double t2
    cdef long long bars

    def __init__(self, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0):
        p = check_period(timeperiod, "timeperiod", 2)
        up = check_real(nbdevup, "nbdevup")
        dn = check_real(nbdevdn, "nbdevdn")
        mt = check_matype(matype, "matype")
        self._init_base("bbands", {"timeperiod": p, "nbdevup": up, "nbdevdn": dn, "matype": mt})
        self.period = p
        self.lookback = ma_lookback(p, mt)
        self.nbdevup = up
        self.nbdevdn = dn
        self.ma = _MA(p, mt)
        self.ring = _Ring(p)
        self.inv = 1.0 / p
        self.shift = 0.0
        self.t1 = 0.0
        self.t2 = 0.0
        self.bars = 32 * p

    cdef double _var(self, double x) noexcept:
        cdef double d, mean1, var, acc
        cdef int j, p = self.period
        self.ring.push(x)
        if self.ring.count == 1:
            self.shift = x
        d = x - self.shift
        self.t1 += d
        self.t2 += d * d
        if self.ring.count < p:
            return NAN
        mean1 = self.t1 * self.inv
        var = self.t2 * self.inv - mean1 * mean1
        d = self.ring.ago(p - 1) - self.shift
        self.t1 -= d
        d *= d
        self.t2 -= d
        self.bars -= 1
        if var < 0.000001 * (self.t2 * self.inv) or d > 1000000.0 * self.t2 or self.bars <= 0:
            self.bars = 32 * p
            acc = 0.0
            for j in range(p - 1, -1, -1):
                acc += self.ring.ago(j)
            self.shift = acc * self.inv
            self.t1 = 0.0
            self.t2 = 0.0
            for j in range(p - 1, -1, -1):
                d = self.ring.ago(j) - self.shift
                self.t1 += d
                self.t2 += d * d
            mean1 = self.t1 * self.inv
            var = self.t2 * self.inv - mean1 * mean1
            if var < 0.000000000001 * (self.t2 * self.inv):
                var = 0.0
            d = self.ring.ago(p - 1) - self.shift
            self.t1 -= d
            self.t2 -= d * d
        return var

    def update(self, double real):
        """Consume one bar; return (upperband, middleband, lowerband) (NaNs during warm-up)."""
        cdef double m, var, sd, t
        if not self.started:
            if real != real:
                return (NAN, NAN, NAN)
            self.started = True
        self.nbars += 1
        m = self.ma.push(real)
        var = self._var(real)
        if self.nbars <= self.lookback:
            return (NAN, NAN, NAN)
        sd = sqrt(var) if var != 0.0 else 0.0
        if self.nbdevup == self.nbdevdn:
            t = sd * self.nbdevup
            return (m + t, m, m - t)
        return (m + sd * self.nbdevup, m, m - sd * self.nbdevdn)

    cdef dict _state(self):
        return {"ma": self.ma.state(), "ring": self.ring.state(), "shift": self.shift,
                "t1": self.t1, "t2": self.t2, "bars": self.bars}

    cdef _load(self, dict s):
        self.ma.load(s["ma"])
        self.ring.load(s["ring"])
        self.shift = s["shift"]
        self.t1 = s["t1"]
        self.t2 = s["t2"]
        self.bars = s["bars"]


cdef class _HLC(StreamIndicator):
    """Base of (high, low, close) indicators: handles the leading-NaN skip."""

    cdef double step(self, double high, double low, double close) noexcept:
        return NAN

    def update(self, double high, double low, double close):
        """Consume one bar; return the indicator value (NaN during warm-up)."""
        if not self.started:
            if high != high or low != low or close != close:
                return NAN
            self.started = True
        self.nbars += 1
        return self.step(high, low, close)


cdef class ATR(_HLC):
    cdef _Atr atr

    def __init__(self, timeperiod=14):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("atr", {"timeperiod": p})
        self.atr = _Atr(p)

    cdef double step(self, double high, double low, double close) noexcept:
        return self.atr.push(high, low, close)

    cdef dict _state(self):
        return self.atr.state()

    cdef _load(self, dict s):
        self.atr.load(s)


cdef class NATR(_HLC):
    cdef _Atr atr

    def __init__(self, timeperiod=14):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("natr", {"timeperiod": p})
        self.atr = _Atr(p)

    cdef double step(self, double high, double low, double close) noexcept:
        cdef double a = self.atr.push(high, low, close)
        if a != a or self.atr.period <= 1:
            return a
        return 0.0 if _is_zero(close) else (a / close) * 100.0

    cdef dict _state(self):
        return self.atr.state()

    cdef _load(self, dict s):
        self.atr.load(s)


cdef class _DM(_HLC):
    """Wilder's directional movement state shared by ADX, PLUS_DI and MINUS_DI."""
    cdef int period
    cdef double fp
    cdef double prev_high
    cdef double prev_low
    cdef double prev_close
    cdef double prev_plus
    cdef double prev_minus
    cdef double prev_tr
    cdef double diff_p
    cdef double diff_m

    cdef void _init_dm(self, int period):
        self.period = period
        self.fp = <double>period
        self.prev_high = NAN
        self.prev_low = NAN
        self.prev_close = NAN
        self.prev_plus = 0.0
        self.prev_minus = 0.0
        self.prev_tr = 0.0

    cdef inline double _moves(self, double high, double low) noexcept:
        """Set diff_p / diff_m for this bar and return its true range (before prev_close moves)."""
        self.diff_p = high - self.prev_high
        self.prev_high = high
        self.diff_m = self.prev_low - low
        self.prev_low = low
        return _true_range(self.prev_high, self.prev_low, self.prev_close)

    cdef dict _dm_state(self):
        return {"prev_high": self.prev_high, "prev_low": self.prev_low, "prev_close": self.prev_close,
                "prev_plus": self.prev_plus, "prev_minus": self.prev_minus, "prev_tr": self.prev_tr}

    cdef _dm_load(self, dict s):
        self.prev_high = s["prev_high"]
        self.prev_low = s["prev_low"]
        self.prev_close = s["prev_close"]
        self.prev_plus = s["prev_plus"]
        self.prev_minus = s["prev_minus"]
        self.prev_tr = s["prev_tr"]


cdef inline void _dm1(double diff_p, double diff_m, double* plus1, double* minus1) noexcept:
    cdef double minus_sel = diff_m if diff_m - diff_p > 0.0 else 0.0
    cdef double plus_sel = diff_p if diff_p - diff_m > 0.0 else 0.0
    minus1[0] = minus_sel if diff_m > 0.0 else 0.0
    plus1[0] = plus_sel if diff_p > 0.0 else 0.0


cdef class ADX(_DM):
    cdef double sum_dx
    cdef double prev_adx
    cdef double inv

    def __init__(self, timeperiod=14):
        p = check_period(timeperiod, "timeperiod", 2)
        self._init_base("adx", {"timeperiod": p})
        self._init_dm(p)
        self.inv = 1.0 / p
        self.sum_dx = 0.0
        self.prev_adx = 0.0

    cdef double step(self, double high, double low, double close) noexcept:
        cdef double tr, minus_di, plus_di, s, dx, plus1, minus1
        cdef long long k = self.nbars - 1   # bars after the first
        cdef int p = self.period
        if k == 0:
            self.prev_high = high
            self.prev_low = low
            self.prev_close = close
            return NAN
        tr = self._moves(high, low)
        if k < p:
            _dm1(self.diff_p, self.diff_m, &plus1, &minus1)
            self.prev_minus += minus1
            self.prev_plus += plus1
            self.prev_tr += tr
            self.prev_close = close
            return NAN
        self.prev_minus -= self.prev_minus * self.inv
        self.prev_plus -= self.prev_plus * self.inv
        _dm1(self.diff_p, self.diff_m, &plus1, &minus1)
        self.prev_minus += minus1
        self.prev_plus += plus1
        self.prev_tr = self.prev_tr - (self.prev_tr * self.inv) + tr
        self.prev_close = close
        if self.prev_tr > 0.0:
            minus_di = 100.0 * (self.prev_minus / self.prev_tr)
            plus_di = 100.0 * (self.prev_plus / self.prev_tr)
            s = minus_di + plus_di
            if not _is_zero(s):
                dx = 100.0 * (fabs(minus_di - plus_di) / s)
                if k <= 2 * p - 1:
                    self.sum_dx += dx
                else:
                    self.prev_adx = self.prev_adx - (self.prev_adx - dx) * self.inv
        if k < 2 * p - 1:
            return NAN
        if k == 2 * p - 1:
            self.prev_adx = self.sum_dx / p
        return self.prev_adx

    cdef dict _state(self):
        d = self._dm_state()
        d["sum_dx"] = self.sum_dx
        d["prev_adx"] = self.prev_adx
        return d

    cdef _load(self, dict s):
        self._dm_load(s)
        self.sum_dx = s["sum_dx"]
        self.prev_adx = s["prev_adx"]


cdef class _DI(_DM):
    cdef bint plus

    cdef double step(self, double high, double low, double close) noexcept:
        cdef double tr, dm, dm1, t, plus1, minus1, inv
        cdef bint hit
        cdef long long k = self.nbars - 1
        cdef int p = self.period
        if k == 0:
            self.prev_high = high
            self.prev_low = low
            self.prev_close = close
            return NAN
        tr = self._moves(high, low)
        if p <= 1:
            if self.plus:
                hit = self.diff_p > 0 and self.diff_p > self.diff_m
                dm = self.diff_p
            else:
                hit = self.diff_m > 0 and self.diff_m > self.diff_p
                dm = self.diff_m
            self.prev_close = close
            if hit:
                return 0.0 if tr <= 0.0 else dm / tr
            return 0.0
        _dm1(self.diff_p, self.diff_m, &plus1, &minus1)
        dm1 = plus1 if self.plus else minus1
        if k < p:
            t = self.prev_plus + dm1
            self.prev_plus = self.prev_plus if self.prev_plus > t else t
            self.prev_tr += tr
            self.prev_close = close
            return NAN
        inv = 1.0 / p
        t = self.prev_plus - (self.prev_plus * inv)
        self.prev_plus = t + dm1
        self.prev_plus = t if t > self.prev_plus else self.prev_plus
        self.prev_tr = self.prev_tr - (self.prev_tr * inv) + tr
        self.prev_close = close
        return 100.0 * (self.prev_plus / self.prev_tr) if self.prev_tr > 0.0 else 0.0

    cdef dict _state(self):
        return self._dm_state()

    cdef _load(self, dict s):
        self._dm_load(s)


cdef class PLUS_DI(_DI):
    def __init__(self, timeperiod=14):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("plus_di", {"timeperiod": p})
        self._init_dm(p)
        self.plus = True


cdef class MINUS_DI(_DI):
    def __init__(self, timeperiod=14):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("minus_di", {"timeperiod": p})
        self._init_dm(p)
        self.plus = False


cdef class CCI(_HLC):
    cdef int period
    cdef double[::1] buf
    cdef int pos

    def __init__(self, timeperiod=14):
        p = check_period(timeperiod, "timeperiod", 2)
        self._init_base("cci", {"timeperiod": p})
        self.period = p
        self.buf = np.zeros(p, dtype=np.float64)
        self.pos = 0

    cdef double step(self, double high, double low, double close) noexcept:
        cdef double last = (high + low + close) / 3.0
        cdef double avg = 0.0, dev = 0.0, d, out
        cdef int j, p = self.period
        self.buf[self.pos] = last
        self.pos += 1
        if self.pos == p:
            self.pos = 0
        if self.nbars < p:
            return NAN
        for j in range(p):
            avg += self.buf[j]
        avg /= p
        for j in range(p):
            dev += fabs(self.buf[j] - avg)
        dev /= p
        d = last - avg
        if fabs(d) <= TA_EPSILON * fabs(avg) or fabs(dev) <= TA_EPSILON * fabs(avg):
            return 0.0
        return d / (0.015 * dev)

    cdef dict _state(self):
        return {"buf": list(self.buf), "pos": self.pos}

    cdef _load(self, dict s):
        self.buf = _restored(s["buf"], self.buf, np.float64)
        self.pos = s["pos"]


cdef class WILLR(_HLC):
    cdef _BlockHL ext

    def __init__(self, timeperiod=14):
        p = check_period(timeperiod, "timeperiod", 2)
        self._init_base("willr", {"timeperiod": p})
        self.ext = _BlockHL(p)

    cdef double step(self, double high, double low, double close) noexcept:
        cdef double highest, diff, value
        if not self.ext.push(high, low):
            return NAN
        highest = self.ext.highest
        diff = highest - self.ext.lowest
        if diff != 0.0:
            value = (highest - close) * -100.0 / diff  # the batch kernel's formula, bit for bit
            # Clamped to [-100, 0] like TA-Lib 0.8 and the batch kernel; NaN passes through.
            if value > 0.0:
                return 0.0
            if value < -100.0:
                return -100.0
            return value
        return 0.0

    cdef dict _state(self):
        return {"ext": self.ext.state()}

    cdef _load(self, dict s):
        self.ext.load(s["ext"])


cdef inline double _fastk(double highest, double lowest, double close) noexcept:
    cdef double diff = (highest - lowest) / 100.0
    if fabs(highest - lowest) <= TA_EPSILON * (fabs(highest) + fabs(lowest)):
        return 0.0
    return (close - lowest) / diff


cdef class STOCH(_HLC):
    cdef int lb_k
    cdef int lb_total
    cdef _RescanHL ext
    cdef _MA slowk
    cdef _MA slowd

    def __init__(self, fastk_period=5, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0):
        fk = check_period(fastk_period, "fastk_period")
        sk = check_period(slowk_period, "slowk_period")
        skm = check_matype(slowk_matype, "slowk_matype")
        sd = check_period(slowd_period, "slowd_period")
        sdm = check_matype(slowd_matype, "slowd_matype")
        self._init_base("stoch", {"fastk_period": fk, "slowk_period": sk, "slowk_matype": skm,
                                  "slowd_period": sd, "slowd_matype": sdm})
        self.lb_k = fk - 1 + ma_lookback(sk, skm)
        self.lb_total = self.lb_k + ma_lookback(sd, sdm)
        self.ext = _RescanHL(fk)
        self.slowk = _MA(sk, skm)
        self.slowd = _MA(sd, sdm)

    def update(self, double high, double low, double close):
        """Consume one bar; return (slowk, slowd) (NaNs during warm-up)."""
        cdef long long t
        cdef double k, sk, sd
        if not self.started:
            if high != high or low != low or close != close:
                return (NAN, NAN)
            self.started = True
        self.nbars += 1
        t = self.nbars - 1
        if not self.ext.push(high, low):
            return (NAN, NAN)
        k = _fastk(self.ext.highest, self.ext.lowest, close)
        sk = self.slowk.push(k)
        if t < self.lb_k:
            return (NAN, NAN)
        sd = self.slowd.push(sk)
        if t < self.lb_total:
            return (NAN, NAN)
        return (sk, sd)

    cdef dict _state(self):
        return {"ext": self.ext.state(), "slowk": self.slowk.state(), "slowd": self.slowd.state()}

    cdef _load(self, dict s):
        self.ext.load(s["ext"])
        self.slowk.load(s["slowk"])
        self.slowd.load(s["slowd"])


cdef class STOCHRSI(_Single):
    cdef RSI rsi
    cdef int timeperiod
    cdef int lb_total
    cdef _RescanHL ext
    cdef _MA fastd
    cdef long long nrsi

    def __init__(self, timeperiod=14, fastk_period=5, fastd_period=3, fastd_matype=0):
        tp = check_period(timeperiod, "timeperiod", 2)
        fk = check_period(fastk_period, "fastk_period")
        fd = check_period(fastd_period, "fastd_period")
        fdm = check_matype(fastd_matype, "fastd_matype")
        self._init_base("stochrsi", {"timeperiod": tp, "fastk_period": fk, "fastd_period": fd,
                                     "fastd_matype": fdm})
        self.rsi = RSI(tp)
        self.timeperiod = tp
        self.lb_total = fk - 1 + ma_lookback(fd, fdm)
        self.ext = _RescanHL(fk)
        self.fastd = _MA(fd, fdm)
        self.nrsi = 0

    def update(self, double real):
        """Consume one bar; return (fastk, fastd) (NaNs during warm-up)."""
        cdef double r, k, d
        cdef long long t
        if not self.started:
            if real != real:
                return (NAN, NAN)
            self.started = True
        self.nbars += 1
        self.rsi.nbars += 1
        r = self.rsi.step(real)
        if self.nbars <= self.timeperiod:
            return (NAN, NAN)
        t = self.nrsi
        self.nrsi += 1
        if not self.ext.push(r, r):
            return (NAN, NAN)
        k = _fastk(self.ext.highest, self.ext.lowest, r)
        d = self.fastd.push(k)
        if t < self.lb_total:
            return (NAN, NAN)
        return (k, d)

    cdef dict _state(self):
        return {"rsi": self.rsi.snapshot(), "ext": self.ext.state(), "fastd": self.fastd.state(),
                "nrsi": self.nrsi}

    cdef _load(self, dict s):
        self.rsi.restore(s["rsi"])
        self.ext.load(s["ext"])
        self.fastd.load(s["fastd"])
        self.nrsi = s["nrsi"]


cdef class MFI(StreamIndicator):
    cdef int period
    cdef double[::1] pos_buf
    cdef double[::1] neg_buf
    cdef int idx
    cdef double prev
    cdef double pos_sum
    cdef double neg_sum
    cdef long long null_run

    def __init__(self, timeperiod=14):
        p = check_period(timeperiod, "timeperiod", 2)
        self._init_base("mfi", {"timeperiod": p})
        self.period = p
        self.pos_buf = np.zeros(p, dtype=np.float64)
        self.neg_buf = np.zeros(p, dtype=np.float64)
        self.idx = 0
        self.prev = NAN
        self.pos_sum = 0.0
        self.neg_sum = 0.0
        self.null_run = 0

    def update(self, double high, double low, double close, double volume):
        """Consume one bar; return the MFI (NaN during warm-up)."""
        cdef double tp, d, scale, flow, money, pf, nf, total, pos
        if not self.started:
            if high != high or low != low or close != close or volume != volume:
                return NAN
            self.started = True
        self.nbars += 1
        tp = (high + low + close) / 3.0
        if self.nbars == 1:
            self.prev = tp
            return NAN
        if self.nbars > self.period + 1:
            self.pos_sum -= self.pos_buf[self.idx]
            self.neg_sum -= self.neg_buf[self.idx]
        d = tp - self.prev
        scale = fabs(tp) + fabs(self.prev)
        self.prev = tp
        flow = tp * volume
        money = 0.0 if fabs(d) <= TA_EPSILON * scale else flow
        pf = 0.0 if d < 0.0 else money
        nf = money if d < 0.0 else 0.0
        self.pos_buf[self.idx] = pf
        self.neg_buf[self.idx] = nf
        self.pos_sum += pf
        self.neg_sum += nf
        self.null_run = self.null_run + 1 if money == 0.0 else 0
        if self.null_run >= self.period:
            self.null_run = self.period
            self.pos_sum = 0.0
            self.neg_sum = 0.0
        self.idx += 1
        if self.idx == self.period:
            self.idx = 0
        if self.nbars <= self.period:
            return NAN
        total = self.pos_sum + self.neg_sum
        pos = 0.0 if self.pos_sum < 0.0 else (total if self.pos_sum > total else self.pos_sum)
        if total <= 0.0:
            return 0.0
        return 100.0 * (pos / total)

    cdef dict _state(self):
        return {"pos_buf": list(self.pos_buf), "neg_buf": list(self.neg_buf), "idx": self.idx,
                "prev": self.prev, "pos_sum": self.pos_sum, "neg_sum": self.neg_sum,
                "null_run": self.null_run}

    cdef _load(self, dict s):
        self.pos_buf = _restored(s["pos_buf"], self.pos_buf, np.float64)
        self.neg_buf = _restored(s["neg_buf"], self.neg_buf, np.float64)
        self.idx = s["idx"]
        self.prev = s["prev"]
        self.pos_sum = s["pos_sum"]
        self.neg_sum = s["neg_sum"]
        self.null_run = s["null_run"]


cdef class OBV(StreamIndicator):
    cdef double prev_obv
    cdef double prev_real

    def __init__(self):
        self._init_base("obv", {})
        self.prev_obv = NAN
        self.prev_real = NAN

    def update(self, double real, double volume):
        """Consume one bar; return the on-balance volume."""
        if not self.started:
            if real != real or volume != volume:
                return NAN
            self.started = True
            self.prev_obv = volume
            self.prev_real = real
        self.nbars += 1
        self.prev_obv = (self.prev_obv + (volume if real > self.prev_real else 0.0)
                         - (volume if real < self.prev_real else 0.0))
        self.prev_real = real
        return self.prev_obv

    cdef dict _state(self):
        return {"prev_obv": self.prev_obv, "prev_real": self.prev_real}

    cdef _load(self, dict s):
        self.prev_obv = s["prev_obv"]
        self.prev_real = s["prev_real"]


cdef class VWAP(StreamIndicator):
    """Session VWAP of (h+l+c)/3, reset at each UTC midnight of ``ts_ns`` (int64 nanoseconds)."""
    cdef long long day
    cdef double pv
    cdef double vol

    def __init__(self):
        self._init_base("vwap", {})
        self.day = 0
        self.pv = 0.0
        self.vol = 0.0

    def update(self, double high, double low, double close, double volume, long long ts_ns):
        """Consume one bar stamped ``ts_ns``; return the session VWAP (NaN while session volume is 0)."""
        cdef long long d = ts_ns // NS_PER_DAY
        if ts_ns < 0 and d * NS_PER_DAY != ts_ns:
            d -= 1  # floor division for pre-1970 stamps (C truncates)
        if self.nbars == 0 or d != self.day:
            self.day = d
            self.pv = 0.0
            self.vol = 0.0
        self.nbars += 1
        self.pv += (high + low + close) / 3.0 * volume
        self.vol += volume
        return self.pv / self.vol if self.vol != 0.0 else NAN

    cdef dict _state(self):
        return {"day": self.day, "pv": self.pv, "vol": self.vol}

    cdef _load(self, dict s):
        self.day = s["day"]
        self.pv = s["pv"]
        self.vol = s["vol"]


cdef class VWAP_ROLLING(StreamIndicator):
    cdef int period
    cdef _Ring pvs
    cdef _Ring vols
    cdef double pv
    cdef double vol
    cdef long long bars

    def __init__(self, timeperiod=20):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("vwap_rolling", {"timeperiod": p})
        self.period = p
        self.pvs = _Ring(p)
        self.vols = _Ring(p)
        self.pv = 0.0
        self.vol = 0.0
        self.bars = 32 * p

    def update(self, double high, double low, double close, double volume):
        """Consume one bar; return the VWAP of the last ``timeperiod`` bars (NaN during warm-up)."""
        cdef double x, out
        cdef int j, p = self.period
        if not self.started:
            if high != high or low != low or close != close or volume != volume:
                return NAN
            self.started = True
        self.nbars += 1
        x = (high + low + close) / 3.0 * volume
        self.pvs.push(x)
        self.vols.push(volume)
        self.pv += x
        self.vol += volume
        if self.nbars < p:
            return NAN
        self.bars -= 1
        if self.bars <= 0:
            self.bars = 32 * p
            self.pv = 0.0
            self.vol = 0.0
            for j in range(p - 1, -1, -1):
                self.pv += self.pvs.ago(j)
                self.vol += self.vols.ago(j)
        out = self.pv / self.vol if self.vol != 0.0 else NAN
        self.pv -= self.pvs.ago(p - 1)
        self.vol -= self.vols.ago(p - 1)
        return out

    cdef dict _state(self):
        return {"pvs": self.pvs.state(), "vols": self.vols.state(), "pv": self.pv, "vol": self.vol,
                "bars": self.bars}

    cdef _load(self, dict s):
        self.pvs.load(s["pvs"])
        self.vols.load(s["vols"])
        self.pv = s["pv"]
        self.vol = s["vol"]
        self.bars = s["bars"]


cdef class KELTNER(StreamIndicator):
    cdef int start
    cdef double multiplier
    cdef _Ema ema
    cdef _Atr atr

    def __init__(self, timeperiod=20, atrperiod=10, multiplier=2.0):
        p = check_period(timeperiod, "timeperiod", 2)
        a = check_period(atrperiod, "atrperiod")
        m = check_real(multiplier, "multiplier")
        self._init_base("keltner", {"timeperiod": p, "atrperiod": a, "multiplier": m})
        self.start = max(p - 1, a)
        self.multiplier = m
        self.ema = _Ema(p, 2.0 / (p + 1))
        self.atr = _Atr(a)

    def update(self, double high, double low, double close):
        """Consume one bar; return (upper, middle, lower) (NaNs during warm-up)."""
        cdef double m, a, w
        if not self.started:
            if high != high or low != low or close != close:
                return (NAN, NAN, NAN)
            self.started = True
        self.nbars += 1
        m = self.ema.push(close)
        a = self.atr.push(high, low, close)
        if self.nbars <= self.start:
            return (NAN, NAN, NAN)
        w = self.multiplier * a
        return (m + w, m, m - w)

    cdef dict _state(self):
        return {"ema": self.ema.state(), "atr": self.atr.state()}

    cdef _load(self, dict s):
        self.ema.load(s["ema"])
        self.atr.load(s["atr"])


cdef class DONCHIAN(StreamIndicator):
    cdef int period
    cdef _Deque hi
    cdef _Deque lo
    cdef long long last_nan_h
    cdef long long last_nan_l

    def __init__(self, timeperiod=20):
        p = check_period(timeperiod, "timeperiod")
        self._init_base("donchian", {"timeperiod": p})
        self.period = p
        self.hi = _Deque(p, True)
        self.lo = _Deque(p, False)
        self.last_nan_h = -p - 1
        self.last_nan_l = -p - 1

    def update(self, double high, double low):
        """Consume one bar; return (upper, middle, lower): pandas rolling max/min semantics."""
        cdef long long t = self.nbars
        cdef double h, l
        cdef bint warm = t < self.period - 1
        self.nbars += 1
        if high != high:
            self.last_nan_h = t
        if low != low:
            self.last_nan_l = t
        self.hi.expire(t)
        self.lo.expire(t)
        if high == high:
            self.hi.push(t, high)
        if low == low:
            self.lo.push(t, low)
        h = NAN if warm or t - self.last_nan_h < self.period else self.hi.front()
        l = NAN if warm or t - self.last_nan_l < self.period else self.lo.front()
        return (h, (h + l) / 2.0, l)

    cdef dict _state(self):
        return {"hi": self.hi.state(), "lo": self.lo.state(), "last_nan_h": self.last_nan_h,
                "last_nan_l": self.last_nan_l}

    cdef _load(self, dict s):
        self.hi.load(s["hi"])
        self.lo.load(s["lo"])
        self.last_nan_h = s["last_nan_h"]
        self.last_nan_l = s["last_nan_l"]


cdef class SUPERTREND(_HLC):
    cdef int period
    cdef double multiplier
    cdef _Atr atr
    cdef double fu
    cdef double fl
    cdef double prev_close
    cdef bint up

    def __init__(self, timeperiod=10, multiplier=3.0):
        p = check_period(timeperiod, "timeperiod")
        m = check_real(multiplier, "multiplier")
        self._init_base("supertrend", {"timeperiod": p, "multiplier": m})
        self.period = p
        self.multiplier = m
        self.atr = _Atr(p)
        self.fu = NAN
        self.fl = NAN
        self.prev_close = NAN
        self.up = False

    def update(self, double high, double low, double close):
        """Consume one bar; return (supertrend, direction) with direction +1.0 up / -1.0 down."""
        cdef double a, hl2, w, bu, bl, pc
        if not self.started:
            if high != high or low != low or close != close:
                return (NAN, NAN)
            self.started = True
        self.nbars += 1
        a = self.atr.push(high, low, close)
        pc = self.prev_close
        self.prev_close = close
        if self.nbars <= self.period:
            return (NAN, NAN)
        hl2 = (high + low) / 2.0
        w = self.multiplier * a
        bu = hl2 + w
        bl = hl2 - w
        if self.nbars == self.period + 1:
            self.fu = bu
            self.fl = bl
            self.up = False
            return (self.fu, -1.0)
        self.fl = bl if (bl > self.fl or pc < self.fl) else self.fl
        self.fu = bu if (bu < self.fu or pc > self.fu) else self.fu
        self.up = (close >= self.fl) if self.up else (close > self.fu)
        if self.up:
            return (self.fl, 1.0)
        return (self.fu, -1.0)

    cdef dict _state(self):
        return {"atr": self.atr.state(), "fu": self.fu, "fl": self.fl, "prev_close": self.prev_close,
                "up": bool(self.up)}

    cdef _load(self, dict s):
        self.atr.load(s["atr"])
        self.fu = s["fu"]
        self.fl = s["fl"]
        self.prev_close = s["prev_close"]
        self.up = s["up"]
