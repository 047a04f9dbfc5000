"""Every pre-trade check through ``RiskEngine.check_submit``: one passing and one denying case each."""

from __future__ import annotations

from risk_builders import (
    ACC,
    BTC,
    ETH,
    MS,
    STRAT,
    T0,
    account_limits,
    instrument,
    instrument_limits,
    make_engine,
    quote,
    strategy_limits,
    submit,
    trade,
    usd,
)

from engine.core import AccountId, InstrumentId, Quantity, StrategyId
from engine.core.commands import CancelOrder
from engine.core.enums import LiquiditySide, OrderType, Side, TradingState
from engine.core.events import OrderFilled, QuoteTick
from engine.core.fixed import Money, Price
from engine.core.ids import ClientOrderId, TradeId, VenueOrderId
from engine.risk import PriceReference, RiskEngine

TS = T0 + 1


def reason(risk: RiskEngine, *args: object, ts: int = TS, **kwargs: object) -> str:
    decision = risk.check_submit(submit(*args, **kwargs), ts)  # type: ignore[arg-type]
    assert decision.approved == (decision.reason == "")
    return decision.reason


def fill(
    risk: RiskEngine,
    side: Side,
    quantity: str,
    price: str,
    *,
    instrument_id: InstrumentId = BTC,
    coid: str = "ext",
) -> None:
    risk.on_order_filled(
        OrderFilled(
            ts_event=TS,
            ts_init=TS,
            account_id=ACC,
            client_order_id=ClientOrderId(coid),
            instrument_id=instrument_id,
            venue_order_id=VenueOrderId("v1"),
            trade_id=TradeId(f"t{quantity}{price}"),
            side=side,
            last_price=Price(price),
            last_quantity=Quantity(quantity),
            liquidity_side=LiquiditySide.TAKER,
            commission=Money("0", "USD"),
        )
    )


def open_order(risk: RiskEngine, *args: object, **kwargs: object) -> ClientOrderId:
    cmd = submit(*args, **kwargs)  # type: ignore[arg-type]
    assert risk.check_submit(cmd, TS).approved
    risk.on_order_opened(cmd)
    return cmd.client_order_id


# -- identity and limits present -----------------------------------------------------------------
def test_check_submit_when_everything_known_and_within_limits_then_approved(risk: RiskEngine) -> None:
    decision = risk.check_submit(submit(), TS)
    assert decision.approved and decision.reason == "" and decision.detail == ""


def test_check_submit_when_account_unknown_then_unknown_account(risk: RiskEngine) -> None:
    assert reason(risk, account_id=AccountId("nobody")) == "RISK_UNKNOWN_ACCOUNT"


def test_check_submit_when_instrument_unknown_then_unknown_instrument(risk: RiskEngine) -> None:
    assert reason(risk, instrument_id=InstrumentId("SIM:DOGE-USD")) == "RISK_UNKNOWN_INSTRUMENT"


def test_check_submit_when_strategy_unknown_then_unknown_strategy(risk: RiskEngine) -> None:
    assert reason(risk, strategy_id=StrategyId("other")) == "RISK_UNKNOWN_STRATEGY"


def test_check_submit_when_limits_missing_then_no_limits_fails_closed() -> None:
    risk = RiskEngine(quote_currency="USD", max_accounts=2, max_instruments=2, max_strategies=2)
    risk.register_instrument(instrument(BTC))
    risk.register_account(ACC)
    risk.register_strategy(STRAT)
    risk.on_quote_tick(quote("49990", "50010", T0))
    assert reason(risk) == "RISK_NO_LIMITS"  # account without limits
    risk.set_limits(ACC, account_limits(), T0)
    assert reason(risk) == "RISK_NO_LIMITS"  # instrument without limits
    risk.set_limits(BTC, instrument_limits(), T0)
    assert reason(risk) == "RISK_NO_LIMITS"  # strategy without limits
    risk.set_limits(STRAT, strategy_limits(), T0)
    assert reason(risk) == ""


