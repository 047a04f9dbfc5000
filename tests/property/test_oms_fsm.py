"""The order state machine: closure (every reachable state can end) and exactly-the-table legality."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.enums import LiquiditySide, OrderStatus, OrderType, Side, TimeInForce
from engine.core.errors import InvariantViolation
from engine.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from engine.oms.fsm import TERMINAL, TRANSITIONS, WORKING, Trigger, next_status
from engine.oms.order import Order

IDS = {
    "account_id": AccountId("a"),
    "client_order_id": ClientOrderId("c"),
    "instrument_id": InstrumentId("SIM:BTC-USD"),
}
LOTS = 4  # order quantity in lots of 1


def _targets(status: OrderStatus, trigger: Trigger) -> set[OrderStatus]:
    target = TRANSITIONS[(status, trigger)]
    if target is WORKING:
        return {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED}
    return {target}


def test_fsm_table_when_walked_from_initialized_then_every_reachable_status_reaches_a_terminal_one():
    graph: dict[OrderStatus, set[OrderStatus]] = {}
    for status, trigger in TRANSITIONS:
        graph.setdefault(status, set()).update(_targets(status, trigger))
    reachable, queue = {OrderStatus.INITIALIZED}, deque([OrderStatus.INITIALIZED])
    while queue:
        for nxt in graph.get(queue.popleft(), ()):
            if nxt not in reachable:
                reachable.add(nxt)
                queue.append(nxt)
    assert reachable == set(OrderStatus)
    for status in reachable - TERMINAL:
        seen, queue = {status}, deque([status])
        while queue and not seen & TERMINAL:
            for nxt in graph.get(queue.popleft(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        assert seen & TERMINAL, status
    # terminal states never lead anywhere else
    for status in TERMINAL:
        assert graph.get(status, {status}) == {status}


@pytest.mark.parametrize("status", list(OrderStatus))
@pytest.mark.parametrize("trigger", list(Trigger))
def test_fsm_next_status_when_not_in_table_then_invariant_violation(status, trigger):
    if (status, trigger) in TRANSITIONS:
        assert next_status(status, trigger, acknowledged=True, has_fills=True) in OrderStatus
    else:
        with pytest.raises(InvariantViolation) as err:
            next_status(status, trigger, acknowledged=True, has_fills=True)
        assert err.value.reason == "ILLEGAL_ORDER_TRANSITION"


# -- concrete orders: random event sequences through Order.apply --------------------------------
_trade_no = iter(range(10**9))


def _new_order() -> Order:
    init = OrderInitialized(
        ts_event=1,
        ts_init=1,
        **IDS,
        strategy_id=StrategyId("s"),
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Quantity(LOTS),
        price=Price("100"),
        trigger_price=None,
        time_in_force=TimeInForce.GTC,
        expire_at_ns=None,
        post_only=False,
        reduce_only=False,
    )
    return Order(init, 0)


def _event(trigger: Trigger, order: Order, lots: int):
    base = {"ts_event": 2, "ts_init": 2, **IDS}
    vid = VenueOrderId("v1")
    if trigger in (Trigger.FILL_PARTIAL, Trigger.FILL_COMPLETE):
        leaves = LOTS - order.filled_quantity.raw
        qty = leaves if trigger is Trigger.FILL_COMPLETE else min(lots, leaves - 1)
        if qty <= 0:
            return None
        return OrderFilled(
            **base,
            venue_order_id=vid,
            trade_id=TradeId(f"t{next(_trade_no)}"),
            side=Side.BUY,
            last_price=Price("100"),
            last_quantity=Quantity(qty),
            liquidity_side=LiquiditySide.MAKER,
            commission=Money("0", "USD"),
        )
    reject = {"reason": "R", "detail": "d"}
    return {
        Trigger.DENIED: lambda: OrderDenied(**base, **reject),
        Trigger.SUBMITTED: lambda: OrderSubmitted(**base),
        Trigger.ACCEPTED: lambda: OrderAccepted(**base, venue_order_id=vid),
        Trigger.REJECTED: lambda: OrderRejected(**base, **reject),
        Trigger.PENDING_UPDATE: lambda: OrderPendingUpdate(**base),
        Trigger.PENDING_CANCEL: lambda: OrderPendingCancel(**base),
        Trigger.UPDATED: lambda: OrderUpdated(
            **base, quantity=order.quantity, price=order.price, trigger_price=None
        ),
        Trigger.MODIFY_REJECTED: lambda: OrderModifyRejected(**base, **reject),
        Trigger.CANCEL_REJECTED: lambda: OrderCancelRejected(**base, **reject),
        Trigger.CANCELED: lambda: OrderCanceled(**base),
        Trigger.EXPIRED: lambda: OrderExpired(**base),
        Trigger.TRIGGERED: lambda: OrderTriggered(**base),
    }[trigger]()


def _facts(order: Order) -> tuple:
    return (order.status, order.acknowledged, order.filled_quantity.raw)


def _can_end(facts: tuple) -> bool:
    """From these facts, some sequence of legal events ends the order (search over the table)."""
    seen, queue = {facts}, deque([facts])
    while queue:
        status, acknowledged, filled = queue.popleft()
        if status in TERMINAL:
            return True
        for trigger in Trigger:
            if (status, trigger) not in TRANSITIONS:
                continue
            ack = acknowledged or trigger in (Trigger.ACCEPTED, Trigger.FILL_PARTIAL, Trigger.FILL_COMPLETE)
            fill = {Trigger.FILL_PARTIAL: filled + 1, Trigger.FILL_COMPLETE: LOTS}.get(trigger, filled)
            if fill > LOTS or (trigger is Trigger.FILL_PARTIAL and fill == LOTS):
                continue
            nxt = (next_status(status, trigger, acknowledged=ack, has_fills=fill > 0), ack, fill)
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return False


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(Trigger)), st.integers(1, LOTS)), max_size=25))
def test_fsm_order_when_random_events_applied_then_legal_ones_move_illegal_ones_change_nothing(steps):
    order = _new_order()
    for trigger, lots in steps:
        event = _event(trigger, order, lots)
        if event is None:
            continue
        before = (_facts(order), order.quantity, order.trade_ids.copy())
        legal = (order.status, trigger) in TRANSITIONS
        if isinstance(event, OrderAccepted) and order.acknowledged and order.status is OrderStatus.ACCEPTED:
            assert order.is_duplicate(event)
            continue
        if legal:
            order.apply(event)
            assert order.filled_quantity.raw <= LOTS
            assert (order.status is OrderStatus.FILLED) == (order.filled_quantity.raw == LOTS)
        else:
            with pytest.raises(InvariantViolation):
                order.apply(event)
            assert (_facts(order), order.quantity, order.trade_ids) == before
        assert _can_end(_facts(order)), _facts(order)
