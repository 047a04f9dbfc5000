# cython: language_level=3
"""The simulated venue's common submit path, compiled: a new order the matcher accepts.

``engine.venues.sim.venue.SimVenue.apply(SubmitOrder)`` calls ``SimKernel.submit`` first. The kernel
runs the order when it is the common case and returns True; otherwise it changes nothing and returns
False, and the venue's Python ``_submit`` runs the order as before. The common case: a new client
order id, a listed and tradable instrument, an open account, a quantity / price / trigger at the
grid's precision, on the grid, positive and within the venue's range (2**53 - 1). Everything else
(a reject by the venue, a value with more places than the grid, off the grid or out of range) is the
Python path's, so the venue's reject reasons and their order have one implementation.

For an order it takes, the kernel does what ``_submit`` does, in the same order: the venue's order
record (the venue's ``_Order`` class, its slots set at their descriptors' offsets) into the order table,
the next venue order id (the ``_next_vid`` entry of the venue's instance dict), the record into the
live table, the matcher's ``submit``; then, when the order rests untouched (``accepted_only``: the
common outcome), the record's status and the ``OrderAccepted`` (built the same way),
otherwise the venue's ``_dispatch`` (fills, rejects by the matcher); then the quote check of
``_publish_quote`` (the venue's ``_quote_tick`` builds a tick when the top moved and both sides are
there).

Nothing here imports the engine: the venue hands the kernel its tables, the classes and descriptors
it builds with, the enum members it sets and, per instrument (``add_market``), its ``_Market``, the
matcher and the integer grid. The classes the kernel allocates must be defined in Python.
"""

cimport cython
from cpython.dict cimport PyDict_GetItem
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check, PyLong_FromLongLong
from cpython.object cimport PyObject
from libc.stdint cimport int64_t

from engine.ext.core.records cimport (
    alloc as _alloc, check_class, descr_get as _get, descr_set, str_of as _new_str,
)

cdef extern from *:
    """
    #include "structmember.h"
    /* The offset of an object slot (a member descriptor of kind T_OBJECT_EX) of instances of
       ``cls`` (a subclass of the descriptor's class); -1 and TypeError for anything else. */
    static Py_ssize_t algotrendy_sim_offset(PyObject *descr, PyObject *cls) {
        PyMemberDef *member;
        if (!PyType_Check(cls) || Py_TYPE(descr) != &PyMemberDescr_Type
                || !PyType_IsSubtype((PyTypeObject *)cls, ((PyDescrObject *)descr)->d_type)) {
            PyErr_Format(PyExc_TypeError, "%R is not a slot of %R", descr, cls);
            return -1;
        }
        member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX || (member->flags & READONLY)) {
            PyErr_Format(PyExc_TypeError, "%R is not a writable object slot", descr);
            return -1;
        }
        return member->offset;
    }
    /* The object in a slot (borrowed; NULL when unset). */
    static CYTHON_INLINE PyObject *algotrendy_sim_slot(PyObject *obj, Py_ssize_t offset) {
        return *(PyObject **)((char *)obj + offset);
    }
    /* Set a slot: what the member descriptor's setter does for an instance of its class. */
    static CYTHON_INLINE void algotrendy_sim_put(PyObject *obj, Py_ssize_t offset, PyObject *value) {
        PyObject **slot = (PyObject **)((char *)obj + offset);
        PyObject *old = *slot;
        Py_INCREF(value);
        *slot = value;
        Py_XDECREF(old);
    }
    """
    Py_ssize_t _offset "algotrendy_sim_offset"(object descr, object cls) except -1
    PyObject* _slot "algotrendy_sim_slot"(object obj, Py_ssize_t offset) noexcept
    void _put "algotrendy_sim_put"(object obj, Py_ssize_t offset, object value) noexcept
    int _contains "_PyDict_Contains_KnownHash"(object d, object key, Py_hash_t h) except -1
    int _set_known "_PyDict_SetItem_KnownHash"(object d, object key, object value, Py_hash_t h) except -1
    bint _mul "__builtin_mul_overflow"(long long a, long long b, long long* out) noexcept

cdef long long[19] _POW10
_POW10[0] = 1
for _k in range(1, 19):
    _POW10[_k] = _POW10[_k - 1] * 10

#: The venue's order record's slots, in the order of ``SimKernel``'s ``order`` descriptors.
ORDER_FIELDS = ("account", "coid", "expire", "filled", "fills", "flags", "iid", "leaves", "otype", "price",
                "qty", "reason", "side", "status", "tif", "trigger", "triggered", "ts_last", "vid")
