# cython: language_level=3
"""Pre-trade risk gate: every check on integers in preallocated arrays, fails closed.

Indices are small dense ints chosen by the caller (``engine.risk.RiskEngine`` maps ids to them):
instrument ``0 <= inst < max_instruments``, account ``0 <= acc < max_accounts``, strategy
``0 <= strat < max_strategies``. Prices are ticks, sizes lots, times ns; the gate never reads a clock.
Notional is in *notional units*: ``10**-P`` of the one quote currency (the façade picks ``P``); an
instrument's ``factor`` is the notional units of one tick times one lot (``tick * lot * multiplier``).

``check`` / ``check_c`` take the order's price, trigger and quantity as *raw* fixed-point integers at
the instrument's price / size precision so that the increment checks live here too; everything else
(on_* updates) takes ticks and lots.

Checks, in order; the first failing one is the answer (0 = pass):

1. account registered (UNKNOWN_ACCOUNT) with limits (NO_LIMITS); instrument registered
   (UNKNOWN_INSTRUMENT) with limits (NO_LIMITS); strategy registered (UNKNOWN_STRATEGY) with limits
   (NO_LIMITS); instrument tradable.
2. order shape (INVALID_ORDER: side, type, positive quantity, price iff LIMIT/STOP_LIMIT, trigger iff
   STOP_*, values up to 2**48 ticks/lots; for an amend the new quantity must exceed what is filled);
   price and trigger on the tick grid (PRICE_OFF_TICK); quantity on the lot grid (SIZE_OFF_INCREMENT).
3. new orders only: client order id not approved before for this account (DUPLICATE_CLIENT_ORDER_ID).
4. ``min_lots <= lots <= max_order_lots`` (BELOW_MIN_QUANTITY, MAX_ORDER_QUANTITY).
5. market data: some update seen (else NO_REFERENCE_PRICE), the last one at most ``max_age_ns`` before
   ``ts`` (STALE_MARKET_DATA), and a reference price (last trade or mid, per instrument) exists
   (NO_REFERENCE_PRICE).
6. price band (LIMIT and STOP_LIMIT limit price): ``|price - ref| * 10000 <= band_bps * ref``, exact.
7. order notional ``lots * px * factor`` with px = limit price, STOP_MARKET trigger, or the reference
   for MARKET: ``>= min_notional`` and ``<= max_order_notional``.
8. self-cross: a LIMIT buy at or above our best resting LIMIT sell (sell: at or below our best buy);
   a MARKET buy while our best resting sell is at or inside the market ask (no ask known: any resting
   sell); stops are not checked (they do not rest at a price until triggered).
9. maximum position, projected with the open orders on the order's side:
   buy ``position + open_buy + lots <= max_position_lots``; sell ``position - open_sell - lots >=
   -max_position_lots`` (so reducing orders always pass).
10. open orders of the account ``+ 1 <= max_open_orders`` (new orders only).
11. account exposure, every position valued at its instrument's mark (the reference price) and every
    open order counted as if it fills: gross ``sum max(|pos + open_buy|, |pos - open_sell|) * mark``
    and net ``max(|sum (pos + open_buy) * mark|, |sum (pos - open_sell) * mark|)``. An order is denied
    if it takes a measure above its limit *and* raises it (an order that lowers exposure always passes).
12. trading state, applied last: the effective state is the more severe of the global and the
    account state. HALTED denies (TRADING_HALTED). REDUCING, or a ``reduce_only`` order in any state,
    passes only if it reduces ``|position|`` without flipping it, counting the open orders on its side:
    sell ``position > 0 and open_sell + lots <= position``; buy mirrored (REDUCING_ONLY).
13. throttle: a token bucket per account (THROTTLED_ACCOUNT), then per strategy (THROTTLED_STRATEGY),
    refilled by ``ts``; both must hold a token; on a pass one token is taken from each.

A pass also records the client order id (new orders). Nothing else changes on a check: the caller
reports what happens next through the O(1) ``on_*`` methods. The single exception to O(1): closing
the last of our orders at the best resting price of a side rescans that account+instrument's open
orders (at most ``max_open_orders``); a mark change loops over the accounts (only when some account
holds a position or open orders in that instrument).
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memset

from enum import IntEnum, unique

cdef int64_t TOKEN = 1_000_000_000
cdef int64_t MAX_VALUE = (<int64_t>1) << 48
cdef int64_t MAX_FACTOR = (<int64_t>1) << 24
cdef int64_t MAX_BURST = 1_000_000_000


@unique
class RiskReason(IntEnum):
    """Why the gate denied an order (0 = approved). Names are the API's reason strings."""

    APPROVED = R_OK
    RISK_UNKNOWN_ACCOUNT = R_UNKNOWN_ACCOUNT
    RISK_UNKNOWN_INSTRUMENT = R_UNKNOWN_INSTRUMENT
    RISK_UNKNOWN_STRATEGY = R_UNKNOWN_STRATEGY
    RISK_NO_LIMITS = R_NO_LIMITS
    RISK_INSTRUMENT_NOT_TRADABLE = R_INSTRUMENT_NOT_TRADABLE
    RISK_INVALID_ORDER = R_INVALID_ORDER
    RISK_PRICE_OFF_TICK = R_PRICE_OFF_TICK
    RISK_SIZE_OFF_INCREMENT = R_SIZE_OFF_INCREMENT
    RISK_DUPLICATE_CLIENT_ORDER_ID = R_DUPLICATE_CLIENT_ORDER_ID
    RISK_BELOW_MIN_QUANTITY = R_BELOW_MIN_QUANTITY
    RISK_MAX_ORDER_QUANTITY = R_MAX_ORDER_QUANTITY
    RISK_NO_REFERENCE_PRICE = R_NO_REFERENCE_PRICE
    RISK_STALE_MARKET_DATA = R_STALE_MARKET_DATA
    RISK_PRICE_BAND = R_PRICE_BAND
    RISK_BELOW_MIN_NOTIONAL = R_BELOW_MIN_NOTIONAL
    RISK_MAX_ORDER_NOTIONAL = R_MAX_ORDER_NOTIONAL
    RISK_SELF_CROSS = R_SELF_CROSS
    RISK_MAX_POSITION = R_MAX_POSITION
    RISK_MAX_OPEN_ORDERS = R_MAX_OPEN_ORDERS
    RISK_MAX_GROSS_EXPOSURE = R_MAX_GROSS_EXPOSURE
    RISK_MAX_NET_EXPOSURE = R_MAX_NET_EXPOSURE
    TRADING_HALTED = R_TRADING_HALTED
    RISK_REDUCING_ONLY = R_REDUCING_ONLY
    RISK_THROTTLED_ACCOUNT = R_THROTTLED_ACCOUNT
    RISK_THROTTLED_STRATEGY = R_THROTTLED_STRATEGY
    RISK_UNKNOWN_ORDER = R_UNKNOWN_ORDER


