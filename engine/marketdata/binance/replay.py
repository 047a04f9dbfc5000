"""Replay raw Binance captures through the depth synchroniser and report on the result.

Capture format (``../shared/data/binance-l2``, hftbacktest's collector): gzip (or plain) text, one
message a line, ``<local receive ts ns> <raw JSON>``. The JSON is a combined-stream envelope
``{"stream": ..., "data": ...}`` for ``@depth``, ``@bookTicker`` and ``@trade`` events, or a bare REST
depth snapshot ``{"lastUpdateId", "bids", "asks"}`` (the first file of a session holds one).

The market is recognised from the first diff (USDⓈ-M diffs carry ``pu``), the symbol from its ``s``;
the instrument comes from ``instruments.known_instrument`` or, for other symbols, is inferred from
the session's snapshot (or given explicitly).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from engine.core.errors import AlgoTrendyError, ValidationError
from engine.core.instruments import Instrument
from engine.marketdata.binance.depth import BinanceDepthSync
from engine.marketdata.binance.instruments import (
    BinanceMarket,
    binance_instrument,
    infer_instrument,
    known_instrument,
)
from engine.marketdata.book import OrderBook

__all__ = ["ReplayError", "ReplayReport", "iter_capture", "replay_session"]


class ReplayError(AlgoTrendyError):
    """A capture could not be replayed (unreadable file, malformed line, price off the grid...)."""

    reason = "REPLAY_FAILED"


#: Called with (files done, bytes read of the current file, total bytes of all files).
ProgressCallback = Callable[[int, int, int], None]

_PROGRESS_EVERY = 2048
_MAX_PENDING = 100_000


@dataclass(slots=True)
class ReplayReport:
    """What a replay saw and the book it ended with. ``to_dict()`` is what ``book replay --json`` prints.

    ``deltas_per_sec`` is end-to-end: price levels applied from diffs per second of wall time for the
    whole replay (decompression, JSON decoding, normalisation and the book together).
    ``best_bid``/``best_ask`` are decimal strings, or None when the side is empty or the book is not
    synchronised at the end (a possibly-wrong book is not reported as if it were right).
    """

    files: list[str]
    market: str | None = None
    symbol: str | None = None
    instrument_id: str | None = None
    price_increment: str | None = None
    size_increment: str | None = None
    increments_source: str | None = None  # "table", "inferred" or "given"
    messages: int = 0
    snapshots: int = 0
    diffs: int = 0
    diffs_applied: int = 0
    diffs_dropped: int = 0
    deltas_applied: int = 0
    seq_gaps: int = 0
    resyncs: int = 0
    crossed_states: int = 0
    buffer_overflows: int = 0
    bookticker_messages: int = 0
    bookticker_checks: int = 0
    bookticker_matches: int = 0
    trades: int = 0
    other_messages: int = 0
    synced: bool = False
    last_update_id: int = -1
    best_bid: str | None = None
    best_bid_size: str | None = None
    best_ask: str | None = None
    best_ask_size: str | None = None
    bid_levels: int = 0
    ask_levels: int = 0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    elapsed_sec: float = 0.0
    deltas_per_sec: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def iter_capture(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(ts_ns, message)`` for each line of one capture file (gzip if it ends in ``.gz``)."""
    for ts_ns, message, _ in _read_capture(path):
        yield ts_ns, message


