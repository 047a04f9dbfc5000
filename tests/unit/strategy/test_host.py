"""The strategy host: routing to several strategies on several instruments, the safe wrapper and
quarantine, timers, bar events, order-event bookkeeping, deterministic ids, restart resume."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from engine.core.clock import TimeEvent
from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.enums import OrderStatus, OrderType, Side
from engine.core.errors import NotFoundError, TradingHaltedError, ValidationError
from engine.core.events import Bar, OrderEvent, OrderFilled
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import ClientOrderId, StrategyId
from engine.strategy import BarView, Strategy, StrategyQuarantined

from .conftest import BTC, ETH, MAIN, MINUTE_NS, START_NS, Harness


class Recorder(Strategy):
    """Records every callback; optionally raises in on_bar or rests a limit order at start."""

    def on_start(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.raise_on_bar = False

    def on_bar(self, bar: BarView) -> None:
        self.seen.append(("bar", (bar.instrument_id, bar.close)))
        if self.raise_on_bar:
            raise RuntimeError("bad strategy")

    def on_order_event(self, event: OrderEvent) -> None:
        self.seen.append(("event", type(event).__name__))

    def on_fill(self, fill: OrderFilled) -> None:
        self.seen.append(("fill", str(fill.last_quantity)))

    def on_timer(self, event: TimeEvent) -> None:
        self.seen.append(("timer", (event.name, event.ts_event)))


class Other(Recorder):
    pass


def test_host_when_two_strategies_on_two_instruments_then_each_gets_only_its_bars() -> None:
    h = Harness()
    a = h.host.add(Recorder, instruments=[BTC], strategy_id="a")
    b = h.host.add(Other, instruments=[BTC, ETH], strategy_id="b")
    h.host.start()
    h.bar("100", instrument=BTC)
    h.bar("20", instrument=ETH)
    assert a.strategy.seen == [("bar", (BTC, 100.0))]
    assert b.strategy.seen == [("bar", (BTC, 100.0)), ("bar", (ETH, 20.0))]
    assert h.host.instrument_ids() == [BTC, ETH]


def test_host_when_duplicate_id_or_unknown_instrument_then_refused() -> None:
    h = Harness()
    h.host.add(Recorder, instruments=[BTC], strategy_id="a")
    with pytest.raises(ValidationError, match="already hosted"):
        h.host.add(Other, instruments=[BTC], strategy_id="a")
    with pytest.raises(ValidationError, match="SIM:XRP-USD is not a known instrument"):
        h.host.add(Other, instruments=["SIM:XRP-USD"], strategy_id="c")
    with pytest.raises(ValidationError, match="longer than 24"):
        h.host.add(Other, instruments=[BTC], strategy_id="x" * 25)
    assert [s.strategy_id for s in h.host.slots] == ["a"]


def test_orders_when_submitted_then_ids_are_strategy_and_counter_and_book_follows_fills() -> None:
    h = Harness()
    slot = h.host.add(Recorder, instruments=[BTC], strategy_id="rec")
    h.host.start()
    h.bar("100")
    ctx = slot.ctx
    first = ctx.submit_market(BTC, Side.BUY, Quantity("1.5"))
    second = ctx.submit_limit(BTC, Side.SELL, Quantity("0.5"), Price("200.0"))
    assert (first, second) == ("rec-1", "rec-2")
    pos = ctx.position(BTC)
    assert pos.open_orders == 2
    h.router.flush()
    assert pos.lots == 150_000 and pos.quantity == Decimal("1.50000") and pos.open_orders == 1
    assert ctx.open_orders() == [ClientOrderId("rec-2")]
    assert slot.strategy.seen[1:] == [
        ("event", "OrderInitialized"),
        ("event", "OrderSubmitted"),
        ("event", "OrderAccepted"),
        ("event", "OrderFilled"),
        ("fill", "1.5"),
        ("event", "OrderInitialized"),
        ("event", "OrderSubmitted"),
        ("event", "OrderAccepted"),
    ]
    ctx.cancel(second)
    ctx.cancel(second)  # already pending: no second command
    assert sum(isinstance(c, CancelOrder) for c in h.router.commands) == 1
    h.router.flush()
    assert pos.open_orders == 0 and ctx.open_orders() == []
    with pytest.raises(NotFoundError):
        ctx.cancel(second)
    assert h.portfolio.balances(MAIN)["USD"] == Money("9850", "USD")


def test_quantity_when_float_or_off_lot_then_refused_before_anything_is_sent() -> None:
    h = Harness()
    ctx = h.host.add(Recorder, instruments=[BTC], strategy_id="rec").ctx
    with pytest.raises(ValidationError, match="not a float"):
        ctx.quantity(BTC, 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^quantity: "):
        ctx.submit_market(BTC, Side.BUY, Quantity("0.000001"))
    assert h.router.commands == [] and ctx.open_orders() == []
    assert ctx.submit_market(BTC, Side.BUY, Quantity("1")) == "rec-1"  # the failed one used no id


def test_exceptions_when_below_max_then_counted_at_max_then_quarantined_and_orders_canceled() -> None:
    h = Harness()
    bad = h.host.add(Recorder, instruments=[BTC], strategy_id="bad")
    good = h.host.add(Other, instruments=[BTC], strategy_id="good")
    h.host.start()
    resting = bad.ctx.submit_limit(BTC, Side.BUY, Quantity("1"), Price("50.0"))
    h.router.flush()
    bad.strategy.raise_on_bar = True
    h.bar("100")
    h.bar("101")
    assert bad.errors == 2 and bad.active and h.host.error_count == 2
    h.bar("102")  # third error: max_errors = 3
    assert not bad.active and h.host.quarantine_count == 1
    [(topic, event)] = h.published
    assert topic == "events.strategy" and isinstance(event, StrategyQuarantined)
    assert event.strategy_id == StrategyId("bad") and event.errors == 3 and event.callback == "on_bar"
    assert event.canceled_orders == 1 and "RuntimeError: bad strategy" in event.last_error
    assert [c.client_order_id for c in h.router.commands if isinstance(c, CancelOrder)] == [resting]
    h.bar("103")
    assert len([s for s in bad.strategy.seen if s[0] == "bar"]) == 3  # no more callbacks
    assert [s[1][1] for s in good.strategy.seen if s[0] == "bar"] == [100.0, 101.0, 102.0, 103.0]
    assert bad.ctx.open_orders() == []  # the cancel's event still reached its book


def test_on_start_when_raises_then_quarantined_at_once() -> None:
    class Broken(Strategy):
        def on_start(self) -> None:
            raise ValueError("no")

        def on_bar(self, bar: BarView) -> None:  # pragma: no cover - never called
            raise AssertionError

    h = Harness()
    slot = h.host.add(Broken, instruments=[BTC])
    h.host.start()
    h.bar("100")
    assert slot.quarantined and slot.errors == 1 and h.published[0][1].callback == "on_start"


def test_timers_when_clock_advances_then_on_timer_with_the_strategy_name() -> None:
    class Ticker(Recorder):
        def on_start(self) -> None:
            super().on_start()
            self.ctx.set_timer("beat", 1_000)
            self.ctx.set_alert("once", START_NS + 2_500)

    h = Harness()
    slot = h.host.add(Ticker, instruments=[BTC])
    h.host.start()
    h.clock.advance(3_000)
    assert slot.strategy.seen == [
        ("timer", ("beat", START_NS + 1_000)),
        ("timer", ("beat", START_NS + 2_000)),
        ("timer", ("once", START_NS + 2_500)),
        ("timer", ("beat", START_NS + 3_000)),
    ]
    h.host.quarantine(slot, "test")
    assert h.clock.timer_names() == []


def test_bar_event_when_exact_prices_then_same_floats_and_revisions_skipped() -> None:
    h = Harness()
    slot = h.host.add(Recorder, instruments=[BTC])
    h.host.start()
    bar = Bar(
        ts_event=START_NS + MINUTE_NS,
        ts_init=START_NS + MINUTE_NS,
        instrument_id=BTC,
        interval_ns=MINUTE_NS,
        ts_open=START_NS,
        open=Price("46216.9"),
        high=Price("46300.1"),
        low=Price("46100.0"),
        close=Price("46216.93"),
        volume=Quantity("12.345"),
        trade_count=7,
    )
    h.host.on_bar(bar)
    view = h.host.bar_view(BTC, MINUTE_NS)
    assert (view.open, view.high, view.low, view.close, view.volume) == (
        46216.9,
        46300.1,
        46100.0,
        46216.93,
        12.345,
    )
    assert (view.ts_open, view.ts_event, view.trade_count, view.interval_ns) == (
        START_NS,
        START_NS + MINUTE_NS,
        7,
        MINUTE_NS,
    )
    h.host.on_bar(Bar(**{**{f: getattr(bar, f) for f in bar.__dataclass_fields__}, "revision": 1}))
    assert len(slot.strategy.seen) == 1 and h.host.bar_revisions_skipped == 1


def test_bar_interval_when_set_then_only_that_interval_reaches_the_strategy() -> None:
    h = Harness()
    minute = h.host.add(Recorder, instruments=[BTC], strategy_id="m", bar_interval_ns=MINUTE_NS)
    every = h.host.add(Other, instruments=[BTC], strategy_id="all")
    h.host.start()
    h.host.bar_pusher(BTC, 1_000_000_000)(0, 1, 1.0, 1.0, 1.0, 1.0, 1.0, 1)
    h.host.bar_pusher(BTC, MINUTE_NS)(0, 2, 2.0, 2.0, 2.0, 2.0, 1.0, 1)
    assert minute.strategy.seen == [("bar", (BTC, 2.0))]
    assert every.strategy.seen == [("bar", (BTC, 1.0)), ("bar", (BTC, 2.0))]


def test_order_events_when_not_ours_then_ignored_and_counted() -> None:
    h = Harness()
    h.host.add(Recorder, instruments=[BTC], strategy_id="mine")
    h.host.start()
    other = Harness()
    other.host.add(Recorder, instruments=[BTC], strategy_id="theirs")
    other.host.start()
    other.router.host = h.host  # deliver the other host's events to this one
    other.host.slot("theirs").ctx.submit_limit(BTC, Side.BUY, Quantity("1"), Price("1.0"))
    other.router.flush()
    assert h.host.foreign_events == 3


def test_intent_failed_when_router_reports_then_order_forgotten() -> None:
    h = Harness()
    slot = h.host.add(Recorder, instruments=[BTC], strategy_id="s")
    coid = slot.ctx.submit_limit(BTC, Side.BUY, Quantity("1"), Price("1.0"))
    h.host._intent_failed(coid, TradingHaltedError("halted"))
    assert slot.ctx.open_orders() == [] and slot.ctx.position(BTC).open_orders == 0


class _Order:
    def __init__(self, sid: str, coid: str, side: Side, qty: str, filled: str, status: OrderStatus) -> None:
        self.account_id = MAIN
        self.strategy_id = StrategyId(sid)
        self.client_order_id = ClientOrderId(coid)
        self.instrument_id = BTC
        self.side = side
        self.quantity = Quantity(qty)
        self.filled_quantity = Quantity(filled)
        self.status = status
        self.is_open = status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)


def test_resume_when_restarted_then_ids_continue_and_book_is_rebuilt() -> None:
    h = Harness()
    slot = h.host.add(Recorder, instruments=[BTC], strategy_id="s")
    h.host.resume(
        [
            _Order("s", "s-1", Side.BUY, "2", "2", OrderStatus.FILLED),
            _Order("s", "s-7", Side.SELL, "1", "0.5", OrderStatus.PARTIALLY_FILLED),
            _Order("manual", "m-99", Side.BUY, "3", "3", OrderStatus.FILLED),
        ]
    )
    pos = slot.ctx.position(BTC)
    assert pos.quantity == Decimal("1.50000") and pos.open_orders == 1
    assert slot.ctx.open_orders() == ["s-7"]
    assert slot.ctx.submit_market(BTC, Side.SELL, Quantity("1")) == "s-8"


def test_context_prices_and_all_in_sizing_are_exact() -> None:
    from engine.venues.sim import default_instruments

    h = Harness(cash="1000", instruments=default_instruments())  # BTC taker fee 5 bps
    ctx = h.host.add(Recorder, instruments=[BTC]).ctx
    assert ctx.price(BTC, 46216.93) == Price("46216.9")  # nearest tick of 0.1 (off-grid float)
    assert ctx.price(BTC, 0.1 + 0.2) == Price("0.3")  # binary noise on the grid
    assert ctx.price(BTC, 100.04, "up") == Price("100.1")
    assert ctx.price(BTC, 100.06, "down") == Price("100.0")
    assert ctx.price(BTC, "100.05") == Price("100.0")  # half even
    # 1000 / (100 * 1.0005) = 9.995002.. -> 9.99500 (lot 0.00001, rounded down)
    assert ctx.all_in_quantity(BTC, Price("100")) == Quantity("9.99500")
    assert ctx.all_in_quantity(BTC, Price("100"), Money("0.0001", "USD")) == Quantity("0")
    assert ctx.all_in_quantity(BTC, Price("1"), Money("10000000", "USD")) == Quantity("1000")  # max_quantity
    assert ctx.cash() == Money("1000", "USD") and ctx.cash("EUR") == Money("0", "EUR")


def test_bracket_when_submitted_then_three_ids_and_exits_tracked_when_released() -> None:
    h = Harness()
    ctx = h.host.add(Recorder, instruments=[BTC], strategy_id="br").ctx
    h.host.start()
    h.bar("100")
    entry = ctx.submit_bracket(
        BTC, Side.BUY, Quantity("1"), take_profit=Price("110.0"), stop_loss=Price("90.0")
    )
    assert entry == "br-1"
    [(e, tp, sl)] = h.router.commands
    assert isinstance(e, SubmitOrder) and (tp.client_order_id, sl.client_order_id) == ("br-2", "br-3")
    assert tp.order_type is OrderType.LIMIT and sl.order_type is OrderType.STOP_MARKET
    assert tp.side is sl.side is Side.SELL
    h.router.flush()  # the entry fills; the OMS would now release the exits as OrderInitialized
    assert ctx.position(BTC).lots == 100_000
    h.router.pending.append(tp)
    h.router.fill_market = False
    h.router.flush()
    assert ctx.open_orders() == ["br-2"]


def test_attach_when_bus_publishes_market_data_then_routed_by_instrument() -> None:
    from engine.bus import MessageBus
    from engine.core.events import OrderBookUpdated, QuoteTick, TradeTick
    from engine.core.ids import TradeId

    class Taps(Strategy):
        def on_start(self) -> None:
            self.seen: list[str] = []

        def on_trade(self, tick: TradeTick) -> None:
            self.seen.append(f"trade {tick.instrument_id} {tick.price}")

        def on_quote(self, tick: QuoteTick) -> None:
            self.seen.append(f"quote {tick.instrument_id} {tick.bid_price}/{tick.ask_price}")

        def on_book(self, book: Any) -> None:
            self.seen.append(f"book {book.instrument_id} {book.sequence}")

        def on_bar(self, bar: BarView) -> None:
            self.seen.append(f"bar {bar.instrument_id} {bar.close}")

    h = Harness()
    bus = MessageBus()
    slot = h.host.add(Taps, instruments=[ETH], strategy_id="taps")
    h.host.attach(bus)
    h.host.start()
    ts = START_NS
    for iid in (BTC, ETH):
        bus.publish(
            f"data.trades.{iid}",
            TradeTick(
                ts_event=ts, ts_init=ts, instrument_id=iid, price=Price("10"), size=Quantity("1"),
                aggressor_side=Side.BUY, trade_id=TradeId("t1"),
            ),
        )  # fmt: skip
        bus.publish(
            f"data.quotes.{iid}",
            QuoteTick(
                ts_event=ts, ts_init=ts, instrument_id=iid, bid_price=Price("9"), bid_size=Quantity("1"),
                ask_price=Price("11"), ask_size=Quantity("1"),
            ),
        )  # fmt: skip
        bus.publish(
            f"data.books.{iid}",
            OrderBookUpdated(ts_event=ts, ts_init=ts, instrument_id=iid, sequence=5, is_snapshot=False),
        )
        bus.publish(
            f"data.bars.{iid}",
            Bar(
                ts_event=ts + MINUTE_NS, ts_init=ts, instrument_id=iid, interval_ns=MINUTE_NS, ts_open=ts,
                open=Price("10"), high=Price("10"), low=Price("10"), close=Price("10.5"), volume=Quantity("1"),
                trade_count=1,
            ),
        )  # fmt: skip
    assert slot.strategy.seen == [f"trade {ETH} 10", f"quote {ETH} 9/11", f"book {ETH} 5", f"bar {ETH} 10.5"]
    h.host.stop()
    assert bus.subscriptions() == []  # detached


def test_add_when_user_init_breaks_the_interface_then_validation_error_and_nothing_added() -> None:
    class OwnInit(Strategy):
        def __init__(self, ctx: Any) -> None:  # forgets params
            super().__init__(ctx)

    h = Harness()
    with pytest.raises(ValidationError, match="OwnInit could not be created: TypeError"):
        h.host.add(OwnInit, instruments=[BTC])
    assert h.host.slots == []


def test_bar_pusher_with_one_strategy_when_it_raises_then_quarantined_and_no_more_bars() -> None:
    # One strategy on the instrument: the pusher calls it without its handler loop (the backtest's
    # fast path); errors, quarantine and the end of its callbacks work as with several.
    h = Harness()
    bad = h.host.add(Recorder, instruments=[BTC], strategy_id="bad")
    h.host.start()
    h.bar("100")
    bad.strategy.raise_on_bar = True
    h.bar("101")
    h.bar("102")
    assert bad.errors == 2 and bad.active
    h.bar("103")  # third error: max_errors = 3
    assert not bad.active and h.host.quarantine_count == 1
    h.bar("104")
    assert [s[1][1] for s in bad.strategy.seen if s[0] == "bar"] == [100.0, 101.0, 102.0, 103.0]
    assert bad.errors == 3 and h.host.error_count == 3
