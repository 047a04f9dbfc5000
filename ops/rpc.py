"""Small gRPC helpers for the CLI: one channel per command, errors turned into exit codes.

Credentials (``authorization`` metadata): ``$ALGOTRENDY_API_KEY``, else the local engine's
first-start admin key in ``<data_dir>/admin-credentials.json`` (``$ALGOTRENDY_DATA_DIR``, default
``.algotrendy``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
import typer

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3


def local_authorization() -> tuple[tuple[str, str], ...]:
    """The ``authorization`` metadata from the environment or the local admin file (empty if none)."""
    key = os.environ.get("ALGOTRENDY_API_KEY")
    if not key:
        path = Path(os.environ.get("ALGOTRENDY_DATA_DIR") or ".algotrendy") / "admin-credentials.json"
        try:
            key = json.loads(path.read_text())["api_key"]
        except (OSError, ValueError, KeyError, TypeError):
            return ()
    return (("authorization", f"ApiKey {key}"),)


class _Authorization(grpc.UnaryUnaryClientInterceptor):
    """Adds the credential metadata to every unary call."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(details._replace(metadata=(*(details.metadata or ()), *self._metadata)), request)


def call_engine(target: str, timeout_s: float, call: Callable[[Any, float], T]) -> T:
    """Run ``call(EngineServiceStub, timeout)`` with the local credentials; print a one-line error
    and exit on failure."""
    from algotrendy.v1 import engine_pb2_grpc

    with grpc.insecure_channel(target) as raw:
        channel = grpc.intercept_channel(raw, _Authorization(local_authorization()))
        try:
            return call(engine_pb2_grpc.EngineServiceStub(channel), timeout_s)
        except grpc.RpcError as exc:
            _fail(target, exc)
    raise AssertionError("unreachable")


def check_health(target: str, service: str, timeout_s: float) -> tuple[bool, str]:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        except grpc.RpcError as exc:
            return False, f"{target}: {exc.code().name}: {exc.details()}"
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return response.status == health_pb2.HealthCheckResponse.SERVING, f"{target}: {name}"


def _fail(target: str, exc: grpc.RpcError) -> None:
    code = exc.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        typer.echo(f"algotrendy: engine at {target} is unreachable ({code.name}): is it running?", err=True)
        raise typer.Exit(EXIT_UNAVAILABLE)
    typer.echo(f"algotrendy: {code.name}: {exc.details()}", err=True)
    raise typer.Exit(EXIT_FAILED)
