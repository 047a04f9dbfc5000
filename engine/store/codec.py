"""Exact, versioned encoding of events, commands and state objects for the journal and state tables.

A record is one orjson array ``[tag, field_1, field_2, ...]``: the class's registered integer tag,
then its ``__init__`` fields in declaration order. Values are exact:

- ``Price`` / ``Quantity`` → ``[raw, precision]``; ``Money`` → ``[raw, precision, currency]`` (``raw``
  is written as a decimal string when it leaves the 64-bit range, so any magnitude is exact);
- ``IntEnum`` → its int; ids (``str`` subclasses) → the string; ``None`` stays ``null``;
- ``Decimal`` → its string; ``tuple``/``list``/``frozenset`` of X → an array; ``dict[K, V]`` → an
  array of ``[k, v]`` pairs; a nested registered dataclass → its own tagged array.

Tag ``0`` is a plain JSON value (``encode_value``: dicts, lists, str, int, float, bool, None), so state
tables can hold simple documents; a dataclass or fixed-point value inside a plain value is refused
rather than silently flattened.

**Versioning.** ``FORMAT_VERSION`` names this record layout. A class's fields may only grow at the
end, with defaults (additive, like the proto rules): a record written with fewer fields decodes with
the defaults for the missing trailing ones; a record with more fields than this build knows raises
``StorageError``. ``layouts()`` lists every tag's class and field names; ``Persistence`` stores it in
the ``codec`` database and ``check_layouts`` refuses to start when a stored layout is not a prefix of
the current one (a field renamed, removed or reordered), instead of decoding garbage.

**Tags** are stable forever (never reuse one): 1-63 events and 64-99 commands of ``engine.core``;
100-199 reserved for ``engine.risk``, 200-299 for ``engine.oms``, 300+ for anything else. Layers
below ``engine.store`` cannot import it, so the composition root registers their classes:
``CODEC.register(RiskLimits, 100)``.

Decoding is the recovery hot path, so each class's encoder is generated once at registration
(straight-line code, no per-field loop) and its decoder is compiled: a ``SlotDecoder``
(``engine.ext.core.records``) built from the same field kinds converts each field and sets it
through its slot in C, and ``decode_many`` runs its loop there too (a 1M-record journal decodes
in ~1.1 us per record instead of ~1.5, of which ~0.6 is orjson's parse). Decoding trusts what
``encode`` wrote: ids are rebuilt without re-running their regex and fixed-point values without
re-validation (only valid objects can be encoded); classes with a ``__post_init__`` are rebuilt
through their constructor so their checks and derived fields still run. Ids with few distinct
values (accounts, instruments, strategies), which nearly every record repeats, decode to one
shared instance per value.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import orjson

from engine.core import commands as _commands
from engine.core import events as _events
from engine.core.errors import StorageError
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, InstrumentId, StrategyId
from engine.ext.core.records import (
    KIND_CALL,
    KIND_ENUM,
    KIND_FIXED,
    KIND_INTERNED,
    KIND_PLAIN,
    KIND_STR,
    SlotDecoder,
    decode_batch,
)

__all__ = ["CODEC", "FORMAT_VERSION", "Codec", "register"]

FORMAT_VERSION = 1
PLAIN_TAG = 0
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_DUMPS_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS

#: Id classes with few distinct values, shared on decode (``_InternedId``).
_FEW_VALUES = (AccountId, InstrumentId, StrategyId)
_INTERN_LIMIT = 4096

_dumps = orjson.dumps
_loads = orjson.loads


def _new_fixed(cls: type) -> Callable[[int, int], Any]:
    """A trusted constructor ``(raw, precision) -> cls`` that skips validation (decode only)."""
    new = object.__new__
    set_raw = cls._raw.__set__  # type: ignore[attr-defined]
    set_precision = cls._precision.__set__  # type: ignore[attr-defined]

    def build(raw: int, precision: int) -> Any:
        obj = new(cls)
        set_raw(obj, raw)
        set_precision(obj, precision)
        return obj

    return build


_price = _new_fixed(Price)
_quantity = _new_fixed(Quantity)
_money_new = object.__new__
_money_raw = Money._raw.__set__  # type: ignore[attr-defined]
_money_precision = Money._precision.__set__  # type: ignore[attr-defined]
_money_currency = Money._currency.__set__  # type: ignore[attr-defined]


def _money_enc(value: Money) -> tuple[Any, int, str]:
    raw = value._raw  # the slots, as in ``_Fixed`` (a property costs a call each)
    return (raw if _INT64_MIN <= raw <= _INT64_MAX else str(raw), value._precision, value._currency)


def _money_dec(data: list[Any]) -> Money:
    obj = _money_new(Money)
    raw = data[0]
    _money_raw(obj, raw if type(raw) is int else int(raw))
    _money_precision(obj, data[1])
    _money_currency(obj, data[2])
    return obj


class _Gen:
    """Collects the names a generated function refers to."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {}
        self._count = 0

    def ref(self, obj: Any, hint: str = "h") -> str:
        self._count += 1
        name = f"_{hint}{self._count}"
        self.ns[name] = obj
        return name

    def var(self) -> str:
        self._count += 1
        return f"_v{self._count}"


