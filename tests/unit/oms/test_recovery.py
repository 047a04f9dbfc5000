"""Restore from journalled events and reconciliation with the venue after a crash."""

from __future__ import annotations

import asyncio

import pytest

from engine.core.commands import SubmitOrder
from engine.core.enums import OrderStatus, OrderType, Side
from engine.core.errors import StorageError
from engine.core.events import TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import ClientOrderId, TradeId
from engine.oms import OrderManager
from engine.oms.order import Order
from engine.venues.sim import default_instruments


def state(order: Order) -> tuple:
    return tuple(getattr(order, name) for name in Order.__slots__)


def fresh(h, kit, venue=None) -> tuple[OrderManager, object, object]:
    journal = kit.MemoryJournal()
    journal.records = []
    risk = kit.RuleRisk()
    oms = OrderManager(
        clock=h.clock, venue=venue or h.port, risk=risk, journal=journal, instruments=default_instruments()
    )
    return oms, journal, risk


async def test_restore_when_replaying_the_journal_then_equals_live_state(h, kit):
    kit.book(h, size="3")
    await h.oms.submit(kit.order("m1", Side.BUY, "0.4"))
    await h.oms.submit(kit.order("l1", Side.SELL, "1.0", "65500.0"))
    await h.oms.submit_bracket(
        kit.order("e", Side.BUY, "0.5", "65001.0"),
        kit.order("tp", Side.SELL, "0.5", "66000.0"),
        kit.order("sl", Side.SELL, "0.5", order_type=OrderType.STOP_MARKET, trigger="64000.0"),
    )
    await h.settle()
    await h.oms.amend(kit.amend("l1", qty="1.5"))
    h.market(kit.order("t1", Side.BUY, "0.6", account=kit.TK))
    await h.oms.cancel(kit.cancel("l1"))
    await h.settle()
    live = {o.key: state(o) for o in h.oms.orders()}
    assert len(live) == 5

    oms, _, risk = fresh(h, kit)
    oms.restore(h.journal.records)
    assert {o.key: state(o) for o in oms.orders()} == live
    assert oms.sequence == h.oms.sequence
    assert risk.open == h.risk.open
    assert [f.trade_id for f in risk.fills] == [f.trade_id for f in h.risk.fills]
    assert oms.order_list(kit.MAIN, ClientOrderId("sl")).list_id == "e"
    # the next event continues the sequence
    await oms.submit(kit.order("n1", Side.BUY, "0.1", "60000.0"))
    assert oms.sequence == h.oms.sequence + 2


async def test_restore_when_a_trailing_stop_is_in_the_journal_then_the_new_manager_trails_it(h, kit):
    # The market-data path skips the trailing pass until a trailing stop exists: one restored from
    # the journal exists, so the restarted manager must keep moving its trigger.
    await h.oms.submit_trailing_stop(
        kit.order("trail", Side.SELL, "0.5", order_type=OrderType.STOP_MARKET, trigger="64000.0"),
        offset_ticks=100,
    )
    await h.settle()
    oms, _, _ = fresh(h, kit)
    oms.restore(h.journal.records)
    h.oms = oms  # the venue's reports now reach the restarted manager
    now = h.clock.timestamp_ns()
    oms.on_trade(
        TradeTick(
            ts_event=now,
            ts_init=now,
            instrument_id=kit.BTC,
            price=Price("65000.0"),
            size=Quantity("0.1"),
            aggressor_side=Side.BUY,
            trade_id=TradeId("x1"),
        )
    )
    await h.settle()
    assert h.venue.order(kit.MAIN, ClientOrderId("trail")).trigger_price == Price("64990.0")
    assert oms.find(kit.MAIN, ClientOrderId("trail")).trigger_price == Price("64990.0")


async def test_restore_when_journal_has_a_gap_then_storage_error(h, kit):
    await h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0"))
    await h.settle()
    oms, _, _ = fresh(h, kit)
    with pytest.raises(StorageError) as err:
        oms.restore([h.journal.records[0], h.journal.records[2]])
    assert err.value.reason == "JOURNAL_SEQUENCE_GAP"


