"""Portfolio: netting, average entry, realised/unrealised PnL, flips, balances, marks, equity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.core.enums import LiquiditySide, Side
from engine.core.errors import ValidationError
from engine.core.events import OrderFilled, QuoteTick, TradeTick
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId, VenueOrderId
from engine.oms.portfolio import MarkSource, Portfolio, mid_price
from engine.venues.sim import default_instruments

A = AccountId("main")
BTC = InstrumentId("SIM:BTC-USD")
_n = iter(range(1, 10**9))


def fill(side: Side, qty: str, price: str, fee: str = "0", instrument: InstrumentId = BTC) -> OrderFilled:
    n = next(_n)
    return OrderFilled(
        ts_event=n,
        ts_init=n,
        account_id=A,
        client_order_id=ClientOrderId(f"c{n}"),
        instrument_id=instrument,
        venue_order_id=VenueOrderId("v"),
        trade_id=TradeId(f"t{n}"),
        side=side,
        last_price=Price(price),
        last_quantity=Quantity(qty),
        liquidity_side=LiquiditySide.TAKER,
        commission=Money(fee, "USD"),
    )


@pytest.fixture
def pf() -> Portfolio:
    return Portfolio(default_instruments(), balances={A: {"USD": Money("100000", "USD")}})


def test_portfolio_adds_then_reduces_when_average_not_decimal_then_realised_rounded_and_remainder_kept(pf):
    pf.on_fill(fill(Side.BUY, "1", "100.0"))
    pf.on_fill(fill(Side.BUY, "2", "101.0"))
    view = pf.position(A, BTC)
    assert view.quantity == Decimal(3)
    assert view.cost == Money("302", "USD")
    pf.on_fill(fill(Side.SELL, "1", "102.0"))
    view = pf.position(A, BTC)
    # 102 - 302/3 = 1.3333...: realised to the notional's last place (2 for 0.1 x 0.00001 -> 6),
    # the rounding stays in the remaining cost so released cost + realised == exit notional
    assert view.realised_pnl == Money("1.333333", "USD")
    assert view.cost == Money("201.333333", "USD")
    assert view.realised_pnl + (Money("302", "USD") - view.cost) == Money("102", "USD")
    pf.on_fill(fill(Side.SELL, "2", "99.0"))
    closed = pf.position(A, BTC)
    assert closed.quantity == 0 and closed.cost.is_zero()
    assert closed.realised_pnl == Money("102", "USD") + Money("198", "USD") - Money("302", "USD")


def test_portfolio_fill_through_zero_when_flipping_then_closes_and_opens_short(pf):
    pf.on_fill(fill(Side.BUY, "1", "100.0", fee="0.05"))
    pf.on_fill(fill(Side.SELL, "3", "110.0", fee="0.15"))
    view = pf.position(A, BTC)
    assert view.quantity == Decimal(-2)
    assert view.realised_pnl == Money("10", "USD")
    assert view.avg_entry_price == Decimal("110")
    assert view.cost == Money("-220", "USD")
    pf.mark(BTC, Price("105.0"), 10)
    assert pf.position(A, BTC).unrealised_pnl == Money("10", "USD")
    pnl = pf.pnl(A, "USD")
    assert pnl.fees == Money("0.20", "USD")
    assert pnl.equity == Money("100000", "USD") + Money("20", "USD") - Money("0.20", "USD")
    balances = pf.balances(A)
    assert balances["USD"] == Money("100000", "USD") - Money("100", "USD") + Money("330", "USD") - Money(
        "0.2", "USD"
    )
    assert balances["BTC"] == Money("-2", "BTC")


def test_portfolio_marks_when_quotes_and_trades_then_source_decides_and_curve_sampled():
    seen: list[tuple[AccountId, Money, int]] = []
    pf = Portfolio(
        default_instruments(),
        balances={A: {"USD": Money("1000", "USD")}},
        mark_source=MarkSource.MID,
        on_equity=lambda account, equity, ts: seen.append((account, equity, ts)),
    )
    pf.on_fill(fill(Side.BUY, "1", "100.0"))
    quote = QuoteTick(
        ts_event=50,
        ts_init=50,
        instrument_id=BTC,
        bid_price=Price("100.0"),
        bid_size=Quantity("1"),
        ask_price=Price("100.1"),
        ask_size=Quantity("1"),
    )
    pf.on_quote(quote)
    pf.on_trade(
        TradeTick(
            ts_event=60,
            ts_init=60,
            instrument_id=BTC,
            price=Price("500.0"),
            size=Quantity("1"),
            aggressor_side=Side.BUY,
            trade_id=TradeId("x"),
        )
    )  # ignored: marks come from the mid
    assert pf.position(A, BTC).mark == Price("100.05")
    assert pf.equity_curve(A, "USD") == [(50, Money("1000.05", "USD"))]
    assert seen[-1] == (A, Money("1000.05", "USD"), 50)
    assert mid_price(Price("1.0"), Price("1.2")) == Price("1.1")


def test_portfolio_equity_hook_when_set_after_fills_then_only_later_fills_and_marks_reach_it():
    seen: list[tuple[AccountId, Money, int]] = []
    pf = Portfolio(default_instruments(), balances={A: {"USD": Money("1000", "USD")}})
    pf.on_fill(fill(Side.BUY, "1", "100.0"))  # as a restart replays the journal: no hook yet
    assert seen == []
    pf.set_equity_hook(lambda account, equity, ts: seen.append((account, equity, ts)))
    second = fill(Side.BUY, "1", "110.0")
    pf.on_fill(second)
    pf.mark(BTC, Price("120.0"), 70)
    assert [ts for _, _, ts in seen] == [second.ts_event, 70]
    assert seen[-1] == (A, Money("1000", "USD") - Money("210", "USD") + Money("240", "USD"), 70)
    pf.set_equity_hook(None)
    pf.mark(BTC, Price("130.0"), 80)
    assert len(seen) == 2


def test_portfolio_fill_when_instrument_unknown_then_validation_error_and_unchanged(pf):
    before = pf.snapshot()
    with pytest.raises(ValidationError) as err:
        pf.on_fill(fill(Side.BUY, "1", "100.0", instrument=InstrumentId("SIM:DOGE-USD")))
    assert err.value.reason == "UNKNOWN_INSTRUMENT"
    with pytest.raises(ValidationError):
        pf.on_fill(fill(Side.BUY, "0.000001", "100.0"))
    assert pf.snapshot() == before


async def test_portfolio_when_fed_by_the_order_manager_then_matches_the_venue_balances(h, kit):
    pf = Portfolio(default_instruments(), balances={kit.MAIN: h.venue.balances(kit.MAIN)})
    h.oms.subscribe(lambda e: pf.on_fill(e) if isinstance(e, OrderFilled) else None)
    kit.book(h, size="2")
    await h.oms.submit(kit.order("b", Side.BUY, "0.5"))
    await h.oms.submit(kit.order("s", Side.SELL, "1.2"))
    await h.settle()
    venue = h.venue.balances(kit.MAIN)
    mine = pf.balances(kit.MAIN)
    assert mine["USD"] == venue["USD"]
    assert mine["BTC"] == venue.get("BTC", Money("0", "BTC"))
    assert pf.position(kit.MAIN, kit.BTC).quantity == Decimal("-0.7")


def test_equity_and_realised_when_mixed_precisions_then_equal_the_money_sums(pf):
    """``equity`` and ``realised`` sum on integers (every fill and mark reaches the loss monitor
    through them): the results equal adding the ``Money`` amounts, precision included."""
    eth = InstrumentId("SIM:ETH-USD")
    pf.on_fill(fill(Side.BUY, "1", "100.0", fee="0.05"))
    pf.on_fill(fill(Side.BUY, "2.5", "2000.25", fee="0.1234", instrument=eth))
    pf.on_fill(fill(Side.SELL, "0.5", "101.35"))
    pf.mark(BTC, Price("99.95"), 10)
    pf.mark(eth, Price("1999.5"), 11)
    balance = pf.balances(A)["USD"]
    by_money = balance
    for instrument in (BTC, eth):
        view = pf.position(A, instrument)
        by_money = by_money + view.cost + view.unrealised_pnl  # spot: market value = cost + unrealised
    equity = pf.equity(A, "USD")
    assert equity == by_money and equity.precision == by_money.precision
    realised = pf.realised(A, "USD")
    assert realised == pf.pnl(A, "USD").realised == Money("0.675", "USD")
    assert realised.precision == pf.pnl(A, "USD").realised.precision
    assert pf.equity(A, "EUR") == Money("0", "EUR") and pf.realised(AccountId("other"), "USD").is_zero()
