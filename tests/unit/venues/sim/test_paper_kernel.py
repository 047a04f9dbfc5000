"""The paper venue's compiled order path (``engine.ext.matching.paper``): the exact events, field
values and types, balances, positions and order states of submits (market and limit, several book
levels, partial fills, maker and taker fees with their rounding, reduce-only, FOK / IOC, post-only,
every reject reason a submit can reach)."""

from __future__ import annotations

import gc
from decimal import Decimal

import pytest

from engine.core.enums import InstrumentKind, LiquiditySide, OrderStatus, OrderType, Side, TimeInForce
from engine.core.events import OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, TradeTick
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId, VenueOrderId
from engine.core.instruments import Instrument
from engine.ext.matching.paper import PaperKernel, PaperOrder
from engine.marketdata.book import OrderBook
from engine.venues.sim import PaperVenue, PaperVenueConfig, default_instruments
from engine.venues.sim.reasons import REASON_DETAILS, UNKNOWN_INSTRUMENT

from .conftest import START_NS

MAIN = AccountId("main")
INST = default_instruments()[0]  # SIM:BTC-USD: 0.10 price step (at 2 places), 0.00001 size step
BTC = INST.id
#: fee units (1e-8 USD) = ceil(ticks * lots * num / den): taker 0.0005 -> 1/20, maker 0.0002 -> 1/50
TAKER_DEN, MAKER_DEN = 20, 50


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def ticks(price: str) -> int:
    return INST.price_to_ticks(Price(price))


def lots(qty: str) -> int:
    return INST.quantity_to_lots(Quantity(qty))


def usd_fee(units: int) -> Money:
    return Money.from_raw(units, 8, "USD")


@pytest.fixture
def paper(book, clock) -> PaperVenue:
    return PaperVenue({BTC: book}, clock, PaperVenueConfig(accounts={"main": {"USD": "1000000", "BTC": "5"}}))


def accepted(coid: str, vid: int, ts: int = START_NS, latency: int = 0) -> OrderAccepted:
    return OrderAccepted(
        ts_event=ts,
        ts_init=ts + latency,
        account_id=MAIN,
        client_order_id=ClientOrderId(coid),
        instrument_id=BTC,
        venue_order_id=VenueOrderId(f"P{vid}"),
    )


def filled(
    coid: str,
    vid: int,
    trade: int,
    side: Side,
    price: str,
    qty: str,
    fee_units: int,
    liq: LiquiditySide = LiquiditySide.TAKER,
    ts: int = START_NS,
    latency: int = 0,
) -> OrderFilled:
    return OrderFilled(
        ts_event=ts,
        ts_init=ts + latency,
        account_id=MAIN,
        client_order_id=ClientOrderId(coid),
        instrument_id=BTC,
        venue_order_id=VenueOrderId(f"P{vid}"),
        trade_id=TradeId(f"P-BTC-USD-{trade}"),
        side=side,
        last_price=Price(price),
        last_quantity=Quantity(qty),
        liquidity_side=liq,
        commission=usd_fee(fee_units),
    )


def canceled(coid: str, ts: int = START_NS, latency: int = 0) -> OrderCanceled:
    return OrderCanceled(
        ts_event=ts,
        ts_init=ts + latency,
        account_id=MAIN,
        client_order_id=ClientOrderId(coid),
        instrument_id=BTC,
    )


def rejected(
    coid: str, reason: str, instrument: InstrumentId = BTC, account: AccountId = MAIN
) -> OrderRejected:
    return OrderRejected(
        ts_event=START_NS,
        ts_init=START_NS,
        account_id=account,
        client_order_id=ClientOrderId(coid),
        instrument_id=instrument,
        reason=reason,
        detail=REASON_DETAILS[reason],
    )


def assert_types(events: list) -> None:
    """The fields have the engine's own types (equality alone would accept a plain str or int)."""
    for e in events:
        assert e.sequence == 0
        if isinstance(e, OrderAccepted | OrderFilled):
            assert type(e.venue_order_id) is VenueOrderId
        if isinstance(e, OrderFilled):
            assert type(e.trade_id) is TradeId
            assert type(e.side) is Side and type(e.liquidity_side) is LiquiditySide
            assert type(e.last_price) is Price and type(e.last_quantity) is Quantity
            assert type(e.commission) is Money and e.commission.currency == "USD"
        if isinstance(e, OrderCanceled):
            assert e.reason == ""