class Codec:
    """A registry of classes with their generated encoders and decoders."""

    def __init__(self) -> None:
        self._cls_by_tag: dict[int, type] = {}
        self._tag_by_cls: dict[type, int] = {}
        self._fields: dict[int, tuple[str, ...]] = {}
        self._encoders: dict[type, Callable[[Any], tuple[Any, ...]]] = {}
        self._decoders: dict[int, Callable[[list[Any]], Any]] = {}
        self._slow_decoders: dict[int, Callable[[list[Any]], Any]] = {}
        self._arity: dict[int, int] = {}
        #: One shared-instance table per id class, across every class's decoder.
        self._interned: dict[type, _InternedId] = {}

    # -- registration ----------------------------------------------------------------------------
    def register(self, cls: type, tag: int) -> None:
        """Register a frozen dataclass under a tag that is stable forever (re-registering is a no-op)."""
        if type(tag) is not int or not 0 < tag < 1 << 31:
            raise ValueError(f"codec tag must be a positive int, got {tag!r}")
        if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
            raise TypeError(f"{cls!r} is not a dataclass")
        if self._tag_by_cls.get(cls) == tag and self._cls_by_tag.get(tag) is cls:
            return
        if tag in self._cls_by_tag:
            raise ValueError(f"codec tag {tag} is already taken by {_name(self._cls_by_tag[tag])}")
        if cls in self._tag_by_cls:
            raise ValueError(f"{_name(cls)} is already registered with tag {self._tag_by_cls[cls]}")
        hints = typing.get_type_hints(cls)
        fields = tuple(f for f in dataclasses.fields(cls) if f.init)
        gen = _Gen()
        kinds = [self._kind(hints[f.name], f"{_name(cls)}.{f.name}") for f in fields]
        enc_parts = [str(tag), *(kind.enc(gen, f"o.{f.name}") for f, kind in zip(fields, kinds, strict=True))]
        encoder_src = f"def encode(o):\n    return ({', '.join(enc_parts)},)\n"
        encoder = _compile(encoder_src, "encode", gen.ns)
        decoder = self._build_decoder(cls, fields, kinds, gen)
        self._cls_by_tag[tag] = cls
        self._tag_by_cls[cls] = tag
        self._fields[tag] = tuple(f.name for f in fields)
        self._encoders[cls] = encoder
        self._decoders[tag] = decoder
        self._arity[tag] = len(fields) + 1
        self._slow_decoders[tag] = self._build_padding_decoder(tag, cls, fields, decoder)

    def _build_decoder(
        self,
        cls: type,
        fields: tuple[dataclasses.Field[Any], ...],
        kinds: list[_Kind],
        gen: _Gen,
    ) -> Callable[[list[Any]], Any]:
        slots_ok = all(isinstance(getattr(cls, f.name, None), types.MemberDescriptorType) for f in fields)
        if slots_ok and not hasattr(cls, "__post_init__"):
            # The compiled builder: each field converted by its kind and set through its slot's
            # descriptor in C (``engine.ext.core.records``), one call per record.
            return SlotDecoder(
                cls, [(getattr(cls, f.name), *kind.plan(gen)) for f, kind in zip(fields, kinds, strict=True)]
            )
        # A class with checks or derived fields in ``__post_init__``: rebuilt through its constructor.
        cls_ref = gen.ref(cls, "cls")
        args = ", ".join(
            f"{f.name}={kind.dec(gen, f'a[{index}]')}"
            for index, (f, kind) in enumerate(zip(fields, kinds, strict=True), start=1)
        )
        lines = ["def decode(a):", f"    return {cls_ref}({args})"]
        return _compile("\n".join(lines) + "\n", "decode", gen.ns)

    def _build_padding_decoder(
        self,
        tag: int,
        cls: type,
        fields: tuple[dataclasses.Field[Any], ...],
        decoder: Callable[[list[Any]], Any],
    ) -> Callable[[list[Any]], Any]:
        """Decoder for a record written before trailing fields were added: pad with their defaults."""
        arity = len(fields) + 1

        def decode_padded(data: list[Any]) -> Any:
            if len(data) > arity:
                raise StorageError(
                    f"record of {_name(cls)} (tag {tag}) has {len(data) - 1} fields but this build knows "
                    f"{arity - 1}: written by a newer AlgoTrendy"
                )
            padded = list(data)
            for f in fields[len(data) - 1 :]:
                if f.default is not dataclasses.MISSING:
                    padded.append(_encode_field(self, f.default))
                elif f.default_factory is not dataclasses.MISSING:
                    padded.append(_encode_field(self, f.default_factory()))
                else:
                    raise StorageError(
                        f"record of {_name(cls)} (tag {tag}) lacks field {f.name!r}, which has no default"
                    )
            return decoder(padded)

        return decode_padded

    def _kind(self, tp: Any, where: str) -> _Kind:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1 and len(args) == 2:
                return _Optional(self._kind(rest[0], where))
            if rest and all(isinstance(a, type) and dataclasses.is_dataclass(a) for a in rest):
                # Registered records are tagged arrays, so a union of them decodes by its tag.
                nested = _Nested(self)
                return _Optional(nested) if len(rest) < len(args) else nested
            raise TypeError(
                f"{where}: unions other than X | None or of registered records are not supported ({tp!r})"
            )
        if origin in (tuple, list, frozenset):
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                raise TypeError(f"{where}: only variable-length tuple[X, ...] is supported ({tp!r})")
            if not args:
                raise TypeError(f"{where}: {tp!r} needs an element type")
            return _Sequence(origin, self._kind(args[0], where))
        if origin is dict:
            if len(args) != 2:
                raise TypeError(f"{where}: dict needs key and value types")
            return _Mapping(self._kind(args[0], where), self._kind(args[1], where))
        if tp in (Price, Quantity):
            return _Fixed(tp)
        if tp is Money:
            return _MoneyKind()
        if isinstance(tp, type) and issubclass(tp, bool):
            return _Plain()
        if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
            return _EnumKind(tp)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            raise TypeError(f"{where}: only IntEnum is supported ({tp.__name__})")
        if tp in (int, float, str):
            return _Plain()
        if tp in _FEW_VALUES:
            return self._interned.setdefault(tp, _InternedId(tp))
        if isinstance(tp, type) and issubclass(tp, str):
            return _StrSubclass(tp)
        if tp is Decimal:
            return _DecimalKind()
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return _Nested(self)
        raise TypeError(f"{where}: type {tp!r} has no exact encoding")

    # -- encode / decode -------------------------------------------------------------------------
    def encode(self, obj: Any) -> bytes:
        """The record bytes of a registered object."""
        try:
            encoder = self._encoders[type(obj)]
        except KeyError:
            raise StorageError(f"{type(obj).__qualname__} is not registered with the store codec") from None
        try:
            return _dumps(encoder(obj), option=_DUMPS_OPTIONS)
        except (TypeError, AttributeError) as exc:
            raise StorageError(f"cannot encode {type(obj).__qualname__}: {exc}") from None

    def encode_value(self, value: Any) -> bytes:
        """A registered object, or a plain JSON value (tag 0) for simple state documents."""
        encoder = self._encoders.get(type(value))
        try:
            if encoder is not None:
                return _dumps(encoder(value), option=_DUMPS_OPTIONS)
            return _dumps((PLAIN_TAG, value), option=_DUMPS_OPTIONS)
        except (TypeError, AttributeError) as exc:
            raise StorageError(
                f"cannot encode {type(value).__qualname__}: {exc} (register the class or use plain JSON)"
            ) from None

    def decode(self, data: bytes | memoryview) -> Any:
        try:
            array = _loads(data)
            tag = array[0]
            if tag == PLAIN_TAG:
                return array[1]
            if len(array) == self._arity[tag]:
                return self._decoders[tag](array)
            return self._slow_decoders[tag](array)
        except StorageError:
            raise
        except Exception as exc:
            raise self._decode_error(data, exc) from None

    def decode_many(self, records: Iterable[bytes]) -> list[Any]:
        """Decode a batch (the recovery path): one compiled loop, ``decode`` for what is not the
        common case (a plain value, a record of an older layout)."""
        return decode_batch(
            records, _loads, self._decoders, self._arity, self.decode, StorageError, self._decode_error
        )

    def _decode_error(self, data: bytes | memoryview, exc: Exception) -> StorageError:
        try:
            array = _loads(data)
            tag = array[0] if isinstance(array, list) and array else None
        except orjson.JSONDecodeError:
            return StorageError(f"corrupt record: not valid JSON ({exc})")
        if tag not in self._cls_by_tag and tag != PLAIN_TAG:
            return StorageError(
                f"unknown codec tag {tag!r}: the record was written by a class not registered here"
            )
        return StorageError(f"corrupt record of {_name(self._cls_by_tag[tag])} (tag {tag}): {exc!r}")

    # -- introspection ---------------------------------------------------------------------------
    def tag_of(self, cls: type) -> int:
        return self._tag_by_cls[cls]

    def class_of(self, tag: int) -> type:
        return self._cls_by_tag[tag]

    def registered(self) -> dict[int, type]:
        return dict(self._cls_by_tag)

    def layouts(self) -> dict[int, tuple[str, tuple[str, ...]]]:
        """``tag -> (module.qualname, field names)`` for every registered class."""
        return {tag: (_name(cls), self._fields[tag]) for tag, cls in self._cls_by_tag.items()}

    def check_layouts(self, stored: dict[int, tuple[str, tuple[str, ...]]]) -> None:
        """Refuse stored records whose layout this build cannot decode exactly."""
        for tag, (name, fields) in stored.items():
            if tag not in self._fields:
                continue
            current = self._fields[tag]
            if current[: len(fields)] != tuple(fields):
                raise StorageError(
                    f"codec layout of tag {tag} changed incompatibly: stored {name}{list(fields)}, "
                    f"this build has {_name(self._cls_by_tag[tag])}{list(current)} "
                    "(fields may only be added at the end, with defaults)"
                )


