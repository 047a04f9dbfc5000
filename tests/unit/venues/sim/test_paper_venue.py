"""PaperVenue: takers walk the external book; resting limits fill on trades with a queue estimate."""

from __future__ import annotations

import json

import pytest

from engine.core.enums import LiquiditySide, OrderStatus, OrderType, Side, TimeInForce
from engine.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    TradeTick,
)
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId
from engine.venues.sim import PaperVenue, PaperVenueConfig, default_instruments

MAIN = AccountId("main")
INST = default_instruments()[0]
BTC = INST.id


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


@pytest.fixture
def paper(book, clock) -> PaperVenue:
    return PaperVenue({BTC: book}, clock, PaperVenueConfig(accounts={"main": {"USD": "1000000", "BTC": "5"}}))


def trade(
    clock, price: str, size: str, aggressor: Side = Side.SELL, instrument: InstrumentId = BTC
) -> TradeTick:
    ts = clock.timestamp_ns()
    return TradeTick(
        ts_event=ts,
        ts_init=ts,
        instrument_id=instrument,
        price=Price(price),
        size=Quantity(size),
        aggressor_side=aggressor,
        trade_id=TradeId(f"x{ts}"),
    )


def test_paper_market_order_when_larger_than_top_then_walks_levels_at_displayed_prices(paper, submit):
    events = paper.apply(submit("m1", Side.BUY, "1.2"))
    fills = of(events, OrderFilled)
    assert [(str(f.last_price), str(f.last_quantity)) for f in fills] == [
        ("65001.00", "0.50000"),
        ("65002.00", "0.70000"),
    ]
    assert all(f.liquidity_side is LiquiditySide.TAKER for f in fills)
    assert fills[0].commission == Money("16.25025000", "USD")  # 32500.5 x 0.0005
    assert paper.position(MAIN, BTC).quantity == Quantity("1.20000")


def test_paper_market_order_when_book_too_thin_then_remainder_canceled_and_fok_fills_nothing(paper, submit):
    events = paper.apply(submit("m1", Side.BUY, "5"))
    assert sum(f.last_quantity.raw for f in of(events, OrderFilled)) == 450_000
    assert paper.order(MAIN, ClientOrderId("m1")).reason == "NO_LIQUIDITY"
    events = paper.apply(submit("f1", Side.BUY, "5", tif=TimeInForce.FOK))
    assert not of(events, OrderFilled) and of(events, OrderCanceled)
    assert paper.order(MAIN, ClientOrderId("f1")).reason == "FOK_CANNOT_FILL"


def test_paper_limit_when_marketable_then_takes_up_to_its_price_and_rests_remainder(paper, submit):
    events = paper.apply(submit("l1", Side.BUY, "1.0", "65001.00"))
    assert [str(f.last_quantity) for f in of(events, OrderFilled)] == ["0.50000"]
    state = paper.order(MAIN, ClientOrderId("l1"))
    assert (state.status, state.leaves_quantity) == (OrderStatus.PARTIALLY_FILLED, Quantity("0.50000"))
    assert paper.queue_ahead(MAIN, ClientOrderId("l1")) == 0  # nobody displayed at 65001 on the bid side


def test_paper_resting_limit_when_trades_print_at_its_price_then_fills_after_queue_ahead(
    paper, submit, clock
):
    paper.apply(submit("l1", Side.BUY, "0.5", "64999.00"))
    assert paper.queue_ahead(MAIN, ClientOrderId("l1")) == 100_000  # 1.0 displayed ahead
    assert not paper.apply_trade(trade(clock, "64999.00", "0.7"))  # eats 0.7 of the queue ahead
    assert paper.queue_ahead(MAIN, ClientOrderId("l1")) == 30_000
    events = paper.apply_trade(trade(clock, "64999.00", "0.5"))  # 0.3 ahead, then 0.2 fills us
    fills = of(events, OrderFilled)
    assert [(str(f.last_price), str(f.last_quantity), f.liquidity_side) for f in fills] == [
        ("64999.00", "0.20000", LiquiditySide.MAKER)
    ]
    assert fills[0].commission == Money("2.59996000", "USD")  # 12999.8 x 0.0002
    assert paper.queue_ahead(MAIN, ClientOrderId("l1")) == 0


