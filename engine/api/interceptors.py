"""Server interceptors: per-RPC latency histograms (by service, method, type and status code)."""

from __future__ import annotations

import inspect
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


class _MethodMetrics:
    """One method's metric children, looked up once: ``labels(...)`` costs a lock and a few dict
    lookups, which per call was a measurable share of a cheap RPC."""

    __slots__ = ("_by_code", "_handling", "_labels", "started")

    def __init__(self, metrics: EngineMetrics, service: str, method: str, kind: str) -> None:
        self._labels = (service, method, kind)
        self._handling = metrics.rpc_handling
        self.started = metrics.rpc_started.labels(service, method, kind)
        self._by_code: dict[str, Any] = {}

    def handling(self, code: str) -> Any:
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._handling.labels(*self._labels, code)
        return child


class _Measured:
    """One call's measurement, as a ``with`` block around the handler: counted on entry, timed on
    exit into the histogram under the call's final status code (what the servicer set or aborted
    with; ``UNKNOWN`` when the handler raised anything else or was cancelled)."""

    __slots__ = ("_context", "_metrics", "_start")

    def __init__(self, metrics: _MethodMetrics, context: grpc.aio.ServicerContext) -> None:
        self._metrics = metrics
        self._context = context

    def __enter__(self) -> None:
        self._metrics.started.inc()
        self._start = time.perf_counter()

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        finished = exc_type is None or issubclass(exc_type, grpc.aio.AbortError)
        code = _code_of(self._context) if finished else "UNKNOWN"
        self._metrics.handling(code).observe(time.perf_counter() - self._start)


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts every call and times it into a histogram by method and final status code.

    The measuring wrapper of a method's handler is built once and reused: the continuation hands
    back the same registered handler object for every call of a method, so the wrapper is cached
    with the handler it wraps and rebuilt only when a different one comes back (the auth
    interceptor's per-call refusal handlers, which are then wrapped for that call alone).
    """

    def __init__(self, metrics: EngineMetrics) -> None:
        self._metrics = metrics
        #: Full method name -> (the handler wrapped, its measuring wrapper).
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        full_method = handler_call_details.method
        cached = self._wrapped.get(full_method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(full_method, handler)
        self._wrapped[full_method] = (handler, wrapped)  # registered methods only: unknown ones are None
        return wrapped

    def _wrap(self, full_method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        service, method = _split(full_method)
        if handler.unary_unary is not None:
            inner = handler.unary_unary
            unary_metrics = _MethodMetrics(self._metrics, service, method, "unary")

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                with _Measured(unary_metrics, context):
                    return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None and inspect.iscoroutinefunction(handler.unary_stream):
            # A handler that writes with ``context.write`` (e.g. grpc's aio Health.Watch) is a
            # coroutine, not an async generator: iterating it fails, so it is awaited instead.
            inner_writer = handler.unary_stream
            writer_metrics = _MethodMetrics(self._metrics, service, method, "server_stream")

            async def unary_stream_writer(request: Any, context: grpc.aio.ServicerContext) -> None:
                with _Measured(writer_metrics, context):
                    await inner_writer(request, context)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream_writer, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream
            stream_metrics = _MethodMetrics(self._metrics, service, method, "server_stream")

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                with _Measured(stream_metrics, context):
                    async for item in inner_stream(request, context):
                        yield item

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer
            )
        return handler
