"""Domain <-> protobuf conversion. Enums share integer values with the proto, so they map directly."""

from __future__ import annotations

from decimal import Decimal

from algotrendy.v1 import common_pb2, engine_pb2, marketdata_pb2
from engine.core.component import ComponentStatus, EngineStatus
from engine.core.fixed import Money, Price, Quantity
from engine.core.instruments import Instrument
from engine.marketdata.book import BookSnapshot


def decimal_to_proto(value: Price | Quantity | Money | Decimal) -> common_pb2.Decimal:
    """An exact value as the API's decimal string (Money without its currency)."""
    if isinstance(value, Money):
        return common_pb2.Decimal(value=value.amount_str())
    if isinstance(value, Decimal):
        return common_pb2.Decimal(value=format(value, "f"))
    return common_pb2.Decimal(value=str(value))


def instrument_to_proto(instrument: Instrument) -> marketdata_pb2.Instrument:
    message = marketdata_pb2.Instrument(
        instrument_id=str(instrument.id),
        kind=int(instrument.kind),
        base=instrument.base,
        quote=instrument.quote,
        settlement=instrument.settlement,
        price_increment=decimal_to_proto(instrument.price_increment),
        size_increment=decimal_to_proto(instrument.size_increment),
        min_quantity=decimal_to_proto(instrument.min_quantity),
        maker_fee=decimal_to_proto(instrument.maker_fee),
        taker_fee=decimal_to_proto(instrument.taker_fee),
        multiplier=decimal_to_proto(instrument.multiplier),
        tradable=instrument.tradable,
    )
    if instrument.max_quantity is not None:
        message.max_quantity.CopyFrom(decimal_to_proto(instrument.max_quantity))
    if instrument.min_notional is not None:
        message.min_notional.CopyFrom(decimal_to_proto(instrument.min_notional))
    return message


def book_snapshot_to_proto(snapshot: BookSnapshot, ts_ns: int) -> marketdata_pb2.GetOrderBookResponse:
    def level(price: Price, size: Quantity) -> marketdata_pb2.BookLevel:
        return marketdata_pb2.BookLevel(price=decimal_to_proto(price), size=decimal_to_proto(size))

    return marketdata_pb2.GetOrderBookResponse(
        instrument_id=str(snapshot.instrument_id),
        bids=[level(p, q) for p, q in snapshot.bids],
        asks=[level(p, q) for p, q in snapshot.asks],
        sequence=snapshot.sequence,
        crossed=snapshot.is_crossed,
        ts_ns=ts_ns,
    )


def component_status_to_proto(status: ComponentStatus) -> engine_pb2.ComponentStatus:
    return engine_pb2.ComponentStatus(
        name=status.name, state=int(status.state), detail=status.detail, since_ns=status.since_ns
    )


def engine_status_to_proto(status: EngineStatus) -> engine_pb2.GetStatusResponse:
    return engine_pb2.GetStatusResponse(
        version=status.version,
        instance=status.instance,
        engine_state=int(status.engine_state),
        trading_state=int(status.trading_state),
        started_at_ns=status.started_at_ns,
        uptime_ns=status.uptime_ns,
        server_time_ns=status.server_time_ns,
        components=[component_status_to_proto(c) for c in status.components],
        loop_lag=engine_pb2.LoopLag(
            p50_ns=status.loop_lag_p50_ns,
            p99_ns=status.loop_lag_p99_ns,
            max_ns=status.loop_lag_max_ns,
            samples=status.loop_lag_samples,
            window_ns=status.loop_lag_window_ns,
        ),
        pid=status.pid,
    )