def test_paper_resting_limit_when_trade_prints_through_its_price_then_fills_up_to_trade_size(
    paper, submit, clock
):
    paper.apply(submit("l1", Side.BUY, "0.5", "64999.00"))
    events = paper.apply_trade(trade(clock, "64998.00", "0.3"))
    assert [(str(f.last_price), str(f.last_quantity)) for f in of(events, OrderFilled)] == [
        ("64999.00", "0.30000")
    ]
    events = paper.apply_trade(trade(clock, "64997.00", "5"))
    assert [str(f.last_quantity) for f in of(events, OrderFilled)] == ["0.20000"]
    assert paper.order(MAIN, ClientOrderId("l1")).status is OrderStatus.FILLED


def test_paper_queue_when_displayed_size_shrinks_without_trades_then_ahead_shrinks_pro_rata(
    paper, submit, book, clock
):
    paper.apply(submit("l1", Side.BUY, "0.5", "64998.00"))  # 2.0 ahead
    book.apply_delta(Side.BUY, "64998.00", "1.5")  # 0.5 canceled out of 2.0 seen: a quarter of the queue
    paper.apply_book_update(BTC, clock.timestamp_ns())
    assert paper.queue_ahead(MAIN, ClientOrderId("l1")) == 150_000
    book.apply_delta(Side.BUY, "64998.00", "3.0")  # orders join behind us
    paper.apply_book_update(BTC, clock.timestamp_ns())
    assert paper.queue_ahead(MAIN, ClientOrderId("l1")) == 150_000
    paper.apply_trade(trade(clock, "64998.00", "1.0"))  # 1.0 of the queue ahead trades: seen 3.0 -> 2.0
    book.apply_delta(Side.BUY, "64998.00", "2.0")
    paper.apply_book_update(BTC, clock.timestamp_ns())
    assert paper.queue_ahead(MAIN, ClientOrderId("l1")) == 50_000  # trades are not counted as cancels


def test_paper_amend_when_size_up_then_back_of_queue_and_when_down_then_keeps_place(
    paper, submit, amend, clock
):
    paper.apply(submit("l1", Side.BUY, "0.5", "64999.00"))
    paper.apply_trade(trade(clock, "64999.00", "0.6"))
    assert paper.queue_ahead(MAIN, ClientOrderId("l1")) == 40_000
    paper.apply(amend("l1", qty="0.4"))
    assert paper.queue_ahead(MAIN, ClientOrderId("l1")) == 40_000
    paper.apply(amend("l1", qty="0.8"))
    assert paper.queue_ahead(MAIN, ClientOrderId("l1")) == 100_000  # the displayed size again


def test_paper_stop_when_external_trade_reaches_trigger_then_takes_liquidity(paper, submit, clock):
    paper.apply(submit("s1", Side.BUY, "0.2", order_type=OrderType.STOP_MARKET, trigger="65000.00"))
    assert not paper.apply_trade(trade(clock, "64999.00", "0.1"))
    events = paper.apply_trade(trade(clock, "65000.00", "0.1", Side.BUY))
    assert [(str(f.last_price), str(f.last_quantity)) for f in of(events, OrderFilled)] == [
        ("65001.00", "0.20000")
    ]
    assert paper.order(MAIN, ClientOrderId("s1")).triggered
    rejected = of(
        paper.apply(submit("s2", Side.BUY, "0.2", order_type=OrderType.STOP_MARKET, trigger="64000.00")),
        OrderRejected,
    )
    assert rejected[0].reason == "STOP_WOULD_TRIGGER"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"price": "65001.00", "post_only": True}, "POST_ONLY_WOULD_TAKE"),
        ({"price": "60000.00", "reduce_only": True}, "REDUCE_ONLY_WOULD_INCREASE"),
        ({"price": "60000.05"}, "PRICE_OFF_TICK"),
        ({"price": "60000.00", "account": "ghost"}, "UNKNOWN_ACCOUNT"),
    ],
)
def test_paper_submit_when_invalid_then_rejected_with_reason(paper, submit, kwargs, reason):
    price = kwargs.pop("price")
    events = paper.apply(submit("r1", Side.BUY, "0.1", price, **kwargs))
    assert of(events, OrderRejected)[0].reason == reason