def test_check_submit_when_instrument_not_tradable_then_denied_and_tradable_again_passes(
    risk: RiskEngine,
) -> None:
    risk.set_tradable(BTC, False)
    assert reason(risk) == "RISK_INSTRUMENT_NOT_TRADABLE"
    risk.set_tradable(BTC, True)
    assert reason(risk) == ""


# -- grids and sizes -------------------------------------------------------------------------------
def test_check_submit_when_price_off_tick_then_price_off_tick(risk: RiskEngine) -> None:
    assert reason(risk, price="50000.005") == "RISK_PRICE_OFF_TICK"
    assert reason(risk, price="50000.01") == ""


def test_check_submit_when_trigger_off_tick_then_price_off_tick(risk: RiskEngine) -> None:
    kwargs = dict(order_type=OrderType.STOP_MARKET, price=None)
    assert reason(risk, trigger="50100.001", **kwargs) == "RISK_PRICE_OFF_TICK"
    assert reason(risk, trigger="50100.00", **kwargs) == ""


def test_check_submit_when_size_off_increment_then_size_off_increment(risk: RiskEngine) -> None:
    assert reason(risk, quantity="0.0015") == "RISK_SIZE_OFF_INCREMENT"
    assert reason(risk, quantity="0.002") == ""


def test_check_submit_when_client_order_id_reused_then_duplicate(risk: RiskEngine) -> None:
    assert reason(risk, coid="same") == ""
    assert reason(risk, coid="same") == "RISK_DUPLICATE_CLIENT_ORDER_ID"


def test_check_submit_when_below_min_quantity_then_below_min_quantity() -> None:
    risk = RiskEngine(quote_currency="USD", max_accounts=2, max_instruments=2, max_strategies=2)
    risk.register_instrument(instrument(BTC, min_quantity=Quantity("0.01")), instrument_limits())
    risk.register_account(ACC, account_limits())
    risk.register_strategy(STRAT, strategy_limits())
    risk.on_quote_tick(quote("49990", "50010", T0))
    assert reason(risk, quantity="0.009") == "RISK_BELOW_MIN_QUANTITY"
    assert reason(risk, quantity="0.01") == ""


def test_check_submit_when_above_max_order_quantity_then_max_order_quantity(risk: RiskEngine) -> None:
    assert reason(risk, quantity="5.001", price="40000") == "RISK_MAX_ORDER_QUANTITY"
    assert reason(risk, quantity="5", price="50000") == ""


# -- market data -----------------------------------------------------------------------------------
def test_check_submit_when_no_market_data_then_no_reference_price() -> None:
    risk = make_engine(with_market=False)
    assert reason(risk) == "RISK_NO_REFERENCE_PRICE"
    risk.on_quote_tick(quote("49990", "50010", T0))
    assert reason(risk) == ""


def test_check_submit_when_mid_reference_and_book_one_sided_then_no_reference_price() -> None:
    risk = make_engine(with_market=False)
    one_sided = QuoteTick(
        ts_event=T0,
        ts_init=T0,
        instrument_id=BTC,
        bid_price=Price("49990"),
        bid_size=Quantity("1"),
        ask_price=Price("50010"),
        ask_size=Quantity("0"),
    )
    risk.on_quote_tick(one_sided)
    risk.on_trade_tick(trade("50000", T0))  # a last price does not help a MID reference
    assert reason(risk) == "RISK_NO_REFERENCE_PRICE"


def test_check_submit_when_last_reference_then_trade_price_is_enough() -> None:
    risk = make_engine(inst_limits=instrument_limits(reference=PriceReference.LAST), with_market=False)
    assert reason(risk) == "RISK_NO_REFERENCE_PRICE"
    risk.on_trade_tick(trade("50000", T0))
    assert reason(risk) == ""
    assert reason(risk, price="52500.01") == "RISK_PRICE_BAND"


def test_check_submit_when_market_data_older_than_max_age_then_stale(risk: RiskEngine) -> None:
    assert reason(risk, ts=T0 + 5_000 * MS) == ""
    assert reason(risk, ts=T0 + 5_000 * MS + 1) == "RISK_STALE_MARKET_DATA"
    risk.on_quote_tick(quote("49990", "50010", T0 + 5_000 * MS + 1))
    assert reason(risk, ts=T0 + 5_000 * MS + 1) == ""


