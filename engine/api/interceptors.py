"""Server interceptors: per-RPC latency histograms (by service, method, type and status code)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from engine.telemetry.metrics import EngineMetrics


def _split(full_method: str) -> tuple[str, str]:
    # "/algotrendy.v1.EngineService/GetStatus" -> ("algotrendy.v1.EngineService", "GetStatus")
    _, service, method = full_method.split("/", 2) if full_method.count("/") >= 2 else ("", "", full_method)
    return service, method


def _code_of(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if code is None:
        return "OK"
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: EngineMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        service, method = _split(handler_call_details.method)
        metrics = self._metrics
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                metrics.rpc_started.labels(service, method, "unary").inc()
                start = time.perf_counter()
                code = "UNKNOWN"
                try:
                    response = await inner(request, context)
                    code = _code_of(context)
                    return response
                except grpc.aio.AbortError:
                    code = _code_of(context)
                    raise
                finally:
                    metrics.rpc_handling.labels(service, method, "unary", code).observe(
                        time.perf_counter() - start
                    )

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                metrics.rpc_started.labels(service, method, "server_stream").inc()
                start = time.perf_counter()
                code = "UNKNOWN"
                try:
                    async for item in inner_stream(request, context):
                        yield item
                    code = _code_of(context)
                except grpc.aio.AbortError:
                    code = _code_of(context)
                    raise
                finally:
                    metrics.rpc_handling.labels(service, method, "server_stream", code).observe(
                        time.perf_counter() - start
                    )

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer
            )
        return handler
