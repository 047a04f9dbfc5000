"""AlgoTrendy Python SDK: async (``AsyncClient``) and sync (``Client``) clients for the engine's gRPC API.

    from decimal import Decimal
    from algotrendy_sdk import Client

    with Client.local() as client:            # $ALGOTRENDY_TARGET, credentials from env or .algotrendy
        order = client.submit_order("SIM:BTC-USD", "buy", Decimal("0.01"), Decimal("65000"))
        print(order.status, client.positions())

Amounts are ``Decimal`` in and out (floats are refused), results are small dataclasses
(``algotrendy_sdk.types``), failures are typed exceptions (``algotrendy_sdk.errors``), order-event
and position streams resume by sequence after a disconnect, and password sessions refresh their
access token before it expires.
"""

from algotrendy_sdk.auth import ApiKey, Credentials, Password, Session, StoredSession, resolve
from algotrendy_sdk.client import (
    DEFAULT_ACCOUNT,
    DEFAULT_TARGET,
    AsyncClient,
    MarketDataChannel,
    TlsConfig,
    new_client_order_id,
)
from algotrendy_sdk.errors import (
    AlgoTrendyError,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OrderDenied,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from algotrendy_sdk.streams import Backoff
from algotrendy_sdk.sync import Client
from algotrendy_sdk.types import (
    OrderStatus,
    OrderType,
    Role,
    Side,
    TimeInForce,
    TradingState,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_TARGET",
    "AlgoTrendyError",
    "AlreadyExists",
    "ApiKey",
    "AsyncClient",
    "Backoff",
    "Client",
    "Credentials",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "MarketDataChannel",
    "NotFound",
    "OrderDenied",
    "OrderStatus",
    "OrderType",
    "Password",
    "PermissionDenied",
    "RateLimited",
    "Role",
    "Session",
    "Side",
    "StoredSession",
    "TimeInForce",
    "TlsConfig",
    "TradingState",
    "Unauthenticated",
    "Unavailable",
    "new_client_order_id",
    "resolve",
]
