# cython: language_level=3
"""Compiled builders of slotted records: the store codec's per-class decoders, and the slot filler
of ``engine.core.records.frozen_record``'s ``__init__``.

A record class of the engine (an event, a command, a state object) is a frozen, slotted dataclass:
each field is a slot with a member descriptor, and a frozen class refuses ``setattr``, so every
builder sets fields through the descriptors. From Python that is one call per field (a bound
``__set__`` called through the interpreter, ~40 ns each); here it is the descriptor's C setter
called directly, so a 16-field record costs one call in all.

``SlotDecoder``: one registered class's decoder, from a *plan* (per field: its descriptor, a kind
and the kind's argument) that ``engine.store.codec`` builds at registration from the same field
kinds its Python decoders are generated from. The kinds converted here are the ones nearly every
journal record is made of (plain JSON values, ids, interned ids, IntEnums, fixed-point values,
each optionally ``None``); any other kind (Money, Decimal, sequences, mappings, nested records) is
a Python callable the codec supplies, called with the field's JSON value. Decoding trusts what the
codec's encoder wrote, exactly as the generated Python decoders do: ids skip their pattern check,
fixed-point values their validation.

``fill_slots(obj, setters, values)``: ``setters[i]`` (a member descriptor) sets ``values[i]`` on
``obj``.
"""

from cpython.object cimport Py_TPFLAGS_HEAPTYPE, PyObject, PyTypeObject
from cpython.dict cimport PyDict_GetItem
from cpython.mem cimport PyMem_Free, PyMem_Malloc

cdef extern from *:
    """
    static CYTHON_INLINE int algotrendy_descr_set(PyObject *descr, PyObject *obj, PyObject *value) {
        descrsetfunc set = Py_TYPE(descr)->tp_descr_set;
        if (set == NULL) {
            PyErr_Format(PyExc_TypeError, "%R is not a data descriptor", descr);
            return -1;
        }
        return set(descr, obj, value);
    }
    static CYTHON_INLINE PyObject *algotrendy_descr_get(PyObject *descr, PyObject *obj, PyObject *cls) {
        descrgetfunc get = Py_TYPE(descr)->tp_descr_get;
        if (get == NULL) {
            PyErr_Format(PyExc_TypeError, "%R is not a descriptor", descr);
            return NULL;
        }
        return get(descr, obj, cls);
    }
    static CYTHON_INLINE PyObject *algotrendy_alloc(PyObject *cls) {
        PyTypeObject *tp = (PyTypeObject *)cls;
        return tp->tp_alloc(tp, 0);
    }
    /* ``str.__new__(cls, value)`` for a str subclass with no ``__new__`` checks to run. */
    static CYTHON_INLINE PyObject *algotrendy_str_of(PyObject *cls, PyObject *value) {
        PyObject *args = PyTuple_Pack(1, value);
        PyObject *out;
        if (args == NULL) return NULL;
        out = PyUnicode_Type.tp_new((PyTypeObject *)cls, args, NULL);
        Py_DECREF(args);
        return out;
    }
    """
    int algotrendy_descr_set(object descr, object obj, object value) except -1
    object algotrendy_descr_get(object descr, object obj, object cls)
    object algotrendy_alloc(object cls)
    object algotrendy_str_of(object cls, object value)


#: Field kinds of a plan (``engine.store.codec`` names them from its own kinds).
cdef enum:
    _PLAIN = 0     # the JSON value itself (int, float, str, bool)
    _STR = 1       # a str subclass (an id): ``str.__new__(arg, value)``
    _INTERNED = 2  # an id with few values: ``arg[0].get(value)`` or ``arg[1](value)``
    _ENUM = 3      # an IntEnum: ``arg[value]`` (its value-to-member map)
    _FIXED = 4     # Price / Quantity from ``[raw, precision]``: ``arg`` = (class, raw setter, precision setter)
    _CALL = 5      # anything else: ``arg(value)``

