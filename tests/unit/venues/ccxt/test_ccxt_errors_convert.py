"""The one ccxt error table, exact conversions from ccxt's numbers and markets, credentials and
endpoint routing of the exchange builder (no network: nothing here opens a connection)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import ccxt
import pytest

from engine.core.enums import InstrumentKind
from engine.core.errors import (
    ConfigError,
    InsufficientFundsError,
    PreconditionError,
    ResourceExhaustedError,
    UnavailableError,
    ValidationError,
    VenueRejectedError,
)
from engine.core.fixed import Money, Price, Quantity
from engine.venues.ccxt import Action, build_exchange, classify, decimal_of, instrument_from_market, to_domain
from engine.venues.ccxt.exchange import Credentials, load_credentials


@pytest.mark.parametrize(
    ("exc", "action", "reason"),
    [
        (ccxt.RateLimitExceeded("429"), Action.BACK_OFF, "VENUE_RATE_LIMITED"),
        (ccxt.DDoSProtection("418"), Action.BACK_OFF, "VENUE_RATE_LIMITED"),
        (ccxt.RequestTimeout("timed out"), Action.RETRY, "VENUE_TIMEOUT"),
        (ccxt.OnMaintenance("503"), Action.RETRY, "VENUE_MAINTENANCE"),
        (ccxt.ExchangeNotAvailable("503"), Action.RETRY, "VENUE_UNAVAILABLE"),
        (ccxt.NetworkError("reset"), Action.RETRY, "VENUE_NETWORK_ERROR"),
        (ccxt.BadResponse("garbage"), Action.RETRY, "VENUE_BAD_RESPONSE"),
        (ccxt.DuplicateOrderId("dup"), Action.RECONCILE, "DUPLICATE_CLIENT_ORDER_ID"),
        (ccxt.InsufficientFunds("-2010"), Action.REJECT, "INSUFFICIENT_FUNDS"),
        (ccxt.OrderNotFound("-2013"), Action.REJECT, "ORDER_NOT_FOUND"),
        (ccxt.OrderImmediatelyFillable("post only"), Action.REJECT, "POST_ONLY_WOULD_TAKE"),
        (ccxt.InvalidOrder("-1013"), Action.REJECT, "VENUE_INVALID_ORDER"),
        (ccxt.BadSymbol("-1121"), Action.REJECT, "UNKNOWN_INSTRUMENT"),
        (ccxt.PermissionDenied("-2015"), Action.FAIL, "VENUE_PERMISSION_DENIED"),
        (ccxt.AuthenticationError("-2014"), Action.FAIL, "VENUE_AUTH_FAILED"),
        (ccxt.NotSupported("no"), Action.FAIL, "VENUE_NOT_SUPPORTED"),
        (ccxt.ExchangeError("other"), Action.REJECT, "VENUE_REJECTED"),
        (OSError("socket"), Action.RETRY, "VENUE_ERROR"),
    ],
)
def test_classify_when_ccxt_raises_then_one_table_decides(
    exc: BaseException, action: Action, reason: str
) -> None:
    error = classify(exc)
    assert (error.action, error.reason) == (action, reason)


def test_classify_when_message_carries_a_secret_then_it_is_redacted() -> None:
    error = classify(
        ccxt.AuthenticationError("binance Invalid API-key abcdef123456 for secret s3cr3tV4lue"),
        ["abcdef123456", "s3cr3tV4lue"],
    )
    assert "abcdef123456" not in error.detail and "s3cr3tV4lue" not in error.detail
    assert error.detail.count("***") == 2


def test_to_domain_maps_each_action_onto_the_engine_hierarchy() -> None:
    assert isinstance(
        to_domain(classify(ccxt.RateLimitExceeded("x")), retry_after_ms=1500), ResourceExhaustedError
    )
    assert to_domain(classify(ccxt.RateLimitExceeded("x")), retry_after_ms=1500).retry_after_ms == 1500  # type: ignore[attr-defined]
    assert isinstance(to_domain(classify(ccxt.RequestTimeout("x"))), UnavailableError)
    assert isinstance(to_domain(classify(ccxt.InsufficientFunds("x"))), InsufficientFundsError)
    assert isinstance(to_domain(classify(ccxt.InvalidOrder("x"))), VenueRejectedError)
    denied = to_domain(classify(ccxt.AuthenticationError("x")))
    assert isinstance(denied, PreconditionError) and denied.reason == "VENUE_AUTH_FAILED"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.1, "0.1"), (1e-08, "1E-8"), (30000.01, "30000.01"), ("0.00000100", "0.00000100"), (5, "5")],
)
def test_decimal_of_when_ccxt_hands_a_float_then_the_decimal_it_was_parsed_from(
    value: object, text: str
) -> None:
    assert decimal_of(value) == Decimal(text)


@pytest.mark.parametrize("value", [None, True, float("nan"), float("inf"), "abc", [1]])
def test_decimal_of_when_not_a_finite_number_then_validation_error(value: object) -> None:
    with pytest.raises(ValidationError):
        decimal_of(value)


def _market(**changes: object) -> dict[str, object]:
    market: dict[str, object] = {
        "id": "BTCUSDT",
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "settle": None,
        "spot": True,
        "swap": False,
        "future": False,
        "type": "spot",
        "active": True,
        "precision": {"price": 0.01, "amount": 1e-05},
        "limits": {"amount": {"min": 1.5e-05}, "cost": {"min": 5.0}},
        "maker": 0.001,
        "taker": 0.001,
        "contractSize": None,
    }
    market.update(changes)
    return market


def test_instrument_from_market_when_tick_size_mode_then_exact_grid_and_limits() -> None:
    instrument = instrument_from_market("BINANCE", _market(), precision_mode=4)
    assert str(instrument.id) == "BINANCE:BTCUSDT"
    assert instrument.kind is InstrumentKind.SPOT
    assert instrument.price_increment == Price("0.01") and instrument.size_increment == Quantity("0.00001")
    assert instrument.min_quantity == Quantity("0.00002")  # 0.000015 rounded up onto the lot grid
    assert instrument.min_notional == Money("5", "USDT")
    assert instrument.maker_fee == Decimal("0.001") and instrument.multiplier == Decimal(1)


def test_instrument_from_market_when_decimal_places_mode_then_increments_from_places() -> None:
    market = _market(
        precision={"price": 2, "amount": 6},
        limits={},
        swap=True,
        spot=False,
        contractSize=0.001,
        settle="USDT",
    )
    instrument = instrument_from_market("OKX", market, precision_mode=2)
    assert instrument.price_increment == Price("0.01") and instrument.size_increment == Quantity("0.000001")
    assert instrument.kind is InstrumentKind.PERPETUAL and instrument.multiplier == Decimal("0.001")


def test_instrument_from_market_when_significant_digits_then_refused() -> None:
    with pytest.raises(ValidationError, match="significant digits"):
        instrument_from_market("KRAKEN", _market(), precision_mode=3)


def test_load_credentials_when_files_given_then_files_win_and_repr_hides_them(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("file-key-123456\n")
    (tmp_path / "secret").write_text("  file-secret-abcdef  ")
    env = {"ALGOTRENDY_VENUE_API_KEY": "env-key-0000", "ALGOTRENDY_VENUE_SECRET": "env-secret-0000"}
    creds = load_credentials(api_key_file=tmp_path / "key", secret_file=tmp_path / "secret", env=env)
    assert (creds.api_key, creds.secret) == ("file-key-123456", "file-secret-abcdef")
    assert "file-key" not in repr(creds) and "file-secret" not in repr(creds) and "set" in repr(creds)
    assert load_credentials(env=env).api_key == "env-key-0000"
    assert not load_credentials(env={}).present


def test_load_credentials_when_half_a_pair_or_unreadable_then_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs its secret"):
        load_credentials(env={"ALGOTRENDY_VENUE_API_KEY": "only-the-key"})
    with pytest.raises(ConfigError, match="cannot read"):
        load_credentials(api_key_file=tmp_path / "missing", secret_file=tmp_path / "missing2", env={})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        load_credentials(api_key_file=tmp_path / "empty", env={})


async def test_build_exchange_routes_every_url_to_the_endpoint_and_switches_to_the_testnet() -> None:
    live = build_exchange("binance", credentials=Credentials("k" * 8, "s" * 8), endpoint="127.0.0.1:9999")
    try:
        api = live.urls["api"]
        assert api["public"] == "http://127.0.0.1:9999/api/v3"
        assert api["ws"]["ws-api"]["spot"] == "ws://127.0.0.1:9999/ws-api/v3"
        assert live.apiKey == "k" * 8 and live.timeout == 10_000
    finally:
        await live.close()
    sandbox = build_exchange("binance", sandbox=True)
    try:
        assert "testnet" in sandbox.urls["api"]["public"]
        assert not sandbox.apiKey
    finally:
        await sandbox.close()
    with pytest.raises(ConfigError):
        build_exchange("nasdaq")
