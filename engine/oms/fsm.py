"""The order state machine: one transition table keyed by (status, trigger).

A trigger is the kind of order event, with fills split by quantity into ``FILL_PARTIAL`` (leaves
quantity open) and ``FILL_COMPLETE`` (fills the order), because where a fill leads depends on it.
Anything not in the table is illegal: ``next_status`` raises ``InvariantViolation`` and the app
halts trading.

Races the table accepts on purpose (venue reports cross our requests in flight):

* a fill in PENDING_CANCEL / PENDING_UPDATE keeps the pending status (the request is still in
  flight) unless it completes the order;
* a late acknowledgement (``ACCEPTED``) after fills, during a pending request or after the order
  ended changes nothing;
* a cancel or amend reject that arrives after the order ended (filled, canceled, expired,
  rejected) changes nothing.

``WORKING`` is not a status: it stands for "back to the working status", which follows from the
order's own facts: PARTIALLY_FILLED with fills, else ACCEPTED once acknowledged, else SUBMITTED.
"""

from __future__ import annotations

from enum import IntEnum, unique
from typing import Final

from engine.core.enums import OrderStatus
from engine.core.errors import InvariantViolation
from engine.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)

__all__ = [
    "EVENT_TRANSITIONS",
    "FILL_TRANSITIONS",
    "TERMINAL",
    "TRANSITIONS",
    "TRIGGER_OF",
    "WORKING",
    "Trigger",
    "illegal",
    "next_status",
    "working_status",
]


@unique
class Trigger(IntEnum):
    DENIED = 1
    SUBMITTED = 2
    ACCEPTED = 3
    REJECTED = 4
    PENDING_UPDATE = 5
    PENDING_CANCEL = 6
    UPDATED = 7
    MODIFY_REJECTED = 8
    CANCEL_REJECTED = 9
    CANCELED = 10
    EXPIRED = 11
    TRIGGERED = 12
    FILL_PARTIAL = 13
    FILL_COMPLETE = 14


class _Working:
    __slots__ = ()

    def __repr__(self) -> str:
        return "WORKING"


WORKING: Final = _Working()
Target = OrderStatus | _Working

#: The trigger of each order event type but ``OrderFilled`` (FILL_PARTIAL or FILL_COMPLETE by quantity).
TRIGGER_OF: dict[type[OrderEvent], Trigger] = {
    OrderDenied: Trigger.DENIED,
    OrderSubmitted: Trigger.SUBMITTED,
    OrderAccepted: Trigger.ACCEPTED,
    OrderRejected: Trigger.REJECTED,
    OrderPendingUpdate: Trigger.PENDING_UPDATE,
    OrderPendingCancel: Trigger.PENDING_CANCEL,
    OrderUpdated: Trigger.UPDATED,
    OrderModifyRejected: Trigger.MODIFY_REJECTED,
    OrderCancelRejected: Trigger.CANCEL_REJECTED,
    OrderCanceled: Trigger.CANCELED,
    OrderExpired: Trigger.EXPIRED,
    OrderTriggered: Trigger.TRIGGERED,
}

S = OrderStatus
T = Trigger

