"""The one mapping from domain errors to gRPC status codes (DESIGN.md, "Errors").

Every non-OK answer carries the machine-readable reason in the trailing metadata key
``algotrendy-reason`` (e.g. ``RISK_MAX_NOTIONAL``), the offending field in ``algotrendy-field`` for
validation errors, and ``retry-after-ms`` for RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import structlog

from engine.core import errors

REASON_KEY = "algotrendy-reason"
FIELD_KEY = "algotrendy-field"
RETRY_AFTER_KEY = "retry-after-ms"

_log = structlog.get_logger("engine.api")

#: Most specific class first.
STATUS_BY_ERROR: tuple[tuple[type[errors.AlgoTrendyError], grpc.StatusCode], ...] = (
    (errors.ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.ConfigError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
    (errors.DuplicateError, grpc.StatusCode.ALREADY_EXISTS),
    (errors.PreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ResourceExhaustedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.UnavailableError, grpc.StatusCode.UNAVAILABLE),
    (errors.AuthenticationError, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (errors.InvariantViolation, grpc.StatusCode.INTERNAL),
    (errors.StorageError, grpc.StatusCode.INTERNAL),
    (errors.AlgoTrendyError, grpc.StatusCode.INTERNAL),
)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str], ...]]:
    """The gRPC code, message and trailing metadata for an exception."""
    for kind, code in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            assert isinstance(exc, errors.AlgoTrendyError)
            metadata = [(REASON_KEY, exc.reason)]
            if isinstance(exc, errors.ValidationError):
                metadata.append((FIELD_KEY, exc.field))
            if isinstance(exc, errors.ResourceExhaustedError):
                metadata.append((RETRY_AFTER_KEY, str(exc.retry_after_ms)))
            message = (
                exc.message if code is not grpc.StatusCode.INTERNAL else f"internal error ({exc.reason})"
            )
            return code, message, tuple(metadata)
    return grpc.StatusCode.INTERNAL, "internal error", ((REASON_KEY, "INTERNAL"),)


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def grpc_errors(on_internal: Callable[[BaseException], None] | None = None) -> Callable[[F], F]:
    """Decorate an async unary servicer method: domain errors become the mapped status.

    Unmapped exceptions and invariant violations answer INTERNAL (without leaking internals) and
    are passed to ``on_internal`` (the app halts trading there).
    """

    def decorate(method: F) -> F:
        @functools.wraps(method)
        async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await method(self, request, context)
            except errors.AlgoTrendyError as exc:
                code, message, metadata = status_for(exc)
                if code is grpc.StatusCode.INTERNAL:
                    _log.error("api.internal_error", method=method.__qualname__, exc_info=exc)
                    if on_internal is not None:
                        on_internal(exc)
                context.set_trailing_metadata(metadata)
                await context.abort(code, message)
            except (grpc.aio.AbortError, grpc.aio.UsageError):
                raise
            except Exception as exc:
                _log.error("api.unhandled_error", method=method.__qualname__, exc_info=exc)
                if on_internal is not None:
                    on_internal(exc)
                context.set_trailing_metadata(((REASON_KEY, "INTERNAL"),))
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return wrapper  # type: ignore[return-value]

    return decorate
