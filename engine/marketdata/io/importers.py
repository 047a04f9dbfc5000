"""Importers: market-data files -> engine events (``TradeTick``, ``QuoteTick``, ``Bar``,
``OrderBookDeltas``), exact, in file order, ready to record or replay.

Every importer is an iterator of ``Instrument | Event``: an ``Instrument`` is yielded once, before the
first event that refers to it, so a consumer (the recording writer) learns the grid before it sees a
price. Timestamps: ``ts_event`` is the venue's time; ``ts_init`` is the time the data was received
when the file says (tardis ``local_timestamp``, a capture's receive time), else ``ts_event``. A replay
paces on ``ts_init``, i.e. as the data arrived.

Formats (``detect_format`` picks one from the file's first line):

- ``binance-capture``: raw Binance WebSocket captures (``<receive ts ns> <combined-stream JSON>``,
  gzip or text; ``../shared/data/binance-l2``). Depth diffs and the REST snapshot go through
  ``BinanceDepthSync`` (Binance's own rules), and what the synced book did is recorded: a full
  snapshot of the book when a snapshot syncs it (buffered diffs included), each applied diff's
  levels, and an invalidation marker when it loses sync (gap, crossed). ``@bookTicker`` ->
  ``QuoteTick``, ``@trade``/``@aggTrade`` -> ``TradeTick`` (aggressor SELL when the buyer is the maker).
  The instrument comes from the Binance table, else is inferred from the session's snapshot.
- ``tardis-trades`` / ``tardis-quotes``: tardis.dev CSV (``.csv`` or ``.csv.gz``), timestamps in us.
  Prices are parsed from the text exactly; the instrument's increments are the finest decimals seen in
  the file (a first pass) unless given. Venue names map to ours (``binance-futures`` -> ``BINANCE_USDM``).
- ``bars``: anything ``load_bars`` reads (CSV, Binance klines, feather, parquet). Floats are turned
  into exact ticks/lots on a grid given by the caller or, when not given, the coarsest decimal grid
  (at most 12 places) every value of the column lies on (float noise like ``...59507500002`` ignored).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from engine.core.enums import InstrumentKind, Side
from engine.core.errors import ValidationError
from engine.core.events import Bar, Event, QuoteTick, TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import InstrumentId, TradeId
from engine.core.instruments import Instrument
from engine.marketdata.binance.depth import BinanceDepthSync, DepthOutcome
from engine.marketdata.binance.instruments import BinanceMarket, infer_instrument, known_instrument
from engine.marketdata.book import OrderBook
from engine.marketdata.io.bars import BarArrays, BarFileError, OffGridError, load_bars, to_ticks
from engine.marketdata.io.records import OrderBookDeltas

__all__ = [
    "FORMATS",
    "DataImportError",
    "ImportItem",
    "detect_format",
    "import_bars",
    "import_binance_capture",
    "import_file",
    "import_tardis_quotes",
    "import_tardis_trades",
    "make_instrument",
]

ImportItem = Instrument | Event
FORMATS = ("binance-capture", "tardis-trades", "tardis-quotes", "bars")

_TARDIS_TRADES = ["exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"]
_TARDIS_QUOTES = [
    "exchange",
    "symbol",
    "timestamp",
    "local_timestamp",
    "ask_amount",
    "ask_price",
    "bid_price",
    "bid_amount",
]
_TARDIS_VENUES = {
    "binance": ("BINANCE", InstrumentKind.SPOT),
    "binance-futures": ("BINANCE_USDM", InstrumentKind.PERPETUAL),
    "binance-delivery": ("BINANCE_COINM", InstrumentKind.FUTURE),
    "bybit": ("BYBIT", InstrumentKind.PERPETUAL),
    "bybit-spot": ("BYBIT", InstrumentKind.SPOT),
    "okex": ("OKX", InstrumentKind.SPOT),
    "okx": ("OKX", InstrumentKind.SPOT),
    "okex-swap": ("OKX", InstrumentKind.PERPETUAL),
    "okx-swap": ("OKX", InstrumentKind.PERPETUAL),
    "coinbase": ("COINBASE", InstrumentKind.SPOT),
    "kraken": ("KRAKEN", InstrumentKind.SPOT),
    "deribit": ("DERIBIT", InstrumentKind.PERPETUAL),
}
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USD", "EUR", "BTC", "ETH", "BNB", "TRY")
_MAX_INFERRED_PLACES = 12


class DataImportError(ValidationError):
    """A file could not be imported; names the file and the line/message."""

    reason = "IMPORT_FAILED"

    def __init__(self, path: Path | str, problem: str, *, line: int | None = None) -> None:
        where = str(path) if line is None else f"{path}, line {line}"
        super().__init__(where, problem)
        self.path = str(path)
        self.line = line


# -- format detection --------------------------------------------------------------------------
def _open_text(path: Path) -> io.TextIOBase:
    raw = path.open("rb")
    stream = gzip.GzipFile(fileobj=raw) if _is_gzip(path) else raw
    return io.TextIOWrapper(stream, encoding="utf-8", newline="")  # type: ignore[arg-type]


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == b"\x1f\x8b"


def detect_format(path: str | Path) -> str:
    """One of ``FORMATS`` for this file (by its first line; binary Arrow files are ``bars``)."""
    path = Path(path)
    if not path.is_file():
        raise DataImportError(path, "no such file")
    if path.suffix.lower() in {".feather", ".arrow", ".ipc", ".parquet"}:
        return "bars"
    try:
        with _open_text(path) as f:
            first = f.readline().strip()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataImportError(path, f"unreadable: {exc}") from None
    head, _, rest = first.partition(" ")
    if head.isdigit() and rest.startswith("{"):
        return "binance-capture"
    columns = [c.strip().lower() for c in first.split(",")]
    if columns == _TARDIS_TRADES:
        return "tardis-trades"
    if columns == _TARDIS_QUOTES:
        return "tardis-quotes"
    return "bars"


def import_file(
    path: str | Path,
    *,
    fmt: str | None = None,
    instrument: Instrument | None = None,
    instrument_id: str | None = None,
) -> Iterator[ImportItem]:
    """Import one file of any supported format (``fmt`` overrides detection).

    ``instrument`` fixes the grid (and id); for bar files without it ``instrument_id`` names the
    instrument (default ``FILE:<file stem>``) and the grid is inferred.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "binance-capture":
        return import_binance_capture([path], instrument=instrument)
    if fmt == "tardis-trades":
        return import_tardis_trades(path, instrument=instrument)
    if fmt == "tardis-quotes":
        return import_tardis_quotes(path, instrument=instrument)
    if fmt == "bars":
        return import_bars(path, instrument=instrument, instrument_id=instrument_id)
    raise DataImportError(path, f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


# -- instruments -------------------------------------------------------------------------------
def make_instrument(
    venue: str,
    symbol: str,
    *,
    price_places: int,
    size_places: int,
    kind: InstrumentKind = InstrumentKind.SPOT,
) -> Instrument:
    """An instrument whose increments are ``10**-places`` (the grid a file's decimals imply)."""
    base, quote = _split_symbol(symbol)
    size = Quantity.from_raw(1, size_places)
    return Instrument(
        id=InstrumentId.of(venue, symbol),
        kind=kind,
        base=base,
        quote=quote,
        settlement=quote,
        price_increment=Price.from_raw(1, price_places),
        size_increment=size,
        min_quantity=size,
    )


def _split_symbol(symbol: str) -> tuple[str, str]:
    clean = symbol.upper().replace("-", "").replace("/", "").replace("_", "")
    for quote in _QUOTES:
        if clean.endswith(quote) and len(clean) > len(quote):
            return clean[: -len(quote)], quote
    return clean or "UNKNOWN", "UNKNOWN"


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _places(text: str) -> int:
    """Decimal places a literal needs (``"9681.920"`` -> 2, ``"1e-5"`` -> 5, ``"100"`` -> 0)."""
    if not _NUMBER.match(text):
        raise ValueError(f"{text!r} is not a decimal number")
    if "e" in text or "E" in text:
        exponent = Decimal(text).normalize().as_tuple().exponent
        return max(-exponent, 0) if isinstance(exponent, int) else 0
    return len(text.partition(".")[2].rstrip("0"))


# -- tardis ------------------------------------------------------------------------------------
def _tardis_rows(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [c.strip().lower() for c in header] != columns:
            raise DataImportError(path, f"expected the tardis header {','.join(columns)}", line=1)
        for lineno, row in enumerate(reader, 2):
            if not row:
                continue
            if len(row) != len(columns):
                raise DataImportError(path, f"{len(row)} fields, expected {len(columns)}", line=lineno)
            yield lineno, dict(zip(columns, row, strict=True))


def _tardis_instrument(
    path: Path, columns: list[str], price_cols: tuple[str, ...], size_cols: tuple[str, ...]
) -> Instrument:
    exchange = symbol = None
    pp = sp = 0
    for lineno, row in _tardis_rows(path, columns):
        if exchange is None:
            exchange, symbol = row["exchange"], row["symbol"]
        elif (row["exchange"], row["symbol"]) != (exchange, symbol):
            raise DataImportError(
                path,
                f"one market a file: {row['exchange']} {row['symbol']} after {exchange} {symbol}",
                line=lineno,
            )
        try:
            for c in price_cols:
                if row[c]:
                    pp = max(pp, _places(row[c]))
            for c in size_cols:
                if row[c]:
                    sp = max(sp, _places(row[c]))
        except ValueError as exc:
            raise DataImportError(path, str(exc), line=lineno) from None
    if exchange is None or symbol is None:
        raise DataImportError(path, "no rows")
    venue, kind = _TARDIS_VENUES.get(exchange, (exchange.upper().replace("-", "_")[:32], InstrumentKind.SPOT))
    return make_instrument(venue, symbol, price_places=pp, size_places=sp, kind=kind)


def import_tardis_trades(path: str | Path, *, instrument: Instrument | None = None) -> Iterator[ImportItem]:
    """tardis.dev ``trades`` CSV -> ``TradeTick``. ``side`` is the aggressor; a row whose side is
    ``unknown`` is refused (naming the line): a trade without an aggressor cannot be replayed
    faithfully into a matching engine, and guessing one would be inventing data."""
    path = Path(path)
    inst = instrument or _tardis_instrument(path, _TARDIS_TRADES, ("price",), ("amount",))
    yield inst
    iid = inst.id
    pp, sp = inst.price_precision, inst.size_precision
    for lineno, row in _tardis_rows(path, _TARDIS_TRADES):
        try:
            side = row["side"].lower()
            if side not in ("buy", "sell"):
                raise ValueError(f"side {row['side']!r} is not buy or sell")
            price = inst.parse_price(row["price"]) if instrument else Price.parse(row["price"], pp)
            size = inst.parse_quantity(row["amount"]) if instrument else Quantity.parse(row["amount"], sp)
            yield TradeTick(
                ts_event=int(row["timestamp"]) * 1000,
                ts_init=int(row["local_timestamp"]) * 1000,
                instrument_id=iid,
                price=price,
                size=size,
                aggressor_side=Side.BUY if side == "buy" else Side.SELL,
                trade_id=TradeId(row["id"] or f"L{lineno}"),
            )
        except (ValueError, OverflowError, ValidationError) as exc:
            raise DataImportError(path, str(exc), line=lineno) from None


def import_tardis_quotes(path: str | Path, *, instrument: Instrument | None = None) -> Iterator[ImportItem]:
    """tardis.dev ``quotes`` CSV -> ``QuoteTick``. Rows with an empty side are skipped (no BBO)."""
    path = Path(path)
    inst = instrument or _tardis_instrument(
        path, _TARDIS_QUOTES, ("ask_price", "bid_price"), ("ask_amount", "bid_amount")
    )
    yield inst
    iid = inst.id
    pp, sp = inst.price_precision, inst.size_precision
    for lineno, row in _tardis_rows(path, _TARDIS_QUOTES):
        if not (row["bid_price"] and row["ask_price"] and row["bid_amount"] and row["ask_amount"]):
            continue
        try:
            yield QuoteTick(
                ts_event=int(row["timestamp"]) * 1000,
                ts_init=int(row["local_timestamp"]) * 1000,
                instrument_id=iid,
                bid_price=Price.parse(row["bid_price"], pp),
                bid_size=Quantity.parse(row["bid_amount"], sp),
                ask_price=Price.parse(row["ask_price"], pp),
                ask_size=Quantity.parse(row["ask_amount"], sp),
            )
        except (ValueError, OverflowError) as exc:
            raise DataImportError(path, str(exc), line=lineno) from None


# -- bar files ---------------------------------------------------------------------------------
def _float_places(values: np.ndarray) -> int:
    """The fewest decimals (<= 12) on whose grid every value lies, as ``to_ticks`` judges it.

    Float columns carry binary noise (``218102.59507500002``), so the shortest repr overstates the
    precision; the grid is the coarsest one all values round to within 1e-6 of a step. Raises when
    no grid up to 12 places fits within 64-bit ticks.
    """
    v = np.unique(values)
    biggest = float(np.max(np.abs(v))) if v.size else 0.0
    for places in range(_MAX_INFERRED_PLACES + 1):
        scaled = v * 10.0**places
        if biggest * 10.0**places >= 9.0e18:
            break
        ticks = np.rint(scaled)
        if np.all(np.abs(scaled - ticks) <= 1e-6 * np.maximum(1.0, 1e-9 * np.abs(ticks))):
            return places
    raise ValidationError("increment", "cannot infer a decimal grid for these values; give the increments")


def import_bars(
    path: str | Path,
    *,
    instrument: Instrument | None = None,
    instrument_id: str | None = None,
    bars: BarArrays | None = None,
) -> Iterator[ImportItem]:
    """A bar file -> ``Bar`` events (``ts_open`` = the file's time, ``ts_event`` = ts_open + interval)."""
    path = Path(path)
    data = bars if bars is not None else load_bars(path)
    if instrument is None:
        try:
            pp = _float_places(np.concatenate([data.open, data.high, data.low, data.close]))
            sp = _float_places(data.volume)
        except ValidationError as exc:
            raise BarFileError(path, exc.message) from None
        iid = InstrumentId(instrument_id or f"FILE:{_symbol_from_stem(path.stem)}")
        instrument = make_instrument(iid.venue, iid.symbol, price_places=pp, size_places=sp)
    yield instrument
    interval = data.interval_ns
    if interval <= 0:
        raise BarFileError(path, "need at least two bars to know the interval")
    step = instrument.price_increment.raw
    pp = instrument.price_precision
    try:
        cols = [
            to_ticks(col, instrument.price_increment, what=name) * step
            for name, col in (
                ("open", data.open),
                ("high", data.high),
                ("low", data.low),
                ("close", data.close),
            )
        ]
        vol = to_ticks(data.volume, instrument.size_increment, what="volume") * instrument.size_increment.raw
    except OffGridError as exc:
        raise BarFileError(
            path, f"{exc.problem} (give the instrument's increments)", row=exc.index + 1, column=exc.field
        ) from None
    sp = instrument.size_precision
    counts = data.trade_count.tolist() if data.trade_count is not None else [0] * len(data)
    iid = instrument.id
    for ts, o, h, lo, c, v, n in zip(
        data.ts_ns.tolist(), *(x.tolist() for x in cols), vol.tolist(), counts, strict=True
    ):
        yield Bar(
            ts_event=ts + interval,
            ts_init=ts + interval,
            instrument_id=iid,
            interval_ns=interval,
            ts_open=ts,
            open=Price.from_raw(o, pp),
            high=Price.from_raw(h, pp),
            low=Price.from_raw(lo, pp),
            close=Price.from_raw(c, pp),
            volume=Quantity.from_raw(v, sp),
            trade_count=n,
        )


def _symbol_from_stem(stem: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in stem.removesuffix(".csv"))
    return cleaned[:64] or "BARS"


# -- Binance captures --------------------------------------------------------------------------
class _CaptureState:
    def __init__(self, instrument: Instrument | None) -> None:
        self.given = instrument
        self.market: BinanceMarket | None = None
        self.symbol: str | None = None
        self.snapshot: dict[str, Any] | None = None
        self.instrument: Instrument | None = None
        self.sync: BinanceDepthSync | None = None
        self.invalid_marked = False


def import_binance_capture(
    files: Iterable[str | Path], *, instrument: Instrument | None = None
) -> Iterator[ImportItem]:
    """The capture files of one Binance session (one symbol), in order -> events (module docstring)."""
    state = _CaptureState(instrument)
    pending: list[tuple[int, dict[str, Any]]] = []
    for path in (Path(f) for f in files):
        if not path.is_file():
            raise DataImportError(path, "no such file")
        with path.open("rb") as raw:
            stream = gzip.GzipFile(fileobj=raw) if _is_gzip(path) else raw
            lineno = 0
            try:
                for line in stream:
                    lineno += 1
                    ts, sep, payload = line.partition(b" ")
                    if not sep:
                        if line.strip():
                            raise ValueError("expected '<ts_ns> <json>'")
                        continue
                    ts_ns, message = int(ts), orjson.loads(payload)
                    if state.sync is None:
                        _identify(state, message)
                        if state.sync is None:
                            pending.append((ts_ns, message))
                            if len(pending) > 100_000:
                                raise ValueError("no depth snapshot/instrument after 100000 messages")
                            continue
                        assert state.instrument is not None
                        yield state.instrument
                        early, pending = pending, []
                        for early_ts, early_msg in early:
                            yield from _capture_message(state, early_ts, early_msg)
                    yield from _capture_message(state, ts_ns, message)
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError, EOFError, OSError) as exc:
                raise DataImportError(path, f"{type(exc).__name__}: {exc}", line=lineno) from None
            except ValidationError as exc:
                raise DataImportError(path, exc.message, line=lineno) from None


def _identify(state: _CaptureState, message: dict[str, Any]) -> None:
    data = message.get("data")
    if "lastUpdateId" in message and state.snapshot is None:
        state.snapshot = message
    elif isinstance(data, dict) and data.get("e") == "depthUpdate" and state.market is None:
        state.market = BinanceMarket.USDM if "pu" in data else BinanceMarket.SPOT
        state.symbol = str(data["s"]).upper()
    if state.market is None or state.symbol is None:
        return
    inst = state.given or known_instrument(state.market, state.symbol)
    if inst is None and state.snapshot is not None:
        inst = infer_instrument(state.market, state.symbol, state.snapshot["bids"], state.snapshot["asks"])
    if inst is None:
        return
    state.instrument = inst
    state.sync = BinanceDepthSync(OrderBook(inst), state.market)


def _full_book(state: _CaptureState, ts_ns: int, ts_event: int) -> OrderBookDeltas:
    assert state.sync is not None and state.instrument is not None
    l2 = state.sync.book.l2
    sides = []
    for side in (1, 2):
        n = l2.level_count(side)
        ticks = np.zeros(n, dtype=np.int64)
        lots = np.zeros(n, dtype=np.int64)
        l2.depth(side, ticks, lots, n)
        sides.append((tuple(ticks.tolist()), tuple(lots.tolist())))
    return OrderBookDeltas(
        ts_event=ts_event,
        ts_init=ts_ns,
        instrument_id=state.instrument.id,
        bid_ticks=sides[0][0],
        bid_lots=sides[0][1],
        ask_ticks=sides[1][0],
        ask_lots=sides[1][1],
        sequence=l2.last_sequence,
        is_snapshot=True,
    )


def _invalidation(state: _CaptureState, ts_ns: int, ts_event: int) -> Iterator[OrderBookDeltas]:
    if state.invalid_marked:
        return
    state.invalid_marked = True
    assert state.instrument is not None
    yield OrderBookDeltas(
        ts_event=ts_event,
        ts_init=ts_ns,
        instrument_id=state.instrument.id,
        bid_ticks=(),
        bid_lots=(),
        ask_ticks=(),
        ask_lots=(),
        sequence=-1,
        is_snapshot=True,
    )


def _capture_message(state: _CaptureState, ts_ns: int, message: dict[str, Any]) -> Iterator[ImportItem]:
    sync = state.sync
    inst = state.instrument
    assert sync is not None and inst is not None
    data = message.get("data")
    if data is None:
        if "lastUpdateId" in message:
            outcome = sync.on_snapshot(message["lastUpdateId"], message["bids"], message["asks"])
            if outcome is DepthOutcome.SNAPSHOT_APPLIED:
                if sync.book.l2.needs_snapshot:  # a buffered diff after it broke the chain again
                    yield from _invalidation(state, ts_ns, ts_ns)
                else:
                    state.invalid_marked = False
                    yield _full_book(state, ts_ns, ts_ns)
            elif outcome is DepthOutcome.CROSSED:
                yield from _invalidation(state, ts_ns, ts_ns)
        return
    stream = message.get("stream", "")
    symbol = data.get("s")
    if symbol is not None and str(symbol).upper() != state.symbol:
        raise ValueError(f"a session holds one symbol: got {symbol} after {state.symbol}")
    if "@depth" in stream:
        outcome = sync.on_depth_update(data)
        ts_event = int(data.get("E", 0)) * 1_000_000 or ts_ns
        if outcome is DepthOutcome.APPLIED:
            sides, ticks, lots = sync.parser.delta_arrays(data["b"], data["a"])
            bid = sides == 1
            ask = ~bid
            yield OrderBookDeltas(
                ts_event=ts_event,
                ts_init=ts_ns,
                instrument_id=inst.id,
                bid_ticks=tuple(ticks[bid].tolist()),
                bid_lots=tuple(lots[bid].tolist()),
                ask_ticks=tuple(ticks[ask].tolist()),
                ask_lots=tuple(lots[ask].tolist()),
                sequence=int(data["u"]),
            )
        elif outcome in (DepthOutcome.GAP, DepthOutcome.CROSSED):
            yield from _invalidation(state, ts_ns, ts_event)
    elif stream.endswith("@bookTicker"):
        ts_event = int(data.get("E") or data.get("T") or 0) * 1_000_000 or ts_ns
        yield QuoteTick(
            ts_event=ts_event,
            ts_init=ts_ns,
            instrument_id=inst.id,
            bid_price=inst.parse_price(data["b"]),
            bid_size=inst.parse_quantity(data["B"]),
            ask_price=inst.parse_price(data["a"]),
            ask_size=inst.parse_quantity(data["A"]),
        )
    elif stream.endswith("@trade") or stream.endswith("@aggTrade"):
        trade_id = data.get("t", data.get("a"))
        yield TradeTick(
            ts_event=int(data["T"]) * 1_000_000,
            ts_init=ts_ns,
            instrument_id=inst.id,
            price=inst.parse_price(data["p"]),
            size=inst.parse_quantity(data["q"]),
            aggressor_side=Side.SELL if data["m"] else Side.BUY,
            trade_id=TradeId(str(trade_id)),
        )
