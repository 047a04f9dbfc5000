"""``engine.ext.core.records``: the compiled builders of slotted records (codec decoders, event
constructors, copies), against what the Python constructors build."""

from __future__ import annotations

import dataclasses

import pytest

from engine.core.enums import LiquiditySide, Side
from engine.core.events import OrderAccepted, OrderFilled
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId, VenueOrderId
from engine.ext.core import records as rk


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Rec:
    n: int
    coid: ClientOrderId
    account: AccountId
    side: Side
    price: Price | None
    qty: Quantity
    note: str = "x"


def _plan(shared: dict[str, AccountId]) -> list[tuple[object, int, object, bool]]:
    return [
        (_Rec.n, rk.KIND_PLAIN, None, False),
        (_Rec.coid, rk.KIND_STR, ClientOrderId, False),
        (
            _Rec.account,
            rk.KIND_INTERNED,
            (shared, lambda v: shared.setdefault(v, str.__new__(AccountId, v))),
            False,
        ),
        (_Rec.side, rk.KIND_ENUM, Side._value2member_map_, False),
        (_Rec.price, rk.KIND_FIXED, (Price, Price._raw, Price._precision), True),
        (_Rec.qty, rk.KIND_FIXED, (Quantity, Quantity._raw, Quantity._precision), False),
        (_Rec.note, rk.KIND_CALL, str.upper, False),
    ]


def _fill(**changes: object) -> OrderFilled:
    values: dict[str, object] = {
        "ts_event": 5,
        "ts_init": 6,
        "account_id": AccountId("main"),
        "client_order_id": ClientOrderId("c-1"),
        "instrument_id": InstrumentId("SIM:BTC-USD"),
        "venue_order_id": VenueOrderId("V1"),
        "trade_id": TradeId("T1"),
        "side": Side.SELL,
        "last_price": Price("101.25"),
        "last_quantity": Quantity("0.003"),
        "liquidity_side": LiquiditySide.MAKER,
        "commission": Money("0.01", "USD"),
    }
    values.update(changes)
    return OrderFilled(**values)  # type: ignore[arg-type]


def test_slot_decoder_when_record_decoded_then_equals_the_constructed_object() -> None:
    shared: dict[str, AccountId] = {}
    decode = rk.SlotDecoder(_Rec, _plan(shared))
    record = [7, 42, "c-9", "acc", 2, [10125, 2], [3, 3], "note"]
    got = decode(record)
    assert got == _Rec(
        n=42,
        coid=ClientOrderId("c-9"),
        account=AccountId("acc"),
        side=Side.SELL,
        price=Price("101.25"),
        qty=Quantity("0.003"),
        note="NOTE",
    )
    assert type(got.coid) is ClientOrderId and type(got.price) is Price and type(got.qty) is Quantity
    assert decode.fields == 7
    # interned: a second record shares the first one's account object
    again = decode([7, 1, "c-10", "acc", 1, None, [1, 0], "n"])
    assert again.account is got.account and again.price is None and again.side is Side.BUY
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.n = 1  # type: ignore[misc]


def test_slot_decoder_when_record_is_malformed_then_raises_instead_of_building() -> None:
    decode = rk.SlotDecoder(_Rec, _plan({}))
    good = [7, 1, "c", "a", 1, None, [1, 0], "n"]
    with pytest.raises(ValueError, match="fields"):
        decode(good[:-1])
    with pytest.raises(TypeError, match="must be a string"):
        decode([7, 1, ["c"], "a", 1, None, [1, 0], "n"])  # an id that is not a string
    with pytest.raises(TypeError, match="must be a string"):
        decode([7, 1, "c", 5, 1, None, [1, 0], "n"])  # an interned id that is not a string
    with pytest.raises(KeyError):
        decode([7, 1, "c", "a", 9, None, [1, 0], "n"])  # no such enum member
    with pytest.raises(ValueError):
        decode([7, 1, "c", "a", 1, None, [1, 0, 2], "n"])  # a fixed-point value of three parts
    with pytest.raises(TypeError):
        decode([7, 1, "c", "a", 1, None, None, "n"])  # None in a field that is not optional


