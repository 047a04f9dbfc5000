"""QuestDB sink: market data, fills and equity as time series, over ILP, off the loop, never lost.

The loop's only cost is ``deque.append`` of the (immutable) event: a sink thread turns events into
ILP rows with the ``questdb`` client and sends them in batches (``batch_rows`` rows or every
``flush_interval_ms``). The loop never waits on QuestDB, on the network or on the spool.

**Outages.** When a send fails (QuestDB down, refused, timed out) the batch goes to the **spool**, an
LMDB environment on local disk, and so does every later batch while the spool is not empty, so rows
reach QuestDB in the order they were produced. The thread retries with exponential backoff
(``retry_backoff_ms`` doubling to ``retry_backoff_max_ms``); a retry sends the spooled batches oldest
first and deletes each one only after QuestDB acknowledged it.

**Delivery: at least once, deduplicated by QuestDB.** Over ILP/HTTP (the default) every batch is
acknowledged, so a batch is deleted from the spool only when QuestDB has it. A batch can still be
sent twice (the ack was lost to a timeout; the process died between the ack and the delete), so
every table is created ``WAL`` with ``DEDUP UPSERT KEYS`` on its natural key: a re-sent row replaces
the identical row instead of duplicating it. Result: nothing lost, nothing duplicated. ILP/TCP
(``protocol = "tcp"``) has no acknowledgements at all: rows the kernel accepted before QuestDB died
are gone, so use TCP only where that is acceptable (it is supported because some deployments only
expose the TCP port). The only other loss is explicit: if the thread falls more than
``max_pending_rows`` behind (the disk cannot keep up), new rows are dropped and counted in
``rows_dropped`` rather than growing memory without bound or blocking the loop.

**Schema** (``table_prefix`` + name; created with ``CREATE TABLE IF NOT EXISTS`` over the HTTP
``/exec`` endpoint when ``create_tables`` is on; ``ts`` is the designated timestamp; all tables
``PARTITION BY DAY WAL``). Prices and sizes are ``DOUBLE``: QuestDB is the analytics copy; the exact
integer record of every event is the LMDB journal / recording.

============ =================================================================================================
table         columns (DEDUP UPSERT KEYS)
============ =================================================================================================
trades        ts TIMESTAMP (venue time), instrument SYMBOL, side SYMBOL (aggressor), price DOUBLE,
              size DOUBLE, trade_id VARCHAR, ts_init TIMESTAMP — keys (ts, instrument, trade_id)
bbo           ts TIMESTAMP (receive time: unique per instrument where venue times repeat within a ms),
              instrument SYMBOL, bid DOUBLE, bid_size DOUBLE, ask DOUBLE, ask_size DOUBLE,
              ts_event TIMESTAMP — keys (ts, instrument)
bars          ts TIMESTAMP (bar open), instrument SYMBOL, interval SYMBOL (``1m``), open/high/low/close
              DOUBLE, volume DOUBLE, vwap DOUBLE, trade_count LONG, revision LONG, ts_close TIMESTAMP
              — keys (ts, instrument, interval): a revised bar (late trade) replaces the earlier one
fills         ts TIMESTAMP, account SYMBOL, instrument SYMBOL, side SYMBOL, liquidity SYMBOL,
              client_order_id VARCHAR, venue_order_id VARCHAR, trade_id VARCHAR, price DOUBLE,
              quantity DOUBLE, commission DOUBLE, commission_currency SYMBOL, sequence LONG
              — keys (ts, account, client_order_id, trade_id)
equity        ts TIMESTAMP, account SYMBOL, currency SYMBOL, equity DOUBLE — keys (ts, account)
============ =================================================================================================

Timestamps are sent in nanoseconds; QuestDB stores ``TIMESTAMP`` in microseconds.
"""

from __future__ import annotations

import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lmdb
import structlog
from questdb import Sender, TimestampMicros, TimestampNanos

from engine.core.errors import StorageError, ValidationError
from engine.core.events import Bar, Event, OrderFilled, QuoteTick, TradeTick
from engine.core.fixed import Money
from engine.core.ids import AccountId
from engine.marketdata.bars import format_interval
from engine.store.codec import CODEC

__all__ = [
    "TABLES",
    "EquitySampled",
    "QuestDbSettings",
    "QuestDbSink",
    "QuestDbStats",
    "table_ddl",
]