#: ``OrderAccepted``'s fields, in the order of ``SimKernel``'s ``accepted`` descriptors.
ACCEPTED_FIELDS = ("ts_event", "ts_init", "account_id", "client_order_id", "instrument_id", "sequence",
                   "venue_order_id")
#: The submit command's fields the kernel reads, in the order of ``SimKernel``'s ``submit`` descriptors.
SUBMIT_FIELDS = ("account_id", "client_order_id", "instrument_id", "side", "order_type", "time_in_force",
                 "expire_at_ns", "post_only", "reduce_only", "quantity", "price", "trigger_price")
#: The venue's market record's slots the kernel reads or sets (``market`` descriptors).
MARKET_FIELDS = ("last_quote",)

#: The largest price, quantity or trigger the venue accepts (2**53 - 1).
cdef int64_t _MAX = (<int64_t>1 << 53) - 1

# Slot indexes of ``ORDER_FIELDS``.
cdef enum:
    O_ACCOUNT = 0
    O_COID = 1
    O_EXPIRE = 2
    O_FILLED = 3
    O_FILLS = 4
    O_FLAGS = 5
    O_IID = 6
    O_LEAVES = 7
    O_OTYPE = 8
    O_PRICE = 9
    O_QTY = 10
    O_REASON = 11
    O_SIDE = 12
    O_STATUS = 13
    O_TIF = 14
    O_TRIGGER = 15
    O_TRIGGERED = 16
    O_TS_LAST = 17
    O_VID = 18


@cython.final
cdef class _Market:
    """One instrument as the submit path reads it: the venue's market record, its matcher's calls and
    the integer grid."""

    cdef object market
    cdef object iid
    cdef object submit
    cdef object accepted_only
    cdef object top
    cdef bint tradable
    cdef int64_t price_precision
    cdef int64_t price_step
    cdef int64_t size_precision
    cdef int64_t size_step


