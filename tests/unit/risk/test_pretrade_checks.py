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
from engine.core.events import OrderFilled
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
    risk.on_quote_tick(quote("49990", "50010", T0, ask_size="0"))  # one-sided: no offer
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


# -- what a denial says: the numbers that decided it -----------------------------------------------
def detail(risk: RiskEngine, *args: object, ts: int = TS, **kwargs: object) -> str:
    decision = risk.check_submit(submit(*args, **kwargs), ts)  # type: ignore[arg-type]
    assert not decision.approved
    return decision.detail


def test_denial_detail_when_size_limits_then_names_quantity_and_limit(risk: RiskEngine) -> None:
    assert detail(risk, quantity="6") == "SIM:BTC-USD: quantity 6 is above the maximum order quantity 5.000"
    small = make_engine(inst_limits=instrument_limits())
    small.register_instrument(
        instrument(InstrumentId("SIM:SOL-USD"), min_quantity=Quantity("0.01")), instrument_limits()
    )
    small.on_quote_tick(quote("99", "101", T0, InstrumentId("SIM:SOL-USD")))
    assert (
        detail(small, quantity="0.009", price="100", instrument_id=InstrumentId("SIM:SOL-USD"))
        == "SIM:SOL-USD: quantity 0.009 is below the instrument's minimum 0.010"
    )


def test_denial_detail_when_price_band_then_reference_and_band_in_ticks(risk: RiskEngine) -> None:
    # mid 50000 (49990 / 50010), 500 bps: 47500 to 52500, both inclusive
    assert detail(risk, Side.BUY, "1", "52500.01") == (
        "SIM:BTC-USD: limit price 52500.01 is more than 500 bps from the mid 50000.00: "
        "the band is 47500.00 to 52500.00"
    )
    risk.on_quote_tick(quote("49990", "50010.01", T0))  # an odd mid: half a tick, shown exactly
    assert detail(risk, Side.SELL, "1", "1") == (
        "SIM:BTC-USD: limit price 1 is more than 500 bps from the mid 50000.005: "
        "the band is 47500.01 to 52500.00"
    )
    last = make_engine(inst_limits=instrument_limits(reference=PriceReference.LAST))
    assert "from the last trade 50000.00:" in detail(last, Side.BUY, "1", "60000")


def test_denial_detail_when_notional_then_value_and_the_price_it_used() -> None:
    risk = make_engine(inst_limits=instrument_limits(max_order_notional=usd("100000")))
    assert detail(risk, quantity="2", price="50000.01") == (
        "SIM:BTC-USD: notional 100000.02 USD (2 at the limit price 50000.01) is above the maximum "
        "order notional 100000 USD"
    )
    assert detail(risk, quantity="2.001", price=None, order_type=OrderType.MARKET) == (
        "SIM:BTC-USD: notional 100050 USD (2.001 at the mid 50000.00) is above the maximum order "
        "notional 100000 USD"
    )
    assert detail(risk, quantity="0.003", price="3000", instrument_id=ETH) == (
        "SIM:ETH-USD: notional 9 USD (0.003 at the limit price 3000) is below the instrument's minimum 10 USD"
    )


def test_denial_detail_when_market_data_missing_or_stale_then_says_which(risk: RiskEngine) -> None:
    assert detail(risk, ts=T0 + 5_000 * MS + 1) == (
        "SIM:BTC-USD: the last market data is 5000 ms old (max_data_age_ms 5000)"
    )
    bare = make_engine(with_market=False)
    bare.on_quote_tick(quote("49990", "50010", T0, ask_size="0"))
    assert detail(bare) == (
        "SIM:BTC-USD: no two-sided quote (bid 49990.00, ask none; the reference is the mid)"
    )


def test_denial_detail_when_position_or_self_cross_then_position_open_orders_and_price(
    risk: RiskEngine,
) -> None:
    fill(risk, Side.BUY, "5", "50000")
    open_order(risk, Side.BUY, "3", "49000")
    assert detail(risk, Side.BUY, "2.001", "49000") == (
        "SIM:BTC-USD: position 5.000 with open buy orders 3.000 and this buy of 2.001 would be "
        "10.001, beyond max_position 10"
    )
    open_order(risk, Side.SELL, "1", "50100")
    assert detail(risk, Side.BUY, "1", "50100") == (
        "SIM:BTC-USD: a BUY limit at 50100 would trade against account acc-1's resting SELL at 50100.00"
    )
    short = make_engine()
    open_order(short, Side.SELL, "4.5", "49000")
    open_order(short, Side.SELL, "4.5", "49000")
    assert detail(short, Side.SELL, "1.001", "49000") == (
        "SIM:BTC-USD: position 0.000 with open sell orders 9.000 and this sell of 1.001 would be "
        "-10.001, beyond max_position 10"
    )


