"""Core domain: ids, enums, exact fixed-point values, instruments, events, commands, errors, clocks.

Imports only ``engine.ext`` and the standard library.
"""

from engine.core.enums import (
    ComponentState,
    EngineState,
    InstrumentKind,
    LiquiditySide,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import (
    AccountId,
    ClientOrderId,
    ClientOrderIdGenerator,
    InstrumentId,
    StrategyId,
    TradeId,
    VenueOrderId,
)
from engine.core.instruments import Instrument

__all__ = [
    "AccountId",
    "ClientOrderId",
    "ClientOrderIdGenerator",
    "ComponentState",
    "EngineState",
    "Instrument",
    "InstrumentId",
    "InstrumentKind",
    "LiquiditySide",
    "Money",
    "OrderStatus",
    "OrderType",
    "Price",
    "Quantity",
    "Side",
    "StrategyId",
    "TimeInForce",
    "TradeId",
    "TradingState",
    "VenueOrderId",
]