BUY = G_BUY
SELL = G_SELL
MARKET = G_MARKET
LIMIT = G_LIMIT
STOP_MARKET = G_STOP_MARKET
STOP_LIMIT = G_STOP_LIMIT
ACTIVE = G_ACTIVE
REDUCING = G_REDUCING
HALTED = G_HALTED
REF_LAST = G_REF_LAST
REF_MID = G_REF_MID
TOKEN_UNITS = TOKEN
MAX_TICKS_OR_LOTS = MAX_VALUE
MAX_NOTIONAL_FACTOR = MAX_FACTOR


# -- small helpers ------------------------------------------------------------------------------
cdef inline int128 _abs128(int128 v) noexcept:
    return -v if v < 0 else v


cdef inline int128 _max128(int128 a, int128 b) noexcept:
    return a if a > b else b


cdef inline int64_t _ref2(Inst* s) noexcept:
    """The reference price in half ticks (2 * last, or bid + ask); 0 when there is none."""
    if s.ref_kind == G_REF_LAST:
        return 2 * s.last_ticks if s.last_ticks > 0 else 0
    if s.bid_ticks > 0 and s.ask_ticks > 0:
        return s.bid_ticks + s.ask_ticks
    return 0


cdef inline int64_t _available(Bucket* b, int64_t ts) noexcept:
    """Token units in ``b`` at ``ts`` (lazy refill; time going backwards refills nothing)."""
    cdef int64_t elapsed
    cdef int128 tokens
    if b.last_ts < 0:
        return b.capacity
    elapsed = ts - b.last_ts
    if elapsed <= 0:
        return b.tokens
    if elapsed >= b.capacity:  # rate >= 1 token unit per ns
        return b.capacity
    tokens = <int128>b.tokens + <int128>elapsed * b.rate
    return b.capacity if tokens >= b.capacity else <int64_t>tokens


cdef inline void _take(Bucket* b, int64_t available, int64_t ts) noexcept:
    b.tokens = available - TOKEN
    if ts > b.last_ts:
        b.last_ts = ts


cdef inline void _contrib(int64_t pos, int64_t ob, int64_t os, int64_t mark2, int64_t factor,
                          int128* g, int128* up, int128* lo) noexcept:
    cdef int128 m = <int128>mark2 * factor
    cdef int128 a = <int128>pos + ob
    cdef int128 b = <int128>pos - os
    up[0] = a * m
    lo[0] = b * m
    g[0] = _max128(_abs128(a), _abs128(b)) * m


cdef object _py128(int128 v):
    cdef bint neg = v < 0
    cdef int128 u = -v if neg else v
    cdef object out = (int(<int64_t>(u >> 62)) << 62) | int(<int64_t>(u & ((<int128>1 << 62) - 1)))
    return -out if neg else out


cdef int64_t[19] _POW10
_POW10[0] = 1
for _k in range(1, 19):
    _POW10[_k] = _POW10[_k - 1] * 10


cdef inline int64_t _rescale(int64_t raw, int precision, int target) noexcept:
    """``raw`` at ``precision`` as raw at ``target``: -1 off the grid (digits lost), -2 out of range."""
    cdef int64_t scale
    if precision == target:
        return raw
    if precision < 0 or precision > 18 or raw < 0:
        return -2
    if precision > target:
        scale = _POW10[precision - target]
        return -1 if raw % scale else raw // scale
    scale = _POW10[target - precision]
    if raw > <int64_t>0x7FFFFFFFFFFFFFFF // scale:
        return -2
    return raw * scale


cdef void _set_bucket(Bucket* b, int64_t rate, int64_t burst) noexcept:
    cdef int64_t capacity = burst * TOKEN
    b.rate = rate
    b.capacity = capacity
    if b.last_ts < 0 or b.tokens > capacity:
        b.tokens = capacity


def _check_positive(str name, int64_t value, int64_t upper=-1):
    if value <= 0 or (upper > 0 and value > upper):
        raise ValueError(f"{name} must be positive{'' if upper <= 0 else f' and at most {upper}'}, got {value}")