def test_check_submit_when_limit_outside_price_band_then_price_band(risk: RiskEngine) -> None:
    # mid 50000, band 500 bps -> [47500, 52500] inclusive
    assert reason(risk, Side.BUY, "1", "52500") == ""
    assert reason(risk, Side.BUY, "1", "52500.01") == "RISK_PRICE_BAND"
    assert reason(risk, Side.SELL, "1", "47500") == ""
    assert reason(risk, Side.SELL, "1", "47499.99") == "RISK_PRICE_BAND"


# -- notional --------------------------------------------------------------------------------------
def test_check_submit_when_notional_below_minimum_then_below_min_notional(risk: RiskEngine) -> None:
    # ETH mid 3000, min notional 10 USD
    assert reason(risk, quantity="0.003", price="3000", instrument_id=ETH) == "RISK_BELOW_MIN_NOTIONAL"
    assert reason(risk, quantity="0.004", price="3000", instrument_id=ETH) == ""


def test_check_submit_when_notional_above_maximum_then_max_order_notional() -> None:
    risk = make_engine(inst_limits=instrument_limits(max_order_notional=usd("100000")))
    assert reason(risk, quantity="2", price="50000") == ""
    assert reason(risk, quantity="2", price="50000.01") == "RISK_MAX_ORDER_NOTIONAL"


def test_check_submit_when_market_order_then_notional_at_reference_price() -> None:
    risk = make_engine(inst_limits=instrument_limits(max_order_notional=usd("100000")))
    assert reason(risk, quantity="2", price=None, order_type=OrderType.MARKET) == ""
    assert (
        reason(risk, quantity="2.001", price=None, order_type=OrderType.MARKET) == "RISK_MAX_ORDER_NOTIONAL"
    )


# -- self-cross ------------------------------------------------------------------------------------
def test_check_submit_when_buy_would_cross_own_resting_sell_then_self_cross(risk: RiskEngine) -> None:
    fill(risk, Side.BUY, "1", "50000")  # a position, so the resting sell is ordinary
    open_order(risk, Side.SELL, "1", "50100")
    assert reason(risk, Side.BUY, "1", "50100") == "RISK_SELF_CROSS"
    assert reason(risk, Side.BUY, "1", "50099.99") == ""


def test_check_submit_when_best_resting_order_closes_then_next_best_is_the_guard(risk: RiskEngine) -> None:
    best = open_order(risk, Side.SELL, "1", "50100")
    open_order(risk, Side.SELL, "1", "50200")
    assert reason(risk, Side.BUY, "0.1", "50150") == "RISK_SELF_CROSS"
    assert risk.on_order_closed(ACC, best)
    assert reason(risk, Side.BUY, "0.1", "50150") == ""
    assert reason(risk, Side.BUY, "0.1", "50200") == "RISK_SELF_CROSS"


def test_check_submit_when_market_buy_and_own_sell_at_the_ask_then_self_cross(risk: RiskEngine) -> None:
    market = dict(price=None, order_type=OrderType.MARKET)
    open_order(risk, Side.SELL, "1", "50020")  # behind the ask (50010): a market buy cannot reach it
    assert reason(risk, Side.BUY, "1", **market) == ""
    open_order(risk, Side.SELL, "1", "50010")  # at the ask
    assert reason(risk, Side.BUY, "1", **market) == "RISK_SELF_CROSS"


# -- position, open orders, exposure ---------------------------------------------------------------
def test_check_submit_when_position_with_open_orders_exceeds_max_then_max_position(risk: RiskEngine) -> None:
    fill(risk, Side.BUY, "5", "50000")
    open_order(risk, Side.BUY, "3", "49000")
    assert reason(risk, Side.BUY, "2", "49000") == ""  # 5 + 3 + 2 = 10 = max
    assert reason(risk, Side.BUY, "2.001", "49000") == "RISK_MAX_POSITION"
    assert reason(risk, Side.SELL, "4", "51000") == ""  # reducing always fits


