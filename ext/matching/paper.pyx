# cython: language_level=3
"""The paper venue's order path, compiled: submit, validate, take the book, fill, rest or close.

``engine.venues.sim.paper.PaperVenue`` keeps the lifecycle, the queries, snapshot/restore, amend,
cancel, trade prints and triggers; every path that changes an order's fills or ends it runs here
(``PaperKernel.submit`` / ``execute`` / ``fill`` / ``close`` / ``rest``), so there is one
implementation of the fill model (described in the venue's module docstring), not two.

Nothing here imports the engine: the venue hands the kernel its tables (orders by key, live orders by
venue order id, positions, the ledger's balances, the retained finished orders), the classes it
builds (events, ids, ``Money`` / ``Price`` / ``Quantity`` with their slot descriptors), the enum
members it reports, and per instrument its compiled book and integer terms (``add_market``).

``PaperOrder`` is one paper order: integers (ticks, lots) in C fields, readable and writable from
Python as before (``PAPER_FIELDS``). A price, quantity or trigger that does not fit 64 bits is out
of the venue's range (``VALUE_OUT_OF_RANGE``) and is kept clipped to 64 bits on the rejected order.

Money stays exact: fee units, notionals and balance moves are 64-bit integers when the product fits
(checked with the compiler's overflow builtins) and Python integers otherwise; balances are
``Money`` (unbounded Python integers) and only ever added to.

What the kernel builds is untracked by the cyclic garbage collector: a new order and its fills list,
the events, and the ``Money`` / ``Price`` / ``Quantity`` / id values. None of them can be part of a
reference cycle (the values hold ints and strings; an order holds ids, enum members, strings, ints
and its list of fill tuples of strings and ints; an event is a frozen record of such values), so
reference counting frees them all the same, and the collector's passes skip the thousands of
retained finished orders and the reports the engine keeps (~3% of a 1M-bar backtest).
"""

cimport cython
from cpython.dict cimport PyDict_Contains, PyDict_GetItem
from cpython.object cimport PyObject
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t, INT64_MAX, INT64_MIN

from engine.ext.book.l2book cimport L2Book
from engine.ext.book.types cimport BookSide
from engine.ext.core.records cimport alloc as _alloc, check_class, descr_get as _get, descr_set, str_of

cdef extern from *:
    """
    /* A value that holds only ints and strings (Money, Price, Quantity, an id) cannot be part of a
       reference cycle: the cyclic collector need not track it. */
    static CYTHON_INLINE void algotrendy_paper_leaf(PyObject *obj) {
        if (PyObject_IS_GC(obj) && PyObject_GC_IsTracked(obj)) PyObject_GC_UnTrack(obj);
    }
    /* a * b * c in 64 bits; 0 if any step overflows. */
    static CYTHON_INLINE int algotrendy_mul3(int64_t a, int64_t b, int64_t c, int64_t *out) {
        int64_t ab;
        if (__builtin_mul_overflow(a, b, &ab)) return 0;
        return !__builtin_mul_overflow(ab, c, out);
    }
    """
    void _leaf "algotrendy_paper_leaf"(object obj) noexcept
    bint _mul3 "algotrendy_mul3"(int64_t a, int64_t b, int64_t c, int64_t* out) noexcept

cdef inline object _new_str(object cls, object value):
    """``str.__new__(cls, value)`` (an id valid by construction), untracked (see ``_leaf``)."""
    out = str_of(cls, value)
    _leaf(out)
    return out


#: ``PaperOrder``'s fields, in the order the venue's snapshot lists them.
PAPER_FIELDS = (
    "account",
    "coid",
    "expire",
    "filled",
    "fills",
    "flags",
    "iid",
    "leaves",
    "otype",
    "price",
    "qty",
    "queue_ahead",
    "reason",
    "seen",
    "side",
    "state",
    "status",
    "tif",
    "trigger",
    "triggered",
    "ts_last",
    "vid",
)
#: The fields of the events the kernel builds, in the order of the setters ``PaperKernel`` takes.
ACCEPTED_FIELDS = ("ts_event", "ts_init", "account_id", "client_order_id", "instrument_id", "sequence",
                   "venue_order_id")
FILLED_FIELDS = ("ts_event", "ts_init", "account_id", "client_order_id", "instrument_id", "sequence",
                 "venue_order_id", "trade_id", "side", "last_price", "last_quantity", "liquidity_side",
                 "commission")