def _read_capture(path: Path) -> Iterator[tuple[int, dict[str, Any], BinaryIO]]:
    """``iter_capture`` plus the underlying file, whose ``tell()`` measures progress."""
    with path.open("rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
        for lineno, line in enumerate(stream, 1):
            ts, sep, payload = line.partition(b" ")
            if not sep:
                if not line.strip():
                    continue
                raise ValidationError("capture", f"{path}:{lineno}: expected '<ts_ns> <json>'")
            try:
                ts_ns, message = int(ts), orjson.loads(payload)
            except (ValueError, orjson.JSONDecodeError) as exc:
                raise ValidationError("capture", f"{path}:{lineno}: {exc}") from None
            yield ts_ns, message, raw


class _Session:
    def __init__(
        self, report: ReplayReport, instrument: Instrument | None, increments: tuple[str, str] | None
    ):
        self.report = report
        self.given_instrument = instrument
        self.increments = increments
        self.market: BinanceMarket | None = None
        self.symbol: str | None = None
        self.sync: BinanceDepthSync | None = None
        self.pending: list[dict[str, Any]] = []  # messages seen before the session could start
        self.snapshot: dict[str, Any] | None = None

    def feed(self, message: dict[str, Any]) -> None:
        if self.sync is None:
            self._identify(message)
            if self.sync is None:
                if len(self.pending) >= _MAX_PENDING:
                    raise ValidationError(
                        "capture", "no depth snapshot/instrument after 100000 messages: cannot start the book"
                    )
                self.pending.append(message)
                return
            pending, self.pending = self.pending, []
            for early in pending:
                self._dispatch(early)
        self._dispatch(message)

    def _identify(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if "lastUpdateId" in message and self.snapshot is None:
            self.snapshot = message
        elif isinstance(data, dict) and data.get("e") == "depthUpdate" and self.market is None:
            self.market = BinanceMarket.USDM if "pu" in data else BinanceMarket.SPOT
            self.symbol = str(data["s"]).upper()
        if self.market is None or self.symbol is None:
            return
        instrument, source = self._instrument()
        if instrument is None:
            return
        r = self.report
        r.market, r.symbol, r.instrument_id = self.market.value, self.symbol, str(instrument.id)
        r.price_increment, r.size_increment = str(instrument.price_increment), str(instrument.size_increment)
        r.increments_source = source
        self.sync = BinanceDepthSync(OrderBook(instrument), self.market)

    def _instrument(self) -> tuple[Instrument | None, str]:
        assert self.market is not None and self.symbol is not None
        if self.given_instrument is not None:
            return self.given_instrument, "given"
        if self.increments is not None:
            price, size = self.increments
            inst = binance_instrument(self.market, self.symbol, price_increment=price, size_increment=size)
            return inst, "given"
        known = known_instrument(self.market, self.symbol)
        if known is not None:
            return known, "table"
        if self.snapshot is not None:
            return infer_instrument(
                self.market, self.symbol, self.snapshot["bids"], self.snapshot["asks"]
            ), "inferred"
        return None, ""

    def _dispatch(self, message: dict[str, Any]) -> None:
        sync = self.sync
        assert sync is not None
        data = message.get("data")
        if data is None:
            if "lastUpdateId" in message:
                self.report.snapshots += 1
                sync.on_snapshot(message["lastUpdateId"], message["bids"], message["asks"])
            else:
                self.report.other_messages += 1
            return
        stream = message.get("stream", "")
        if "@depth" in stream:
            self._check_symbol(data)
            sync.on_depth_update(data)
        elif stream.endswith("@bookTicker"):
            self._check_symbol(data)
            self.report.bookticker_messages += 1
            sync.on_book_ticker(data)
        elif stream.endswith("@trade") or stream.endswith("@aggTrade"):
            self.report.trades += 1
        else:
            self.report.other_messages += 1

    def _check_symbol(self, data: dict[str, Any]) -> None:
        if data.get("s", self.symbol) != self.symbol:
            raise ValidationError(
                "capture", f"a session holds one symbol: got {data.get('s')} after {self.symbol}"
            )


def replay_session(
    files: Iterable[str | Path],
    *,
    instrument: Instrument | None = None,
    price_increment: str | None = None,
    size_increment: str | None = None,
    progress: ProgressCallback | None = None,
) -> ReplayReport:
    """Replay the capture files of one session, in the order given, and report.

    ``instrument`` (or ``price_increment`` + ``size_increment`` as decimal strings) overrides the
    instrument table / inference. Raises ``ReplayError`` (naming the file and message) when the input
    cannot be replayed.
    """
    paths = [Path(f) for f in files]
    if not paths:
        raise ReplayError("at least one capture file is needed")
    if (price_increment is None) != (size_increment is None):
        raise ReplayError("give both price_increment and size_increment, or neither")
    for path in paths:
        if not path.is_file():
            raise ReplayError(f"{path} is not a file")
    report = ReplayReport(files=[str(p) for p in paths])
    increments = (price_increment, size_increment) if price_increment and size_increment else None
    session = _Session(report, instrument, increments)
    total_bytes = sum(p.stat().st_size for p in paths)
    done_bytes = 0
    started = time.perf_counter()
    for index, path in enumerate(paths):
        n = 0
        try:
            for n, (ts_ns, message, raw) in enumerate(_read_capture(path), 1):
                report.messages += 1
                if report.first_ts_ns is None:
                    report.first_ts_ns = ts_ns
                report.last_ts_ns = ts_ns
                session.feed(message)
                if progress is not None and n % _PROGRESS_EVERY == 0:
                    progress(index, done_bytes + raw.tell(), total_bytes)
        except ReplayError:
            raise
        except (AlgoTrendyError, OSError, EOFError, KeyError, TypeError) as exc:
            detail = exc.message if isinstance(exc, AlgoTrendyError) else f"{type(exc).__name__}: {exc}"
            raise ReplayError(f"{path}: message {n + 1}: {detail}") from exc
        done_bytes += path.stat().st_size
    report.elapsed_sec = time.perf_counter() - started
    if progress is not None:
        progress(len(paths), total_bytes, total_bytes)
    _finish(report, session)
    return report


def _finish(report: ReplayReport, session: _Session) -> None:
    sync = session.sync
    if sync is None:
        report.notes.append("no depth diffs/instrument found: no book was built")
        return
    stats = sync.stats
    for name in (
        "diffs",
        "diffs_applied",
        "diffs_dropped",
        "deltas_applied",
        "seq_gaps",
        "resyncs",
        "crossed_states",
        "buffer_overflows",
        "bookticker_checks",
        "bookticker_matches",
    ):
        setattr(report, name, getattr(stats, name))
    if stats.snapshots_ignored:
        report.notes.append(f"{stats.snapshots_ignored} snapshot(s) arrived while synced and were not needed")
    if report.snapshots == 0:
        report.notes.append("no depth snapshot in these files: the book never synchronised")
    book, l2 = sync.book, sync.book.l2
    report.synced = sync.synced
    report.last_update_id = l2.last_sequence
    report.bid_levels, report.ask_levels = l2.level_count(1), l2.level_count(2)
    if sync.synced:
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None:
            report.best_bid, report.best_bid_size = str(bid[0]), str(bid[1])
        if ask is not None:
            report.best_ask, report.best_ask_size = str(ask[0]), str(ask[1])
    elif report.snapshots:
        report.notes.append(
            "the book is not synchronised at the end (gap or crossed book with no later snapshot)"
        )
    if report.elapsed_sec > 0:
        report.deltas_per_sec = round(report.deltas_applied / report.elapsed_sec, 1)
    report.elapsed_sec = round(report.elapsed_sec, 6)