@cython.final
cdef class SimKernel:
    """The common submit path over the venue's own tables (see the module docstring)."""

    cdef dict orders
    cdef dict live
    cdef dict accounts
    cdef dict attrs
    cdef dict markets
    cdef object vid_key
    cdef object latency
    cdef object order_cls
    cdef object accepted_cls
    cdef object submit_cls
    cdef Py_ssize_t[19] order_at
    cdef Py_ssize_t[7] accepted_at
    cdef Py_ssize_t[12] cmd_at
    cdef object sequence0
    cdef object venue_order_id_cls
    cdef object st_submitted
    cdef object st_accepted
    cdef object no_fills
    cdef object post_only_flag
    cdef object reduce_only_flag
    cdef object price_cls
    cdef object quantity_cls
    cdef object raw_get
    cdef object precision_get
    cdef object last_quote_descr
    cdef object dispatch
    cdef object quote_tick

    def __init__(self, dict orders not None, dict live not None, dict accounts not None,
                 dict attrs not None, str vid_key not None, *, report_latency_ns, tuple order not None,
                 tuple accepted not None, tuple submit not None, sequence0, venue_order_id_cls,
                 tuple statuses not None, no_fills, tuple flags not None, tuple fixed not None,
                 tuple market not None, dispatch not None, quote_tick not None):
        """``orders`` (key -> order record), ``live`` (venue order id -> record) and ``accounts``
        (account -> matcher account index) are the venue's tables; ``attrs[vid_key]`` is its next
        venue order id (``attrs``: the venue's instance dict). ``order``: (the record class, its slot
        descriptors in ``ORDER_FIELDS`` order); ``accepted``: (``OrderAccepted``, its slot
        descriptors in ``ACCEPTED_FIELDS`` order); ``submit``: (``SubmitOrder``, its slot
        descriptors in ``SUBMIT_FIELDS`` order); ``sequence0``: the events' default sequence;
        ``statuses``: (SUBMITTED, ACCEPTED); ``no_fills``: a new record's fills; ``flags``:
        (post-only, reduce-only) bits; ``fixed``: (Price, Quantity, raw and precision descriptors);
        ``market``: the market record's descriptors of ``MARKET_FIELDS``; ``dispatch(market, out)``
        turns the matcher's reports into events; ``quote_tick(market, ts, ts_init, top)`` builds a
        quote from a top of book. The slots are read and set at their offsets (each descriptor is
        checked to be an object slot of its class)."""
        if len(statuses) != 2 or len(flags) != 2 or len(fixed) != 4:
            raise ValueError("statuses: (SUBMITTED, ACCEPTED); flags: (post-only, reduce-only); "
                             "fixed: (Price, Quantity, raw, precision)")
        self.orders = orders
        self.live = live
        self.accounts = accounts
        self.attrs = attrs
        self.vid_key = vid_key
        self.markets = {}
        self.latency = report_latency_ns
        self.order_cls = _offsets(order, ORDER_FIELDS, self.order_at, True)
        self.accepted_cls = _offsets(accepted, ACCEPTED_FIELDS, self.accepted_at, True)
        self.submit_cls = _offsets(submit, SUBMIT_FIELDS, self.cmd_at, False)
        self.sequence0 = sequence0
        if not (isinstance(venue_order_id_cls, type) and issubclass(venue_order_id_cls, str)):
            raise TypeError(f"{venue_order_id_cls!r} is not a str subclass")
        self.venue_order_id_cls = venue_order_id_cls
        self.st_submitted, self.st_accepted = statuses
        self.no_fills = no_fills
        self.post_only_flag, self.reduce_only_flag = flags
        self.price_cls, self.quantity_cls, self.raw_get, self.precision_get = fixed
        _check_getter(self.raw_get)
        _check_getter(self.precision_get)
        if len(market) != len(MARKET_FIELDS):
            raise ValueError(f"market: one descriptor for each of {MARKET_FIELDS}")
        for setter in market:
            _check_setter(setter)
        self.last_quote_descr = market[0]
        self.dispatch = dispatch
        self.quote_tick = quote_tick

    def add_market(self, iid, market, engine, instrument_id, bint tradable, *, int64_t price_precision,
                   int64_t price_step, int64_t size_precision, int64_t size_step):
        """List instrument ``iid`` (the key of the venue's markets): its market record, matcher and
        instrument's own id (the events'), whether it trades, its price and size grids (precision and
        raw step)."""
        if price_step < 1 or size_step < 1:
            raise ValueError("price and size steps must be >= 1")
        cdef _Market m = _Market.__new__(_Market)
        m.market = market
        m.iid = instrument_id
        m.submit = engine.submit
        m.accepted_only = engine.accepted_only
        m.top = engine.top
        m.tradable = tradable
        m.price_precision = price_precision
        m.price_step = price_step
        m.size_precision = size_precision
        m.size_step = size_step
        self.markets[iid] = m

    cpdef bint submit(self, cmd, ts, list out) except -1:
        """Run the ``SubmitOrder`` ``cmd`` at ``ts`` when it is the common case (its events go to
        ``out``) and return True; otherwise change nothing and return False."""
        cdef PyObject* found
        cdef _Market m
        cdef int64_t lots, ticks = 0, trigger = 0
        cdef Py_ssize_t i
        cdef Py_ssize_t* at = self.cmd_at
        if not isinstance(cmd, self.submit_cls):
            return False
        for i in range(12):
            if _slot(cmd, at[i]) == NULL:
                return False  # (an unset field: the Python path raises)
        account = <object>_slot(cmd, at[0])
        coid = <object>_slot(cmd, at[1])
        key = (account, coid)
        cdef Py_hash_t key_hash = hash(key)
        if _contains(self.orders, key, key_hash):
            return False
        iid = <object>_slot(cmd, at[2])
        found = PyDict_GetItem(self.markets, iid)
        if found == NULL:
            return False
        m = <_Market>found
        if not m.tradable:
            return False
        found = PyDict_GetItem(self.accounts, account)
        if found == NULL:
            return False
        index = <object>found
        value = <object>_slot(cmd, at[9])
        if type(value) is not self.quantity_cls or not self._steps(value, m.size_precision, m.size_step,
                                                                   &lots):
            return False
        value = <object>_slot(cmd, at[10])
        if value is not None:
            if type(value) is not self.price_cls or not self._steps(value, m.price_precision,
                                                                    m.price_step, &ticks):
                return False
        value = <object>_slot(cmd, at[11])
        if value is not None:
            if type(value) is not self.price_cls or not self._steps(value, m.price_precision,
                                                                    m.price_step, &trigger):
                return False
        # The common case: from here on, what ``_submit`` does, in its order.
        expire = <object>_slot(cmd, at[6])
        if not expire:
            expire = 0
        flags = (self.post_only_flag if <object>_slot(cmd, at[7]) else 0) | (
            self.reduce_only_flag if <object>_slot(cmd, at[8]) else 0)
        side = _int(<object>_slot(cmd, at[3]))
        otype = _int(<object>_slot(cmd, at[4]))
        tif = _int(<object>_slot(cmd, at[5]))
        py_lots = lots
        py_ticks = ticks
        py_trigger = trigger
        at = self.order_at
        record = _alloc(self.order_cls)
        _put(record, at[O_ACCOUNT], account)
        _put(record, at[O_COID], coid)
        _put(record, at[O_EXPIRE], expire)
        _put(record, at[O_FILLED], 0)
        _put(record, at[O_FILLS], self.no_fills)
        _put(record, at[O_FLAGS], flags)
        _put(record, at[O_IID], iid)
        _put(record, at[O_LEAVES], py_lots)
        _put(record, at[O_OTYPE], otype)
        _put(record, at[O_PRICE], py_ticks)
        _put(record, at[O_QTY], py_lots)
        _put(record, at[O_REASON], None)
        _put(record, at[O_SIDE], side)
        _put(record, at[O_STATUS], self.st_submitted)
        _put(record, at[O_TIF], tif)
        _put(record, at[O_TRIGGER], py_trigger)
        _put(record, at[O_TRIGGERED], False)
        _put(record, at[O_TS_LAST], ts)
        _put(record, at[O_VID], 0)
        _set_known(self.orders, key, record, key_hash)
        attrs = self.attrs
        vid = attrs[self.vid_key]
        _put(record, at[O_VID], vid)
        attrs[self.vid_key] = vid + 1
        self.live[vid] = record
        m.submit(ts, vid, index, side, otype, tif, py_lots, py_ticks, py_trigger, expire, flags)
        if m.accepted_only(vid):  # rests untouched (most orders): no report rows to read
            _put(record, at[O_STATUS], self.st_accepted)
            at = self.accepted_at
            event = _alloc(self.accepted_cls)
            _put(event, at[0], ts)
            _put(event, at[1], ts + self.latency)
            _put(event, at[2], account)
            _put(event, at[3], coid)
            _put(event, at[4], m.iid)
            _put(event, at[5], self.sequence0)
            _put(event, at[6], _new_str(self.venue_order_id_cls, str(vid)))
            out.append(event)
        else:
            self.dispatch(m.market, out)
        # ``_publish_quote``: a tick when the top of book moved and both sides are there.
        top = m.top()
        market = m.market
        if top == _get(self.last_quote_descr, market):
            return True
        descr_set(self.last_quote_descr, market, top)
        if top[0] and top[2]:
            tick = self.quote_tick(market, ts, ts + self.latency, top)
            if tick is not None:
                out.append(tick)
        return True

    cdef bint _steps(self, value, int64_t precision, int64_t step, int64_t* out) except -1:
        """``Instrument.price_to_ticks`` / ``quantity_to_lots`` of a value at the grid's precision,
        on the grid, positive and at most 2**53 - 1 steps: True and the steps in ``out``; False for
        any other value (the Python path converts it or names the reason)."""
        cdef int overflow = 0
        cdef long long raw, places
        own = _get(self.precision_get, value)
        if not PyLong_Check(own):
            return False
        places = PyLong_AsLongLongAndOverflow(own, &overflow)
        if overflow or places > precision or precision - places > 18:
            return False  # (more places than the grid: the instrument's own rescaling decides)
        own = _get(self.raw_get, value)
        if not PyLong_Check(own):
            return False
        raw = PyLong_AsLongLongAndOverflow(own, &overflow)
        if overflow or raw <= 0:
            return False
        if places < precision and _mul(raw, _POW10[precision - places], &raw):
            return False  # (fewer places: ``raw * 10**k``, as the instrument does, when it fits)
        if raw % step:
            return False
        out[0] = raw // step
        return out[0] <= _MAX