# == takers ==========================================================================================
def test_paper_kernel_market_buy_when_deeper_than_top_then_one_taker_fill_per_level(paper, submit):
    events = paper.apply(submit("m1", Side.BUY, "1.2"))
    fee1 = ceil_div(ticks("65001.00") * lots("0.5"), TAKER_DEN)
    fee2 = ceil_div(ticks("65002.00") * lots("0.7"), TAKER_DEN)
    assert (fee1, fee2) == (1_625_025_000, 2_275_070_000)  # 16.25025 and 22.7507 USD, exact
    assert events == [
        accepted("m1", 1),
        filled("m1", 1, 1, Side.BUY, "65001.00", "0.50000", fee1),
        filled("m1", 1, 2, Side.BUY, "65002.00", "0.70000", fee2),
    ]
    assert_types(events)
    # quote: -notional - fees (at the fee precision), base: +1.2
    assert paper.balances(MAIN) == {"USD": Money("921959.09905000", "USD"), "BTC": Money("6.20000", "BTC")}
    assert paper.balances(MAIN)["USD"].precision == 8
    state = paper.order(MAIN, ClientOrderId("m1"))
    assert (state.status, state.filled_quantity, state.leaves_quantity) == (
        OrderStatus.FILLED,
        Quantity("1.20000"),
        Quantity("0"),
    )
    assert [(f.trade_id, f.price, f.quantity, f.liquidity_side, f.commission) for f in state.fills] == [
        ("P-BTC-USD-1", Price("65001.00"), Quantity("0.50000"), LiquiditySide.TAKER, usd_fee(fee1)),
        ("P-BTC-USD-2", Price("65002.00"), Quantity("0.70000"), LiquiditySide.TAKER, usd_fee(fee2)),
    ]
    assert paper.position(MAIN, BTC).quantity == Quantity("1.20000")
    assert paper.open_orders() == []


def test_paper_kernel_taker_fee_when_not_a_whole_fee_unit_then_rounds_up(paper, submit):
    events = paper.apply(submit("b", Side.BUY, "0.00011")) + paper.apply(submit("s", Side.SELL, "0.00013"))
    buy_fee = ceil_div(ticks("65001.00") * 11, TAKER_DEN)  # 357505.5 -> 357506
    sell_fee = ceil_div(ticks("64999.00") * 13, TAKER_DEN)  # 422493.5 -> 422494
    assert (buy_fee, sell_fee) == (357_506, 422_494)
    assert events == [
        accepted("b", 1),
        filled("b", 1, 1, Side.BUY, "65001.00", "0.00011", buy_fee),
        accepted("s", 2),
        filled("s", 2, 2, Side.SELL, "64999.00", "0.00013", sell_fee),
    ]
    # 1_000_000 - 7.15011 - 0.00357506 + 8.44987 - 0.00422494 USD; 5 + 0.00011 - 0.00013 BTC
    assert paper.balances(MAIN) == {"USD": Money("1000001.29196000", "USD"), "BTC": Money("4.99998", "BTC")}
    assert paper.position(MAIN, BTC).side is Side.SELL
    assert paper.position(MAIN, BTC).quantity == Quantity("0.00002")


def test_paper_kernel_report_latency_when_configured_then_every_report_is_stamped_later(book, clock, submit):
    paper = PaperVenue(
        {BTC: book}, clock, PaperVenueConfig(report_latency_ns=7, accounts={"main": {"USD": "1e6"}})
    )
    events = paper.apply(submit("m", Side.BUY, "2.0"))
    assert events == [
        accepted("m", 1, latency=7),
        filled("m", 1, 1, Side.BUY, "65001.00", "0.50000", 1_625_025_000, latency=7),
        filled(
            "m", 1, 2, Side.BUY, "65002.00", "1.00000", ceil_div(ticks("65002.00") * 100_000, 20), latency=7
        ),
        filled(
            "m", 1, 3, Side.BUY, "65003.00", "0.50000", ceil_div(ticks("65003.00") * 50_000, 20), latency=7
        ),
    ]


