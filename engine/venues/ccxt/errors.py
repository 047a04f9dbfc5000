"""ccxt errors, mapped once (DESIGN.md, "Errors").

Every ccxt call of the live venue goes through ``classify``: one ordered table turns a ccxt exception
into what to do about it. What is safe depends on whether the call was a read or an order write:

==========================  =================================  ===========================================
ccxt error                  read (fetch_*, watch_*)            order write (create / edit / cancel)
==========================  =================================  ===========================================
RateLimitExceeded,          back off, then retry               back off, then send again: the venue
DDoSProtection                                                 refused the request (HTTP 429/418), it did
                                                               not act on it; the client order id makes a
                                                               repeat that did land a DuplicateOrderId
RequestTimeout,             retry with backoff                 **outcome unknown**: reconcile by client
NetworkError, BadResponse,                                     order id (fetch order / open orders), never
ExchangeNotAvailable,                                          resubmit
OnMaintenance, unmapped
DuplicateOrderId            --                                 the venue has an order with this id:
                                                               reconcile by client order id
InsufficientFunds,          error (domain)                     reject with the reason (order events)
InvalidOrder (and its
children), BadRequest,
BadSymbol, MarketClosed,
OperationRejected,
ExchangeError
AuthenticationError,        error; the venue cannot be used    reject with the reason
PermissionDenied,
NotSupported
==========================  =================================  ===========================================

``to_domain`` maps the same table onto ``engine.core.errors`` for callers that raise (the read APIs).
Messages are passed through ``redact`` first: a venue error must never carry a credential into a log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import ccxt

from engine.core.errors import (
    AlgoTrendyError,
    InsufficientFundsError,
    PreconditionError,
    ResourceExhaustedError,
    UnavailableError,
    VenueRejectedError,
)

__all__ = ["Action", "VenueError", "classify", "redact", "to_domain"]

#: Reason a venue gives when it refuses a second order with a client order id it has seen.
DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"


class Action(StrEnum):
    #: Rate limited: wait (exponential backoff, at least the venue's Retry-After), then try again.
    BACK_OFF = "back_off"
    #: Transient: retry a read; an order write's outcome is unknown and is reconciled instead.
    RETRY = "retry"
    #: The venue already has an order with this client order id: look it up, never send again.
    RECONCILE = "reconcile"
    #: The venue refused the request for a reason it named: report it (reject event / domain error).
    REJECT = "reject"
    #: The venue cannot be used as configured (credentials, permissions, unsupported call).
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class VenueError:
    action: Action
    #: Stable machine-readable reason (``INSUFFICIENT_FUNDS``, ``VENUE_RATE_LIMITED``...).
    reason: str
    #: The venue's message, redacted, at most 300 characters.
    detail: str


# Ordered: the first class the exception is an instance of wins (children before parents).
_TABLE: tuple[tuple[type[BaseException], Action, str], ...] = (
    (ccxt.RateLimitExceeded, Action.BACK_OFF, "VENUE_RATE_LIMITED"),
    (ccxt.DDoSProtection, Action.BACK_OFF, "VENUE_RATE_LIMITED"),
    (ccxt.OnMaintenance, Action.RETRY, "VENUE_MAINTENANCE"),
    (ccxt.RequestTimeout, Action.RETRY, "VENUE_TIMEOUT"),
    (ccxt.ExchangeNotAvailable, Action.RETRY, "VENUE_UNAVAILABLE"),
    (ccxt.InvalidNonce, Action.RETRY, "VENUE_NONCE"),
    (ccxt.NetworkError, Action.RETRY, "VENUE_NETWORK_ERROR"),
    (ccxt.BadResponse, Action.RETRY, "VENUE_BAD_RESPONSE"),
    (ccxt.CancelPending, Action.RETRY, "VENUE_CANCEL_PENDING"),
    (ccxt.DuplicateOrderId, Action.RECONCILE, DUPLICATE_CLIENT_ORDER_ID),
    (ccxt.InsufficientFunds, Action.REJECT, "INSUFFICIENT_FUNDS"),
    (ccxt.OrderNotFound, Action.REJECT, "ORDER_NOT_FOUND"),
    (ccxt.OrderImmediatelyFillable, Action.REJECT, "POST_ONLY_WOULD_TAKE"),
    (ccxt.OrderNotFillable, Action.REJECT, "ORDER_NOT_FILLABLE"),
    (ccxt.InvalidOrder, Action.REJECT, "VENUE_INVALID_ORDER"),
    (ccxt.BadSymbol, Action.REJECT, "UNKNOWN_INSTRUMENT"),
    (ccxt.MarketClosed, Action.REJECT, "MARKET_CLOSED"),
    (ccxt.PermissionDenied, Action.FAIL, "VENUE_PERMISSION_DENIED"),
    (ccxt.AuthenticationError, Action.FAIL, "VENUE_AUTH_FAILED"),
    (ccxt.NotSupported, Action.FAIL, "VENUE_NOT_SUPPORTED"),
    (ccxt.BadRequest, Action.REJECT, "VENUE_BAD_REQUEST"),
    (ccxt.OperationRejected, Action.REJECT, "VENUE_REJECTED"),
    (ccxt.ExchangeError, Action.REJECT, "VENUE_REJECTED"),
)
_MAX_DETAIL = 300


def classify(exc: BaseException, secrets: Iterable[str] = ()) -> VenueError:
    """What to do about ``exc`` (a ccxt error, or anything a venue call raised)."""
    detail = redact(str(exc) or type(exc).__name__, secrets)[:_MAX_DETAIL]
    for cls, action, reason in _TABLE:
        if isinstance(exc, cls):
            return VenueError(action, reason, detail)
    # Unmapped (OSError, aiohttp internals, a ccxt bug): nothing says the venue did not act on it.
    return VenueError(Action.RETRY, "VENUE_ERROR", detail)


def to_domain(error: VenueError, *, retry_after_ms: int = 0) -> AlgoTrendyError:
    """The engine error for a failed read (gRPC maps it once more at the API boundary)."""
    message = f"venue: {error.detail}"
    if error.action is Action.BACK_OFF:
        return ResourceExhaustedError(message, retry_after_ms=retry_after_ms, reason=error.reason)
    if error.action is Action.RETRY:
        return UnavailableError(message, reason=error.reason)
    if error.reason == "INSUFFICIENT_FUNDS":
        return InsufficientFundsError(message)
    if error.action is Action.FAIL:
        return PreconditionError(message, reason=error.reason)
    return VenueRejectedError(message, reason=error.reason)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (API key, secret, passphrase) replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
