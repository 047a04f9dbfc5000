"""Post-trade monitor (daily loss, drawdown, UTC day), limits events, order bookkeeping, snapshot."""

from __future__ import annotations

import json

import pytest
from risk_builders import (
    ACC,
    BTC,
    ETH,
    STRAT,
    T0,
    account_limits,
    instrument,
    instrument_limits,
    make_engine,
    submit,
    usd,
)

from engine.core import InstrumentId, Money, Price, Quantity
from engine.core.commands import CancelAllOrders
from engine.core.enums import LiquiditySide, OrderType, Side, TradingState
from engine.core.errors import InvariantViolation, NotFoundError, ValidationError
from engine.core.events import OrderFilled, OrderUpdated
from engine.core.ids import ClientOrderId, TradeId, VenueOrderId
from engine.risk import RiskBreached, RiskEngine, RiskLimitsChanged, StrategyLimits

DAY = 86_400_000_000_000
TS = T0 + 1


def fill_event(coid: ClientOrderId, side: Side, quantity: str, price: str) -> OrderFilled:
    return OrderFilled(
        ts_event=TS,
        ts_init=TS,
        account_id=ACC,
        client_order_id=coid,
        instrument_id=BTC,
        venue_order_id=VenueOrderId("v1"),
        trade_id=TradeId(f"t-{coid}-{quantity}"),
        side=side,
        last_price=Price(price),
        last_quantity=Quantity(quantity),
        liquidity_side=LiquiditySide.MAKER,
        commission=Money("0", "USD"),
    )


# -- post-trade monitor ----------------------------------------------------------------------------
def test_on_equity_when_daily_loss_reaches_limit_then_halts_and_asks_to_cancel(risk: RiskEngine) -> None:
    assert risk.on_equity(ACC, usd("100000"), usd("0"), T0 + 1) is None
    assert risk.on_equity(ACC, usd("95000.01"), usd("-1000"), T0 + 2) is None  # loss 4999.99 < 5000
    breach = risk.on_equity(ACC, usd("95000"), usd("-1000"), T0 + 3)
    assert isinstance(breach, RiskBreached)
    assert breach.reason == "RISK_DAILY_LOSS"
    assert (breach.loss, breach.limit) == (usd("5000"), usd("5000"))
    assert (breach.previous, breach.current) == (TradingState.ACTIVE, TradingState.HALTED)
    assert breach.cancel == CancelAllOrders(ts_init=T0 + 3, account_id=ACC)
    assert breach.state_change.current is TradingState.HALTED and breach.state_change.account_id == ACC
    assert risk.trading_state(ACC) is TradingState.HALTED
    assert risk.check_submit(submit(), T0 + 4).reason == "TRADING_HALTED"
    assert risk.on_equity(ACC, usd("94000"), usd("-1000"), T0 + 5) is None  # already halted: once


def test_on_equity_when_breach_state_reducing_then_reduces_instead_of_halting() -> None:
    risk = make_engine(acc_limits=account_limits(breach_state=TradingState.REDUCING))
    risk.on_equity(ACC, usd("100000"), usd("0"), T0)
    breach = risk.on_equity(ACC, usd("90000"), usd("0"), T0 + 1)
    assert breach is not None and breach.current is TradingState.REDUCING
    assert risk.trading_state(ACC) is TradingState.REDUCING
    assert risk.check_submit(submit(), T0 + 2).reason == "RISK_REDUCING_ONLY"


def test_on_equity_when_drawdown_from_peak_reaches_limit_then_breach() -> None:
    risk = make_engine(acc_limits=account_limits(max_daily_loss=usd("50000"), max_drawdown=usd("10000")))
    risk.on_equity(ACC, usd("100000"), usd("0"), T0)
    risk.on_equity(ACC, usd("120000"), usd("20000"), T0 + 1)  # new peak
    assert risk.on_equity(ACC, usd("110000.01"), usd("20000"), T0 + 2) is None
    breach = risk.on_equity(ACC, usd("110000"), usd("20000"), T0 + 3)
    assert breach is not None and breach.reason == "RISK_MAX_DRAWDOWN"
    assert breach.peak_equity == usd("120000") and breach.loss == usd("10000")


def test_on_equity_when_utc_day_rolls_over_then_day_start_resets(risk: RiskEngine) -> None:
    risk.on_equity(ACC, usd("100000"), usd("0"), T0 + DAY - 1)
    assert risk.on_equity(ACC, usd("96000"), usd("-4000"), T0 + DAY - 1) is None  # loss 4000 today
    assert risk.on_equity(ACC, usd("96000"), usd("0"), T0 + DAY) is None  # new day starts at 96000
    assert risk.equity_marks(ACC) == (usd("96000"), usd("100000"))
    assert risk.on_equity(ACC, usd("92000"), usd("-4000"), T0 + DAY + 1) is None  # 4000 today, 8000 from peak
    breach = risk.on_equity(ACC, usd("91000"), usd("-5000"), T0 + DAY + 2)
    assert (
        breach is not None and breach.reason == "RISK_DAILY_LOSS" and breach.day_start_equity == usd("96000")
    )