def test_paper_kernel_market_when_book_too_thin_then_takes_every_level_and_cancels_the_rest(paper, submit):
    events = paper.apply(submit("m", Side.BUY, "5"))
    assert events == [
        accepted("m", 1),
        filled("m", 1, 1, Side.BUY, "65001.00", "0.50000", ceil_div(ticks("65001.00") * 50_000, 20)),
        filled("m", 1, 2, Side.BUY, "65002.00", "1.00000", ceil_div(ticks("65002.00") * 100_000, 20)),
        filled("m", 1, 3, Side.BUY, "65003.00", "3.00000", ceil_div(ticks("65003.00") * 300_000, 20)),
        canceled("m"),
    ]
    assert_types(events)
    state = paper.order(MAIN, ClientOrderId("m"))
    assert (state.status, state.reason, state.filled_quantity, state.leaves_quantity) == (
        OrderStatus.CANCELED,
        "NO_LIQUIDITY",
        Quantity("4.50000"),
        Quantity("0"),
    )


def test_paper_kernel_walk_when_deeper_than_max_walk_levels_then_stops_there(book, clock, submit):
    paper = PaperVenue(
        {BTC: book}, clock, PaperVenueConfig(max_walk_levels=2, accounts={"main": {"USD": "1e6"}})
    )
    events = paper.apply(submit("m", Side.BUY, "5"))
    assert [type(e) for e in events] == [OrderAccepted, OrderFilled, OrderFilled, OrderCanceled]
    assert [str(e.last_price) for e in events[1:3]] == ["65001.00", "65002.00"]


def test_paper_kernel_limit_when_marketable_across_levels_then_takes_up_to_its_price_and_rests(paper, submit):
    events = paper.apply(submit("l", Side.BUY, "2.0", "65002.00"))
    assert events == [
        accepted("l", 1),
        filled("l", 1, 1, Side.BUY, "65001.00", "0.50000", ceil_div(ticks("65001.00") * 50_000, 20)),
        filled("l", 1, 2, Side.BUY, "65002.00", "1.00000", ceil_div(ticks("65002.00") * 100_000, 20)),
    ]
    state = paper.order(MAIN, ClientOrderId("l"))
    assert (state.status, state.filled_quantity, state.leaves_quantity) == (
        OrderStatus.PARTIALLY_FILLED,
        Quantity("1.50000"),
        Quantity("0.50000"),
    )
    assert paper.queue_ahead(MAIN, ClientOrderId("l")) == 0  # nothing displayed at 65002.00 on the bid
    assert [o.client_order_id for o in paper.open_orders()] == ["l"]


def test_paper_kernel_limit_when_not_marketable_then_rests_behind_the_displayed_size(paper, submit):
    assert paper.apply(submit("l", Side.SELL, "0.3", "65002.00")) == [accepted("l", 1)]
    assert paper.queue_ahead(MAIN, ClientOrderId("l")) == lots("1.0")
    state = paper.order(MAIN, ClientOrderId("l"))
    assert (state.status, state.leaves_quantity, state.fills) == (
        OrderStatus.ACCEPTED,
        Quantity("0.30000"),
        (),
    )


def test_paper_kernel_ioc_when_partly_marketable_then_fills_and_cancels_the_remainder(paper, submit):
    events = paper.apply(submit("i", Side.SELL, "1.5", "64999.00", tif=TimeInForce.IOC))
    assert events == [
        accepted("i", 1),
        filled("i", 1, 1, Side.SELL, "64999.00", "1.00000", ceil_div(ticks("64999.00") * 100_000, 20)),
        canceled("i"),
    ]
    assert paper.order(MAIN, ClientOrderId("i")).reason == "IOC_REMAINDER"
    assert paper.open_orders() == []


def test_paper_kernel_fok_when_depth_short_then_canceled_unfilled_and_when_covered_then_filled(paper, submit):
    assert paper.apply(submit("f1", Side.BUY, "1.6", "65002.00", tif=TimeInForce.FOK)) == [
        accepted("f1", 1),
        canceled("f1"),
    ]
    assert paper.order(MAIN, ClientOrderId("f1")).reason == "FOK_CANNOT_FILL"
    assert paper.balances(MAIN)["BTC"] == Money("5", "BTC")
    events = paper.apply(submit("f2", Side.BUY, "1.5", "65002.00", tif=TimeInForce.FOK))
    assert events == [
        accepted("f2", 2),
        filled("f2", 2, 1, Side.BUY, "65001.00", "0.50000", ceil_div(ticks("65001.00") * 50_000, 20)),
        filled("f2", 2, 2, Side.BUY, "65002.00", "1.00000", ceil_div(ticks("65002.00") * 100_000, 20)),
    ]
    assert paper.order(MAIN, ClientOrderId("f2")).status is OrderStatus.FILLED