async def test_reconcile_when_acks_were_lost_then_venue_state_applied_and_nothing_resent(h, kit):
    kit.book(h, size="3")
    await h.oms.submit(kit.order("c1", Side.BUY, "0.2", "60000.0"))
    await h.settle()
    h.venue.set_event_handler(None)  # from here the venue's reports never reach the engine
    await h.oms.submit(kit.order("r1", Side.BUY, "0.5", "64000.0"))  # rests
    await h.oms.submit(kit.order("f1", Side.BUY, "0.5"))  # fills at 65001.0
    await h.oms.submit(kit.order("x1", Side.BUY, "0.5", "3000.00", instrument=kit.ETH))
    await h.oms.cancel(kit.cancel("c1"))
    await h.settle()
    # an intent journalled but never sent (the process died while waiting for durability)
    h.journal.hold = True
    pending = asyncio.ensure_future(h.oms.submit(kit.order("n1", Side.BUY, "0.1", "60000.0")))
    await asyncio.sleep(0)
    crashed_journal = list(h.journal.records)
    pending.cancel()
    sent_before = list(h.port.sent)

    oms, journal, _ = fresh(h, kit)
    oms.restore(crashed_journal)
    statuses = {o.client_order_id: o.status for o in oms.orders()}
    assert statuses == {
        "c1": OrderStatus.PENDING_CANCEL,
        "r1": OrderStatus.SUBMITTED,
        "f1": OrderStatus.SUBMITTED,
        "x1": OrderStatus.SUBMITTED,
        "n1": OrderStatus.SUBMITTED,
    }
    changed = await oms.reconcile(h.venue)
    assert {o.client_order_id for o in changed} == set(statuses)
    get = {o.client_order_id: o for o in oms.orders()}
    assert get["c1"].status is OrderStatus.CANCELED
    assert get["r1"].status is OrderStatus.ACCEPTED
    assert get["r1"].venue_order_id == h.venue.order(kit.MAIN, ClientOrderId("r1")).venue_order_id
    assert (get["f1"].status, get["f1"].filled_quantity) == (OrderStatus.FILLED, Quantity("0.5"))
    assert get["x1"].status is OrderStatus.ACCEPTED
    assert (get["n1"].status, get["n1"].reason) == (OrderStatus.REJECTED, "NOT_RECEIVED_BY_VENUE")
    # every order reached the venue exactly once and nothing was resent
    assert h.port.sent == sent_before
    submits = [c.client_order_id for c in sent_before if isinstance(c, SubmitOrder)]
    assert sorted(submits) == ["c1", "f1", "r1", "x1"]
    assert h.venue.order(kit.MAIN, ClientOrderId("n1")) is None
    # reconciled events continue the sequence and are journalled
    assert [e.sequence for e in journal.records] == list(
        range(len(crashed_journal) + 1, len(crashed_journal) + 1 + len(journal.records))
    )
    # reconciling again changes nothing
    assert await oms.reconcile(h.venue) == []


async def test_reconcile_when_bracket_entry_filled_while_down_then_exits_released(h, kit):
    kit.book(h, size="3")
    await h.oms.submit_bracket(
        kit.order("e", Side.BUY, "0.5", "65000.0"),
        kit.order("tp", Side.SELL, "0.5", "66000.0"),
        kit.order("sl", Side.SELL, "0.5", order_type=OrderType.STOP_MARKET, trigger="63000.0"),
    )
    await h.settle()
    h.venue.set_event_handler(None)
    h.venue.apply(kit.order("t1", Side.SELL, "0.5", account=kit.TK))  # the entry fills while we are down
    oms, _, _ = fresh(h, kit)
    oms.restore(h.journal.records)
    await oms.reconcile(h.venue)
    h.venue.set_event_handler(lambda e: oms.on_order_event(e) if hasattr(e, "client_order_id") else None)
    for _ in range(4):
        h.clock.advance(1)
        await oms.idle()
    tp = oms.get(kit.MAIN, ClientOrderId("tp"))
    assert (tp.status, tp.quantity) == (OrderStatus.ACCEPTED, Quantity("0.5"))
    assert oms.get(kit.MAIN, ClientOrderId("sl")).status is OrderStatus.ACCEPTED
