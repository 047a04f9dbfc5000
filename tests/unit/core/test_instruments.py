from __future__ import annotations

from decimal import Decimal

import pytest

from engine.core import Instrument, InstrumentId, InstrumentKind, Money, Price, Quantity
from engine.core.errors import ValidationError


def _btc(**overrides: object) -> Instrument:
    fields: dict[str, object] = dict(
        id=InstrumentId("SIM:BTC-USD"),
        kind=InstrumentKind.SPOT,
        base="BTC",
        quote="USD",
        settlement="USD",
        price_increment=Price("0.5"),
        size_increment=Quantity("0.001"),
        min_quantity=Quantity("0.001"),
        min_notional=Money("10", "USD"),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0005"),
    )
    fields.update(overrides)
    return Instrument(**fields)  # type: ignore[arg-type]


def test_price_to_ticks_when_on_grid_then_exact_and_reversible() -> None:
    btc = _btc()
    assert btc.price_to_ticks(Price("65432.5")) == 130865
    assert btc.ticks_to_price(130865) == Price("65432.5")
    assert btc.price_to_ticks(Price("65432.50000")) == 130865  # extra zeros are fine
    assert btc.quantity_to_lots(Quantity("1.25")) == 1250
    assert btc.lots_to_quantity(1250) == Quantity("1.250")


def test_conversions_when_fewer_places_or_out_of_range_then_exact_or_the_usual_errors() -> None:
    """The conversions' shortcuts (a literal with fewer places than the grid, values built without
    ``from_raw``) give the same values and errors as the checked path."""
    btc = _btc(price_increment=Price("0.25"))
    assert btc.price_to_ticks(Price("65432")) == 261728  # 0 places on a 2-place grid
    assert btc.quantity_to_lots(Quantity("2")) == 2000
    with pytest.raises(ValidationError) as info:
        btc.price_to_ticks(Price("65432.1"))
    assert (info.value.field, info.value.reason) == ("price", "PRICE_OFF_TICK")
    price = btc.ticks_to_price(-3)
    assert (price.raw, price.precision, str(price)) == (-75, 2, "-0.75")
    quantity = btc.lots_to_quantity(7)
    assert (quantity.raw, quantity.precision) == (7, 3) and type(quantity) is Quantity
    with pytest.raises(OverflowError):
        btc.ticks_to_price(1 << 62)
    with pytest.raises(ValueError, match="must not be negative"):
        btc.lots_to_quantity(-1)
    with pytest.raises(TypeError):
        btc.ticks_to_price(Decimal(3))  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["65432.25", "65432.55", "0.1"])
def test_parse_price_when_off_tick_then_validation_error_with_reason(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        _btc().parse_price(text)
    assert info.value.field == "price"
    assert info.value.reason == "PRICE_OFF_TICK"


def test_parse_quantity_when_off_increment_or_garbage_then_validation_error() -> None:
    btc = _btc()
    with pytest.raises(ValidationError) as info:
        btc.parse_quantity("0.0015")
    assert info.value.reason == "SIZE_OFF_INCREMENT"
    with pytest.raises(ValidationError) as info:
        btc.parse_quantity("lots")
    assert info.value.field == "quantity"
    with pytest.raises(ValidationError):
        btc.parse_quantity("-1")


def test_notional_when_values_exceed_28_digits_then_still_exact() -> None:
    wide = _btc(
        price_increment=Price("0.00000001"), size_increment=Quantity("0.00000001"), min_quantity=Quantity("0")
    )
    price = Price("92233720368.54775807")
    quantity = Quantity("92233720368.54775807")
    notional = wide.notional(price, quantity)
    assert notional.raw == price.raw * quantity.raw
    assert notional.precision == 16
    assert notional.currency == "USD"


def test_instrument_when_increments_invalid_then_validation_error() -> None:
    with pytest.raises(ValidationError, match="price_increment"):
        _btc(price_increment=Price("0"))
    with pytest.raises(ValidationError, match="min_quantity"):
        _btc(min_quantity=Quantity("0.0015"))
    with pytest.raises(ValidationError, match="min_notional"):
        _btc(min_notional=Money("10", "EUR"))
    with pytest.raises(ValidationError, match="multiplier"):
        _btc(multiplier=Decimal(0))