# == reduce-only ======================================================================================
def test_paper_kernel_reduce_only_when_larger_than_position_then_fills_the_position_and_cancels(
    paper, submit
):
    paper.apply(submit("open", Side.BUY, "1.5"))  # long 1.5 (trades 1 and 2)
    events = paper.apply(submit("r", Side.SELL, "2.5", reduce_only=True))
    assert events == [
        accepted("r", 2),
        filled("r", 2, 3, Side.SELL, "64999.00", "1.00000", ceil_div(ticks("64999.00") * 100_000, 20)),
        filled("r", 2, 4, Side.SELL, "64998.00", "0.50000", ceil_div(ticks("64998.00") * 50_000, 20)),
        canceled("r"),
    ]
    state = paper.order(MAIN, ClientOrderId("r"))
    assert (state.reason, state.filled_quantity) == ("REDUCE_ONLY_EXHAUSTED", Quantity("1.50000"))
    assert paper.position(MAIN, BTC).side is None


def test_paper_kernel_reduce_only_fok_when_position_smaller_than_order_then_cannot_fill(paper, submit):
    paper.apply(submit("open", Side.SELL, "0.3"))  # short 0.3
    events = paper.apply(submit("r", Side.BUY, "0.4", "65001.00", tif=TimeInForce.FOK, reduce_only=True))
    assert events == [accepted("r", 2), canceled("r")]
    assert paper.order(MAIN, ClientOrderId("r")).reason == "FOK_CANNOT_FILL"
    events = paper.apply(submit("r2", Side.BUY, "0.3", "65001.00", tif=TimeInForce.FOK, reduce_only=True))
    assert events == [
        accepted("r2", 3),
        filled("r2", 3, 2, Side.BUY, "65001.00", "0.30000", ceil_div(ticks("65001.00") * 30_000, 20)),
    ]
    assert paper.position(MAIN, BTC).side is None


def test_paper_kernel_reduce_only_resting_when_position_closed_meanwhile_then_canceled_on_next_fill(
    paper, submit, clock
):
    paper.apply(submit("open", Side.BUY, "0.4"))  # long 0.4
    assert paper.apply(submit("r", Side.SELL, "0.4", "65005.00", reduce_only=True)) == [accepted("r", 2)]
    paper.apply(submit("close", Side.SELL, "0.3"))  # long 0.1 left
    tick = TradeTick(
        ts_event=START_NS,
        ts_init=START_NS,
        instrument_id=BTC,
        price=Price("65006.00"),
        size=Quantity("1"),
        aggressor_side=Side.BUY,
        trade_id=TradeId("x1"),
    )
    events = paper.apply_trade(tick)  # through our price: fills what is left to reduce (maker), then cancels
    assert events == [
        filled(
            "r",
            2,
            3,
            Side.SELL,
            "65005.00",
            "0.10000",
            ceil_div(ticks("65005.00") * 10_000, MAKER_DEN),
            LiquiditySide.MAKER,
        ),
        canceled("r"),
    ]
    assert paper.order(MAIN, ClientOrderId("r")).reason == "REDUCE_ONLY_EXHAUSTED"


# == makers and post-only =============================================================================
def test_paper_kernel_maker_fill_when_trade_prints_through_then_maker_fee_rounds_up(paper, submit, clock):
    assert paper.apply(submit("l", Side.BUY, "0.00011", "64999.00", post_only=True)) == [accepted("l", 1)]
    tick = TradeTick(
        ts_event=START_NS + 5,
        ts_init=START_NS + 5,
        instrument_id=BTC,
        price=Price("64998.00"),
        size=Quantity("0.3"),
        aggressor_side=Side.SELL,
        trade_id=TradeId("x1"),
    )
    fee = ceil_div(ticks("64999.00") * 11, MAKER_DEN)  # 142997.8 -> 142998
    assert fee == 142_998
    events = paper.apply_trade(tick)
    assert events == [
        filled("l", 1, 1, Side.BUY, "64999.00", "0.00011", fee, LiquiditySide.MAKER, ts=START_NS + 5)
    ]
    assert_types(events)


