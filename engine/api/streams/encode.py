"""Stream events as pre-encoded protobuf entries, built once per event and shared by every subscriber.

A stream response is ``repeated <Event> events = 1`` plus a few scalar fields. On the wire a repeated
message field is just its elements one after another, each ``tag, length, bytes``; and protobuf
parsers merge concatenated messages. So an event is serialized once, as its finished entry
(``entry(...)``), and a subscriber's message is ``b"".join(entries) + trailer`` where the trailer is
the serialized response with only its scalar fields set. A publish to 1,000 subscribers then costs
one serialization instead of 1,000, which is what makes fan-out fast in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from google.protobuf.message import Message

from algotrendy.v1 import common_pb2, marketdata_pb2, orders_pb2, portfolio_pb2
from engine.api.convert import decimal_to_proto, position_to_proto
from engine.core.events import (
    Bar,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
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
    QuoteTick,
    TradeTick,
)
from engine.marketdata.book import BookSnapshot
from engine.oms.events import OrderListCreated
from engine.oms.portfolio import PositionView

__all__ = [
    "bar_entry",
    "bbo_entry",
    "book_entry",
    "entry",
    "indicator_entry",
    "order_event_entry",
    "order_event_to_proto",
    "position_update_entry",
    "prebuilt",
    "trade_entry",
    "trades_skipped_entry",
]

#: Field 1, wire type 2 (length-delimited): the ``events`` / ``updates`` field of every stream response.
_EVENTS_TAG = b"\x0a"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def entry(message: Message) -> bytes:
    """``message`` as one element of a response's field 1 (``repeated ... = 1``)."""
    body = message.SerializeToString()
    return _EVENTS_TAG + _varint(len(body)) + body


