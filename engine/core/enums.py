"""Domain enums. Integer values equal the proto enums so conversion at the API is a lookup.

Domain enums have no ``UNSPECIFIED`` member: the API rejects a zero value before it gets here.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class Side(IntEnum):
    BUY = 1
    SELL = 2

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: the sign of the position change a fill on this side causes."""
        return 1 if self is Side.BUY else -1


@unique
class OrderType(IntEnum):
    MARKET = 1
    LIMIT = 2
    STOP_MARKET = 3
    STOP_LIMIT = 4

    @property
    def has_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def has_trigger(self) -> bool:
        return self in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)


@unique
class TimeInForce(IntEnum):
    GTC = 1
    IOC = 2
    FOK = 3
    GTD = 4


@unique
class OrderStatus(IntEnum):
    INITIALIZED = 1
    DENIED = 2
    SUBMITTED = 3
    ACCEPTED = 4
    REJECTED = 5
    PARTIALLY_FILLED = 6
    FILLED = 7
    PENDING_CANCEL = 8
    CANCELED = 9
    EXPIRED = 10
    PENDING_UPDATE = 11

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_ORDER_STATUSES

    @property
    def is_open(self) -> bool:
        """Working at (or travelling to) a venue: can still fill."""
        return self in _OPEN_ORDER_STATUSES


_TERMINAL_ORDER_STATUSES = frozenset(
    {OrderStatus.DENIED, OrderStatus.REJECTED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED}
)
_OPEN_ORDER_STATUSES = frozenset(
    {
        OrderStatus.SUBMITTED,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.PENDING_UPDATE,
    }
)


@unique
class TradingState(IntEnum):
    ACTIVE = 1
    REDUCING = 2
    HALTED = 3


@unique
class ComponentState(IntEnum):
    INITIALIZED = 1
    STARTING = 2
    RUNNING = 3
    DEGRADED = 4
    STOPPING = 5
    STOPPED = 6
    FAILED = 7


@unique
class EngineState(IntEnum):
    STARTING = 1
    RUNNING = 2
    DRAINING = 3
    STOPPED = 4


@unique
class LiquiditySide(IntEnum):
    MAKER = 1
    TAKER = 2


@unique
class InstrumentKind(IntEnum):
    SPOT = 1
    PERPETUAL = 2
    FUTURE = 3