def test_paper_kernel_post_only_when_it_would_take_then_rejected_and_when_not_then_rests(paper, submit):
    assert paper.apply(submit("p1", Side.BUY, "0.1", "65001.00", post_only=True)) == [
        rejected("p1", "POST_ONLY_WOULD_TAKE")
    ]
    assert paper.apply(submit("p2", Side.SELL, "0.1", "64999.00", post_only=True)) == [
        rejected("p2", "POST_ONLY_WOULD_TAKE")
    ]
    assert paper.apply(submit("p3", Side.BUY, "0.1", "65000.00", post_only=True)) == [accepted("p3", 1)]
    assert paper.queue_ahead(MAIN, ClientOrderId("p3")) == 0
    assert paper.order(MAIN, ClientOrderId("p1")).status is OrderStatus.REJECTED


# == fees of other instruments =========================================================================
def _instrument(**changes: object) -> Instrument:
    values: dict[str, object] = {
        "id": InstrumentId("SIM:TEST-USD"),
        "kind": InstrumentKind.SPOT,
        "base": "TST",
        "quote": "USD",
        "settlement": "USD",
        "price_increment": Price("0.01"),
        "size_increment": Quantity("0.001"),
        "min_quantity": Quantity("0.001"),
        "maker_fee": Decimal("-0.0001"),
        "taker_fee": Decimal("0.0007"),
    }
    values.update(changes)
    return Instrument(**values)  # type: ignore[arg-type]


def _venue_on(inst: Instrument, clock, bids, asks, **accounts: dict[str, str]) -> PaperVenue:
    book = OrderBook(inst)
    book.apply_snapshot(bids, asks)
    return PaperVenue(
        {inst.id: book}, clock, PaperVenueConfig(accounts=accounts or {"main": {"USD": "1000"}})
    )


def test_paper_kernel_maker_rebate_when_not_a_whole_fee_unit_then_rounds_towards_zero(clock, submit):
    inst = _instrument()
    paper = _venue_on(inst, clock, [("10.00", "5")], [("10.05", "5")])
    assert [type(e) for e in paper.apply(submit("l", Side.BUY, "0.003", "10.01", instrument=inst.id))] == [
        OrderAccepted
    ]
    tick = TradeTick(
        ts_event=START_NS,
        ts_init=START_NS,
        instrument_id=inst.id,
        price=Price("10.00"),
        size=Quantity("1"),
        aggressor_side=Side.SELL,
        trade_id=TradeId("x"),
    )
    (fill,) = paper.apply_trade(tick)
    # notional 10.01 x 0.003 = 0.03003 USD; rebate 0.0001 of it = 0.000003003 -> -0.00000300 (towards zero)
    assert fill.commission == Money("-0.00000300", "USD")
    assert fill.liquidity_side is LiquiditySide.MAKER
    assert paper.balances(MAIN) == {"USD": Money("999.96997300", "USD"), "TST": Money("0.003", "TST")}


def test_paper_kernel_derivative_when_filled_then_only_the_quote_moves_by_notional_times_multiplier(
    clock, submit
):
    inst = _instrument(
        id=InstrumentId("SIM:PERP-USD"),
        kind=InstrumentKind.PERPETUAL,
        multiplier=Decimal("0.1"),
        taker_fee=Decimal("0"),
    )
    paper = _venue_on(inst, clock, [("99.00", "5")], [("101.00", "5")])
    events = paper.apply(submit("m", Side.BUY, "2", instrument=inst.id))
    assert [type(e) for e in events] == [OrderAccepted, OrderFilled]
    assert events[1].commission == Money("0", "USD") and events[1].commission.precision == 8
    assert paper.balances(MAIN) == {"USD": Money("979.8", "USD")}  # 1000 - 101 x 2 x 0.1, no base asset
    assert paper.position(MAIN, inst.id).quantity == Quantity("2.000")


