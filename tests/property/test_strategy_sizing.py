"""Properties of the strategy context's exact sizing and price rounding (any cash, price, fee, lot)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.clock import TestClock
from engine.core.enums import InstrumentKind
from engine.core.fixed import INT64_MAX, Money, Price, Quantity
from engine.core.ids import AccountId, InstrumentId, StrategyId
from engine.core.instruments import Instrument
from engine.strategy.context import Context

IID = InstrumentId("SIM:X-USD")


class _Balances:
    def balances(self, account_id: AccountId) -> dict[str, Money]:
        return {}


def _context(price_places: int, lot_places: int, lot_units: int, fee_bps: int) -> Context:
    instrument = Instrument(
        id=IID,
        kind=InstrumentKind.SPOT,
        base="X",
        quote="USD",
        settlement="USD",
        price_increment=Price.from_raw(1, price_places),
        size_increment=Quantity.from_raw(lot_units, lot_places),
        min_quantity=Quantity.from_raw(lot_units, lot_places),
        taker_fee=Decimal(fee_bps) / 10_000,
    )
    return Context(
        strategy_id=StrategyId("p"),
        account_id=AccountId("a"),
        instruments=(IID,),
        known_instruments={IID: instrument},
        clock=TestClock(0),
        router=None,  # type: ignore[arg-type]  # sizing never routes
        portfolio=_Balances(),
        on_new_order=lambda coid, ctx: None,
        on_timer=lambda ctx, event: None,
    )


@settings(max_examples=300, deadline=None)
@given(
    price_places=st.integers(0, 6),
    lot_places=st.integers(0, 8),
    lot_units=st.integers(1, 50),
    fee_bps=st.integers(0, 100),
    price_raw=st.integers(1, 10**12),
    cash_raw=st.integers(0, 10**16),
    cash_places=st.integers(0, 8),
)
def test_all_in_quantity_is_the_largest_affordable_whole_number_of_lots(
    price_places: int,
    lot_places: int,
    lot_units: int,
    fee_bps: int,
    price_raw: int,
    cash_raw: int,
    cash_places: int,
) -> None:
    ctx = _context(price_places, lot_places, lot_units, fee_bps)
    price = Price.from_raw(price_raw, price_places)
    cash = Money.from_raw(cash_raw, cash_places, "USD")
    qty = ctx.all_in_quantity(IID, price, cash)
    lot = Fraction(lot_units, 10**lot_places)
    cost_per_unit = Fraction(price_raw, 10**price_places) * (1 + Fraction(fee_bps, 10_000))
    units = Fraction(qty.raw, 10**qty.precision)
    assert units % lot == 0  # whole lots
    assert units * cost_per_unit <= Fraction(cash_raw, 10**cash_places)  # affordable
    if qty.raw == INT64_MAX // lot_units * lot_units:
        return  # capped at the largest quantity a 64-bit Quantity holds
    if units:  # one more lot is not (below the minimum of one lot it is zero)
        assert (units + lot) * cost_per_unit > Fraction(cash_raw, 10**cash_places)
    else:
        assert lot * cost_per_unit > Fraction(cash_raw, 10**cash_places)


@settings(max_examples=300, deadline=None)
@given(price_places=st.integers(0, 6), ticks=st.integers(1, 10**11))
def test_price_of_the_float_of_a_grid_price_is_that_price(price_places: int, ticks: int) -> None:
    ctx = _context(price_places, 2, 1, 0)
    exact = Price.from_raw(ticks, price_places)
    as_float = ticks / 10**price_places  # what a bar's float is (raw / 10**p, or a decimal parse)
    assert ctx.price(IID, as_float) == exact
    assert ctx.price(IID, float(str(exact))) == exact
    assert ctx.price(IID, str(exact)) == exact
