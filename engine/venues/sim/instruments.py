"""The default instruments of the simulated venue (the offline demo lists these)."""

from __future__ import annotations

from decimal import Decimal

from engine.core.enums import InstrumentKind
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument

__all__ = ["SIM_BTC_USD", "SIM_ETH_USD", "SIM_SOL_USD", "default_instruments", "initial_prices"]

SIM_BTC_USD = Instrument(
    id=InstrumentId("SIM:BTC-USD"),
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USD",
    settlement="USD",
    price_increment=Price("0.10"),
    size_increment=Quantity("0.00001"),
    min_quantity=Quantity("0.00001"),
    max_quantity=Quantity("1000"),
    min_notional=Money("5", "USD"),
    maker_fee=Decimal("0.0002"),
    taker_fee=Decimal("0.0005"),
)

SIM_ETH_USD = Instrument(
    id=InstrumentId("SIM:ETH-USD"),
    kind=InstrumentKind.SPOT,
    base="ETH",
    quote="USD",
    settlement="USD",
    price_increment=Price("0.01"),
    size_increment=Quantity("0.0001"),
    min_quantity=Quantity("0.0001"),
    max_quantity=Quantity("10000"),
    min_notional=Money("5", "USD"),
    maker_fee=Decimal("0.0002"),
    taker_fee=Decimal("0.0005"),
)

SIM_SOL_USD = Instrument(
    id=InstrumentId("SIM:SOL-USD"),
    kind=InstrumentKind.SPOT,
    base="SOL",
    quote="USD",
    settlement="USD",
    price_increment=Price("0.001"),
    size_increment=Quantity("0.01"),
    min_quantity=Quantity("0.01"),
    max_quantity=Quantity("100000"),
    min_notional=Money("1", "USD"),
    maker_fee=Decimal("0.0001"),
    taker_fee=Decimal("0.0004"),
)


def default_instruments() -> list[Instrument]:
    return [SIM_BTC_USD, SIM_ETH_USD, SIM_SOL_USD]


def initial_prices() -> dict[InstrumentId, Price]:
    """Where the market simulator starts each default instrument's fair value."""
    return {
        SIM_BTC_USD.id: Price("65000.00"),
        SIM_ETH_USD.id: Price("3500.00"),
        SIM_SOL_USD.id: Price("150.000"),
    }
