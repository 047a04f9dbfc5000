"""Prometheus metrics: one registry per engine, served on its own port by a daemon thread.

The HTTP thread only reads metric values (prometheus_client's metrics are thread-safe); it never
touches trading state.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from engine.core.errors import StartupError

#: Seconds; from 10 µs (an idle loop) to 1 s (something blocked the loop badly).
LOOP_LAG_BUCKETS = (
    10e-6,
    25e-6,
    50e-6,
    100e-6,
    250e-6,
    500e-6,
    1e-3,
    2.5e-3,
    5e-3,
    10e-3,
    25e-3,
    50e-3,
    100e-3,
    250e-3,
    1.0,
)
#: Seconds; unary control RPCs are sub-millisecond, streams can last hours.
RPC_BUCKETS = (
    50e-6,
    100e-6,
    250e-6,
    500e-6,
    1e-3,
    2.5e-3,
    5e-3,
    10e-3,
    25e-3,
    50e-3,
    100e-3,
    250e-3,
    1.0,
    5.0,
    30.0,
)


class EngineMetrics:
    """All engine metrics in one registry (so several engines in one test process don't collide)."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.loop_lag = Histogram(
            "algotrendy_event_loop_lag_seconds",
            "How late the event loop ran a due callback (the single writer's scheduling delay).",
            buckets=LOOP_LAG_BUCKETS,
            registry=self.registry,
        )
        self.rpc_handling = Histogram(
            "algotrendy_grpc_server_handling_seconds",
            "Time from receiving a gRPC call to completing it, by method and status code.",
            ["grpc_service", "grpc_method", "grpc_type", "grpc_code"],
            buckets=RPC_BUCKETS,
            registry=self.registry,
        )
        self.rpc_started = Counter(
            "algotrendy_grpc_server_started",
            "gRPC calls started, by method.",
            ["grpc_service", "grpc_method", "grpc_type"],
            registry=self.registry,
        )
        self.uptime = Gauge(
            "algotrendy_engine_uptime_seconds", "Seconds since the engine started.", registry=self.registry
        )
        self.info = Gauge(
            "algotrendy_engine_info",
            "Engine build and instance (value is always 1).",
            ["version", "instance"],
            registry=self.registry,
        )
        self._http_server: Any = None
        self._http_thread: Any = None
        self._port: int | None = None

    def register_collector(self, collector: Collector) -> None:
        self.registry.register(collector)

    # -- HTTP endpoint --------------------------------------------------------------------------
    def serve_http(self, host: str, port: int) -> int:
        """Start ``/metrics`` on ``host:port`` in a daemon thread; returns the bound port."""
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"metrics port {port} on {host} is already in use (set metrics.port or --metrics-port)"
                ) from None
            raise StartupError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        self._http_server, self._http_thread = server, thread
        self._port = server.server_address[1]
        return self._port

    @property
    def http_port(self) -> int | None:
        return self._port

    def stop_http(self) -> None:
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            self._http_thread.join(timeout=2)
            self._http_server = self._http_thread = None


class CallbackCollector(Collector):
    """Expose plain integer counters/gauges owned by loop objects, read at scrape time."""

    def __init__(
        self,
        counters: Iterable[tuple[str, str, Callable[[], float]]] = (),
        gauges: Iterable[tuple[str, str, Callable[[], float]]] = (),
    ) -> None:
        self._counters = list(counters)
        self._gauges = list(gauges)

    def collect(self):  # type: ignore[override]
        for name, doc, read in self._counters:
            yield CounterMetricFamily(name, doc, value=read())
        for name, doc, read in self._gauges:
            yield GaugeMetricFamily(name, doc, value=read())