def test_on_equity_when_currency_differs_then_validation_error(risk: RiskEngine) -> None:
    with pytest.raises(ValidationError):
        risk.on_equity(ACC, Money("1", "EUR"), usd("0"), T0)


# -- limits ----------------------------------------------------------------------------------------
def test_set_limits_when_replaced_then_event_carries_previous_and_current(risk: RiskEngine) -> None:
    old = risk.limits().strategies[STRAT]
    new = StrategyLimits(max_orders_per_second=1, order_burst=1)
    event = risk.set_limits(STRAT, new, T0 + 7)
    assert isinstance(event, RiskLimitsChanged)
    assert (event.subject, event.subject_id, event.previous, event.current) == ("STRATEGY", STRAT, old, new)
    assert risk.limits().strategies[STRAT] == new
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        event.current = old  # type: ignore[misc]


def test_set_limits_when_instrument_limits_changed_at_runtime_then_checks_use_them(risk: RiskEngine) -> None:
    assert risk.check_submit(submit(quantity="2"), TS).approved
    risk.set_limits(BTC, instrument_limits(max_order_quantity=Quantity("1")), TS)
    assert risk.check_submit(submit(quantity="2"), TS).reason == "RISK_MAX_ORDER_QUANTITY"


def test_limits_when_invalid_then_validation_error() -> None:
    with pytest.raises(ValidationError):
        account_limits(max_open_orders=0)
    with pytest.raises(ValidationError):
        account_limits(breach_state=TradingState.ACTIVE)
    with pytest.raises(ValidationError):
        instrument_limits(max_position=Quantity("0"))
    risk = make_engine()
    with pytest.raises(ValidationError):
        risk.set_limits(ACC, account_limits(max_gross_exposure=Money("1", "EUR")), T0)
    with pytest.raises(ValidationError):  # off the size grid
        risk.set_limits(BTC, instrument_limits(max_position=Quantity("1.0005")), T0)


def test_register_instrument_when_other_quote_currency_then_refused() -> None:
    risk = RiskEngine(quote_currency="USDT")
    with pytest.raises(ValidationError, match="quoted in USD"):
        risk.register_instrument(instrument(BTC))


def test_register_instrument_when_factor_not_whole_then_refused() -> None:
    risk = RiskEngine(quote_currency="USD", notional_precision=2)
    with pytest.raises(ValidationError, match="notional_precision"):
        risk.register_instrument(instrument(BTC))  # 0.01 x 0.001 = 0.00001 USD < 10**-2


# -- order bookkeeping -----------------------------------------------------------------------------
def test_on_order_filled_when_partial_then_leaves_shrink_and_full_fill_closes(risk: RiskEngine) -> None:
    cmd = submit(Side.BUY, "2", "49000")
    assert risk.check_submit(cmd, TS).approved
    risk.on_order_opened(cmd)
    gate = risk.gate
    risk.on_order_filled(fill_event(cmd.client_order_id, Side.BUY, "0.5", "49000"))
    assert gate.open_lots(0, 0, 1) == 1500 and gate.position(0, 0) == 500
    risk.on_order_filled(fill_event(cmd.client_order_id, Side.BUY, "1.5", "49000"))
    assert gate.open_lots(0, 0, 1) == 0 and gate.open_orders(0) == 0
    assert risk.position(ACC, BTC) == (Side.BUY, Quantity("2.000"))
    assert not risk.on_order_closed(ACC, cmd.client_order_id)  # already closed by the fill


def test_on_order_filled_when_amended_or_restored_then_closes_exactly_at_zero_leaves(
    risk: RiskEngine,
) -> None:
    """The engine keeps each open order's total and leaves beside the gate's (a fill closes the
    order without asking the gate): they must agree after an amend and after a snapshot restore."""
    cmd = submit(Side.BUY, "2", "49000")
    coid = cmd.client_order_id
    assert risk.check_submit(cmd, TS).approved
    risk.on_order_opened(cmd)
    risk.on_order_filled(fill_event(coid, Side.BUY, "0.5", "49000"))
    risk.on_order_updated(
        OrderUpdated(
            ts_event=TS,
            ts_init=TS,
            account_id=ACC,
            client_order_id=coid,
            instrument_id=BTC,
            quantity=Quantity("3"),
            price=Price("49000"),
            trigger_price=None,
        )
    )
    restored = RiskEngine.from_snapshot(json.loads(json.dumps(risk.snapshot())))
    for engine in (risk, restored):
        engine.on_order_filled(fill_event(coid, Side.BUY, "2.000", "49000.00"))  # at the grid's precision
        assert engine.gate.open_orders(0) == 1 and engine.gate.open_lots(0, 0, 1) == 500
        assert engine.snapshot()["orders"][0][1] == coid
        engine.on_order_filled(fill_event(coid, Side.BUY, "0.5", "49000.5"))
        assert engine.gate.open_orders(0) == 0 and engine.snapshot()["orders"] == []
        assert engine.position(ACC, BTC) == (Side.BUY, Quantity("3"))
        assert not engine.on_order_closed(ACC, coid)  # the last fill closed it


