"""The store codec: exact round trips, versioning rules, errors that name the problem."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import orjson
import pytest
from store_samples import mixed_objects, sample_events

from engine.core.enums import Side
from engine.core.errors import StorageError
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import InstrumentId
from engine.store.codec import CODEC, CORE_COMMAND_TAGS, CORE_EVENT_TAGS, Codec


def test_codec_when_core_classes_listed_then_every_event_and_command_registered() -> None:
    from engine.core import commands, events

    def concrete(module: object, base: type) -> set[type]:
        return {
            v
            for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, base) and dataclasses.is_dataclass(v) and v is not base
        }

    expected = (concrete(events, events.Event) - {events.OrderEvent}) | concrete(commands, commands.Command)
    assert expected <= set(CODEC.registered().values())
    assert set(CORE_EVENT_TAGS) | set(CORE_COMMAND_TAGS) == expected


@dataclasses.dataclass(frozen=True, slots=True)
class Leg:
    instrument_id: InstrumentId
    side: Side
    qty: Quantity


@dataclasses.dataclass(frozen=True)
class Snapshot:
    legs: tuple[Leg, ...]
    limits: dict[InstrumentId, Decimal]
    tags: frozenset[str]
    note: str | None


def test_codec_when_mixed_objects_round_trip_then_equal_with_same_types() -> None:
    for obj in mixed_objects():
        back = CODEC.decode(CODEC.encode(obj))
        assert back == obj
        assert type(back) is type(obj)
        for f in dataclasses.fields(obj):
            assert type(getattr(back, f.name)) is type(getattr(obj, f.name)), f.name


def test_codec_when_money_exceeds_64_bits_then_round_trips_exactly() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Balance:
        amount: Money
        price: Price | None
        size: Quantity

    codec = Codec()
    codec.register(Balance, 300)
    big = Money.from_raw(-(10**40) - 7, 36, "USDT")
    obj = Balance(amount=big, price=None, size=Quantity.from_raw(0, 18))
    back = codec.decode(codec.encode(obj))
    assert back.amount.raw == big.raw and back.amount.precision == 36 and back.amount.currency == "USDT"
    assert back.price is None and back.size.precision == 18


def test_codec_when_precision_differs_then_preserved() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class P:
        p: Price

    codec = Codec()
    codec.register(P, 301)
    back = codec.decode(codec.encode(P(Price("1.500"))))
    assert (back.p.raw, back.p.precision) == (1500, 3)


def test_codec_when_tag_unknown_then_storage_error_names_it() -> None:
    with pytest.raises(StorageError, match="unknown codec tag 9999"):
        CODEC.decode(b"[9999,1,2]")


def test_codec_when_record_not_json_then_storage_error() -> None:
    with pytest.raises(StorageError, match="corrupt record"):
        CODEC.decode(b"\x00garbage")


def test_codec_when_enum_value_unknown_then_storage_error_names_class() -> None:
    good = orjson.loads(CODEC.encode(mixed_objects()[0]))
    good[8] = 99  # side
    with pytest.raises(StorageError, match="OrderInitialized"):
        CODEC.decode(orjson.dumps(good))


def test_codec_when_class_unregistered_then_encode_raises() -> None:
    @dataclasses.dataclass(frozen=True)
    class Unknown:
        x: int

    with pytest.raises(StorageError, match="not registered"):
        CODEC.encode(Unknown(1))


def test_codec_when_tag_reused_then_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class A:
        x: int

    with pytest.raises(ValueError, match="already taken"):
        CODEC.register(A, 10)


def test_codec_when_field_type_has_no_exact_encoding_then_register_refuses() -> None:
    @dataclasses.dataclass(frozen=True)
    class Bad:
        x: object

    with pytest.raises(TypeError, match="no exact encoding"):
        Codec().register(Bad, 1)


def test_codec_when_record_has_fewer_fields_then_trailing_defaults_apply() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class V2:
        a: int
        b: Price = Price("0.5")  # noqa: RUF009 - immutable value
        c: tuple[str, ...] = ()

    codec = Codec()
    codec.register(V2, 310)
    back = codec.decode(b"[310,7]")
    assert back == V2(a=7)
    with pytest.raises(StorageError, match="newer"):
        codec.decode(b"[310,7,[5,1],[],1]")


def test_codec_when_layout_reordered_then_check_layouts_refuses() -> None:
    @dataclasses.dataclass(frozen=True)
    class L:
        a: int
        b: int

    codec = Codec()
    codec.register(L, 320)
    codec.check_layouts({320: ("x.L", ("a",))})
    with pytest.raises(StorageError, match="incompatibly"):
        codec.check_layouts({320: ("x.L", ("b", "a"))})


def test_codec_when_nested_collections_then_round_trip() -> None:
    codec = Codec()
    codec.register(Leg, 330)
    codec.register(Snapshot, 331)
    snap = Snapshot(
        legs=(Leg(InstrumentId("SIM:A-B"), Side.SELL, Quantity("3.25")),),
        limits={InstrumentId("SIM:A-B"): Decimal("1E+3")},
        tags=frozenset({"x", "y"}),
        note=None,
    )
    back = codec.decode(codec.encode(snap))
    assert back == snap
    assert type(back.legs[0].instrument_id) is InstrumentId and back.legs[0].side is Side.SELL


def test_codec_when_plain_value_then_round_trips_and_dataclass_inside_refused() -> None:
    assert CODEC.decode(CODEC.encode_value({"a": [1, "x", None]})) == {"a": [1, "x", None]}
    with pytest.raises(StorageError):
        CODEC.encode_value({"price": Price("1.5")})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Cat:
    lives: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Dog:
    name: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Owner:
    pet: _Cat | _Dog
    previous: _Cat | _Dog | None = None


def test_codec_when_field_is_a_union_of_records_then_round_trips_by_tag() -> None:
    codec = Codec()
    codec.register(_Cat, 330)
    codec.register(_Dog, 331)
    codec.register(_Owner, 332)
    for owner in (_Owner(pet=_Cat(lives=9)), _Owner(pet=_Dog(name="rex"), previous=_Cat(lives=3))):
        assert codec.decode(codec.encode(owner)) == owner


def test_codec_when_records_decoded_then_few_valued_ids_shared_and_the_rest_built_per_record() -> None:
    from engine.core.ids import AccountId, ClientOrderId, StrategyId
    from engine.store.codec import _INTERN_LIMIT

    records = [CODEC.encode(e) for e in sample_events(40)]
    decoded = CODEC.decode_many(records) + [CODEC.decode(r) for r in records]
    assert decoded == CODEC.decode_many(records)[:40] * 2
    for name, cls in (
        ("account_id", AccountId),
        ("instrument_id", InstrumentId),
        ("strategy_id", StrategyId),
    ):
        values = [getattr(e, name) for e in decoded if hasattr(e, name)]
        assert values and all(type(v) is cls for v in values)
        by_value: dict[str, set[int]] = {}
        for v in values:
            by_value.setdefault(str(v), set()).add(id(v))
        assert len(values) > len(by_value), f"{name}: the sample repeats values"
        assert all(len(ids) == 1 for ids in by_value.values()), f"{name}: one instance per value"
    coids = [e.client_order_id for e in decoded if hasattr(e, "client_order_id")]
    assert all(type(c) is ClientOrderId for c in coids)
    assert len({id(c) for c in coids}) == len(coids), "client order ids are not shared"

    # The table of shared instances is bounded: past the limit, ids are built per record.
    codec = Codec()
    codec.register(_Holder, 900)
    many = [codec.encode(_Holder(InstrumentId(f"SIM:X{i}-USD"))) for i in range(_INTERN_LIMIT + 10)]
    first, again = codec.decode_many(many), codec.decode_many(many)
    assert [h.instrument_id for h in first] == [h.instrument_id for h in again]
    assert first[0].instrument_id is again[0].instrument_id
    assert first[-1].instrument_id is not again[-1].instrument_id
    assert type(first[-1].instrument_id) is InstrumentId


@dataclasses.dataclass(frozen=True, slots=True)
class _Holder:
    instrument_id: InstrumentId