cdef inline object _int(value):
    """``int(value)`` of an ``IntEnum`` member (an int subclass) read in C; any other value through
    ``int``."""
    cdef int overflow = 0
    cdef long long v
    if PyLong_Check(value):
        v = PyLong_AsLongLongAndOverflow(value, &overflow)
        if not overflow:
            return PyLong_FromLongLong(v)
    return int(value)


cdef _check_getter(descr):
    if not hasattr(type(descr), "__get__"):
        raise TypeError(f"{descr!r} is not a descriptor")


cdef _check_setter(descr):
    if not hasattr(type(descr), "__set__") or not hasattr(type(descr), "__get__"):
        raise TypeError(f"{descr!r} is not a data descriptor")


cdef object _offsets(spec, tuple names, Py_ssize_t* at, bint allocated):
    """``spec``: (class, one slot descriptor per name); the slots' offsets into ``at``; the class.
    A class the kernel allocates (``allocated``) must be defined in Python (a heap type: allocated
    without ``__init__``, then its slots set)."""
    cdef Py_ssize_t i
    cls, descriptors = spec
    if allocated:
        check_class(cls, "class")
    descriptors = tuple(descriptors)
    if len(descriptors) != len(names):
        raise ValueError(f"{cls!r}: {len(descriptors)} descriptors for the fields {names}")
    for i in range(len(names)):
        if getattr(descriptors[i], "__name__", None) != names[i]:
            raise ValueError(f"{cls!r}: descriptor {i} is not the slot {names[i]!r}")
        at[i] = _offset(descriptors[i], cls)
    return cls
