"""OrderBook: the exact Price/Quantity view of an L2Book for one instrument."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.core.enums import InstrumentKind, Side
from engine.core.errors import ValidationError
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.ext.book.l2book import STATUS_CROSSED, STATUS_OK
from engine.marketdata.book import OrderBook


@pytest.fixture
def instrument() -> Instrument:
    return Instrument(
        id=InstrumentId("SIM:BTC-USD"),
        kind=InstrumentKind.PERPETUAL,
        base="BTC",
        quote="USD",
        settlement="USD",
        price_increment=Price("0.5"),
        size_increment=Quantity("0.001"),
        min_quantity=Quantity("0.001"),
    )


@pytest.fixture
def book(instrument: Instrument) -> OrderBook:
    b = OrderBook(instrument, window_ticks=64)
    b.apply_snapshot(
        bids=[("100.5", "1.000"), (Price("100.0"), Quantity("2"))],
        asks=[("101", "0.5"), ("102.5", "3.25")],
        sequence=7,
    )
    return b


def test_order_book_when_snapshot_applied_then_exact_top_levels(book: OrderBook) -> None:
    assert book.best_bid() == (Price("100.5"), Quantity("1"))
    assert book.best_ask() == (Price("101"), Quantity("0.5"))
    assert str(book.best_bid()[0]) == "100.5" and str(book.best_ask()[1]) == "0.500"
    assert book.spread() == Price("0.5")
    assert book.mid() == Price("100.75")
    snap = book.snapshot(depth=5)
    assert snap.bids == [(Price("100.5"), Quantity("1")), (Price("100"), Quantity("2"))]
    assert snap.asks == [(Price("101"), Quantity("0.5")), (Price("102.5"), Quantity("3.25"))]
    assert snap.sequence == 7 and not snap.is_crossed and not snap.needs_snapshot
    assert snap.as_strings()["asks"] == [["101.0", "0.500"], ["102.5", "3.250"]]


def test_order_book_when_mid_on_tick_then_tick_precision(book: OrderBook) -> None:
    book.apply_delta(Side.BUY, "100.5", "0")
    assert book.mid() == Price("100.5") and book.mid().precision == 1


def test_order_book_when_delta_applied_then_level_changes_and_status(book: OrderBook) -> None:
    assert book.apply_delta(Side.BUY, "100.0", "0.004") == STATUS_OK
    assert book.level_quantity(Side.BUY, Price("100")) == Quantity("0.004")
    assert book.apply_delta(2, Price("100.5"), Quantity("1")) == STATUS_CROSSED
    assert book.is_crossed() and book.snapshot(1).is_crossed
    book.l2.invalidate()
    assert book.snapshot(1).needs_snapshot


def test_order_book_when_price_off_tick_then_validation_error(book: OrderBook) -> None:
    with pytest.raises(ValidationError) as err:
        book.apply_delta(Side.BUY, "100.25", "1")
    assert err.value.field == "price" and err.value.reason == "PRICE_OFF_TICK"
    with pytest.raises(ValidationError) as err:
        book.apply_delta(Side.BUY, "100", "0.0001")
    assert err.value.field == "quantity"
    with pytest.raises(ValidationError):
        book.apply_delta(3, "100", "1")
    with pytest.raises(ValidationError):
        book.apply_delta(True, "100", "1")


def test_order_book_when_cost_to_fill_then_exact_money_and_average(book: OrderBook) -> None:
    estimate = book.cost_to_fill(Side.BUY, Quantity("1.5"))
    assert estimate.filled == Quantity("1.5") and estimate.complete
    assert estimate.notional == Money("153", "USD")  # 0.5 * 101 + 1.0 * 102.5
    assert estimate.average_price == Decimal("102")
    short = book.cost_to_fill(Side.SELL, "5")
    assert short.filled == Quantity("3") and not short.complete
    assert short.notional == Money("300.5", "USD")


def test_order_book_when_side_empty_then_none(instrument: Instrument) -> None:
    b = OrderBook(instrument)
    assert b.best_bid() is None and b.best_ask() is None
    assert b.spread() is None and b.mid() is None
    assert b.snapshot(10).bids == [] and b.cost_to_fill(Side.BUY, "1").filled == Quantity("0")


def test_order_book_when_depth_exceeds_buffer_then_all_levels(instrument: Instrument) -> None:
    b = OrderBook(instrument, window_ticks=64)
    for k in range(200):
        b.apply_delta(Side.SELL, Price(1000 + k), Quantity(1))
    levels = b.levels(Side.SELL, 150)
    assert len(levels) == 150 and levels[0][0] == Price(1000) and levels[-1][0] == Price(1149)