def test_paper_kernel_fee_when_the_product_exceeds_64_bits_then_still_exact(clock, submit):
    inst = _instrument(
        price_increment=Price("0.000001"),
        size_increment=Quantity("0.000001"),
        min_quantity=Quantity("0.000001"),
        taker_fee=Decimal("0.000123"),
    )
    paper = _venue_on(inst, clock, [], [("9000000.000000", "9000000")], main={"USD": "0"})
    (_, fill) = paper.apply(submit("m", Side.BUY, "8000000", instrument=inst.id))
    terms_ticks, terms_lots = 9_000_000_000_000, 8_000_000_000_000  # ticks x lots ~ 7.2e25: beyond int64
    notional = Decimal(terms_ticks * terms_lots) / 10**12
    assert fill.commission == Money.from_raw(int(notional * Decimal("0.000123") * 10**12), 12, "USD")
    assert paper.balances(MAIN)["USD"] == Money(str(-notional - notional * Decimal("0.000123")), "USD")


# == rejects ==========================================================================================
@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"instrument": InstrumentId("SIM:NOPE-USD")}, "UNKNOWN_INSTRUMENT"),
        ({"account": "ghost"}, "UNKNOWN_ACCOUNT"),
        ({"price": "65000.05"}, "PRICE_OFF_TICK"),
        ({"price": "65000.1", "order_type": OrderType.STOP_LIMIT, "trigger": "64000.05"}, "PRICE_OFF_TICK"),
        ({"qty": "0.000001"}, "SIZE_OFF_INCREMENT"),
        ({"qty": "100000000000.00000"}, "VALUE_OUT_OF_RANGE"),  # 1e16 lots > 2**53
        ({"qty": "100000000000000"}, "VALUE_OUT_OF_RANGE"),  # 1e19 lots: beyond 64 bits too
        ({"price": "64000.00", "tif": TimeInForce.GTD, "expire_at_ns": START_NS}, "INVALID_EXPIRE_TIME"),
        ({"qty": "1001"}, "ABOVE_MAX_QUANTITY"),
        ({"qty": "0.00001", "price": "65000.00"}, "BELOW_MIN_NOTIONAL"),
        ({"reduce_only": True}, "REDUCE_ONLY_WOULD_INCREASE"),
        ({"price": "65001.00", "post_only": True}, "POST_ONLY_WOULD_TAKE"),
    ],
)
def test_paper_kernel_submit_when_invalid_then_one_reject_with_reason_and_detail(
    paper, submit, kwargs, reason
):
    account = AccountId(kwargs.get("account", "main"))
    qty = kwargs.pop("qty", "0.1")
    price = kwargs.pop("price", None)
    instrument = kwargs.get("instrument", BTC)
    events = paper.apply(submit("bad", Side.BUY, qty, price, **kwargs))
    assert events == [rejected("bad", reason, instrument=instrument, account=account)]
    assert paper.open_orders() == [] and paper.balances(MAIN)["USD"] == Money("1000000", "USD")
    if not qty.startswith("100000000000000"):  # (a quantity beyond 64 bits has no state to report)
        state = paper.order(account, ClientOrderId("bad"))
        assert (state.status, state.reason, state.venue_order_id) == (OrderStatus.REJECTED, reason, None)
    # the venue order ids are not used by rejects
    assert paper.apply(submit("ok", Side.BUY, "0.1"))[0] == accepted("ok", 1)


def test_paper_kernel_submit_when_client_order_id_reused_then_rejected_and_first_order_kept(paper, submit):
    paper.apply(submit("a", Side.BUY, "0.1"))
    assert paper.apply(submit("a", Side.SELL, "0.2")) == [rejected("a", "DUPLICATE_CLIENT_ORDER_ID")]
    assert paper.order(MAIN, ClientOrderId("a")).side is Side.BUY


def test_paper_kernel_submit_when_stop_would_trigger_then_rejected(paper, submit, clock):
    tick = TradeTick(
        ts_event=START_NS,
        ts_init=START_NS,
        instrument_id=BTC,
        price=Price("65000.00"),
        size=Quantity("0.1"),
        aggressor_side=Side.BUY,
        trade_id=TradeId("x"),
    )
    paper.apply_trade(tick)
    stop = submit("s", Side.BUY, "0.1", order_type=OrderType.STOP_MARKET, trigger="64000.00")
    assert paper.apply(stop) == [rejected("s", "STOP_WOULD_TRIGGER")]
    stop = submit("s2", Side.BUY, "0.1", order_type=OrderType.STOP_MARKET, trigger="66000.00")
    assert paper.apply(stop) == [accepted("s2", 1)]


