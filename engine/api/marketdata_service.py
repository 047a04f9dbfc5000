"""MarketDataService: instruments and order-book snapshots, read from the loop's registry."""

from __future__ import annotations

import grpc

from algotrendy.v1 import marketdata_pb2, marketdata_pb2_grpc
from engine.api.convert import book_snapshot_to_proto, instrument_to_proto
from engine.api.errors import grpc_errors
from engine.core.clock import Clock
from engine.marketdata.registry import MarketDataRegistry


class MarketDataServicer(marketdata_pb2_grpc.MarketDataServiceServicer):
    def __init__(self, registry: MarketDataRegistry, clock: Clock) -> None:
        self._registry = registry
        self._clock = clock

    @grpc_errors()
    async def ListInstruments(
        self, request: marketdata_pb2.ListInstrumentsRequest, context: grpc.aio.ServicerContext
    ) -> marketdata_pb2.ListInstrumentsResponse:
        instruments = self._registry.instruments(request.venue)
        return marketdata_pb2.ListInstrumentsResponse(
            instruments=[instrument_to_proto(i) for i in instruments]
        )

    @grpc_errors()
    async def GetOrderBook(
        self, request: marketdata_pb2.GetOrderBookRequest, context: grpc.aio.ServicerContext
    ) -> marketdata_pb2.GetOrderBookResponse:
        snapshot = self._registry.snapshot(request.instrument_id, request.depth)
        return book_snapshot_to_proto(snapshot, self._clock.timestamp_ns())
