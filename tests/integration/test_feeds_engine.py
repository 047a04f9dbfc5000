"""The engine with ``[feeds]``: feeds from local mock exchanges (recorded OKX, Kraken and Coinbase
sessions) start with ``Engine.start``; ``GetOrderBook`` over gRPC serves their books; their trades,
quotes, book updates go on the bus; the risk gate's reference route publishes on data.reference.*."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from algotrendy.v1 import marketdata_pb2, marketdata_pb2_grpc
from engine.app import Engine
from engine.config import load_config
from engine.core.enums import ComponentState
from engine.core.events import OrderBookUpdated, QuoteTick, TradeTick
from engine.core.ids import InstrumentId
from tests.integration.grpc_auth import admin_authorization, aio_channel
from tests.mockex import venues

OKX_BTC = InstrumentId("OKX:BTC-USDT")
KRAKEN_XMR = InstrumentId("KRAKEN:XMR/USD")
COINBASE_SKL = InstrumentId("COINBASE:SKL-USD")


@pytest.fixture
async def mocks(shared_data: Path) -> AsyncIterator[dict[str, venues.VenueMock]]:
    started = {name: venues.ALL[name](shared_data) for name in ("okx", "kraken", "coinbase")}
    for vm in started.values():
        await vm.mock.start()
    yield started
    for vm in started.values():
        await vm.mock.stop()


async def eventually(predicate: Callable[[], bool], timeout_s: float = 15.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _overrides(tmp_path: Path, mocks: dict[str, venues.VenueMock]) -> dict[str, Any]:
    def source(name: str, symbols: list[str]) -> dict[str, Any]:
        return {"venue": name, "symbols": symbols, "endpoint": f"127.0.0.1:{mocks[name].mock.port}"}

    return {
        "data_dir": str(tmp_path / "data"),
        "grpc.port": 0,
        "metrics.port": 0,
        "store.durability": "async",
        "auth.argon2_memory_kib": 64,
        "auth.argon2_time_cost": 1,
        "feeds.backoff_ms": 20,
        "feeds.max_backoff_ms": 200,
        "feeds.sources": [
            source("okx", ["BTC/USDT"]),
            source("kraken", ["XMR/USD"]),
            source("coinbase", ["SKL/USD"]),
        ],
        "feeds.reference_fallbacks": {"OKX:BTC-USDT": ["COINBASE:SKL-USD"]},
    }


async def test_engine_with_feeds_when_started_then_books_served_over_grpc_and_events_on_the_bus(
    tmp_path: Path, mocks: dict[str, venues.VenueMock]
) -> None:
    engine = Engine(load_config(env={}, overrides=_overrides(tmp_path, mocks)))
    seen: dict[str, list[Any]] = {"trades": [], "quotes": [], "books": [], "reference": []}
    engine.bus.subscribe("data.trades.*", seen["trades"].append)
    engine.bus.subscribe("data.quotes.*", seen["quotes"].append)
    engine.bus.subscribe("data.books.*", seen["books"].append)
    engine.bus.subscribe("data.reference.*", seen["reference"].append)
    await engine.start()
    try:
        assert engine.feeds is not None
        assert engine.components["feeds"].state is ComponentState.RUNNING
        books = dict((i.id, b) for i, b in engine.feeds.books())
        assert set(books) == {OKX_BTC, KRAKEN_XMR, COINBASE_SKL}
        await eventually(
            lambda: (
                all(vm.mock.replay_done.is_set() for vm in mocks.values())
                and all(not b.l2.needs_snapshot and len(b) for b in books.values())
            ),
            what="books synced",
        )
        await eventually(lambda: {q.instrument_id for q in seen["quotes"]} >= set(books), what="quotes")
        assert all(isinstance(t, TradeTick) for t in seen["trades"]) and seen["trades"]
        assert all(isinstance(e, OrderBookUpdated) for e in seen["books"])
        # the OKX book's reference quotes are its own (fresh, healthy)
        assert seen["reference"] and all(
            isinstance(q, QuoteTick) and q.instrument_id == OKX_BTC for q in seen["reference"]
        )
        assert engine.feeds.references.selected[OKX_BTC] == OKX_BTC

        port = engine.grpc.port
        assert port is not None
        async with aio_channel(f"127.0.0.1:{port}", admin_authorization(tmp_path / "data")) as channel:
            stub = marketdata_pb2_grpc.MarketDataServiceStub(channel)
            for iid, book in books.items():
                response = await stub.GetOrderBook(
                    marketdata_pb2.GetOrderBookRequest(instrument_id=str(iid), depth=10)
                )
                expected = book.snapshot(10)
                assert [(lv.price.value, lv.size.value) for lv in response.bids] == [
                    (str(p), str(q)) for p, q in expected.bids
                ]
                assert [(lv.price.value, lv.size.value) for lv in response.asks] == [
                    (str(p), str(q)) for p, q in expected.asks
                ]
                assert response.crossed is False
            listed = await stub.ListInstruments(marketdata_pb2.ListInstrumentsRequest(venue="OKX"))
            assert [i.instrument_id for i in listed.instruments] == [str(OKX_BTC)]
    finally:
        await engine.stop()
    assert engine.components["feeds"].state is ComponentState.STOPPED
    assert all(h.state.value == "stopped" for h in engine.feeds.handlers)
