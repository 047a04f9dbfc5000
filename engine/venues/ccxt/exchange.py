"""Building the ccxt.pro exchange object: credentials, sandbox/testnet, and endpoint routing.

Credentials come from the environment (``ALGOTRENDY_VENUE_API_KEY``, ``ALGOTRENDY_VENUE_SECRET``,
``ALGOTRENDY_VENUE_PASSWORD``) or from secret files (paths in the config; one value per file,
surrounding whitespace ignored — the Docker/Kubernetes secret convention). They are handed to the
ccxt object and nowhere else: ``Credentials`` never prints its values (``repr`` shows which are
set), and venue error messages are redacted before they are logged (``errors.redact``).

``endpoint`` (``host:port``) routes every REST and websocket URL of the venue to one local server
over plain http/ws, keeping the paths: the local mock exchanges of the tests, or a recording proxy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt.pro

from engine.core.errors import ConfigError

__all__ = ["CCXT_IDS", "VENUE_NAMES", "Credentials", "build_exchange", "load_credentials"]

#: Our venue names -> ccxt exchange ids.
CCXT_IDS: dict[str, str] = {
    "binance": "binance",
    "binanceusdm": "binanceusdm",
    "bybit": "bybit",
    "okx": "okx",
    "coinbase": "coinbase",
    "kraken": "kraken",
    "cryptocom": "cryptocom",
}
#: Our venue names -> the engine's venue name in instrument ids (as the market-data feeds name them).
VENUE_NAMES: dict[str, str] = {name: name.upper() for name in CCXT_IDS} | {"binanceusdm": "BINANCE_USDM"}
ENV_API_KEY = "ALGOTRENDY_VENUE_API_KEY"
ENV_SECRET = "ALGOTRENDY_VENUE_SECRET"
ENV_PASSWORD = "ALGOTRENDY_VENUE_PASSWORD"


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    #: OKX / Coinbase passphrase.
    password: str = field(default="", repr=False)

    @property
    def present(self) -> bool:
        return bool(self.api_key and self.secret)

    def secrets(self) -> tuple[str, ...]:
        """The values to redact from anything logged."""
        return tuple(s for s in (self.api_key, self.secret, self.password) if s)

    def __repr__(self) -> str:
        return f"Credentials(api_key={'set' if self.api_key else 'unset'}, secret={'set' if self.secret else 'unset'})"


def _read_secret(path: Path, key: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(key, f"cannot read the secret file: {exc.strerror}", source=str(path)) from None
    if not value:
        raise ConfigError(key, "the secret file is empty", source=str(path))
    return value


def load_credentials(
    *,
    api_key_file: Path | None = None,
    secret_file: Path | None = None,
    password_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """Secret files win over the environment; neither is required (paper trading needs no keys)."""
    env = os.environ if env is None else env
    api_key = _read_secret(api_key_file, "venue.api_key_file") if api_key_file else env.get(ENV_API_KEY, "")
    secret = _read_secret(secret_file, "venue.secret_file") if secret_file else env.get(ENV_SECRET, "")
    password = (
        _read_secret(password_file, "venue.password_file") if password_file else env.get(ENV_PASSWORD, "")
    )
    if bool(api_key) != bool(secret):
        raise ConfigError("venue.secret_file", "an API key needs its secret (and a secret its key)")
    return Credentials(api_key=api_key, secret=secret, password=password)


def _route(value: Any, netloc: str) -> Any:
    if isinstance(value, dict):
        return {k: _route(v, netloc) for k, v in value.items()}
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        scheme = {"https": "http", "wss": "ws"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))
    return value


def build_exchange(
    venue: str,
    *,
    credentials: Credentials | None = None,
    sandbox: bool = False,
    endpoint: str = "",
    timeout_ms: int = 10_000,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """A ccxt.pro exchange for ``venue`` (async REST and websockets on the running loop)."""
    ccxt_id = CCXT_IDS.get(venue)
    if ccxt_id is None:
        raise ConfigError("venue.name", f"{venue!r} is not a ccxt venue ({', '.join(CCXT_IDS)})")
    settings: dict[str, Any] = {"enableRateLimit": True, "timeout": timeout_ms}
    creds = credentials or Credentials()
    if creds.present:
        settings["apiKey"] = creds.api_key
        settings["secret"] = creds.secret
        if creds.password:
            settings["password"] = creds.password
    merged_options: dict[str, Any] = {}
    if ccxt_id in ("binance", "binanceusdm"):
        # Currencies and margin pairs need signed calls order entry does not need.
        merged_options.update({"fetchCurrencies": False, "fetchMargins": False})
    if ccxt_id == "binance":
        merged_options["fetchMarkets"] = {"types": ["spot"]}  # no futures exchangeInfo calls
    merged_options.update(options or {})
    if merged_options:
        settings["options"] = merged_options
    exchange = getattr(ccxt.pro, ccxt_id)(settings)
    if sandbox:
        exchange.set_sandbox_mode(True)
    if endpoint:
        exchange.urls["api"] = _route(exchange.urls["api"], endpoint)
    return exchange
