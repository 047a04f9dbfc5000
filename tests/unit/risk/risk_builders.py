"""Builders for the risk tests: BTC-USD and ETH-USD spot instruments, one account, one strategy."""

from __future__ import annotations

from decimal import Decimal

from engine.core import (
    AccountId,
    Instrument,
    InstrumentId,
    InstrumentKind,
    Money,
    Price,
    Quantity,
    StrategyId,
)
from engine.core.commands import SubmitOrder
from engine.core.enums import OrderType, Side, TradingState
from engine.core.events import QuoteTick, TradeTick
from engine.core.ids import ClientOrderId, TradeId
from engine.risk import AccountLimits, InstrumentLimits, PriceReference, RiskEngine, StrategyLimits

BTC = InstrumentId("SIM:BTC-USD")
ETH = InstrumentId("SIM:ETH-USD")
ACC = AccountId("acc-1")
STRAT = StrategyId("strat-1")
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MS = 1_000_000


def usd(text: str) -> Money:
    return Money(text, "USD")


def instrument(instrument_id: InstrumentId = BTC, **overrides: object) -> Instrument:
    fields: dict[str, object] = dict(
        id=instrument_id,
        kind=InstrumentKind.SPOT,
        base=instrument_id.symbol.split("-")[0],
        quote="USD",
        settlement="USD",
        price_increment=Price("0.01"),
        size_increment=Quantity("0.001"),
        min_quantity=Quantity("0.001"),
        min_notional=usd("10"),
        multiplier=Decimal(1),
    )
    fields.update(overrides)
    return Instrument(**fields)  # type: ignore[arg-type]


def instrument_limits(**overrides: object) -> InstrumentLimits:
    fields: dict[str, object] = dict(
        max_order_quantity=Quantity("5"),
        max_order_notional=usd("250000"),
        max_position=Quantity("10"),
        price_band_bps=500,
        max_data_age_ms=5_000,
        reference=PriceReference.MID,
    )
    fields.update(overrides)
    return InstrumentLimits(**fields)  # type: ignore[arg-type]


def account_limits(**overrides: object) -> AccountLimits:
    fields: dict[str, object] = dict(
        max_gross_exposure=usd("1000000"),
        max_net_exposure=usd("800000"),
        max_open_orders=10,
        max_orders_per_second=100,
        order_burst=20,
        max_daily_loss=usd("5000"),
        max_drawdown=usd("10000"),
        breach_state=TradingState.HALTED,
    )
    fields.update(overrides)
    return AccountLimits(**fields)  # type: ignore[arg-type]


def strategy_limits(**overrides: object) -> StrategyLimits:
    fields: dict[str, object] = dict(max_orders_per_second=100, order_burst=20)
    fields.update(overrides)
    return StrategyLimits(**fields)  # type: ignore[arg-type]


_counter = iter(range(1, 1 << 62))


def submit(
    side: Side = Side.BUY,
    quantity: str = "1",
    price: str | None = "50000",
    *,
    order_type: OrderType = OrderType.LIMIT,
    trigger: str | None = None,
    instrument_id: InstrumentId = BTC,
    account_id: AccountId = ACC,
    strategy_id: StrategyId = STRAT,
    coid: str | None = None,
    reduce_only: bool = False,
) -> SubmitOrder:
    return SubmitOrder(
        ts_init=T0,
        account_id=account_id,
        strategy_id=strategy_id,
        client_order_id=ClientOrderId(coid or f"o-{next(_counter)}"),
        instrument_id=instrument_id,
        side=side,
        order_type=order_type,
        quantity=Quantity(quantity),
        price=None if price is None else Price(price),
        trigger_price=None if trigger is None else Price(trigger),
        reduce_only=reduce_only,
    )


def quote(
    bid: str, ask: str, ts: int, instrument_id: InstrumentId = BTC, *, ask_size: str = "1"
) -> QuoteTick:
    """A quote of size 1 a side (``ask_size="0"``: a book with no offer)."""
    return QuoteTick(
        ts_event=ts,
        ts_init=ts,
        instrument_id=instrument_id,
        bid_price=Price(bid),
        bid_size=Quantity("1"),
        ask_price=Price(ask),
        ask_size=Quantity(ask_size),
    )


def trade(price: str, ts: int, instrument_id: InstrumentId = BTC) -> TradeTick:
    return TradeTick(
        ts_event=ts,
        ts_init=ts,
        instrument_id=instrument_id,
        price=Price(price),
        size=Quantity("0.1"),
        aggressor_side=Side.BUY,
        trade_id=TradeId(f"t-{ts}"),
    )


def make_engine(
    *,
    inst_limits: InstrumentLimits | None = None,
    acc_limits: AccountLimits | None = None,
    strat_limits: StrategyLimits | None = None,
    with_market: bool = True,
) -> RiskEngine:
    risk = RiskEngine(
        quote_currency="USD", notional_precision=8, max_accounts=4, max_instruments=8, max_strategies=4
    )
    risk.register_instrument(instrument(BTC), inst_limits or instrument_limits())
    risk.register_instrument(instrument(ETH), instrument_limits(max_position=Quantity("100")))
    risk.register_account(ACC, acc_limits or account_limits())
    risk.register_strategy(STRAT, strat_limits or strategy_limits())
    if with_market:
        risk.on_quote_tick(quote("49990", "50010", T0))
        risk.on_trade_tick(trade("50000", T0))
        risk.on_quote_tick(quote("2999", "3001", T0, ETH))
    return risk
