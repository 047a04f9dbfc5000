# cython: language_level=3
"""Price-level (L2) order book on integer ticks and lots.

Layout (per side): a dense *window* of ``window_ticks`` int64 sizes indexed by ``ticks - base``
(one window shared by both sides, centred on the mid), a bitmap with one bit per non-empty window
level so that finding the next level is a ``ctz``/``clz`` per 64 ticks, and a *sparse store* for
the levels outside the window (Binance books reach 1000 levels deep and a diff can land hundreds of
thousands of ticks away): a two-level sorted structure of blocks of up to 64 (ticks, lots) pairs,
so an insert or removal is two binary searches and a memmove of at most one block. When the mid
drifts more than a quarter window from the centre the window is re-centred: every level is
re-distributed in O(levels + window / 64).

Best bid/ask (ticks and lots) are cached, so reading them is a field load. Removing the best level
scans the bitmap from the removed tick outward; the sparse store is consulted only when the window
has no level on that side of the removed one.

Public ``def`` methods validate their arguments and raise; ``cdef ..._c`` methods trust the caller
and return a status code (``BOOK_*`` in ``types.pxd``). A crossed book coming from a feed is never
hidden: the update that crosses it returns ``BOOK_CROSSED``, ``crossed_count`` counts the episodes and
``is_crossed()`` stays true until an update uncrosses it.

Side encoding is ``engine.core.enums.Side``: 1 = bid / buy, 2 = ask / sell.
"""

cimport cython
from libc.stdint cimport INT64_MAX, INT64_MIN, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.math cimport NAN
from libc.string cimport memcpy, memmove, memset

from engine.ext.book.types cimport (
    BOOK_ASK,
    BOOK_BID,
    BOOK_CROSSED,
    BOOK_ERR_DUPLICATE,
    BOOK_ERR_LOTS,
    BOOK_ERR_MEMORY,
    BOOK_ERR_SIDE,
    BOOK_ERR_TICKS,
    BOOK_GAP,
    BOOK_NOT_SYNCED,
    BOOK_OK,
    BOOK_SP_BLOCK,
    BOOK_SP_BUILD_FILL,
    BOOK_STALE,
    BookLevel,
    BookSide,
    BookSparse,
    i128,
    i128_hi,
    i128_lo,
)

cdef extern from *:
    int __builtin_ctzll(unsigned long long) nogil
    int __builtin_clzll(unsigned long long) nogil

# -- constants ------------------------------------------------------------------------------------
cdef int64_t _NO_BID = INT64_MIN
cdef int64_t _NO_ASK = INT64_MAX
# |ticks| <= 2**61 - 1 keeps every sum/difference of two ticks (mid, spread, window offsets) in int64.
cdef int64_t _MAX_TICKS = (<int64_t>1 << 61) - 1
cdef int64_t _MIN_TICKS = -_MAX_TICKS
cdef int64_t _DEFAULT_WINDOW = 1 << 16

BID = BOOK_BID
ASK = BOOK_ASK
STATUS_OK = BOOK_OK
STATUS_CROSSED = BOOK_CROSSED
STATUS_STALE = BOOK_STALE
STATUS_GAP = BOOK_GAP
STATUS_NOT_SYNCED = BOOK_NOT_SYNCED
STATUS_ERR_SIDE = BOOK_ERR_SIDE
STATUS_ERR_LOTS = BOOK_ERR_LOTS
STATUS_ERR_TICKS = BOOK_ERR_TICKS
STATUS_ERR_MEMORY = BOOK_ERR_MEMORY
STATUS_ERR_DUPLICATE = BOOK_ERR_DUPLICATE
NO_BID_TICKS = _NO_BID
NO_ASK_TICKS = _NO_ASK
MIN_TICKS = _MIN_TICKS
MAX_TICKS = _MAX_TICKS
DEFAULT_WINDOW_TICKS = _DEFAULT_WINDOW

_STATUS_TEXT = {
    BOOK_ERR_SIDE: "side must be 1 (bid) or 2 (ask)",
    BOOK_ERR_LOTS: "lots must be >= 0",
    BOOK_ERR_TICKS: f"ticks must be within [{_MIN_TICKS}, {_MAX_TICKS}]",
    BOOK_ERR_MEMORY: "out of memory",
    BOOK_ERR_DUPLICATE: "duplicate price level in one side of the snapshot",
}


# -- bitmap and sorted-array helpers --------------------------------------------------------------
cdef inline int64_t _scan_up(const uint64_t* bits, int64_t words, int64_t i) noexcept nogil:
    """Lowest set index >= i (i >= 0), or -1."""
    cdef int64_t w = i >> 6
    cdef uint64_t word
    if w >= words:
        return -1
    word = bits[w] & (~<uint64_t>0 << (i & 63))
    while True:
        if word:
            return (w << 6) + __builtin_ctzll(word)
        w += 1
        if w >= words:
            return -1
        word = bits[w]


cdef inline int64_t _scan_down(const uint64_t* bits, int64_t i) noexcept nogil:
    """Highest set index <= i (i < window), or -1."""
    cdef int64_t w = i >> 6
    cdef uint64_t word
    if i < 0:
        return -1
    word = bits[w] & (~<uint64_t>0 >> (63 - (i & 63)))
    while True:
        if word:
            return (w << 6) + 63 - __builtin_clzll(word)
        w -= 1
        if w < 0:
            return -1
        word = bits[w]


