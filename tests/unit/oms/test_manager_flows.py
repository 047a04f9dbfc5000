"""OrderManager end to end against the real SimVenue: lifecycle, idempotency, journal-before-send,
sequencing, bad input."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from engine.core.commands import CancelAllOrders
from engine.core.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.core.errors import DuplicateError, NotFoundError, PreconditionError, ValidationError
from engine.core.events import (
    OrderDenied,
    OrderExpired,
    OrderInitialized,
    OrderSubmitted,
)
from engine.core.fixed import Price, Quantity
from engine.core.ids import ClientOrderId, InstrumentId


def kinds(events, coid):
    return [type(e).__name__ for e in events if e.client_order_id == coid]


async def test_manager_limit_order_when_accepted_then_working_and_sequenced(h, kit):
    order = await h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0"))
    assert order.status is OrderStatus.SUBMITTED
    await h.settle()
    assert order.status is OrderStatus.ACCEPTED
    assert order.venue_order_id is not None
    assert kinds(h.journal.records, "o1") == ["OrderInitialized", "OrderSubmitted", "OrderAccepted"]
    assert [e.sequence for e in h.journal.records] == [1, 2, 3]
    assert h.published == h.journal.records
    assert h.risk.open == {order.key}


async def test_manager_market_order_when_book_fills_it_then_filled_in_two_fills(h, kit):
    kit.book(h, ask="65001.0", size="0.3")
    h.market(kit.order("mm-ask2", Side.SELL, "1.0", "65002.0", account=kit.MM))
    order = await h.oms.submit(kit.order("m1", Side.BUY, "0.5"))
    await h.settle()
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == Quantity("0.5")
    assert kinds(h.published, "m1") == [
        "OrderInitialized",
        "OrderSubmitted",
        "OrderAccepted",
        "OrderFilled",
        "OrderFilled",
    ]
    assert [f.last_price for f in h.risk.fills] == [Price("65001.0"), Price("65002.0")]
    assert h.risk.open == set()


async def test_manager_resting_order_when_partially_then_fully_filled_then_statuses_follow(h, kit):
    order = await h.oms.submit(kit.order("o1", Side.SELL, "1.0", "65000.0"))
    await h.settle()
    h.market(kit.order("t1", Side.BUY, "0.4", account=kit.MM))
    assert (order.status, order.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, Quantity("0.4"))
    assert order.leaves_quantity == Quantity("0.6")
    h.market(kit.order("t2", Side.BUY, "0.6", account=kit.MM))
    assert order.status is OrderStatus.FILLED
    assert order.leaves_quantity.is_zero()


async def test_manager_cancel_when_working_then_pending_then_canceled(h, kit):
    order = await h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0"))
    await h.settle()
    await h.oms.cancel(kit.cancel("o1"))
    assert order.status is OrderStatus.PENDING_CANCEL
    await h.settle()
    assert order.status is OrderStatus.CANCELED
    assert kinds(h.published, "o1")[-2:] == ["OrderPendingCancel", "OrderCanceled"]
    assert h.venue.order(kit.MAIN, ClientOrderId("o1")).status is OrderStatus.CANCELED
    with pytest.raises(PreconditionError) as err:
        await h.oms.cancel(kit.cancel("o1"))
    assert err.value.reason == "ORDER_CLOSED"
    with pytest.raises(PreconditionError) as err:
        await h.oms.amend(kit.amend("o1", qty="1.0"))
    assert err.value.reason == "ORDER_CLOSED"


async def test_manager_cancel_when_sent_right_after_submit_then_waits_and_cancels(h, kit):
    h.journal.hold = True
    submit = asyncio.ensure_future(h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0")))
    await asyncio.sleep(0)
    cancel = asyncio.ensure_future(h.oms.cancel(kit.cancel("o1")))
    await asyncio.sleep(0)
    assert h.port.sent == []
    h.journal.release()
    await asyncio.gather(submit, cancel)
    await h.settle()
    assert [type(c).__name__ for c in h.port.sent] == ["SubmitOrder", "CancelOrder"]
    assert h.oms.get(kit.MAIN, ClientOrderId("o1")).status is OrderStatus.CANCELED


async def test_manager_amend_when_working_then_pending_update_then_updated(h, kit):
    order = await h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0"))
    await h.settle()
    await h.oms.amend(kit.amend("o1", qty="0.7", price="64100.0"))
    assert order.status is OrderStatus.PENDING_UPDATE
    with pytest.raises(PreconditionError) as err:
        await h.oms.amend(kit.amend("o1", qty="0.8"))
    assert err.value.reason == "UPDATE_PENDING"
    await h.settle()
    assert order.status is OrderStatus.ACCEPTED
    assert (order.quantity, order.price) == (Quantity("0.7"), Price("64100.0"))
    assert kinds(h.published, "o1")[-2:] == ["OrderPendingUpdate", "OrderUpdated"]


async def test_manager_amend_when_venue_rejects_then_back_to_working_with_reason(h, kit):
    order = await h.oms.submit(kit.order("o1", Side.SELL, "1.0", "65000.0"))
    await h.settle()
    h.market(kit.order("t1", Side.BUY, "0.4", account=kit.MM))
    # below-filled is refused locally; a venue-side reject: post-only style price through the book
    with pytest.raises(PreconditionError) as err:
        await h.oms.amend(kit.amend("o1", qty="0.4"))
    assert err.value.reason == "AMEND_QUANTITY_BELOW_FILLED"
    await h.oms.amend(kit.amend("o1", qty="5000"))
    await h.settle()
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.reason == "ABOVE_MAX_QUANTITY"
    assert order.quantity == Quantity("1.0")


async def test_manager_gtd_order_when_time_passes_then_expired(h, kit):
    expire = kit.START_NS + 1_000_000
    cmd = kit.order("o1", Side.BUY, "0.5", "64000.0", tif=TimeInForce.GTD, expire_at_ns=expire)
    order = await h.oms.submit(cmd)
    await h.settle()
    assert order.status is OrderStatus.ACCEPTED
    h.clock.advance_to(expire + 1)
    await h.settle()
    assert order.status is OrderStatus.EXPIRED
    assert isinstance(h.published[-1], OrderExpired)
    assert h.risk.open == set()


async def test_manager_duplicate_client_order_id_when_submitted_again_then_original_and_not_resent(h, kit):
    order = await h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0"))
    await h.settle()
    before = len(h.journal.records)
    with pytest.raises(DuplicateError) as err:
        await h.oms.submit(kit.order("o1", Side.SELL, "9", "70000.0"))
    assert err.value.original is order
    assert err.value.reason == "DUPLICATE_CLIENT_ORDER_ID"
    assert len(h.port.sent) == 1
    assert len(h.journal.records) == before
    # the same id on another account is another order
    other = await h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0", account=kit.MM))
    assert other is not order


async def test_manager_duplicate_id_reject_from_venue_when_received_then_original_untouched(h, kit):
    order = await h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0"))
    await h.settle()
    # a second submit with the same id reaching the venue by another path: the venue rejects it
    # under the same client order id; that reject is about the second submit, not our order
    for event in h.venue.apply(kit.order("o1", Side.BUY, "0.1", "60000.0")):
        h.route(event)
    assert order.status is OrderStatus.ACCEPTED
    assert h.oms.duplicate_id_rejects == 1


async def test_manager_risk_denial_when_too_large_then_denied_and_never_sent(kit):
    h = kit.make(max_quantity=Quantity("1"))
    order = await h.oms.submit(kit.order("big", Side.BUY, "2", "64000.0"))
    assert order.status is OrderStatus.DENIED
    assert (order.reason, order.detail) == ("RISK_MAX_ORDER_QUANTITY", "2 > 1")
    assert [type(e) for e in h.journal.records] == [OrderInitialized, OrderDenied]
    await h.settle()
    assert h.port.sent == []
    assert h.venue.order(kit.MAIN, ClientOrderId("big")) is None
    with pytest.raises(DuplicateError):
        await h.oms.submit(kit.order("big", Side.BUY, "0.1", "64000.0"))


async def test_manager_submit_when_sent_then_journal_already_holds_the_intent(h, kit):
    h.journal.hold = True
    task = asyncio.ensure_future(h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0")))
    for _ in range(5):
        await asyncio.sleep(0)
        h.clock.advance(1)
    assert h.port.sent == []  # not durable yet: not sent
    assert h.venue.order(kit.MAIN, ClientOrderId("o1")) is None
    h.journal.release()
    await task
    held = h.port.journal_at_send[0]
    assert [type(e) for e in held] == [OrderInitialized, OrderSubmitted]
    assert held[0].client_order_id == "o1"
    await h.settle()
    assert h.venue.order(kit.MAIN, ClientOrderId("o1")).status is OrderStatus.ACCEPTED


async def test_manager_journal_failure_when_submitting_then_not_sent_and_halted(h, kit):
    from engine.core.errors import StorageError, TradingHaltedError

    h.journal.fail = StorageError("disk full")
    with pytest.raises(StorageError):
        await h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0"))
    assert h.port.sent == []
    assert h.oms.get(kit.MAIN, ClientOrderId("o1")).status is OrderStatus.REJECTED
    assert h.oms.is_halted
    h.journal.fail = None
    with pytest.raises(TradingHaltedError):
        await h.oms.submit(kit.order("o2", Side.BUY, "0.5", "64000.0"))


async def test_manager_sequence_when_many_orders_then_monotonic_without_gaps(h, kit):
    kit.book(h, size="5")
    for i in range(10):
        side = Side.BUY if i % 2 else Side.SELL
        await h.oms.submit(kit.order(f"o{i}", side, "0.1", "65000.0" if i % 3 else None))
    await h.settle()
    for i in range(0, 10, 4):
        order = h.oms.get(kit.MAIN, ClientOrderId(f"o{i}"))
        if order.is_open:
            await h.oms.cancel(kit.cancel(f"o{i}"))
    await h.settle()
    sequences = [e.sequence for e in h.published]
    assert sequences == list(range(1, len(sequences) + 1))
    assert h.oms.sequence == sequences[-1]
    assert [e.sequence for e in h.journal.records] == sequences


async def test_manager_cancel_all_when_filtered_by_side_then_only_those_canceled(h, kit):
    await h.oms.submit(kit.order("b1", Side.BUY, "0.1", "60000.0"))
    await h.oms.submit(kit.order("b2", Side.BUY, "0.1", "60001.0"))
    await h.oms.submit(kit.order("s1", Side.SELL, "0.1", "70000.0"))
    await h.oms.submit(kit.order("e1", Side.BUY, "0.1", "3000.00", instrument=kit.ETH))
    await h.settle()
    canceled = await h.oms.cancel_all(
        CancelAllOrders(ts_init=0, account_id=kit.MAIN, instrument_id=kit.BTC, side=Side.BUY)
    )
    assert sorted(o.client_order_id for o in canceled) == ["b1", "b2"]
    await h.settle()
    status = {o.client_order_id: o.status for o in h.oms.orders()}
    assert status == {
        "b1": OrderStatus.CANCELED,
        "b2": OrderStatus.CANCELED,
        "s1": OrderStatus.ACCEPTED,
        "e1": OrderStatus.ACCEPTED,
    }


async def test_manager_stop_order_when_triggered_and_filled_then_filled(h, kit):
    kit.book(h, bid="64999.0", ask="65001.0", size="2")
    stop = await h.oms.submit(
        kit.order("st", Side.SELL, "0.5", order_type=OrderType.STOP_MARKET, trigger="64999.0")
    )
    await h.settle()
    assert stop.status is OrderStatus.ACCEPTED
    h.market(kit.order("t", Side.SELL, "0.1", account=kit.TK))  # trades at 64999.0
    await h.settle()
    assert stop.status is OrderStatus.FILLED


# -- bad input: the right error, nothing changes ----------------------------------------------------
async def test_manager_bad_input_when_submitted_then_error_and_no_state_change(h, kit):
    await h.oms.submit(kit.order("ok", Side.BUY, "0.1", "60000.0"))
    snapshot = (len(h.journal.records), h.oms.sequence, len(h.oms.orders()), len(h.port.sent), h.risk.checks)
    with pytest.raises(ValidationError) as err:
        await h.oms.submit(
            kit.order("x1", Side.BUY, "0.1", "60000.0", instrument=InstrumentId("SIM:DOGE-USD"))
        )
    assert (err.value.field, err.value.reason) == ("instrument_id", "UNKNOWN_INSTRUMENT")
    with pytest.raises(ValidationError) as err:
        await h.oms.submit(kit.order("x2", Side.BUY, "0.1", "60000.05"))
    assert (err.value.field, err.value.reason) == ("price", "PRICE_OFF_TICK")
    with pytest.raises(ValidationError) as err:
        await h.oms.submit(kit.order("x3", Side.BUY, "0.000001", "60000.0"))
    assert (err.value.field, err.value.reason) == ("quantity", "SIZE_OFF_INCREMENT")
    with pytest.raises(ValidationError) as err:
        kit.order("x4", Side.BUY, "0", "60000.0")
    assert err.value.field == "quantity"
    with pytest.raises(ValueError, match="must not be negative"):
        Quantity("-1")
    with pytest.raises(ValidationError) as err:
        dataclasses.replace(kit.order("x5", Side.BUY, "1", "60000.0"), price=Price("-5"))
    assert err.value.field == "price"
    with pytest.raises(NotFoundError):
        await h.oms.cancel(kit.cancel("nope"))
    with pytest.raises(NotFoundError):
        await h.oms.amend(kit.amend("nope", qty="1"))
    with pytest.raises(NotFoundError):
        h.oms.get(kit.MAIN, ClientOrderId("nope"))
    await h.settle()
    with pytest.raises(ValidationError) as err:
        await h.oms.amend(kit.amend("ok", price="60000.01"))
    assert err.value.reason == "PRICE_OFF_TICK"
    with pytest.raises(ValidationError) as err:
        await h.oms.amend(kit.amend("ok", trigger="60000.0"))
    assert err.value.field == "trigger_price"
    after = (len(h.journal.records), h.oms.sequence, len(h.oms.orders()), len(h.port.sent), h.risk.checks)
    assert after[:2] == (snapshot[0] + 1, snapshot[1] + 1)  # only ok's OrderAccepted arrived
    assert after[2:] == snapshot[2:]


async def test_manager_risk_denied_cancel_when_requested_then_precondition_and_unchanged(h, kit):
    from engine.core.errors import RiskDeniedError

    order = await h.oms.submit(kit.order("o1", Side.BUY, "0.5", "64000.0"))
    await h.settle()
    h.risk.deny_cancels = True
    with pytest.raises(RiskDeniedError) as err:
        await h.oms.cancel(kit.cancel("o1"))
    assert err.value.reason == "RISK_CANCEL_DENIED"
    assert order.status is OrderStatus.ACCEPTED


async def test_manager_unknown_venue_event_when_received_then_ignored(h, kit):
    h.market(kit.order("mm1", Side.BUY, "0.5", "60000.0", account=kit.MM))
    assert h.oms.unknown_events == 1
    assert h.published == []