def test_slot_decoder_when_plan_is_invalid_then_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown field kind"):
        rk.SlotDecoder(_Rec, [(_Rec.n, 99, None, False)])
    with pytest.raises(TypeError, match="not a data descriptor"):
        rk.SlotDecoder(_Rec, [(str.upper, rk.KIND_PLAIN, None, False)])
    with pytest.raises(ValueError, match="fixed-point"):
        rk.SlotDecoder(_Rec, [(_Rec.qty, rk.KIND_FIXED, Quantity, False)])
    with pytest.raises(TypeError, match="record class defined in Python"):
        rk.SlotDecoder(int, [])


def test_build_when_given_every_slot_then_equals_the_keyword_constructor() -> None:
    expected = _fill()
    setters = tuple(getattr(OrderFilled, f.name) for f in dataclasses.fields(OrderFilled))
    values = tuple(getattr(expected, f.name) for f in dataclasses.fields(OrderFilled))
    got = rk.build(OrderFilled, setters, values)
    assert got == expected and type(got) is OrderFilled
    with pytest.raises(ValueError, match="values for"):
        rk.build(OrderFilled, setters, values[:-1])
    with pytest.raises(TypeError, match="record class defined in Python"):
        rk.build(tuple, (), ())


def test_copy_replacing_when_sequence_replaced_then_equals_dataclasses_replace() -> None:
    event = OrderAccepted(
        ts_event=1,
        ts_init=2,
        account_id=AccountId("main"),
        client_order_id=ClientOrderId("c-1"),
        instrument_id=InstrumentId("SIM:BTC-USD"),
        venue_order_id=VenueOrderId("V1"),
    )
    setters = tuple(getattr(OrderAccepted, f.name) for f in dataclasses.fields(OrderAccepted))
    at = [f.name for f in dataclasses.fields(OrderAccepted)].index("sequence")
    copy = rk.copy_replacing(event, setters, at, 77)
    assert copy == dataclasses.replace(event, sequence=77) and copy is not event
    assert event.sequence != 77  # the original is untouched
    with pytest.raises(IndexError):
        rk.copy_replacing(event, setters, len(setters), 1)


def test_fill_slots_when_frozen_record_constructed_then_fields_defaults_and_checks_hold() -> None:
    fill = _fill(commission=Money("0", "USD"))
    assert fill.commission == Money("0", "USD") and fill.sequence == 0 and fill.side is Side.SELL
    with pytest.raises(TypeError):
        OrderFilled(ts_event=1)  # type: ignore[call-arg]  # missing keyword-only fields
    obj = object.__new__(_Rec)
    with pytest.raises(ValueError, match="values for"):
        rk.fill_slots(obj, (_Rec.n,), (1, 2))


def test_decode_batch_when_records_mixed_then_fast_fallback_and_errors_are_routed() -> None:
    import orjson

    decode = rk.SlotDecoder(_Rec, _plan({}))
    records = [b'[7,1,"c","a",1,null,[1,0],"n"]', b'[0,{"plain":1}]', b"[7,2]"]

    def fallback(data: bytes) -> object:
        return ("fallback", orjson.loads(data))

    class Passthrough(Exception):
        pass

    out = rk.decode_batch(records, orjson.loads, {7: decode}, {7: 8}, fallback, Passthrough, RuntimeError)
    assert out[0] == _Rec(
        n=1,
        coid=ClientOrderId("c"),
        account=AccountId("a"),
        side=Side.BUY,
        price=None,
        qty=Quantity("1"),
        note="N",
    )
    assert out[1:] == [("fallback", [0, {"plain": 1}]), ("fallback", [7, 2])]

    def wrap(data: bytes, exc: Exception) -> RuntimeError:
        return RuntimeError(f"bad {data!r}: {type(exc).__name__}")

    with pytest.raises(RuntimeError, match="bad b'not json'"):
        rk.decode_batch([b"not json"], orjson.loads, {}, {}, fallback, Passthrough, wrap)

    def refuse(data: bytes) -> object:
        raise Passthrough("as is")

    with pytest.raises(Passthrough, match="as is"):
        rk.decode_batch([b"[9]"], orjson.loads, {}, {}, refuse, Passthrough, wrap)
