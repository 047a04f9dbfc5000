"""SimVenue: every order type, time in force and reject reason, through domain commands and events."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from engine.core.enums import InstrumentKind, LiquiditySide, OrderStatus, OrderType, Side, TimeInForce
from engine.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderUpdated,
    QuoteTick,
    TradeTick,
)
from engine.core.fixed import Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId
from engine.core.instruments import Instrument
from engine.venues.sim import SimVenue, SimVenueConfig, VenueReason, default_instruments

MAIN, MM = AccountId("main"), AccountId("mm")
BTC = InstrumentId("SIM:BTC-USD")


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def status(venue, coid, account=MAIN):
    return venue.order(account, ClientOrderId(coid)).status


@pytest.fixture
def book(venue, submit):
    """A resting book from the 'mm' account: asks 65000.00 (0.5) and 65001.00 (1.0), bids 64999/64998."""
    for coid, side, qty, price in (
        ("a1", Side.SELL, "0.5", "65000.00"),
        ("a2", Side.SELL, "1.0", "65001.00"),
        ("b1", Side.BUY, "0.5", "64999.00"),
        ("b2", Side.BUY, "1.0", "64998.00"),
    ):
        assert of(venue.apply(submit(coid, side, qty, price, account="mm")), OrderAccepted)
    return venue


# -- order types ----------------------------------------------------------------------------------
def test_sim_venue_market_order_when_book_deep_enough_then_walks_levels_and_fills(book, submit):
    events = book.apply(submit("m1", Side.BUY, "0.8"))
    fills = of(events, OrderFilled)
    ours = [f for f in fills if f.account_id == MAIN]
    assert [(str(f.last_price), str(f.last_quantity)) for f in ours] == [
        ("65000.00", "0.50000"),
        ("65001.00", "0.30000"),
    ]
    assert all(f.liquidity_side is LiquiditySide.TAKER for f in ours)
    assert [(str(t.price), t.aggressor_side) for t in of(events, TradeTick)] == [
        ("65000.00", Side.BUY),
        ("65001.00", Side.BUY),
    ]
    assert status(book, "m1") is OrderStatus.FILLED
    assert status(book, "a1", MM) is OrderStatus.FILLED
    assert status(book, "a2", MM) is OrderStatus.PARTIALLY_FILLED


def test_sim_venue_market_order_when_book_runs_out_then_remainder_is_canceled(book, submit):
    events = book.apply(submit("m1", Side.BUY, "2.0"))
    assert sum(f.last_quantity.raw for f in of(events, OrderFilled) if f.account_id == MAIN) == 150_000
    assert of(events, OrderCanceled)[0].client_order_id == "m1"
    state = book.order(MAIN, ClientOrderId("m1"))
    assert (state.status, state.reason, str(state.filled_quantity)) == (
        OrderStatus.CANCELED,
        "NO_LIQUIDITY",
        "1.50000",
    )


def test_sim_venue_limit_gtc_when_not_marketable_then_rests_and_shows_in_book(book, submit):
    events = book.apply(submit("l1", Side.BUY, "0.2", "64999.50"))
    assert of(events, OrderAccepted) and not of(events, OrderFilled)
    quote = of(events, QuoteTick)[0]
    assert (str(quote.bid_price), str(quote.bid_size)) == ("64999.50", "0.20000")
    assert book.book(BTC, 1).bids == [(Price("64999.50"), Quantity("0.20000"))]
    assert status(book, "l1") is OrderStatus.ACCEPTED


def test_sim_venue_limit_when_marketable_then_takes_then_rests_remainder(book, submit):
    events = book.apply(submit("l1", Side.BUY, "0.8", "65000.00"))
    assert [str(f.last_quantity) for f in of(events, OrderFilled) if f.account_id == MAIN] == ["0.50000"]
    assert book.book(BTC, 1).bids == [(Price("65000.00"), Quantity("0.30000"))]
    assert status(book, "l1") is OrderStatus.PARTIALLY_FILLED


def test_sim_venue_stop_market_when_last_trade_reaches_trigger_then_executes_as_market(book, submit):
    assert of(
        book.apply(submit("s1", Side.BUY, "0.3", order_type=OrderType.STOP_MARKET, trigger="65001.00")),
        OrderAccepted,
    )
    assert book.matching_engine(BTC).stop_order_ids(1)
    events = book.apply(submit("t2", Side.BUY, "0.6", "65001.00"))  # trades 65000 then 65001: triggers s1
    s1 = [f for f in of(events, OrderFilled) if f.client_order_id == "s1"]
    assert [(str(f.last_price), str(f.last_quantity)) for f in s1] == [("65001.00", "0.30000")]
    state = book.order(MAIN, ClientOrderId("s1"))
    assert state.triggered and state.status is OrderStatus.FILLED


def test_sim_venue_stop_limit_when_triggered_and_not_marketable_then_rests_at_its_limit(book, submit):
    book.apply(
        submit("s1", Side.SELL, "0.4", "64999.50", order_type=OrderType.STOP_LIMIT, trigger="64999.00")
    )
    events = book.apply(submit("t1", Side.SELL, "0.5"))  # market sell hits 64999.00 -> triggers s1
    assert not [f for f in of(events, OrderFilled) if f.client_order_id == "s1"]
    assert book.book(BTC, 1).asks == [(Price("64999.50"), Quantity("0.40000"))]
    state = book.order(MAIN, ClientOrderId("s1"))
    assert state.triggered and state.status is OrderStatus.ACCEPTED


def test_sim_venue_stop_limit_when_triggered_and_marketable_then_takes_within_its_limit(book, submit):
    book.apply(
        submit("s1", Side.SELL, "0.4", "64990.00", order_type=OrderType.STOP_LIMIT, trigger="64999.00")
    )
    events = book.apply(submit("t1", Side.SELL, "0.5"))
    s1 = [f for f in of(events, OrderFilled) if f.client_order_id == "s1"]
    assert [(str(f.last_price), str(f.last_quantity)) for f in s1] == [("64998.00", "0.40000")]


# -- time in force ----------------------------------------------------------------------------
def test_sim_venue_ioc_when_partially_marketable_then_remainder_canceled(book, submit):
    events = book.apply(submit("i1", Side.BUY, "0.8", "65000.00", tif=TimeInForce.IOC))
    assert [str(f.last_quantity) for f in of(events, OrderFilled) if f.account_id == MAIN] == ["0.50000"]
    state = book.order(MAIN, ClientOrderId("i1"))
    assert (state.status, state.reason) == (OrderStatus.CANCELED, "IOC_REMAINDER")
    assert book.book(BTC, 1).bids[0][0] == Price("64999.00")


def test_sim_venue_fok_when_not_fully_fillable_then_nothing_fills(book, submit):
    events = book.apply(submit("f1", Side.BUY, "0.6", "65000.00", tif=TimeInForce.FOK))
    assert not of(events, OrderFilled)
    assert book.order(MAIN, ClientOrderId("f1")).reason == "FOK_CANNOT_FILL"
    events = book.apply(submit("f2", Side.BUY, "0.6", "65001.00", tif=TimeInForce.FOK))
    assert sum(f.last_quantity.raw for f in of(events, OrderFilled) if f.account_id == MAIN) == 60_000


def test_sim_venue_gtd_when_clock_passes_expiry_then_order_expires(venue, submit, clock):
    events_seen = []
    venue.set_event_handler(events_seen.append)
    venue.start()
    venue.send(
        submit(
            "g1", Side.BUY, "0.1", "60000.00", tif=TimeInForce.GTD, expire_at_ns=clock.timestamp_ns() + 5_000
        )
    )
    clock.advance(0)
    assert of(events_seen, OrderAccepted)
    clock.advance(4_999)
    assert not of(events_seen, OrderExpired)
    clock.advance(1)
    expired = of(events_seen, OrderExpired)
    assert len(expired) == 1 and expired[0].ts_event == clock.timestamp_ns()
    assert status(venue, "g1") is OrderStatus.EXPIRED
    assert venue.book(BTC, 5).bids == []


def test_sim_venue_post_only_when_not_crossing_then_rests_as_maker(book, submit):
    assert of(book.apply(submit("p1", Side.SELL, "0.1", "64999.50", post_only=True)), OrderAccepted)
    events = book.apply(submit("t1", Side.BUY, "0.1", account="mm"))
    fill = next(f for f in of(events, OrderFilled) if f.client_order_id == "p1")
    assert fill.liquidity_side is LiquiditySide.MAKER


def test_sim_venue_reduce_only_when_larger_than_position_then_fill_capped_at_position(book, submit):
    book.apply(submit("buy", Side.BUY, "0.2"))  # long 0.2
    events = book.apply(submit("r1", Side.SELL, "0.5", reduce_only=True))
    fills = [f for f in of(events, OrderFilled) if f.client_order_id == "r1"]
    assert [str(f.last_quantity) for f in fills] == ["0.20000"]
    assert book.position(MAIN, BTC).side is None
    assert book.order(MAIN, ClientOrderId("r1")).reason == "REDUCE_ONLY_EXHAUSTED"


# -- amend, cancel, cancel-all, STP -----------------------------------------------------------
def test_sim_venue_amend_when_size_reduced_then_keeps_priority_and_emits_updated(book, submit, amend):
    book.apply(submit("q1", Side.SELL, "0.2", "65000.00"))  # behind a1 (mm)
    events = book.apply(amend("a1", qty="0.3", account="mm"))
    assert of(events, OrderUpdated)[0].quantity == Quantity("0.30000")
    engine = book.matching_engine(BTC)
    assert engine.level_order_ids(2, 650_000)[0] == int(book.order(MM, ClientOrderId("a1")).venue_order_id)


def test_sim_venue_amend_when_price_changed_then_moves_and_may_trade(book, submit, amend):
    book.apply(submit("l1", Side.BUY, "0.2", "64990.00"))
    events = book.apply(amend("l1", price="65000.00"))
    assert of(events, OrderUpdated)[0].price == Price("65000.00")
    assert [f.liquidity_side for f in of(events, OrderFilled) if f.client_order_id == "l1"] == [
        LiquiditySide.TAKER
    ]


def test_sim_venue_cancel_when_working_then_canceled_and_when_done_then_rejected(book, submit, cancel):
    book.apply(submit("l1", Side.BUY, "0.2", "64990.00"))
    assert of(book.apply(cancel("l1")), OrderCanceled)
    rejected = of(book.apply(cancel("l1")), OrderCancelRejected)
    assert rejected[0].reason == "UNKNOWN_ORDER"
    assert of(book.apply(cancel("never")), OrderCancelRejected)[0].reason == "UNKNOWN_ORDER"


def test_sim_venue_cancel_all_when_side_given_then_only_that_side(venue, submit, cancel_all):
    venue.apply(submit("b1", Side.BUY, "0.1", "60000.00"))
    venue.apply(submit("b2", Side.BUY, "0.1", "60001.00"))
    venue.apply(submit("s1", Side.SELL, "0.1", "70000.00"))
    events = venue.apply(cancel_all(side=Side.BUY))
    assert [e.client_order_id for e in of(events, OrderCanceled)] == ["b1", "b2"]
    assert [o.client_order_id for o in venue.open_orders(MAIN)] == ["s1"]
    assert [e.client_order_id for e in of(venue.apply(cancel_all()), OrderCanceled)] == ["s1"]


def test_sim_venue_self_trade_when_default_stp_then_taker_canceled_and_maker_kept(book, submit):
    events = book.apply(submit("x1", Side.BUY, "0.2", account="mm"))
    assert not of(events, OrderFilled)
    assert book.order(MM, ClientOrderId("x1")).reason == "SELF_TRADE_PREVENTED"
    assert status(book, "a1", MM) is OrderStatus.ACCEPTED


def test_sim_venue_self_trade_when_cancel_maker_configured_then_maker_canceled(clock, submit):
    venue = SimVenue(
        default_instruments(), clock, SimVenueConfig(stp_mode="CANCEL_MAKER", accounts={"main": {}, "mm": {}})
    )
    venue.apply(submit("a1", Side.SELL, "0.5", "65000.00"))
    venue.apply(submit("a2", Side.SELL, "0.5", "65001.00", account="mm"))
    events = venue.apply(submit("x1", Side.BUY, "0.2", "65001.00"))
    assert [e.client_order_id for e in of(events, OrderCanceled)] == ["a1"]
    assert [f.client_order_id for f in of(events, OrderFilled)] == ["x1", "a2"]


# -- reject reasons -------------------------------------------------------------------------
def _reason(events):
    rejected = of(events, OrderRejected)
    assert len(rejected) == 1, events
    return rejected[0].reason


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"qty": "0.000001", "price": "60000.00"}, "SIZE_OFF_INCREMENT"),
        ({"qty": "0.1", "price": "60000.001"}, "PRICE_OFF_TICK"),
        (
            {"qty": "0.1", "price": "60000.00", "instrument": InstrumentId("SIM:XYZ-USD")},
            "UNKNOWN_INSTRUMENT",
        ),
        ({"qty": "0.1", "price": "60000.00", "account": "nobody"}, "UNKNOWN_ACCOUNT"),
        ({"qty": "1001", "price": "60000.00"}, "ABOVE_MAX_QUANTITY"),
        ({"qty": "0.00001", "price": "60000.00"}, "BELOW_MIN_NOTIONAL"),
        ({"qty": "1000", "price": "5000000000.00"}, "ABOVE_MAX_NOTIONAL"),
        ({"qty": "0.1"}, "NO_LIQUIDITY"),
        ({"qty": "0.1", "price": "60000.00", "reduce_only": True}, "REDUCE_ONLY_WOULD_INCREASE"),
        (
            {"qty": "0.1", "price": "60000.00", "tif": TimeInForce.GTD, "expire_at_ns": 1},
            "INVALID_EXPIRE_TIME",
        ),
        ({"qty": "0.1", "price": "999999999999999.90"}, "VALUE_OUT_OF_RANGE"),
    ],
)
def test_sim_venue_submit_when_invalid_then_rejected_with_reason(venue, submit, kwargs, reason):
    qty = kwargs.pop("qty")
    price = kwargs.pop("price", None)
    events = venue.apply(submit("r1", Side.BUY, qty, price, **kwargs))
    assert _reason(events) == reason
    assert reason in VenueReason.__members__
    assert not venue.open_orders()


def test_sim_venue_submit_when_quantity_below_minimum_then_rejected(clock, submit):
    inst = Instrument(
        id=InstrumentId("SIM:BIG-USD"),
        kind=InstrumentKind.SPOT,
        base="BIG",
        quote="USD",
        settlement="USD",
        price_increment=Price("0.01"),
        size_increment=Quantity("0.1"),
        min_quantity=Quantity("1.0"),
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
    )
    venue = SimVenue([inst], clock, SimVenueConfig(accounts={"main": {}}))
    assert (
        _reason(venue.apply(submit("r1", Side.BUY, "0.5", "10.00", instrument=inst.id)))
        == "BELOW_MIN_QUANTITY"
    )


def test_sim_venue_submit_when_instrument_not_tradable_then_rejected(clock, submit):
    halted = dataclasses.replace(default_instruments()[0], tradable=False)
    venue = SimVenue([halted], clock, SimVenueConfig(accounts={"main": {}}))
    assert _reason(venue.apply(submit("r1", Side.BUY, "0.1", "60000.00"))) == "INSTRUMENT_NOT_TRADABLE"


def test_sim_venue_submit_when_client_order_id_reused_then_rejected_and_original_untouched(venue, submit):
    venue.apply(submit("dup", Side.BUY, "0.1", "60000.00"))
    assert _reason(venue.apply(submit("dup", Side.BUY, "0.2", "60000.00"))) == "DUPLICATE_CLIENT_ORDER_ID"
    state = venue.order(MAIN, ClientOrderId("dup"))
    assert (state.status, state.quantity) == (OrderStatus.ACCEPTED, Quantity("0.10000"))


def test_sim_venue_stop_when_it_would_trigger_immediately_then_rejected(book, submit):
    book.apply(submit("t1", Side.BUY, "0.1"))  # last trade 65000.00
    events = book.apply(submit("s1", Side.BUY, "0.1", order_type=OrderType.STOP_MARKET, trigger="64000.00"))
    assert _reason(events) == "STOP_WOULD_TRIGGER"


def test_sim_venue_post_only_when_it_would_take_then_rejected(book, submit):
    assert (
        _reason(book.apply(submit("p1", Side.BUY, "0.1", "65000.00", post_only=True)))
        == "POST_ONLY_WOULD_TAKE"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"qty": "0.00001"}, "BELOW_MIN_NOTIONAL"),
        ({"trigger": "60000.00"}, "INVALID_TRIGGER_PRICE"),
        ({"price": "60000.005"}, "PRICE_OFF_TICK"),
        ({"qty": "0.1", "price": "64999.00"}, None),
    ],
)
def test_sim_venue_amend_when_invalid_then_modify_rejected_with_reason(venue, submit, amend, change, reason):
    venue.apply(submit("l1", Side.BUY, "0.2", "60000.00"))
    events = venue.apply(amend("l1", **change))
    if reason is None:
        assert of(events, OrderUpdated)
    else:
        assert of(events, OrderModifyRejected)[0].reason == reason
        assert venue.order(MAIN, ClientOrderId("l1")).quantity == Quantity("0.20000")


def test_sim_venue_amend_when_below_filled_or_price_on_stop_market_then_rejected(book, submit, amend):
    book.apply(submit("l1", Side.BUY, "1.0", "65000.00"))  # fills 0.5
    assert (
        of(book.apply(amend("l1", qty="0.5")), OrderModifyRejected)[0].reason == "AMEND_QUANTITY_BELOW_FILLED"
    )
    book.apply(submit("s1", Side.SELL, "0.1", order_type=OrderType.STOP_MARKET, trigger="60000.00"))
    assert of(book.apply(amend("s1", price="60000.00")), OrderModifyRejected)[0].reason == "INVALID_PRICE"
    assert of(book.apply(amend("nope", qty="1")), OrderModifyRejected)[0].reason == "UNKNOWN_ORDER"


def test_sim_venue_order_lookup_when_rejected_for_unknown_instrument_then_reports_rejected(venue, submit):
    venue.apply(submit("u1", Side.BUY, "0.1", "10.00", instrument=InstrumentId("SIM:XYZ-USD")))
    state = venue.order(MAIN, ClientOrderId("u1"))
    assert (state.status, state.reason, state.quantity) == (
        OrderStatus.REJECTED,
        "UNKNOWN_INSTRUMENT",
        Quantity(0),
    )


def test_sim_venue_gtd_when_earliest_canceled_then_early_alert_expires_nothing_and_next_expires_on_time(
    venue, submit, cancel, clock
):
    """Only a GTD submit re-arms the expiry alert from ``apply``; a cancel leaves it early. The early
    alert must expire nothing, log no expiry input, and still bring the next GTD order down on time."""
    from engine.venues.sim.venue import INPUT_EXPIRE

    delivered, inputs = [], []
    venue.set_event_handler(delivered.append)
    venue.set_input_recorder(inputs.append)
    venue.start()
    start = clock.timestamp_ns()
    venue.apply(submit("g1", Side.BUY, "0.1", "60000.00", tif=TimeInForce.GTD, expire_at_ns=start + 5_000))
    venue.apply(submit("g2", Side.BUY, "0.1", "60001.00", tif=TimeInForce.GTD, expire_at_ns=start + 9_000))
    venue.apply(submit("p1", Side.BUY, "0.1", "60002.00"))  # GTC: no re-arm, the alert stays put
    assert of(venue.apply(cancel("g1")), OrderCanceled)
    clock.advance(5_000)  # the alert armed for g1 fires: nothing is due
    assert not of(delivered, OrderExpired)
    assert [i for i in inputs if i.kind == INPUT_EXPIRE] == []
    assert status(venue, "g2") is OrderStatus.ACCEPTED
    clock.advance(3_999)
    assert not of(delivered, OrderExpired)
    clock.advance(1)
    expired = of(delivered, OrderExpired)
    assert [e.client_order_id for e in expired] == ["g2"] and expired[0].ts_event == start + 9_000
    assert [i.ts for i in inputs if i.kind == INPUT_EXPIRE] == [start + 9_000]
    assert status(venue, "p1") is OrderStatus.ACCEPTED