KIND_PLAIN = _PLAIN
KIND_STR = _STR
KIND_INTERNED = _INTERNED
KIND_ENUM = _ENUM
KIND_FIXED = _FIXED
KIND_CALL = _CALL

cdef int check_class(object cls, str what) except -1:
    """Records are classes defined in Python (heap types): allocated without ``__init__``, then
    their slots set. A builtin or extension type is refused (its C layout is not ours to fill).
    ``what`` names it in the error (for other kernels' ``cimport``)."""
    if not isinstance(cls, type) or not ((<PyTypeObject *>cls).tp_flags & Py_TPFLAGS_HEAPTYPE):
        raise TypeError(f"{cls!r} is not a {what} defined in Python")
    return 0


cdef inline _check_class(cls):
    check_class(cls, "record class")


cdef inline object _fixed(tuple spec, object value):
    """``[raw, precision]`` (a list from JSON, a tuple from a padded default) as the class's value."""
    raw, precision = value
    obj = algotrendy_alloc(spec[0])
    algotrendy_descr_set(spec[1], obj, raw)
    algotrendy_descr_set(spec[2], obj, precision)
    return obj


cdef int descr_set(object descr, object obj, object value) except -1:
    """``descr.__set__(obj, value)`` through the descriptor's C setter (for other kernels'
    ``cimport``: ``engine.ext.backtest.replay`` fills its bar views with it)."""
    return algotrendy_descr_set(descr, obj, value)


# -- for other kernels' ``cimport`` (the paper and simulated venues' order paths) ------------------
cdef object alloc(object cls):
    """A new, uninitialised instance of ``cls`` (its ``tp_alloc``: slots unset, no ``__init__``)."""
    return algotrendy_alloc(cls)


cdef object descr_get(object descr, object obj):
    """``descr.__get__(obj, type(obj))`` through the descriptor's C getter."""
    return algotrendy_descr_get(descr, obj, type(obj))


cdef object str_of(object cls, object value):
    """``str.__new__(cls, value)`` through ``str``'s C constructor (an id valid by construction)."""
    return algotrendy_str_of(cls, value)


cdef class SlotDecoder:
    """Builds one slotted class from its record array ``[tag, field_1, ...]`` (see the module)."""

    def __cinit__(self, cls, plan):
        """``plan``: per field, in the record's order, ``(member descriptor, kind, argument,
        optional)``."""
        cdef Py_ssize_t i
        _check_class(cls)
        steps = tuple(plan)
        self.n = len(steps)
        self.cls = cls
        self.setters = tuple(s[0] for s in steps)
        self.args = tuple(s[2] for s in steps)
        self.kinds = <int *>PyMem_Malloc(max(self.n, 1) * sizeof(int))
        self.optional = <char *>PyMem_Malloc(max(self.n, 1) * sizeof(char))
        if self.kinds == NULL or self.optional == NULL:
            raise MemoryError()
        for i in range(self.n):
            kind = steps[i][1]
            if kind not in (_PLAIN, _STR, _INTERNED, _ENUM, _FIXED, _CALL):
                raise ValueError(f"unknown field kind {kind!r}")
            if kind == _FIXED and not (isinstance(steps[i][2], tuple) and len(steps[i][2]) == 3):
                raise ValueError("a fixed-point field's argument is (class, raw setter, precision setter)")
            if kind == _INTERNED and not (isinstance(steps[i][2], tuple) and len(steps[i][2]) == 2):
                raise ValueError("an interned field's argument is (shared dict, fallback)")
            if not hasattr(type(steps[i][0]), "__set__"):
                raise TypeError(f"{steps[i][0]!r} is not a data descriptor")
            self.kinds[i] = kind
            self.optional[i] = 1 if steps[i][3] else 0

    def __dealloc__(self):
        PyMem_Free(self.kinds)
        PyMem_Free(self.optional)

    @property
    def fields(self) -> int:
        return self.n

    def __call__(self, list a not None):
        """The object of record ``a`` (``[tag, field_1, ...]``, one value per field)."""
        if len(a) != self.n + 1:
            raise ValueError(f"record has {len(a) - 1} fields, the decoder {self.n}")
        return self.build(a)

    cdef object build(self, list a):
        cdef Py_ssize_t i
        cdef int kind
        cdef PyObject *found
        obj = algotrendy_alloc(self.cls)
        for i in range(self.n):
            value = a[i + 1]
            kind = self.kinds[i]
            if kind == _PLAIN or (value is None and self.optional[i]):
                pass
            elif kind == _INTERNED:
                if not isinstance(value, str):
                    raise TypeError(f"an id must be a string, got {type(value).__name__}")
                spec = <tuple>self.args[i]
                found = PyDict_GetItem(spec[0], value)
                if found != NULL:
                    value = <object>found
                else:
                    value = spec[1](value)
            elif kind == _ENUM:
                found = PyDict_GetItem(self.args[i], value)
                if found == NULL:
                    raise KeyError(value)
                value = <object>found
            elif kind == _FIXED:
                value = _fixed(<tuple>self.args[i], value)
            elif kind == _STR:
                if not isinstance(value, str):
                    raise TypeError(f"an id must be a string, got {type(value).__name__}")
                value = algotrendy_str_of(self.args[i], value)
            else:
                value = self.args[i](value)
            algotrendy_descr_set(self.setters[i], obj, value)
        return obj


