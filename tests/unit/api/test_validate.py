"""Request validation's memo of successful parses (engine/api/validate.py): a value accepted once is
reused only for the very same instrument object, and a bad value is refused every time with the
same field and reason."""

from __future__ import annotations

import dataclasses

import pytest

from algotrendy.v1 import common_pb2, orders_pb2
from engine.api import validate
from engine.core.errors import ValidationError
from engine.core.fixed import Price, Quantity
from engine.core.instruments import Instrument
from engine.venues.sim import default_instruments

BTC = next(i for i in default_instruments() if str(i.id) == "SIM:BTC-USD")  # tick 0.10, lot 0.00001


def _submit(instrument: Instrument, price: str, quantity: str = "0.001") -> validate.SubmitOrder:
    request = orders_pb2.SubmitOrderRequest(
        account_id="main",
        client_order_id="c-1",
        instrument_id=str(instrument.id),
        side=common_pb2.SIDE_BUY,
        order_type=common_pb2.ORDER_TYPE_LIMIT,
        time_in_force=common_pb2.TIME_IN_FORCE_GTC,
        quantity=common_pb2.Decimal(value=quantity),
        price=common_pb2.Decimal(value=price),
    )
    return validate.submit_order(request, instruments=lambda _: instrument, ts_ns=1)


def _refusal(instrument: Instrument, price: str, quantity: str = "0.001") -> tuple[str, str]:
    with pytest.raises(ValidationError) as info:
        _submit(instrument, price, quantity)
    return info.value.field, info.value.reason


def test_grid_memo_when_instrument_replaced_with_a_coarser_grid_then_a_value_accepted_before_is_refused() -> (
    None
):
    assert _submit(BTC, "100.1", "0.00003").price == Price("100.1")  # memoised for BTC
    coarse = dataclasses.replace(
        BTC, price_increment=Price("1.0"), size_increment=Quantity("0.0001"), min_quantity=Quantity("0.0001")
    )
    assert _refusal(coarse, "100.1") == ("price", "PRICE_OFF_TICK")
    assert _refusal(coarse, "100.0", "0.00003") == ("quantity", "SIZE_OFF_INCREMENT")
    assert _submit(BTC, "100.1", "0.00003").quantity == Quantity("0.00003")  # still valid on BTC's grid


def test_memo_when_a_value_is_bad_then_refused_every_time_with_the_same_field_and_reason() -> None:
    for _ in range(3):
        assert _refusal(BTC, "100.15") == ("price", "PRICE_OFF_TICK")
        assert _refusal(BTC, "-1") == ("price", "INVALID_ARGUMENT")
        assert _refusal(BTC, "100.1", "0.000001") == ("quantity", "SIZE_OFF_INCREMENT")
    for _ in range(3):
        with pytest.raises(ValidationError) as info:
            validate.submit_order(
                orders_pb2.SubmitOrderRequest(account_id="x" * 200), instruments=lambda _: BTC, ts_ns=1
            )
        assert info.value.field == "account_id"


def test_memo_when_filled_past_its_bound_then_starts_over() -> None:
    for i in range(validate._MEMO_MAX + 10):
        _submit(BTC, f"{i}.1")
    assert len(validate._grid_values) <= validate._MEMO_MAX
