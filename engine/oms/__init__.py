"""Order management: the order state machine, the order manager (idempotent submits, journal
before send, sequenced events, OCO / bracket / trailing stops, restore and reconciliation) and the
portfolio (positions, PnL, balances, equity).

Depends on ``engine.core`` only; the risk gate, journal and venues plug in through ``ports``.
"""

from engine.oms.events import ContingencyKind, OrderListCreated
from engine.oms.fsm import TRANSITIONS, Trigger, next_status
from engine.oms.manager import OrderManager, OrderPage
from engine.oms.order import Order
from engine.oms.ports import Clock, JournalPort, RiskDecision, RiskPort, VenueOrderView, VenuePort

__all__ = [
    "TRANSITIONS",
    "Clock",
    "ContingencyKind",
    "JournalPort",
    "Order",
    "OrderListCreated",
    "OrderManager",
    "OrderPage",
    "RiskDecision",
    "RiskPort",
    "Trigger",
    "VenueOrderView",
    "VenuePort",
    "next_status",
]
