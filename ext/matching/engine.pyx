# cython: language_level=3
"""L3 price-time priority matching engine for one instrument of the simulated venue.

Everything is an integer: prices in ticks, sizes in lots, times in ns, fees in "fee units" chosen by
the caller. The engine never reads a clock: every entry point takes the event time ``ts`` and first
expires the GTD orders whose ``expire_ts <= ts``.

Data layout (all preallocated, grown by doubling when full, never Python objects in the hot path):

* an order pool with a free list; a slot is reused after the order ends;
* an open-addressing ``order id -> slot`` map (linear probing, backward-shift deletion, key 0 = empty);
* price levels: a pool of ``Level`` structs (FIFO of orders as an intrusive doubly linked list) and,
  per side, a sorted array of level keys (best level last, so adding or removing near the touch moves
  few entries) with a parallel array of level indices. Chosen over a dense tick ladder because it
  needs no price window or re-centring (BTC at a 0.01 tick spans millions of ticks) and because it is
  not the bottleneck: profiling the 1M-order benchmark stream, level lookup/insert/remove
  (``_level_for`` + ``_drop_level``) is ~3 % of matching time, while the id map's cache misses are
  ~25 %, so a dense ladder could win at most those few percent;
* orders split hot/cold: a 64-byte ``Order`` (one cache line: what adding, cancelling and matching
  touch) and a parallel ``OrderInfo`` (trigger, total quantity, expiry, accept time);
* pending stop orders per side in a sorted array (next to trigger last);
* a GTD min-heap keyed ``(expire_ts, order id)``, invalidated lazily;
* per account (dense small ints): net position in lots and an intrusive list of live orders
  (for cancel-all and reduce-only).

Execution reports go to a preallocated struct-of-arrays buffer (``N_FIELDS`` rows of int64) that the
caller reads after each call (``reports`` / ``report_rows()``); ``n_reports`` counts them. Per-call
entry points reset the buffer; ``process`` (batch) accumulates over the batch.

Rules (the pure-Python reference model in tests/ implements the same ones):

* Validation, first failing check wins, gives one REJECTED report and returns its reason code.
* Accepted orders get an ACCEPTED report. MARKET and LIMIT orders then match as takers against the
  opposite side, best price first, FIFO within a level; each fill makes a taker FILLED report then a
  maker FILLED report sharing one trade id, at the maker's price.
* Self-trade prevention (same account on both sides) by ``stp_mode``: CANCEL_TAKER cancels the taker's
  remainder, CANCEL_MAKER cancels the resting order and goes on, CANCEL_BOTH cancels the maker then the
  taker; NONE lets the account trade with itself.
* Reduce-only: rejected unless the account holds a position the order reduces; each fill is capped to
  what is still reducible (the position after earlier fills). A reduce-only order with nothing left to
  reduce is canceled (REDUCE_ONLY_EXHAUSTED) when that is found: right after its own fill, or when it
  is met as a maker, or before it takes.
* After taking, a remainder: MARKET -> canceled (NO_LIQUIDITY); IOC -> canceled (IOC_REMAINDER);
  GTC/GTD -> rests at the tail of its level. FOK is checked first with a dry run of the same rules:
  if it cannot fill completely it is canceled (FOK_CANNOT_FILL) and nothing else happens.
* POST_ONLY limit orders that would cross are rejected (POST_ONLY_WOULD_TAKE).
* STOP_MARKET / STOP_LIMIT rest untriggered; a BUY stop triggers when the last trade price >= trigger,
  a SELL stop when it is <= trigger. A stop that would trigger at once is rejected
  (STOP_WOULD_TRIGGER). Triggers are checked after the incoming order is done: the next BUY stop
  (lowest trigger, then earliest) then the next SELL stop (highest trigger, then earliest), one at a
  time, each getting a TRIGGERED report and then executing as a MARKET / LIMIT taker, until none.
* Amend (new total quantity / price / trigger; 0 keeps the value): a price change or a quantity
  increase loses priority (new sequence, tail of the level; a price change may trade as a taker);
  a quantity decrease keeps priority. The new quantity must exceed what is already filled.
* Fees: ``fee = ceil(price_ticks * lots * num / den)`` per fill in fee units, computed in 128-bit
  integers; rounding is towards +infinity, i.e. in the venue's favour: a charge rounds up and a rebate
  (negative rate) rounds towards zero. ``max_notional`` (price * lots) is bounded at construction so
  every fee fits in int64: a resting order's price * quantity must not exceed it, and every fill is at
  a resting order's price for at most its quantity.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.string cimport memmove

import numpy as np

cimport numpy as cnp

from matching.types cimport *

cnp.import_array()

cdef extern from *:
    ctypedef long long int128 "__int128"

cdef int64_t MAX_VALUE = (1 << 53) - 1
cdef int64_t MAX_ACCOUNTS = 1 << 20
cdef int64_t NOTIONAL_CAP = 1 << 62

# -- Python-visible constants -------------------------------------------------------------------
BUY = SIDE_BUY
SELL = SIDE_SELL
MARKET = OT_MARKET
LIMIT = OT_LIMIT
STOP_MARKET = OT_STOP_MARKET
STOP_LIMIT = OT_STOP_LIMIT
GTC = TIF_GTC
IOC = TIF_IOC
FOK = TIF_FOK
GTD = TIF_GTD
POST_ONLY = FLAG_POST_ONLY
REDUCE_ONLY = FLAG_REDUCE_ONLY
MAKER = LIQ_MAKER
TAKER = LIQ_TAKER

STP_MODES = {"NONE": STP_NONE, "CANCEL_TAKER": STP_CANCEL_TAKER, "CANCEL_MAKER": STP_CANCEL_MAKER,
             "CANCEL_BOTH": STP_CANCEL_BOTH}

REPORT_ACCEPTED = RK_ACCEPTED
REPORT_REJECTED = RK_REJECTED
REPORT_FILLED = RK_FILLED
REPORT_CANCELED = RK_CANCELED
REPORT_EXPIRED = RK_EXPIRED
REPORT_UPDATED = RK_UPDATED
REPORT_TRIGGERED = RK_TRIGGERED
REPORT_AMEND_REJECTED = RK_AMEND_REJECTED
REPORT_CANCEL_REJECTED = RK_CANCEL_REJECTED
REPORT_KIND_NAMES = {
    RK_ACCEPTED: "ACCEPTED", RK_REJECTED: "REJECTED", RK_FILLED: "FILLED", RK_CANCELED: "CANCELED",
    RK_EXPIRED: "EXPIRED", RK_UPDATED: "UPDATED", RK_TRIGGERED: "TRIGGERED",
    RK_AMEND_REJECTED: "AMEND_REJECTED", RK_CANCEL_REJECTED: "CANCEL_REJECTED",
}

FIELD_KIND = F_KIND
FIELD_ORDER_ID = F_ORDER_ID
FIELD_ACCOUNT = F_ACCOUNT
FIELD_SIDE = F_SIDE
FIELD_PRICE = F_PRICE
FIELD_QTY = F_QTY
FIELD_LEAVES = F_LEAVES
FIELD_TRADE_ID = F_TRADE_ID
FIELD_LIQUIDITY = F_LIQUIDITY
FIELD_FEE = F_FEE
FIELD_TS = F_TS
FIELD_REASON = F_REASON
FIELD_CONTRA_ID = F_CONTRA_ID
FIELD_TRIGGER = F_TRIGGER
NUM_FIELDS = N_FIELDS
FIELD_NAMES = ("kind", "order_id", "account", "side", "price", "qty", "leaves", "trade_id", "liquidity",
               "fee", "ts", "reason", "contra_id", "trigger")

#: Reason code -> name. Codes are stable (persisted by the venue); names are the API's reason strings.
REASON_NAMES = {
    R_NONE: "NONE",
    R_INVALID_ORDER_ID: "INVALID_ORDER_ID",
    R_DUPLICATE_ORDER_ID: "DUPLICATE_ORDER_ID",
    R_INVALID_ACCOUNT: "INVALID_ACCOUNT",
    R_INVALID_SIDE: "INVALID_SIDE",
    R_INVALID_ORDER_TYPE: "INVALID_ORDER_TYPE",
    R_INVALID_TIME_IN_FORCE: "INVALID_TIME_IN_FORCE",
    R_INVALID_QUANTITY: "INVALID_QUANTITY",
    R_INVALID_PRICE: "INVALID_PRICE",
    R_INVALID_TRIGGER_PRICE: "INVALID_TRIGGER_PRICE",
    R_INVALID_EXPIRE_TIME: "INVALID_EXPIRE_TIME",
    R_INVALID_FLAGS: "INVALID_FLAGS",
    R_POST_ONLY_INVALID: "POST_ONLY_INVALID",
    R_BELOW_MIN_QUANTITY: "BELOW_MIN_QUANTITY",
    R_ABOVE_MAX_QUANTITY: "ABOVE_MAX_QUANTITY",
    R_BELOW_MIN_NOTIONAL: "BELOW_MIN_NOTIONAL",
    R_ABOVE_MAX_NOTIONAL: "ABOVE_MAX_NOTIONAL",
    R_NO_LIQUIDITY: "NO_LIQUIDITY",
    R_REDUCE_ONLY_WOULD_INCREASE: "REDUCE_ONLY_WOULD_INCREASE",
    R_STOP_WOULD_TRIGGER: "STOP_WOULD_TRIGGER",
    R_POST_ONLY_WOULD_TAKE: "POST_ONLY_WOULD_TAKE",
    R_UNKNOWN_ORDER: "UNKNOWN_ORDER",
    R_AMEND_QUANTITY_BELOW_FILLED: "AMEND_QUANTITY_BELOW_FILLED",
    R_IOC_REMAINDER: "IOC_REMAINDER",
    R_FOK_CANNOT_FILL: "FOK_CANNOT_FILL",
    R_SELF_TRADE_PREVENTED: "SELF_TRADE_PREVENTED",
    R_REDUCE_ONLY_EXHAUSTED: "REDUCE_ONLY_EXHAUSTED",
    R_GTD_EXPIRED: "GTD_EXPIRED",
    R_CANCELED: "CANCELED",
    R_PRICE_OFF_TICK: "PRICE_OFF_TICK",
    R_SIZE_OFF_INCREMENT: "SIZE_OFF_INCREMENT",
    R_UNKNOWN_INSTRUMENT: "UNKNOWN_INSTRUMENT",
    R_INSTRUMENT_NOT_TRADABLE: "INSTRUMENT_NOT_TRADABLE",
    R_DUPLICATE_CLIENT_ORDER_ID: "DUPLICATE_CLIENT_ORDER_ID",
    R_UNKNOWN_ACCOUNT: "UNKNOWN_ACCOUNT",
    R_VALUE_OUT_OF_RANGE: "VALUE_OUT_OF_RANGE",
}
REASON_CODES = {name: code for code, name in REASON_NAMES.items()}

#: Batch op codes (column 0 of ``process``).
OP_SUBMIT = 1
OP_CANCEL = 2
OP_AMEND = 3
OP_CANCEL_ALL = 4
OP_ADVANCE = 5
#: Columns of a ``process`` row.
BATCH_COLUMNS = ("op", "ts", "order_id", "account", "side", "order_type", "tif", "qty", "price",
                 "trigger", "expire_ts", "flags")
#: Columns of ``orders_array()`` rows (and of ``restore_order`` arguments, in order).
ORDER_COLUMNS = ("order_id", "seq", "account", "side", "order_type", "tif", "flags", "price", "trigger",
                 "qty", "leaves", "expire_ts", "ts", "state")
STATE_RESTING = ST_RESTING
STATE_STOP = ST_STOP


cdef inline int64_t _key(int side, int64_t price) noexcept nogil:
    return price if side == SIDE_BUY else -price


cdef inline int64_t _ceil_div(int128 a, int64_t b) noexcept nogil:
    cdef int128 q = a / b
    if a > 0 and a % b != 0:
        q += 1
    return <int64_t>q


cdef inline int64_t _min(int64_t a, int64_t b) noexcept nogil:
    return a if a < b else b


cdef inline bint _gtd_less(GtdEntry* a, GtdEntry* b) noexcept nogil:
    return a.expire_ts < b.expire_ts or (a.expire_ts == b.expire_ts and a.id < b.id)


cdef inline uint64_t _hash(int64_t key, int shift) noexcept nogil:
    return (<uint64_t>key * <uint64_t>0x9E3779B97F4A7C15ULL) >> shift


cdef void* _xrealloc(void* p, size_t n) except NULL:
    cdef void* q = PyMem_Realloc(p, n)
    if q == NULL:
        raise MemoryError()
    return q


cdef class MatchingEngine:
    """One instrument's order book and matcher; see the module docstring for the rules.

    ``min_lots``/``max_lots`` (0 = no maximum) bound an order's quantity; ``min_notional`` bounds
    ``price_ticks * lots`` from below (0 = none). Fee rates are rationals ``num/den`` per unit of
    ``price_ticks * lots``; ``stp_mode`` is one of ``STP_MODES``. ``capacity`` presizes the pools.
    """

    # order pool + free list
    cdef Order* orders
    cdef OrderInfo* info
    cdef int64_t order_cap
    cdef int64_t free_head
    cdef readonly int64_t order_count
    # id -> slot (open addressing, linear probing, backward-shift deletion; key 0 = empty)
    cdef MapEntry* map
    cdef int64_t map_mask
    cdef int map_shift
    # price levels: pool + per side a sorted array of keys (best last) and level indices
    cdef Level* levels
    cdef int64_t level_cap
    cdef int64_t level_free
    cdef int64_t* side_keys[3]
    cdef int64_t* side_lv[3]
    cdef int64_t side_n[3]
    cdef int64_t side_cap[3]
    # pending stops per side: slots sorted so the next to trigger is last
    cdef int64_t* stops[3]
    cdef int64_t stop_n[3]
    cdef int64_t stop_cap[3]
    # GTD expiry min-heap keyed (expire_ts, id), lazily invalidated
    cdef GtdEntry* gtd
    cdef int64_t gtd_n
    cdef int64_t gtd_cap
    cdef int64_t gtd_live
    # accounts: net position (lots), list of live orders, dry-run scratch (valid when touched == epoch)
    cdef int64_t* positions
    cdef int64_t* acct_head
    cdef int64_t* acct_tail
    cdef int64_t* scratch
    cdef int64_t* touched
    cdef int64_t acct_cap
    cdef int64_t dry_epoch
    # configuration
    cdef readonly int64_t min_lots
    cdef readonly int64_t max_lots
    cdef readonly int64_t min_notional
    cdef readonly int64_t max_notional
    cdef readonly int64_t maker_fee_num
    cdef readonly int64_t maker_fee_den
    cdef readonly int64_t taker_fee_num
    cdef readonly int64_t taker_fee_den
    cdef public int stp_mode
    # counters and state
    cdef readonly int64_t next_trade_id
    cdef readonly int64_t next_seq
    cdef readonly int64_t last_trade_ticks
    cdef readonly int64_t now
    # report buffer (struct of arrays: N_FIELDS rows of rep_cap int64)
    cdef object _reports
    cdef int64_t* rep
    cdef int64_t rep_cap
    cdef readonly int64_t n_reports


    def __cinit__(self, *, int64_t min_lots=1, int64_t max_lots=0, int64_t min_notional=0,
                  int64_t maker_fee_num=0, int64_t maker_fee_den=1, int64_t taker_fee_num=0,
                  int64_t taker_fee_den=1, int stp_mode=STP_CANCEL_TAKER, int64_t capacity=1024):
        cdef int side
        cdef int64_t i
        cdef int128 bound
        if min_lots < 1:
            raise ValueError("min_lots must be >= 1")
        if max_lots < 0 or (max_lots and max_lots < min_lots):
            raise ValueError("max_lots must be 0 (no maximum) or >= min_lots")
        if min_notional < 0:
            raise ValueError("min_notional must be >= 0")
        if maker_fee_den < 1 or taker_fee_den < 1:
            raise ValueError("fee denominators must be >= 1")
        if not (-(1 << 31) < maker_fee_num < (1 << 31)) or not (-(1 << 31) < taker_fee_num < (1 << 31)):
            raise ValueError("fee numerators must be within +-2**31")
        if stp_mode < STP_NONE or stp_mode > STP_CANCEL_BOTH:
            raise ValueError(f"stp_mode must be one of {STP_MODES}")
        if capacity < 16:
            capacity = 16
        self.min_lots = min_lots
        self.max_lots = max_lots
        self.min_notional = min_notional
        self.maker_fee_num = maker_fee_num
        self.maker_fee_den = maker_fee_den
        self.taker_fee_num = taker_fee_num
        self.taker_fee_den = taker_fee_den
        self.stp_mode = stp_mode
        # Largest price*lots whose fee (either rate) still fits comfortably in int64.
        self.max_notional = NOTIONAL_CAP
        for num, den in ((maker_fee_num, maker_fee_den), (taker_fee_num, taker_fee_den)):
            if num:
                bound = (<int128>NOTIONAL_CAP * <int64_t>den) / <int64_t>abs(num)
                if bound < self.max_notional:
                    self.max_notional = <int64_t>bound
        if min_notional > self.max_notional:
            raise ValueError("min_notional exceeds the largest notional the fee rates allow")
        self.next_trade_id = 1
        self.next_seq = 1
        self.last_trade_ticks = 0
        self.now = 0
        self.order_count = 0
        self.dry_epoch = 0
        # order pool
        self.orders = <Order*>PyMem_Malloc(capacity * sizeof(Order))
        self.info = <OrderInfo*>PyMem_Malloc(capacity * sizeof(OrderInfo))
        if self.orders == NULL or self.info == NULL:
            raise MemoryError()
        self.order_cap = capacity
        for i in range(capacity):
            self.orders[i].state = ST_FREE
            self.orders[i].next = i + 1 if i + 1 < capacity else -1
        self.free_head = 0
        # id map
        self.map = NULL
        self.map_mask = 0
        self._grow_map()
        # levels
        self.levels = <Level*>PyMem_Malloc(capacity * sizeof(Level))
        if self.levels == NULL:
            raise MemoryError()
        self.level_cap = capacity
        for i in range(capacity):
            self.levels[i].head = i + 1 if i + 1 < capacity else -1
        self.level_free = 0
        for side in range(3):
            self.side_n[side] = 0
            self.side_cap[side] = 256
            self.side_keys[side] = <int64_t*>PyMem_Malloc(256 * sizeof(int64_t))
            self.side_lv[side] = <int64_t*>PyMem_Malloc(256 * sizeof(int64_t))
            self.stop_n[side] = 0
            self.stop_cap[side] = 64
            self.stops[side] = <int64_t*>PyMem_Malloc(64 * sizeof(int64_t))
            if self.side_keys[side] == NULL or self.side_lv[side] == NULL or self.stops[side] == NULL:
                raise MemoryError()
        # gtd heap
        self.gtd_cap = 64
        self.gtd_n = 0
        self.gtd_live = 0
        self.gtd = <GtdEntry*>PyMem_Malloc(64 * sizeof(GtdEntry))
        if self.gtd == NULL:
            raise MemoryError()
        # accounts
        self.acct_cap = 0
        self.positions = NULL
        self.acct_head = NULL
        self.acct_tail = NULL
        self.scratch = NULL
        self.touched = NULL
        self._ensure_account(15)
        # reports
        self.rep_cap = 256
        self._reports = np.zeros((N_FIELDS, self.rep_cap), dtype=np.int64)
        self.rep = <int64_t*>cnp.PyArray_DATA(self._reports)
        self.n_reports = 0

    def __dealloc__(self):
        cdef int side
        PyMem_Free(self.orders)
        PyMem_Free(self.info)
        PyMem_Free(self.map)
        PyMem_Free(self.levels)
        for side in range(3):
            PyMem_Free(self.side_keys[side])
            PyMem_Free(self.side_lv[side])
            PyMem_Free(self.stops[side])
        PyMem_Free(self.gtd)
        PyMem_Free(self.positions)
        PyMem_Free(self.acct_head)
        PyMem_Free(self.acct_tail)
        PyMem_Free(self.scratch)
        PyMem_Free(self.touched)

    # == storage ===================================================================================
    cdef int _grow_orders(self) except -1:
        cdef int64_t old = self.order_cap
        cdef int64_t cap = old * 2
        cdef int64_t i
        if cap > 0x7FFFFFFF:
            raise MemoryError("order pool limit reached (2**31 slots)")
        self.orders = <Order*>_xrealloc(self.orders, cap * sizeof(Order))
        self.info = <OrderInfo*>_xrealloc(self.info, cap * sizeof(OrderInfo))
        for i in range(old, cap):
            self.orders[i].state = ST_FREE
            self.orders[i].next = i + 1 if i + 1 < cap else self.free_head
        self.free_head = old
        self.order_cap = cap
        self._grow_map()
        return 0

    cdef int _grow_map(self) except -1:
        """(Re)build the id map with at least twice the pool capacity (load factor <= 0.5)."""
        cdef int64_t cap = 16
        cdef int bits = 4
        cdef int64_t i, j
        cdef MapEntry* table
        while cap < 2 * self.order_cap:
            cap <<= 1
            bits += 1
        if self.map != NULL and cap == self.map_mask + 1:
            return 0
        table = <MapEntry*>PyMem_Malloc(cap * sizeof(MapEntry))
        if table == NULL:
            raise MemoryError()
        for i in range(cap):
            table[i].key = 0
        if self.map != NULL:
            for i in range(self.map_mask + 1):
                if self.map[i].key != 0:
                    j = <int64_t>_hash(self.map[i].key, 64 - bits)
                    while table[j].key != 0:
                        j = (j + 1) & (cap - 1)
                    table[j] = self.map[i]
        PyMem_Free(self.map)
        self.map = table
        self.map_mask = cap - 1
        self.map_shift = 64 - bits
        return 0

    cdef int64_t _map_find(self, int64_t key) noexcept:
        cdef int64_t j = <int64_t>_hash(key, self.map_shift)
        cdef MapEntry* e
        while True:
            e = &self.map[j]
            if e.key == key:
                return e.slot
            if e.key == 0:
                return -1
            j = (j + 1) & self.map_mask

    cdef int64_t _map_probe(self, int64_t key) noexcept:
        """Index of ``key`` in the table, or of the empty entry where it would be inserted."""
        cdef int64_t j = <int64_t>_hash(key, self.map_shift)
        cdef int64_t k
        while True:
            k = self.map[j].key
            if k == key or k == 0:
                return j
            j = (j + 1) & self.map_mask

    cdef int _map_put(self, int64_t key, int64_t val) except -1:
        cdef int64_t j = <int64_t>_hash(key, self.map_shift)
        while self.map[j].key != 0:
            j = (j + 1) & self.map_mask
        self.map[j].key = key
        self.map[j].slot = val
        return 0

    cdef void _map_del(self, int64_t key) noexcept:
        cdef int64_t mask = self.map_mask
        cdef int64_t i = <int64_t>_hash(key, self.map_shift)
        cdef int64_t j, h
        while self.map[i].key != key:
            if self.map[i].key == 0:
                return
            i = (i + 1) & mask
        j = i
        while True:
            j = (j + 1) & mask
            if self.map[j].key == 0:
                break
            h = <int64_t>_hash(self.map[j].key, self.map_shift)
            # The entry at j may move back to the hole at i unless its home lies in (i, j].
            if ((j - h) & mask) >= ((j - i) & mask):
                self.map[i] = self.map[j]
                i = j
        self.map[i].key = 0

    cdef int _ensure_account(self, int64_t account) except -1:
        cdef int64_t cap, i
        if account < self.acct_cap:
            return 0
        cap = self.acct_cap * 2 if self.acct_cap else 16
        if cap <= account:
            cap = account + 1
        self.positions = <int64_t*>_xrealloc(self.positions, cap * sizeof(int64_t))
        self.acct_head = <int64_t*>_xrealloc(self.acct_head, cap * sizeof(int64_t))
        self.acct_tail = <int64_t*>_xrealloc(self.acct_tail, cap * sizeof(int64_t))
        self.scratch = <int64_t*>_xrealloc(self.scratch, cap * sizeof(int64_t))
        self.touched = <int64_t*>_xrealloc(self.touched, cap * sizeof(int64_t))
        for i in range(self.acct_cap, cap):
            self.positions[i] = 0
            self.acct_head[i] = -1
            self.acct_tail[i] = -1
            self.scratch[i] = 0
            self.touched[i] = 0
        self.acct_cap = cap
        return 0

    cdef int _grow_reports(self) except -1:
        cdef int64_t cap = self.rep_cap * 2
        new = np.zeros((N_FIELDS, cap), dtype=np.int64)
        new[:, :self.rep_cap] = self._reports
        self._reports = new
        self.rep = <int64_t*>cnp.PyArray_DATA(new)
        self.rep_cap = cap
        return 0

    cdef int _emit(self, int64_t kind, Order* o, int64_t price, int64_t qty, int64_t trade_id,
                   int64_t liq, int64_t fee, int64_t reason, int64_t contra) except -1:
        cdef int64_t i, c
        cdef int64_t* r
        if self.n_reports == self.rep_cap:
            self._grow_reports()
        i = self.n_reports
        c = self.rep_cap
        r = self.rep
        r[F_KIND * c + i] = kind
        r[F_ORDER_ID * c + i] = o.id
        r[F_ACCOUNT * c + i] = o.account
        r[F_SIDE * c + i] = o.side
        r[F_PRICE * c + i] = price
        r[F_QTY * c + i] = qty
        r[F_LEAVES * c + i] = o.leaves
        r[F_TRADE_ID * c + i] = trade_id
        r[F_LIQUIDITY * c + i] = liq
        r[F_FEE * c + i] = fee
        r[F_TS * c + i] = self.now
        r[F_REASON * c + i] = reason
        r[F_CONTRA_ID * c + i] = contra
        r[F_TRIGGER * c + i] = self.info[o - self.orders].trigger if o.flags & FLAG_HAS_TRIGGER else 0
        self.n_reports = i + 1
        return 0

    cdef int _emit_raw(self, int64_t kind, int64_t oid, int64_t account, int64_t side, int64_t price,
                       int64_t qty, int64_t trigger, int64_t reason) except -1:
        cdef int64_t i, c, f
        cdef int64_t* r
        if self.n_reports == self.rep_cap:
            self._grow_reports()
        i = self.n_reports
        c = self.rep_cap
        r = self.rep
        for f in range(N_FIELDS):
            r[f * c + i] = 0
        r[F_KIND * c + i] = kind
        r[F_ORDER_ID * c + i] = oid
        r[F_ACCOUNT * c + i] = account
        r[F_SIDE * c + i] = side
        r[F_PRICE * c + i] = price
        r[F_QTY * c + i] = qty
        r[F_TS * c + i] = self.now
        r[F_REASON * c + i] = reason
        r[F_TRIGGER * c + i] = trigger
        self.n_reports = i + 1
        return 0

    cdef int64_t _alloc_slot(self) except -1:
        cdef int64_t slot
        if self.free_head == -1:
            self._grow_orders()
        slot = self.free_head
        self.free_head = self.orders[slot].next
        self.order_count += 1
        return slot

    cdef void _free_slot(self, int64_t slot) noexcept:
        self.orders[slot].state = ST_FREE
        self.orders[slot].next = self.free_head
        self.free_head = slot
        self.order_count -= 1

    # == price levels ================================================================================
    cdef int64_t _level_for(self, int side, int64_t price) except -1:
        """Index of the level at ``price`` on ``side``, created (empty) if absent."""
        cdef int64_t n = self.side_n[side]
        cdef int64_t* keys = self.side_keys[side]
        cdef int64_t k = _key(side, price)
        cdef int64_t lo, hi, mid, li, cap, i
        # Most activity is at or near the touch (the end of the array): look there first.
        if n and keys[n - 1] == k:
            return self.side_lv[side][n - 1]
        lo = 0
        hi = n
        while lo < hi:
            mid = (lo + hi) >> 1
            if keys[mid] < k:
                lo = mid + 1
            else:
                hi = mid
        if lo < n and keys[lo] == k:
            return self.side_lv[side][lo]
        if n == self.side_cap[side]:
            cap = n * 2
            self.side_keys[side] = <int64_t*>_xrealloc(self.side_keys[side], cap * sizeof(int64_t))
            self.side_lv[side] = <int64_t*>_xrealloc(self.side_lv[side], cap * sizeof(int64_t))
            self.side_cap[side] = cap
            keys = self.side_keys[side]
        if self.level_free == -1:
            cap = self.level_cap * 2
            self.levels = <Level*>_xrealloc(self.levels, cap * sizeof(Level))
            for i in range(self.level_cap, cap):
                self.levels[i].head = i + 1 if i + 1 < cap else -1
            self.level_free = self.level_cap
            self.level_cap = cap
        li = self.level_free
        self.level_free = self.levels[li].head
        if lo < n:
            memmove(&keys[lo + 1], &keys[lo], (n - lo) * sizeof(int64_t))
            memmove(&self.side_lv[side][lo + 1], &self.side_lv[side][lo], (n - lo) * sizeof(int64_t))
        keys[lo] = k
        self.side_lv[side][lo] = li
        self.side_n[side] = n + 1
        self.levels[li].price = price
        self.levels[li].total = 0
        self.levels[li].count = 0
        self.levels[li].head = -1
        self.levels[li].tail = -1
        return li

    cdef void _drop_level(self, int side, int64_t li) noexcept:
        cdef int64_t n = self.side_n[side]
        cdef int64_t* keys = self.side_keys[side]
        cdef int64_t k = _key(side, self.levels[li].price)
        cdef int64_t lo, hi, mid
        if keys[n - 1] == k:
            lo = n - 1
        else:
            lo = 0
            hi = n
            while lo < hi:
                mid = (lo + hi) >> 1
                if keys[mid] < k:
                    lo = mid + 1
                else:
                    hi = mid
            memmove(&keys[lo], &keys[lo + 1], (n - lo - 1) * sizeof(int64_t))
            memmove(&self.side_lv[side][lo], &self.side_lv[side][lo + 1], (n - lo - 1) * sizeof(int64_t))
        self.side_n[side] = n - 1
        self.levels[li].head = self.level_free
        self.level_free = li

    cdef int _rest(self, int64_t slot) except -1:
        cdef int64_t li = self._level_for(self.orders[slot].side, self.orders[slot].price)
        cdef Order* o = &self.orders[slot]
        cdef Level* lv = &self.levels[li]
        o.prev = lv.tail
        o.next = -1
        if lv.tail != -1:
            self.orders[lv.tail].next = slot
        else:
            lv.head = slot
        lv.tail = slot
        lv.total += o.leaves
        lv.count += 1
        o.level = li
        o.state = ST_RESTING
        self._acct_push(slot)
        if o.tif == TIF_GTD:
            self.gtd_live += 1
        return 0

    cdef void _unrest(self, int64_t slot) noexcept:
        cdef Order* o = &self.orders[slot]
        cdef int64_t li = o.level
        cdef Level* lv = &self.levels[li]
        if o.prev != -1:
            self.orders[o.prev].next = o.next
        else:
            lv.head = o.next
        if o.next != -1:
            self.orders[o.next].prev = o.prev
        else:
            lv.tail = o.prev
        lv.total -= o.leaves
        lv.count -= 1
        o.level = -1
        o.state = ST_TAKING
        if lv.count == 0:
            self._drop_level(o.side, li)
        self._acct_unlink(slot)
        if o.tif == TIF_GTD:
            self.gtd_live -= 1

    cdef void _acct_push(self, int64_t slot) noexcept:
        cdef Order* o = &self.orders[slot]
        cdef int64_t a = o.account
        o.aprev = self.acct_tail[a]
        o.anext = -1
        if self.acct_tail[a] != -1:
            self.orders[self.acct_tail[a]].anext = slot
        else:
            self.acct_head[a] = slot
        self.acct_tail[a] = slot

    cdef void _acct_unlink(self, int64_t slot) noexcept:
        cdef Order* o = &self.orders[slot]
        cdef int64_t a = o.account
        if o.aprev != -1:
            self.orders[o.aprev].anext = o.anext
        else:
            self.acct_head[a] = o.anext
        if o.anext != -1:
            self.orders[o.anext].aprev = o.aprev
        else:
            self.acct_tail[a] = o.aprev

    # == stops and expiry ============================================================================
    cdef int _stop_insert(self, int64_t slot) except -1:
        """Insert a pending stop; per side the array is ordered so the next to trigger is last."""
        cdef Order* o = &self.orders[slot]
        cdef int side = o.side
        cdef int64_t n = self.stop_n[side]
        cdef int64_t lo = 0
        cdef int64_t hi = n
        cdef int64_t mid, cap
        cdef Order* e
        cdef bint before
        cdef int64_t et
        cdef int64_t ot = self.info[slot].trigger
        while lo < hi:
            mid = (lo + hi) >> 1
            e = &self.orders[self.stops[side][mid]]
            et = self.info[self.stops[side][mid]].trigger
            if side == SIDE_BUY:
                before = et > ot or (et == ot and e.seq > o.seq)
            else:
                before = et < ot or (et == ot and e.seq > o.seq)
            if before:
                lo = mid + 1
            else:
                hi = mid
        if n == self.stop_cap[side]:
            cap = n * 2
            self.stops[side] = <int64_t*>_xrealloc(self.stops[side], cap * sizeof(int64_t))
            self.stop_cap[side] = cap
        if lo < n:
            memmove(&self.stops[side][lo + 1], &self.stops[side][lo], (n - lo) * sizeof(int64_t))
        self.stops[side][lo] = slot
        self.stop_n[side] = n + 1
        o.state = ST_STOP
        o.level = -1
        self._acct_push(slot)
        if o.tif == TIF_GTD:
            self.gtd_live += 1
        return 0

    cdef void _stop_remove(self, int64_t slot) noexcept:
        cdef Order* o = &self.orders[slot]
        cdef int side = o.side
        cdef int64_t n = self.stop_n[side]
        cdef int64_t i = n - 1
        while i >= 0 and self.stops[side][i] != slot:
            i -= 1
        if i < 0:
            return
        memmove(&self.stops[side][i], &self.stops[side][i + 1], (n - i - 1) * sizeof(int64_t))
        self.stop_n[side] = n - 1
        o.state = ST_TAKING
        self._acct_unlink(slot)
        if o.tif == TIF_GTD:
            self.gtd_live -= 1

    cdef int _gtd_push(self, int64_t expire_ts, int64_t oid, int64_t slot) except -1:
        cdef int64_t i, parent
        cdef GtdEntry e
        if self.gtd_n > 64 and self.gtd_n > 4 * self.gtd_live:
            self._gtd_compact()
        if self.gtd_n == self.gtd_cap:
            self.gtd = <GtdEntry*>_xrealloc(self.gtd, 2 * self.gtd_cap * sizeof(GtdEntry))
            self.gtd_cap *= 2
        e.expire_ts = expire_ts
        e.id = oid
        e.slot = slot
        i = self.gtd_n
        self.gtd_n += 1
        while i > 0:
            parent = (i - 1) >> 1
            if not _gtd_less(&e, &self.gtd[parent]):
                break
            self.gtd[i] = self.gtd[parent]
            i = parent
        self.gtd[i] = e
        return 0

    cdef void _gtd_pop(self) noexcept:
        cdef int64_t n = self.gtd_n - 1
        cdef int64_t i = 0
        cdef int64_t c
        cdef GtdEntry last = self.gtd[n]
        self.gtd_n = n
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and _gtd_less(&self.gtd[c + 1], &self.gtd[c]):
                c += 1
            if not _gtd_less(&self.gtd[c], &last):
                break
            self.gtd[i] = self.gtd[c]
            i = c
        if n > 0:
            self.gtd[i] = last

    cdef bint _gtd_valid(self, GtdEntry* e) noexcept:
        cdef Order* o
        if e.slot >= self.order_cap:
            return False
        o = &self.orders[e.slot]
        return ((o.state == ST_RESTING or o.state == ST_STOP) and o.id == e.id and o.tif == TIF_GTD
                and self.info[e.slot].expire_ts == e.expire_ts)

    cdef void _gtd_compact(self) noexcept:
        """Drop stale entries (orders that ended before expiring) and re-heapify."""
        cdef int64_t i, j = 0
        cdef int64_t n = self.gtd_n
        cdef GtdEntry e
        cdef int64_t k, c
        for i in range(n):
            if self._gtd_valid(&self.gtd[i]):
                self.gtd[j] = self.gtd[i]
                j += 1
        self.gtd_n = j
        # heapify (sift down from the last parent)
        i = (j >> 1) - 1
        while i >= 0:
            e = self.gtd[i]
            k = i
            while True:
                c = 2 * k + 1
                if c >= j:
                    break
                if c + 1 < j and _gtd_less(&self.gtd[c + 1], &self.gtd[c]):
                    c += 1
                if not _gtd_less(&self.gtd[c], &e):
                    break
                self.gtd[k] = self.gtd[c]
                k = c
            self.gtd[k] = e
            i -= 1

    cdef int _expire_due(self, int64_t ts) except -1:
        cdef GtdEntry e
        while self.gtd_n > 0 and self.gtd[0].expire_ts <= ts:
            e = self.gtd[0]
            self._gtd_pop()
            if self._gtd_valid(&e):
                self._remove_live(e.slot, RK_EXPIRED, R_GTD_EXPIRED)
        return 0

    cdef int _remove_live(self, int64_t slot, int64_t kind, int64_t reason) except -1:
        """Take a resting or pending-stop order off the book, report ``kind`` and free its slot."""
        cdef Order* o = &self.orders[slot]
        cdef int64_t left
        if o.state == ST_RESTING:
            self._unrest(slot)
        elif o.state == ST_STOP:
            self._stop_remove(slot)
        left = o.leaves
        o.leaves = 0
        self._emit(kind, o, o.price, left, 0, 0, 0, reason, 0)
        self._map_del(o.id)
        self._free_slot(slot)
        return 0

    # == matching ====================================================================================
    cdef int64_t _reducible(self, int64_t account, int side, int64_t delta) noexcept:
        cdef int64_t pos = self.positions[account] + delta
        if side == SIDE_BUY:
            return -pos if pos < 0 else 0
        return pos if pos > 0 else 0

    cdef int64_t _scr(self, int64_t account) noexcept:
        return self.scratch[account] if self.touched[account] == self.dry_epoch else 0

    cdef void _scr_add(self, int64_t account, int64_t d) noexcept:
        if self.touched[account] != self.dry_epoch:
            self.touched[account] = self.dry_epoch
            self.scratch[account] = 0
        self.scratch[account] += d

    cdef int64_t _fillable(self, int64_t slot) except -1:
        """Dry run of ``_match`` for FOK: how many lots would fill (stops at the order's leaves)."""
        cdef Order* t = &self.orders[slot]
        cdef int side = t.side
        cdef int opp = 3 - side
        cdef bint is_market = t.type == OT_MARKET or t.type == OT_STOP_MARKET
        cdef bint t_ro = (t.flags & FLAG_REDUCE_ONLY) != 0
        cdef int64_t need = t.leaves
        cdef int64_t got = 0
        cdef int64_t sign = 1 if side == SIDE_BUY else -1
        cdef int64_t pos, li, lp, m, q, r
        cdef Order* mo
        self.dry_epoch += 1
        pos = self.side_n[opp] - 1
        while pos >= 0:
            li = self.side_lv[opp][pos]
            lp = self.levels[li].price
            if not is_market and ((side == SIDE_BUY and lp > t.price) or (side == SIDE_SELL and lp < t.price)):
                break
            m = self.levels[li].head
            while m != -1:
                mo = &self.orders[m]
                if mo.account == t.account and self.stp_mode != STP_NONE:
                    if self.stp_mode == STP_CANCEL_MAKER:
                        m = mo.next
                        continue
                    return got
                q = _min(need - got, mo.leaves)
                if t_ro:
                    r = self._reducible(t.account, side, self._scr(t.account))
                    if r == 0:
                        return got
                    q = _min(q, r)
                if mo.flags & FLAG_REDUCE_ONLY:
                    r = self._reducible(mo.account, mo.side, self._scr(mo.account))
                    if r == 0:
                        m = mo.next
                        continue
                    q = _min(q, r)
                got += q
                self._scr_add(t.account, sign * q)
                self._scr_add(mo.account, -sign * q)
                if got >= need:
                    return got
                m = mo.next
            pos -= 1
        return got

    cdef int _cancel_taker(self, int64_t slot, int64_t reason) except -1:
        cdef Order* t = &self.orders[slot]
        cdef int64_t left = t.leaves
        t.leaves = 0
        self._emit(RK_CANCELED, t, t.price, left, 0, 0, 0, reason, 0)
        return 0

    cdef int _match(self, int64_t slot) except -1:
        """Take liquidity for the order in ``slot`` (not on the book) until done or out of price."""
        cdef Order* t = &self.orders[slot]
        cdef int side = t.side
        cdef int opp = 3 - side
        cdef bint is_market = t.type == OT_MARKET or t.type == OT_STOP_MARKET
        cdef bint t_ro = (t.flags & FLAG_REDUCE_ONLY) != 0
        cdef int64_t limit = t.price
        cdef int64_t sign = 1 if side == SIDE_BUY else -1
        cdef int64_t li, lp, m, nxt, q, r, tid
        cdef int128 notional
        cdef Level* lv
        cdef Order* mo
        while t.leaves > 0 and self.side_n[opp] > 0:
            li = self.side_lv[opp][self.side_n[opp] - 1]
            lv = &self.levels[li]
            lp = lv.price
            if not is_market and ((side == SIDE_BUY and lp > limit) or (side == SIDE_SELL and lp < limit)):
                break
            m = lv.head
            while m != -1 and t.leaves > 0:
                mo = &self.orders[m]
                nxt = mo.next
                if mo.account == t.account and self.stp_mode != STP_NONE:
                    if self.stp_mode == STP_CANCEL_MAKER:
                        self._remove_live(m, RK_CANCELED, R_SELF_TRADE_PREVENTED)
                        m = nxt
                        continue
                    if self.stp_mode == STP_CANCEL_BOTH:
                        self._remove_live(m, RK_CANCELED, R_SELF_TRADE_PREVENTED)
                    self._cancel_taker(slot, R_SELF_TRADE_PREVENTED)
                    return 0
                q = _min(t.leaves, mo.leaves)
                if t_ro:
                    r = self._reducible(t.account, side, 0)
                    if r == 0:
                        self._cancel_taker(slot, R_REDUCE_ONLY_EXHAUSTED)
                        return 0
                    q = _min(q, r)
                if mo.flags & FLAG_REDUCE_ONLY:
                    r = self._reducible(mo.account, mo.side, 0)
                    if r == 0:
                        self._remove_live(m, RK_CANCELED, R_REDUCE_ONLY_EXHAUSTED)
                        m = nxt
                        continue
                    q = _min(q, r)
                # -- fill q lots at the maker's price --
                tid = self.next_trade_id
                self.next_trade_id = tid + 1
                notional = <int128>lp * q
                t.leaves -= q
                mo.leaves -= q
                lv.total -= q
                self.positions[t.account] += sign * q
                self.positions[mo.account] -= sign * q
                self.last_trade_ticks = lp
                self._emit(RK_FILLED, t, lp, q, tid, LIQ_TAKER,
                           _ceil_div(notional * self.taker_fee_num, self.taker_fee_den), 0, mo.id)
                self._emit(RK_FILLED, mo, lp, q, tid, LIQ_MAKER,
                           _ceil_div(notional * self.maker_fee_num, self.maker_fee_den), 0, t.id)
                if mo.leaves == 0:
                    self._unrest(m)
                    self._map_del(mo.id)
                    self._free_slot(m)
                elif (mo.flags & FLAG_REDUCE_ONLY) and self._reducible(mo.account, mo.side, 0) == 0:
                    self._remove_live(m, RK_CANCELED, R_REDUCE_ONLY_EXHAUSTED)
                if t_ro and t.leaves > 0 and self._reducible(t.account, side, 0) == 0:
                    self._cancel_taker(slot, R_REDUCE_ONLY_EXHAUSTED)
                    return 0
                m = nxt
        return 0

    cdef int _execute_taker(self, int64_t slot) except -1:
        """Run an accepted (or triggered, or re-priced) order: FOK check, match, then rest or cancel."""
        cdef Order* o = &self.orders[slot]
        cdef int64_t left
        if o.tif == TIF_FOK and self._fillable(slot) < o.leaves:
            self._cancel_taker(slot, R_FOK_CANNOT_FILL)
        else:
            self._match(slot)
        o = &self.orders[slot]
        if o.leaves == 0:
            self._map_del(o.id)
            self._free_slot(slot)
            return 0
        if o.type == OT_MARKET or o.type == OT_STOP_MARKET:
            self._cancel_taker(slot, R_NO_LIQUIDITY)
        elif o.tif == TIF_IOC or o.tif == TIF_FOK:
            self._cancel_taker(slot, R_IOC_REMAINDER)
        else:
            self._rest(slot)
            return 0
        self._map_del(o.id)
        self._free_slot(slot)
        return 0

    cdef int _run_triggers(self) except -1:
        cdef int64_t slot, s
        cdef Order* o
        while self.last_trade_ticks > 0:
            slot = -1
            if self.stop_n[SIDE_BUY] > 0:
                s = self.stops[SIDE_BUY][self.stop_n[SIDE_BUY] - 1]
                if self.info[s].trigger <= self.last_trade_ticks:
                    slot = s
            if slot < 0 and self.stop_n[SIDE_SELL] > 0:
                s = self.stops[SIDE_SELL][self.stop_n[SIDE_SELL] - 1]
                if self.info[s].trigger >= self.last_trade_ticks:
                    slot = s
            if slot < 0:
                return 0
            self._stop_remove(slot)
            o = &self.orders[slot]
            o.seq = self.next_seq
            self.next_seq += 1
            self._emit(RK_TRIGGERED, o, o.price, self.info[slot].qty, 0, 0, 0, 0, 0)
            self._execute_taker(slot)
        return 0

    cdef int _would_cross(self, int side, int64_t price) noexcept:
        cdef int opp = 3 - side
        cdef int64_t best
        if self.side_n[opp] == 0:
            return 0
        best = self.levels[self.side_lv[opp][self.side_n[opp] - 1]].price
        return price >= best if side == SIDE_BUY else price <= best

    cdef int _stop_triggers_now(self, int side, int64_t trigger) noexcept:
        if self.last_trade_ticks <= 0:
            return 0
        return self.last_trade_ticks >= trigger if side == SIDE_BUY else self.last_trade_ticks <= trigger

    # == commands (trusted fast paths) ===============================================================
    cdef int submit_c(self, int64_t ts, int64_t order_id, int64_t account, int side, int order_type,
                      int tif, int64_t qty, int64_t price, int64_t trigger, int64_t expire_ts,
                      int flags) except -1:
        cdef int reason = R_NONE
        cdef bint limit_type = order_type == OT_LIMIT or order_type == OT_STOP_LIMIT
        cdef bint stop_type = order_type == OT_STOP_MARKET or order_type == OT_STOP_LIMIT
        cdef int64_t ref, slot, cap
        cdef int64_t pos = 0
        cdef int opp
        cdef int128 notional
        cdef Order* o
        self.now = ts
        if self.gtd_n and self.gtd[0].expire_ts <= ts:
            self._expire_due(ts)
        if order_id > 0:
            pos = self._map_probe(order_id)
        if order_id <= 0:
            reason = R_INVALID_ORDER_ID
        elif self.map[pos].key == order_id:
            reason = R_DUPLICATE_ORDER_ID
        elif account < 0 or account >= MAX_ACCOUNTS:
            reason = R_INVALID_ACCOUNT
        elif side != SIDE_BUY and side != SIDE_SELL:
            reason = R_INVALID_SIDE
        elif order_type < OT_MARKET or order_type > OT_STOP_LIMIT:
            reason = R_INVALID_ORDER_TYPE
        elif tif < TIF_GTC or tif > TIF_GTD or (order_type == OT_MARKET and tif == TIF_GTD):
            reason = R_INVALID_TIME_IN_FORCE
        elif qty <= 0 or qty > MAX_VALUE:
            reason = R_INVALID_QUANTITY
        elif (limit_type and (price <= 0 or price > MAX_VALUE)) or (not limit_type and price != 0):
            reason = R_INVALID_PRICE
        elif (stop_type and (trigger <= 0 or trigger > MAX_VALUE)) or (not stop_type and trigger != 0):
            reason = R_INVALID_TRIGGER_PRICE
        elif (tif == TIF_GTD and expire_ts <= ts) or (tif != TIF_GTD and expire_ts != 0):
            reason = R_INVALID_EXPIRE_TIME
        elif flags & ~(FLAG_POST_ONLY | FLAG_REDUCE_ONLY):
            reason = R_INVALID_FLAGS
        elif (flags & FLAG_POST_ONLY) and (order_type != OT_LIMIT or tif == TIF_IOC or tif == TIF_FOK):
            reason = R_POST_ONLY_INVALID
        elif qty < self.min_lots:
            reason = R_BELOW_MIN_QUANTITY
        elif self.max_lots and qty > self.max_lots:
            reason = R_ABOVE_MAX_QUANTITY
        if reason == R_NONE:
            opp = 3 - side
            if limit_type:
                ref = price
            elif stop_type:
                ref = trigger
            elif self.side_n[opp]:
                ref = self.levels[self.side_lv[opp][self.side_n[opp] - 1]].price
            else:
                ref = 0
                reason = R_NO_LIQUIDITY
            if reason == R_NONE:
                notional = <int128>ref * qty
                if notional < self.min_notional:
                    reason = R_BELOW_MIN_NOTIONAL
                elif limit_type and notional > self.max_notional:
                    reason = R_ABOVE_MAX_NOTIONAL
        if reason == R_NONE:
            self._ensure_account(account)
            if (flags & FLAG_REDUCE_ONLY) and self._reducible(account, side, 0) == 0:
                reason = R_REDUCE_ONLY_WOULD_INCREASE
            elif stop_type and self._stop_triggers_now(side, trigger):
                reason = R_STOP_WOULD_TRIGGER
            elif (flags & FLAG_POST_ONLY) and self._would_cross(side, price):
                reason = R_POST_ONLY_WOULD_TAKE
        if reason != R_NONE:
            self._emit_raw(RK_REJECTED, order_id, account, side, price, qty, trigger, reason)
            return reason
        cap = self.order_cap
        slot = self._alloc_slot()
        if cap != self.order_cap:  # the pool grew and the id map was rebuilt: probe again
            pos = self._map_probe(order_id)
        self.map[pos].key = order_id
        self.map[pos].slot = slot
        o = &self.orders[slot]
        o.id = order_id
        o.seq = self.next_seq
        self.next_seq += 1
        o.account = <int32_t>account
        o.price = price
        o.leaves = qty
        o.level = -1
        o.side = side
        o.type = order_type
        o.tif = tif
        o.flags = flags | (FLAG_HAS_TRIGGER if trigger else 0)
        o.state = ST_TAKING
        self.info[slot].trigger = trigger
        self.info[slot].qty = qty
        self.info[slot].expire_ts = expire_ts
        self.info[slot].ts = ts
        self._emit(RK_ACCEPTED, o, price, qty, 0, 0, 0, 0, 0)
        if tif == TIF_GTD:
            self._gtd_push(expire_ts, order_id, slot)
        if stop_type:
            self._stop_insert(slot)
            return 0
        self._execute_taker(slot)
        if self.stop_n[SIDE_BUY] or self.stop_n[SIDE_SELL]:
            self._run_triggers()
        return 0

    cdef int cancel_c(self, int64_t ts, int64_t order_id) except -1:
        cdef int64_t slot
        self.now = ts
        if self.gtd_n and self.gtd[0].expire_ts <= ts:
            self._expire_due(ts)
        slot = self._map_find(order_id) if order_id > 0 else -1
        if slot < 0:
            self._emit_raw(RK_CANCEL_REJECTED, order_id, -1, 0, 0, 0, 0, R_UNKNOWN_ORDER)
            return R_UNKNOWN_ORDER
        self._remove_live(slot, RK_CANCELED, R_CANCELED)
        return 0

    cdef int amend_c(self, int64_t ts, int64_t order_id, int64_t qty, int64_t price,
                     int64_t trigger) except -1:
        cdef int64_t slot, filled, nq, np_, nt, ref, d
        cdef int reason = R_NONE
        cdef bint limit_type
        cdef bint reprio
        cdef int128 notional
        cdef Order* o
        cdef OrderInfo* inf
        self.now = ts
        if self.gtd_n and self.gtd[0].expire_ts <= ts:
            self._expire_due(ts)
        slot = self._map_find(order_id) if order_id > 0 else -1
        if slot < 0:
            self._emit_raw(RK_AMEND_REJECTED, order_id, -1, 0, price, qty, trigger, R_UNKNOWN_ORDER)
            return R_UNKNOWN_ORDER
        o = &self.orders[slot]
        limit_type = o.type == OT_LIMIT or o.type == OT_STOP_LIMIT
        inf = &self.info[slot]
        filled = inf.qty - o.leaves
        nq = qty if qty > 0 else inf.qty
        np_ = price if price > 0 else o.price
        nt = trigger if trigger > 0 else inf.trigger
        if qty < 0 or qty > MAX_VALUE:
            reason = R_INVALID_QUANTITY
        elif price < 0 or price > MAX_VALUE or (price > 0 and not limit_type):
            reason = R_INVALID_PRICE
        elif trigger < 0 or trigger > MAX_VALUE or (trigger > 0 and o.state != ST_STOP):
            reason = R_INVALID_TRIGGER_PRICE
        elif nq <= filled:
            reason = R_AMEND_QUANTITY_BELOW_FILLED
        elif nq < self.min_lots:
            reason = R_BELOW_MIN_QUANTITY
        elif self.max_lots and nq > self.max_lots:
            reason = R_ABOVE_MAX_QUANTITY
        else:
            ref = np_ if limit_type else nt
            notional = <int128>ref * nq
            if notional < self.min_notional:
                reason = R_BELOW_MIN_NOTIONAL
            elif limit_type and notional > self.max_notional:
                reason = R_ABOVE_MAX_NOTIONAL
            elif o.state == ST_STOP and nt != inf.trigger and self._stop_triggers_now(o.side, nt):
                reason = R_STOP_WOULD_TRIGGER
            elif (o.state == ST_RESTING and np_ != o.price and (o.flags & FLAG_POST_ONLY)
                  and self._would_cross(o.side, np_)):
                reason = R_POST_ONLY_WOULD_TAKE
        if reason != R_NONE:
            self._emit(RK_AMEND_REJECTED, o, o.price, inf.qty, 0, 0, 0, reason, 0)
            return reason
        if o.state == ST_STOP:
            reprio = nt != inf.trigger or nq > inf.qty
            if reprio:
                self._stop_remove(slot)
            inf.qty = nq
            o.leaves = nq - filled
            o.price = np_
            inf.trigger = nt
            o.flags = (o.flags & ~FLAG_HAS_TRIGGER) | (FLAG_HAS_TRIGGER if nt else 0)
            if reprio:
                o.seq = self.next_seq
                self.next_seq += 1
                self._stop_insert(slot)
            self._emit(RK_UPDATED, o, o.price, inf.qty, 0, 0, 0, 0, 0)
            return 0
        if np_ != o.price:
            self._unrest(slot)
            o.price = np_
            inf.qty = nq
            o.leaves = nq - filled
            o.seq = self.next_seq
            self.next_seq += 1
            self._emit(RK_UPDATED, o, o.price, inf.qty, 0, 0, 0, 0, 0)
            self._execute_taker(slot)
            if self.stop_n[SIDE_BUY] or self.stop_n[SIDE_SELL]:
                self._run_triggers()
            return 0
        if nq > inf.qty:
            self._unrest(slot)
            inf.qty = nq
            o.leaves = nq - filled
            o.seq = self.next_seq
            self.next_seq += 1
            self._rest(slot)
        else:
            d = inf.qty - nq
            inf.qty = nq
            o.leaves -= d
            self.levels[o.level].total -= d
        self._emit(RK_UPDATED, o, o.price, inf.qty, 0, 0, 0, 0, 0)
        return 0

    cdef int cancel_all_c(self, int64_t ts, int64_t account, int side) except -1:
        cdef int64_t s, nxt
        self.now = ts
        if self.gtd_n and self.gtd[0].expire_ts <= ts:
            self._expire_due(ts)
        if account < 0 or account >= MAX_ACCOUNTS:
            return R_INVALID_ACCOUNT
        if side != 0 and side != SIDE_BUY and side != SIDE_SELL:
            return R_INVALID_SIDE
        if account >= self.acct_cap:
            return 0
        s = self.acct_head[account]
        while s != -1:
            nxt = self.orders[s].anext
            if side == 0 or self.orders[s].side == side:
                self._remove_live(s, RK_CANCELED, R_CANCELED)
            s = nxt
        return 0

    # == Python entry points (validate, reset the report buffer, call the fast path) ================
    cpdef int submit(self, int64_t ts, int64_t order_id, int64_t account, int side, int order_type,
                     int tif, int64_t qty, int64_t price=0, int64_t trigger=0, int64_t expire_ts=0,
                     int flags=0) except -1:
        """Submit an order; returns 0 when accepted, else the reject reason. Reports in the buffer."""
        self.n_reports = 0
        return self.submit_c(ts, order_id, account, side, order_type, tif, qty, price, trigger,
                             expire_ts, flags)

    cpdef int cancel(self, int64_t ts, int64_t order_id) except -1:
        """Cancel a live order; returns 0 or UNKNOWN_ORDER (with a CANCEL_REJECTED report)."""
        self.n_reports = 0
        return self.cancel_c(ts, order_id)

    cpdef int amend(self, int64_t ts, int64_t order_id, int64_t qty=0, int64_t price=0,
                    int64_t trigger=0) except -1:
        """Amend total quantity / price / trigger (0 keeps); returns 0 or the reason it was refused."""
        self.n_reports = 0
        return self.amend_c(ts, order_id, qty, price, trigger)

    cpdef int cancel_all(self, int64_t ts, int64_t account, int side=0) except -1:
        """Cancel the account's live orders (one side, or both with ``side=0``), oldest first."""
        self.n_reports = 0
        return self.cancel_all_c(ts, account, side)

    cpdef int64_t advance(self, int64_t ts) except -1:
        """Move time to ``ts``: expire due GTD orders. Returns the number of reports written."""
        self.n_reports = 0
        self.now = ts
        self._expire_due(ts)
        return self.n_reports

    def process(self, const int64_t[:, ::1] ops not None):
        """Run a batch of ops (rows laid out as ``BATCH_COLUMNS``); reports accumulate over the batch.

        Returns the number of reports. A row with an unknown op raises ``ValueError`` after the rows
        before it ran.
        """
        cdef Py_ssize_t i, n = ops.shape[0]
        cdef int64_t op
        if ops.shape[1] != len(BATCH_COLUMNS):
            raise ValueError(f"ops must have {len(BATCH_COLUMNS)} columns: {BATCH_COLUMNS}")
        self.n_reports = 0
        for i in range(n):
            op = ops[i, 0]
            if op == OP_SUBMIT:
                self.submit_c(ops[i, 1], ops[i, 2], ops[i, 3], <int>ops[i, 4], <int>ops[i, 5],
                              <int>ops[i, 6], ops[i, 7], ops[i, 8], ops[i, 9], ops[i, 10], <int>ops[i, 11])
            elif op == OP_CANCEL:
                self.cancel_c(ops[i, 1], ops[i, 2])
            elif op == OP_AMEND:
                self.amend_c(ops[i, 1], ops[i, 2], ops[i, 7], ops[i, 8], ops[i, 9])
            elif op == OP_CANCEL_ALL:
                self.cancel_all_c(ops[i, 1], ops[i, 3], <int>ops[i, 4])
            elif op == OP_ADVANCE:
                self.now = ops[i, 1]
                self._expire_due(ops[i, 1])
            else:
                raise ValueError(f"row {i}: unknown op {op}")
        return self.n_reports

    # == reading reports =============================================================================
    @property
    def reports(self):
        """The reports of the last call: an int64 array of shape (NUM_FIELDS, n_reports) (a view)."""
        return self._reports[:, :self.n_reports]

    def accepted_only(self, int64_t order_id):
        """True when the last call's only report is the acknowledgement of ``order_id`` (an order that
        rests untouched: the common outcome of a submit, which a venue then reports without reading
        the rows)."""
        return (self.n_reports == 1 and self.rep[F_KIND * self.rep_cap] == RK_ACCEPTED
                and self.rep[F_ORDER_ID * self.rep_cap] == order_id)

    def report_rows(self):
        """The reports of the last call as a list of rows (lists of ints in ``FIELD_NAMES`` order).

        Read straight from the buffer (a venue reads the reports of every call: ~4x cheaper than
        slicing, transposing and listing the array, which costs ~0.45 us for one report)."""
        cdef int64_t i, f
        cdef int64_t n = self.n_reports
        cdef int64_t c = self.rep_cap
        cdef int64_t* r = self.rep
        cdef list out = []
        cdef list row
        for i in range(n):
            row = [r[f * c + i] for f in range(N_FIELDS)]
            out.append(row)
        return out

    # == reading the book ============================================================================
    cpdef int64_t best_bid(self):
        """Best bid price in ticks, 0 when there are no bids."""
        if self.side_n[SIDE_BUY] == 0:
            return 0
        return self.side_keys[SIDE_BUY][self.side_n[SIDE_BUY] - 1]

    cpdef int64_t best_ask(self):
        """Best ask price in ticks, 0 when there are no asks."""
        if self.side_n[SIDE_SELL] == 0:
            return 0
        return -self.side_keys[SIDE_SELL][self.side_n[SIDE_SELL] - 1]

    cpdef int64_t best_bid_lots(self):
        if self.side_n[SIDE_BUY] == 0:
            return 0
        return self.levels[self.side_lv[SIDE_BUY][self.side_n[SIDE_BUY] - 1]].total

    cpdef int64_t best_ask_lots(self):
        if self.side_n[SIDE_SELL] == 0:
            return 0
        return self.levels[self.side_lv[SIDE_SELL][self.side_n[SIDE_SELL] - 1]].total

    def top(self):
        """``(best_bid, best_bid_lots, best_ask, best_ask_lots)`` in one call (0 for an empty side):
        what a venue compares after every call to know whether its quote moved."""
        return (self.best_bid(), self.best_bid_lots(), self.best_ask(), self.best_ask_lots())

    def level_count(self, int side):
        """Number of price levels on a side."""
        _check_side(side)
        return self.side_n[side]

    def depth(self, int side, Py_ssize_t n):
        """Top ``n`` levels of a side, best first: (prices, lots, order counts) as int64 arrays."""
        cdef Py_ssize_t k, i
        cdef Level* lv
        cdef int64_t[::1] pv
        cdef int64_t[::1] lv_
        cdef int64_t[::1] cv
        _check_side(side)
        k = min(n, self.side_n[side]) if n >= 0 else 0
        prices = np.empty(k, dtype=np.int64)
        lots = np.empty(k, dtype=np.int64)
        counts = np.empty(k, dtype=np.int64)
        pv = prices
        lv_ = lots
        cv = counts
        for i in range(k):
            lv = &self.levels[self.side_lv[side][self.side_n[side] - 1 - i]]
            pv[i] = lv.price
            lv_[i] = lv.total
            cv[i] = lv.count
        return prices, lots, counts

    def level_lots(self, int side, int64_t price):
        """Total resting lots at ``price`` on ``side`` (0 if no level)."""
        cdef int64_t li = self._find_level(side, price)
        return 0 if li < 0 else self.levels[li].total

    def level_order_ids(self, int side, int64_t price):
        """Order ids resting at ``price`` on ``side`` in queue (FIFO) order."""
        cdef int64_t li = self._find_level(side, price)
        cdef int64_t m
        out = []
        if li >= 0:
            m = self.levels[li].head
            while m != -1:
                out.append(self.orders[m].id)
                m = self.orders[m].next
        return out

    cdef int64_t _find_level(self, int side, int64_t price) except -2:
        cdef int64_t n, lo, hi, mid, k
        _check_side(side)
        n = self.side_n[side]
        k = _key(side, price)
        lo = 0
        hi = n
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.side_keys[side][mid] < k:
                lo = mid + 1
            else:
                hi = mid
        if lo < n and self.side_keys[side][lo] == k:
            return self.side_lv[side][lo]
        return -1

    def stop_order_ids(self, int side):
        """Pending stop order ids of a side in trigger order (next to trigger first)."""
        cdef int64_t i
        _check_side(side)
        return [self.orders[self.stops[side][i]].id for i in range(self.stop_n[side] - 1, -1, -1)]

    def order(self, int64_t order_id):
        """A live order as a dict (``ORDER_COLUMNS`` keys), or None."""
        cdef int64_t slot = self._map_find(order_id) if order_id > 0 else -1
        if slot < 0 or (self.orders[slot].state != ST_RESTING and self.orders[slot].state != ST_STOP):
            return None
        return dict(zip(ORDER_COLUMNS, self._order_row(slot)))

    cdef tuple _order_row(self, int64_t slot):
        cdef Order* o = &self.orders[slot]
        cdef OrderInfo* inf = &self.info[slot]
        return (o.id, o.seq, o.account, o.side, o.type, o.tif, o.flags & (FLAG_POST_ONLY | FLAG_REDUCE_ONLY),
                o.price, inf.trigger, inf.qty, o.leaves, inf.expire_ts, inf.ts, o.state)

    def position(self, int64_t account):
        """Net position of ``account`` in lots (positive long)."""
        if account < 0:
            raise ValueError("account must be >= 0")
        return self.positions[account] if account < self.acct_cap else 0

    def account_order_ids(self, int64_t account):
        """Live order ids of ``account``, oldest priority first."""
        cdef int64_t s
        out = []
        if 0 <= account < self.acct_cap:
            s = self.acct_head[account]
            while s != -1:
                out.append(self.orders[s].id)
                s = self.orders[s].anext
        return out

    def next_expiry_ts(self):
        """The earliest pending GTD expiry (ns), or 0 when none."""
        while self.gtd_n and not self._gtd_valid(&self.gtd[0]):
            self._gtd_pop()
        return self.gtd[0].expire_ts if self.gtd_n else 0

    # == snapshot / restore ==========================================================================
    def orders_array(self):
        """Every live order as rows of ``ORDER_COLUMNS``, in priority (sequence) order."""
        cdef int64_t i
        rows = [self._order_row(i) for i in range(self.order_cap)
                if self.orders[i].state == ST_RESTING or self.orders[i].state == ST_STOP]
        rows.sort(key=lambda r: r[1])
        return np.array(rows, dtype=np.int64).reshape(len(rows), len(ORDER_COLUMNS))

    def positions_dict(self):
        """Non-zero positions: {account: lots}."""
        cdef int64_t a
        return {a: self.positions[a] for a in range(self.acct_cap) if self.positions[a] != 0}

    def state_dict(self):
        """Counters that must survive a restore."""
        return {"next_trade_id": self.next_trade_id, "next_seq": self.next_seq,
                "last_trade_ticks": self.last_trade_ticks, "now": self.now}

    def restore_state(self, *, int64_t next_trade_id, int64_t next_seq, int64_t last_trade_ticks,
                      int64_t now=0):
        if next_trade_id < 1 or next_seq < 1 or last_trade_ticks < 0:
            raise ValueError("invalid counters")
        if next_seq < self.next_seq:
            raise ValueError("next_seq would go backwards")
        self.next_trade_id = next_trade_id
        self.next_seq = next_seq
        self.last_trade_ticks = last_trade_ticks
        self.now = now

    def set_position(self, int64_t account, int64_t lots):
        if account < 0 or account >= MAX_ACCOUNTS:
            raise ValueError("account out of range")
        self._ensure_account(account)
        self.positions[account] = lots

    def restore_order(self, int64_t order_id, int64_t seq, int64_t account, int side, int order_type,
                      int tif, int flags, int64_t price, int64_t trigger, int64_t qty, int64_t leaves,
                      int64_t expire_ts, int64_t ts, int state):
        """Put back one live order exactly as ``orders_array`` gave it (call in sequence order).

        No matching happens; the order goes to the tail of its level (or the stop book).
        """
        cdef int64_t slot
        cdef Order* o
        if order_id <= 0 or self._map_find(order_id) >= 0:
            raise ValueError(f"order id {order_id} is invalid or already live")
        if seq < self.next_seq:
            raise ValueError("orders must be restored in increasing sequence order")
        if account < 0 or account >= MAX_ACCOUNTS or side not in (SIDE_BUY, SIDE_SELL):
            raise ValueError("invalid account or side")
        if not (0 < leaves <= qty) or state not in (ST_RESTING, ST_STOP):
            raise ValueError("invalid quantities or state")
        if state == ST_RESTING and (price <= 0 or order_type not in (OT_LIMIT, OT_STOP_LIMIT)):
            raise ValueError("a resting order needs a limit price")
        if state == ST_STOP and order_type not in (OT_STOP_MARKET, OT_STOP_LIMIT):
            raise ValueError("a pending stop must be a stop order")
        self._ensure_account(account)
        slot = self._alloc_slot()
        self._map_put(order_id, slot)
        o = &self.orders[slot]
        o.id = order_id
        o.seq = seq
        o.account = <int32_t>account
        o.price = price
        o.leaves = leaves
        o.level = -1
        o.side = side
        o.type = order_type
        o.tif = tif
        o.flags = (flags & (FLAG_POST_ONLY | FLAG_REDUCE_ONLY)) | (FLAG_HAS_TRIGGER if trigger else 0)
        o.state = ST_TAKING
        self.info[slot].trigger = trigger
        self.info[slot].qty = qty
        self.info[slot].expire_ts = expire_ts
        self.info[slot].ts = ts
        self.next_seq = seq + 1
        if tif == TIF_GTD:
            self._gtd_push(expire_ts, order_id, slot)
        if state == ST_STOP:
            self._stop_insert(slot)
        else:
            self._rest(slot)

    # == invariants (tests, and a check the venue can run before trusting restored state) ============
    def check_invariants(self):
        """Raise ``AssertionError`` naming the first broken structural invariant."""
        cdef int side
        cdef int64_t i, li, m, prev, total, count, live = 0, seen
        cdef int64_t last_seq
        for side in (SIDE_BUY, SIDE_SELL):
            for i in range(self.side_n[side]):
                li = self.side_lv[side][i]
                if i and self.side_keys[side][i] <= self.side_keys[side][i - 1]:
                    raise AssertionError(f"side {side}: level keys not strictly increasing at {i}")
                if _key(side, self.levels[li].price) != self.side_keys[side][i]:
                    raise AssertionError("level key does not match its price")
                total = 0
                count = 0
                prev = -1
                last_seq = -1
                m = self.levels[li].head
                while m != -1:
                    if self.orders[m].state != ST_RESTING or self.orders[m].level != li:
                        raise AssertionError(f"order {self.orders[m].id} in a level but not resting there")
                    if self.orders[m].prev != prev:
                        raise AssertionError("broken prev link")
                    if self.orders[m].seq <= last_seq:
                        raise AssertionError("FIFO not in sequence order")
                    if self.orders[m].leaves <= 0 or self.orders[m].side != side:
                        raise AssertionError("resting order with no leaves or on the wrong side")
                    if self.orders[m].price != self.levels[li].price:
                        raise AssertionError("resting order price differs from its level")
                    last_seq = self.orders[m].seq
                    total += self.orders[m].leaves
                    count += 1
                    prev = m
                    m = self.orders[m].next
                if prev != self.levels[li].tail or count != self.levels[li].count or count == 0:
                    raise AssertionError("level tail/count mismatch or empty level")
                if total != self.levels[li].total:
                    raise AssertionError(f"level total {self.levels[li].total} != sum of leaves {total}")
                live += count
            for i in range(self.stop_n[side]):
                if self.orders[self.stops[side][i]].state != ST_STOP:
                    raise AssertionError("stop book holds a non-stop slot")
            live += self.stop_n[side]
        if self.best_bid() and self.best_ask() and self.best_bid() >= self.best_ask():
            raise AssertionError(f"book crossed: bid {self.best_bid()} >= ask {self.best_ask()}")
        if live != self.order_count:
            raise AssertionError(f"{live} live orders in books but order_count is {self.order_count}")
        seen = 0
        for i in range(self.map_mask + 1):
            if self.map[i].key != 0:
                seen += 1
                m = self.map[i].slot
                if self.orders[m].id != self.map[i].key or self.orders[m].state == ST_FREE:
                    raise AssertionError("id map points at the wrong slot")
                if self._map_find(self.map[i].key) != m:
                    raise AssertionError("id map entry unreachable by probing")
        if seen != self.order_count:
            raise AssertionError(f"id map holds {seen} keys for {self.order_count} orders")
        seen = 0
        for i in range(self.acct_cap):
            m = self.acct_head[i]
            last_seq = -1
            while m != -1:
                if self.orders[m].account != i:
                    raise AssertionError("order in another account's list")
                if self.orders[m].seq <= last_seq:
                    raise AssertionError("account list not in sequence order")
                last_seq = self.orders[m].seq
                seen += 1
                m = self.orders[m].anext
        if seen != self.order_count:
            raise AssertionError(f"account lists hold {seen} orders for {self.order_count}")


cdef int _check_side(int side) except -1:
    if side != SIDE_BUY and side != SIDE_SELL:
        raise ValueError(f"side must be 1 (BUY/bids) or 2 (SELL/asks), got {side}")
    return 0
