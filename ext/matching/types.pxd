# cython: language_level=3
"""C-level constants and structs of the L3 matching engine (engine.pyx holds the model and rules).

Cimport as ``from matching.types cimport ...`` (``ext/`` is the Cython include root).
"""

from libc.stdint cimport int32_t, int64_t, uint8_t

cdef enum:
    # sides
    SIDE_BUY = 1
    SIDE_SELL = 2
    # order types
    OT_MARKET = 1
    OT_LIMIT = 2
    OT_STOP_MARKET = 3
    OT_STOP_LIMIT = 4
    # time in force
    TIF_GTC = 1
    TIF_IOC = 2
    TIF_FOK = 3
    TIF_GTD = 4
    # flags
    FLAG_POST_ONLY = 1
    FLAG_REDUCE_ONLY = 2
    FLAG_HAS_TRIGGER = 4   # internal: the order's OrderInfo.trigger is non-zero
    # order slot states
    ST_FREE = 0
    ST_RESTING = 1
    ST_STOP = 2
    ST_TAKING = 3
    # self-trade prevention
    STP_NONE = 0
    STP_CANCEL_TAKER = 1
    STP_CANCEL_MAKER = 2
    STP_CANCEL_BOTH = 3
    # liquidity
    LIQ_MAKER = 1
    LIQ_TAKER = 2

# Report kinds.
cdef enum:
    RK_ACCEPTED = 1
    RK_REJECTED = 2
    RK_FILLED = 3
    RK_CANCELED = 4
    RK_EXPIRED = 5
    RK_UPDATED = 6
    RK_TRIGGERED = 7
    RK_AMEND_REJECTED = 8
    RK_CANCEL_REJECTED = 9

# Report fields (rows of the struct-of-arrays report buffer).
cdef enum:
    F_KIND = 0
    F_ORDER_ID = 1
    F_ACCOUNT = 2
    F_SIDE = 3
    F_PRICE = 4
    F_QTY = 5
    F_LEAVES = 6
    F_TRADE_ID = 7
    F_LIQUIDITY = 8
    F_FEE = 9
    F_TS = 10
    F_REASON = 11
    F_CONTRA_ID = 12
    F_TRIGGER = 13
    N_FIELDS = 14

# Reasons (rejects, cancels). Names in engine.pyx REASON_NAMES; codes are stable.
cdef enum:
    R_NONE = 0
    R_INVALID_ORDER_ID = 1
    R_DUPLICATE_ORDER_ID = 2
    R_INVALID_ACCOUNT = 3
    R_INVALID_SIDE = 4
    R_INVALID_ORDER_TYPE = 5
    R_INVALID_TIME_IN_FORCE = 6
    R_INVALID_QUANTITY = 7
    R_INVALID_PRICE = 8
    R_INVALID_TRIGGER_PRICE = 9
    R_INVALID_EXPIRE_TIME = 10
    R_INVALID_FLAGS = 11
    R_POST_ONLY_INVALID = 12
    R_BELOW_MIN_QUANTITY = 13
    R_ABOVE_MAX_QUANTITY = 14
    R_BELOW_MIN_NOTIONAL = 15
    R_ABOVE_MAX_NOTIONAL = 16
    R_NO_LIQUIDITY = 17
    R_REDUCE_ONLY_WOULD_INCREASE = 18
    R_STOP_WOULD_TRIGGER = 19
    R_POST_ONLY_WOULD_TAKE = 20
    R_UNKNOWN_ORDER = 21
    R_AMEND_QUANTITY_BELOW_FILLED = 22
    R_IOC_REMAINDER = 23
    R_FOK_CANNOT_FILL = 24
    R_SELF_TRADE_PREVENTED = 25
    R_REDUCE_ONLY_EXHAUSTED = 26
    R_GTD_EXPIRED = 27
    R_CANCELED = 28
    # Codes the venue adapters use before an order reaches the matcher (conversion, accounts).
    R_PRICE_OFF_TICK = 40
    R_SIZE_OFF_INCREMENT = 41
    R_UNKNOWN_INSTRUMENT = 42
    R_INSTRUMENT_NOT_TRADABLE = 43
    R_DUPLICATE_CLIENT_ORDER_ID = 44
    R_UNKNOWN_ACCOUNT = 45
    R_VALUE_OUT_OF_RANGE = 46

cdef struct Order:
    # The hot part of an order: exactly one 64-byte cache line (what matching, adding and
    # cancelling touch). The rest lives in a parallel OrderInfo array.
    int64_t id
    int64_t seq          # priority: lower is earlier; renewed when the order loses priority
    int64_t price        # limit price in ticks (0 for market / stop-market)
    int64_t leaves       # remaining lots
    int32_t account
    int32_t prev         # FIFO links within the price level (slot indices, -1 = none); free-list next
    int32_t next
    int32_t level        # level index while resting, else -1
    int32_t aprev        # links within the account's list of live orders
    int32_t anext
    uint8_t side
    uint8_t type
    uint8_t tif
    uint8_t flags
    uint8_t state

cdef struct OrderInfo:
    # The cold part, same slot index as Order.
    int64_t trigger      # trigger price in ticks (stops), else 0
    int64_t qty          # total order quantity in lots
    int64_t expire_ts    # GTD expiry (ns), else 0
    int64_t ts           # accepted at (ns)

cdef struct Level:
    int64_t price
    int64_t total        # sum of leaves
    int64_t count
    int64_t head
    int64_t tail

cdef struct GtdEntry:
    int64_t expire_ts
    int64_t id
    int64_t slot

cdef struct MapEntry:
    int64_t key          # order id, 0 = empty
    int64_t slot