cdef class RiskGate:
    """The pre-trade checks and the state they read; see the module docstring."""

    def __cinit__(self, int max_accounts, int max_instruments, int max_strategies,
                  int order_capacity=1024):
        if max_accounts <= 0 or max_instruments <= 0 or max_strategies <= 0 or order_capacity <= 0:
            raise ValueError("capacities must be positive")
        if <int64_t>max_accounts * max_instruments > (1 << 26):
            raise ValueError("max_accounts * max_instruments must be at most 2**26")
        self.max_accounts = max_accounts
        self.max_instruments = max_instruments
        self.max_strategies = max_strategies
        self.global_state = G_ACTIVE
        self.insts = <Inst*>PyMem_Malloc(max_instruments * sizeof(Inst))
        self.accs = <Account*>PyMem_Malloc(max_accounts * sizeof(Account))
        self.strats = <Strategy*>PyMem_Malloc(max_strategies * sizeof(Strategy))
        self.pairs = <Pair*>PyMem_Malloc(<size_t>max_accounts * max_instruments * sizeof(Pair))
        self.orders = <Order*>PyMem_Malloc(order_capacity * sizeof(Order))
        if not (self.insts and self.accs and self.strats and self.pairs and self.orders):
            raise MemoryError()
        memset(self.insts, 0, max_instruments * sizeof(Inst))
        memset(self.accs, 0, max_accounts * sizeof(Account))
        memset(self.strats, 0, max_strategies * sizeof(Strategy))
        memset(self.pairs, 0, <size_t>max_accounts * max_instruments * sizeof(Pair))
        cdef int64_t i
        for i in range(<int64_t>max_accounts * max_instruments):
            self.pairs[i].head = -1
        for i in range(max_instruments):
            self.insts[i].md_ts = -1
        for i in range(max_accounts):
            self.accs[i].bucket.last_ts = -1
        for i in range(max_strategies):
            self.strats[i].bucket.last_ts = -1
        self.order_cap = order_capacity
        for i in range(order_capacity):
            self.orders[i].next = i + 1 if i + 1 < order_capacity else -1
        self.free_head = 0
        self.order_count = 0
        self.slots = {}
        self.coids = [set() for _ in range(max_accounts)]

    def __dealloc__(self):
        PyMem_Free(self.insts)
        PyMem_Free(self.accs)
        PyMem_Free(self.strats)
        PyMem_Free(self.pairs)
        PyMem_Free(self.orders)

    # -- index validation (Python-visible methods raise; check() denies instead) --------------
    cdef Inst* _inst(self, int inst) except NULL:
        if inst < 0 or inst >= self.max_instruments or not self.insts[inst].registered:
            raise KeyError(f"instrument index {inst} is not registered")
        return &self.insts[inst]

    cdef Account* _acc(self, int acc) except NULL:
        if acc < 0 or acc >= self.max_accounts or not self.accs[acc].registered:
            raise KeyError(f"account index {acc} is not registered")
        return &self.accs[acc]

    cdef Strategy* _strat(self, int strat) except NULL:
        if strat < 0 or strat >= self.max_strategies or not self.strats[strat].registered:
            raise KeyError(f"strategy index {strat} is not registered")
        return &self.strats[strat]

    cdef Pair* _pair(self, int acc, int inst) noexcept:
        return &self.pairs[<int64_t>acc * self.max_instruments + inst]

    # -- registration and limits ---------------------------------------------------------------
    def register_instrument(self, int inst, int price_precision, int64_t price_step, int size_precision,
                            int64_t size_step, int64_t factor, int64_t min_lots, int64_t min_notional,
                            bint tradable):
        """Declare instrument ``inst``: steps in raw units at ``price_precision`` / ``size_precision``
        decimal places, ``factor`` notional units per tick * lot, minimum lots and notional."""
        if inst < 0 or inst >= self.max_instruments:
            raise ValueError(f"instrument index {inst} out of range [0, {self.max_instruments})")
        if self.insts[inst].registered:
            raise ValueError(f"instrument index {inst} is already registered")
        if not 0 <= price_precision <= 18 or not 0 <= size_precision <= 18:
            raise ValueError("precisions must be in [0, 18]")
        _check_positive("price_step", price_step)
        _check_positive("size_step", size_step)
        _check_positive("factor", factor, MAX_FACTOR)
        if min_lots < 0 or min_notional < 0:
            raise ValueError("min_lots and min_notional must not be negative")
        cdef Inst* s = &self.insts[inst]
        s.registered = 1
        s.price_precision = price_precision
        s.size_precision = size_precision
        s.price_step = price_step
        s.size_step = size_step
        s.factor = factor
        s.min_lots = min_lots
        s.min_notional = min_notional
        s.tradable = tradable

    def set_instrument_limits(self, int inst, int64_t max_order_lots, int64_t max_order_notional,
                              int64_t max_position_lots, int64_t band_bps, int64_t max_age_ns,
                              int ref_kind):
        cdef Inst* s = self._inst(inst)
        _check_positive("max_order_lots", max_order_lots)
        _check_positive("max_order_notional", max_order_notional)
        _check_positive("max_position_lots", max_position_lots)
        _check_positive("band_bps", band_bps, 1_000_000)
        _check_positive("max_age_ns", max_age_ns)
        if ref_kind != G_REF_LAST and ref_kind != G_REF_MID:
            raise ValueError(f"ref_kind must be REF_LAST or REF_MID, got {ref_kind}")
        s.max_order_lots = max_order_lots
        s.max_order_notional = max_order_notional
        s.max_position_lots = max_position_lots
        s.band_bps = band_bps
        s.max_age_ns = max_age_ns
        if s.ref_kind != ref_kind:
            s.ref_kind = ref_kind
            if _ref2(s) > 0:
                s.mark2 = _ref2(s)
                self._revalue(inst)
        s.has_limits = 1

    def set_tradable(self, int inst, bint tradable):
        self._inst(inst).tradable = tradable

    def register_account(self, int acc):
        if acc < 0 or acc >= self.max_accounts:
            raise ValueError(f"account index {acc} out of range [0, {self.max_accounts})")
        if self.accs[acc].registered:
            raise ValueError(f"account index {acc} is already registered")
        self.accs[acc].registered = 1
        self.accs[acc].state = G_ACTIVE

    def set_account_limits(self, int acc, int64_t max_gross, int64_t max_net, int64_t max_open_orders,
                           int64_t orders_per_second, int64_t burst):
        cdef Account* a = self._acc(acc)
        _check_positive("max_gross", max_gross)
        _check_positive("max_net", max_net)
        _check_positive("max_open_orders", max_open_orders)
        _check_positive("orders_per_second", orders_per_second, MAX_BURST)
        _check_positive("burst", burst, MAX_BURST)
        a.max_gross = max_gross
        a.max_net = max_net
        a.max_open_orders = max_open_orders
        _set_bucket(&a.bucket, orders_per_second, burst)
        a.has_limits = 1

    def register_strategy(self, int strat):
        if strat < 0 or strat >= self.max_strategies:
            raise ValueError(f"strategy index {strat} out of range [0, {self.max_strategies})")
        if self.strats[strat].registered:
            raise ValueError(f"strategy index {strat} is already registered")
        self.strats[strat].registered = 1

    def set_strategy_limits(self, int strat, int64_t orders_per_second, int64_t burst):
        cdef Strategy* st = self._strat(strat)
        _check_positive("orders_per_second", orders_per_second, MAX_BURST)
        _check_positive("burst", burst, MAX_BURST)
        _set_bucket(&st.bucket, orders_per_second, burst)
        st.has_limits = 1

    # -- trading state -------------------------------------------------------------------------
    def set_trading_state(self, int acc, int state):
        """Set one account's state (ACTIVE, REDUCING or HALTED)."""
        cdef Account* a = self._acc(acc)
        if state < G_ACTIVE or state > G_HALTED:
            raise ValueError(f"invalid trading state {state}")
        a.state = state

    def set_global_trading_state(self, int state):
        """The state every account is at least in (the effective state is the more severe one)."""
        if state < G_ACTIVE or state > G_HALTED:
            raise ValueError(f"invalid trading state {state}")
        self.global_state = state

    def account_state(self, int acc):
        """The account's own state (without the global one)."""
        return self._acc(acc).state

    def trading_state(self, int acc):
        """The effective state: the more severe of the global and the account state."""
        cdef int own = self._acc(acc).state
        return own if own > self.global_state else self.global_state

    # -- market data ---------------------------------------------------------------------------
    cdef void _after_market(self, int inst, int64_t ts) noexcept:
        cdef Inst* s = &self.insts[inst]
        cdef int64_t ref2 = _ref2(s)
        if ts > s.md_ts:
            s.md_ts = ts
        if ref2 > 0 and ref2 != s.mark2:
            s.mark2 = ref2
            self._revalue(inst)

    def on_trade(self, int inst, int64_t last_ticks, int64_t ts):
        """A trade printed at ``last_ticks``."""
        cdef Inst* s = self._inst(inst)
        if last_ticks <= 0 or last_ticks > MAX_VALUE:
            raise ValueError(f"last_ticks must be in (0, 2**48], got {last_ticks}")
        s.last_ticks = last_ticks
        self._after_market(inst, ts)

    def on_quote(self, int inst, int64_t bid_ticks, int64_t ask_ticks, int64_t ts):
        """New best bid and ask (0 = that side is empty)."""
        cdef Inst* s = self._inst(inst)
        if bid_ticks < 0 or ask_ticks < 0 or bid_ticks > MAX_VALUE or ask_ticks > MAX_VALUE:
            raise ValueError("bid_ticks and ask_ticks must be in [0, 2**48]")
        s.bid_ticks = bid_ticks
        s.ask_ticks = ask_ticks
        self._after_market(inst, ts)

    def on_quote_fixed(self, int inst, int64_t bid_raw, int bid_precision, int64_t ask_raw,
                       int ask_precision, int64_t ts):
        """``on_quote`` with each price raw at its own precision (straight from ``Price``'s raw value
        and precision; 0 = that side is empty), converted to ticks here: no conversion in Python per
        quote. Returns False, changing nothing, when a price is off the tick grid or out of range
        (the caller converts it the long way, which says why)."""
        cdef Inst* s = self._inst(inst)
        cdef int64_t bid = _rescale(bid_raw, bid_precision, s.price_precision)
        cdef int64_t ask = _rescale(ask_raw, ask_precision, s.price_precision)
        if bid < 0 or ask < 0 or bid % s.price_step or ask % s.price_step:
            return False
        bid //= s.price_step
        ask //= s.price_step
        if bid > MAX_VALUE or ask > MAX_VALUE:
            return False
        s.bid_ticks = bid
        s.ask_ticks = ask
        self._after_market(inst, ts)
        return True

    def on_market(self, int inst, int64_t last_ticks, int64_t bid_ticks, int64_t ask_ticks, int64_t ts):
        """Set last, bid and ask at once (0 = unknown / empty)."""
        cdef Inst* s = self._inst(inst)
        if min(last_ticks, bid_ticks, ask_ticks) < 0 or max(last_ticks, bid_ticks, ask_ticks) > MAX_VALUE:
            raise ValueError("prices must be in [0, 2**48] ticks")
        s.last_ticks = last_ticks
        s.bid_ticks = bid_ticks
        s.ask_ticks = ask_ticks
        self._after_market(inst, ts)

    def market(self, int inst):
        """``(last_ticks, bid_ticks, ask_ticks, md_ts, mark2)`` of an instrument."""
        cdef Inst* s = self._inst(inst)
        return (s.last_ticks, s.bid_ticks, s.ask_ticks, s.md_ts, s.mark2)

    # -- exposure bookkeeping ------------------------------------------------------------------
    cdef void _refresh_pair(self, int acc, int inst) noexcept:
        cdef Pair* p = self._pair(acc, inst)
        cdef Inst* s = &self.insts[inst]
        cdef Account* a = &self.accs[acc]
        cdef int128 g, up, lo
        cdef int32_t active
        _contrib(p.position, p.open_buy, p.open_sell, s.mark2, s.factor, &g, &up, &lo)
        a.gross2 += g - p.gross2
        a.up2 += up - p.up2
        a.lo2 += lo - p.lo2
        p.gross2 = g
        p.up2 = up
        p.lo2 = lo
        active = p.position != 0 or p.open_buy != 0 or p.open_sell != 0 or p.head >= 0
        if active != p.active:
            s.active_pairs += 1 if active else -1
            p.active = active

    cdef void _revalue(self, int inst) noexcept:
        cdef int acc
        if self.insts[inst].active_pairs == 0:
            return
        for acc in range(self.max_accounts):
            if self._pair(acc, inst).active:
                self._refresh_pair(acc, inst)

    # -- orders --------------------------------------------------------------------------------
    cdef int64_t _alloc_slot(self) except -1:
        cdef int64_t i, new_cap
        cdef Order* grown
        if self.free_head < 0:
            new_cap = self.order_cap * 2
            grown = <Order*>PyMem_Realloc(self.orders, new_cap * sizeof(Order))
            if grown == NULL:
                raise MemoryError()
            self.orders = grown
            for i in range(self.order_cap, new_cap):
                self.orders[i].next = i + 1 if i + 1 < new_cap else -1
            self.free_head = self.order_cap
            self.order_cap = new_cap
        i = self.free_head
        self.free_head = self.orders[i].next
        return i

    cdef void _unlink(self, int64_t slot) noexcept:
        cdef Order* o = &self.orders[slot]
        cdef Pair* p = self._pair(o.acc, o.inst)
        if o.prev >= 0:
            self.orders[o.prev].next = o.next
        else:
            p.head = o.next
        if o.next >= 0:
            self.orders[o.next].prev = o.prev

    cdef void _add_open(self, int64_t slot) noexcept:
        cdef Order* o = &self.orders[slot]
        cdef Pair* p = self._pair(o.acc, o.inst)
        o.prev = -1
        o.next = p.head
        if p.head >= 0:
            self.orders[p.head].prev = slot
        p.head = slot
        if o.side == G_BUY:
            p.open_buy += o.leaves
            if o.otype == G_LIMIT:
                if o.price > p.best_buy:
                    p.best_buy = o.price
                    p.best_buy_n = 1
                elif o.price == p.best_buy:
                    p.best_buy_n += 1
        else:
            p.open_sell += o.leaves
            if o.otype == G_LIMIT:
                if p.best_sell == 0 or o.price < p.best_sell:
                    p.best_sell = o.price
                    p.best_sell_n = 1
                elif o.price == p.best_sell:
                    p.best_sell_n += 1
        self.accs[o.acc].open_orders += 1
        self._refresh_pair(o.acc, o.inst)

    cdef void _remove_open(self, int64_t slot) noexcept:
        cdef Order* o = &self.orders[slot]
        cdef Pair* p = self._pair(o.acc, o.inst)
        self._unlink(slot)
        if o.side == G_BUY:
            p.open_buy -= o.leaves
            if o.otype == G_LIMIT and o.price == p.best_buy:
                p.best_buy_n -= 1
                if p.best_buy_n == 0:
                    self._rescan_best(o.acc, o.inst, G_BUY)
        else:
            p.open_sell -= o.leaves
            if o.otype == G_LIMIT and o.price == p.best_sell:
                p.best_sell_n -= 1
                if p.best_sell_n == 0:
                    self._rescan_best(o.acc, o.inst, G_SELL)
        self.accs[o.acc].open_orders -= 1
        self._refresh_pair(o.acc, o.inst)

    cdef void _rescan_best(self, int acc, int inst, int side) noexcept:
        cdef Pair* p = self._pair(acc, inst)
        cdef int64_t slot = p.head
        cdef int64_t best = 0
        cdef int64_t n = 0
        cdef Order* o
        while slot >= 0:
            o = &self.orders[slot]
            if o.side == side and o.otype == G_LIMIT:
                if n == 0 or (o.price > best if side == G_BUY else o.price < best):
                    best = o.price
                    n = 1
                elif o.price == best:
                    n += 1
            slot = o.next
        if side == G_BUY:
            p.best_buy = best
            p.best_buy_n = n
        else:
            p.best_sell = best
            p.best_sell_n = n

    cdef int64_t _slot_of(self, int64_t key) except -2:
        cdef object slot = self.slots.get(key)
        return -1 if slot is None else <int64_t>slot

    def on_order_opened(self, int64_t key, int acc, int inst, int strat, int side, int otype,
                        int64_t price_ticks, int64_t trigger_ticks, int64_t lots):
        """An approved order is now open (sent, working, or waiting for its trigger)."""
        self._acc(acc)
        self._inst(inst)
        self._strat(strat)
        if key in self.slots:
            raise ValueError(f"order key {key} is already open")
        if side != G_BUY and side != G_SELL:
            raise ValueError(f"invalid side {side}")
        if otype < G_MARKET or otype > G_STOP_LIMIT:
            raise ValueError(f"invalid order type {otype}")
        if lots <= 0 or lots > MAX_VALUE or price_ticks < 0 or price_ticks > MAX_VALUE:
            raise ValueError("lots must be in (0, 2**48] and price_ticks in [0, 2**48]")
        if (otype == G_LIMIT or otype == G_STOP_LIMIT) and price_ticks == 0:
            raise ValueError("a LIMIT or STOP_LIMIT order needs a price")
        self.approved_coid = None  # (opened here: ``open_approved`` must not open it again)
        cdef int64_t slot = self._alloc_slot()
        cdef Order* o = &self.orders[slot]
        o.key = key
        o.acc = acc
        o.inst = inst
        o.strat = strat
        o.side = side
        o.otype = otype
        o.price = price_ticks
        o.trigger = trigger_ticks
        o.total = lots
        o.leaves = lots
        self.slots[key] = slot
        self.order_count += 1
        self._add_open(slot)

    def open_approved(self, int64_t key, int acc, int inst, object coid):
        """``on_order_opened`` of the order the last check approved, with the ticks and lots that
        check derived (no second conversion, no second marshalling of the order's terms): call it
        right after that approval, as ``on_order_opened``. Returns the order's lots, or 0 (nothing
        done) unless the last check approved a new order ``coid`` of account ``acc`` on instrument
        ``inst`` that is not opened yet: then the caller opens it with ``on_order_opened``."""
        cdef object approved = self.approved_coid
        if approved is None or self.approved.acc != acc or self.approved.inst != inst:
            return 0
        if coid is not approved and coid != approved:
            return 0
        if key in self.slots:
            raise ValueError(f"order key {key} is already open")
        cdef int64_t slot = self._alloc_slot()
        cdef Order* o = &self.orders[slot]
        o.key = key
        o.acc = acc
        o.inst = inst
        o.strat = self.approved.strat
        o.side = self.approved.side
        o.otype = self.approved.otype
        o.price = self.approved.price
        o.trigger = self.approved.trigger
        o.total = self.approved.total
        o.leaves = self.approved.total
        self.slots[key] = slot
        self.order_count += 1
        self.approved_coid = None
        self._add_open(slot)
        return o.total

    cdef int64_t _existing(self, int64_t key) except -1:
        cdef int64_t slot = self._slot_of(key)
        if slot < 0:
            raise KeyError(f"order key {key} is not open")
        return slot

    cdef void _free(self, int64_t slot):
        del self.slots[self.orders[slot].key]
        self.orders[slot].next = self.free_head
        self.free_head = slot
        self.order_count -= 1

    def on_order_reduced(self, int64_t key, int64_t lots):
        """``lots`` of the order filled (or were otherwise taken off); it closes at zero leaves."""
        cdef int64_t slot = self._existing(key)
        cdef Order* o = &self.orders[slot]
        if lots <= 0 or lots > o.leaves:
            raise ValueError(f"order key {key}: cannot reduce {o.leaves} leaves by {lots}")
        self._remove_open(slot)
        o.leaves -= lots
        if o.leaves > 0:
            self._add_open(slot)
        else:
            self._free(slot)

    def on_order_amended(self, int64_t key, int64_t price_ticks, int64_t trigger_ticks, int64_t total_lots):
        """The venue applied an amend: new price / trigger (0 = unchanged) and new total quantity."""
        cdef int64_t slot = self._existing(key)
        cdef Order* o = &self.orders[slot]
        cdef int64_t filled = o.total - o.leaves
        if total_lots <= filled or total_lots > MAX_VALUE or price_ticks < 0 or price_ticks > MAX_VALUE:
            raise ValueError(f"order key {key}: invalid amend (total {total_lots}, filled {filled})")
        self._remove_open(slot)
        if price_ticks > 0:
            o.price = price_ticks
        if trigger_ticks > 0:
            o.trigger = trigger_ticks
        o.total = total_lots
        o.leaves = total_lots - filled
        self._add_open(slot)

    def on_order_triggered(self, int64_t key):
        """A stop order triggered: STOP_LIMIT now rests as a LIMIT, STOP_MARKET works as a MARKET."""
        cdef int64_t slot = self._existing(key)
        cdef Order* o = &self.orders[slot]
        if o.otype != G_STOP_MARKET and o.otype != G_STOP_LIMIT:
            return
        self._remove_open(slot)
        o.otype = G_LIMIT if o.otype == G_STOP_LIMIT else G_MARKET
        o.trigger = 0
        self._add_open(slot)

    def on_order_closed(self, int64_t key):
        """The order is done (filled, canceled, expired, rejected). Returns False if it was not open."""
        cdef int64_t slot = self._slot_of(key)
        if slot < 0:
            return False
        self._remove_open(slot)
        self._free(slot)
        return True

    def order(self, int64_t key):
        """``(acc, inst, strat, side, otype, price, trigger, total, leaves)`` of an open order, or None."""
        cdef int64_t slot = self._slot_of(key)
        if slot < 0:
            return None
        cdef Order* o = &self.orders[slot]
        return (o.acc, o.inst, o.strat, o.side, o.otype, o.price, o.trigger, o.total, o.leaves)

    # -- positions -----------------------------------------------------------------------------
    def on_fill(self, int acc, int inst, int side, int64_t lots, int64_t price_ticks):
        """A fill moved the position by ``lots`` on ``side`` (the order's leaves: on_order_reduced)."""
        self._acc(acc)
        cdef Inst* s = self._inst(inst)
        if side != G_BUY and side != G_SELL:
            raise ValueError(f"invalid side {side}")
        if lots <= 0 or lots > MAX_VALUE or price_ticks <= 0 or price_ticks > MAX_VALUE:
            raise ValueError("lots and price_ticks must be in (0, 2**48]")
        cdef Pair* p = self._pair(acc, inst)
        cdef int64_t position = p.position + (lots if side == G_BUY else -lots)
        if position > MAX_VALUE or position < -MAX_VALUE:
            raise ValueError(f"position {position} lots is outside +-2**48")
        p.position = position
        if s.mark2 == 0:
            s.mark2 = 2 * price_ticks
            self._revalue(inst)
        self._refresh_pair(acc, inst)

    def set_position(self, int acc, int inst, int64_t lots):
        """Overwrite the signed position (reconciliation with the venue, or restore)."""
        self._acc(acc)
        self._inst(inst)
        if lots > MAX_VALUE or lots < -MAX_VALUE:
            raise ValueError(f"position {lots} lots is outside +-2**48")
        self._pair(acc, inst).position = lots
        self._refresh_pair(acc, inst)

    def position(self, int acc, int inst):
        self._acc(acc)
        self._inst(inst)
        return self._pair(acc, inst).position

    def open_lots(self, int acc, int inst, int side):
        """Leaves of our open orders on ``side`` (lots)."""
        self._acc(acc)
        self._inst(inst)
        cdef Pair* p = self._pair(acc, inst)
        return p.open_buy if side == G_BUY else p.open_sell

    def best_resting(self, int acc, int inst, int side):
        """Our best resting LIMIT price on ``side`` (ticks; 0 = none)."""
        self._acc(acc)
        self._inst(inst)
        cdef Pair* p = self._pair(acc, inst)
        return p.best_buy if side == G_BUY else p.best_sell

    def open_orders(self, int acc):
        return self._acc(acc).open_orders

    def exposure2(self, int acc):
        """``(gross, upper net, lower net)`` in *half* notional units (exact ints)."""
        cdef Account* a = self._acc(acc)
        return (_py128(a.gross2), _py128(a.up2), _py128(a.lo2))

    def tokens(self, int acc, int strat, int64_t ts):
        """Token units available at ``ts`` to the account and to the strategy (TOKEN_UNITS per order)."""
        return (_available(&self._acc(acc).bucket, ts), _available(&self._strat(strat).bucket, ts))

    def has_client_order_id(self, int acc, object coid):
        self._acc(acc)
        return coid in <set>self.coids[acc]

    # -- the checks ----------------------------------------------------------------------------
    cdef int _evaluate(self, int acc, int inst, int strat, int side, int otype, int64_t price_raw,
                       int64_t trigger_raw, int64_t qty_raw, bint reduce_only, object coid,
                       int64_t ts, Order* replacing, int fault) except -1:
        cdef Account* a
        cdef Inst* s
        cdef Strategy* st
        cdef Pair* p
        cdef bint has_price, has_trigger
        cdef int64_t price, trigger, lots, leaves, ref2, px2, ob, os, acct_tokens, strat_tokens
        cdef int state
        cdef int128 notional2, diff, g, up, lo, g_new, up_new, lo_new, net_old, net_new

        self.approved_coid = None  # (any check ends what the previous approval left to open)
        if acc < 0 or acc >= self.max_accounts or not self.accs[acc].registered:
            return R_UNKNOWN_ACCOUNT
        a = &self.accs[acc]
        if not a.has_limits:
            return R_NO_LIMITS
        if inst < 0 or inst >= self.max_instruments or not self.insts[inst].registered:
            return R_UNKNOWN_INSTRUMENT
        s = &self.insts[inst]
        if not s.has_limits:
            return R_NO_LIMITS
        if strat < 0 or strat >= self.max_strategies or not self.strats[strat].registered:
            return R_UNKNOWN_STRATEGY
        st = &self.strats[strat]
        if not st.has_limits:
            return R_NO_LIMITS
        if not s.tradable:
            return R_INSTRUMENT_NOT_TRADABLE

        # order shape and grids (``fault``: what check_fixed_c found converting precisions)
        if fault == R_INVALID_ORDER:
            return R_INVALID_ORDER
        if (side != G_BUY and side != G_SELL) or otype < G_MARKET or otype > G_STOP_LIMIT or qty_raw <= 0:
            return R_INVALID_ORDER
        has_price = otype == G_LIMIT or otype == G_STOP_LIMIT
        has_trigger = otype == G_STOP_MARKET or otype == G_STOP_LIMIT
        if (price_raw > 0) != has_price or price_raw < 0 or (trigger_raw > 0) != has_trigger or trigger_raw < 0:
            return R_INVALID_ORDER
        if fault == R_PRICE_OFF_TICK or price_raw % s.price_step or trigger_raw % s.price_step:
            return R_PRICE_OFF_TICK
        if fault == R_SIZE_OFF_INCREMENT or qty_raw % s.size_step:
            return R_SIZE_OFF_INCREMENT
        price = price_raw // s.price_step
        trigger = trigger_raw // s.price_step
        lots = qty_raw // s.size_step
        if price > MAX_VALUE or trigger > MAX_VALUE or lots > MAX_VALUE:
            return R_INVALID_ORDER
        if replacing != NULL:
            leaves = lots - (replacing.total - replacing.leaves)
            if leaves <= 0:
                return R_INVALID_ORDER
        else:
            leaves = lots
            if coid is not None and coid in <set>self.coids[acc]:
                return R_DUPLICATE_CLIENT_ORDER_ID

        # size
        if lots < s.min_lots:
            return R_BELOW_MIN_QUANTITY
        if lots > s.max_order_lots:
            return R_MAX_ORDER_QUANTITY

        # market data
        if s.md_ts < 0:
            return R_NO_REFERENCE_PRICE
        if ts - s.md_ts > s.max_age_ns:
            return R_STALE_MARKET_DATA
        ref2 = _ref2(s)
        if ref2 <= 0:
            return R_NO_REFERENCE_PRICE

        # price band (exact: |2p - ref2| * 10000 <= bps * ref2)
        if has_price:
            diff = <int128>2 * price - ref2
            if _abs128(diff) * 10000 > <int128>s.band_bps * ref2:
                return R_PRICE_BAND

        # notional (half units, so a mid reference stays exact)
        if has_price:
            px2 = 2 * price
        elif has_trigger:
            px2 = 2 * trigger
        else:
            px2 = ref2
        notional2 = <int128>lots * px2 * s.factor
        if notional2 < <int128>2 * s.min_notional:
            return R_BELOW_MIN_NOTIONAL
        if notional2 > <int128>2 * s.max_order_notional:
            return R_MAX_ORDER_NOTIONAL

        # self-cross against our own resting LIMIT orders
        p = self._pair(acc, inst)
        if otype == G_LIMIT:
            if side == G_BUY:
                if p.best_sell > 0 and price >= p.best_sell:
                    return R_SELF_CROSS
            elif p.best_buy > 0 and price <= p.best_buy:
                return R_SELF_CROSS
        elif otype == G_MARKET:
            if side == G_BUY:
                if p.best_sell > 0 and (s.ask_ticks <= 0 or p.best_sell <= s.ask_ticks):
                    return R_SELF_CROSS
            elif p.best_buy > 0 and (s.bid_ticks <= 0 or p.best_buy >= s.bid_ticks):
                return R_SELF_CROSS

        # position projected with the open orders on this side
        ob = p.open_buy
        os = p.open_sell
        if side == G_BUY:
            if replacing != NULL:
                ob -= replacing.leaves
            ob += leaves
            if p.position + ob > s.max_position_lots:
                return R_MAX_POSITION
        else:
            if replacing != NULL:
                os -= replacing.leaves
            os += leaves
            if p.position - os < -s.max_position_lots:
                return R_MAX_POSITION

        if replacing == NULL and a.open_orders + 1 > a.max_open_orders:
            return R_MAX_OPEN_ORDERS

        # account exposure at the marks, this pair re-valued with the projected open orders
        _contrib(p.position, ob, os, ref2, s.factor, &g, &up, &lo)
        g_new = a.gross2 - p.gross2 + g
        if g_new > <int128>2 * a.max_gross and g_new > a.gross2:
            return R_MAX_GROSS_EXPOSURE
        up_new = a.up2 - p.up2 + up
        lo_new = a.lo2 - p.lo2 + lo
        net_old = _max128(_abs128(a.up2), _abs128(a.lo2))
        net_new = _max128(_abs128(up_new), _abs128(lo_new))
        if net_new > <int128>2 * a.max_net and net_new > net_old:
            return R_MAX_NET_EXPOSURE

        # trading state, applied last
        state = a.state if a.state > self.global_state else self.global_state
        if state == G_HALTED:
            return R_TRADING_HALTED
        if state == G_REDUCING or reduce_only:
            if side == G_BUY:
                if not (p.position < 0 and ob <= -p.position):
                    return R_REDUCING_ONLY
            elif not (p.position > 0 and os <= p.position):
                return R_REDUCING_ONLY

        # throttle, then commit
        acct_tokens = _available(&a.bucket, ts)
        if acct_tokens < TOKEN:
            return R_THROTTLED_ACCOUNT
        strat_tokens = _available(&st.bucket, ts)
        if strat_tokens < TOKEN:
            return R_THROTTLED_STRATEGY
        _take(&a.bucket, acct_tokens, ts)
        _take(&st.bucket, strat_tokens, ts)
        if replacing == NULL and coid is not None:
            (<set>self.coids[acc]).add(coid)
            self.approved_coid = coid
            self.approved.acc = acc
            self.approved.inst = inst
            self.approved.strat = strat
            self.approved.side = side
            self.approved.otype = otype
            self.approved.price = price
            self.approved.trigger = trigger
            self.approved.total = lots
        return R_OK

    cdef int check_c(self, int acc, int inst, int strat, int side, int otype, int64_t price_raw,
                     int64_t trigger_raw, int64_t qty_raw, bint reduce_only, object coid,
                     int64_t ts) except -1:
        return self._evaluate(acc, inst, strat, side, otype, price_raw, trigger_raw, qty_raw,
                              reduce_only, coid, ts, NULL, R_OK)

    cdef int check_fixed_c(self, int acc, int inst, int strat, int side, int otype, int64_t price_raw,
                           int price_precision, int64_t trigger_raw, int trigger_precision, int64_t qty_raw,
                           int qty_precision, bint reduce_only, object coid, int64_t ts) except -1:
        cdef Inst* s
        cdef int fault = R_OK
        if inst < 0 or inst >= self.max_instruments or not self.insts[inst].registered:
            return self._evaluate(acc, inst, strat, side, otype, price_raw, trigger_raw, qty_raw, reduce_only,
                                  coid, ts, NULL, R_OK)
        s = &self.insts[inst]
        price_raw = _rescale(price_raw, price_precision, s.price_precision)
        trigger_raw = _rescale(trigger_raw, trigger_precision, s.price_precision)
        qty_raw = _rescale(qty_raw, qty_precision, s.size_precision)
        if price_raw == -2 or trigger_raw == -2 or qty_raw == -2:
            fault = R_INVALID_ORDER
        elif price_raw == -1 or trigger_raw == -1:
            fault = R_PRICE_OFF_TICK
        elif qty_raw == -1:
            fault = R_SIZE_OFF_INCREMENT
        if fault != R_OK:  # keep the shape (what is present) and let the checks before this one speak
            price_raw = s.price_step if price_raw != 0 else 0
            trigger_raw = s.price_step if trigger_raw != 0 else 0
            qty_raw = s.size_step
        return self._evaluate(acc, inst, strat, side, otype, price_raw, trigger_raw, qty_raw, reduce_only,
                              coid, ts, NULL, fault)

    cdef int check_amend_c(self, int64_t key, int64_t price_raw, int64_t trigger_raw, int64_t qty_raw,
                           int64_t ts) except -1:
        cdef object found = self.slots.get(key)
        if found is None:
            return R_UNKNOWN_ORDER
        cdef Order* o = &self.orders[<int64_t>found]
        cdef int64_t step = self.insts[o.inst].price_step
        if price_raw == 0 and o.price > 0:
            price_raw = o.price * step
        if trigger_raw == 0 and o.trigger > 0:
            trigger_raw = o.trigger * step
        if qty_raw == 0:
            qty_raw = o.total * self.insts[o.inst].size_step
        return self._evaluate(o.acc, o.inst, o.strat, o.side, o.otype, price_raw, trigger_raw, qty_raw,
                              False, None, ts, o, R_OK)

    def check(self, int acc, int inst, int strat, int side, int otype, int64_t price_raw,
              int64_t trigger_raw, int64_t qty_raw, bint reduce_only, object coid, int64_t ts):
        """Check a new order; 0 = approved (a token is taken and ``coid`` recorded), else a RiskReason.

        ``price_raw`` / ``trigger_raw`` (0 = none) are raw at the instrument's price precision,
        ``qty_raw`` at its size precision; ``coid`` is the client order id (a str), or None to skip
        the duplicate check.
        """
        if coid is not None and not isinstance(coid, str):
            raise TypeError(f"coid must be a str or None, got {type(coid).__name__}")
        return self.check_c(acc, inst, strat, side, otype, price_raw, trigger_raw, qty_raw, reduce_only,
                            coid, ts)

    def check_fixed(self, int acc, int inst, int strat, int side, int otype, int64_t price_raw,
                    int price_precision, int64_t trigger_raw, int trigger_precision, int64_t qty_raw,
                    int qty_precision, bint reduce_only, object coid, int64_t ts):
        """``check`` with each value raw at its own precision (e.g. straight from ``Price.raw`` /
        ``Price.precision``); converting to the instrument's precision is exact or it is a grid denial."""
        if coid is not None and not isinstance(coid, str):
            raise TypeError(f"coid must be a str or None, got {type(coid).__name__}")
        return self.check_fixed_c(acc, inst, strat, side, otype, price_raw, price_precision, trigger_raw,
                                  trigger_precision, qty_raw, qty_precision, reduce_only, coid, ts)

    def check_amend(self, int64_t key, int64_t price_raw, int64_t trigger_raw, int64_t qty_raw, int64_t ts):
        """Check an amend of open order ``key``: new price / trigger (raw, 0 = unchanged) and new
        *total* quantity (raw, 0 = unchanged). The order's own contribution is replaced, not added."""
        return self.check_amend_c(key, price_raw, trigger_raw, qty_raw, ts)

    def check_cancel(self, int64_t key):
        """Cancels pass in every trading state (they never add risk)."""
        return R_OK

    # -- snapshot / restore --------------------------------------------------------------------
    def snapshot(self):
        """All state as plain data (ints, strs, lists, dicts); ``from_snapshot`` rebuilds it exactly."""
        cdef int i, j
        cdef Inst* s
        cdef Account* a
        cdef Strategy* st
        cdef Pair* p
        cdef Order* o
        instruments = []
        for i in range(self.max_instruments):
            s = &self.insts[i]
            if s.registered:
                instruments.append({
                    "ix": i, "price_precision": s.price_precision, "size_precision": s.size_precision,
                    "price_step": s.price_step, "size_step": s.size_step, "factor": s.factor,
                    "min_lots": s.min_lots, "min_notional": s.min_notional, "tradable": bool(s.tradable),
                    "limits": None if not s.has_limits else [
                        s.max_order_lots, s.max_order_notional, s.max_position_lots, s.band_bps,
                        s.max_age_ns, s.ref_kind],
                    "market": [s.last_ticks, s.bid_ticks, s.ask_ticks, s.md_ts, s.mark2],
                })
        accounts = []
        for i in range(self.max_accounts):
            a = &self.accs[i]
            if a.registered:
                accounts.append({
                    "ix": i, "state": a.state,
                    "limits": None if not a.has_limits else [
                        a.max_gross, a.max_net, a.max_open_orders, a.bucket.rate, a.bucket.capacity // TOKEN],
                    "bucket": [a.bucket.tokens, a.bucket.last_ts],
                    "client_order_ids": sorted(self.coids[i]),
                })
        strategies = []
        for i in range(self.max_strategies):
            st = &self.strats[i]
            if st.registered:
                strategies.append({
                    "ix": i,
                    "limits": None if not st.has_limits else [st.bucket.rate, st.bucket.capacity // TOKEN],
                    "bucket": [st.bucket.tokens, st.bucket.last_ts],
                })
        positions = []
        for i in range(self.max_accounts):
            for j in range(self.max_instruments):
                p = self._pair(i, j)
                if p.position != 0:
                    positions.append([i, j, p.position])
        orders = []
        for key, slot in sorted(self.slots.items()):
            o = &self.orders[<int64_t>slot]
            orders.append([o.key, o.acc, o.inst, o.strat, o.side, o.otype, o.price, o.trigger, o.total,
                           o.leaves])
        return {
            "capacity": [self.max_accounts, self.max_instruments, self.max_strategies],
            "global_state": self.global_state,
            "instruments": instruments,
            "accounts": accounts,
            "strategies": strategies,
            "positions": positions,
            "orders": orders,
        }

    @staticmethod
    def from_snapshot(dict data):
        """A new gate holding exactly the state ``snapshot()`` returned."""
        max_accounts, max_instruments, max_strategies = data["capacity"]
        cdef RiskGate gate = RiskGate(max_accounts, max_instruments, max_strategies,
                                      max(1024, len(data["orders"])))
        cdef Inst* s
        cdef Account* a
        cdef Strategy* st
        cdef Order* o
        cdef int64_t slot
        gate.set_global_trading_state(data["global_state"])
        for item in data["instruments"]:
            ix = item["ix"]
            gate.register_instrument(ix, item["price_precision"], item["price_step"], item["size_precision"],
                                     item["size_step"], item["factor"],
                                     item["min_lots"], item["min_notional"], item["tradable"])
            if item["limits"] is not None:
                gate.set_instrument_limits(ix, *item["limits"])
            s = &gate.insts[<int>ix]
            s.last_ticks, s.bid_ticks, s.ask_ticks, s.md_ts, s.mark2 = item["market"]
        for item in data["accounts"]:
            ix = item["ix"]
            gate.register_account(ix)
            gate.set_trading_state(ix, item["state"])
            if item["limits"] is not None:
                gate.set_account_limits(ix, *item["limits"])
            a = &gate.accs[<int>ix]
            a.bucket.tokens, a.bucket.last_ts = item["bucket"]
            gate.coids[ix] = set(item["client_order_ids"])
        for item in data["strategies"]:
            ix = item["ix"]
            gate.register_strategy(ix)
            if item["limits"] is not None:
                gate.set_strategy_limits(ix, *item["limits"])
            st = &gate.strats[<int>ix]
            st.bucket.tokens, st.bucket.last_ts = item["bucket"]
        for acc, inst, lots in data["positions"]:
            gate.set_position(acc, inst, lots)
        for key, acc, inst, strat, side, otype, price, trigger, total, leaves in data["orders"]:
            gate.on_order_opened(key, acc, inst, strat, side, otype, price, trigger, total)
            if leaves != total:
                slot = gate.slots[key]
                gate._remove_open(slot)
                o = &gate.orders[slot]
                o.leaves = leaves
                gate._add_open(slot)
        return gate