def _encode_field(codec: Codec, value: Any) -> Any:
    """A field default in record form, so the generated decoder turns it back into the value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (Price, Quantity)):
        return (value.raw, value.precision)
    if isinstance(value, Money):
        return _money_enc(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (tuple, list, frozenset)):
        return [_encode_field(codec, v) for v in value]
    if isinstance(value, dict):
        return [[_encode_field(codec, k), _encode_field(codec, v)] for k, v in value.items()]
    return _loads(codec.encode(value))


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _compile(source: str, name: str, ns: dict[str, Any]) -> Callable[..., Any]:
    scope = dict(ns)
    exec(compile(source, f"<codec {name}>", "exec"), scope)
    return scope[name]  # type: ignore[no-any-return]


# -- field kinds: code snippets for the generated functions ---------------------------------------
class _Kind:
    def enc(self, gen: _Gen, expr: str) -> str:
        return expr

    def dec(self, gen: _Gen, expr: str) -> str:
        return expr

    def plan(self, gen: _Gen) -> tuple[int, Any, bool]:
        """This kind as a step of a compiled decoder (``SlotDecoder``): ``(kind, argument,
        optional)``. By default a function of the field's JSON value, generated from ``dec``."""
        return KIND_CALL, _compile(f"def dec(v):\n    return {self.dec(gen, 'v')}\n", "dec", gen.ns), False


