from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import (
    AccountId,
    ClientOrderId,
    ClientOrderIdGenerator,
    InstrumentId,
    OrderStatus,
    OrderType,
    Price,
    Quantity,
    Side,
    StrategyId,
    TimeInForce,
)
from engine.core.commands import AmendOrder, SubmitOrder
from engine.core.errors import ValidationError


def test_instrument_id_when_parsed_then_venue_and_symbol_split_at_first_colon() -> None:
    iid = InstrumentId("BINANCE:BTC/USDT:USDT")
    assert iid.venue == "BINANCE"
    assert iid.symbol == "BTC/USDT:USDT"
    assert InstrumentId.of("SIM", "BTC-USD") == "SIM:BTC-USD"
    assert {iid: 1}[InstrumentId("BINANCE:BTC/USDT:USDT")] == 1


@pytest.mark.parametrize("bad", ["", "BTCUSDT", "binance:BTC", "SIM:", "SIM:BTC USD"])
def test_instrument_id_when_malformed_then_validation_error_names_field(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        InstrumentId(bad)
    assert info.value.field == "instrument_id"


@pytest.mark.parametrize("bad", ["", "x" * 37, "has space", "emoji-💥"])
def test_client_order_id_when_invalid_then_validation_error(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        ClientOrderId(bad)
    assert info.value.field == "client_order_id"


def test_client_order_id_generator_when_restarted_later_then_ids_never_repeat() -> None:
    first = ClientOrderIdGenerator("at", start_ns=1_700_000_000 * 10**9)
    second = ClientOrderIdGenerator("at", start_ns=1_700_000_001 * 10**9)
    ids = [first.next() for _ in range(1000)] + [second.next() for _ in range(1000)]
    assert len(set(ids)) == 2000
    assert all(isinstance(i, ClientOrderId) and len(i) <= 36 for i in ids)
    resumed = ClientOrderIdGenerator("at", start_ns=1_700_000_000 * 10**9, start_count=1000)
    assert resumed.next() not in ids


def _submit(**overrides: object) -> SubmitOrder:
    fields: dict[str, object] = dict(
        ts_init=1,
        account_id=AccountId("main"),
        strategy_id=StrategyId("manual"),
        client_order_id=ClientOrderId("c-1"),
        instrument_id=InstrumentId("SIM:BTC-USD"),
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Quantity("1"),
        price=Price("100"),
    )
    fields.update(overrides)
    return SubmitOrder(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"quantity": Quantity("0")}, "quantity"),
        ({"price": None}, "price"),
        ({"price": Price("-1")}, "price"),
        ({"order_type": OrderType.MARKET}, "price"),
        ({"order_type": OrderType.STOP_LIMIT}, "trigger_price"),
        ({"trigger_price": Price("99")}, "trigger_price"),
        ({"time_in_force": TimeInForce.GTD}, "expire_at_ns"),
        ({"expire_at_ns": 5}, "expire_at_ns"),
        ({"post_only": True, "time_in_force": TimeInForce.IOC}, "post_only"),
        ({"side": 1}, "side"),
        ({"quantity": "1"}, "quantity"),
        ({"price": "100"}, "price"),
        ({"order_type": OrderType.STOP_LIMIT, "trigger_price": Price("0")}, "trigger_price"),
        ({"order_type": OrderType.MARKET, "price": None, "post_only": True}, "post_only"),
        (
            {
                "order_type": OrderType.MARKET,
                "price": None,
                "time_in_force": TimeInForce.GTD,
                "expire_at_ns": 5,
            },
            "time_in_force",
        ),
    ],
)
def test_submit_order_when_fields_inconsistent_then_validation_error_names_field(
    overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        _submit(**overrides)
    assert info.value.field == field


def test_submit_order_when_valid_then_immutable() -> None:
    order = _submit(order_type=OrderType.STOP_LIMIT, trigger_price=Price("101"))
    assert order.trigger_price == Price("101")
    with pytest.raises(AttributeError):
        order.quantity = Quantity("2")  # type: ignore[misc]


def test_amend_order_when_nothing_changes_then_validation_error() -> None:
    with pytest.raises(ValidationError):
        AmendOrder(ts_init=1, account_id=AccountId("main"), client_order_id=ClientOrderId("c-1"))
    amend = AmendOrder(
        ts_init=1, account_id=AccountId("main"), client_order_id=ClientOrderId("c-1"), price=Price("2")
    )
    assert amend.quantity is None


def test_order_status_when_classified_then_terminal_and_open_disjoint() -> None:
    terminal = {s for s in OrderStatus if s.is_terminal}
    open_ = {s for s in OrderStatus if s.is_open}
    assert terminal == {
        OrderStatus.DENIED,
        OrderStatus.REJECTED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
    }
    assert not terminal & open_
    assert Side.BUY.opposite is Side.SELL
    assert Side.SELL.sign == -1


def test_frozen_record_when_built_then_keyword_only_defaults_post_init_and_immutable() -> None:
    import dataclasses

    from engine.core.records import frozen_record

    @frozen_record
    class Base:
        a: int

    @frozen_record
    class Child(Base):
        b: str = "x"
        c: tuple[int, ...] = ()

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("a must not be negative")

    child = Child(a=1)
    assert (child.a, child.b, child.c) == (1, "x", ())
    assert child == Child(a=1, b="x") and hash(child) == hash(Child(a=1))
    assert dataclasses.replace(child, b="y") == Child(a=1, b="y")
    assert [f.name for f in dataclasses.fields(child)] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="negative"):
        Child(a=-1)
    with pytest.raises(ValueError, match="negative"):
        dataclasses.replace(child, a=-1)
    with pytest.raises(TypeError):
        Child(1)  # type: ignore[misc]  # keyword-only
    with pytest.raises(TypeError):
        Child(b="y")  # type: ignore[call-arg]  # a is required
    with pytest.raises(TypeError):
        Child(a=1, d=2)  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        child.b = "z"  # type: ignore[misc]
    assert not hasattr(child, "__dict__")

    @frozen_record
    class Empty:
        pass

    assert Empty() == Empty()  # no fields: the dataclass ``__init__`` (nothing to set)


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from("aZ09._:/-" + " \t\n\x00é€ß#@+,;") | st.characters(), min_size=0, max_size=70
    )
)
def test_plain_ids_when_any_text_then_accepted_exactly_when_their_pattern_matches(text: str) -> None:
    """The character check that replaced the regex on the hot path (``_Id._chars``) accepts exactly
    what each class's documented pattern accepts."""
    for cls in (ClientOrderId, StrategyId, AccountId):
        expected = cls._pattern.fullmatch(text) is not None
        try:
            value = cls(text)
        except ValidationError as exc:
            assert not expected, (cls, text)
            assert exc.field == cls._field
        else:
            assert expected, (cls, text)
            assert value == text and type(value) is cls


def test_plain_ids_when_at_their_length_limit_then_accepted_one_more_refused() -> None:
    assert ClientOrderId("a" * 36) == "a" * 36 and AccountId("a" * 64) == "a" * 64
    for cls, limit in ((ClientOrderId, 36), (AccountId, 64), (StrategyId, 64)):
        with pytest.raises(ValidationError):
            cls("a" * (limit + 1))
