"""MarketDataService: instruments and order-book snapshots, read from the loop's registry; the
market-data stream from the engine's ``MarketDataHub`` (engine/api/streams)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from algotrendy.v1 import marketdata_pb2, marketdata_pb2_grpc
from engine.api.convert import book_snapshot_to_proto, instrument_to_proto
from engine.api.errors import grpc_errors
from engine.api.streams import MarketDataHub, run_stream
from engine.core.clock import Clock
from engine.core.errors import UnavailableError
from engine.marketdata.registry import MarketDataRegistry


class MarketDataServicer(marketdata_pb2_grpc.MarketDataServiceServicer):
    def __init__(self, registry: MarketDataRegistry, clock: Clock, hub: MarketDataHub | None = None) -> None:
        self._registry = registry
        self._clock = clock
        self._hub = hub

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

    async def StreamMarketData(
        self, request: marketdata_pb2.StreamMarketDataRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        async for message in run_stream(context, lambda: self._stream(request, context)):
            yield message

    def _stream(
        self, request: marketdata_pb2.StreamMarketDataRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        if self._hub is None:
            raise UnavailableError("market-data streams are not enabled in this engine")
        return self._hub.stream(self._hub.subscribe(request, context))
