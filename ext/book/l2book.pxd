# cython: language_level=3
"""C-level interface of ``L2Book`` for other Cython modules: ``from engine.ext.book.l2book cimport L2Book``.

The ``cdef ..._c`` methods trust their caller (valid side 1/2, ticks within MIN_TICKS..MAX_TICKS,
lots >= 0) and return a ``BOOK_*`` status from ``engine.ext.book.types``; the Python ``def`` methods
(``l2book.pyi``) validate and raise.
"""

cimport cython
from libc.stdint cimport int64_t, uint8_t

from engine.ext.book.types cimport BookLevel, BookSide, i128


@cython.final
cdef class L2Book:
    cdef BookSide _bid
    cdef BookSide _ask
    cdef int64_t _base              # the dense window is [_base, _base + _window)
    cdef int64_t _window            # power of two
    cdef int64_t _words             # _window / 64 bitmap words
    cdef int64_t _half
    cdef int64_t _quarter           # re-centre when the mid drifts further than this from the centre
    cdef BookLevel* _scratch        # re-centring / snapshot work area
    cdef Py_ssize_t _scratch_cap
    cdef int64_t _last_sequence     # -1: none
    cdef int64_t _gap_count
    cdef int64_t _crossed_count     # crossed episodes
    cdef int64_t _recentre_count
    cdef bint _crossed
    cdef bint _needs_snapshot

    # -- fast paths (trust the caller) --------------------------------------------------------------
    cdef int apply_delta_c(self, int side, int64_t ticks, int64_t lots) noexcept
    cdef int apply_deltas_c(self, const uint8_t* sides, const int64_t* ticks, const int64_t* lots,
                            Py_ssize_t n, int64_t first_sequence, int64_t last_sequence) noexcept
    cdef int apply_snapshot_c(self, const int64_t* bid_ticks, const int64_t* bid_lots, Py_ssize_t n_bids,
                              const int64_t* ask_ticks, const int64_t* ask_lots, Py_ssize_t n_asks,
                              int64_t sequence) noexcept
    cdef void clear_c(self) noexcept
    cdef Py_ssize_t depth_c(self, int side, int64_t* out_ticks, int64_t* out_lots, Py_ssize_t n) noexcept
    cdef void cost_to_fill_c(self, int side, int64_t lots, int64_t* filled_lots, i128* notional) noexcept
    cdef double imbalance_c(self, Py_ssize_t levels) noexcept

    # -- internals ------------------------------------------------------------------------------------
    cdef BookSide* _side_c(self, int side) noexcept
    cdef int64_t _level_lots_c(self, const BookSide* s, int64_t t) noexcept
    cdef bint _next_worse_c(self, const BookSide* s, bint is_bid, int64_t t,
                            int64_t* out_ticks, int64_t* out_lots) noexcept
    cdef int _set_level_c(self, BookSide* s, bint is_bid, int64_t t, int64_t lots) noexcept
    cdef int _maybe_recentre_c(self) noexcept
    cdef int _recentre_c(self, int64_t new_base) noexcept
    cdef int _rebase_side_c(self, BookSide* s, int64_t new_base) noexcept
    cdef int _note_crossed_c(self) noexcept
    cdef void _clear_side_c(self, BookSide* s) noexcept
    cdef int _load_side_c(self, BookSide* s, const int64_t* ticks, const int64_t* lots,
                          Py_ssize_t n) noexcept
