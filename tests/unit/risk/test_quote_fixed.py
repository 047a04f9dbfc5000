"""Quotes reach the gate as raw prices at their own precision (``RiskGate.on_quote_fixed``): converted
to ticks in the gate, exactly as the instrument's conversion would; anything off the grid or out of
range changes nothing there and goes the long way (which raises as before)."""

from __future__ import annotations

import pytest
from risk_builders import BTC, T0, make_engine, quote

from engine.core.errors import ValidationError
from engine.core.fixed import Price

TS = T0 + 1_000


def test_on_quote_tick_when_prices_at_other_precisions_then_gate_holds_their_ticks() -> None:
    risk = make_engine()
    ix = risk._instruments[BTC].ix
    assert risk.on_quote_tick(quote("49990.5", "50010.25", TS))  # fewer places than the 0.01 grid
    assert risk.gate.market(ix)[1:4] == (4_999_050, 5_001_025, TS)
    assert risk.on_quote_tick(quote("49991.100", "50011", TS + 1))  # more places, on the grid
    assert risk.gate.market(ix)[1:4] == (4_999_110, 5_001_100, TS + 1)


def test_on_quote_tick_when_a_side_is_empty_then_its_price_is_not_read() -> None:
    risk = make_engine()
    ix = risk._instruments[BTC].ix
    # Size 0 on the ask: the side is empty, whatever (even off-grid) price it carries.
    assert risk.on_quote_tick(quote("49990", "50010.001", TS, ask_size="0"))
    assert risk.gate.market(ix)[1:3] == (4_999_000, 0)


def test_on_quote_tick_when_price_off_the_grid_then_validation_error_and_gate_unchanged() -> None:
    risk = make_engine()
    ix = risk._instruments[BTC].ix
    before = risk.gate.market(ix)
    with pytest.raises(ValidationError):
        risk.on_quote_tick(quote("49990.001", "50010", TS))
    assert risk.gate.market(ix) == before


def test_on_quote_fixed_when_off_grid_or_out_of_range_then_false_and_nothing_changes() -> None:
    risk = make_engine()
    gate = risk.gate
    ix = risk._instruments[BTC].ix
    before = gate.market(ix)
    assert not gate.on_quote_fixed(ix, 49990001, 3, 5001000, 2, TS)  # 49990.001: off the tick
    assert not gate.on_quote_fixed(ix, -5, 2, 5001000, 2, TS)  # negative
    assert not gate.on_quote_fixed(ix, 4999000, 2, (1 << 62), 2, TS)  # beyond 2**48 ticks
    assert not gate.on_quote_fixed(ix, 4999000, 2, 5001000, 19, TS)  # precision out of range
    assert gate.market(ix) == before
    assert gate.on_quote_fixed(ix, 4999000, 2, 0, 0, TS)
    assert gate.market(ix)[1:4] == (4_999_000, 0, TS)
    price = Price("49990.50")
    assert gate.on_quote_fixed(ix, price.raw, price.precision, 500105, 1, TS + 1)
    assert gate.market(ix)[1:4] == (4_999_050, 5_001_050, TS + 1)
