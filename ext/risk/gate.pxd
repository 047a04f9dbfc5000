# cython: language_level=3
"""C-level layout of the pre-trade risk gate (gate.pyx holds the rules).

Cimport as ``from engine.ext.risk.gate cimport RiskGate`` (or ``risk.gate`` with ``ext/`` as the
include root).
"""

from libc.stdint cimport int32_t, int64_t

cdef extern from *:
    ctypedef long long int128 "__int128"

# Reason codes (0 = pass). Stable: the Python IntEnum ``RiskReason`` mirrors them.
cdef enum:
    R_OK = 0
    R_UNKNOWN_ACCOUNT = 1
    R_UNKNOWN_INSTRUMENT = 2
    R_UNKNOWN_STRATEGY = 3
    R_NO_LIMITS = 4
    R_INSTRUMENT_NOT_TRADABLE = 5
    R_INVALID_ORDER = 6
    R_PRICE_OFF_TICK = 7
    R_SIZE_OFF_INCREMENT = 8
    R_DUPLICATE_CLIENT_ORDER_ID = 9
    R_BELOW_MIN_QUANTITY = 10
    R_MAX_ORDER_QUANTITY = 11
    R_NO_REFERENCE_PRICE = 12
    R_STALE_MARKET_DATA = 13
    R_PRICE_BAND = 14
    R_BELOW_MIN_NOTIONAL = 15
    R_MAX_ORDER_NOTIONAL = 16
    R_SELF_CROSS = 17
    R_MAX_POSITION = 18
    R_MAX_OPEN_ORDERS = 19
    R_MAX_GROSS_EXPOSURE = 20
    R_MAX_NET_EXPOSURE = 21
    R_TRADING_HALTED = 22
    R_REDUCING_ONLY = 23
    R_THROTTLED_ACCOUNT = 24
    R_THROTTLED_STRATEGY = 25
    R_UNKNOWN_ORDER = 26

cdef enum:
    G_BUY = 1
    G_SELL = 2
    G_MARKET = 1
    G_LIMIT = 2
    G_STOP_MARKET = 3
    G_STOP_LIMIT = 4
    G_ACTIVE = 1
    G_REDUCING = 2
    G_HALTED = 3
    G_REF_LAST = 1
    G_REF_MID = 2

cdef struct Bucket:
    int64_t rate          # orders per second (= token units refilled per ns)
    int64_t capacity      # burst * TOKEN
    int64_t tokens        # token units; one order costs TOKEN
    int64_t last_ts       # ts of the last refill; -1 = never used (full)

cdef struct Inst:
    int32_t registered
    int32_t has_limits
    int32_t tradable
    int32_t ref_kind
    int32_t price_precision  # decimal places of a raw price
    int32_t size_precision
    int64_t price_step    # raw units (at the instrument's price precision) per tick
    int64_t size_step     # raw units (at the size precision) per lot
    int64_t factor        # notional units per tick * lot
    int64_t min_lots
    int64_t min_notional  # notional units
    int64_t max_order_lots
    int64_t max_order_notional
    int64_t max_position_lots
    int64_t band_bps
    int64_t max_age_ns
    int64_t last_ticks
    int64_t bid_ticks
    int64_t ask_ticks
    int64_t md_ts         # ts of the last market update; -1 = none yet
    int64_t mark2         # valuation price in half ticks (2 * last or bid + ask); 0 = none
    int64_t active_pairs  # accounts with a position or open orders here

cdef struct Pair:
    int64_t position      # signed lots
    int64_t open_buy      # leaves of open buy orders (lots)
    int64_t open_sell
    int64_t best_buy      # our best resting LIMIT buy (ticks); 0 = none
    int64_t best_sell
    int64_t best_buy_n    # how many of our resting buys are at best_buy
    int64_t best_sell_n
    int64_t head          # first order slot of this pair's list; -1 = none
    int32_t active
    int128 gross2         # cached exposure contributions in half notional units
    int128 up2
    int128 lo2

cdef struct Account:
    int32_t registered
    int32_t has_limits
    int32_t state
    int64_t max_gross     # notional units
    int64_t max_net
    int64_t max_open_orders
    int64_t open_orders
    Bucket bucket
    int128 gross2
    int128 up2
    int128 lo2

cdef struct Strategy:
    int32_t registered
    int32_t has_limits
    Bucket bucket

cdef struct Order:
    int64_t key
    int32_t acc
    int32_t inst
    int32_t strat
    int32_t side
    int32_t otype
    int64_t price
    int64_t trigger
    int64_t total
    int64_t leaves
    int64_t next
    int64_t prev


cdef class RiskGate:
    cdef readonly int max_accounts
    cdef readonly int max_instruments
    cdef readonly int max_strategies
    cdef readonly int global_state
    cdef Inst* insts
    cdef Account* accs
    cdef Strategy* strats
    cdef Pair* pairs
    cdef Order* orders
    cdef int64_t order_cap
    cdef int64_t free_head
    cdef readonly int64_t order_count
    cdef dict slots        # order key -> slot
    cdef list coids        # per account: set of client order ids approved so far
    # The last check's approval of a new order (what ``open_approved`` opens): its client order id
    # (None: the last check was no such approval, or it was opened) and the values it derived.
    cdef object approved_coid
    cdef Order approved

    cdef int check_c(self, int acc, int inst, int strat, int side, int otype, int64_t price_raw,
                     int64_t trigger_raw, int64_t qty_raw, bint reduce_only, object coid,
                     int64_t ts) except -1
    cdef int check_fixed_c(self, int acc, int inst, int strat, int side, int otype, int64_t price_raw,
                           int price_precision, int64_t trigger_raw, int trigger_precision, int64_t qty_raw,
                           int qty_precision, bint reduce_only, object coid, int64_t ts) except -1
    cdef int check_amend_c(self, int64_t key, int64_t price_raw, int64_t trigger_raw, int64_t qty_raw,
                           int64_t ts) except -1
    cdef int _evaluate(self, int acc, int inst, int strat, int side, int otype, int64_t price_raw,
                       int64_t trigger_raw, int64_t qty_raw, bint reduce_only, object coid,
                       int64_t ts, Order* replacing, int fault) except -1
    cdef void _refresh_pair(self, int acc, int inst) noexcept
    cdef void _revalue(self, int inst) noexcept
    cdef void _rescan_best(self, int acc, int inst, int side) noexcept
    cdef int64_t _alloc_slot(self) except -1
    cdef void _unlink(self, int64_t slot) noexcept
    cdef void _add_open(self, int64_t slot) noexcept
    cdef void _remove_open(self, int64_t slot) noexcept
    cdef Inst* _inst(self, int inst) except NULL
    cdef Account* _acc(self, int acc) except NULL
    cdef Strategy* _strat(self, int strat) except NULL
    cdef Pair* _pair(self, int acc, int inst) noexcept
    cdef void _after_market(self, int inst, int64_t ts) noexcept
    cdef int64_t _slot_of(self, int64_t key) except -2
    cdef int64_t _existing(self, int64_t key) except -1
    cdef void _free(self, int64_t slot)