def test_paper_send_when_latency_configured_then_sees_book_at_arrival_and_reports_later(book, clock, submit):
    paper = PaperVenue(
        {BTC: book},
        clock,
        PaperVenueConfig(order_latency_ns=2_000, report_latency_ns=1_000, accounts={"main": {}}),
    )
    seen = []
    paper.set_event_handler(seen.append)
    paper.start()
    t0 = clock.timestamp_ns()
    paper.send(submit("m1", Side.BUY, "0.5"))
    clock.advance(1_000)
    book.apply_delta(Side.SELL, "65001.00", "0")  # the top ask disappears while the order travels
    clock.advance(1_000)  # arrives: walks the book as it is now
    assert seen == []
    clock.advance(1_000)
    fills = of(seen, OrderFilled)
    assert [(str(f.last_price), f.ts_event, f.ts_init) for f in fills] == [
        ("65002.00", t0 + 2_000, t0 + 3_000)
    ]
    assert of(seen, OrderAccepted)[0].ts_init == t0 + 3_000


def test_paper_gtd_when_clock_reaches_expiry_then_expired(paper, submit, clock):
    seen = []
    paper.set_event_handler(seen.append)
    paper.start()
    paper.send(
        submit(
            "g1", Side.BUY, "0.1", "60000.00", tif=TimeInForce.GTD, expire_at_ns=clock.timestamp_ns() + 100
        )
    )
    clock.advance(99)
    assert of(seen, OrderAccepted) and not of(seen, OrderExpired)
    clock.advance(1)
    assert of(seen, OrderExpired) and paper.order(MAIN, ClientOrderId("g1")).status is OrderStatus.EXPIRED


def test_paper_gtd_when_submitted_after_other_orders_then_expires_on_time(paper, submit, clock):
    # Before any GTD order the venue skips the expiry scan and the re-arm: the first GTD order after
    # plain ones (and after the delay line emptied) must still arm its expiry.
    seen = []
    paper.set_event_handler(seen.append)
    paper.start()
    seen += paper.apply(submit("l1", Side.BUY, "0.1", "60000.00"))
    clock.advance(1)
    seen += paper.apply(submit("l2", Side.BUY, "0.1", "60001.00"))
    clock.advance(1)
    expire = clock.timestamp_ns() + 50
    seen += paper.apply(submit("g1", Side.BUY, "0.1", "60002.00", tif=TimeInForce.GTD, expire_at_ns=expire))
    clock.advance(49)
    assert len(of(seen, OrderAccepted)) == 3 and not of(seen, OrderExpired)
    clock.advance(1)
    assert [e.client_order_id for e in of(seen, OrderExpired)] == ["g1"]
    assert paper.order(MAIN, ClientOrderId("l1")).status is OrderStatus.ACCEPTED


def test_paper_gtd_when_restored_from_a_snapshot_then_expires_on_time(paper, submit, book, clock):
    expire = clock.timestamp_ns() + 100
    paper.apply(submit("g1", Side.BUY, "0.1", "60000.00", tif=TimeInForce.GTD, expire_at_ns=expire))
    restored = PaperVenue(
        {BTC: book}, clock, PaperVenueConfig(accounts={"main": {"USD": "1000000", "BTC": "5"}})
    )
    restored.restore(json.loads(json.dumps(paper.snapshot())))
    seen = []
    restored.set_event_handler(seen.append)
    restored.start()
    clock.advance(99)
    assert not of(seen, OrderExpired)
    clock.advance(1)
    assert [e.client_order_id for e in of(seen, OrderExpired)] == ["g1"]


def test_paper_snapshot_when_restored_then_round_trips_and_continues_identically(paper, submit, book, clock):
    paper.apply(submit("l1", Side.BUY, "0.5", "64999.00"))
    paper.apply(submit("m1", Side.BUY, "0.3"))
    paper.apply_trade(trade(clock, "64999.00", "0.4"))
    snap = paper.snapshot()
    restored = PaperVenue(
        {BTC: book}, clock, PaperVenueConfig(accounts={"main": {"USD": "1000000", "BTC": "5"}})
    )
    restored.restore(json.loads(json.dumps(snap)))
    assert restored.snapshot() == snap
    tick = trade(clock, "64999.00", "1.0")
    assert restored.apply_trade(tick) == paper.apply_trade(tick)
    assert restored.balances(MAIN) == paper.balances(MAIN)


def test_paper_order_lookup_when_rejected_for_unknown_instrument_then_reports_rejected(paper, submit):
    paper.apply(submit("u1", Side.BUY, "0.1", "10.00", instrument=InstrumentId("SIM:XYZ-USD")))
    state = paper.order(MAIN, ClientOrderId("u1"))
    assert (state.status, state.reason) == (OrderStatus.REJECTED, "UNKNOWN_INSTRUMENT")