def test_denial_detail_when_open_orders_or_exposure_then_count_and_exposure() -> None:
    risk = make_engine(acc_limits=account_limits(max_open_orders=1, max_gross_exposure=usd("100000")))
    open_order(risk, Side.BUY, "0.01", "49000")
    assert detail(risk, Side.BUY, "0.01", "49000") == (
        "SIM:BTC-USD: account acc-1 has 1 open orders (max_open_orders 1)"
    )
    exposed = make_engine(acc_limits=account_limits(max_gross_exposure=usd("100000")))
    fill(exposed, Side.BUY, "1", "50000")
    assert detail(exposed, Side.BUY, "1.001", "50000") == (
        "SIM:BTC-USD: account acc-1's gross exposure is 50000.000000000 USD; with this order it "
        "would exceed max_gross_exposure 100000 USD"
    )


def test_denial_detail_when_halted_or_reducing_then_quotes_why(risk: RiskEngine) -> None:
    risk.set_trading_state(TradingState.HALTED, "operator kill switch", TS, ACC)
    assert detail(risk) == (
        "SIM:BTC-USD: trading is halted for account acc-1 (operator kill switch): only cancels are accepted"
    )
    risk.set_trading_state(TradingState.HALTED, "exchange outage", TS)
    assert "halted for every account (exchange outage)" in detail(risk)
    risk.set_trading_state(TradingState.ACTIVE, "over", TS)
    risk.set_trading_state(TradingState.REDUCING, "risk off", TS, ACC)
    fill(risk, Side.BUY, "2", "50000")
    assert detail(risk, Side.SELL, "3", "50000") == (
        "SIM:BTC-USD: account acc-1 is REDUCING (risk off): only orders that reduce the position "
        "without flipping it pass; position 2.000, open sell orders 0.000, this sell 3"
    )
    risk.set_trading_state(TradingState.ACTIVE, "risk back on", TS, ACC)
    assert detail(risk, Side.BUY, "1", reduce_only=True).startswith(
        "SIM:BTC-USD: the order is reduce-only: only orders that reduce"
    )


def test_denial_detail_when_throttled_then_rate_and_wait() -> None:
    risk = make_engine(acc_limits=account_limits(max_orders_per_second=2, order_burst=1))
    assert risk.check_submit(submit(), TS).approved
    assert detail(risk, ts=TS + 100 * MS) == (
        "SIM:BTC-USD: account acc-1 used up its order rate (2/s, burst 1); the next order fits in 400 ms"
    )
    strat = make_engine(strat_limits=strategy_limits(max_orders_per_second=1, order_burst=1))
    assert strat.check_submit(submit(), TS).approved
    assert detail(strat, ts=TS) == (
        "SIM:BTC-USD: strategy strat-1 used up its order rate (1/s, burst 1); the next order fits in 1000 ms"
    )


def test_denial_detail_when_amend_breaks_position_then_counts_the_order_once(risk: RiskEngine) -> None:
    from engine.core.commands import AmendOrder

    coid = open_order(risk, Side.BUY, "3", "49000")
    fill(risk, Side.BUY, "6", "49000", coid="x-other")
    decision = risk.check_amend(
        AmendOrder(ts_init=TS, account_id=ACC, client_order_id=coid, quantity=Quantity("4.001")), TS
    )
    assert decision.reason == "RISK_MAX_POSITION"
    assert decision.detail == (
        "SIM:BTC-USD: position 6.000 with open buy orders 0.000 and this buy of 4.001 would be 10.001, "
        "beyond max_position 10"
    )


def test_denial_detail_survives_a_snapshot_with_the_state_reason(risk: RiskEngine) -> None:
    import json

    risk.set_trading_state(TradingState.HALTED, "daily loss", TS, ACC)
    restored = RiskEngine.from_snapshot(json.loads(json.dumps(risk.snapshot())))
    assert detail(restored) == detail(risk)
    assert "(daily loss)" in detail(restored)


def test_denial_detail_when_amend_throttled_then_names_the_order_strategy() -> None:
    from engine.core.commands import AmendOrder

    risk = make_engine(strat_limits=strategy_limits(max_orders_per_second=1, order_burst=1))
    coid = open_order(risk, Side.BUY, "1", "49000")
    decision = risk.check_amend(
        AmendOrder(ts_init=TS, account_id=ACC, client_order_id=coid, price=Price("49100")), TS + 250 * MS
    )
    assert decision.reason == "RISK_THROTTLED_STRATEGY"
    assert decision.detail == (
        "SIM:BTC-USD: strategy strat-1 used up its order rate (1/s, burst 1); the next order fits in 750 ms"
    )


def test_denial_detail_when_identity_or_grid_denial_then_fixed_text_and_nothing_logged(
    risk: RiskEngine,
) -> None:
    import structlog

    with structlog.testing.capture_logs() as logs:
        unknown = risk.check_submit(submit(account_id=AccountId("nobody")), TS)
        off_tick = risk.check_submit(submit(price="50000.001"), TS)
        off_size = risk.check_submit(submit(quantity="0.0001"), TS)
    assert (unknown.reason, off_tick.reason, off_size.reason) == (
        "RISK_UNKNOWN_ACCOUNT",
        "RISK_PRICE_OFF_TICK",
        "RISK_SIZE_OFF_INCREMENT",
    )
    assert unknown.detail == "SIM:BTC-USD: the account is not registered with the risk engine"
    assert off_size.detail == "SIM:BTC-USD: quantity is not a multiple of the size increment"
    assert logs == []  # a denial without numbers is not an explanation that failed
