"""Exact fixed-point arithmetic: hypothesis round trips against ``decimal.Decimal``, and no float."""

from __future__ import annotations

import ast
import decimal
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.fixed import MAX_PRECISION, Money, Price, Quantity
from engine.ext.core.fixedpoint import format_fixed, parse_fixed

REPO = Path(__file__).resolve().parents[2]
INT64_MAX = 2**63 - 1

precisions = st.integers(min_value=0, max_value=MAX_PRECISION)
raws = st.integers(min_value=-INT64_MAX, max_value=INT64_MAX)
ctx = decimal.Context(prec=200)


@given(raw=raws, precision=precisions)
def test_format_then_parse_when_any_int64_then_round_trips(raw: int, precision: int) -> None:
    text = format_fixed(raw, precision)
    assert parse_fixed(text, precision) == raw
    assert ctx.create_decimal(text) == ctx.create_decimal(raw).scaleb(-precision, ctx)


@given(raw=raws, precision=precisions)
def test_price_when_str_round_trip_then_equal_and_same_precision(raw: int, precision: int) -> None:
    price = Price.from_raw(raw, precision)
    again = Price.parse(str(price))
    assert again == price
    assert again.raw == raw
    assert again.precision == precision


@given(raw=st.integers(min_value=0, max_value=INT64_MAX), precision=precisions)
def test_quantity_when_decimal_round_trip_then_exact(raw: int, precision: int) -> None:
    quantity = Quantity.from_raw(raw, precision)
    assert Quantity(quantity.as_decimal(), precision) == quantity
    assert quantity.as_decimal() == ctx.create_decimal(raw).scaleb(-precision, ctx)


@given(
    # Aligned to the larger precision these stay within int64 (|raw| <= 10**9 * 10**8).
    a=st.integers(min_value=-(10**9), max_value=10**9),
    pa=st.integers(min_value=0, max_value=8),
    b=st.integers(min_value=-(10**9), max_value=10**9),
    pb=st.integers(min_value=0, max_value=8),
    k=st.integers(min_value=-1000, max_value=1000),
)
def test_price_arithmetic_when_compared_to_decimal_then_identical(
    a: int, pa: int, b: int, pb: int, k: int
) -> None:
    x, y = Price.from_raw(a, pa), Price.from_raw(b, pb)
    dx, dy = x.as_decimal(), y.as_decimal()
    assert (x + y).as_decimal() == ctx.add(dx, dy)
    assert (x - y).as_decimal() == ctx.subtract(dx, dy)
    assert (x * k).as_decimal() == ctx.multiply(dx, Decimal(k))
    assert (-x).as_decimal() == -dx
    assert (x + y).precision == max(pa, pb)
    assert (x < y) == (dx < dy)
    assert (x == y) == (dx == dy)
    assert (x <= y) == (dx <= dy)
    assert (hash(x) == hash(y)) or x != y


@given(
    # |whole| * 10**12 stays inside int64, so only excess decimal places can be the problem.
    whole=st.integers(min_value=-(10**6), max_value=10**6),
    digits=st.text(alphabet="0123456789", min_size=1, max_size=30),
    precision=st.integers(min_value=0, max_value=12),
)
def test_parse_when_more_digits_than_precision_then_rejected_unless_trailing_zeros(
    whole: int, digits: str, precision: int
) -> None:
    text = f"{whole}.{digits}"
    significant = len(digits.rstrip("0"))
    if significant <= precision:
        assert Decimal(str(Price.parse(text, precision))) == Decimal(text)
    else:
        with pytest.raises(ValueError, match="more decimal places"):
            Price.parse(text, precision)


@given(
    a=st.integers(min_value=0, max_value=10**15),
    b=st.integers(min_value=0, max_value=10**15),
    p=st.integers(min_value=0, max_value=8),
)
def test_quantity_subtraction_when_result_negative_then_rejected(a: int, b: int, p: int) -> None:
    x, y = Quantity.from_raw(a, p), Quantity.from_raw(b, p)
    if a >= b:
        assert (x - y).raw == a - b
    else:
        with pytest.raises(ValueError, match="must not be negative"):
            x - y


@given(
    a=st.integers(min_value=-(10**30), max_value=10**30),
    b=st.integers(min_value=-(10**30), max_value=10**30),
    p=st.integers(min_value=0, max_value=18),
)
def test_money_when_beyond_int64_then_still_exact(a: int, b: int, p: int) -> None:
    x, y = Money.from_raw(a, p, "USDT"), Money.from_raw(b, p, "USDT")
    assert (x + y).raw == a + b
    assert Money.parse(x.amount_str(), "USDT") == x


@pytest.mark.parametrize("value", [1.5, 0.1, float("nan"), float("inf"), True])
def test_price_and_quantity_when_given_float_or_bool_then_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        Price(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Quantity(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(value, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "precision", "problem"),
    [
        ("922337204.0000000001", 0, "more decimal places"),
        ("1.00000000000000000000000000001", 2, "more decimal places"),
        ("92233720368547758.08", 2, "64-bit"),
        ("9223373.0", 12, "64-bit"),
        ("0.5e-20", 18, "more decimal places"),
    ],
)
def test_parse_when_too_many_digits_then_reason_distinguishes_precision_from_magnitude(
    text: str, precision: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Price.parse(text, precision)


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "1e", "--1", "1,5", "0x10", "nan", "inf", " "])
def test_parse_when_not_a_decimal_then_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        Price.parse(text, 4)


def test_price_when_beyond_int64_then_overflow_error() -> None:
    with pytest.raises(OverflowError):
        Price.from_raw(2**63, 0)
    with pytest.raises(ValueError, match="64-bit"):
        Price.parse("9223372036854775808")
    with pytest.raises(OverflowError):
        Price.from_raw(INT64_MAX, 0) + Price.from_raw(1, 0)
    with pytest.raises(OverflowError):  # aligning 10**11 at precision 0 to precision 8 leaves int64
        Price.from_raw(10**11, 0) + Price.from_raw(1, 8)


def test_money_when_currencies_differ_then_refused() -> None:
    with pytest.raises(ValueError, match="cannot combine USD with EUR"):
        Money("1", "USD") + Money("1", "EUR")
    assert Money("1.5", "usd") == Money("1.50", "USD")


def test_fixed_point_sources_when_inspected_then_float_appears_only_in_the_rejection() -> None:
    """No float anywhere in Price/Quantity/Money: the name appears only in the isinstance refusal."""
    tree = ast.parse((REPO / "engine/core/fixed.py").read_text())
    uses = [
        node
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id == "float")
        or (isinstance(node, ast.Constant) and isinstance(node.value, float))
    ]
    assert len(uses) == 1, "float may only appear in _reject_float"
    reject = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_reject_float")
    assert any(n is uses[0] for n in ast.walk(reject))
    kernel = (REPO / "ext/core/fixedpoint.pyx").read_text()
    assert re.search(r"\b(double|float)\b", kernel) is None
