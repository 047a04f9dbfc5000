"""Property tests: ``parse_levels`` (Cython) against an exact ``Decimal`` reference."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine.ext.book.levels import parse_levels


def reference(text: str, precision: int, step: int, *, non_negative: bool) -> int | None:
    """ticks/lots of ``text``, or None when it is not exactly on the grid (or negative when forbidden)."""
    scaled = Decimal(text).scaleb(precision)
    if scaled != scaled.to_integral_value():
        return None
    units, rem = divmod(int(scaled), step)
    if rem or (non_negative and units < 0) or not -(2**63) < int(scaled) < 2**63:
        return None
    return units


decimal_text = st.builds(
    lambda whole, frac, width: f"{whole}.{str(frac).zfill(width)[:width]}" if width else str(whole),
    st.integers(-(10**7), 10**7),
    st.integers(0, 10**9),
    st.integers(0, 9),
)
level = st.tuples(decimal_text, decimal_text.map(lambda t: t.lstrip("-")))


@settings(max_examples=400, deadline=None)
@given(
    bids=st.lists(level, max_size=8),
    asks=st.lists(level, max_size=8),
    price_precision=st.integers(0, 8),
    price_step=st.sampled_from([1, 2, 5, 10, 25]),
    size_precision=st.integers(0, 8),
    size_step=st.sampled_from([1, 10, 1000]),
)
def test_parse_levels_when_random_decimals_then_equals_decimal_reference(
    bids: list, asks: list, price_precision: int, price_step: int, size_precision: int, size_step: int
) -> None:
    expected = []
    for side, levels in ((1, bids), (2, asks)):
        for price, size in levels:
            ticks = reference(price, price_precision, price_step, non_negative=False)
            lots = reference(size, size_precision, size_step, non_negative=True)
            expected.append(None if ticks is None or lots is None else (side, ticks, lots))
    args = (
        [list(b) for b in bids],
        [list(a) for a in asks],
        price_precision,
        price_step,
        size_precision,
        size_step,
    )
    event(f"rejected: {None in expected}")
    if None in expected:
        with pytest.raises(ValueError, match=r"(bids|asks)\[\d+\]"):
            parse_levels(*args)
    else:
        sides, ticks, lots = parse_levels(*args)
        assert list(zip(sides.tolist(), ticks.tolist(), lots.tolist(), strict=True)) == expected


def test_parse_levels_when_not_pairs_of_strings_then_value_error_names_level() -> None:
    with pytest.raises(ValueError, match=r"asks\[1\]"):
        parse_levels([["1", "1"]], [["1", "1"], ["2"]], 0, 1, 0, 1)
    with pytest.raises(ValueError, match=r"bids\[0\]"):
        parse_levels([[1, "1"]], [], 0, 1, 0, 1)
    with pytest.raises(ValueError, match="positive"):
        parse_levels([], [], 0, 0, 0, 1)
