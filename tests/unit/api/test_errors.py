from __future__ import annotations

import grpc
import pytest

from engine.api.errors import FIELD_KEY, REASON_KEY, RETRY_AFTER_KEY, status_for
from engine.core import errors


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (
            errors.ValidationError("price", "not on the tick grid", reason="PRICE_OFF_TICK"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "PRICE_OFF_TICK",
        ),
        (errors.NotFoundError("order c-1 not found"), grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
        (errors.DuplicateError("c-1 exists", original="o"), grpc.StatusCode.ALREADY_EXISTS, "DUPLICATE"),
        (
            errors.RiskDeniedError("too big", reason="RISK_MAX_NOTIONAL"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "RISK_MAX_NOTIONAL",
        ),
        (errors.TradingHaltedError("halted"), grpc.StatusCode.FAILED_PRECONDITION, "TRADING_HALTED"),
        (
            errors.ResourceExhaustedError("slow down", retry_after_ms=250),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "RESOURCE_EXHAUSTED",
        ),
        (errors.UnavailableError("draining"), grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
        (errors.AuthenticationError("no token"), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        (errors.PermissionDeniedError("viewer"), grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
        (errors.InvariantViolation("negative position"), grpc.StatusCode.INTERNAL, "INVARIANT_VIOLATION"),
    ],
)
def test_status_for_when_domain_error_then_mapped_code_and_reason(
    error: errors.AlgoTrendyError, code: grpc.StatusCode, reason: str
) -> None:
    got_code, message, metadata = status_for(error)
    assert got_code == code
    assert (REASON_KEY, reason) in metadata
    if code is grpc.StatusCode.INTERNAL:
        assert "negative position" not in message  # internals never leak to clients


def test_status_for_when_validation_or_throttle_then_field_and_retry_delay_in_metadata() -> None:
    _, message, metadata = status_for(errors.ValidationError("quantity", "must be positive"))
    assert (FIELD_KEY, "quantity") in metadata
    assert message == "quantity: must be positive"
    _, _, metadata = status_for(errors.ResourceExhaustedError("throttled", retry_after_ms=120))
    assert (RETRY_AFTER_KEY, "120") in metadata


def test_status_for_when_unknown_exception_then_internal() -> None:
    code, message, metadata = status_for(KeyError("x"))
    assert code is grpc.StatusCode.INTERNAL
    assert message == "internal error"
    assert metadata == ((REASON_KEY, "INTERNAL"),)
