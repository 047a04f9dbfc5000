"""Portfolio PnL invariant: realised + unrealised - fees == change in equity, exactly, for any fills
(flips included) and marks, on spot and a contract-multiplier perpetual."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.enums import InstrumentKind, LiquiditySide, Side
from engine.core.events import OrderFilled
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId, VenueOrderId
from engine.core.instruments import Instrument
from engine.oms.portfolio import Portfolio

ACCOUNT = AccountId("main")
SPOT = Instrument(
    id=InstrumentId("SIM:BTC-USD"),
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USD",
    settlement="USD",
    price_increment=Price("0.10"),
    size_increment=Quantity("0.001"),
    min_quantity=Quantity("0.001"),
)
PERP = Instrument(
    id=InstrumentId("SIM:ETH-PERP"),
    kind=InstrumentKind.PERPETUAL,
    base="ETH",
    quote="USD",
    settlement="USD",
    price_increment=Price("0.01"),
    size_increment=Quantity("1"),
    min_quantity=Quantity("1"),
    multiplier=Decimal("0.001"),
)
INSTRUMENTS = {0: SPOT, 1: PERP}

fills = st.tuples(
    st.just("fill"),
    st.sampled_from([0, 1]),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 5000),  # lots
    st.integers(1, 200_000),  # ticks
    st.integers(0, 10**6),  # fee in 1e-8 USD
)
marks = st.tuples(st.just("mark"), st.sampled_from([0, 1]), st.integers(1, 200_000))


def _fill(n: int, instrument: Instrument, side: Side, lots: int, ticks: int, fee: int) -> OrderFilled:
    return OrderFilled(
        ts_event=n,
        ts_init=n,
        account_id=ACCOUNT,
        client_order_id=ClientOrderId(f"c{n}"),
        instrument_id=instrument.id,
        venue_order_id=VenueOrderId(f"v{n}"),
        trade_id=TradeId(f"t{n}"),
        side=side,
        last_price=instrument.ticks_to_price(ticks),
        last_quantity=instrument.lots_to_quantity(lots),
        liquidity_side=LiquiditySide.TAKER,
        commission=Money.from_raw(fee, 8, "USD"),
    )


@settings(max_examples=250, deadline=None)
@given(st.lists(st.one_of(fills, marks), min_size=1, max_size=40))
def test_portfolio_pnl_when_random_fills_and_marks_then_realised_plus_unrealised_minus_fees_is_equity_change(
    steps,
):
    start = Money("1000000", "USD")
    equities: list[Money] = []
    portfolio = Portfolio(
        INSTRUMENTS.values(),
        balances={ACCOUNT: {"USD": start}},
        on_equity=lambda account, equity, ts: equities.append(equity),
    )
    signed_lots = {0: 0, 1: 0}
    for n, step in enumerate(steps):
        if step[0] == "fill":
            _, which, side, lots, ticks, fee = step
            portfolio.on_fill(_fill(n, INSTRUMENTS[which], side, lots, ticks, fee))
            signed_lots[which] += side.sign * lots
        else:
            _, which, ticks = step
            portfolio.mark(INSTRUMENTS[which].id, INSTRUMENTS[which].ticks_to_price(ticks), n)
        pnl = portfolio.pnl(ACCOUNT, "USD")
        assert pnl.realised + pnl.unrealised - pnl.fees == pnl.equity - start
        if equities:
            assert equities[-1] == pnl.equity
    for which, instrument in INSTRUMENTS.items():
        view = portfolio.position(ACCOUNT, instrument.id)
        assert view.quantity == instrument.lots_to_quantity(abs(signed_lots[which])).as_decimal() * (
            1 if signed_lots[which] >= 0 else -1
        )
        if signed_lots[which] == 0:
            assert view.cost.is_zero() and view.unrealised_pnl.is_zero()
    # the spot base balance moved by exactly the net traded quantity
    btc = portfolio.balances(ACCOUNT).get("BTC", Money("0", "BTC"))
    assert btc == Money.from_raw(signed_lots[0], 3, "BTC")
    # snapshot/restore keeps everything exactly
    restored = Portfolio(INSTRUMENTS.values())
    restored.restore(portfolio.snapshot())
    assert restored.pnl(ACCOUNT, "USD") == portfolio.pnl(ACCOUNT, "USD")
    assert restored.balances(ACCOUNT) == portfolio.balances(ACCOUNT)
    assert restored.equity_curve(ACCOUNT, "USD") == portfolio.equity_curve(ACCOUNT, "USD")
