"""The engine's configuration schema: typed, validated once, immutable.

Every key has a default, so the engine starts with no file at all (embedded LMDB, simulated venue,
loopback ports). Secrets are ``SecretStr`` and render as ``**********`` wherever config is logged.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class EngineSectionConfig(_Section):
    #: Name of this engine instance; appears in logs, metrics and GetStatus.
    instance: str = Field("algotrendy", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    #: Upper bound for a graceful shutdown (SIGINT/SIGTERM) before the process exits anyway.
    shutdown_timeout_s: float = Field(4.0, gt=0, le=300)


class GrpcConfig(_Section):
    host: str = Field("127.0.0.1", min_length=1)
    #: 0 picks a free port (tests); the bound port is logged.
    port: int = Field(50051, ge=0, le=65535)
    reflection: bool = True
    #: In-flight RPCs get this long to finish when the engine drains.
    grace_period_s: float = Field(2.0, ge=0, le=60)
    max_message_mb: int = Field(16, ge=1, le=256)


class MetricsConfig(_Section):
    enabled: bool = True
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(9464, ge=0, le=65535)
    #: How often the event-loop lag is sampled.
    loop_lag_interval_ms: int = Field(100, ge=1, le=60_000)
    #: Samples kept for the p50/p99 reported by GetStatus (window = interval x samples).
    loop_lag_window_samples: int = Field(600, ge=10, le=100_000)


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: ``auto``: readable console output on a TTY, JSON lines otherwise.
    format: Literal["auto", "json", "console"] = "auto"


class StoreConfig(_Section):
    """LMDB, embedded. ``durability``:

    - ``sync``: every commit is fsync'ed before it is acknowledged — nothing acknowledged is lost on
      power failure; commits cost a disk flush (group commit amortises it).
    - ``async``: commits reach the OS page cache and are flushed by the OS; a process crash loses
      nothing, a power failure or kernel panic can lose the last moments.
    """

    durability: Literal["sync", "async"] = "sync"
    map_size_mb: int = Field(1024, ge=16, le=1_048_576)
    #: ``async`` only (ignored with ``sync``): commit into a writable map, ~5 us less per commit
    #: (no dirty-page copies, no ``pwrite``). The price (``engine.store.lmdb_store``): a memory bug in
    #: native code could corrupt the map silently instead of crashing, and a full disk ends the
    #: process with SIGBUS (nothing committed is lost) instead of a clean halt. ``false`` opts out.
    writemap: bool = True


class SimConfig(_Section):
    """The simulated venue (``SIM:*`` instruments) and its agent-based market, fully offline."""

    enabled: bool = True
    #: Same seed, same market: the simulator is deterministic.
    seed: int = Field(7, ge=0)
    #: How often the simulated traders act.
    step_ms: int = Field(100, ge=1, le=60_000)
    #: Simulated venue latency for our orders: command to matcher, and report back.
    order_latency_us: int = Field(0, ge=0, le=10_000_000)
    report_latency_us: int = Field(0, ge=0, le=10_000_000)
    #: Finished orders (filled, canceled, rejected, expired) the simulated venue keeps for lookups,
    #: the most recently finished; older ones are forgotten (bounds its memory and snapshots).
    closed_order_retention: int = Field(10_000, ge=1, le=10_000_000)
    #: The account our orders trade from at the simulated venue, and its starting balances.
    account: str = Field("main", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/\-]+$")
    starting_balances: dict[str, str] = Field(default_factory=lambda: {"USD": "1000000"})

    @field_validator("starting_balances")
    @classmethod
    def _balances_are_decimals(cls, value: dict[str, str]) -> dict[str, str]:
        for asset, amount in value.items():
            if not asset.isalnum() or not asset.isupper():
                raise ValueError(f"asset {asset!r} must be an upper-case code like USD")
            try:
                parsed = Decimal(amount)
            except (InvalidOperation, TypeError):
                raise ValueError(f"{asset} = {amount!r} is not a decimal string") from None
            if not parsed.is_finite() or parsed < 0:
                raise ValueError(f"{asset} = {amount!r} must be a non-negative decimal")
        return value


def _positive_decimal(name: str, value: str) -> str:
    try:
        parsed = Decimal(value)
    except (InvalidOperation, TypeError):
        raise ValueError(f"{name} {value!r} is not a decimal string") from None
    if not parsed.is_finite() or parsed <= 0:
        raise ValueError(f"{name} {value!r} must be a positive decimal")
    return value


class InstrumentRiskConfig(_Section):
    """Limits for one instrument (quantities in the instrument's base units)."""

    max_order_quantity: str
    max_position: str

    @field_validator("max_order_quantity", "max_position")
    @classmethod
    def _decimal(cls, value: str) -> str:
        return _positive_decimal("quantity", value)


class RiskConfig(_Section):
    """Default pre-trade and post-trade limits; all changeable at runtime (RiskService.SetLimits).

    Amounts are decimal strings in ``quote_currency``. Every account, instrument and strategy the
    engine trades gets these unless it has its own; the gate denies anything without limits.
    """

    quote_currency: str = Field("USD", pattern=r"^[A-Z0-9]{2,10}$")
    max_gross_exposure: str = "5000000"
    max_net_exposure: str = "5000000"
    max_open_orders: int = Field(500, ge=1, le=1_000_000)
    max_orders_per_second: int = Field(200, ge=1, le=1_000_000)
    order_burst: int = Field(400, ge=1, le=1_000_000)
    max_daily_loss: str = "250000"
    max_drawdown: str = "500000"
    #: What a daily-loss or drawdown breach switches the account to.
    breach_state: Literal["reducing", "halted"] = "halted"
    max_order_notional: str = "2500000"
    price_band_bps: int = Field(500, ge=1, le=1_000_000)
    max_data_age_ms: int = Field(10_000, ge=1, le=86_400_000)
    strategy_max_orders_per_second: int = Field(100, ge=1, le=1_000_000)
    strategy_order_burst: int = Field(200, ge=1, le=1_000_000)
    instruments: dict[str, InstrumentRiskConfig] = Field(
        default_factory=lambda: {
            "SIM:BTC-USD": InstrumentRiskConfig(max_order_quantity="25", max_position="100"),
            "SIM:ETH-USD": InstrumentRiskConfig(max_order_quantity="500", max_position="2000"),
            "SIM:SOL-USD": InstrumentRiskConfig(max_order_quantity="10000", max_position="50000"),
        }
    )

    @field_validator(
        "max_gross_exposure", "max_net_exposure", "max_daily_loss", "max_drawdown", "max_order_notional"
    )
    @classmethod
    def _amount(cls, value: str) -> str:
        return _positive_decimal("amount", value)


class AuthConfig(_Section):
    """Users, tokens and login protection (engine/api/auth). Passwords are argon2id hashes; the
    JWT signing key is generated on first start into ``<data_dir>/auth-signing.key`` (0600)."""

    #: Lifetime of a JWT access token from Login/Refresh; short, so a leaked token expires soon.
    access_token_ttl_s: int = Field(900, ge=10, le=86_400)
    #: Lifetime of a refresh token (each works once; Refresh rotates it).
    refresh_token_ttl_s: int = Field(604_800, ge=60, le=31_536_000)
    #: argon2id cost (RFC 9106 "low memory" profile by default); hashing runs off the loop.
    argon2_time_cost: int = Field(3, ge=1, le=20)
    argon2_memory_kib: int = Field(65_536, ge=8, le=4_194_304)
    argon2_parallelism: int = Field(4, ge=1, le=64)
    #: Consecutive failed logins of one user before it is locked out for ``login_lockout_s``.
    login_max_failures: int = Field(5, ge=1, le=1_000)
    #: Failed logins from one peer address (any user) before that address is locked out.
    login_max_failures_per_peer: int = Field(20, ge=1, le=100_000)
    login_lockout_s: int = Field(300, ge=1, le=86_400)


class RateLimitConfig(_Section):
    """Token buckets per principal and method class (engine/api/auth/roles.py); an empty bucket
    answers RESOURCE_EXHAUSTED with ``retry-after-ms``. Login and Refresh count per peer address."""

    orders_per_second: float = Field(1_000.0, gt=0, le=1_000_000)
    orders_burst: int = Field(2_000, ge=1, le=10_000_000)
    queries_per_second: float = Field(1_000.0, gt=0, le=1_000_000)
    queries_burst: int = Field(2_000, ge=1, le=10_000_000)
    streams_per_second: float = Field(10.0, gt=0, le=1_000_000)
    streams_burst: int = Field(100, ge=1, le=10_000_000)
    login_per_second: float = Field(2.0, gt=0, le=1_000_000)
    login_burst: int = Field(20, ge=1, le=10_000_000)


class TlsConfig(_Section):
    """TLS for the gRPC port. Empty ``cert_file``: plaintext (loopback only is the safe use).
    ``client_ca_file`` set: mutual TLS, every client must present a certificate signed by it."""

    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""

    @model_validator(mode="after")
    def _complete(self) -> TlsConfig:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together: set both or neither")
        if self.client_ca_file and not self.cert_file:
            raise ValueError("client_ca_file (mutual TLS) needs cert_file and key_file")
        return self


class BarsConfig(_Section):
    """Bars built from trades (``engine.marketdata.bars.BarService``), published on
    ``data.bars.<instrument_id>`` for strategies and the BARS/INDICATOR channels of StreamMarketData."""

    #: Bar intervals, e.g. ``1s``, ``1m``, ``5m``, ``1h`` (units ns us ms s m h d).
    intervals: list[str] = Field(default_factory=lambda: ["1s", "1m", "5m", "1h"], max_length=32)
    #: A late trade within this long of the last closed bar's end amends it (a revision).
    grace_ms: int = Field(0, ge=0, le=3_600_000)
    #: How often quiet markets' open bars are checked for closing (no trade needed to close a bar).
    close_check_ms: int = Field(100, ge=1, le=60_000)

    @field_validator("intervals")
    @classmethod
    def _intervals(cls, value: list[str]) -> list[str]:
        units = {
            "ns": 1,
            "us": 10**3,
            "ms": 10**6,
            "s": 10**9,
            "m": 60 * 10**9,
            "h": 3600 * 10**9,
            "d": 86400 * 10**9,
        }
        seen: set[int] = set()
        for text in value:
            number, unit = text.rstrip("nsumhd"), text[len(text.rstrip("nsumhd")) :]
            if not number.isdigit() or int(number) <= 0 or unit not in units:
                raise ValueError(
                    f"interval {text!r}: a positive number and a unit (ns us ms s m h d), e.g. 1m"
                )
            ns = int(number) * units[unit]
            if ns in seen:
                raise ValueError(f"interval {text!r} is listed twice")
            seen.add(ns)
        return value


class StreamsConfig(_Section):
    """Server-streaming subscriptions (StreamMarketData, StreamOrderEvents, StreamPositions).

    Every subscriber has a bounded queue. Market data conflates when it is full (latest BBO, book
    and indicator value per key; trades beyond the bound are skipped and reported); order events
    and position updates never drop: a subscriber whose queue reaches ``order_queue_max`` is closed
    with RESOURCE_EXHAUSTED and resumes from its last sequence.
    """

    #: Concurrent streaming subscribers over all three RPCs; more answer RESOURCE_EXHAUSTED.
    max_subscribers: int = Field(4096, ge=1, le=1_000_000)
    #: Queued trades/bars per market-data subscriber before trades are skipped (and reported).
    marketdata_queue_max: int = Field(10_000, ge=1, le=10_000_000)
    #: Queued events per order-event or position subscriber before it is closed RESOURCE_EXHAUSTED.
    order_queue_max: int = Field(10_000, ge=1, le=10_000_000)
    #: Market data gathered this long goes out in one message (and a slow reader's BBO, book and
    #: indicator values are replaced by the latest meanwhile). 0 = send at the next loop iteration.
    #: It paces idle subscribers: one whose previous write just completed, with news waiting, sends
    #: at once everything published until then, the open window included.
    conflation_window_ms: int = Field(5, ge=0, le=10_000)
    #: Most events in one stream message (the rest follow in the next one).
    batch_max_events: int = Field(1_000, ge=1, le=100_000)
    #: A message with ``heartbeat = true`` after this long without one.
    heartbeat_interval_ms: int = Field(5_000, ge=10, le=3_600_000)


class VenueConfig(_Section):
    """Where the engine's orders go.

    - ``name = "sim"`` (default): the simulated venue and its agent-based market ([sim]), offline.
    - a crypto venue with ``paper = true``: the paper venue fills our orders against that venue's
      live order book and trade prints (public market data only, no API keys needed), starting
      from ``paper_balances``.
    - a crypto venue with ``paper = false``: live orders through ccxt. API keys come from the
      environment (``ALGOTRENDY_VENUE_API_KEY``, ``ALGOTRENDY_VENUE_SECRET``,
      ``ALGOTRENDY_VENUE_PASSWORD``) or from the secret files named here (files win); they are
      never logged. ``sandbox = true`` uses the venue's testnet.

    Risk limits apply as everywhere, with defaults for a crypto venue (``engine.app.venue_defaults``)
    where the user set none: ``risk.quote_currency`` follows the symbols' one quote currency, and an
    instrument (``VENUE:WIRESYMBOL``, e.g. ``BINANCE:BTCUSDT``) without its ``risk.instruments`` entry
    may order ``default_order_notional`` and hold ``default_position_notional`` (quote currency) at its
    reference price at start. Explicit settings always win.
    """

    name: Literal["sim", "binance", "binanceusdm", "bybit", "okx", "coinbase", "kraken", "cryptocom"] = "sim"
    paper: bool = False
    sandbox: bool = False
    #: ccxt unified symbols to trade, e.g. ``BTC/USDT`` or ``BTC/USDT:USDT`` (linear perpetual).
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT"], min_length=1, max_length=256)
    #: Secret files (one value each); empty = take the value from the environment.
    api_key_file: str = ""
    secret_file: str = ""
    password_file: str = ""
    #: ``host:port`` every REST/WebSocket URL of the venue is routed to over plain http/ws (local
    #: mock exchanges, a recording proxy); empty = the venue's own endpoints.
    endpoint: str = Field("", pattern=r"^$|^[A-Za-z0-9.\-]+:[0-9]{1,5}$")
    request_timeout_ms: int = Field(10_000, ge=100, le=120_000)
    #: An order write with an unknown outcome (timeout) is looked up by client order id this long
    #: before the order is declared never received; it is never sent again.
    order_lookup_timeout_ms: int = Field(10_000, ge=100, le=600_000)
    #: Order I/O backoff after a rate-limit answer or a dropped user stream: base, doubled per
    #: repeat, capped. (The venue's market-data feed follows [feeds] like every feed.)
    backoff_ms: int = Field(500, ge=1, le=60_000)
    max_backoff_ms: int = Field(30_000, ge=1, le=600_000)
    #: Order and fill updates over websockets where ccxt.pro has them (else REST polling).
    websockets: bool = True
    poll_interval_ms: int = Field(1_000, ge=10, le=600_000)
    #: Paper mode: the account's starting balances at the paper venue.
    paper_balances: dict[str, str] = Field(default_factory=dict)
    #: Paper mode: the starting balance in the symbols' quote currency when paper_balances names none.
    paper_quote_balance: str = "100000"
    #: Paper mode: finished orders the paper venue keeps for lookups, the most recently finished;
    #: older ones are forgotten (bounds its memory and its durable state). Open orders always stay.
    paper_closed_order_retention: int = Field(10_000, ge=1, le=10_000_000)
    #: An instrument without its own risk.instruments entry: max order quantity and max position are
    #: these notionals (quote currency) at its reference price at start, rounded down to the lot (the
    #: order quantity also capped by the market's maximum). "0": no derived limits (orders denied).
    default_order_notional: str = "10000"
    default_position_notional: str = "50000"

    @field_validator("paper_quote_balance", "default_order_notional", "default_position_notional")
    @classmethod
    def _non_negative(cls, value: str) -> str:
        try:
            parsed = Decimal(value)
        except (InvalidOperation, TypeError):
            raise ValueError(f"{value!r} is not a decimal string") from None
        if not parsed.is_finite() or parsed < 0:
            raise ValueError(f"{value!r} must be a non-negative decimal")
        return value

    @field_validator("paper_balances")
    @classmethod
    def _paper_balances(cls, value: dict[str, str]) -> dict[str, str]:
        for asset, amount in value.items():
            if not asset.isalnum() or not asset.isupper():
                raise ValueError(f"asset {asset!r} must be an upper-case code like USDT")
            try:
                parsed = Decimal(amount)
            except (InvalidOperation, TypeError):
                raise ValueError(f"{asset} = {amount!r} is not a decimal string") from None
            if not parsed.is_finite() or parsed < 0:
                raise ValueError(f"{asset} = {amount!r} must be a non-negative decimal")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> VenueConfig:
        if self.name == "sim" and self.paper:
            raise ValueError(
                "paper = true needs a crypto venue (name = binance, okx...): sim is simulated already"
            )
        if self.max_backoff_ms < self.backoff_ms:
            raise ValueError("max_backoff_ms must be >= backoff_ms")
        if Decimal(self.default_position_notional) < Decimal(self.default_order_notional):
            raise ValueError("default_position_notional must be >= default_order_notional")
        return self


_FEED_VENUES = Literal["binance", "binanceusdm", "bybit", "okx", "coinbase", "kraken", "cryptocom"]


class FeedSourceConfig(_Section):
    """One extra market-data feed (``[[feeds.sources]]``): a venue's public data, no keys."""

    venue: _FEED_VENUES
    #: ccxt unified symbols, e.g. ``BTC/USDT`` or ``BTC/USDT:USDT``; ids are ``VENUE:WIRESYMBOL``.
    symbols: list[str] = Field(min_length=1, max_length=256)
    channels: list[Literal["trades", "book", "ohlcv"]] = Field(
        default_factory=lambda: ["trades", "book"], min_length=1
    )
    #: Book depth to subscribe; 0 = the venue's default.
    book_depth: int = Field(0, ge=0, le=5_000)
    sandbox: bool = False
    #: ``host:port`` every URL of the venue is routed to over plain http/ws (mock exchanges, a proxy).
    endpoint: str = Field("", pattern=r"^$|^[A-Za-z0-9.\-]+:[0-9]{1,5}$")


class FeedsConfig(_Section):
    """Market-data feeds besides the trading venue's own (``engine.marketdata.feeds``): their books
    serve ``GetOrderBook``; their trades, quotes, book updates and alerts go on the bus
    (``data.trades|quotes|books.<id>``, ``data.alerts``); every venue's quotes (the trading venue's
    too) feed the cross-venue mid check, and ``reference_fallbacks`` lets the risk gate's reference
    price for an instrument fail over to another venue's quotes when its own are stale or unhealthy.
    """

    sources: list[FeedSourceConfig] = Field(default_factory=list, max_length=64)
    #: Reconnect backoff: base doubled per failed attempt, capped, times a random factor 1 +- jitter.
    backoff_ms: int = Field(500, ge=1, le=60_000)
    max_backoff_ms: int = Field(30_000, ge=1, le=600_000)
    backoff_jitter: float = Field(0.25, ge=0, lt=1)
    #: A connected feed silent this long is reconnected (and alerts FEED_STALE).
    stale_after_ms: int = Field(10_000, ge=10, le=3_600_000)
    #: A live book re-publishes its quote at least this often (the risk gate's data age stays fresh).
    quote_refresh_ms: int = Field(1_000, ge=1, le=600_000)
    #: REST book polling while a feed's websocket is down; 0 disables it.
    rest_poll_ms: int = Field(2_000, ge=0, le=600_000)
    #: Venue candles that closed while the candle connection was down, fetched over REST after the
    #: reconnect: at most this many (the most recent) per instrument; 0 disables the backfill.
    candle_backfill_max: int = Field(300, ge=0, le=10_000)
    #: Circuit breaker per feed: opens after ``breaker_failures`` in ``breaker_window_ms``,
    #: half-opens after ``breaker_open_ms``, closes after ``breaker_successes`` successes.
    breaker_failures: int = Field(5, ge=1, le=10_000)
    breaker_window_ms: int = Field(60_000, ge=1, le=86_400_000)
    breaker_open_ms: int = Field(30_000, ge=1, le=86_400_000)
    breaker_successes: int = Field(3, ge=1, le=10_000)
    #: A venue's mid further than this from the cross-venue median raises MID_DIVERGENCE.
    max_divergence_bps: int = Field(100, ge=1, le=100_000)
    #: Fresh venues needed to judge divergence (a median of two cannot tell which one is wrong).
    divergence_min_venues: int = Field(3, ge=2, le=64)
    #: Quotes older than this count neither for the median nor as a reference source.
    reference_max_age_ms: int = Field(5_000, ge=1, le=3_600_000)
    #: Reference failover: instrument id -> other venues' instrument ids, in order of preference.
    reference_fallbacks: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> FeedsConfig:
        if self.max_backoff_ms < self.backoff_ms:
            raise ValueError("max_backoff_ms must be >= backoff_ms")
        for target, sources in self.reference_fallbacks.items():
            if ":" not in target or not sources or any(":" not in s for s in sources):
                raise ValueError(
                    f"reference_fallbacks.{target}: instrument ids VENUE:SYMBOL mapped to a non-empty list of them"
                )
        return self


class StrategyHostConfig(_Section):
    """The live strategy host (``engine.strategy.host``): how many callback exceptions a strategy
    may raise before it is quarantined (no more callbacks, its open orders canceled)."""

    max_errors: int = Field(10, ge=1, le=1_000_000)


class StrategyConfig(_Section):
    """One strategy the engine runs live (``[[strategies]]``), on the bus against the venue.

    ``strategy``: a built-in name (``sma_cross`` ...), ``package.module:Class`` or a ``.py`` file;
    ``params`` override its declared parameters (validated at startup: an unknown name or a value
    out of range refuses the start); ``bar_interval`` must be one of ``[bars] intervals``.
    """

    strategy: str = Field(min_length=1)
    #: Strategy id (risk limits, client order ids ``<id>-<n>``); default: the strategy's name.
    id: str = Field("", max_length=24, pattern=r"^$|^[A-Za-z0-9._:/\-]+$")
    instruments: list[str] = Field(min_length=1, max_length=256)
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    bar_interval: str = "1m"


class QuestDbConfig(_Section):
    """QuestDB time series (``engine.store.questdb``): trades, best bid/offer, bars, fills and equity
    over ILP, batched on a thread off the loop. While QuestDB is down rows spool to LMDB
    (``<data_dir>/questdb-spool``) and drain in order when it is back; tables are created with
    ``DEDUP UPSERT KEYS`` so a batch sent twice is stored once. ``http`` is acknowledged; ``tcp`` is
    not (rows in flight when QuestDB dies are lost)."""

    enabled: bool = False
    protocol: Literal["http", "tcp"] = "http"
    host: str = Field("127.0.0.1", min_length=1)
    #: 9000 for ILP/HTTP (also /exec for the schema), 9009 for ILP/TCP.
    port: int = Field(9000, ge=1, le=65535)
    table_prefix: str = Field("", max_length=32, pattern=r"^[A-Za-z0-9_]*$")
    #: A batch goes out at this many rows, or every ``flush_interval_ms``.
    batch_rows: int = Field(10_000, ge=1, le=1_000_000)
    flush_interval_ms: int = Field(250, ge=1, le=60_000)
    request_timeout_ms: int = Field(5_000, ge=100, le=120_000)
    #: Retry after a failure: base doubled per failure, capped.
    retry_backoff_ms: int = Field(250, ge=1, le=60_000)
    retry_backoff_max_ms: int = Field(30_000, ge=1, le=600_000)
    #: Rows waiting for the sink thread beyond this are dropped and counted (the disk cannot keep up).
    max_pending_rows: int = Field(1_000_000, ge=1_000, le=100_000_000)
    create_tables: bool = True
    spool_max_mb: int = Field(4_096, ge=16, le=1_048_576)
    #: How often the account's equity is sampled into the ``equity`` table.
    equity_interval_ms: int = Field(1_000, ge=10, le=3_600_000)
    tables: list[Literal["trades", "bbo", "bars", "fills", "equity"]] = Field(
        default_factory=lambda: ["trades", "bbo", "bars", "fills", "equity"]
    )

    @model_validator(mode="after")
    def _consistent(self) -> QuestDbConfig:
        if self.retry_backoff_max_ms < self.retry_backoff_ms:
            raise ValueError("retry_backoff_max_ms must be >= retry_backoff_ms")
        return self


class ReplayConfig(_Section):
    """Market data from a recording (``algotrendy data import|record``) played onto the bus as if
    live: its books serve GetOrderBook, its trades build bars and reach strategies and the paper
    venue. Empty ``path`` = no replay."""

    path: str = ""
    #: ``1x`` as recorded, ``10x`` ten times faster, ``max`` as fast as the loop allows.
    speed: str = Field("1x", pattern=r"^(max|[0-9]+(\.[0-9]+)?x)$")


class RecordingConfig(_Section):
    """Recording what the engine sees (``engine.store.recorder``): trades, quotes, bars and the top
    ``book_depth`` levels of feed books, from the bus into an LMDB recording (``algotrendy data
    info|replay``), written by a thread. Empty ``path`` = ``<data_dir>/recordings/live``."""

    enabled: bool = False
    path: str = ""
    kinds: list[Literal["trades", "quotes", "books", "bars"]] = Field(
        default_factory=lambda: ["trades", "quotes", "books", "bars"]
    )
    book_depth: int = Field(50, ge=1, le=5_000)
    #: Buffered events go to the writer thread at this many, or this often.
    block_records: int = Field(4_096, ge=16, le=1_000_000)
    flush_interval_ms: int = Field(1_000, ge=10, le=600_000)
    #: Retention (whole blocks, oldest first); 0 = unbounded.
    max_age_s: int = Field(0, ge=0)
    max_size_mb: int = Field(0, ge=0)


class EngineConfig(_Section):
    #: Where LMDB, the lock file and (later) credentials live. Created if missing.
    data_dir: Path = Path(".algotrendy")
    engine: EngineSectionConfig = EngineSectionConfig()
    grpc: GrpcConfig = GrpcConfig()
    metrics: MetricsConfig = MetricsConfig()
    log: LogConfig = LogConfig()
    store: StoreConfig = StoreConfig()
    sim: SimConfig = SimConfig()
    risk: RiskConfig = RiskConfig()
    auth: AuthConfig = AuthConfig()
    rate_limits: RateLimitConfig = RateLimitConfig()
    tls: TlsConfig = TlsConfig()
    bars: BarsConfig = BarsConfig()
    streams: StreamsConfig = StreamsConfig()
    venue: VenueConfig = VenueConfig()
    feeds: FeedsConfig = FeedsConfig()
    strategy_host: StrategyHostConfig = StrategyHostConfig()
    questdb: QuestDbConfig = QuestDbConfig()
    replay: ReplayConfig = ReplayConfig()
    recording: RecordingConfig = RecordingConfig()
    #: Strategies run live (none by default); see ``StrategyConfig``.
    strategies: list[StrategyConfig] = Field(default_factory=list, max_length=256)

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_not_empty(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        return value
