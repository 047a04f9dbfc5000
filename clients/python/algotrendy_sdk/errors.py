"""Typed exceptions for every non-OK answer of the engine.

The engine puts the machine-readable details of an error in the trailing metadata (see
``engine/api/errors.py``): ``algotrendy-reason`` (e.g. ``RISK_MAX_NOTIONAL``), ``algotrendy-field``
(the offending request field of an INVALID_ARGUMENT), ``retry-after-ms`` (RESOURCE_EXHAUSTED), and
for SubmitOrder the serialized ``Order`` in ``algotrendy-order-bin`` (a risk denial) or
``algotrendy-original-order-bin`` (a reused client_order_id). ``from_rpc_error`` turns all of that
into one exception class per status code, so callers write ``except OrderDenied as e: e.reason``
instead of comparing status codes and parsing metadata.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    from algotrendy_sdk.types import Order

REASON_KEY = "algotrendy-reason"
FIELD_KEY = "algotrendy-field"
RETRY_AFTER_KEY = "retry-after-ms"
DENIED_ORDER_KEY = "algotrendy-order-bin"
ORIGINAL_ORDER_KEY = "algotrendy-original-order-bin"

__all__ = [
    "AlgoTrendyError",
    "AlreadyExists",
    "Cancelled",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OrderDenied",
    "PermissionDenied",
    "RateLimited",
    "Unauthenticated",
    "Unavailable",
    "from_rpc_error",
]


class AlgoTrendyError(Exception):
    """A call the engine answered with a non-OK status.

    ``code`` is the gRPC status code, ``reason`` the engine's machine-readable reason (the status
    code's name when the engine sent none), ``details`` its human-readable message.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        *,
        reason: str = "",
        field: str = "",
        method: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.details = details
        self.reason = reason or code.name
        self.field = field
        self.method = method
        self.metadata = metadata or {}
        super().__init__(f"{code.name} {self.reason}: {details}" if details else f"{code.name} {self.reason}")


class InvalidArgument(AlgoTrendyError):
    """A request field is missing or malformed; ``field`` names it (a dotted path)."""


class NotFound(AlgoTrendyError):
    """An id in the request does not exist (``reason``: ``UNKNOWN_ACCOUNT``, ``UNKNOWN_INSTRUMENT`` ...)."""


class AlreadyExists(AlgoTrendyError):
    """The client_order_id (or user) exists already; ``original`` is the original order when sent."""

    original: Order | None = None


class FailedPrecondition(AlgoTrendyError):
    """The request is well-formed but the system's state refuses it (terminal order, last admin ...)."""


class OrderDenied(FailedPrecondition):
    """The risk gate denied an order (``reason``: ``RISK_*``, ``TRADING_HALTED`` ...).

    ``order`` is the DENIED order the engine recorded under the client_order_id, when it sent one.
    """

    order: Order | None = None


class RateLimited(AlgoTrendyError):
    """Too many calls (or a stream that fell too far behind); retry after ``retry_after`` seconds."""

    @property
    def retry_after_ms(self) -> int:
        try:
            return max(int(self.metadata.get(RETRY_AFTER_KEY, "0")), 0)
        except ValueError:
            return 0

    @property
    def retry_after(self) -> float:
        """Seconds to wait before retrying (0.0 if the engine did not say)."""
        return self.retry_after_ms / 1000.0


class Unauthenticated(AlgoTrendyError):
    """No credential, or an invalid, expired or revoked one."""


class PermissionDenied(AlgoTrendyError):
    """The caller's role is below the RPC's minimum role."""


class Unavailable(AlgoTrendyError):
    """The engine is unreachable, starting or draining; safe to retry reads (orders: by client_order_id)."""


class DeadlineExceeded(Unavailable):
    """No answer within the call's timeout. An order may still have been accepted: look it up by
    its client_order_id (or resubmit with the same id, which is idempotent) instead of a new one."""


class Cancelled(AlgoTrendyError):
    """The call was cancelled (by this client, or the server closed it)."""


class Internal(AlgoTrendyError):
    """The engine failed unexpectedly (it halts trading when that happens)."""


_BY_CODE: dict[grpc.StatusCode, type[AlgoTrendyError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimited,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.INTERNAL: Internal,
}

#: FAILED_PRECONDITION reasons that come from the risk gate (besides every ``RISK_*``).
_DENIAL_REASONS = frozenset({"TRADING_HALTED", "TRADING_REDUCING", "RISK_DENIED", "INSUFFICIENT_FUNDS"})


def _metadata_dict(items: Iterable[Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for item in items or ():
        key, value = (item.key, item.value) if hasattr(item, "key") else item
        result[key] = value
    return result


def from_rpc_error(exc: grpc.RpcError, method: str = "") -> AlgoTrendyError:
    """The typed exception for a failed call (``grpc.RpcError`` or ``grpc.aio.AioRpcError``)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    metadata = _metadata_dict(exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None)
    reason = str(metadata.get(REASON_KEY, ""))
    cls = _BY_CODE.get(code, AlgoTrendyError)
    if cls is FailedPrecondition and (
        reason.startswith("RISK_") or reason in _DENIAL_REASONS or DENIED_ORDER_KEY in metadata
    ):
        cls = OrderDenied
    error = cls(
        code,
        details,
        reason=reason,
        field=str(metadata.get(FIELD_KEY, "")),
        method=method,
        metadata=metadata,
    )
    if isinstance(error, OrderDenied) and DENIED_ORDER_KEY in metadata:
        error.order = _order_from_bytes(metadata[DENIED_ORDER_KEY])
    if isinstance(error, AlreadyExists) and ORIGINAL_ORDER_KEY in metadata:
        error.original = _order_from_bytes(metadata[ORIGINAL_ORDER_KEY])
    return error


def _order_from_bytes(data: bytes) -> Order | None:
    from algotrendy.v1 import orders_pb2
    from algotrendy_sdk.types import Order

    message = orders_pb2.Order()
    try:
        message.ParseFromString(data)
    except Exception:  # a malformed detail must not hide the error itself
        return None
    return Order.from_proto(message)
