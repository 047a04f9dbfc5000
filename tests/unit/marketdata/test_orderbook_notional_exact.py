from __future__ import annotations

from decimal import Decimal

from engine.core import Instrument, InstrumentId, InstrumentKind, Price, Quantity, Side
from engine.marketdata.book import OrderBook


def test_cost_to_fill_when_contract_multiplier_and_huge_notional_then_exact() -> None:
    instrument = Instrument(
        id=InstrumentId("SIM:BIG-PERP"),
        kind=InstrumentKind.PERPETUAL,
        base="BIG",
        quote="USD",
        settlement="USD",
        price_increment=Price("0.00000001"),
        size_increment=Quantity("0.00000001"),
        min_quantity=Quantity("0.00000001"),
        multiplier=Decimal("0.001"),
    )
    book = OrderBook(instrument)
    book.apply_delta(Side.SELL, "92233720.36854775", "92233720.36854775")
    estimate = book.cost_to_fill(Side.BUY, "92233720.36854775")
    expected_raw = 9223372036854775 * 9223372036854775  # 32 significant digits: beyond Decimal's default 28
    # price x quantity x 0.001 = expected_raw * 10**-19 (built from a string: no context rounding).
    assert estimate.notional.as_decimal() == Decimal(f"{expected_raw}E-19")
    assert str(estimate.notional) == "8507059173023.4600960874440300625 USD"
    assert estimate.complete