cdef inline Py_ssize_t _lower_bound(const BookLevel* a, Py_ssize_t n, int64_t t) noexcept nogil:
    """First index with a[k].ticks >= t."""
    cdef Py_ssize_t lo = 0
    cdef Py_ssize_t hi = n
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid].ticks < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline Py_ssize_t _upper_bound(const BookLevel* a, Py_ssize_t n, int64_t t) noexcept nogil:
    """First index with a[k].ticks > t."""
    cdef Py_ssize_t lo = 0
    cdef Py_ssize_t hi = n
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid].ticks <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef int _cmp_level(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<const BookLevel*>a).ticks
    cdef int64_t y = (<const BookLevel*>b).ticks
    return (x > y) - (x < y)


cdef inline int _reserve(BookLevel** buf, Py_ssize_t* cap, Py_ssize_t need) noexcept nogil:
    cdef Py_ssize_t new_cap
    cdef BookLevel* grown
    if need <= cap[0]:
        return BOOK_OK
    new_cap = cap[0] * 2 if cap[0] >= 16 else 16
    while new_cap < need:
        new_cap *= 2
    grown = <BookLevel*>realloc(buf[0], <size_t>new_cap * sizeof(BookLevel))
    if grown == NULL:
        return BOOK_ERR_MEMORY
    buf[0] = grown
    cap[0] = new_cap
    return BOOK_OK


# -- sparse store -------------------------------------------------------------------------------
cdef void _sp_init(BookSparse* sp) noexcept nogil:
    sp.pool = NULL
    sp.fill = NULL
    sp.order = NULL
    sp.first = NULL
    sp.free_ids = NULL
    sp.n_free = 0
    sp.n_blocks = 0
    sp.n_phys = 0
    sp.cap = 0
    sp.n = 0


cdef void _sp_release(BookSparse* sp) noexcept nogil:
    free(sp.pool)
    free(sp.fill)
    free(sp.order)
    free(sp.first)
    free(sp.free_ids)
    _sp_init(sp)


cdef inline void _sp_clear(BookSparse* sp) noexcept nogil:
    sp.n_free = 0
    sp.n_blocks = 0
    sp.n_phys = 0
    sp.n = 0


cdef int _sp_reserve(BookSparse* sp, Py_ssize_t blocks) noexcept nogil:
    """Capacity for ``blocks`` physical blocks (pointers may move)."""
    cdef Py_ssize_t cap = sp.cap if sp.cap >= 8 else 8
    cdef void* p
    if blocks <= sp.cap:
        return BOOK_OK
    while cap < blocks:
        cap *= 2
    p = realloc(sp.pool, <size_t>cap * BOOK_SP_BLOCK * sizeof(BookLevel))
    if p == NULL:
        return BOOK_ERR_MEMORY
    sp.pool = <BookLevel*>p
    p = realloc(sp.fill, <size_t>cap * sizeof(int32_t))
    if p == NULL:
        return BOOK_ERR_MEMORY
    sp.fill = <int32_t*>p
    p = realloc(sp.order, <size_t>cap * sizeof(int32_t))
    if p == NULL:
        return BOOK_ERR_MEMORY
    sp.order = <int32_t*>p
    p = realloc(sp.first, <size_t>cap * sizeof(int64_t))
    if p == NULL:
        return BOOK_ERR_MEMORY
    sp.first = <int64_t*>p
    p = realloc(sp.free_ids, <size_t>cap * sizeof(int32_t))
    if p == NULL:
        return BOOK_ERR_MEMORY
    sp.free_ids = <int32_t*>p
    sp.cap = cap
    return BOOK_OK


cdef inline int32_t _sp_new_block(BookSparse* sp) noexcept nogil:
    """A physical block id, or -1 when out of memory."""
    if sp.n_free > 0:
        sp.n_free -= 1
        return sp.free_ids[sp.n_free]
    if _sp_reserve(sp, sp.n_phys + 1) != BOOK_OK:
        return -1
    sp.n_phys += 1
    return <int32_t>(sp.n_phys - 1)


cdef inline void _sp_insert_block(BookSparse* sp, Py_ssize_t k, int32_t phys, int64_t first) noexcept nogil:
    memmove(&sp.order[k + 1], &sp.order[k], <size_t>(sp.n_blocks - k) * sizeof(int32_t))
    memmove(&sp.first[k + 1], &sp.first[k], <size_t>(sp.n_blocks - k) * sizeof(int64_t))
    sp.order[k] = phys
    sp.first[k] = first
    sp.n_blocks += 1


cdef inline void _sp_remove_block(BookSparse* sp, Py_ssize_t k) noexcept nogil:
    sp.free_ids[sp.n_free] = sp.order[k]
    sp.n_free += 1
    memmove(&sp.order[k], &sp.order[k + 1], <size_t>(sp.n_blocks - k - 1) * sizeof(int32_t))
    memmove(&sp.first[k], &sp.first[k + 1], <size_t>(sp.n_blocks - k - 1) * sizeof(int64_t))
    sp.n_blocks -= 1