log = structlog.get_logger("engine.questdb")


@dataclass(frozen=True, slots=True, kw_only=True)
class EquitySampled(Event):
    """An account's equity at a moment (sampled by the engine on a timer for the ``equity`` table)."""

    account_id: AccountId
    equity: Money


EQUITY_SAMPLED_TAG = 401  # store codec 400-499: market-data records (400 = OrderBookDeltas)
CODEC.register(EquitySampled, EQUITY_SAMPLED_TAG)

#: ``name -> (columns DDL, dedup keys)``.
TABLES: dict[str, tuple[str, str]] = {
    "trades": (
        "ts TIMESTAMP, instrument SYMBOL, side SYMBOL, price DOUBLE, size DOUBLE, trade_id VARCHAR, "
        "ts_init TIMESTAMP",
        "ts, instrument, trade_id",
    ),
    "bbo": (
        "ts TIMESTAMP, instrument SYMBOL, bid DOUBLE, bid_size DOUBLE, ask DOUBLE, ask_size DOUBLE, "
        "ts_event TIMESTAMP",
        "ts, instrument",
    ),
    "bars": (
        "ts TIMESTAMP, instrument SYMBOL, interval SYMBOL, open DOUBLE, high DOUBLE, low DOUBLE, "
        "close DOUBLE, volume DOUBLE, vwap DOUBLE, trade_count LONG, revision LONG, ts_close TIMESTAMP",
        "ts, instrument, interval",
    ),
    "fills": (
        "ts TIMESTAMP, account SYMBOL, instrument SYMBOL, side SYMBOL, liquidity SYMBOL, "
        "client_order_id VARCHAR, venue_order_id VARCHAR, trade_id VARCHAR, price DOUBLE, quantity DOUBLE, "
        "commission DOUBLE, commission_currency SYMBOL, sequence LONG",
        "ts, account, client_order_id, trade_id",
    ),
    "equity": ("ts TIMESTAMP, account SYMBOL, currency SYMBOL, equity DOUBLE", "ts, account"),
}