def test_paper_kernel_submit_when_not_tradable_or_no_liquidity_then_rejected(clock, submit):
    halted = _instrument(tradable=False)
    paper = _venue_on(halted, clock, [("10.00", "5")], [("10.05", "5")])
    assert paper.apply(submit("h", Side.BUY, "1", instrument=halted.id)) == [
        rejected("h", "INSTRUMENT_NOT_TRADABLE", instrument=halted.id)
    ]
    one_sided = _instrument()
    paper = _venue_on(one_sided, clock, [], [("10.05", "5")])
    assert paper.apply(submit("n", Side.SELL, "1", instrument=one_sided.id)) == [
        rejected("n", "NO_LIQUIDITY", instrument=one_sided.id)
    ]
    below = _instrument(min_quantity=Quantity("0.01"))
    paper = _venue_on(below, clock, [("10.00", "5")], [("10.05", "5")])
    assert paper.apply(submit("q", Side.BUY, "0.005", instrument=below.id)) == [
        rejected("q", "BELOW_MIN_QUANTITY", instrument=below.id)
    ]


def test_paper_kernel_reject_when_instrument_unknown_then_names_the_commands_instrument(paper, submit):
    (event,) = paper.apply(submit("u", Side.BUY, "1", instrument=InstrumentId("SIM:NOPE-USD")))
    assert event.instrument_id == InstrumentId("SIM:NOPE-USD") != UNKNOWN_INSTRUMENT


# == the kernel's own surface ===========================================================================
def test_paper_order_when_built_from_fields_then_reads_back_and_flags_decode():
    values = {
        "account": MAIN,
        "coid": ClientOrderId("x"),
        "expire": 0,
        "filled": 3,
        "fills": [("P-BTC-USD-1", 650010, 3, 2, 97502, START_NS)],
        "flags": 3,
        "iid": BTC,
        "leaves": 4,
        "otype": 2,
        "price": 650010,
        "qty": 7,
        "queue_ahead": 1,
        "reason": None,
        "seen": 2,
        "side": 1,
        "state": "resting",
        "status": OrderStatus.PARTIALLY_FILLED,
        "tif": 1,
        "trigger": 0,
        "triggered": False,
        "ts_last": START_NS,
        "vid": 9,
    }
    o = PaperOrder(**values)
    assert {name: getattr(o, name) for name in values} == values
    assert (o.post_only, o.reduce_only) == (True, True)
    with pytest.raises(KeyError):
        PaperOrder(**{k: v for k, v in values.items() if k != "vid"})


def test_paper_kernel_when_an_event_setter_is_not_a_descriptor_then_refused():
    with pytest.raises(TypeError, match="descriptor"):
        PaperKernel(
            {},
            {},
            {},
            {},
            {},
            __import__("collections").deque(),
            10,
            report_latency_ns=0,
            max_walk_levels=1,
            enums=dict.fromkeys(
                (
                    "buy",
                    "market",
                    "stop_market",
                    "limit",
                    "stop_limit",
                    "gtd",
                    "ioc",
                    "fok",
                    "maker",
                    "taker",
                ),
                1,
            ),
            statuses=tuple(OrderStatus)[:7],
            sides={},
            liquidity={},
            events={
                k: (OrderAccepted, (1,) * n)
                for k, n in (("accepted", 7), ("filled", 13), ("canceled", 7), ("expired", 6))
            },
            ids=(VenueOrderId, TradeId),
            money=(Money, None, None, None),
            fixed=(Price, Quantity, None, None),
            submit_fields=(None,) * 12,
            reject=print,
            validation_error=ValueError,
            reason_details={},
        )


def test_paper_kernel_reports_and_orders_when_built_then_left_to_reference_counting(paper, submit):
    """What the kernel builds cannot be part of a reference cycle, so the cyclic collector does not
    track it (its passes skip the retained orders and the kept reports)."""
    events = paper.apply(submit("m", Side.BUY, "1.2"))
    fill = events[1]
    values = [fill.commission, fill.last_price, fill.last_quantity, fill.trade_id, fill.venue_order_id]
    assert not any(gc.is_tracked(v) for v in [*events, *values])
    order = paper._orders[(MAIN, ClientOrderId("m"))]
    assert not gc.is_tracked(order) and not gc.is_tracked(order.fills)
    assert paper.balances(MAIN)["USD"] == Money("921959.09905000", "USD")
    assert not gc.is_tracked(paper._ledger.table[MAIN]["USD"])