def test_check_submit_when_short_projection_exceeds_max_then_max_position(risk: RiskEngine) -> None:
    open_order(risk, Side.SELL, "5", "49000")
    assert reason(risk, Side.SELL, "5", "49000") == ""
    open_order(risk, Side.SELL, "4", "49000")
    assert reason(risk, Side.SELL, "1.001", "49000") == "RISK_MAX_POSITION"


def test_check_submit_when_max_open_orders_reached_then_max_open_orders() -> None:
    risk = make_engine(acc_limits=account_limits(max_open_orders=2))
    first = open_order(risk, Side.BUY, "0.01", "49000")
    open_order(risk, Side.BUY, "0.01", "49000")
    assert reason(risk, Side.BUY, "0.01", "49000") == "RISK_MAX_OPEN_ORDERS"
    risk.on_order_closed(ACC, first)
    assert reason(risk, Side.BUY, "0.01", "49000") == ""


def test_check_submit_when_gross_exposure_would_exceed_then_denied_but_reducing_passes() -> None:
    risk = make_engine(acc_limits=account_limits(max_gross_exposure=usd("100000")))
    assert reason(risk, Side.BUY, "2", "50000") == ""  # 2 x mark 50000 = 100000
    assert reason(risk, Side.BUY, "2.001", "50000") == "RISK_MAX_GROSS_EXPOSURE"
    fill(risk, Side.BUY, "2.5", "50000")  # now above the limit (125000)
    assert reason(risk, Side.BUY, "0.001", "50000") == "RISK_MAX_GROSS_EXPOSURE"
    assert reason(risk, Side.SELL, "1", "50000") == ""  # lowers gross: allowed
    gross, net = risk.exposure(ACC)
    assert gross == usd("125000") and net == usd("125000")


def test_check_submit_when_net_exposure_would_exceed_then_denied_and_hedge_passes() -> None:
    risk = make_engine(acc_limits=account_limits(max_net_exposure=usd("60000")))
    fill(risk, Side.BUY, "1", "50000")
    assert reason(risk, Side.BUY, "0.2", "50000") == ""  # 60000
    assert reason(risk, Side.BUY, "0.3", "50000") == "RISK_MAX_NET_EXPOSURE"  # 65000
    assert reason(risk, Side.SELL, "5", "3000", instrument_id=ETH) == ""  # hedge: net range [35000, 50000]


# -- trading state ---------------------------------------------------------------------------------
def test_check_submit_when_account_halted_then_trading_halted_and_cancel_allowed(risk: RiskEngine) -> None:
    event = risk.set_trading_state(TradingState.HALTED, "operator kill switch", TS, ACC)
    assert (event.previous, event.current, event.account_id) == (
        TradingState.ACTIVE,
        TradingState.HALTED,
        ACC,
    )
    assert reason(risk) == "TRADING_HALTED"
    assert risk.check_cancel(
        CancelOrder(ts_init=TS, account_id=ACC, client_order_id=ClientOrderId("x"))
    ).approved
    risk.set_trading_state(TradingState.ACTIVE, "resume", TS, ACC)
    assert reason(risk) == ""


def test_check_submit_when_globally_halted_then_every_account_halted(risk: RiskEngine) -> None:
    risk.set_trading_state(TradingState.HALTED, "global kill switch", TS)
    assert risk.trading_state(ACC) is TradingState.HALTED
    assert risk.trading_state() is TradingState.HALTED
    assert reason(risk) == "TRADING_HALTED"


def test_check_submit_when_reducing_then_only_reducing_orders_pass(risk: RiskEngine) -> None:
    fill(risk, Side.BUY, "2", "50000")
    risk.set_trading_state(TradingState.REDUCING, "risk off", TS, ACC)
    assert reason(risk, Side.BUY, "0.1", "49000") == "RISK_REDUCING_ONLY"  # increases
    assert reason(risk, Side.SELL, "3", "50000") == "RISK_REDUCING_ONLY"  # would flip to short 1
    assert reason(risk, Side.SELL, "2", "50000") == ""  # to flat
    open_order(risk, Side.SELL, "1.5", "50000")
    assert reason(risk, Side.SELL, "0.5", "50000") == ""  # 1.5 + 0.5 = 2
    assert reason(risk, Side.SELL, "0.501", "50000") == "RISK_REDUCING_ONLY"  # open sells counted