class _Plain(_Kind):
    """int, float, str, bool: JSON carries them as they are."""

    def plan(self, gen: _Gen) -> tuple[int, Any, bool]:
        return KIND_PLAIN, None, False


class _StrSubclass(_Kind):
    def __init__(self, cls: type) -> None:
        self.cls = cls

    def dec(self, gen: _Gen, expr: str) -> str:
        return f"{gen.ref(str.__new__, 'strnew')}({gen.ref(self.cls, 'id')}, {expr})"

    def plan(self, gen: _Gen) -> tuple[int, Any, bool]:
        return KIND_STR, self.cls, False


class _InternedId(_Kind):
    """An id with few distinct values (accounts, instruments, strategies), repeated in nearly every
    record: decoding shares one instance per value instead of building one per record (a restart
    decodes a million records; the orders it rebuilds then share them too). Bounded: past
    ``_INTERN_LIMIT`` distinct values the rest are built per record as usual."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.shared: dict[str, Any] = {}

    def dec(self, gen: _Gen, expr: str) -> str:
        shared = gen.ref(self.shared, "shared")
        make = gen.ref(functools.partial(_intern, self.shared, self.cls), "intern")
        return f"({shared}.get({expr}) or {make}({expr}))"

    def plan(self, gen: _Gen) -> tuple[int, Any, bool]:
        return KIND_INTERNED, (self.shared, functools.partial(_intern, self.shared, self.cls)), False


def _intern(shared: dict[str, Any], cls: type, value: str) -> Any:
    obj = str.__new__(cls, value)
    if len(shared) < _INTERN_LIMIT:
        shared[value] = obj
    return obj


class _EnumKind(_Kind):
    def __init__(self, cls: type[enum.IntEnum]) -> None:
        self.cls = cls

    def dec(self, gen: _Gen, expr: str) -> str:
        return f"{gen.ref(self.cls._value2member_map_, 'enum')}[{expr}]"

    def plan(self, gen: _Gen) -> tuple[int, Any, bool]:
        return KIND_ENUM, self.cls._value2member_map_, False


class _Fixed(_Kind):
    def __init__(self, cls: type[Price] | type[Quantity]) -> None:
        self.cls = cls
        self.build = _price if cls is Price else _quantity

    def enc(self, gen: _Gen, expr: str) -> str:
        v = gen.var()
        return f"(({v} := {expr})._raw, {v}._precision)"  # the slots: a property costs a call each

    def dec(self, gen: _Gen, expr: str) -> str:
        return f"{gen.ref(self.build, 'fixed')}({expr}[0], {expr}[1])"

    def plan(self, gen: _Gen) -> tuple[int, Any, bool]:
        cls = self.cls
        return KIND_FIXED, (cls, cls._raw, cls._precision), False  # type: ignore[attr-defined]


class _MoneyKind(_Kind):
    def enc(self, gen: _Gen, expr: str) -> str:
        return f"{gen.ref(_money_enc, 'money')}({expr})"

    def dec(self, gen: _Gen, expr: str) -> str:
        return f"{gen.ref(_money_dec, 'money')}({expr})"


class _DecimalKind(_Kind):
    def enc(self, gen: _Gen, expr: str) -> str:
        return f"str({expr})"

    def dec(self, gen: _Gen, expr: str) -> str:
        return f"{gen.ref(Decimal, 'dec')}({expr})"


class _Optional(_Kind):
    def __init__(self, inner: _Kind) -> None:
        self.inner = inner

    def enc(self, gen: _Gen, expr: str) -> str:
        v = gen.var()
        inner = self.inner.enc(gen, v)
        return expr if inner == v else f"(None if ({v} := {expr}) is None else {inner})"

    def dec(self, gen: _Gen, expr: str) -> str:
        v = gen.var()
        inner = self.inner.dec(gen, v)
        return expr if inner == v else f"(None if ({v} := {expr}) is None else {inner})"

    def plan(self, gen: _Gen) -> tuple[int, Any, bool]:
        kind, arg, _ = self.inner.plan(gen)  # (the compiled step passes None through)
        return kind, arg, True


class _Sequence(_Kind):
    def __init__(self, origin: type, inner: _Kind) -> None:
        self.origin = origin
        self.inner = inner

    def enc(self, gen: _Gen, expr: str) -> str:
        inner = self.inner.enc(gen, "e")
        if inner == "e":
            # Elements JSON carries as they are (ints, strings, ids): orjson writes a tuple or list
            # as an array itself, no comprehension per record (same bytes); any other iterable
            # (a frozenset ...) still goes through the comprehension.
            v, t = gen.var(), gen.var()
            return f"({v} if ({t} := type({v} := {expr})) is tuple or {t} is list else [e for e in {v}])"
        return f"[{inner} for e in {expr}]"

    def dec(self, gen: _Gen, expr: str) -> str:
        inner = self.inner.dec(gen, "e")
        return f"{gen.ref(self.origin, 'seq')}({inner} for e in {expr})"


class _Mapping(_Kind):
    def __init__(self, key: _Kind, value: _Kind) -> None:
        self.key = key
        self.value = value

    def enc(self, gen: _Gen, expr: str) -> str:
        return f"[[{self.key.enc(gen, 'k')}, {self.value.enc(gen, 'v')}] for k, v in {expr}.items()]"

    def dec(self, gen: _Gen, expr: str) -> str:
        return f"{{{self.key.dec(gen, 'kv[0]')}: {self.value.dec(gen, 'kv[1]')} for kv in {expr}}}"


class _Nested(_Kind):
    """A registered dataclass inside another: its own tagged array (resolved at run time)."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec

    def enc(self, gen: _Gen, expr: str) -> str:
        return f"{gen.ref(self._encode, 'nested')}({expr})"

    def dec(self, gen: _Gen, expr: str) -> str:
        return f"{gen.ref(self._decode, 'nested')}({expr})"

    def _encode(self, value: Any) -> tuple[Any, ...]:
        try:
            encoder = self.codec._encoders[type(value)]
        except KeyError:
            raise TypeError(f"{type(value).__qualname__} is not registered with the store codec") from None
        return encoder(value)

    def _decode(self, array: list[Any]) -> Any:
        tag = array[0]
        if len(array) == self.codec._arity[tag]:
            return self.codec._decoders[tag](array)
        return self.codec._slow_decoders[tag](array)