TRANSITIONS: dict[tuple[OrderStatus, Trigger], Target] = {
    # created in the engine
    (S.INITIALIZED, T.DENIED): S.DENIED,
    (S.INITIALIZED, T.SUBMITTED): S.SUBMITTED,
    # sent, not acknowledged yet
    (S.SUBMITTED, T.ACCEPTED): S.ACCEPTED,
    (S.SUBMITTED, T.REJECTED): S.REJECTED,
    (S.SUBMITTED, T.CANCELED): S.CANCELED,
    (S.SUBMITTED, T.EXPIRED): S.EXPIRED,
    (S.SUBMITTED, T.FILL_PARTIAL): S.PARTIALLY_FILLED,
    (S.SUBMITTED, T.FILL_COMPLETE): S.FILLED,
    (S.SUBMITTED, T.PENDING_CANCEL): S.PENDING_CANCEL,
    # working
    (S.ACCEPTED, T.PENDING_UPDATE): S.PENDING_UPDATE,
    (S.ACCEPTED, T.PENDING_CANCEL): S.PENDING_CANCEL,
    (S.ACCEPTED, T.UPDATED): S.ACCEPTED,
    (S.ACCEPTED, T.TRIGGERED): S.ACCEPTED,
    (S.ACCEPTED, T.CANCELED): S.CANCELED,
    (S.ACCEPTED, T.EXPIRED): S.EXPIRED,
    (S.ACCEPTED, T.FILL_PARTIAL): S.PARTIALLY_FILLED,
    (S.ACCEPTED, T.FILL_COMPLETE): S.FILLED,
    (S.PARTIALLY_FILLED, T.ACCEPTED): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.PENDING_UPDATE): S.PENDING_UPDATE,
    (S.PARTIALLY_FILLED, T.PENDING_CANCEL): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, T.UPDATED): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.TRIGGERED): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.CANCELED): S.CANCELED,
    (S.PARTIALLY_FILLED, T.EXPIRED): S.EXPIRED,
    (S.PARTIALLY_FILLED, T.FILL_PARTIAL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.FILL_COMPLETE): S.FILLED,
    # an amend in flight
    (S.PENDING_UPDATE, T.UPDATED): WORKING,
    (S.PENDING_UPDATE, T.MODIFY_REJECTED): WORKING,
    (S.PENDING_UPDATE, T.PENDING_CANCEL): S.PENDING_CANCEL,
    (S.PENDING_UPDATE, T.ACCEPTED): S.PENDING_UPDATE,
    (S.PENDING_UPDATE, T.TRIGGERED): S.PENDING_UPDATE,
    (S.PENDING_UPDATE, T.CANCELED): S.CANCELED,
    (S.PENDING_UPDATE, T.EXPIRED): S.EXPIRED,
    (S.PENDING_UPDATE, T.FILL_PARTIAL): S.PENDING_UPDATE,
    (S.PENDING_UPDATE, T.FILL_COMPLETE): S.FILLED,
    # a cancel in flight
    (S.PENDING_CANCEL, T.CANCELED): S.CANCELED,
    (S.PENDING_CANCEL, T.CANCEL_REJECTED): WORKING,
    (S.PENDING_CANCEL, T.EXPIRED): S.EXPIRED,
    (S.PENDING_CANCEL, T.REJECTED): S.REJECTED,
    (S.PENDING_CANCEL, T.ACCEPTED): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, T.TRIGGERED): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, T.UPDATED): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, T.MODIFY_REJECTED): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, T.FILL_PARTIAL): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, T.FILL_COMPLETE): S.FILLED,
    # ended: late reports that cannot change anything
    (S.FILLED, T.ACCEPTED): S.FILLED,
    (S.FILLED, T.CANCEL_REJECTED): S.FILLED,
    (S.FILLED, T.MODIFY_REJECTED): S.FILLED,
    (S.CANCELED, T.ACCEPTED): S.CANCELED,
    (S.CANCELED, T.CANCEL_REJECTED): S.CANCELED,
    (S.CANCELED, T.MODIFY_REJECTED): S.CANCELED,
    (S.EXPIRED, T.ACCEPTED): S.EXPIRED,
    (S.EXPIRED, T.CANCEL_REJECTED): S.EXPIRED,
    (S.EXPIRED, T.MODIFY_REJECTED): S.EXPIRED,
    (S.REJECTED, T.CANCEL_REJECTED): S.REJECTED,
}

del S, T

TERMINAL: frozenset[OrderStatus] = frozenset(s for s in OrderStatus if s.is_terminal)

#: ``TRANSITIONS`` keyed the way ``Order.apply`` meets an event: ``(event class, status)`` -> target,
#: one dict index per event instead of a trigger lookup plus a call. Derived from ``TRANSITIONS`` and
#: ``TRIGGER_OF`` (they stay the one definition); a pair missing here is missing there.
EVENT_TRANSITIONS: dict[tuple[type[OrderEvent], OrderStatus], Target] = {
    (cls, status): target
    for cls, trigger in TRIGGER_OF.items()
    for (status, t), target in TRANSITIONS.items()
    if t is trigger
}
#: The fill rows of ``TRANSITIONS`` keyed by ``(status, fill completes the order)``.
FILL_TRANSITIONS: dict[tuple[OrderStatus, bool], OrderStatus] = {}
for (_status, _trigger), _target in TRANSITIONS.items():
    if _trigger is Trigger.FILL_PARTIAL or _trigger is Trigger.FILL_COMPLETE:
        # No fill leads "back to working": a fill's target is always a status of its own.
        assert isinstance(_target, OrderStatus), (_status, _trigger)
        FILL_TRANSITIONS[(_status, _trigger is Trigger.FILL_COMPLETE)] = _target
del _status, _trigger, _target


def illegal(status: OrderStatus, trigger: Trigger) -> InvariantViolation:
    """The error of a (status, trigger) pair the table does not have."""
    return InvariantViolation(
        f"illegal order transition: {trigger.name} in {status.name}", reason="ILLEGAL_ORDER_TRANSITION"
    )


def working_status(*, acknowledged: bool, has_fills: bool) -> OrderStatus:
    """Where ``WORKING`` leads for an order with these facts."""
    if has_fills:
        return OrderStatus.PARTIALLY_FILLED
    return OrderStatus.ACCEPTED if acknowledged else OrderStatus.SUBMITTED


def next_status(status: OrderStatus, trigger: Trigger, *, acknowledged: bool, has_fills: bool) -> OrderStatus:
    """The status after ``trigger`` in ``status``; ``InvariantViolation`` if the table has no entry.

    ``acknowledged`` and ``has_fills`` are the order's facts *after* the event (they resolve
    ``WORKING``).
    """
    target = TRANSITIONS.get((status, trigger))
    if target is None:
        raise illegal(status, trigger)
    if isinstance(target, OrderStatus):
        return target
    return working_status(acknowledged=acknowledged, has_fills=has_fills)
