"""The gRPC server with services added as generic handlers only: every call still passes the
interceptors (metrics outermost, then auth), the metrics carry each method's own labels for unary
and server-streaming calls and for refused ones, and an unknown method answers UNIMPLEMENTED."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from algotrendy.v1 import engine_pb2, engine_pb2_grpc
from engine.api.auth.interceptor import AuthInterceptor
from engine.api.auth.ratelimit import RateLimiter
from engine.api.server import GrpcServer
from engine.config import load_config
from engine.core.component import EngineState, EngineStatus
from engine.core.enums import TradingState
from engine.telemetry import EngineMetrics

HEALTH = "grpc.health.v1.Health"
ENGINE = "algotrendy.v1.EngineService"


def _status() -> EngineStatus:
    return EngineStatus("test", "t", 0, EngineState.RUNNING, TradingState.ACTIVE, 1, 2, (), 0, 0, 0, 0, 0)


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, EngineMetrics]]:
    config = load_config(env={}, overrides={"grpc.port": 0, "grpc.host": "127.0.0.1"})
    metrics = EngineMetrics("server-test")
    # No store attached: every credentialed call is refused (UNAVAILABLE, ENGINE_STARTING) by the
    # auth interceptor's per-call refusal handler; health passes untouched.
    server = GrpcServer(
        config.grpc, metrics, _status, interceptors=[AuthInterceptor(RateLimiter(config.rate_limits))]
    )
    port = server.bind()
    await server.start()
    await server.set_serving(True)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, metrics
    finally:
        await channel.close()
        await server.stop(0)


def _count(metrics: EngineMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_server_when_methods_called_then_each_passes_the_interceptors_with_its_own_labels(
    served: tuple[grpc.aio.Channel, EngineMetrics],
) -> None:
    channel, metrics = served
    health = health_pb2_grpc.HealthStub(channel)
    for _ in range(3):  # the cached wrapper of a method is reused call after call
        answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    watch = health.Watch(health_pb2.HealthCheckRequest(service=ENGINE))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()
    engine = engine_pb2_grpc.EngineServiceStub(channel)
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await engine.GetStatus(engine_pb2.GetStatusRequest())
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE  # refused by the auth interceptor
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await channel.unary_unary(f"/{ENGINE}/NoSuchMethod")(b"")
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED

    started = "algotrendy_grpc_server_started_total"
    handled = "algotrendy_grpc_server_handling_seconds_count"
    unary = {"grpc_service": HEALTH, "grpc_method": "Check", "grpc_type": "unary"}
    assert _count(metrics, started, **unary) == 3
    assert _count(metrics, handled, **unary, grpc_code="OK") == 3
    stream = {"grpc_service": HEALTH, "grpc_method": "Watch", "grpc_type": "server_stream"}
    assert _count(metrics, started, **stream) == 1
    refused = {"grpc_service": ENGINE, "grpc_method": "GetStatus", "grpc_type": "unary"}
    assert _count(metrics, started, **refused) == 2
    assert _count(metrics, handled, **refused, grpc_code="UNAVAILABLE") == 2
    assert _count(metrics, started, grpc_service=ENGINE, grpc_method="NoSuchMethod", grpc_type="unary") == 0