# -- the default codec: every event and command of engine.core ------------------------------------
CORE_EVENT_TAGS: dict[type, int] = {
    _events.TradeTick: 1,
    _events.QuoteTick: 2,
    _events.Bar: 3,
    _events.OrderBookUpdated: 4,
    _events.DataQualityAlert: 5,
    _events.OrderInitialized: 10,
    _events.OrderDenied: 11,
    _events.OrderSubmitted: 12,
    _events.OrderAccepted: 13,
    _events.OrderRejected: 14,
    _events.OrderPendingUpdate: 15,
    _events.OrderPendingCancel: 16,
    _events.OrderUpdated: 17,
    _events.OrderModifyRejected: 18,
    _events.OrderCancelRejected: 19,
    _events.OrderCanceled: 20,
    _events.OrderTriggered: 21,
    _events.OrderExpired: 22,
    _events.OrderFilled: 23,
    _events.TradingStateChanged: 40,
    _events.ComponentStateChanged: 41,
}
CORE_COMMAND_TAGS: dict[type, int] = {
    _commands.SubmitOrder: 64,
    _commands.AmendOrder: 65,
    _commands.CancelOrder: 66,
    _commands.CancelAllOrders: 67,
    _commands.SetTradingState: 68,
}

CODEC = Codec()
for _cls, _tag in (CORE_EVENT_TAGS | CORE_COMMAND_TAGS).items():
    CODEC.register(_cls, _tag)


def register(cls: type, tag: int) -> None:
    """Register a frozen dataclass with the default codec (see the tag ranges above)."""
    CODEC.register(cls, tag)