def test_on_order_filled_when_more_than_leaves_then_invariant_violation(risk: RiskEngine) -> None:
    cmd = submit(Side.BUY, "1", "49000")
    risk.check_submit(cmd, TS)
    risk.on_order_opened(cmd)
    with pytest.raises(InvariantViolation):
        risk.on_order_filled(fill_event(cmd.client_order_id, Side.BUY, "1.001", "49000"))


def test_on_order_updated_when_amend_applied_then_projection_uses_new_quantity(risk: RiskEngine) -> None:
    cmd = submit(Side.BUY, "2", "49000")
    risk.check_submit(cmd, TS)
    risk.on_order_opened(cmd)
    risk.on_order_filled(fill_event(cmd.client_order_id, Side.BUY, "0.5", "49000"))
    update = OrderUpdated(
        ts_event=TS,
        ts_init=TS,
        account_id=ACC,
        client_order_id=cmd.client_order_id,
        instrument_id=BTC,
        quantity=Quantity("4"),
        price=Price("48000"),
        trigger_price=None,
    )
    risk.on_order_updated(update)
    assert risk.gate.open_lots(0, 0, 1) == 3500  # 4 - 0.5 filled
    assert risk.gate.best_resting(0, 0, 1) == 4_800_000


def test_on_order_triggered_when_stop_limit_then_it_rests_and_guards_self_cross(risk: RiskEngine) -> None:
    stop = submit(Side.SELL, "1", "50100", order_type=OrderType.STOP_LIMIT, trigger="50100")
    assert risk.check_submit(stop, TS).approved
    risk.on_order_opened(stop)
    assert risk.check_submit(submit(Side.BUY, "0.1", "50200"), TS).approved  # untriggered stop: no guard
    risk.on_order_triggered(ACC, stop.client_order_id)
    assert risk.check_submit(submit(Side.BUY, "0.1", "50200"), TS).reason == "RISK_SELF_CROSS"


def test_on_order_closed_when_unknown_then_false_and_lifecycle_errors_name_the_order(
    risk: RiskEngine,
) -> None:
    assert risk.on_order_closed(ACC, ClientOrderId("nope")) is False
    with pytest.raises(NotFoundError):
        risk.on_order_triggered(ACC, ClientOrderId("nope"))


def test_on_trade_tick_when_instrument_unregistered_then_ignored(risk: RiskEngine) -> None:
    from risk_builders import trade

    assert risk.on_trade_tick(trade("1", T0, InstrumentId("SIM:XRP-USD"))) is False


# -- snapshot / restore ----------------------------------------------------------------------------
def _busy_engine() -> RiskEngine:
    risk = make_engine()
    for side, qty, px in ((Side.BUY, "1", "49000"), (Side.SELL, "0.5", "51000"), (Side.BUY, "0.2", "49500")):
        cmd = submit(side, qty, px)
        assert risk.check_submit(cmd, TS).approved
        risk.on_order_opened(cmd)
        if side is Side.BUY:
            risk.on_order_filled(fill_event(cmd.client_order_id, side, "0.1", px))
    eth = submit(Side.SELL, "2", "3000", instrument_id=ETH)
    assert risk.check_submit(eth, TS).approved
    risk.on_order_opened(eth)
    risk.on_equity(ACC, usd("100000"), usd("0"), TS)
    risk.on_equity(ACC, usd("99000"), usd("-10"), TS + 1)
    risk.set_trading_state(TradingState.REDUCING, "test", TS, ACC)
    return risk


def test_snapshot_when_restored_then_state_and_decisions_identical() -> None:
    risk = _busy_engine()
    data = risk.snapshot()
    restored = RiskEngine.from_snapshot(json.loads(json.dumps(data)))
    assert restored.snapshot() == data
    assert restored.exposure(ACC) == risk.exposure(ACC)
    assert restored.limits() == risk.limits()
    assert restored.equity_marks(ACC) == risk.equity_marks(ACC)
    assert restored.trading_state(ACC) is TradingState.REDUCING
    for cmd in (
        submit(Side.SELL, "0.2", "50000"),
        submit(Side.SELL, "5", "50000"),
        submit(Side.BUY, "0.1", "49000"),
    ):
        assert restored.check_submit(cmd, TS + 5) == risk.check_submit(cmd, TS + 5)
    # duplicate ids and open orders came back too
    first = next(iter(data["orders"]))
    assert restored.on_order_closed(ACC, ClientOrderId(first[1]))