def prebuilt(serialize: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """A response serializer that passes already serialized responses (bytes) through."""

    def serializer(response: Any) -> bytes:
        return response if type(response) is bytes else serialize(response)

    return serializer


# == market data ===================================================================================
def trade_entry(tick: TradeTick) -> bytes:
    return entry(
        marketdata_pb2.MarketDataEvent(
            trade=marketdata_pb2.Trade(
                instrument_id=str(tick.instrument_id),
                price=common_pb2.Decimal(value=str(tick.price)),
                size=common_pb2.Decimal(value=str(tick.size)),
                aggressor_side=int(tick.aggressor_side),
                trade_id=str(tick.trade_id),
                ts_event_ns=tick.ts_event,
                ts_init_ns=tick.ts_init,
            )
        )
    )


def bbo_entry(tick: QuoteTick) -> bytes:
    return entry(
        marketdata_pb2.MarketDataEvent(
            bbo=marketdata_pb2.BestBidOffer(
                instrument_id=str(tick.instrument_id),
                bid_price=common_pb2.Decimal(value=str(tick.bid_price)),
                bid_size=common_pb2.Decimal(value=str(tick.bid_size)),
                ask_price=common_pb2.Decimal(value=str(tick.ask_price)),
                ask_size=common_pb2.Decimal(value=str(tick.ask_size)),
                ts_event_ns=tick.ts_event,
                ts_init_ns=tick.ts_init,
            )
        )
    )


def book_entry(snapshot: BookSnapshot, ts_ns: int) -> bytes:
    def level(price: Any, size: Any) -> marketdata_pb2.BookLevel:
        return marketdata_pb2.BookLevel(
            price=common_pb2.Decimal(value=str(price)), size=common_pb2.Decimal(value=str(size))
        )

    return entry(
        marketdata_pb2.MarketDataEvent(
            book=marketdata_pb2.BookUpdate(
                instrument_id=str(snapshot.instrument_id),
                bids=[level(p, q) for p, q in snapshot.bids],
                asks=[level(p, q) for p, q in snapshot.asks],
                sequence=snapshot.sequence,
                crossed=snapshot.is_crossed,
                ts_ns=ts_ns,
            )
        )
    )


def bar_entry(bar: Bar) -> bytes:
    message = marketdata_pb2.Bar(
        instrument_id=str(bar.instrument_id),
        interval_ns=bar.interval_ns,
        ts_open_ns=bar.ts_open,
        open=decimal_to_proto(bar.open),
        high=decimal_to_proto(bar.high),
        low=decimal_to_proto(bar.low),
        close=decimal_to_proto(bar.close),
        volume=decimal_to_proto(bar.volume),
        trade_count=bar.trade_count,
        revision=bar.revision,
    )
    if bar.vwap is not None:
        message.vwap.CopyFrom(decimal_to_proto(bar.vwap))
    return entry(marketdata_pb2.MarketDataEvent(bar=message))


def indicator_entry(
    instrument_id: str,
    name: str,
    params: dict[str, float],
    bar: Bar,
    outputs: tuple[str, ...],
    values: tuple[float, ...],
) -> bytes:
    return entry(
        marketdata_pb2.MarketDataEvent(
            indicator=marketdata_pb2.IndicatorValue(
                instrument_id=instrument_id,
                indicator=name,
                params=params,
                bar_interval_ns=bar.interval_ns,
                ts_open_ns=bar.ts_open,
                outputs=outputs,
                values=values,
            )
        )
    )


def trades_skipped_entry(
    instrument_id: str,
    count: int,
    volume: Decimal,
    low: Decimal,
    high: Decimal,
    last_price: Decimal,
    first_ts_ns: int,
    last_ts_ns: int,
) -> bytes:
    return entry(
        marketdata_pb2.MarketDataEvent(
            trades_skipped=marketdata_pb2.TradesSkipped(
                instrument_id=instrument_id,
                count=count,
                volume=decimal_to_proto(volume),
                low=decimal_to_proto(low),
                high=decimal_to_proto(high),
                last_price=decimal_to_proto(last_price),
                first_ts_event_ns=first_ts_ns,
                last_ts_event_ns=last_ts_ns,
            )
        )
    )


# == order events ==================================================================================
_K = orders_pb2.OrderEventKind
_KIND: dict[type, int] = {
    OrderInitialized: _K.ORDER_EVENT_KIND_INITIALIZED,
    OrderDenied: _K.ORDER_EVENT_KIND_DENIED,
    OrderSubmitted: _K.ORDER_EVENT_KIND_SUBMITTED,
    OrderAccepted: _K.ORDER_EVENT_KIND_ACCEPTED,
    OrderRejected: _K.ORDER_EVENT_KIND_REJECTED,
    OrderPendingUpdate: _K.ORDER_EVENT_KIND_PENDING_UPDATE,
    OrderPendingCancel: _K.ORDER_EVENT_KIND_PENDING_CANCEL,
    OrderUpdated: _K.ORDER_EVENT_KIND_UPDATED,
    OrderModifyRejected: _K.ORDER_EVENT_KIND_MODIFY_REJECTED,
    OrderCancelRejected: _K.ORDER_EVENT_KIND_CANCEL_REJECTED,
    OrderCanceled: _K.ORDER_EVENT_KIND_CANCELED,
    OrderTriggered: _K.ORDER_EVENT_KIND_TRIGGERED,
    OrderExpired: _K.ORDER_EVENT_KIND_EXPIRED,
    OrderFilled: _K.ORDER_EVENT_KIND_FILLED,
    OrderListCreated: _K.ORDER_EVENT_KIND_LIST_CREATED,
}


def order_event_to_proto(event: OrderEvent) -> orders_pb2.OrderEvent:
    """One applied order event as the API's ``OrderEvent`` (kind-specific fields set, see the proto)."""
    kind = _KIND.get(type(event))
    if kind is None:  # a subclass the table does not know: nearest known base
        kind = next(
            (k for cls, k in _KIND.items() if isinstance(event, cls)), _K.ORDER_EVENT_KIND_UNSPECIFIED
        )
    m = orders_pb2.OrderEvent(
        sequence=event.sequence,
        kind=kind,
        account_id=str(event.account_id),
        client_order_id=str(event.client_order_id),
        instrument_id=str(event.instrument_id),
        ts_event_ns=event.ts_event,
        ts_init_ns=event.ts_init,
    )
    if isinstance(event, OrderInitialized):
        m.strategy_id = str(event.strategy_id)
        m.side = int(event.side)
        m.order_type = int(event.order_type)
        m.time_in_force = int(event.time_in_force)
        m.quantity.CopyFrom(decimal_to_proto(event.quantity))
        if event.price is not None:
            m.price.CopyFrom(decimal_to_proto(event.price))
        if event.trigger_price is not None:
            m.trigger_price.CopyFrom(decimal_to_proto(event.trigger_price))
        m.expire_at_ns = event.expire_at_ns or 0
        m.post_only = event.post_only
        m.reduce_only = event.reduce_only
    elif isinstance(event, OrderFilled):
        m.venue_order_id = str(event.venue_order_id)
        m.trade_id = str(event.trade_id)
        m.side = int(event.side)
        m.last_price.CopyFrom(decimal_to_proto(event.last_price))
        m.last_quantity.CopyFrom(decimal_to_proto(event.last_quantity))
        m.liquidity_side = int(event.liquidity_side)
        m.commission.CopyFrom(decimal_to_proto(event.commission))
        m.commission_currency = event.commission.currency
    elif isinstance(event, OrderUpdated):
        m.quantity.CopyFrom(decimal_to_proto(event.quantity))
        if event.price is not None:
            m.price.CopyFrom(decimal_to_proto(event.price))
        if event.trigger_price is not None:
            m.trigger_price.CopyFrom(decimal_to_proto(event.trigger_price))
    elif isinstance(event, OrderAccepted):
        m.venue_order_id = str(event.venue_order_id)
    elif isinstance(event, OrderDenied | OrderRejected | OrderModifyRejected | OrderCancelRejected):
        m.reason = event.reason
        m.detail = event.detail
    elif isinstance(event, OrderCanceled):
        m.reason = event.reason
    elif isinstance(event, OrderListCreated):
        m.list_kind = event.kind.name
        m.list_members.extend(str(member) for member in event.members)
    return m


def order_event_entry(event: OrderEvent) -> bytes:
    return entry(order_event_to_proto(event))


# == positions =====================================================================================
def position_update_entry(view: PositionView, fill: OrderFilled) -> bytes:
    """The position right after ``fill`` (sequence = the fill's). Mark and unrealised PnL are left
    out: they move with quotes, are not sequenced, and would make a replay differ from live."""
    position = position_to_proto(view)
    position.ClearField("mark_price")
    position.ClearField("unrealised_pnl")
    position.updated_at_ns = fill.ts_event
    return entry(
        portfolio_pb2.PositionUpdate(
            sequence=fill.sequence,
            position=position,
            client_order_id=str(fill.client_order_id),
            trade_id=str(fill.trade_id),
            ts_event_ns=fill.ts_event,
        )
    )
