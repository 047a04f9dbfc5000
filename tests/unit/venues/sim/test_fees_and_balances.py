"""Fees are exact integers with documented rounding; balances move exactly with fills and fees."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.core.enums import InstrumentKind, LiquiditySide, Side
from engine.core.events import OrderFilled
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, InstrumentId
from engine.core.instruments import Instrument
from engine.ext.matching import engine as mx
from engine.venues.sim import InstrumentTerms, SimVenue, SimVenueConfig, default_instruments


def _inst(**overrides) -> Instrument:
    values = {
        "id": InstrumentId("SIM:FEE-USD"),
        "kind": InstrumentKind.SPOT,
        "base": "FEE",
        "quote": "USD",
        "settlement": "USD",
        "price_increment": Price("0.01"),
        "size_increment": Quantity("0.001"),
        "min_quantity": Quantity("0.001"),
        "maker_fee": Decimal("-0.0001"),
        "taker_fee": Decimal("0.00075"),
    }
    values.update(overrides)
    return Instrument(**values)


def test_terms_when_built_then_fee_rates_are_exact_rationals_in_fee_units():
    terms = InstrumentTerms.of(_inst())
    # notional unit = 0.01 * 0.001 = 1e-5 USD (precision 5); fee units 1e-8 USD
    assert (terms.notional_precision, terms.notional_unit_raw, terms.fee_precision) == (5, 1, 8)
    assert (terms.taker_fee_num, terms.taker_fee_den) == (3, 4)  # 1e-5 * 0.00075 / 1e-8 = 0.75
    assert (terms.maker_fee_num, terms.maker_fee_den) == (-1, 10)


@pytest.mark.parametrize(
    ("ticks", "lots", "maker", "expected_units"),
    [
        (10_000, 1, False, 7_500),  # 100.00 x 0.001 x 0.00075 = 0.000075 USD exactly
        (1, 1, False, 1),  # 0.75 fee units -> rounds up to 1 (venue's favour)
        (1, 1, True, 0),  # -0.1 units rebate -> rounds towards zero
        (3, 7, True, -2),  # -2.1 -> -2
    ],
)
def test_terms_fee_units_when_not_whole_then_ceiling_in_venue_favour(ticks, lots, maker, expected_units):
    terms = InstrumentTerms.of(_inst())
    assert terms.fee_units(ticks, lots, maker=maker) == expected_units


def test_matcher_fees_when_filled_then_equal_python_rule_for_both_sides():
    terms = InstrumentTerms.of(_inst())
    engine = mx.MatchingEngine(
        maker_fee_num=terms.maker_fee_num,
        maker_fee_den=terms.maker_fee_den,
        taker_fee_num=terms.taker_fee_num,
        taker_fee_den=terms.taker_fee_den,
    )
    engine.submit(0, 1, 1, mx.SELL, mx.LIMIT, mx.GTC, 7, 3)
    engine.submit(0, 2, 2, mx.BUY, mx.MARKET, mx.IOC, 7)
    fills = [r for r in engine.report_rows() if r[mx.FIELD_KIND] == mx.REPORT_FILLED]
    fees = {r[mx.FIELD_LIQUIDITY]: r[mx.FIELD_FEE] for r in fills}
    assert fees[mx.TAKER] == terms.fee_units(3, 7, maker=False) == 16  # 15.75 -> 16
    assert fees[mx.MAKER] == terms.fee_units(3, 7, maker=True) == -2


def test_sim_venue_fill_when_spot_then_balances_move_by_notional_and_fee_exactly(clock, submit):
    venue = SimVenue(
        default_instruments(), clock, SimVenueConfig(accounts={"main": {"USD": "1000"}, "mm": {"BTC": "1"}})
    )
    venue.apply(submit("a1", Side.SELL, "0.01234", "65432.10", account="mm"))
    events = venue.apply(submit("m1", Side.BUY, "0.01234"))
    taker = next(e for e in events if isinstance(e, OrderFilled) and e.liquidity_side is LiquiditySide.TAKER)
    maker = next(e for e in events if isinstance(e, OrderFilled) and e.liquidity_side is LiquiditySide.MAKER)
    notional = Decimal("65432.10") * Decimal("0.01234")  # 807.432114
    assert taker.commission == Money("0.40371606", "USD")  # 0.403716057 rounds up at 1e-8
    assert maker.commission == Money("0.16148643", "USD")  # 0.1614864228 -> ceil
    main = venue.balances(AccountId("main"))
    assert main["USD"] == Money("1000", "USD") - Money(notional, "USD") - taker.commission
    assert main["BTC"] == Money("0.01234", "BTC")
    mm = venue.balances(AccountId("mm"))
    assert mm["USD"] == Money(notional, "USD") - maker.commission
    assert mm["BTC"] == Money("0.98766", "BTC")


def test_terms_when_min_notional_not_a_whole_unit_then_minimum_rounds_up():
    terms = InstrumentTerms.of(_inst(min_notional=Money("0.000015", "USD")))
    assert terms.min_notional_units == 2  # 1.5 notional units -> 2: ticks * lots >= 2