def test_check_submit_when_reducing_and_flat_then_every_order_denied(risk: RiskEngine) -> None:
    risk.set_trading_state(TradingState.REDUCING, "risk off", TS, ACC)
    assert reason(risk, Side.BUY) == "RISK_REDUCING_ONLY"
    assert reason(risk, Side.SELL) == "RISK_REDUCING_ONLY"


def test_check_submit_when_reduce_only_flag_and_no_position_then_reducing_only(risk: RiskEngine) -> None:
    assert reason(risk, Side.SELL, reduce_only=True) == "RISK_REDUCING_ONLY"
    fill(risk, Side.BUY, "1", "50000")
    assert reason(risk, Side.SELL, reduce_only=True) == ""


# -- throttle --------------------------------------------------------------------------------------
def test_check_submit_when_account_bucket_empty_then_throttled_until_refilled_by_ts() -> None:
    risk = make_engine(acc_limits=account_limits(max_orders_per_second=2, order_burst=3))
    assert [reason(risk, ts=TS) for _ in range(4)] == ["", "", "", "RISK_THROTTLED_ACCOUNT"]
    assert reason(risk, ts=TS + 499 * MS) == "RISK_THROTTLED_ACCOUNT"  # 0.998 tokens
    assert reason(risk, ts=TS + 500 * MS) == ""  # 2/s -> one token per 500 ms
    assert reason(risk, ts=TS + 500 * MS) == "RISK_THROTTLED_ACCOUNT"


def test_check_submit_when_strategy_bucket_empty_then_throttled_strategy() -> None:
    risk = make_engine(strat_limits=strategy_limits(max_orders_per_second=1, order_burst=2))
    assert [reason(risk, ts=TS) for _ in range(3)] == ["", "", "RISK_THROTTLED_STRATEGY"]
    assert reason(risk, ts=TS + 1_000 * MS) == ""


def test_check_submit_when_denied_then_no_token_taken() -> None:
    risk = make_engine(acc_limits=account_limits(max_orders_per_second=1, order_burst=1))
    assert reason(risk, price="60000") == "RISK_PRICE_BAND"
    assert reason(risk) == ""


# -- amend -----------------------------------------------------------------------------------------
def test_check_amend_when_order_unknown_then_unknown_order(risk: RiskEngine) -> None:
    from engine.core.commands import AmendOrder

    cmd = AmendOrder(
        ts_init=TS, account_id=ACC, client_order_id=ClientOrderId("nope"), quantity=Quantity("1")
    )
    assert risk.check_amend(cmd, TS).reason == "RISK_UNKNOWN_ORDER"


def test_check_amend_when_new_quantity_breaks_position_then_denied_and_smaller_passes(
    risk: RiskEngine,
) -> None:
    from engine.core.commands import AmendOrder

    coid = open_order(risk, Side.BUY, "3", "49000")
    fill(risk, Side.BUY, "6", "49000", coid="x-other")  # position 6, open buy 3 -> 9

    def amend(**kwargs: object) -> str:
        return risk.check_amend(
            AmendOrder(ts_init=TS, account_id=ACC, client_order_id=coid, **kwargs), TS
        ).reason  # type: ignore[arg-type]

    assert amend(quantity=Quantity("4")) == ""  # replaces its own 3: 6 + 4 = 10
    assert amend(quantity=Quantity("4.001")) == "RISK_MAX_POSITION"
    assert amend(price=Price("49000.001")) == "RISK_PRICE_OFF_TICK"
    assert amend(price=Price("60000")) == "RISK_PRICE_BAND"
    risk.set_trading_state(TradingState.HALTED, "stop", TS, ACC)
    assert amend(quantity=Quantity("1")) == "TRADING_HALTED"