def table_ddl(prefix: str = "") -> list[str]:
    """The ``CREATE TABLE IF NOT EXISTS`` statements of the schema (module docstring)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}{name} ({columns}) TIMESTAMP(ts) PARTITION BY DAY WAL "
        f"DEDUP UPSERT KEYS({keys})"
        for name, (columns, keys) in TABLES.items()
    ]


@dataclass(frozen=True, slots=True)
class QuestDbSettings:
    """What the sink needs (``[questdb]`` in the engine config maps onto this)."""

    host: str = "127.0.0.1"
    port: int = 9000
    protocol: str = "http"  # "http" (acknowledged) or "tcp"
    table_prefix: str = ""
    batch_rows: int = 10_000
    flush_interval_ms: int = 250
    request_timeout_ms: int = 5_000
    retry_backoff_ms: int = 250
    retry_backoff_max_ms: int = 30_000
    max_pending_rows: int = 1_000_000
    create_tables: bool = True
    spool_max_mb: int = 4_096

    def __post_init__(self) -> None:
        if self.protocol not in ("http", "tcp"):
            raise ValidationError("protocol", f"must be http or tcp, got {self.protocol!r}")
        for name in (
            "batch_rows",
            "flush_interval_ms",
            "request_timeout_ms",
            "retry_backoff_ms",
            "max_pending_rows",
        ):
            if getattr(self, name) <= 0:
                raise ValidationError(name, "must be positive")

    def conf_string(self) -> str:
        conf = f"{self.protocol}::addr={self.host}:{self.port};protocol_version=1;auto_flush=off;"
        if self.protocol == "http":
            # Our own retry loop (with the spool) replaces the client's: it must fail fast.
            conf += f"retry_timeout=0;request_timeout={self.request_timeout_ms};request_min_throughput=0;"
        return conf


@dataclass(slots=True)
class QuestDbStats:
    rows_submitted: int = 0
    rows_sent: int = 0
    rows_spooled: int = 0
    rows_drained: int = 0
    rows_dropped: int = 0
    rows_unsupported: int = 0
    #: Rows the client could not encode (a bug or a value out of range): skipped, logged once.
    rows_rejected: int = 0
    batches_sent: int = 0
    send_failures: int = 0
    spool_batches: int = 0
    spool_rows: int = 0
    connected: bool = False
    last_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SUPPORTED = frozenset({TradeTick, QuoteTick, Bar, OrderFilled, EquitySampled})
_U64 = struct.Struct(">Q")
_LEN = struct.Struct(">I")
_ROWS_KEY = b"spool_rows"


class _Spool:
    """Batches of codec records in an LMDB environment, FIFO by a u64 key; used by the sink thread only."""

    def __init__(self, path: Path, max_mb: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self.env = lmdb.open(
                str(path), map_size=max_mb * 1024 * 1024, max_dbs=4, subdir=True, sync=True, metasync=True
            )
        except lmdb.Error as exc:
            raise StorageError(f"cannot open the QuestDB spool at {path}: {exc}") from None
        self.batches = self.env.open_db(b"batches")
        self.meta = self.env.open_db(b"meta")
        with self.env.begin(db=self.batches) as txn:
            cursor = txn.cursor()
            self.next_key = _U64.unpack(cursor.key())[0] + 1 if cursor.last() else 0
            self.count = txn.stat(self.batches)["entries"]
        with self.env.begin(db=self.meta) as txn:
            rows = txn.get(_ROWS_KEY)
        self.rows = _U64.unpack(rows)[0] if rows else 0

    def push(self, events: list[Event]) -> None:
        encode = CODEC.encode
        data = b"".join(_LEN.pack(len(r)) + r for r in map(encode, events))
        with self.env.begin(write=True) as txn:
            txn.put(_U64.pack(self.next_key), data, db=self.batches)
            txn.put(_ROWS_KEY, _U64.pack(self.rows + len(events)), db=self.meta)
        self.next_key += 1
        self.count += 1
        self.rows += len(events)

    def oldest(self) -> tuple[bytes, list[Event]] | None:
        with self.env.begin(db=self.batches) as txn:
            cursor = txn.cursor()
            if not cursor.first():
                return None
            key, data = cursor.key(), cursor.value()
        events = []
        pos, view = 0, memoryview(data)
        decode = CODEC.decode
        while pos < len(data):
            (n,) = _LEN.unpack_from(view, pos)
            events.append(decode(bytes(view[pos + 4 : pos + 4 + n])))
            pos += 4 + n
        return key, events

    def remove(self, key: bytes, rows: int) -> None:
        with self.env.begin(write=True) as txn:
            txn.delete(key, db=self.batches)
            txn.put(_ROWS_KEY, _U64.pack(max(self.rows - rows, 0)), db=self.meta)
        self.count -= 1
        self.rows = max(self.rows - rows, 0)

    def close(self) -> None:
        self.env.sync(True)
        self.env.close()


class QuestDbSink:
    """Events in on the loop (``submit`` and the ``on_*`` aliases), ILP rows out on a thread."""

    def __init__(
        self,
        settings: QuestDbSettings,
        spool_dir: str | Path,
        *,
        on_state_change: Callable[[bool, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self._spool_dir = Path(spool_dir)
        self._queue: deque[Event] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sender: Sender | None = None
        self._ddl_done = False
        self._retry_at = 0.0
        self._reported = False
        self._backoff_s = settings.retry_backoff_ms / 1000
        #: Called from the sink thread on connect/disconnect (hop to the loop before touching state).
        self.on_state_change = on_state_change
        self._spool: _Spool | None = None
        self._prefix = settings.table_prefix
        self.stats = QuestDbStats()
        #: Set by the thread after each pass; tests and ``flush`` wait on it.
        self._idle = threading.Condition()
        self._passes = 0

    # -- loop side: never blocks -----------------------------------------------------------------
    def submit(self, event: Event) -> None:
        """Queue an event (TradeTick, QuoteTick, Bar, OrderFilled, EquitySampled); O(1), never blocks.

        Anything else is not a QuestDB table: counted in ``rows_unsupported`` and ignored.
        """
        if type(event) not in _SUPPORTED:
            self.stats.rows_unsupported += 1
            return
        queue = self._queue
        if len(queue) >= self.settings.max_pending_rows:
            self.stats.rows_dropped += 1
            return
        queue.append(event)
        self.stats.rows_submitted += 1
        if len(queue) >= self.settings.batch_rows:
            self._wake.set()

    on_trade = submit
    on_quote = submit
    on_bar = submit
    on_fill = submit
    on_equity = submit

    def on_order_event(self, event: Event) -> None:
        """For ``events.order.*`` subscriptions: only fills are time series."""
        if type(event) is OrderFilled:
            self.submit(event)

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def pending(self) -> int:
        return len(self._queue)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._spool = _Spool(self._spool_dir, self.settings.spool_max_mb)
        self.stats.spool_batches, self.stats.spool_rows = self._spool.count, self._spool.rows
        self._thread = threading.Thread(target=self._run, name="questdb-sink", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Send (or spool) everything queued, then stop. Returns False if the thread did not finish."""
        thread = self._thread
        if thread is None:
            return True
        self._stopping.set()
        self._wake.set()
        thread.join(timeout_s)
        finished = not thread.is_alive()
        if finished:
            self._thread = None
            self._close_sender()
            if self._spool is not None:
                self._spool.close()
                self._spool = None
        return finished

    def wait_passes(self, passes: int, timeout_s: float) -> bool:
        """Block (not on the loop!) until the thread has completed ``passes`` more passes."""
        with self._idle:
            target = self._passes + passes
            self._wake.set()
            return self._idle.wait_for(lambda: self._passes >= target, timeout_s)

    # -- the sink thread -------------------------------------------------------------------------
    def _run(self) -> None:
        interval = self.settings.flush_interval_ms / 1000
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            stopping = self._stopping.is_set()
            try:
                self._pass()
            except Exception as exc:  # never let the thread die: log, count, keep the rows spooled
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("questdb.sink_error")
            with self._idle:
                self._passes += 1
                self._idle.notify_all()
            if stopping and not self._queue:
                return

    def _pass(self) -> None:
        spool = self._spool
        assert spool is not None
        batch_rows = self.settings.batch_rows
        while self._queue:
            batch = self._take(batch_rows)
            if spool.count or time.monotonic() < self._retry_at:
                self._to_spool(batch)
            elif self._send(batch):
                self.stats.rows_sent += len(batch)
            else:
                self._to_spool(batch)
        if spool.count and time.monotonic() >= self._retry_at:
            self._drain()

    def _take(self, limit: int) -> list[Event]:
        queue = self._queue
        popleft = queue.popleft
        n = min(limit, len(queue))
        return [popleft() for _ in range(n)]

    def _to_spool(self, batch: list[Event]) -> None:
        assert self._spool is not None
        self._spool.push(batch)
        self.stats.rows_spooled += len(batch)
        self.stats.spool_batches, self.stats.spool_rows = self._spool.count, self._spool.rows

    def _drain(self) -> None:
        spool = self._spool
        assert spool is not None
        while spool.count:
            oldest = spool.oldest()
            if oldest is None:
                break
            key, events = oldest
            if not self._send(events):
                return
            spool.remove(key, len(events))
            self.stats.rows_drained += len(events)
            self.stats.spool_batches, self.stats.spool_rows = spool.count, spool.rows
        log.info("questdb.spool_drained", rows=self.stats.rows_drained)

    def _send(self, events: list[Event]) -> bool:
        """One acknowledged (HTTP) batch; False (and backoff scheduled) on any failure."""
        try:
            sender = self._connect()
        except Exception as exc:  # the client raises its own error types for every transport problem
            self._failed(exc)
            return False
        buffer = sender.new_buffer()
        self._rows(buffer, events)  # data problems are counted per row, never taken for an outage
        try:
            if len(buffer):
                sender.flush(buffer)
        except Exception as exc:
            self._failed(exc)
            return False
        self.stats.batches_sent += 1
        self._backoff_s = self.settings.retry_backoff_ms / 1000
        if not self.stats.connected:
            self._set_connected(True, "")
        return True

    def _failed(self, exc: Exception) -> None:
        self.stats.send_failures += 1
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        self.stats.last_error = detail
        self._close_sender()
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.settings.retry_backoff_max_ms / 1000)
        if self.stats.connected or self.stats.send_failures == 1:
            log.warning("questdb.unavailable", error=detail, spool_rows=self.stats.spool_rows)
        self._set_connected(False, detail)

    def _set_connected(self, connected: bool, detail: str) -> None:
        # The first outcome always counts as a change: QuestDB down from the start is DEGRADED too.
        changed = self.stats.connected != connected or not self._reported
        self._reported = True
        self.stats.connected = connected
        if changed and self.on_state_change is not None:
            self.on_state_change(connected, detail)

    def _connect(self) -> Sender:
        if self._sender is not None:
            return self._sender
        s = self.settings
        if s.protocol == "http" and s.create_tables and not self._ddl_done:
            self._create_tables()
        sender = Sender.from_conf(s.conf_string())
        sender.establish()
        self._sender = sender
        return sender

    def _close_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            try:
                sender.close()
            except Exception:  # closing a broken connection may fail again; nothing to keep
                log.debug("questdb.close_failed")

    def _create_tables(self) -> None:
        s = self.settings
        for statement in table_ddl(self._prefix):
            url = f"http://{s.host}:{s.port}/exec?" + urllib.parse.urlencode({"query": statement})
            with urllib.request.urlopen(url, timeout=s.request_timeout_ms / 1000) as response:
                body = response.read()
            if response.status != 200 or b'"error"' in body:
                raise StorageError(f"QuestDB refused the schema: {body[:300]!r}")
        self._ddl_done = True

    def _rows(self, buffer: Any, events: Iterable[Event]) -> None:
        """Serialise events into ``buffer``; a row the client refuses is counted and skipped."""
        for e in events:
            try:
                self._row(buffer, e)
            except Exception as exc:  # a value the client cannot encode: that row only
                self.stats.rows_rejected += 1
                if self.stats.rows_rejected == 1:
                    log.error("questdb.row_rejected", event=type(e).__name__, error=str(exc))

    def _row(self, buffer: Any, e: Any) -> None:
        p = self._prefix
        row = buffer.row
        cls = type(e)
        if cls is TradeTick:
            row(
                p + "trades",
                symbols={"instrument": str(e.instrument_id), "side": e.aggressor_side.name},
                columns={
                    "price": float(e.price.as_decimal()),
                    "size": float(e.size.as_decimal()),
                    "trade_id": str(e.trade_id),
                    "ts_init": TimestampMicros(e.ts_init // 1000),
                },
                at=TimestampNanos(e.ts_event),
            )
        elif cls is QuoteTick:
            row(
                p + "bbo",
                symbols={"instrument": str(e.instrument_id)},
                columns={
                    "bid": float(e.bid_price.as_decimal()),
                    "bid_size": float(e.bid_size.as_decimal()),
                    "ask": float(e.ask_price.as_decimal()),
                    "ask_size": float(e.ask_size.as_decimal()),
                    "ts_event": TimestampMicros(e.ts_event // 1000),
                },
                at=TimestampNanos(e.ts_init),
            )
        elif cls is Bar:
            row(
                p + "bars",
                symbols={"instrument": str(e.instrument_id), "interval": format_interval(e.interval_ns)},
                columns={
                    "open": float(e.open.as_decimal()),
                    "high": float(e.high.as_decimal()),
                    "low": float(e.low.as_decimal()),
                    "close": float(e.close.as_decimal()),
                    "volume": float(e.volume.as_decimal()),
                    "vwap": None if e.vwap is None else float(e.vwap.as_decimal()),
                    "trade_count": e.trade_count,
                    "revision": e.revision,
                    "ts_close": TimestampMicros(e.ts_event // 1000),
                },
                at=TimestampNanos(e.ts_open),
            )
        elif cls is OrderFilled:
            row(
                p + "fills",
                symbols={
                    "account": str(e.account_id),
                    "instrument": str(e.instrument_id),
                    "side": e.side.name,
                    "liquidity": e.liquidity_side.name,
                    "commission_currency": e.commission.currency,
                },
                columns={
                    "client_order_id": str(e.client_order_id),
                    "venue_order_id": str(e.venue_order_id),
                    "trade_id": str(e.trade_id),
                    "price": float(e.last_price.as_decimal()),
                    "quantity": float(e.last_quantity.as_decimal()),
                    "commission": float(e.commission.as_decimal()),
                    "sequence": e.sequence,
                },
                at=TimestampNanos(e.ts_event),
            )
        elif cls is EquitySampled:
            row(
                p + "equity",
                symbols={"account": str(e.account_id), "currency": e.equity.currency},
                columns={"equity": float(e.equity.as_decimal())},
                at=TimestampNanos(e.ts_event),
            )
