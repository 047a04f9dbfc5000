"""Client-side credentials for tests: channels that send ``authorization`` metadata on every call.

Every AlgoTrendy RPC except Login/Refresh, health and reflection needs a credential
(``authorization: Bearer <JWT>`` or ``authorization: ApiKey <key>``). A local engine writes an admin
API key to ``<data_dir>/admin-credentials.json`` on its first start; ``admin_authorization`` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import grpc

ADMIN_CREDENTIALS_FILE = "admin-credentials.json"


def admin_api_key(data_dir: Path) -> str:
    return json.loads((Path(data_dir) / ADMIN_CREDENTIALS_FILE).read_text())["api_key"]


def admin_authorization(data_dir: Path) -> str:
    return f"ApiKey {admin_api_key(data_dir)}"


def _with(metadata: Any, authorization: str) -> tuple[tuple[str, str], ...]:
    items = tuple((k, v) for k, v in (metadata or ()) if k != "authorization")
    return (*items, ("authorization", authorization))


class _AioAuthMetadata:
    """Adds ``authorization`` unless the call sets its own."""

    def __init__(self, authorization: str) -> None:
        self.authorization = authorization

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = tuple(details.metadata or ())
        if any(k == "authorization" for k, _ in metadata):
            return details
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*_with(metadata, self.authorization)),
            details.credentials,
            details.wait_for_ready,
        )


# grpc.aio files each interceptor under the first call kind it implements, so one class per kind.
class _UnaryUnary(_AioAuthMetadata, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Callable, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _UnaryStream(_AioAuthMetadata, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Callable, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _StreamUnary(_AioAuthMetadata, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Callable, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class _StreamStream(_AioAuthMetadata, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Callable, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def auth_interceptors(authorization: str) -> list[Any]:
    """grpc.aio client interceptors that send ``authorization`` on every kind of call."""
    return [cls(authorization) for cls in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)]


def aio_channel(
    target: str, authorization: str | None, credentials: grpc.ChannelCredentials | None = None, **kw: Any
) -> grpc.aio.Channel:
    """A grpc.aio channel that authenticates every call (``authorization`` None: no credential)."""
    interceptors = auth_interceptors(authorization) if authorization else None
    if credentials is not None:
        return grpc.aio.secure_channel(target, credentials, interceptors=interceptors, **kw)
    return grpc.aio.insecure_channel(target, interceptors=interceptors, **kw)


class _SyncDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class _SyncAuthMetadata(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, authorization: str) -> None:
        self.authorization = authorization

    def _details(self, d: Any) -> _SyncDetails:
        return _SyncDetails(
            d.method,
            d.timeout,
            _with(d.metadata, self.authorization),
            d.credentials,
            getattr(d, "wait_for_ready", None),
            getattr(d, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Callable, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable, details: Any, requests: Iterator[Any]) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Callable, details: Any, requests: Iterator[Any]) -> Any:
        return continuation(self._details(details), requests)


def sync_channel(target: str, authorization: str | None) -> grpc.Channel:
    """A blocking channel that authenticates every call (``authorization`` None: no credential)."""
    channel = grpc.insecure_channel(target)
    if authorization is None:
        return channel
    return grpc.intercept_channel(channel, _SyncAuthMetadata(authorization))
