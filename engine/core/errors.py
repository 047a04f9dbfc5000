"""The one error hierarchy of the engine (DESIGN.md, "Errors").

The message path reports outcomes as events (a risk denial is an ``OrderDenied`` with a reason);
only boundaries raise: configuration, API decoding, venue and storage I/O, and invariants. Each
boundary maps these classes to its own vocabulary exactly once (``engine.api.errors`` for gRPC,
``ops`` for exit codes).
"""

from __future__ import annotations

from typing import Any


class AlgoTrendyError(Exception):
    """Base of every error the engine raises on purpose."""

    #: Stable machine-readable reason, e.g. ``RISK_MAX_NOTIONAL``; subclasses refine it.
    reason: str = "ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class ConfigError(AlgoTrendyError):
    """Invalid configuration: malformed file, unknown key or invalid value. Exit status 2."""

    reason = "INVALID_CONFIG"

    def __init__(self, key: str, problem: str, *, source: str | None = None) -> None:
        where = f" [{source}]" if source else ""
        super().__init__(f"{key}: {problem}{where}")
        self.key = key
        self.problem = problem
        self.source = source


class StartupError(AlgoTrendyError):
    """The engine cannot start in this environment (port taken, data directory locked). Exit status 2."""

    reason = "STARTUP_REFUSED"


class ValidationError(AlgoTrendyError):
    """A value is invalid; ``field`` names it. gRPC: INVALID_ARGUMENT."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, problem: str, *, reason: str | None = None) -> None:
        super().__init__(f"{field}: {problem}", reason=reason)
        self.field = field
        self.problem = problem


class NotFoundError(AlgoTrendyError):
    """gRPC: NOT_FOUND."""

    reason = "NOT_FOUND"


class DuplicateError(AlgoTrendyError):
    """A duplicate idempotency key; ``original`` is what the first request produced. ALREADY_EXISTS."""

    reason = "DUPLICATE"

    def __init__(self, message: str, *, original: Any = None, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.original = original


class PreconditionError(AlgoTrendyError):
    """The request is valid but the engine's state refuses it. gRPC: FAILED_PRECONDITION."""

    reason = "FAILED_PRECONDITION"


class TradingHaltedError(PreconditionError):
    reason = "TRADING_HALTED"


class RiskDeniedError(PreconditionError):
    """A pre-trade risk check denied the request; ``reason`` is the named check (``RISK_*``)."""

    reason = "RISK_DENIED"


class InsufficientFundsError(PreconditionError):
    reason = "INSUFFICIENT_FUNDS"


class VenueRejectedError(PreconditionError):
    reason = "VENUE_REJECTED"


class ResourceExhaustedError(AlgoTrendyError):
    """Throttled or too slow; retry after ``retry_after_ms``. gRPC: RESOURCE_EXHAUSTED."""

    reason = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, retry_after_ms: int = 0, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after_ms = retry_after_ms


class UnavailableError(AlgoTrendyError):
    """A venue is down, or the engine is starting or draining. gRPC: UNAVAILABLE."""

    reason = "UNAVAILABLE"


class AuthenticationError(AlgoTrendyError):
    reason = "UNAUTHENTICATED"


class PermissionDeniedError(AlgoTrendyError):
    reason = "PERMISSION_DENIED"


class StorageError(AlgoTrendyError):
    """Persistent storage failed (I/O, corruption, incompatible schema)."""

    reason = "STORAGE_ERROR"


class InvariantViolation(AlgoTrendyError):
    """Something that must never happen did. Trading halts; gRPC: INTERNAL."""

    reason = "INVARIANT_VIOLATION"
