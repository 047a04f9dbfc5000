"""MarketDataService over a real grpc.aio channel, backed by real OrderBooks in the registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import grpc
import pytest

from algotrendy.v1 import marketdata_pb2, marketdata_pb2_grpc
from engine.api.marketdata_service import MarketDataServicer
from engine.api.server import GrpcServer
from engine.config import load_config
from engine.core import Instrument, InstrumentId, InstrumentKind, Money, Price, Quantity, Side
from engine.core.clock import TestClock
from engine.core.errors import DuplicateError
from engine.marketdata.registry import MarketDataRegistry
from engine.telemetry import EngineMetrics


def _instrument(symbol: str, venue: str = "SIM", tick: str = "0.5") -> Instrument:
    return Instrument(
        id=InstrumentId.of(venue, symbol),
        kind=InstrumentKind.SPOT,
        base=symbol.split("-", maxsplit=1)[0],
        quote="USD",
        settlement="USD",
        price_increment=Price(tick),
        size_increment=Quantity("0.001"),
        min_quantity=Quantity("0.001"),
        min_notional=Money("10", "USD"),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0005"),
    )


@pytest.fixture
async def stub() -> AsyncIterator[marketdata_pb2_grpc.MarketDataServiceStub]:
    registry = MarketDataRegistry()
    book = registry.add_book(_instrument("BTC-USD"))
    registry.add_book(_instrument("ETH-USD", tick="0.01"))
    registry.add_book(_instrument("BTC-USDT", venue="OTHER"))
    for price, size in (("100.0", "1"), ("99.5", "2.5"), ("98.0", "0.001")):
        book.apply_delta(Side.BUY, price, size)
    for price, size in (("100.5", "0.75"), ("101.0", "3")):
        book.apply_delta(Side.SELL, price, size)
    server = GrpcServer(
        load_config(env={}, overrides={"grpc.port": 0}).grpc, EngineMetrics("test"), lambda: None
    )  # type: ignore[arg-type,return-value]
    server.register(
        marketdata_pb2_grpc.add_MarketDataServiceServicer_to_server,
        MarketDataServicer(registry, TestClock(start_ns=42)),
        "algotrendy.v1.MarketDataService",
    )
    port = server.bind()
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield marketdata_pb2_grpc.MarketDataServiceStub(channel)
    await server.stop(0)


async def test_list_instruments_when_called_then_all_sorted_with_exact_increments(stub) -> None:
    response = await stub.ListInstruments(marketdata_pb2.ListInstrumentsRequest())
    assert [i.instrument_id for i in response.instruments] == ["OTHER:BTC-USDT", "SIM:BTC-USD", "SIM:ETH-USD"]
    btc = response.instruments[1]
    assert btc.kind == marketdata_pb2.INSTRUMENT_KIND_SPOT
    assert (btc.price_increment.value, btc.size_increment.value) == ("0.5", "0.001")
    assert (btc.min_notional.value, btc.maker_fee.value, btc.taker_fee.value) == ("10", "0.0002", "0.0005")
    assert not btc.HasField("max_quantity")
    only_sim = await stub.ListInstruments(marketdata_pb2.ListInstrumentsRequest(venue="SIM"))
    assert [i.instrument_id for i in only_sim.instruments] == ["SIM:BTC-USD", "SIM:ETH-USD"]


async def test_get_order_book_when_depth_given_then_best_levels_first_as_decimal_strings(stub) -> None:
    response = await stub.GetOrderBook(
        marketdata_pb2.GetOrderBookRequest(instrument_id="SIM:BTC-USD", depth=2)
    )
    assert [(lv.price.value, lv.size.value) for lv in response.bids] == [
        ("100.0", "1.000"),
        ("99.5", "2.500"),
    ]
    assert [(lv.price.value, lv.size.value) for lv in response.asks] == [
        ("100.5", "0.750"),
        ("101.0", "3.000"),
    ]
    assert response.crossed is False
    assert response.ts_ns == 42


@pytest.mark.parametrize(
    ("instrument_id", "depth", "code", "field"),
    [
        ("SIM:BTC-USD", 0, grpc.StatusCode.INVALID_ARGUMENT, "depth"),
        ("SIM:BTC-USD", 1001, grpc.StatusCode.INVALID_ARGUMENT, "depth"),
        ("BTC-USD", 5, grpc.StatusCode.INVALID_ARGUMENT, "instrument_id"),
        ("", 5, grpc.StatusCode.INVALID_ARGUMENT, "instrument_id"),
        ("SIM:DOGE-USD", 5, grpc.StatusCode.NOT_FOUND, None),
    ],
)
async def test_get_order_book_when_request_invalid_then_clear_error(
    stub, instrument_id, depth, code, field
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetOrderBook(marketdata_pb2.GetOrderBookRequest(instrument_id=instrument_id, depth=depth))
    assert info.value.code() == code
    metadata = dict(info.value.trailing_metadata() or ())
    if field:
        assert metadata["algotrendy-field"] == field
    assert info.value.details()


async def test_list_instruments_when_venue_malformed_then_invalid_argument(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListInstruments(marketdata_pb2.ListInstrumentsRequest(venue="sim lower"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_registry_when_instrument_added_twice_then_duplicate_error() -> None:
    registry = MarketDataRegistry()
    registry.add_book(_instrument("BTC-USD"))
    with pytest.raises(DuplicateError):
        registry.add_book(_instrument("BTC-USD"))
