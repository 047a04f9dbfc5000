"""Order events in a backtest reach the strategies in one dispatch (the run's OMS subscriber calls the
strategy host directly), not through a bus topic per event. What the shortcut must keep: a strategy
sees every event of its orders, in journal order, and its book (position, open orders) is right; a
bus subscriber to ``events.order.<account>`` still gets every event; with none, nothing is published
(the work skipped is work nobody needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from engine.backtest import Backtest, BacktestConfig
from engine.core.enums import Side
from engine.core.events import OrderEvent, OrderFilled
from engine.strategy.api import BarView, Strategy

T0 = 1_700_000_000
#: open, high, low, close per 1-minute bar
BARS = [
    (100.0, 101.0, 99.0, 100.5),
    (101.0, 103.0, 100.0, 102.0),
    (102.5, 104.0, 98.0, 99.0),
    (99.5, 100.0, 97.0, 98.0),
    (98.0, 99.0, 96.0, 97.5),
    (97.0, 98.0, 95.0, 96.0),
]


def _csv(path: Path) -> str:
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{T0 + 60 * i},{o},{h},{lo},{c},10" for i, (o, h, lo, c) in enumerate(BARS)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class Busy(Strategy):
    """Market buy, a resting limit that fills on a later bar, a limit it cancels, a stop: every
    kind of order event a backtest produces (initialized ... filled, canceled, pending cancel)."""

    name = "busy"

    def on_start(self) -> None:
        self.n = 0
        self.iid = self.ctx.instruments[0]
        self.pos = self.ctx.position(self.iid)
        self.fills: list[OrderFilled] = []
        self.to_cancel: Any = None

    def on_bar(self, bar: BarView) -> None:
        ctx, iid = self.ctx, self.iid
        if self.n == 0:
            ctx.submit_market(iid, Side.BUY, ctx.quantity(iid, "2"))
            ctx.submit_limit(iid, Side.BUY, ctx.quantity(iid, "1"), ctx.price(iid, 98.5))
            self.to_cancel = ctx.submit_limit(iid, Side.BUY, ctx.quantity(iid, "1"), ctx.price(iid, 50.0))
        elif self.n == 1:
            ctx.cancel(self.to_cancel)
            ctx.submit_stop(iid, Side.SELL, ctx.quantity(iid, "1"), ctx.price(iid, 97.5))
        self.n += 1

    def on_fill(self, fill: OrderFilled) -> None:
        self.fills.append(fill)


class BusyWatching(Busy):
    """The same, and it overrides ``on_order_event``: then it gets every event."""

    name = "busy_watching"
    seen: ClassVar[list[OrderEvent]] = []

    def on_order_event(self, event: OrderEvent) -> None:
        type(self).seen.append(event)


class Observed(Backtest):
    """A backtest with a bus subscriber to its order events, registered before the run starts."""

    observed: list[OrderEvent]

    def _host_start(self) -> None:
        self.observed = []
        self.bus.subscribe("events.order.*", self.observed.append)
        super()._host_start()


def _strategy(bt: Backtest) -> Any:
    return bt.host.slots[0].strategy


def test_dispatch_a_strategy_that_watches_order_events_gets_every_event_in_journal_order(
    tmp_path: Path,
) -> None:
    BusyWatching.seen = []
    bt = Backtest(BusyWatching, [_csv(tmp_path / "b.csv")], BacktestConfig(fill="close"))
    result = bt.run()
    journal = bt.journal.records
    kinds = {type(e).__name__ for e in journal}
    assert {"OrderInitialized", "OrderSubmitted", "OrderAccepted", "OrderFilled"} <= kinds
    assert {"OrderPendingCancel", "OrderCanceled"} <= kinds
    assert [e.sequence for e in BusyWatching.seen] == [e.sequence for e in journal]
    assert BusyWatching.seen == journal
    assert result.metrics["fills"] == len(_strategy(bt).fills) == 3


def test_dispatch_without_on_order_event_the_strategy_book_and_fills_match_the_journal(
    tmp_path: Path,
) -> None:
    bt = Backtest(Busy, [_csv(tmp_path / "b.csv")], BacktestConfig(fill="close"))
    result = bt.run()
    strategy = _strategy(bt)
    journal_fills = [e for e in bt.journal.records if type(e) is OrderFilled]
    assert strategy.fills == journal_fills and len(journal_fills) == 3
    # bought 2 at market and 1 by the limit at 98.5, the stop sold 1: long 2 lots-of-1; the stop and
    # the two limits are done (one filled, one canceled), so nothing is open.
    step = strategy.pos.instrument.size_increment
    assert strategy.pos.quantity == 2 and strategy.pos.lots * step.raw == 2 * 10**step.precision
    assert strategy.pos.open_orders == 0 and strategy.ctx.open_orders() == []
    assert [o["status"] for o in result.orders] == ["FILLED", "FILLED", "CANCELED", "FILLED"]


def test_dispatch_with_no_bus_subscriber_nothing_is_published(tmp_path: Path) -> None:
    bt = Backtest(Busy, [_csv(tmp_path / "b.csv")], BacktestConfig(fill="close"))
    bt.run()
    assert len(bt.journal.records) > 10
    assert bt.bus.published_count == 0


def test_dispatch_a_bus_subscriber_still_gets_every_order_event(tmp_path: Path) -> None:
    data = [_csv(tmp_path / "b.csv")]
    bt = Observed(Busy, data, BacktestConfig(fill="close"))
    observed_result = bt.run()
    assert bt.observed == bt.journal.records and len(bt.observed) > 10
    # and the strategy decided exactly as without the subscriber
    plain = Backtest(Busy, data, BacktestConfig(fill="close")).run()
    assert observed_result.orders == plain.orders and observed_result.fills == plain.fills
