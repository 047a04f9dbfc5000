"""Subscribers that name the event kinds they take, and a journal that is durable on append (its
``append`` returns None, as the backtester's): the manager sends, amends and cancels as with any
durable journal, and never reads that None as "a cancel is already pending"."""

from __future__ import annotations

from engine.core.enums import OrderStatus, Side
from engine.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderSubmitted,
    OrderUpdated,
)
from engine.core.fixed import Quantity
from engine.oms import OrderManager
from engine.venues.sim import default_instruments


class DurableOnAppend:
    """A journal whose appends are durable when they return (so ``append`` returns None)."""

    def __init__(self) -> None:
        self.records: list[OrderEvent] = []
        self.append = self.records.append

    def commit_pending(self) -> bool:
        return True


async def test_subscriber_with_kinds_when_order_fills_then_gets_only_those_kinds_in_order(h, kit):
    kit.book(h)
    fills: list[OrderEvent] = []
    some: list[OrderEvent] = []
    order: list[str] = []
    h.oms.subscribe(fills.append, kinds=[OrderFilled])
    h.oms.subscribe(some.append, kinds={OrderInitialized, OrderFilled})
    # three subscribers of one kind, interleaved with one of every kind: called in subscription order
    h.oms.subscribe(lambda e: order.append("a"), kinds=[OrderFilled])
    every: list[OrderEvent] = []
    unsubscribe = h.oms.subscribe(lambda e: (every.append(e), order.append("all")))
    h.oms.subscribe(lambda e: order.append("b"), kinds=[OrderFilled])

    await h.oms.submit(kit.order("m1", Side.BUY, "0.5"))
    await h.settle()

    assert [type(e) for e in every] == [OrderInitialized, OrderSubmitted, OrderAccepted, OrderFilled]
    assert every == h.published == h.journal.records
    assert fills == [every[3]]
    assert some == [every[0], every[3]]
    assert order == ["all", "all", "all", "a", "all", "b"]

    unsubscribe()
    await h.oms.submit(kit.order("m2", Side.BUY, "0.1"))
    await h.settle()
    assert len(every) == 4  # unsubscribed: nothing more
    assert [type(e) for e in fills] == [OrderFilled, OrderFilled]
    assert [type(e) for e in some] == [OrderInitialized, OrderFilled] * 2
    assert order[6:] == ["a", "b"]  # the remaining kind subscribers, in order
    assert h.published == h.journal.records  # the harness's own subscriber saw every event


async def test_journal_durable_on_append_when_amend_and_cancel_then_sent_and_applied(h, kit):
    journal = DurableOnAppend()
    oms = OrderManager(
        clock=h.clock,
        venue=h.venue,
        risk=kit.RuleRisk(),
        journal=journal,
        instruments=default_instruments(),
    )
    seen: list[OrderEvent] = []
    oms.subscribe(seen.append)
    h.venue.set_event_handler(lambda e: oms.on_order_event(e) if isinstance(e, OrderEvent) else None)

    order = oms.submit_nowait(kit.order("o1", Side.BUY, "0.5", "64000.0"))
    await h.settle()
    assert order.status is OrderStatus.ACCEPTED
    await oms.amend(kit.amend("o1", qty="0.4"))
    await h.settle()
    assert order.quantity == Quantity("0.4")
    await oms.cancel(kit.cancel("o1"))  # the journal returned None: the cancel still leaves
    await h.settle()
    assert order.status is OrderStatus.CANCELED
    assert [type(e) for e in journal.records] == [
        OrderInitialized,
        OrderSubmitted,
        OrderAccepted,
        OrderPendingUpdate,
        OrderUpdated,
        OrderPendingCancel,
        OrderCanceled,
    ]
    assert [e.sequence for e in journal.records] == list(range(1, 8))
    assert seen == journal.records