CANCELED_FIELDS = ("ts_event", "ts_init", "account_id", "client_order_id", "instrument_id", "sequence",
                   "reason")
EXPIRED_FIELDS = ("ts_event", "ts_init", "account_id", "client_order_id", "instrument_id", "sequence")
#: The submit command's fields the kernel reads, in the order of ``PaperKernel``'s ``submit_fields``.
SUBMIT_FIELDS = ("account_id", "client_order_id", "instrument_id", "side", "order_type", "time_in_force",
                 "expire_at_ns", "post_only", "reduce_only", "quantity", "price", "trigger_price")
#: The order statuses the kernel sets, in the order ``PaperKernel`` takes them.
STATUS_NAMES = ("SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "REJECTED")

#: The largest price, quantity or trigger the venue accepts (2**53 - 1).
cdef int64_t _MAX = (<int64_t>1 << 53) - 1

# The order's ``state`` (strings: the venue compares them in Python).
cdef str TAKING = "taking"
cdef str RESTING = "resting"
cdef str STOP = "stop"
cdef str DONE = "done"
cdef str GTD_EXPIRED = "GTD_EXPIRED"
cdef str REDUCE_ONLY_EXHAUSTED = "REDUCE_ONLY_EXHAUSTED"

cdef tuple _POW10 = tuple(10 ** k for k in range(64))


cdef inline int64_t _clip(object value):
    """A Python int as int64, clipped to the int64 range (only out-of-range values are clipped, and
    those are rejected ``VALUE_OUT_OF_RANGE``)."""
    if value > INT64_MAX:
        return INT64_MAX
    if value < INT64_MIN:
        return INT64_MIN
    return <int64_t>value


@cython.final
cdef class PaperOrder:
    """One of our paper orders (integers: ticks, lots, fee units; see ``PAPER_FIELDS``)."""

    cdef public object account
    cdef public object coid
    cdef public object iid
    cdef public object expire
    cdef public object status
    cdef public object reason
    cdef public list fills
    cdef public str state
    cdef public int64_t vid
    cdef public int64_t side
    cdef public int64_t otype
    cdef public int64_t tif
    cdef public int64_t qty
    cdef public int64_t price
    cdef public int64_t trigger
    cdef public int64_t flags
    cdef public int64_t filled
    cdef public int64_t leaves
    cdef public int64_t queue_ahead
    cdef public int64_t seen
    cdef public int64_t ts_last
    cdef public bint triggered
    #: ``P<vid>`` as the venue's order id class, built once at acceptance (None before).
    cdef object venue_id
    #: ``(account, coid)`` (the key of the venue's order table) and ``(account, iid)`` (of its
    #: positions), built once (None for a restored order until first needed).
    cdef object key
    cdef object position_key

    def __init__(self, **values):
        """Every field of ``PAPER_FIELDS`` by name (a restored order)."""
        for name in PAPER_FIELDS:
            setattr(self, name, values[name])

    @property
    def post_only(self):
        return bool(self.flags & 1)

    @property
    def reduce_only(self):
        return bool(self.flags & 2)


@cython.final
cdef class _Market:
    """One instrument's book and integer terms, as the order path reads them."""

    cdef L2Book l2
    cdef object iid
    cdef object inst
    cdef bint tradable
    cdef int64_t min_lots
    cdef int64_t max_lots
    cdef object min_notional_units
    cdef int64_t maker_num
    cdef int64_t maker_den
    cdef int64_t taker_num
    cdef int64_t taker_den
    cdef int64_t price_precision
    cdef int64_t price_step
    cdef int64_t size_precision
    cdef int64_t size_step
    cdef object py_price_precision
    cdef object py_size_precision
    cdef object py_fee_precision
    cdef str prefix
    # the ledger's fill terms: quote code, notional precision and unit, spot's base code and step
    cdef object quote
    cdef int64_t notional_precision
    cdef object unit
    cdef int64_t unit64
    cdef bint unit_fits
    cdef object base
    cdef int64_t base_precision
    cdef int64_t base_step
    cdef int64_t fee_precision
    cdef object zero_fee


@cython.final
cdef class PaperKernel:
    """The paper venue's order path over the venue's own tables (see the module docstring)."""

    cdef dict orders
    cdef dict live
    cdef dict positions
    cdef dict balances
    cdef dict last_trade
    cdef object closed_keys
    cdef Py_ssize_t retention
    cdef dict markets
    cdef public int64_t next_vid
    cdef public int64_t next_trade
    cdef public bint gtd_seen
    cdef int64_t report_latency
    cdef int64_t* walk_ticks
    cdef int64_t* walk_lots
    cdef Py_ssize_t walk_cap
    # enum values
    cdef int64_t buy, market, stop_market, limit, stop_limit, gtd, ioc, fok, maker, taker
    # enum members and classes
    cdef object st_submitted, st_accepted, st_partial, st_filled, st_canceled, st_expired, st_rejected
    cdef dict sides
    cdef dict liquidity
    cdef object accepted_cls, filled_cls, canceled_cls, expired_cls
    cdef tuple accepted_set, filled_set, canceled_set, expired_set
    cdef object venue_order_id_cls, trade_id_cls
    cdef object money_cls, money_raw, money_precision, money_currency
    cdef object price_cls, quantity_cls, fixed_raw, fixed_precision
    cdef object reject
    cdef tuple cmd_get
    cdef object raw_get, precision_get
    cdef object validation_error
    cdef object reason_details

    def __cinit__(self):
        self.walk_ticks = NULL
        self.walk_lots = NULL

    def __init__(self, dict orders not None, dict live not None, dict positions not None,
                 dict balances not None, dict last_trade not None, closed_keys, Py_ssize_t retention, *,
                 int64_t report_latency_ns, Py_ssize_t max_walk_levels, dict enums not None,
                 tuple statuses not None, dict sides not None, dict liquidity not None,
                 dict events not None,
                 tuple ids not None, tuple money not None, tuple fixed not None,
                 tuple submit_fields not None, reject not None,
                 validation_error not None, reason_details not None):
        """``orders`` (key -> order), ``live`` (venue order id -> order), ``positions`` ((account,
        instrument) -> lots), ``balances`` (the ledger's account -> {asset: Money}; the same dict
        for the ledger's life), ``last_trade`` (instrument -> the last trade's ticks) and
        ``closed_keys`` (the retained finished orders' deque, at most ``retention``) are the
        venue's tables. ``enums``: the integer values by name (buy, market,
        stop_market, limit, stop_limit, gtd, ioc, fok, maker, taker); ``statuses``: the members
        named by ``STATUS_NAMES``; ``sides`` / ``liquidity``: members by value; ``events``: name
        (accepted, filled, canceled, expired) -> (class, its slot setters in ``*_FIELDS`` order);
        ``ids``: (venue order id class, trade id class); ``money``: (Money, raw, precision and
        currency setters); ``fixed``: (Price, Quantity, raw and precision setters: the same
        descriptors read a value's raw integer and precision); ``submit_fields``: the submit
        command's descriptors of ``SUBMIT_FIELDS``. ``reject(ts, account, client order id,
        instrument id, reason)`` builds a submit reject event. The classes the kernel allocates
        must be defined in Python (their slots are set through the descriptors given)."""
        if max_walk_levels < 1:
            raise ValueError("max_walk_levels must be >= 1")
        if retention < 1:
            raise ValueError("retention must be >= 1")
        if len(statuses) != len(STATUS_NAMES):
            raise ValueError(f"statuses: {len(STATUS_NAMES)} members, in the order {STATUS_NAMES}")
        self.orders = orders
        self.live = live
        self.positions = positions
        self.balances = balances
        self.last_trade = last_trade
        self.closed_keys = closed_keys
        self.retention = retention
        self.markets = {}
        self.next_vid = 1
        self.next_trade = 1
        self.gtd_seen = False
        self.report_latency = report_latency_ns
        self.walk_cap = max_walk_levels
        PyMem_Free(self.walk_ticks)  # (``__init__`` called again)
        PyMem_Free(self.walk_lots)
        self.walk_ticks = <int64_t*>PyMem_Malloc(max_walk_levels * sizeof(int64_t))
        self.walk_lots = <int64_t*>PyMem_Malloc(max_walk_levels * sizeof(int64_t))
        if self.walk_ticks == NULL or self.walk_lots == NULL:
            raise MemoryError()
        self.buy = enums["buy"]
        self.market = enums["market"]
        self.stop_market = enums["stop_market"]
        self.limit = enums["limit"]
        self.stop_limit = enums["stop_limit"]
        self.gtd = enums["gtd"]
        self.ioc = enums["ioc"]
        self.fok = enums["fok"]
        self.maker = enums["maker"]
        self.taker = enums["taker"]
        (self.st_submitted, self.st_accepted, self.st_partial, self.st_filled, self.st_canceled,
         self.st_expired, self.st_rejected) = statuses
        self.sides = sides
        self.liquidity = liquidity
        self.accepted_cls, self.accepted_set = _event_spec(events["accepted"], ACCEPTED_FIELDS)
        self.filled_cls, self.filled_set = _event_spec(events["filled"], FILLED_FIELDS)
        self.canceled_cls, self.canceled_set = _event_spec(events["canceled"], CANCELED_FIELDS)
        self.expired_cls, self.expired_set = _event_spec(events["expired"], EXPIRED_FIELDS)
        self.venue_order_id_cls, self.trade_id_cls = ids
        self.money_cls, self.money_raw, self.money_precision, self.money_currency = money
        self.price_cls, self.quantity_cls, self.fixed_raw, self.fixed_precision = fixed
        for cls in (self.money_cls, self.price_cls, self.quantity_cls):
            _check_class(cls)
        for setter in (self.money_raw, self.money_precision, self.money_currency, self.fixed_raw,
                       self.fixed_precision):
            if not hasattr(type(setter), "__set__"):
                raise TypeError(f"{setter!r} is not a data descriptor")
        if len(submit_fields) != len(SUBMIT_FIELDS):
            raise ValueError(f"submit_fields: one descriptor for each of {SUBMIT_FIELDS}")
        for getter in submit_fields:
            if not hasattr(type(getter), "__get__"):
                raise TypeError(f"{getter!r} is not a descriptor")
        self.cmd_get = submit_fields
        self.raw_get = self.fixed_raw
        self.precision_get = self.fixed_precision
        self.reject = reject
        self.validation_error = validation_error
        self.reason_details = reason_details

    def __dealloc__(self):
        PyMem_Free(self.walk_ticks)
        PyMem_Free(self.walk_lots)

    def add_market(self, iid, L2Book l2 not None, inst, terms, *, str prefix not None,
                   int64_t price_precision, int64_t price_step, int64_t size_precision,
                   int64_t size_step, fill_terms, zero_fee):
        """List instrument ``iid``: its compiled book, instrument and ``InstrumentTerms``, the prefix
        of its trade ids, its price and size grids (precision and raw step) and the ledger's fill
        terms for it (quote code, notional precision, notional unit, base code or None, base
        precision, base step)."""
        cdef _Market m = _Market.__new__(_Market)
        if price_step < 1 or size_step < 1:
            raise ValueError("price and size steps must be >= 1")
        m.l2 = l2
        m.iid = iid
        m.inst = inst
        m.tradable = bool(inst.tradable)
        m.min_lots = terms.min_lots
        m.max_lots = terms.max_lots
        m.min_notional_units = terms.min_notional_units
        m.maker_num = terms.maker_fee_num
        m.maker_den = terms.maker_fee_den
        m.taker_num = terms.taker_fee_num
        m.taker_den = terms.taker_fee_den
        if m.maker_den < 1 or m.taker_den < 1:
            raise ValueError("fee denominators must be >= 1")
        m.fee_precision = terms.fee_precision
        m.py_fee_precision = m.fee_precision
        m.price_precision = price_precision
        m.py_price_precision = price_precision
        m.price_step = price_step
        m.size_precision = size_precision
        m.py_size_precision = size_precision
        m.size_step = size_step
        m.prefix = prefix
        quote, notional_precision, unit, base, base_precision, base_step = fill_terms
        m.quote = quote
        m.notional_precision = notional_precision
        m.unit = unit
        m.unit_fits = INT64_MIN < unit < INT64_MAX
        m.unit64 = unit if m.unit_fits else 0
        m.base = base
        m.base_precision = base_precision
        m.base_step = base_step
        m.zero_fee = zero_fee
        self.markets[iid] = m

    # == submit =====================================================================================
    cpdef submit(self, cmd, int64_t ts, list out):
        """Run a ``SubmitOrder`` at ``ts``: its events go to ``out``."""
        cdef tuple get = self.cmd_get
        account = _get(get[0], cmd)
        coid = _get(get[1], cmd)
        key = (account, coid)
        if PyDict_Contains(self.orders, key):
            out.append(self.reject(ts, account, coid, _get(get[2], cmd), "DUPLICATE_CLIENT_ORDER_ID"))
            return
        cdef PaperOrder o = PaperOrder.__new__(PaperOrder)
        o.account = account
        o.coid = coid
        o.key = key
        o.iid = _get(get[2], cmd)
        o.side = _get(get[3], cmd)
        o.otype = _get(get[4], cmd)
        o.tif = _get(get[5], cmd)
        expire = _get(get[6], cmd)
        o.expire = expire if expire else 0
        o.flags = (1 if _get(get[7], cmd) else 0) | (2 if _get(get[8], cmd) else 0)
        o.status = self.st_submitted
        o.triggered = False
        o.fills = []
        _leaf(o)
        _leaf(o.fills)
        o.ts_last = ts
        o.state = TAKING
        self.orders[key] = o
        reason = self._validate(cmd, o, ts)
        if reason is not None:
            o.status = self.st_rejected
            o.reason = reason
            o.leaves = 0
            self._finished(o)
            out.append(self.reject(ts, account, coid, o.iid, reason))
            return
        o.vid = self.next_vid
        self.next_vid += 1
        o.status = self.st_accepted
        self.live[o.vid] = o
        if o.tif == self.gtd:
            self.gtd_seen = True
        vid = self._venue_id(o)
        event = _alloc(self.accepted_cls)
        cdef tuple s = self.accepted_set
        descr_set(s[0], event, ts)
        descr_set(s[1], event, ts + self.report_latency)
        descr_set(s[2], event, account)
        descr_set(s[3], event, coid)
        descr_set(s[4], event, o.iid)
        descr_set(s[5], event, 0)
        descr_set(s[6], event, vid)
        _leaf(event)
        out.append(event)
        if o.otype == self.stop_market or o.otype == self.stop_limit:
            o.state = STOP
            return
        self.execute(o, ts, out)

    cdef object _validate(self, cmd, PaperOrder o, int64_t ts):
        """The reject reason of a new order, or None (the venue's checks, in its order)."""
        cdef PyObject* found = PyDict_GetItem(self.markets, o.iid)
        if found == NULL:
            return "UNKNOWN_INSTRUMENT"
        cdef _Market m = <_Market>found
        if not m.tradable:
            return "INSTRUMENT_NOT_TRADABLE"
        if not PyDict_Contains(self.balances, o.account):
            return "UNKNOWN_ACCOUNT"
        cdef bint too_big = False
        cdef int64_t price = 0, trigger = 0, opposite
        cdef BookSide* opp
        cdef tuple get = self.cmd_get
        try:
            value = self._to_steps(_get(get[9], cmd), m, False)
            o.qty = o.leaves = _clip(value)
            too_big = value > _MAX
            given = _get(get[10], cmd)
            if given is not None:
                value = self._to_steps(given, m, True)
                price = o.price = _clip(value)
                too_big = too_big or value > _MAX
            given = _get(get[11], cmd)
            if given is not None:
                value = self._to_steps(given, m, True)
                trigger = o.trigger = _clip(value)
                too_big = too_big or value > _MAX
        except self.validation_error as exc:
            return exc.reason if exc.reason in self.reason_details else "VALUE_OUT_OF_RANGE"
        if too_big:
            return "VALUE_OUT_OF_RANGE"
        if o.tif == self.gtd and o.expire <= ts:
            return "INVALID_EXPIRE_TIME"
        if o.flags & 1 and (o.otype != self.limit or o.tif == self.ioc or o.tif == self.fok):
            return "POST_ONLY_INVALID"
        if o.qty < m.min_lots:
            return "BELOW_MIN_QUANTITY"
        if m.max_lots and o.qty > m.max_lots:
            return "ABOVE_MAX_QUANTITY"
        cdef bint buy = o.side == self.buy
        opp = &m.l2._ask if buy else &m.l2._bid
        opposite = opp.best if opp.best_lots else 0
        if o.otype == self.market and not opposite:
            return "NO_LIQUIDITY"
        cdef int64_t ref = price or trigger or opposite
        cdef int64_t notional
        if _mul3(ref, o.qty, 1, &notional):
            below = notional < m.min_notional_units
        else:
            below = ref * <object>o.qty < m.min_notional_units
        if below:
            return "BELOW_MIN_NOTIONAL"
        if o.flags & 2 and self._reducible(o) == 0:
            return "REDUCE_ONLY_WOULD_INCREASE"
        if trigger:
            found = PyDict_GetItem(self.last_trade, o.iid)
            last = <object>found if found != NULL else 0
            if last > 0 and (last >= trigger if buy else last <= trigger):
                return "STOP_WOULD_TRIGGER"
        if o.flags & 1 and opposite and (price >= opposite if buy else price <= opposite):
            return "POST_ONLY_WOULD_TAKE"
        return None

    # == execute ====================================================================================
    cpdef execute(self, PaperOrder o, int64_t ts, list out):
        """Take what the book offers within the order's limit, then rest or cancel the remainder."""
        cdef _Market m = <_Market>self.markets[o.iid]
        cdef L2Book l2 = m.l2
        cdef BookSide* side = &l2._ask if o.side == self.buy else &l2._bid
        cdef bint buy = o.side == self.buy
        cdef bint taking = o.otype == self.market or o.otype == self.stop_market
        cdef Py_ssize_t n = 0, i, count = side.n_levels
        cdef int64_t ticks, shown, take, cap, want, total = 0
        cdef int64_t* walk_ticks = self.walk_ticks
        cdef int64_t* walk_lots = self.walk_lots
        if count == 1:  # the one-level book of a bar backtest: no walk
            ticks = side.best
            if taking or not (ticks > o.price if buy else ticks < o.price):
                walk_ticks[0] = ticks
                walk_lots[0] = side.best_lots
                n = 1
        elif count > 1:
            n = l2.depth_c(3 - o.side, walk_ticks, walk_lots, min(count, self.walk_cap))
            if not taking:
                for i in range(n):
                    ticks = walk_ticks[i]
                    if ticks > o.price if buy else ticks < o.price:
                        n = i
                        break
        cdef bint reduce_only = o.flags & 2
        if o.tif == self.fok:
            want = min(o.leaves, self._reducible(o)) if reduce_only else o.leaves
            for i in range(n):  # (saturating: the depth only has to cover ``leaves``)
                total = INT64_MAX if walk_lots[i] > INT64_MAX - total else total + walk_lots[i]
            if want < o.leaves or total < o.leaves:
                self.close(o, ts, "FOK_CANNOT_FILL", out)
                return
        for i in range(n):
            if o.leaves == 0:
                return
            take = min(o.leaves, walk_lots[i])
            if reduce_only:
                cap = self._reducible(o)
                if cap == 0:
                    self.close(o, ts, REDUCE_ONLY_EXHAUSTED, out)
                    return
                take = min(take, cap)
            self.fill(o, walk_ticks[i], take, self.taker, ts, out)
        if o.leaves == 0:
            return
        if taking:
            self.close(o, ts, "NO_LIQUIDITY", out)
        elif o.tif == self.ioc or o.tif == self.fok:
            self.close(o, ts, "IOC_REMAINDER", out)
        else:
            self.rest(o)

    cpdef rest(self, PaperOrder o):
        """Join the back of the queue at the order's price."""
        cdef _Market m = <_Market>self.markets[o.iid]
        cdef int64_t shown = m.l2._level_lots_c(m.l2._side_c(<int>o.side), o.price)
        o.state = RESTING
        o.queue_ahead = shown
        o.seen = shown

    # == fill =======================================================================================
    cpdef fill(self, PaperOrder o, int64_t ticks, int64_t lots, int liq, int64_t ts, list out):
        """Fill ``lots`` of ``o`` at ``ticks`` with liquidity side ``liq`` (maker or taker)."""
        if lots <= 0:
            return
        cdef bint reduce_only = o.flags & 2
        if reduce_only:
            lots = min(lots, self._reducible(o))
            if lots == 0:
                self.close(o, ts, REDUCE_ONLY_EXHAUSTED, out)
                return
        cdef _Market m = <_Market>self.markets[o.iid]
        cdef int64_t num, den, units
        if liq == self.maker:
            num, den = m.maker_num, m.maker_den
        else:
            num, den = m.taker_num, m.taker_den
        # the fee rule: ceil(ticks * lots * num / den) fee units (den > 0)
        if num == 0:
            fee_units = 0
        elif _mul3(ticks, lots, num, &units):
            fee_units = units // den + (1 if units % den > 0 else 0)  # (C division: cdivision)
        else:
            fee_units = -((-(<object>ticks) * lots * num) // den)
        if fee_units:
            commission = _alloc(self.money_cls)
            descr_set(self.money_raw, commission, fee_units)
            descr_set(self.money_precision, commission, m.py_fee_precision)
            descr_set(self.money_currency, commission, m.quote)
            _leaf(commission)
        else:
            commission = m.zero_fee
        trade_id = f"{m.prefix}{self.next_trade}"
        self.next_trade += 1
        o.filled += lots
        o.leaves -= lots
        o.fills.append((trade_id, ticks, lots, liq, fee_units, ts))
        o.status = self.st_filled if o.leaves == 0 else self.st_partial
        o.ts_last = ts
        cdef bint buy = o.side == self.buy
        cdef PyObject* found
        key = o.position_key
        if key is None:
            key = o.position_key = (o.account, o.iid)
        found = PyDict_GetItem(self.positions, key)
        self.positions[key] = (<object>found if found != NULL else 0) + (lots if buy else -lots)
        side = self.sides[o.side]
        self._move_balances(o.account, m, buy, ticks, lots, fee_units)
        if not _mul3(ticks, m.price_step, 1, &units) or units == INT64_MIN:
            price = m.inst.ticks_to_price(ticks)  # out of range: raises the usual error
        else:
            price = _alloc(self.price_cls)
            descr_set(self.fixed_raw, price, units)
            descr_set(self.fixed_precision, price, m.py_price_precision)
            _leaf(price)
        if not _mul3(lots, m.size_step, 1, &units) or units < 0:
            quantity = m.inst.lots_to_quantity(lots)
        else:
            quantity = _alloc(self.quantity_cls)
            descr_set(self.fixed_raw, quantity, units)
            descr_set(self.fixed_precision, quantity, m.py_size_precision)
            _leaf(quantity)
        event = _alloc(self.filled_cls)
        cdef tuple s = self.filled_set
        descr_set(s[0], event, ts)
        descr_set(s[1], event, ts + self.report_latency)
        descr_set(s[2], event, o.account)
        descr_set(s[3], event, o.coid)
        descr_set(s[4], event, o.iid)
        descr_set(s[5], event, 0)
        descr_set(s[6], event, self._venue_id(o))
        descr_set(s[7], event, _new_str(self.trade_id_cls, trade_id))
        descr_set(s[8], event, side)
        descr_set(s[9], event, price)
        descr_set(s[10], event, quantity)
        descr_set(s[11], event, self.liquidity[liq])
        descr_set(s[12], event, commission)
        _leaf(event)
        out.append(event)
        if o.leaves == 0:
            self.live.pop(o.vid, None)
            o.state = DONE
            self._finished(o)
        elif reduce_only and self._reducible(o) == 0:
            self.close(o, ts, REDUCE_ONLY_EXHAUSTED, out)

    cdef int _move_balances(self, account, _Market m, bint buy, int64_t ticks, int64_t lots,
                            fee_units) except -1:
        """The ledger's fill: the quote moves by the notional against the fill and by the fee,
        spot's base by the quantity with it (``Ledger.apply_fill``: exact, the result at the
        larger precision; the notional and the fee land in one new ``Money``)."""
        cdef dict book = <dict>self.balances[account]
        cdef int64_t raw64
        if m.unit_fits and _mul3(ticks, lots, m.unit64, &raw64) and raw64 != INT64_MIN:
            raw = -raw64 if buy else raw64
        else:
            raw = -(<object>ticks) * lots * m.unit if buy else (<object>ticks) * lots * m.unit
        if fee_units:
            self._move(book, m.quote, raw, m.notional_precision, -fee_units, m.fee_precision)
        else:
            self._move(book, m.quote, raw, m.notional_precision, 0, m.notional_precision)
        if m.base is not None:
            if _mul3(lots, m.base_step, 1, &raw64) and raw64 != INT64_MIN:
                raw = raw64 if buy else -raw64
            else:
                raw = (<object>lots) * m.base_step if buy else -(<object>lots) * m.base_step
            self._move(book, m.base, raw, m.base_precision, 0, m.base_precision)
        return 0

    cdef int _move(self, dict book, currency, raw, int64_t precision, extra,
                   int64_t extra_precision) except -1:
        """``book[currency] += raw / 10**precision + extra / 10**extra_precision`` as a new
        ``Money`` at the largest of the three precisions (the balance's, ``precision`` and, when
        ``extra`` is not zero, ``extra_precision``)."""
        cdef PyObject* found = PyDict_GetItem(book, currency)
        cdef int64_t places
        if found == NULL:
            total = raw
            places = precision
        else:
            current = <object>found
            places = _get(self.precision_get, current)
            total = _get(self.raw_get, current)
            if places == precision:
                total = total + raw
            elif places > precision:
                total = total + raw * _POW10[places - precision]
            else:
                total = total * _POW10[precision - places] + raw
                places = precision
        if extra:
            if places == extra_precision:
                total = total + extra
            elif places > extra_precision:
                total = total + extra * _POW10[places - extra_precision]
            else:
                total = total * _POW10[extra_precision - places] + extra
                places = extra_precision
        money = _alloc(self.money_cls)
        descr_set(self.money_raw, money, total)
        descr_set(self.money_precision, money, places)
        descr_set(self.money_currency, money, currency)
        _leaf(money)
        book[currency] = money
        return 0

    # == close ======================================================================================
    cpdef close(self, PaperOrder o, int64_t ts, str reason, list out):
        """Cancel (or expire, for ``GTD_EXPIRED``) what is left of an order."""
        self.live.pop(o.vid, None)
        o.state = DONE
        o.leaves = 0
        o.reason = reason
        o.ts_last = ts
        self._finished(o)
        cdef tuple s
        if reason == GTD_EXPIRED:
            o.status = self.st_expired
            event = _alloc(self.expired_cls)
            s = self.expired_set
        else:
            o.status = self.st_canceled
            event = _alloc(self.canceled_cls)
            s = self.canceled_set
            descr_set(s[6], event, "")
        descr_set(s[0], event, ts)
        descr_set(s[1], event, ts + self.report_latency)
        descr_set(s[2], event, o.account)
        descr_set(s[3], event, o.coid)
        descr_set(s[4], event, o.iid)
        descr_set(s[5], event, 0)
        _leaf(event)
        out.append(event)

    # == helpers ====================================================================================
    cpdef object reducible(self, PaperOrder o):
        """What a reduce-only order may still fill: the opposite paper position, in lots."""
        key = o.position_key
        if key is None:
            key = o.position_key = (o.account, o.iid)
        pos = self.positions.get(key, 0)
        return max(-pos, 0) if o.side == self.buy else max(pos, 0)

    cdef inline int64_t _reducible(self, PaperOrder o) except -1:
        """``reducible`` clipped to int64 (it is only compared with ``leaves``, which fits)."""
        return _clip(self.reducible(o))

    cdef object _to_steps(self, value, _Market m, bint is_price):
        """``Instrument.price_to_ticks`` / ``quantity_to_lots``: inline when the value is at the
        grid's precision and on the grid; otherwise the instrument's own method (rescales, or
        raises the ``ValidationError`` naming the reason)."""
        cdef int64_t raw, precision = m.price_precision if is_price else m.size_precision
        cdef int64_t step = m.price_step if is_price else m.size_step
        if _get(self.precision_get, value) == precision:
            raw = _get(self.raw_get, value)
            if raw % step == 0:
                return raw // step
        return m.inst.price_to_ticks(value) if is_price else m.inst.quantity_to_lots(value)

    cdef object _venue_id(self, PaperOrder o):
        if o.venue_id is None:
            o.venue_id = _new_str(self.venue_order_id_cls, f"P{o.vid}")
        return o.venue_id

    cdef int _finished(self, PaperOrder o) except -1:
        """``FinishedOrders.add``: remember ``o``'s key; forget the oldest once over the retention."""
        key = o.key
        if key is None:
            key = o.key = (o.account, o.coid)
        keys = self.closed_keys
        keys.append(key)
        if len(keys) > self.retention:
            del self.orders[keys.popleft()]
        return 0


cdef inline _check_class(cls):
    """A class the kernel allocates is defined in Python (a heap type, see ``check_class``)."""
    check_class(cls, "class")


cdef tuple _event_spec(spec, tuple names):
    cls, setters = spec
    _check_class(cls)
    setters = tuple(setters)
    if len(setters) != len(names):
        raise ValueError(f"{cls!r}: {len(setters)} setters for the fields {names}")
    for setter in setters:
        if not hasattr(type(setter), "__set__"):
            raise TypeError(f"{setter!r} is not a data descriptor")
    return cls, setters
