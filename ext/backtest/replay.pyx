# cython: language_level=3
"""The bar replay's per-bar path, compiled: fill a strategy's bar view in place and call its
``on_bar``; run a stretch of bars until one needs the engine's attention.

``BarPusher`` is ``StrategyHost.bar_pusher``'s ``push(ts_open, ts_event, open, high, low, close,
volume, trade_count=0)``: it sets the view's eight fields through their slots (one C call each, no
Python frame) and calls the subscribed handlers (each guarded: an exception goes to ``failed(slot,
"on_bar", exc)``, the replay goes on). The handlers are looked up on the first bar and after every
``reset`` (a strategy added, removed or quarantined): ``handlers_for(key)`` gives ``(slot, fn)``
pairs; with exactly one, it is called without a loop.

``run_bars`` is the single-instrument replay's inner loop over one chunk of bars (Python lists of
the columns). For each bar it stops *before* the bar, returning its index, when the bar needs the
engine (working orders to walk through it: ``working`` not empty, or a clock alert due by its close:
``heap[0].next_ns <= close``); otherwise it moves the clock (``clock._now``), pushes the bar, and
stops *after* it (returning ``-(index + 1)``) when the push left work for the engine (a command
queued for the venue, a router call in progress, or an alert now due). It returns ``end`` when the
chunk is done. The engine handles what the stop was for, then calls it again from the next bar: the
loop is the Python loop it replaces, with the same checks in the same order.
"""

from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE

from engine.ext.core.records cimport descr_set

#: The view's fields in the order ``push`` takes them.
VIEW_FIELDS = ("ts_open", "ts_event", "open", "high", "low", "close", "volume", "trade_count")


cdef class BarPusher:
    """``push(ts_open, ts_event, open, high, low, close, volume, trade_count=0)`` (see the module)."""

    cdef readonly object view
    cdef object key
    cdef object handlers_for
    cdef object failed
    cdef tuple setters
    cdef object handlers  # the (slot, fn) pairs, or None until looked up again
    cdef object only      # the one handler's function, when there is exactly one
    cdef object only_slot

    def __cinit__(self, view, key, handlers_for, failed):
        cls = type(view)
        self.setters = tuple(getattr(cls, name) for name in VIEW_FIELDS)
        for setter in self.setters:
            if not hasattr(type(setter), "__set__"):
                raise TypeError(f"{cls.__name__} has no slot for every bar field")
        self.view = view
        self.key = key
        self.handlers_for = handlers_for
        self.failed = failed
        self.reset()

    def reset(self):
        """The subscriptions changed: look the handlers up again on the next bar."""
        self.handlers = None
        self.only = None
        self.only_slot = None

    def __call__(self, ts_open, ts_event, open_, high, low, close, volume, trade_count=0):
        self.push(ts_open, ts_event, open_, high, low, close, volume, trade_count)

    cdef int push(self, ts_open, ts_event, open_, high, low, close, volume, trade_count) except -1:
        cdef tuple s = self.setters
        view = self.view
        descr_set(s[0], view, ts_open)
        descr_set(s[1], view, ts_event)
        descr_set(s[2], view, open_)
        descr_set(s[3], view, high)
        descr_set(s[4], view, low)
        descr_set(s[5], view, close)
        descr_set(s[6], view, volume)
        descr_set(s[7], view, trade_count)
        if self.only is not None:
            try:
                self.only(view)
            except Exception as exc:
                self.failed(self.only_slot, "on_bar", exc)
            return 0
        handlers = self.handlers
        if handlers is None:
            handlers = self.handlers = tuple(self.handlers_for(self.key))
            if len(handlers) == 1:
                self.only_slot, self.only = handlers[0]
        for slot, fn in handlers:
            try:
                fn(view)
            except Exception as exc:
                self.failed(slot, "on_bar", exc)
        return 0


cdef inline bint _due(list heap, object t) except -1:
    return PyList_GET_SIZE(heap) > 0 and (<object>PyList_GET_ITEM(heap, 0)).next_ns <= t


def run_bars(
    Py_ssize_t k,
    Py_ssize_t end,
    Py_ssize_t start,
    list tso,
    list tsc,
    list o,
    list h,
    list lo,
    list c,
    list v,
    BarPusher push not None,
    clock,
    list heap not None,
    working,
    queue,
    router,
):
    """Replay bars ``k`` to ``end - 1`` of the chunk whose first bar is ``start`` (the lists hold
    the chunk's columns); see the module for where it stops and what it returns."""
    cdef Py_ssize_t i
    cdef Py_ssize_t n = end - start
    if k < start or end < k:
        raise IndexError(f"bar {k} is outside the chunk [{start}, {end})")
    for lst in (tso, tsc, o, h, lo, c, v):
        if PyList_GET_SIZE(lst) < n:
            raise ValueError("a column is shorter than the chunk")
    while k < end:
        i = k - start
        t = <object>PyList_GET_ITEM(tsc, i)
        if working or _due(heap, t):
            return k
        clock._now = t
        push.push(
            <object>PyList_GET_ITEM(tso, i),
            t,
            <object>PyList_GET_ITEM(o, i),
            <object>PyList_GET_ITEM(h, i),
            <object>PyList_GET_ITEM(lo, i),
            <object>PyList_GET_ITEM(c, i),
            <object>PyList_GET_ITEM(v, i),
            0,
        )
        k += 1
        if queue or router.pending or _due(heap, t):
            return -k
    return end
