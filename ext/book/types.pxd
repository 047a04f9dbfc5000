# cython: language_level=3
"""C-level constants and structs of the L2 book (``l2book.pyx`` holds the code).

Cimport as ``from engine.ext.book.types cimport ...``. Declarations only: nothing here needs a runtime
import.
"""

from libc.stdint cimport int32_t, int64_t, uint64_t


cdef extern from *:
    """
    typedef __int128 algotrendy_i128;
    static inline int64_t algotrendy_i128_hi(algotrendy_i128 v) { return (int64_t)(v >> 64); }
    static inline uint64_t algotrendy_i128_lo(algotrendy_i128 v) { return (uint64_t)v; }
    """
    # A 128-bit accumulator for exact notionals (ticks * lots summed over a book walk). Declared to
    # Cython as long long so it can be named; only ever combined with int64 values and split with
    # i128_hi / i128_lo (value = hi * 2**64 + lo).
    ctypedef long long i128 "algotrendy_i128"
    int64_t i128_hi "algotrendy_i128_hi"(i128) nogil
    uint64_t i128_lo "algotrendy_i128_lo"(i128) nogil

cdef enum:
    # sides (engine.core.enums.Side)
    BOOK_BID = 1
    BOOK_ASK = 2
    # status codes: >= 0 the call was handled, < 0 invalid input or resource failure
    BOOK_OK = 0
    BOOK_CROSSED = 1          # applied; the book is crossed (best bid >= best ask) afterwards
    BOOK_STALE = 2            # sequenced batch not applied: it is not newer than the book
    BOOK_GAP = 3              # sequenced batch not applied: a sequence gap; the book needs a snapshot
    BOOK_NOT_SYNCED = 4       # sequenced batch not applied: the book is waiting for a snapshot
    BOOK_ERR_SIDE = -1
    BOOK_ERR_LOTS = -2
    BOOK_ERR_TICKS = -3
    BOOK_ERR_MEMORY = -4
    BOOK_ERR_DUPLICATE = -5
    # sparse store layout
    BOOK_SP_BLOCK = 64        # levels per sparse block
    BOOK_SP_BUILD_FILL = 48   # bulk builds leave room for inserts


cdef struct BookLevel:
    int64_t ticks
    int64_t lots


cdef struct BookSparse:
    # Sorted levels in blocks: logical block k is physical block order[k] (pool + order[k] *
    # BOOK_SP_BLOCK, fill[order[k]] levels, ascending) and first[k] is its smallest tick.
    BookLevel* pool
    int32_t* fill             # by physical id
    int32_t* order            # logical -> physical
    int64_t* first            # logical -> smallest tick of the block
    int32_t* free_ids         # physical ids of emptied blocks
    Py_ssize_t n_free
    Py_ssize_t n_blocks       # logical blocks in use
    Py_ssize_t n_phys         # physical blocks handed out
    Py_ssize_t cap            # physical blocks allocated
    Py_ssize_t n              # levels


cdef struct BookSide:
    int64_t* lad              # dense window sizes (lots), index = ticks - base
    uint64_t* bits            # one bit per non-zero window entry
    BookSparse sp             # levels outside the window
    Py_ssize_t n_levels       # window + sparse
    int64_t best              # INT64_MIN (bids) / INT64_MAX (asks) when the side is empty
    int64_t best_lots         # 0 when the side is empty
