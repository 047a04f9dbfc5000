"""The risk and OMS records the composition root registers with the journal codec round-trip exactly."""

from __future__ import annotations

from engine.app.trading import register_codec
from engine.core import AccountId, ClientOrderId, InstrumentId, Money, OrderType, Quantity, Side, StrategyId
from engine.core.commands import CancelAllOrders, SubmitOrder
from engine.core.enums import TradingState
from engine.core.events import TradingStateChanged
from engine.core.fixed import Price
from engine.oms.events import ContingencyKind, OrderListCreated
from engine.risk.events import RiskBreached, RiskLimitsChanged
from engine.risk.limits import AccountLimits, InstrumentLimits, StrategyLimits
from engine.store.codec import CODEC


def _account_limits(loss: str) -> AccountLimits:
    return AccountLimits(
        max_gross_exposure=Money("5000000", "USD"),
        max_net_exposure=Money("2500000.5", "USD"),
        max_open_orders=500,
        max_orders_per_second=200,
        order_burst=400,
        max_daily_loss=Money(loss, "USD"),
        max_drawdown=Money("500000", "USD"),
        breach_state=TradingState.REDUCING,
    )


def test_app_records_when_encoded_then_decode_to_equal_objects() -> None:
    register_codec()
    register_codec()  # idempotent
    usd = Money("0", "USD")
    change = TradingStateChanged(
        ts_event=5,
        ts_init=5,
        account_id=AccountId("main"),
        previous=TradingState.ACTIVE,
        current=TradingState.HALTED,
        reason="RISK_DAILY_LOSS",
    )
    entry = SubmitOrder(
        ts_init=1,
        account_id=AccountId("main"),
        strategy_id=StrategyId("s"),
        client_order_id=ClientOrderId("tp-1"),
        instrument_id=InstrumentId("SIM:BTC-USD"),
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=Quantity("0.010"),
        price=Price("65000.10"),
    )
    records = [
        RiskLimitsChanged(
            ts_event=1,
            ts_init=1,
            subject="ACCOUNT",
            subject_id="main",
            previous=_account_limits("250000"),
            current=_account_limits("1000.25"),
        ),
        RiskLimitsChanged(
            ts_event=2,
            ts_init=2,
            subject="INSTRUMENT",
            subject_id="SIM:BTC-USD",
            previous=None,
            current=InstrumentLimits(
                max_order_quantity=Quantity("25"),
                max_order_notional=Money("2500000", "USD"),
                max_position=Quantity("100"),
                price_band_bps=500,
                max_data_age_ms=10_000,
            ),
        ),
        RiskLimitsChanged(
            ts_event=3,
            ts_init=3,
            subject="STRATEGY",
            subject_id="manual",
            previous=None,
            current=StrategyLimits(max_orders_per_second=100, order_burst=200),
        ),
        RiskBreached(
            ts_event=4,
            ts_init=4,
            account_id=AccountId("main"),
            reason="RISK_DAILY_LOSS",
            loss=Money("300000.01", "USD"),
            limit=Money("250000", "USD"),
            equity=Money("699999.99", "USD"),
            day_start_equity=Money("1000000", "USD"),
            peak_equity=Money("1000000", "USD"),
            realised_today=usd,
            previous=TradingState.ACTIVE,
            current=TradingState.HALTED,
            state_change=change,
            cancel=CancelAllOrders(ts_init=4, account_id=AccountId("main")),
        ),
        OrderListCreated(
            ts_event=6,
            ts_init=6,
            account_id=AccountId("main"),
            client_order_id=ClientOrderId("entry-1"),
            instrument_id=InstrumentId("SIM:BTC-USD"),
            sequence=7,
            kind=ContingencyKind.BRACKET,
            members=(ClientOrderId("entry-1"), ClientOrderId("tp-1"), ClientOrderId("sl-1")),
            deferred=(entry,),
        ),
    ]
    for record in records:
        assert CODEC.decode(CODEC.encode(record)) == record