def fill_slots(obj, tuple setters, tuple values):
    """Set ``values[i]`` through ``setters[i]`` (member descriptors) on ``obj``."""
    cdef Py_ssize_t i, n = len(setters)
    if len(values) != n:
        raise ValueError(f"{len(values)} values for {n} slots")
    for i in range(n):
        algotrendy_descr_set(setters[i], obj, values[i])


def decode_batch(records, loads, dict decoders, dict arity, fallback, passthrough, on_error):
    """``[decode(r) for r in records]``, the store codec's batch decode (the recovery path) as one
    loop: ``loads`` parses a record into ``[tag, ...]``; a record of its class's current arity goes
    to ``decoders[tag]`` (a ``SlotDecoder`` is called in C), any other to ``fallback(record)``.
    An exception of class ``passthrough`` propagates; any other becomes ``on_error(record, exc)``."""
    cdef list out = []
    cdef list array
    cdef PyObject *n
    for data in records:
        try:
            array = loads(data)
            tag = array[0]
            n = PyDict_GetItem(arity, tag)
            if n != NULL and <object>n == len(array):
                decoder = decoders[tag]
                if type(decoder) is SlotDecoder:
                    out.append((<SlotDecoder>decoder).build(array))
                else:
                    out.append(decoder(array))
            else:
                out.append(fallback(data))
        except passthrough:
            raise
        except Exception as exc:
            raise on_error(data, exc) from None
    return out


def build(cls, tuple setters, tuple values):
    """A new ``cls`` (allocated without ``__init__``) with ``values[i]`` set through ``setters[i]``:
    a frozen record built from values that are valid by construction."""
    cdef Py_ssize_t i, n = len(setters)
    _check_class(cls)
    if len(values) != n:
        raise ValueError(f"{len(values)} values for {n} slots")
    obj = algotrendy_alloc(cls)
    for i in range(n):
        algotrendy_descr_set(setters[i], obj, values[i])
    return obj


def copy_replacing(obj, tuple setters, Py_ssize_t index, value):
    """A copy of ``obj`` over the slots ``setters`` (all of its fields), with slot ``index`` set to
    ``value`` instead of the original's (``dataclasses.replace`` of one field, for a class with no
    ``__post_init__``)."""
    cdef Py_ssize_t i, n = len(setters)
    if not 0 <= index < n:
        raise IndexError(f"slot {index} of {n}")
    cls = type(obj)
    _check_class(cls)
    new = algotrendy_alloc(cls)
    for i in range(n):
        if i == index:
            algotrendy_descr_set(setters[i], new, value)
        else:
            algotrendy_descr_set(setters[i], new, algotrendy_descr_get(setters[i], obj, cls))
    return new
