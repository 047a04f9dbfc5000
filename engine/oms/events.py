"""Order-manager records that are not in ``engine.core.events`` yet: order lists (contingencies).

``OrderListCreated`` is an ``OrderEvent`` so it shares the order-event ``sequence``, the journal
and the order stream; ``client_order_id`` names the list's primary order (the OCO's first order,
the bracket's entry, the trailing stop itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, unique

from engine.core.commands import SubmitOrder
from engine.core.events import OrderEvent
from engine.core.ids import ClientOrderId

__all__ = ["ContingencyKind", "OrderListCreated"]


@unique
class ContingencyKind(IntEnum):
    #: Two orders; a fill of one, or one ending without fills, cancels the other.
    OCO = 1
    #: Entry + take-profit + stop-loss; children released in proportion to the entry's fills,
    #: children one-cancels-other, each sized to the open remainder.
    BRACKET = 2
    #: A stop whose trigger follows the best price by an offset (ticks or bps), amended at the venue.
    TRAILING_STOP = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderListCreated(OrderEvent):
    kind: ContingencyKind
    #: Orders of the list in role order: OCO (first, second); BRACKET (entry, take_profit,
    #: stop_loss); TRAILING_STOP (stop,).
    members: tuple[ClientOrderId, ...]
    #: Orders the engine submits later (the bracket's take-profit and stop-loss, quantity = the
    #: entry quantity; the released quantity follows the entry's fills).
    deferred: tuple[SubmitOrder, ...] = ()
    trailing_offset_ticks: int = 0
    trailing_offset_bps: int = 0
