"""Immutable events: facts that happened, named in the past tense.

Every event carries ``ts_event`` (when it happened, venue time where the venue says, Unix ns) and
``ts_init`` (when the engine created the object, Unix ns). Order events also carry the order's
``sequence`` — the per-engine order-event sequence assigned when the event is journalled, so
subscribers can resume without gaps or duplicates.
"""

from __future__ import annotations

from engine.core.enums import (
    ComponentState,
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
    InstrumentId,
    StrategyId,
    TradeId,
    VenueOrderId,
)
from engine.core.records import frozen_record

#: Events are built several times per order: see ``frozen_record`` for the cheaper ``__init__``.
_frozen = frozen_record


@_frozen
class Event:
    ts_event: int
    ts_init: int


# -- market data -----------------------------------------------------------------------------
@_frozen
class TradeTick(Event):
    instrument_id: InstrumentId
    price: Price
    size: Quantity
    aggressor_side: Side
    trade_id: TradeId


@_frozen
class QuoteTick(Event):
    """Best bid and offer."""

    instrument_id: InstrumentId
    bid_price: Price
    bid_size: Quantity
    ask_price: Price
    ask_size: Quantity


@_frozen
class Bar(Event):
    """OHLCV over ``[ts_open, ts_event)``; ``ts_event`` is the close time.

    ``vwap`` (bars built from trades, ``engine.marketdata.bars``) is the volume-weighted average price
    rounded half-even to 4 more decimals than the price (None when unknown, e.g. a bar file).
    ``revision`` is 0 when a bar is first closed and counts up each time a late trade amends it
    (consumers replace the bar with the same ``ts_open``/``interval_ns``).
    """

    instrument_id: InstrumentId
    interval_ns: int
    ts_open: int
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Quantity
    trade_count: int
    vwap: Price | None = None
    revision: int = 0


@_frozen
class OrderBookUpdated(Event):
    """An L2 book changed (bus topic ``data.books.<instrument_id>``); the levels live in the book.

    ``sequence`` is the venue's update id of the last update applied (-1 when the venue's book is
    not sequenced); ``is_snapshot`` marks a full snapshot (first sync, resync, REST poll).
    """

    instrument_id: InstrumentId
    sequence: int
    is_snapshot: bool


@_frozen
class DataQualityAlert(Event):
    """A market-data quality problem (bus topic ``data.alerts``).

    ``kind``: ``MID_DIVERGENCE``, ``FEED_STALE``, ``BOOK_RESYNC``, ``CHECKSUM_MISMATCH``,
    ``CIRCUIT_OPEN``, ``CIRCUIT_CLOSED``, ``REFERENCE_FAILOVER``. ``value`` is a decimal string when
    the alert measures something (the divergence in basis points), else empty.
    """

    venue: str
    instrument_id: InstrumentId | None
    kind: str
    detail: str
    value: str = ""


# -- orders ----------------------------------------------------------------------------------
@_frozen
class OrderEvent(Event):
    account_id: AccountId
    client_order_id: ClientOrderId
    instrument_id: InstrumentId
    sequence: int = 0


@_frozen
class OrderInitialized(OrderEvent):
    strategy_id: StrategyId
    side: Side
    order_type: OrderType
    quantity: Quantity
    price: Price | None
    trigger_price: Price | None
    time_in_force: TimeInForce
    expire_at_ns: int | None
    post_only: bool
    reduce_only: bool


@_frozen
class OrderDenied(OrderEvent):
    """The engine refused the order before it left the process (risk gate). Terminal."""

    reason: str
    detail: str


@_frozen
class OrderSubmitted(OrderEvent):
    """Durably journalled and sent to the venue."""


@_frozen
class OrderAccepted(OrderEvent):
    venue_order_id: VenueOrderId


@_frozen
class OrderRejected(OrderEvent):
    """The venue refused the order. Terminal."""

    reason: str
    detail: str


@_frozen
class OrderPendingUpdate(OrderEvent):
    pass


@_frozen
class OrderPendingCancel(OrderEvent):
    pass


@_frozen
class OrderUpdated(OrderEvent):
    quantity: Quantity
    price: Price | None
    trigger_price: Price | None


@_frozen
class OrderModifyRejected(OrderEvent):
    reason: str
    detail: str


@_frozen
class OrderCancelRejected(OrderEvent):
    reason: str
    detail: str


@_frozen
class OrderCanceled(OrderEvent):
    #: Why, when the venue or the engine (not the client) canceled it: ``IOC_REMAINDER``,
    #: ``SELF_TRADE_PREVENTED``, ``FOK_CANNOT_FILL``, ``RISK_BREACH`` ...; empty for a client cancel.
    reason: str = ""


@_frozen
class OrderTriggered(OrderEvent):
    """A stop order's trigger price traded; it now works as a market or limit order."""


@_frozen
class OrderExpired(OrderEvent):
    pass


@_frozen
class OrderFilled(OrderEvent):
    venue_order_id: VenueOrderId
    trade_id: TradeId
    side: Side
    last_price: Price
    last_quantity: Quantity
    liquidity_side: LiquiditySide
    commission: Money


# -- engine ----------------------------------------------------------------------------------
@_frozen
class TradingStateChanged(Event):
    account_id: AccountId | None
    previous: TradingState
    current: TradingState
    reason: str


@_frozen
class ComponentStateChanged(Event):
    component: str
    previous: ComponentState
    current: ComponentState
    detail: str


#: The status an order is in right after each event (for events that set one).
STATUS_AFTER: dict[type[OrderEvent], OrderStatus] = {
    OrderInitialized: OrderStatus.INITIALIZED,
    OrderDenied: OrderStatus.DENIED,
    OrderSubmitted: OrderStatus.SUBMITTED,
    OrderAccepted: OrderStatus.ACCEPTED,
    OrderRejected: OrderStatus.REJECTED,
    OrderPendingUpdate: OrderStatus.PENDING_UPDATE,
    OrderPendingCancel: OrderStatus.PENDING_CANCEL,
    OrderCanceled: OrderStatus.CANCELED,
    OrderTriggered: OrderStatus.ACCEPTED,
    OrderExpired: OrderStatus.EXPIRED,
}
