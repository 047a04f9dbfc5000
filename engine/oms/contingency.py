"""Order lists managed by the engine: OCO, bracket (entry + take-profit + stop-loss), trailing stop.

Each list decides, from its members' current state only, what should happen next (``plan``); the
order manager executes the actions. Deciding from state (not from the event that just arrived)
makes the logic idempotent: replaying, reconciling or receiving events in another order leads to
the same actions, and an action already under way (a pending cancel or amend) is not repeated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from engine.core.commands import SubmitOrder
from engine.core.enums import OrderStatus, Side
from engine.core.fixed import Price, Quantity
from engine.core.ids import ClientOrderId
from engine.core.instruments import Instrument
from engine.oms.events import ContingencyKind, OrderListCreated
from engine.oms.order import Order, OrderKey

__all__ = ["Amend", "Cancel", "OrderList", "Submit", "trailing_trigger_ticks"]

_BPS = 10_000


@dataclass(frozen=True, slots=True)
class Submit:
    command: SubmitOrder


@dataclass(frozen=True, slots=True)
class Amend:
    key: OrderKey
    quantity: Quantity | None = None
    trigger_price: Price | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    key: OrderKey
    reason: str


Action = Submit | Amend | Cancel
#: Looks an order up by key; None while it does not exist (not released yet).
Lookup = Callable[[OrderKey], "Order | None"]
#: True while the order's submit has not left the process yet (the journal write is pending).
InFlight = Callable[[OrderKey], bool]


def _quiet(order: Order) -> bool:
    """Working with no request of ours in flight: an amend or cancel may be sent now."""
    return order.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)


def _cancellable(order: Order | None, in_flight: InFlight) -> bool:
    return (
        order is not None
        and order.is_open
        and order.status is not OrderStatus.PENDING_CANCEL
        and not in_flight(order.key)
    )


class OrderList:
    __slots__ = ("account_id", "created", "kind", "members", "offset_bps", "offset_ticks")

    def __init__(self, created: OrderListCreated) -> None:
        self.created = created
        self.kind = created.kind
        self.account_id = created.account_id
        self.members: tuple[OrderKey, ...] = tuple((created.account_id, m) for m in created.members)
        self.offset_ticks = created.trailing_offset_ticks
        self.offset_bps = created.trailing_offset_bps

    @property
    def list_id(self) -> ClientOrderId:
        return self.created.client_order_id

    def plan(self, lookup: Lookup, in_flight: InFlight, ts_ns: int) -> list[Action]:
        if self.kind is ContingencyKind.OCO:
            return self._plan_oco(lookup, in_flight)
        if self.kind is ContingencyKind.BRACKET:
            return self._plan_bracket(lookup, in_flight, ts_ns)
        return []

    # -- OCO: a fill of one, or one ending without fills, cancels the other ---------------------
    def _plan_oco(self, lookup: Lookup, in_flight: InFlight) -> list[Action]:
        first, second = (lookup(k) for k in self.members)
        actions: list[Action] = []
        for this, other in ((first, second), (second, first)):
            if this is None or other is None:
                continue
            traded = not this.filled_quantity.is_zero()
            ended = this.is_terminal
            if (traded or ended) and _cancellable(other, in_flight):
                reason = "OCO_FILLED" if traded else "OCO_CLOSED"
                actions.append(Cancel(other.key, reason))
        return actions

    # -- bracket --------------------------------------------------------------------------------
    def _plan_bracket(self, lookup: Lookup, in_flight: InFlight, ts_ns: int) -> list[Action]:
        entry_key, tp_key, sl_key = self.members
        entry = lookup(entry_key)
        if entry is None:
            return []
        tp, sl = lookup(tp_key), lookup(sl_key)
        filled = entry.filled_quantity
        if tp is None and sl is None:
            if filled.is_zero():
                return []
            # the first fill of the entry releases both children for what has filled so far
            return [
                Submit(dataclasses.replace(child, quantity=filled, ts_init=ts_ns))
                for child in self.created.deferred
            ]
        children = [c for c in (tp, sl) if c is not None]
        actions: list[Action] = []
        exits_traded = any(not c.filled_quantity.is_zero() for c in children)
        dissolved = any(c.is_terminal and c.status is not OrderStatus.FILLED for c in children)
        if (exits_traded or dissolved) and _cancellable(entry, in_flight):
            # once an exit trades (or the bracket falls apart) the entry stops adding to the position
            actions.append(Cancel(entry.key, "BRACKET_EXIT_STARTED" if exits_traded else "BRACKET_CLOSED"))
        remaining = filled
        for c in children:
            remaining = _sub_floor(remaining, c.filled_quantity)
        if len(children) == 1 and not dissolved and not remaining.is_zero():
            # a restart between the two releases: release the missing child for the open remainder
            missing = self.created.deferred[0 if tp is None else 1]
            actions.append(Submit(dataclasses.replace(missing, quantity=remaining, ts_init=ts_ns)))
        for c in children:
            if c.is_terminal:
                continue
            if dissolved or remaining.is_zero():
                if _cancellable(c, in_flight):
                    actions.append(Cancel(c.key, "BRACKET_CLOSED" if dissolved else "BRACKET_SIBLING_FILLED"))
                continue
            desired = c.filled_quantity + remaining
            if desired != c.quantity and _quiet(c) and not in_flight(c.key):
                actions.append(Amend(c.key, quantity=desired))
        return actions

    # -- trailing stop --------------------------------------------------------------------------
    def trail(self, order: Order, instrument: Instrument, reference: Price) -> Amend | None:
        """The amend that moves the stop after the best price moved to ``reference``, if any."""
        if not _quiet(order) or order.triggered or order.trigger_price is None:
            return None
        current = instrument.price_to_ticks(order.trigger_price)
        target = trailing_trigger_ticks(
            order.side, instrument, reference, offset_ticks=self.offset_ticks, offset_bps=self.offset_bps
        )
        if target <= 0:
            return None
        better = target > current if order.side is Side.SELL else target < current
        if not better:
            return None
        return Amend(order.key, trigger_price=instrument.ticks_to_price(target))


def _sub_floor(a: Quantity, b: Quantity) -> Quantity:
    return a - b if a > b else Quantity.from_raw(0, max(a.precision, b.precision))


def trailing_trigger_ticks(
    side: Side, instrument: Instrument, reference: Price, *, offset_ticks: int, offset_bps: int
) -> int:
    """Trigger price (in ticks) a trailing stop on ``side`` wants when the best price is ``reference``.

    A SELL stop (protecting a long) sits below the reference, rounded down to the tick grid; a BUY
    stop above it, rounded up. Integer arithmetic only: exact at any precision.
    """
    step = instrument.price_increment
    precision = max(step.precision, reference.precision)
    step_raw = step.raw * 10 ** (precision - step.precision)
    ref_raw = reference.raw * 10 ** (precision - reference.precision)
    if side is Side.SELL:
        if offset_bps:
            return (ref_raw * (_BPS - offset_bps)) // (_BPS * step_raw)
        return ref_raw // step_raw - offset_ticks
    if offset_bps:
        return -((-ref_raw * (_BPS + offset_bps)) // (_BPS * step_raw))
    return -(-ref_raw // step_raw) + offset_ticks
