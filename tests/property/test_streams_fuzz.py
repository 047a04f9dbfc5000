"""Hypothesis fuzz of the three stream RPCs on the real engine (authenticated, LMDB, sim venue).

Random and malformed requests to StreamMarketData, StreamOrderEvents and StreamPositions: the
answer is a first message (a valid request) or INVALID_ARGUMENT / NOT_FOUND, never INTERNAL, never
a crash; undecodable bytes get UNKNOWN from grpc before any servicer runs. No request changes any
state (the journal and the order sequence stay put) and no subscriber outlives its call.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from algotrendy.v1 import marketdata_pb2, orders_pb2, portfolio_pb2
from engine.app import Engine
from engine.config import load_config
from engine.indicators import registry

ACCEPTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
METHODS = {
    "/algotrendy.v1.MarketDataService/StreamMarketData": marketdata_pb2.StreamMarketDataResponse,
    "/algotrendy.v1.OrderService/StreamOrderEvents": orders_pb2.StreamOrderEventsResponse,
    "/algotrendy.v1.PortfolioService/StreamPositions": portfolio_pb2.StreamPositionsResponse,
}
IDS = st.sampled_from(
    ["", "SIM:BTC-USD", "SIM:ETH-USD", "SIM:SOL-USD", "SIM:NOPE-USD", "bad id", "x" * 300]
) | st.text(max_size=24)
ACCOUNTS = st.sampled_from(["", "main", "ghost", "bad id"]) | st.text(max_size=24)
NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**7), 10**7).map(float)
PARAMS = st.dictionaries(
    st.sampled_from(["timeperiod", "nbdevup", "nbdevdn", "matype", "fastperiod", "slowperiod", "foo"])
    | st.text(max_size=12),
    NUMBERS,
    max_size=5,
)
CHANNELS = st.builds(
    marketdata_pb2.ChannelSubscription,
    channel=st.integers(-3, 9),
    book_depth=st.sampled_from([0, 1, 10, 100, 101]) | st.integers(0, 2**32 - 1),
    bar_interval_ns=st.sampled_from([0, 1_000_000_000, 60_000_000_000, 7, -1])
    | st.integers(-(2**63), 2**63 - 1),
    indicator=st.sampled_from(["", "nope", *registry.names()]) | st.text(max_size=12),
    indicator_params=PARAMS,
)
MARKET_DATA = st.builds(
    marketdata_pb2.StreamMarketDataRequest,
    instrument_ids=st.lists(IDS, max_size=3) | st.lists(st.just("SIM:BTC-USD"), min_size=65, max_size=66),
    channels=st.lists(CHANNELS, max_size=4) | st.lists(CHANNELS, min_size=17, max_size=17),
)
SEQUENCE = st.sampled_from([0, 1, 2, 10**6]) | st.integers(0, 2**64 - 1)
ORDER_EVENTS = st.builds(
    orders_pb2.StreamOrderEventsRequest, account_id=ACCOUNTS, instrument_id=IDS, from_sequence=SEQUENCE
)
POSITIONS = st.builds(
    portfolio_pb2.StreamPositionsRequest, account_id=ACCOUNTS, instrument_id=IDS, from_sequence=SEQUENCE
)
REQUESTS = (
    st.tuples(st.just("/algotrendy.v1.MarketDataService/StreamMarketData"), MARKET_DATA)
    | st.tuples(st.just("/algotrendy.v1.OrderService/StreamOrderEvents"), ORDER_EVENTS)
    | st.tuples(st.just("/algotrendy.v1.PortfolioService/StreamPositions"), POSITIONS)
)


class Harness:
    """The engine on a loop of our own (hypothesis is synchronous) and one authenticated channel."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        config = load_config(
            env={},
            overrides={
                "data_dir": str(Path(self.tmp.name) / "data"),
                "grpc.port": 0,
                "metrics.enabled": False,
                "log.level": "warning",
                "store.durability": "async",
                "sim.step_ms": 20,
                "auth.argon2_memory_kib": 64,
                "auth.argon2_time_cost": 1,
                "rate_limits.streams_per_second": 1_000_000,
                "rate_limits.streams_burst": 1_000_000,
                "streams.heartbeat_interval_ms": 50,  # every valid stream answers quickly
            },
        )
        self.engine = self.loop.run_until_complete(self._start(config))
        key = json.loads((config.data_dir / "admin-credentials.json").read_text())["api_key"]
        self.metadata = (("authorization", f"ApiKey {key}"),)
        self.channel = self.loop.run_until_complete(self._channel())

    @staticmethod
    async def _start(config: Any) -> Engine:
        engine = Engine(config)  # on the loop: its gRPC server belongs to this loop
        await engine.start()
        return engine

    async def _channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(f"127.0.0.1:{self.engine.grpc.port}")

    def state(self) -> tuple[int, int]:
        trading = self.engine.trading
        assert trading is not None and trading.oms is not None and trading.persistence is not None
        return trading.oms.sequence, trading.persistence.journal.last_sequence

    def first(self, method: str, payload: bytes) -> grpc.StatusCode:
        """Open the stream with ``payload`` (serialized request or garbage), read one message."""
        call = self.channel.unary_stream(
            method, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )

        async def run() -> grpc.StatusCode:
            stream = call(payload, metadata=self.metadata, timeout=20)
            try:
                message = await stream.read()
                assert message is not grpc.aio.EOF, "a stream ended without a message or a status"
                METHODS[method].FromString(message)  # a well-formed response
                return grpc.StatusCode.OK
            except grpc.aio.AioRpcError as error:
                return error.code()
            finally:
                stream.cancel()

        code = self.loop.run_until_complete(run())
        self.loop.run_until_complete(self._drained())
        return code

    async def _drained(self) -> None:
        deadline = asyncio.get_running_loop().time() + 10
        while len(self.engine.streams):
            assert asyncio.get_running_loop().time() < deadline, "a subscriber outlived its call"
            await asyncio.sleep(0.002)

    def close(self) -> None:
        self.loop.run_until_complete(self.channel.close())
        self.loop.run_until_complete(self.engine.stop())
        self.loop.close()
        self.tmp.cleanup()


def run_with_engine(body: Callable[[Harness], None]) -> None:
    harness = Harness()
    try:
        body(harness)
    finally:
        harness.close()


def test_streams_fuzz_when_random_requests_then_first_message_or_named_rejection_and_nothing_changes() -> (
    None
):
    def body(h: Harness) -> None:
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(request=REQUESTS)
        def one(request: tuple[str, Any]) -> None:
            method, message = request
            before = h.state()
            code = h.first(method, message.SerializeToString())
            assert code in ACCEPTED, (method, message, code)
            assert h.state() == before

        one()

    run_with_engine(body)


def test_streams_fuzz_when_undecodable_bytes_then_never_internal_and_nothing_changes() -> None:
    def body(h: Harness) -> None:
        @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(method=st.sampled_from(sorted(METHODS)), payload=st.binary(max_size=200))
        def one(method: str, payload: bytes) -> None:
            before = h.state()
            code = h.first(method, payload)
            # UNKNOWN: grpc could not decode the request, so no servicer ran (as for the unary RPCs).
            assert code in (*ACCEPTED, grpc.StatusCode.UNKNOWN), (method, payload, code)
            assert h.state() == before

        one()

    run_with_engine(body)