cdef inline Py_ssize_t _sp_block_of(const BookSparse* sp, int64_t t) noexcept nogil:
    """Logical index of the last block whose first tick is <= t; -1 if none."""
    cdef Py_ssize_t lo = 0
    cdef Py_ssize_t hi = sp.n_blocks
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if sp.first[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


cdef inline BookLevel* _sp_blk(const BookSparse* sp, Py_ssize_t k) noexcept nogil:
    return sp.pool + <Py_ssize_t>sp.order[k] * BOOK_SP_BLOCK


cdef int64_t _sp_get(const BookSparse* sp, int64_t t) noexcept nogil:
    cdef Py_ssize_t k = _sp_block_of(sp, t)
    cdef BookLevel* blk
    cdef Py_ssize_t f
    cdef Py_ssize_t i
    if k < 0:
        return 0
    blk = _sp_blk(sp, k)
    f = sp.fill[sp.order[k]]
    i = _lower_bound(blk, f, t)
    return blk[i].lots if i < f and blk[i].ticks == t else 0


cdef int _sp_set(BookSparse* sp, int64_t t, int64_t lots, int* change) noexcept nogil:
    """Set (lots > 0), update or remove (lots == 0) level t. ``change`` gets +1/-1/0 levels."""
    cdef Py_ssize_t k = _sp_block_of(sp, t)
    cdef int32_t phys
    cdef int32_t nphys
    cdef BookLevel* blk
    cdef BookLevel* nblk
    cdef Py_ssize_t f
    cdef Py_ssize_t i
    cdef Py_ssize_t half = BOOK_SP_BLOCK // 2
    change[0] = 0
    if k >= 0:
        phys = sp.order[k]
        blk = sp.pool + <Py_ssize_t>phys * BOOK_SP_BLOCK
        f = sp.fill[phys]
        i = _lower_bound(blk, f, t)
        if i < f and blk[i].ticks == t:
            if lots != 0:
                blk[i].lots = lots
                return BOOK_OK
            memmove(&blk[i], &blk[i + 1], <size_t>(f - i - 1) * sizeof(BookLevel))
            sp.fill[phys] = <int32_t>(f - 1)
            sp.n -= 1
            change[0] = -1
            if f == 1:
                _sp_remove_block(sp, k)
            elif i == 0:
                sp.first[k] = blk[0].ticks
            return BOOK_OK
    if lots == 0:
        return BOOK_OK
    if sp.n_blocks == 0:
        phys = _sp_new_block(sp)
        if phys < 0:
            return BOOK_ERR_MEMORY
        blk = sp.pool + <Py_ssize_t>phys * BOOK_SP_BLOCK
        blk[0].ticks = t
        blk[0].lots = lots
        sp.fill[phys] = 1
        _sp_insert_block(sp, 0, phys, t)
        sp.n += 1
        change[0] = 1
        return BOOK_OK
    if k < 0:
        k = 0  # below every block: front of the first one
    phys = sp.order[k]
    f = sp.fill[phys]
    if f == BOOK_SP_BLOCK:  # split the full block in two halves
        nphys = _sp_new_block(sp)
        if nphys < 0:
            return BOOK_ERR_MEMORY
        blk = sp.pool + <Py_ssize_t>phys * BOOK_SP_BLOCK
        nblk = sp.pool + <Py_ssize_t>nphys * BOOK_SP_BLOCK
        memcpy(nblk, &blk[half], <size_t>(BOOK_SP_BLOCK - half) * sizeof(BookLevel))
        sp.fill[nphys] = <int32_t>(BOOK_SP_BLOCK - half)
        sp.fill[phys] = <int32_t>half
        _sp_insert_block(sp, k + 1, nphys, nblk[0].ticks)
        if t > nblk[0].ticks:
            k += 1
            phys = nphys
    blk = sp.pool + <Py_ssize_t>phys * BOOK_SP_BLOCK
    f = sp.fill[phys]
    i = _lower_bound(blk, f, t)
    memmove(&blk[i + 1], &blk[i], <size_t>(f - i) * sizeof(BookLevel))
    blk[i].ticks = t
    blk[i].lots = lots
    sp.fill[phys] = <int32_t>(f + 1)
    if i == 0:
        sp.first[k] = t
    sp.n += 1
    change[0] = 1
    return BOOK_OK


cdef bint _sp_below(const BookSparse* sp, int64_t t, int64_t* out_t, int64_t* out_l) noexcept nogil:
    """Largest level with ticks < t."""
    cdef Py_ssize_t k = _sp_block_of(sp, t)
    cdef BookLevel* blk
    cdef Py_ssize_t i
    if k < 0:
        return False
    blk = _sp_blk(sp, k)
    i = _lower_bound(blk, sp.fill[sp.order[k]], t)
    if i == 0:  # blk[0].ticks == t: the previous block's last level
        if k == 0:
            return False
        k -= 1
        blk = _sp_blk(sp, k)
        i = sp.fill[sp.order[k]]
    out_t[0] = blk[i - 1].ticks
    out_l[0] = blk[i - 1].lots
    return True


cdef bint _sp_above(const BookSparse* sp, int64_t t, int64_t* out_t, int64_t* out_l) noexcept nogil:
    """Smallest level with ticks > t."""
    cdef Py_ssize_t k = _sp_block_of(sp, t)
    cdef BookLevel* blk
    cdef Py_ssize_t i
    cdef Py_ssize_t f
    if k >= 0:
        blk = _sp_blk(sp, k)
        f = sp.fill[sp.order[k]]
        i = _upper_bound(blk, f, t)
        if i < f:
            out_t[0] = blk[i].ticks
            out_l[0] = blk[i].lots
            return True
    if k + 1 < sp.n_blocks:
        blk = _sp_blk(sp, k + 1)
        out_t[0] = blk[0].ticks
        out_l[0] = blk[0].lots
        return True
    return False


cdef int _sp_build(BookSparse* sp, const BookLevel* src, Py_ssize_t n) noexcept nogil:
    """Replace the contents with ``n`` levels sorted by ticks (no duplicates)."""
    cdef Py_ssize_t blocks = (n + BOOK_SP_BUILD_FILL - 1) // BOOK_SP_BUILD_FILL
    cdef Py_ssize_t k
    cdef Py_ssize_t start
    cdef Py_ssize_t count
    _sp_clear(sp)
    if _sp_reserve(sp, blocks) != BOOK_OK:
        return BOOK_ERR_MEMORY
    for k in range(blocks):
        start = k * BOOK_SP_BUILD_FILL
        count = n - start if n - start < BOOK_SP_BUILD_FILL else BOOK_SP_BUILD_FILL
        memcpy(sp.pool + k * BOOK_SP_BLOCK, &src[start], <size_t>count * sizeof(BookLevel))
        sp.fill[k] = <int32_t>count
        sp.order[k] = <int32_t>k
        sp.first[k] = src[start].ticks
    sp.n_blocks = blocks
    sp.n_phys = blocks
    sp.n = n
    return BOOK_OK


cdef int _init_side(BookSide* s, int64_t empty_best, int64_t window) except -1:
    s.lad = <int64_t*>malloc(<size_t>window * sizeof(int64_t))
    s.bits = <uint64_t*>malloc(<size_t>(window >> 6) * sizeof(uint64_t))
    if s.lad == NULL or s.bits == NULL:
        raise MemoryError()
    memset(s.lad, 0, <size_t>window * sizeof(int64_t))
    memset(s.bits, 0, <size_t>(window >> 6) * sizeof(uint64_t))
    _sp_init(&s.sp)
    s.n_levels = 0
    s.best = empty_best
    s.best_lots = 0
    return 0


cdef void _free_side(BookSide* s) noexcept:
    free(s.lad)
    free(s.bits)
    _sp_release(&s.sp)
    s.lad = NULL
    s.bits = NULL


cdef int _check_side(int side) except -1:
    if side != BOOK_BID and side != BOOK_ASK:
        raise ValueError(f"side must be 1 (bid) or 2 (ask), got {side}")
    return 0


cdef int _raise_status(int status) except -1:
    if status == BOOK_ERR_MEMORY:
        raise MemoryError(_STATUS_TEXT[status])
    raise ValueError(_STATUS_TEXT[status])


cdef class L2Book:
    """L2 book on int64 ticks/lots. See the module docstring and ``l2book.pyi``; layout in l2book.pxd."""

    def __cinit__(self, int64_t window_ticks=_DEFAULT_WINDOW):
        if window_ticks < 64 or window_ticks > (1 << 26) or (window_ticks & (window_ticks - 1)) != 0:
            raise ValueError(f"window_ticks must be a power of two in [64, 2**26], got {window_ticks}")
        self._window = window_ticks
        self._words = window_ticks >> 6
        self._half = window_ticks >> 1
        self._quarter = window_ticks >> 2
        self._base = -self._half
        self._last_sequence = -1
        self._scratch = NULL
        self._scratch_cap = 0
        _init_side(&self._bid, _NO_BID, window_ticks)
        _init_side(&self._ask, _NO_ASK, window_ticks)

    def __dealloc__(self):
        _free_side(&self._bid)
        _free_side(&self._ask)
        free(self._scratch)

    # == fast paths (trust the caller) ============================================================
    cdef BookSide* _side_c(self, int side) noexcept:
        return &self._bid if side == BOOK_BID else &self._ask

    cdef int64_t _level_lots_c(self, const BookSide* s, int64_t t) noexcept:
        cdef int64_t idx = t - self._base
        if <uint64_t>idx < <uint64_t>self._window:
            return s.lad[idx]
        return _sp_get(&s.sp, t)

    cdef bint _next_worse_c(self, const BookSide* s, bint is_bid, int64_t t,
                            int64_t* out_ticks, int64_t* out_lots) noexcept:
        """The first level strictly worse than ``t`` (lower for bids, higher for asks).

        Sparse levels lie below the window or at/above its top, so the store is searched only when
        ``t`` is beyond the window on the near side, or the window has nothing worse than ``t``.
        """
        cdef int64_t base = self._base
        cdef int64_t top = base + self._window
        cdef int64_t i
        if is_bid:
            if t > top and _sp_below(&s.sp, t, out_ticks, out_lots) and out_ticks[0] >= top:
                return True
            if t > base:
                i = _scan_down(s.bits, (self._window if t > top else t - base) - 1)
                if i >= 0:
                    out_ticks[0] = base + i
                    out_lots[0] = s.lad[i]
                    return True
            if _sp_below(&s.sp, t if t < base else base, out_ticks, out_lots):
                return True
            out_ticks[0] = _NO_BID
        else:
            if t < base - 1 and _sp_above(&s.sp, t, out_ticks, out_lots) and out_ticks[0] < base:
                return True
            if t < top - 1:
                i = _scan_up(s.bits, self._words, 0 if t < base else t - base + 1)
                if i >= 0:
                    out_ticks[0] = base + i
                    out_lots[0] = s.lad[i]
                    return True
            if _sp_above(&s.sp, t if t >= top else top - 1, out_ticks, out_lots):
                return True
            out_ticks[0] = _NO_ASK
        out_lots[0] = 0
        return False

    cdef int _set_level_c(self, BookSide* s, bint is_bid, int64_t t, int64_t lots) noexcept:
        """Set one level (``lots == 0`` removes it) and maintain the cached best. No crossed check."""
        cdef int64_t idx = t - self._base
        cdef int64_t old
        cdef uint64_t mask
        cdef int change
        if <uint64_t>idx < <uint64_t>self._window:
            old = s.lad[idx]
            if old == lots:
                return BOOK_OK
            s.lad[idx] = lots
            mask = (<uint64_t>1) << (idx & 63)
            if old == 0:
                s.bits[idx >> 6] |= mask
                s.n_levels += 1
            elif lots == 0:
                s.bits[idx >> 6] &= ~mask
                s.n_levels -= 1
        else:
            if _sp_set(&s.sp, t, lots, &change) != BOOK_OK:
                self._needs_snapshot = True
                return BOOK_ERR_MEMORY
            if change == 0 and lots == 0:
                return BOOK_OK
            s.n_levels += change
        # cached best
        if lots != 0:
            if t == s.best:
                s.best_lots = lots
            elif (t > s.best) if is_bid else (t < s.best):
                s.best = t
                s.best_lots = lots
                return self._maybe_recentre_c()
        elif t == s.best:
            self._next_worse_c(s, is_bid, t, &s.best, &s.best_lots)
            return self._maybe_recentre_c()
        return BOOK_OK

    cdef int _maybe_recentre_c(self) noexcept:
        cdef int64_t bb = self._bid.best
        cdef int64_t ba = self._ask.best
        cdef int64_t centre
        cdef int64_t drift
        if bb != _NO_BID:
            centre = bb + (ba - bb) // 2 if ba != _NO_ASK else bb
        elif ba != _NO_ASK:
            centre = ba
        else:
            return BOOK_OK
        drift = centre - (self._base + self._half)
        if drift > self._quarter or drift < -self._quarter:
            return self._recentre_c(centre - self._half)
        return BOOK_OK

    cdef int _recentre_c(self, int64_t new_base) noexcept:
        cdef int status = self._rebase_side_c(&self._bid, new_base)
        if status == BOOK_OK:
            status = self._rebase_side_c(&self._ask, new_base)
        self._base = new_base
        self._recentre_count += 1
        if status != BOOK_OK:
            self._needs_snapshot = True
        return status

    cdef int _rebase_side_c(self, BookSide* s, int64_t new_base) noexcept:
        """Move every level of one side to the window [new_base, new_base + window) + sparse."""
        cdef Py_ssize_t n = 0
        cdef Py_ssize_t n_out = 0
        cdef Py_ssize_t k
        cdef Py_ssize_t j
        cdef Py_ssize_t f
        cdef BookLevel* blk
        cdef int64_t i
        cdef int64_t idx
        cdef int64_t old_base = self._base
        if _reserve(&self._scratch, &self._scratch_cap, s.n_levels) != BOOK_OK:
            return BOOK_ERR_MEMORY
        # gather in ascending order: sparse below the old window, the window, sparse above it
        for k in range(s.sp.n_blocks):
            blk = _sp_blk(&s.sp, k)
            f = s.sp.fill[s.sp.order[k]]
            for j in range(f):
                if blk[j].ticks < old_base:
                    self._scratch[n] = blk[j]
                    n += 1
        i = _scan_up(s.bits, self._words, 0)
        while i >= 0:
            self._scratch[n].ticks = old_base + i
            self._scratch[n].lots = s.lad[i]
            s.lad[i] = 0
            n += 1
            i = _scan_up(s.bits, self._words, i + 1)
        for k in range(s.sp.n_blocks):
            blk = _sp_blk(&s.sp, k)
            f = s.sp.fill[s.sp.order[k]]
            for j in range(f):
                if blk[j].ticks >= old_base:
                    self._scratch[n] = blk[j]
                    n += 1
        memset(s.bits, 0, <size_t>self._words * sizeof(uint64_t))
        # redistribute: window levels in place, the rest compacted to the front of scratch
        for k in range(n):
            idx = self._scratch[k].ticks - new_base
            if <uint64_t>idx < <uint64_t>self._window:
                s.lad[idx] = self._scratch[k].lots
                s.bits[idx >> 6] |= (<uint64_t>1) << (idx & 63)
            else:
                self._scratch[n_out] = self._scratch[k]
                n_out += 1
        return _sp_build(&s.sp, self._scratch, n_out)

    cdef int _note_crossed_c(self) noexcept:
        """Track crossed episodes after an update; returns BOOK_CROSSED or BOOK_OK."""
        if self._bid.best >= self._ask.best:
            if not self._crossed:
                self._crossed = True
                self._crossed_count += 1
            return BOOK_CROSSED
        self._crossed = False
        return BOOK_OK

    cdef int apply_delta_c(self, int side, int64_t ticks, int64_t lots) noexcept:
        """Set one level; returns BOOK_OK, BOOK_CROSSED or BOOK_ERR_MEMORY. Trusts side/ticks/lots."""
        cdef int status
        if side == BOOK_BID:
            status = self._set_level_c(&self._bid, True, ticks, lots)
        else:
            status = self._set_level_c(&self._ask, False, ticks, lots)
        if status != BOOK_OK:
            return status
        return self._note_crossed_c()

    cdef int apply_deltas_c(self, const uint8_t* sides, const int64_t* ticks, const int64_t* lots,
                            Py_ssize_t n, int64_t first_sequence, int64_t last_sequence) noexcept:
        """Apply ``n`` deltas as one atomic update (the crossed check runs once, at the end).

        With ``last_sequence >= 0`` the batch covers update ids [first_sequence, last_sequence] and is
        applied only if ``first_sequence <= last_sequence_of_book + 1 <= last_sequence``.
        """
        cdef Py_ssize_t k
        cdef int status
        if last_sequence >= 0:
            if self._needs_snapshot:
                return BOOK_NOT_SYNCED
            if self._last_sequence >= 0:
                if last_sequence <= self._last_sequence:
                    return BOOK_STALE
                if first_sequence > self._last_sequence + 1:
                    self._gap_count += 1
                    self._needs_snapshot = True
                    return BOOK_GAP
            self._last_sequence = last_sequence
        for k in range(n):
            if sides[k] == BOOK_BID:
                status = self._set_level_c(&self._bid, True, ticks[k], lots[k])
            else:
                status = self._set_level_c(&self._ask, False, ticks[k], lots[k])
            if status != BOOK_OK:
                return status
        return self._note_crossed_c()

    cdef void _clear_side_c(self, BookSide* s) noexcept:
        cdef int64_t i = _scan_up(s.bits, self._words, 0)
        while i >= 0:
            s.lad[i] = 0
            i = _scan_up(s.bits, self._words, i + 1)
        memset(s.bits, 0, <size_t>self._words * sizeof(uint64_t))
        _sp_clear(&s.sp)
        s.n_levels = 0

    cdef void clear_c(self) noexcept:
        self._clear_side_c(&self._bid)
        self._clear_side_c(&self._ask)
        self._bid.best = _NO_BID
        self._bid.best_lots = 0
        self._ask.best = _NO_ASK
        self._ask.best_lots = 0
        self._crossed = False

    cdef int _load_side_c(self, BookSide* s, const int64_t* ticks, const int64_t* lots,
                          Py_ssize_t n) noexcept:
        cdef Py_ssize_t k
        cdef Py_ssize_t n_out = 0
        cdef int64_t idx
        if _reserve(&self._scratch, &self._scratch_cap, n) != BOOK_OK:
            return BOOK_ERR_MEMORY
        for k in range(n):
            if lots[k] == 0:
                continue
            idx = ticks[k] - self._base
            if <uint64_t>idx < <uint64_t>self._window:
                if s.lad[idx] != 0:
                    return BOOK_ERR_DUPLICATE
                s.lad[idx] = lots[k]
                s.bits[idx >> 6] |= (<uint64_t>1) << (idx & 63)
            else:
                self._scratch[n_out].ticks = ticks[k]
                self._scratch[n_out].lots = lots[k]
                n_out += 1
            s.n_levels += 1
        if n_out > 1:
            qsort(self._scratch, <size_t>n_out, sizeof(BookLevel), _cmp_level)
            for k in range(1, n_out):
                if self._scratch[k].ticks == self._scratch[k - 1].ticks:
                    return BOOK_ERR_DUPLICATE
        return _sp_build(&s.sp, self._scratch, n_out)

    cdef int apply_snapshot_c(self, const int64_t* bid_ticks, const int64_t* bid_lots, Py_ssize_t n_bids,
                              const int64_t* ask_ticks, const int64_t* ask_lots, Py_ssize_t n_asks,
                              int64_t sequence) noexcept:
        """Replace the whole book; levels with zero lots are skipped. Returns BOOK_OK, BOOK_CROSSED or
        an error (BOOK_ERR_DUPLICATE, BOOK_ERR_MEMORY), after which the book is empty and needs a
        snapshot."""
        cdef Py_ssize_t k
        cdef int64_t bb = _NO_BID
        cdef int64_t ba = _NO_ASK
        cdef int64_t centre
        cdef int status
        self.clear_c()
        for k in range(n_bids):
            if bid_lots[k] != 0 and bid_ticks[k] > bb:
                bb = bid_ticks[k]
        for k in range(n_asks):
            if ask_lots[k] != 0 and ask_ticks[k] < ba:
                ba = ask_ticks[k]
        if bb != _NO_BID:
            centre = bb + (ba - bb) // 2 if ba != _NO_ASK else bb
        elif ba != _NO_ASK:
            centre = ba
        else:
            centre = self._base + self._half
        self._base = centre - self._half
        status = self._load_side_c(&self._bid, bid_ticks, bid_lots, n_bids)
        if status == BOOK_OK:
            status = self._load_side_c(&self._ask, ask_ticks, ask_lots, n_asks)
        if status != BOOK_OK:
            self.clear_c()
            self._needs_snapshot = True
            return status
        self._bid.best = bb
        self._bid.best_lots = self._level_lots_c(&self._bid, bb) if bb != _NO_BID else 0
        self._ask.best = ba
        self._ask.best_lots = self._level_lots_c(&self._ask, ba) if ba != _NO_ASK else 0
        self._last_sequence = sequence
        self._needs_snapshot = False
        return self._note_crossed_c()

    cdef Py_ssize_t depth_c(self, int side, int64_t* out_ticks, int64_t* out_lots, Py_ssize_t n) noexcept:
        """Write up to ``n`` levels from the best outward; returns how many were written."""
        cdef BookSide* s = self._side_c(side)
        cdef bint is_bid = side == BOOK_BID
        cdef Py_ssize_t k = 0
        cdef int64_t t = s.best
        cdef int64_t lots = s.best_lots
        while k < n and lots != 0:
            out_ticks[k] = t
            out_lots[k] = lots
            k += 1
            if k < n:
                self._next_worse_c(s, is_bid, t, &t, &lots)
        return k

    cdef void cost_to_fill_c(self, int side, int64_t lots, int64_t* filled_lots, i128* notional) noexcept:
        """Walk the opposite side for an order of ``side`` (1 = buy takes asks, 2 = sell takes bids).

        ``notional`` is the exact sum of ticks * lots over the fills (tick-lots, 128-bit).
        """
        cdef BookSide* s = &self._ask if side == BOOK_BID else &self._bid
        cdef bint is_bid = side != BOOK_BID
        cdef int64_t t = s.best
        cdef int64_t level = s.best_lots
        cdef int64_t remaining = lots
        cdef int64_t take
        cdef i128 total = 0
        while remaining > 0 and level != 0:
            take = level if level < remaining else remaining
            total += <i128>t * <i128>take
            remaining -= take
            if remaining > 0:
                self._next_worse_c(s, is_bid, t, &t, &level)
        filled_lots[0] = lots - remaining
        notional[0] = total

    cdef double imbalance_c(self, Py_ssize_t levels) noexcept:
        cdef double bid_sum = 0.0
        cdef double ask_sum = 0.0
        cdef Py_ssize_t k
        cdef int64_t t
        cdef int64_t lots
        t = self._bid.best
        lots = self._bid.best_lots
        k = 0
        while k < levels and lots != 0:
            bid_sum += <double>lots
            k += 1
            if k < levels:
                self._next_worse_c(&self._bid, True, t, &t, &lots)
        t = self._ask.best
        lots = self._ask.best_lots
        k = 0
        while k < levels and lots != 0:
            ask_sum += <double>lots
            k += 1
            if k < levels:
                self._next_worse_c(&self._ask, False, t, &t, &lots)
        if bid_sum + ask_sum == 0.0:
            return NAN
        return (bid_sum - ask_sum) / (bid_sum + ask_sum)

    # == validating entry points ==================================================================

    def apply_delta(self, int side, int64_t ticks, int64_t lots):
        """Set the size of one level (``lots == 0`` removes it). Returns STATUS_OK or STATUS_CROSSED."""
        cdef int status
        if side != BOOK_BID and side != BOOK_ASK:
            raise ValueError(f"side must be 1 (bid) or 2 (ask), got {side}")
        if lots < 0:
            raise ValueError(f"lots must be >= 0, got {lots}")
        if ticks < _MIN_TICKS or ticks > _MAX_TICKS:
            raise ValueError(f"ticks {ticks} out of range [{_MIN_TICKS}, {_MAX_TICKS}]")
        status = self.apply_delta_c(side, ticks, lots)
        if status < 0:
            _raise_status(status)
        return status

    def apply_deltas(self, const uint8_t[::1] sides, const int64_t[::1] ticks, const int64_t[::1] lots,
                     int64_t first_sequence=-1, int64_t last_sequence=-1):
        """Apply a batch (uint8 sides, int64 ticks, int64 lots) as one update; returns a status."""
        cdef Py_ssize_t n = sides.shape[0]
        cdef Py_ssize_t k
        cdef int status
        if ticks.shape[0] != n or lots.shape[0] != n:
            raise ValueError(f"sides, ticks and lots differ in length: {n}, {ticks.shape[0]}, {lots.shape[0]}")
        if last_sequence >= 0 and first_sequence > last_sequence:
            raise ValueError(f"first_sequence {first_sequence} > last_sequence {last_sequence}")
        if last_sequence < 0 and first_sequence >= 0:
            raise ValueError("first_sequence needs last_sequence")
        if last_sequence >= 0 and first_sequence < 0:
            first_sequence = last_sequence
        for k in range(n):
            if sides[k] != BOOK_BID and sides[k] != BOOK_ASK:
                raise ValueError(f"sides[{k}] = {sides[k]}: side must be 1 (bid) or 2 (ask)")
            if lots[k] < 0:
                raise ValueError(f"lots[{k}] = {lots[k]}: lots must be >= 0")
            if ticks[k] < _MIN_TICKS or ticks[k] > _MAX_TICKS:
                raise ValueError(f"ticks[{k}] = {ticks[k]} out of range")
        if n == 0:
            status = self.apply_deltas_c(NULL, NULL, NULL, 0, first_sequence, last_sequence)
        else:
            status = self.apply_deltas_c(&sides[0], &ticks[0], &lots[0], n, first_sequence, last_sequence)
        if status < 0:
            _raise_status(status)
        return status

    def apply_snapshot(self, const int64_t[::1] bid_ticks, const int64_t[::1] bid_lots,
                       const int64_t[::1] ask_ticks, const int64_t[::1] ask_lots, int64_t sequence=-1):
        """Replace the book with these levels (any order; zero lots skipped). Returns STATUS_OK or
        STATUS_CROSSED."""
        cdef int status
        cdef int64_t dummy = 0
        if bid_ticks.shape[0] != bid_lots.shape[0] or ask_ticks.shape[0] != ask_lots.shape[0]:
            raise ValueError("ticks and lots arrays of one side differ in length")
        _check_levels(bid_ticks, bid_lots)
        _check_levels(ask_ticks, ask_lots)
        status = self.apply_snapshot_c(
            &bid_ticks[0] if bid_ticks.shape[0] else &dummy,
            &bid_lots[0] if bid_lots.shape[0] else &dummy, bid_ticks.shape[0],
            &ask_ticks[0] if ask_ticks.shape[0] else &dummy,
            &ask_lots[0] if ask_lots.shape[0] else &dummy, ask_ticks.shape[0],
            sequence,
        )
        if status < 0:
            _raise_status(status)
        return status

    def clear(self):
        """Remove every level (sequence and counters are kept)."""
        self.clear_c()

    def invalidate(self):
        """Mark the book as needing a snapshot: sequenced batches return STATUS_NOT_SYNCED until then."""
        self._needs_snapshot = True

    # -- top of book (O(1)) ---------------------------------------------------------------------
    def best_bid_ticks(self):
        """Best bid in ticks, or NO_BID_TICKS (INT64_MIN) when there is no bid."""
        return self._bid.best

    def best_ask_ticks(self):
        """Best ask in ticks, or NO_ASK_TICKS (INT64_MAX) when there is no ask."""
        return self._ask.best

    def best_bid_lots(self):
        """Lots at the best bid; 0 when there is no bid."""
        return self._bid.best_lots

    def best_ask_lots(self):
        """Lots at the best ask; 0 when there is no ask."""
        return self._ask.best_lots

    def top(self):
        """(best_bid_ticks, best_bid_lots, best_ask_ticks, best_ask_lots) with the empty sentinels."""
        return (self._bid.best, self._bid.best_lots, self._ask.best, self._ask.best_lots)

    def is_crossed(self):
        """True while best bid >= best ask (both sides present)."""
        return self._bid.best >= self._ask.best

    def level_lots(self, int side, int64_t ticks):
        """Lots resting at ``ticks`` on ``side`` (0 if no level)."""
        _check_side(side)
        return self._level_lots_c(self._side_c(side), ticks)

    def level_count(self, int side):
        """Number of non-empty levels on ``side``."""
        _check_side(side)
        return self._side_c(side).n_levels

    # -- depth and walks ------------------------------------------------------------------------
    def depth(self, int side, int64_t[::1] out_ticks, int64_t[::1] out_lots, Py_ssize_t n=-1):
        """Copy up to ``n`` (default: buffer length) levels from the best outward into caller-owned
        int64 buffers; returns how many levels were written."""
        _check_side(side)
        cdef Py_ssize_t cap = min(out_ticks.shape[0], out_lots.shape[0])
        if n < 0 or n > cap:
            n = cap
        if n == 0:
            return 0
        return self.depth_c(side, &out_ticks[0], &out_lots[0], n)

    def cost_to_fill(self, int side, int64_t lots):
        """(filled_lots, notional_tick_lots) for an order of ``side`` taking ``lots`` from the book.

        side 1 (buy) walks the asks upward, side 2 (sell) the bids downward. ``filled_lots < lots``
        when the book runs out. Exact: notional is sum(ticks * lots) as an int (128-bit inside).
        """
        cdef int64_t filled = 0
        cdef i128 notional = 0
        _check_side(side)
        if lots < 0:
            raise ValueError(f"lots must be >= 0, got {lots}")
        self.cost_to_fill_c(side, lots, &filled, &notional)
        return (filled, (<object>i128_hi(notional) << 64) + <object>i128_lo(notional))

    def avg_fill_price_ticks(self, int side, int64_t lots):
        """Average fill price in ticks (float, analytics only) of ``cost_to_fill``; NaN if nothing fills."""
        filled, notional = self.cost_to_fill(side, lots)
        return notional / filled if filled else float("nan")

    # -- analytics (float, in ticks) -------------------------------------------------------------
    def mid_ticks(self):
        """(best bid + best ask) / 2 in ticks as a float; NaN if a side is empty."""
        if self._bid.best == _NO_BID or self._ask.best == _NO_ASK:
            return float("nan")
        return (<double>self._bid.best + <double>self._ask.best) * 0.5

    def spread_ticks(self):
        """best ask - best bid in ticks (exact int, <= 0 when crossed), or None if a side is empty."""
        if self._bid.best == _NO_BID or self._ask.best == _NO_ASK:
            return None
        return self._ask.best - self._bid.best

    def microprice_ticks(self):
        """Size-weighted mid (bid * ask_lots + ask * bid_lots) / (bid_lots + ask_lots), float; NaN if
        a side is empty."""
        cdef double b_lots = <double>self._bid.best_lots
        cdef double a_lots = <double>self._ask.best_lots
        if self._bid.best == _NO_BID or self._ask.best == _NO_ASK:
            return float("nan")
        return (<double>self._bid.best * a_lots + <double>self._ask.best * b_lots) / (a_lots + b_lots)

    def imbalance(self, Py_ssize_t levels=1):
        """(bid lots - ask lots) / (bid lots + ask lots) over the top ``levels`` of each side, in
        [-1, 1] (float); NaN when both are empty."""
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        return self.imbalance_c(levels)

    # -- sequencing and health ------------------------------------------------------------------
    @property
    def last_sequence(self):
        """Update id of the last applied snapshot or sequenced batch; -1 if none."""
        return self._last_sequence

    @property
    def gap_count(self):
        return self._gap_count

    @property
    def crossed_count(self):
        """Crossed episodes: updates that left the book crossed when it was not crossed before."""
        return self._crossed_count

    @property
    def needs_snapshot(self):
        return self._needs_snapshot

    @property
    def recentre_count(self):
        return self._recentre_count

    @property
    def window_ticks(self):
        return self._window

    @property
    def window_base(self):
        """Lowest tick held in the dense window; the window is [base, base + window_ticks)."""
        return self._base

    def __len__(self):
        return self._bid.n_levels + self._ask.n_levels

    def __repr__(self):
        return (f"L2Book(bid={self._bid.best}x{self._bid.best_lots}, ask={self._ask.best}x{self._ask.best_lots}, "
                f"levels={self._bid.n_levels}/{self._ask.n_levels}, seq={self._last_sequence})")


cdef int _check_levels(const int64_t[::1] ticks, const int64_t[::1] lots) except -1:
    cdef Py_ssize_t k
    for k in range(ticks.shape[0]):
        if lots[k] < 0:
            raise ValueError(f"lots[{k}] = {lots[k]}: lots must be >= 0")
        if ticks[k] < _MIN_TICKS or ticks[k] > _MAX_TICKS:
            raise ValueError(f"ticks[{k}] = {ticks[k]} out of range")
    return 0
