"""A journal that is durable on append (its ``append`` returns None, as the backtester's): the manager
sends, amends and cancels as with any durable journal, and never reads that None as "a cancel is
already pending"."""

from __future__ import annotations

from engine.core.enums import OrderStatus, Side
from engine.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
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
