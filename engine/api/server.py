"""The gRPC server (``grpc.aio``) on the engine's event loop, with health and reflection.

Health: the overall service ``""`` and each AlgoTrendy service report SERVING once the engine runs
and NOT_SERVING as soon as it starts draining, so load balancers and the Docker healthcheck stop
sending work before in-flight calls are given ``grace_period_s`` to finish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from algotrendy.v1 import engine_pb2, engine_pb2_grpc
from engine.api.engine_service import EngineServicer
from engine.api.interceptors import MetricsInterceptor
from engine.config import GrpcConfig, TlsConfig
from engine.core.component import EngineStatus
from engine.core.errors import StartupError
from engine.telemetry.metrics import EngineMetrics

ENGINE_SERVICE = engine_pb2.DESCRIPTOR.services_by_name["EngineService"].full_name


class _GenericHandlersOnly:
    """The server as the generated ``add_*Servicer_to_server`` functions see it: their handlers are
    added as generic handlers only, never as "registered methods". For every registered method the
    grpc.aio server keeps a pending call-request task and, for each call it accepts, waits on all of
    them again (``asyncio.wait``): with the engine's ~40 methods that was the largest single cost of
    a unary call in Python, ~30 us, where a lookup among the generic handlers is a dict get per
    service."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        """Not registered: the same handlers arrive through ``add_generic_rpc_handlers``."""


class GrpcServer:
    def __init__(
        self,
        config: GrpcConfig,
        metrics: EngineMetrics,
        status: Callable[[], EngineStatus],
        *,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        tls: TlsConfig | None = None,
    ) -> None:
        """``interceptors`` run inside the metrics interceptor (so refused calls are measured too),
        in order: the auth interceptor goes here. ``tls`` with a certificate serves TLS (mutual
        TLS with ``client_ca_file``)."""
        self._config = config
        self._tls = tls
        max_bytes = config.max_message_mb * 1024 * 1024
        self._server = grpc.aio.server(
            interceptors=[MetricsInterceptor(metrics), *interceptors],
            options=[
                # Without this two engines could bind the same port and split the traffic.
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", max_bytes),
                ("grpc.max_send_message_length", max_bytes),
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ],
        )
        self._registrar = _GenericHandlersOnly(self._server)
        self._health = health.aio.HealthServicer()
        self._services = [ENGINE_SERVICE]
        engine_pb2_grpc.add_EngineServiceServicer_to_server(EngineServicer(status), self._registrar)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._registrar)
        self.port: int | None = None

    @property
    def server(self) -> grpc.aio.Server:
        """For registering further services before ``start``."""
        return self._server

    def register(
        self, add_to_server: Callable[[Any, grpc.aio.Server], None], servicer: Any, service: str
    ) -> None:
        """Add a servicer (``add_XServiceServicer_to_server``) and declare ``service`` for health and reflection."""
        add_to_server(servicer, self._registrar)
        self._services.append(service)

    def bind(self) -> int:
        """Bind the listening port without serving yet (so a port conflict fails before any state opens)."""
        address = f"{self._config.host}:{self._config.port}"
        credentials = server_credentials(self._tls) if self._tls is not None else None
        try:
            if credentials is None:
                port = self._server.add_insecure_port(address)
            else:
                port = self._server.add_secure_port(address, credentials)
        except RuntimeError:
            port = 0
        if port == 0 and self._config.port != 0:
            raise StartupError(
                f"gRPC port {self._config.port} on {self._config.host} is already in use or cannot be bound "
                "(set grpc.port or --grpc-port)"
            )
        if port == 0:
            raise StartupError(f"cannot bind gRPC to {address}")
        self.port = port
        return port

    async def start(self) -> int:
        """Start serving on the bound port (``bind`` first)."""
        assert self.port is not None, "bind() first"
        if self._config.reflection:
            # What reflection.enable_server_reflection does for an aio server, through the registrar.
            reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
                reflection.aio.ReflectionServicer(
                    (*self._services, health.SERVICE_NAME, reflection.SERVICE_NAME)
                ),
                self._registrar,
            )
        await self._server.start()
        return self.port

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self._services):
            await self._health.set(name, status)

    async def stop(self, grace_s: float) -> None:
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace_s)


def server_credentials(tls: TlsConfig) -> grpc.ServerCredentials | None:
    """TLS credentials from PEM files (None: no certificate configured, plaintext). With a client
    CA every client must present a certificate it signed (mutual TLS)."""
    if not tls.cert_file:
        return None

    def read(name: str, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise StartupError(f"tls.{name} {path!r} cannot be read: {exc.strerror or exc}") from None

    chain = read("cert_file", tls.cert_file)
    key = read("key_file", tls.key_file)
    client_ca = read("client_ca_file", tls.client_ca_file) if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
