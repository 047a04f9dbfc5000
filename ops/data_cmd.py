"""``algotrendy data``: market-data recordings — import files, record live feeds, replay, inspect.

- ``data import FILE... --out REC``: tardis trades/quotes CSV, Binance WebSocket captures (gz), bar
  files (CSV with timestamp/date + OHLCV, Binance klines, freqtrade feather, parquet) into one LMDB
  recording; several files are merged in receive-time order. Capture files of one session
  (``btcusdt_20240808.gz`` + ``btcusdt_20240809.gz``) are imported together, in name order.
- ``data record --venue V --symbol S... --out REC``: a live feed (ccxt.pro feed handlers) into a
  recording until ``--duration-s`` or Ctrl-C.
- ``data replay REC --speed 1x|10x|max``: plays a recording through the engine's components offline
  (books rebuilt from the recorded deltas, bars aggregated from the trades) and reports; ``--serve``
  instead starts the engine fed by the recording (``[replay]`` config), so books, strategies and the
  paper venue run on it.
- ``data info REC``: what a recording holds.

Long runs draw a progress line on stderr when it is a terminal. ``--json`` prints one JSON object.
Exit status: 0 done; 1 the input could not be read or written (the error names the file and line);
2 bad usage.
"""

from __future__ import annotations

import asyncio
import heapq
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="data",
    help="Market-data recordings: import files, record live feeds, replay, inspect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object (for scripts).")]
_SESSION = re.compile(r"^(?P<key>.+)_\d{8}(\.\w+)*$")


@app.callback()
def _data() -> None:
    """Market-data recordings."""
    # Engine components log through structlog; here only warnings, and never on stdout (--json).
    import logging

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


def _fail(command: str, exc: Exception, code: int = 1) -> typer.Exit:
    message = getattr(exc, "message", None) or str(exc)
    typer.echo(f"algotrendy data {command}: {message}", err=True)
    return typer.Exit(code)


class _Progress:
    """A counter line on stderr (rich) when it is a terminal; silent otherwise."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self._bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn(label),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._bar.add_task(label, total=total, rate="")
            self._bar.start()
        self._started = time.perf_counter()

    def update(self, done: int) -> None:
        if self._bar is not None:
            rate = done / max(time.perf_counter() - self._started, 1e-9)
            self._bar.update(self._task, completed=done, rate=f"{rate:,.0f}/s")

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _print(obj: dict[str, Any], title: str, json_: bool) -> None:
    if json_:
        import orjson

        sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from rich.table import Table

    from ops.connect import show

    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in obj.items():
        table.add_row(key, _cell(key, value))
    show(table)


def _cell(key: str, value: Any) -> str:
    if isinstance(value, dict):
        return (
            ", ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}" for k, v in value.items()) or "-"
        )
    if isinstance(value, list):
        return "\n".join(map(str, value)) or "-"
    if isinstance(value, int) and not isinstance(value, bool) and not key.endswith("_ns"):
        return f"{value:,}"
    return str(value)


def _iso(ts_ns: int | None) -> str | None:
    if ts_ns is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")


def _parse_time(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    import numpy as np

    try:
        if text.isdigit():
            return int(text)
        return int(np.datetime64(text.rstrip("Z"), "ns").astype(np.int64))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: an ISO time (2024-08-09T00:00:00) or epoch ns", param_hint=flag
        ) from None


# -- import --------------------------------------------------------------------------------------
@app.command("import")
def import_command(
    files: Annotated[
        list[Path],
        typer.Argument(help="Files to import (any supported format).", exists=True, dir_okay=False),
    ],
    out: Annotated[Path, typer.Option("--out", help="Recording directory (created, or appended to).")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="binance-capture, tardis-trades, tardis-quotes or bars (default: detected)."
        ),
    ] = None,
    instrument_id: Annotated[
        str | None, typer.Option("--instrument-id", help="VENUE:SYMBOL for bar files (default FILE:<name>).")
    ] = None,
    price_increment: Annotated[
        str | None,
        typer.Option("--price-increment", help="Tick size (with --size-increment; default: inferred)."),
    ] = None,
    size_increment: Annotated[str | None, typer.Option("--size-increment", help="Size increment.")] = None,
    max_age_s: Annotated[
        float | None, typer.Option("--max-age-s", help="Retention: keep this many seconds.")
    ] = None,
    max_size_mb: Annotated[
        float | None, typer.Option("--max-size-mb", help="Retention: compressed size cap.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Import market-data files into a recording (exact prices; errors name the file and line)."""
    from engine.core.errors import AlgoTrendyError
    from engine.marketdata.io.importers import detect_format, import_binance_capture, import_file
    from engine.store.recording import RecordingWriter, RetentionPolicy

    if (price_increment is None) != (size_increment is None):
        raise _fail("import", ValueError("give both --price-increment and --size-increment, or neither"), 2)
    started = time.perf_counter()
    try:
        instrument = _given_instrument(instrument_id, price_increment, size_increment)
        sessions: dict[str, list[Path]] = defaultdict(list)
        streams = []
        formats = {}
        for path in files:
            kind = fmt or detect_format(path)
            formats[str(path)] = kind
            if kind == "binance-capture":
                m = _SESSION.match(path.name)
                sessions[str(path.parent / (m.group("key") if m else path.name))].append(path)
            else:
                streams.append(
                    import_file(path, fmt=kind, instrument=instrument, instrument_id=instrument_id)
                )
        for paths in sessions.values():
            streams.append(import_binance_capture(sorted(paths), instrument=instrument))
        retention = RetentionPolicy(max_age_s=max_age_s, max_size_mb=max_size_mb)
        writer = RecordingWriter(out, retention=retention)
    except (AlgoTrendyError, ValueError) as exc:
        raise _fail("import", exc) from None
    progress = _Progress("importing")
    counts: dict[str, int] = defaultdict(int)
    try:
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_merge_key)
        n = 0
        for item in merged:
            if hasattr(item, "price_increment"):
                writer.add_instrument(item)  # type: ignore[arg-type]
                continue
            writer.append(item)  # type: ignore[arg-type]
            counts[type(item).__name__] += 1
            n += 1
            if n % 20_000 == 0:
                progress.update(n)
        writer.flush()
    except (AlgoTrendyError, ValueError, OSError) as exc:
        progress.stop()
        writer.close()
        raise _fail("import", exc) from None
    progress.stop()
    info = writer.info()
    writer.close()
    elapsed = time.perf_counter() - started
    report = {
        "recording": str(out),
        "files": formats,
        "imported": dict(counts),
        "events": sum(counts.values()),
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(sum(counts.values()) / elapsed, 1) if elapsed > 0 else 0.0,
        "recording_events": info.events,
        "compressed_bytes": info.compressed_bytes,
        "compression_ratio": round(info.compression_ratio, 2),
        "instruments": info.instruments,
    }
    _print(report, f"data import -> {out}", json_)


def _merge_key(item: Any) -> int:
    # Instruments first (they precede their events in each stream anyway), then receive time.
    return getattr(item, "ts_init", -(1 << 63))


def _given_instrument(instrument_id: str | None, price: str | None, size: str | None) -> Any:
    if price is None or size is None:
        return None
    if instrument_id is None:
        raise ValueError("--price-increment/--size-increment need --instrument-id VENUE:SYMBOL")
    from engine.core.fixed import Price, Quantity
    from engine.core.ids import InstrumentId
    from engine.marketdata.io.importers import make_instrument

    iid = InstrumentId(instrument_id)
    inst = make_instrument(iid.venue, iid.symbol, price_places=0, size_places=0)
    from dataclasses import replace

    size_q = Quantity.parse(size)
    return replace(inst, price_increment=Price.parse(price), size_increment=size_q, min_quantity=size_q)


# -- info ----------------------------------------------------------------------------------------
@app.command("info")
def info_command(
    recording: Annotated[Path, typer.Argument(help="Recording directory.", exists=True, file_okay=False)],
    json_: JsonOption = False,
) -> None:
    """Show what a recording holds: events per kind, time span, size and compression."""
    from engine.core.errors import AlgoTrendyError
    from engine.store.recording import RecordingReader

    try:
        with RecordingReader(recording) as reader:
            info = reader.info().to_dict()
    except AlgoTrendyError as exc:
        raise _fail("info", exc) from None
    info["first"] = _iso(info["first_ts_ns"])
    info["last"] = _iso(info["last_ts_ns"])
    _print(info, f"recording {recording}", json_)


# -- replay --------------------------------------------------------------------------------------
class _OfflineSink:
    """What an offline replay feeds: bars from trades, counts, the last quote per instrument."""

    def __init__(self, bar_intervals_ns: tuple[int, ...]) -> None:
        from engine.marketdata.bars import BarService

        self.bars_built: dict[str, int] = defaultdict(int)
        self.last_quote: dict[str, Any] = {}
        self.recorded_bars = 0
        self.book_snapshots = 0
        self.bars = BarService(self, bar_intervals_ns)

    def publish(self, topic: str, bar: Any) -> None:
        from engine.marketdata.bars import format_interval

        self.bars_built[format_interval(bar.interval_ns)] += 1

    def on_trade(self, tick: Any) -> None:
        self.bars.on_trade(tick)

    def on_quote(self, tick: Any) -> None:
        self.last_quote[str(tick.instrument_id)] = tick

    def on_bar(self, bar: Any) -> None:
        self.recorded_bars += 1

    def on_book(self, event: Any) -> None:
        self.book_snapshots += event.is_snapshot

    def on_alert(self, alert: Any) -> None:
        pass


@app.command("replay")
def replay_command(
    recording: Annotated[Path, typer.Argument(help="Recording directory.", exists=True, file_okay=False)],
    speed: Annotated[str, typer.Option("--speed", help="1x (as recorded), 10x, 0.5x ... or max.")] = "max",
    bars: Annotated[
        str, typer.Option("--bars", help="Bar intervals to build from the trades, e.g. 1m,5m.")
    ] = "1m",
    start: Annotated[
        str | None, typer.Option("--from", help="Start (ISO time or epoch ns, receive time).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="End, exclusive.")] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="Start the engine fed by the recording (books, strategies, paper venue)."
        ),
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="Engine config for --serve.", dir_okay=False)
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Engine config override for --serve.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Replay a recording at a speed: offline through books and bars, or into a served engine."""
    from engine.core.errors import AlgoTrendyError
    from engine.store.replay import parse_speed

    try:
        speed_x = parse_speed(speed)
    except AlgoTrendyError as exc:
        raise _fail("replay", exc, 2) from None
    start_ns, end_ns = _parse_time(start, "--from"), _parse_time(end, "--to")
    if serve:
        from engine.app import serve as run_engine

        overrides: dict[str, Any] = {"replay.path": str(recording), "replay.speed": speed}
        for item in set_ or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise _fail("replay", ValueError(f"--set {item!r}: expected KEY=VALUE"), 2)
            overrides[key.strip()] = value
        raise typer.Exit(run_engine(config, overrides, {k: "data replay --serve" for k in overrides}))
    try:
        from engine.marketdata.bars import parse_interval
        from engine.store.recording import RecordingReader
        from engine.store.replay import ReplayFeed

        intervals = tuple(parse_interval(t.strip()) for t in bars.split(",") if t.strip())
        reader = RecordingReader(recording)
    except (AlgoTrendyError, ValueError) as exc:
        raise _fail("replay", exc, 2 if isinstance(exc, ValueError) else 1) from None
    total = reader.info().events
    progress = _Progress(f"replaying {speed}", total=total)
    sink = _OfflineSink(intervals)
    feed = ReplayFeed(
        reader,
        sink,
        speed=speed_x,
        start_ns=start_ns,
        end_ns=end_ns,
        progress=lambda s: progress.update(s.events),
        progress_every=10_000,
    )
    try:
        stats = asyncio.run(feed.run())
    except KeyboardInterrupt:
        stats = feed.stats
    except AlgoTrendyError as exc:
        progress.stop()
        raise _fail("replay", exc) from None
    finally:
        progress.stop()
    sink.bars.flush(stats.last_ts_ns or 0)
    books = {}
    for iid, book in feed.books.items():
        bid, ask = book.best_bid(), book.best_ask()
        books[str(iid)] = {
            "best_bid": None if bid is None else f"{bid[0]} x {bid[1]}",
            "best_ask": None if ask is None else f"{ask[0]} x {ask[1]}",
            "levels": len(book),
        }
    report = stats.to_dict() | {
        "speed": speed,
        "first": _iso(stats.first_ts_ns),
        "last": _iso(stats.last_ts_ns),
        "events_per_s": round(stats.events / stats.elapsed_s, 1) if stats.elapsed_s else 0.0,
        "bars_built": dict(sink.bars_built),
        "late_trades_dropped": sink.bars.stats().late_dropped,
        "books": books
        if json_
        else {k: f"{v['best_bid']} / {v['best_ask']} ({v['levels']} levels)" for k, v in books.items()},
        "last_quotes": {
            k: f"{q.bid_price} x {q.bid_size} / {q.ask_price} x {q.ask_size}"
            for k, q in sink.last_quote.items()
        },
    }
    reader.close()
    _print(report, f"data replay {recording}", json_)


# -- record --------------------------------------------------------------------------------------
@app.command("record")
def record_command(
    venue: Annotated[
        str, typer.Option("--venue", help="ccxt id: binance, binanceusdm, bybit, okx, coinbase, kraken.")
    ],
    symbols: Annotated[
        list[str], typer.Option("--symbol", help="Unified symbol, e.g. BTC/USDT (repeatable).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Recording directory (created, or appended to).")],
    duration_s: Annotated[
        float, typer.Option("--duration-s", help="Stop after this long (0: until Ctrl-C).")
    ] = 0.0,
    book_depth: Annotated[int, typer.Option("--book-depth", help="Book levels per side recorded.")] = 50,
    endpoint: Annotated[
        str, typer.Option("--endpoint", help="Route every venue URL here (a mock exchange, a proxy).")
    ] = "",
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Use the venue's testnet.")] = False,
    max_age_s: Annotated[
        float | None, typer.Option("--max-age-s", help="Retention: keep this many seconds.")
    ] = None,
    max_size_mb: Annotated[
        float | None, typer.Option("--max-size-mb", help="Retention: compressed size cap.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Record a live feed (trades, quotes, book, candles) into a recording."""
    from engine.core.errors import AlgoTrendyError
    from engine.marketdata.feeds.base import FeedHandler, FeedSettings
    from engine.store.recorder import Recorder
    from engine.store.recording import RecordingWriter, RetentionPolicy

    try:
        writer = RecordingWriter(out, retention=RetentionPolicy(max_age_s=max_age_s, max_size_mb=max_size_mb))
    except AlgoTrendyError as exc:
        raise _fail("record", exc) from None
    settings = FeedSettings(
        venue=venue, symbols=tuple(symbols), sandbox=sandbox, base_url_override=endpoint, book_depth=0
    )

    async def run() -> dict[str, Any]:
        from dataclasses import asdict

        recorder = Recorder(writer, book_depth=book_depth)
        feed = FeedHandler(settings, recorder)
        recorder.books = feed.books  # the feed fills it as it loads markets and resyncs
        recorder.start()
        started = time.perf_counter()
        try:
            await feed.start()
            deadline = None if duration_s <= 0 else started + duration_s
            while deadline is None or time.perf_counter() < deadline:
                await asyncio.sleep(
                    0.5 if deadline is None else min(0.5, max(deadline - time.perf_counter(), 0))
                )
                recorder.flush()
        finally:
            await feed.stop()
            await asyncio.get_running_loop().run_in_executor(None, recorder.stop)
        feed_stats = asdict(feed.stats)
        return recorder.stats.to_dict() | {
            "elapsed_s": round(time.perf_counter() - started, 3),
            "feed_messages": feed_stats.get("messages", 0),
            "feed_reconnects": feed_stats.get("connects", 0),
        }

    try:
        report = asyncio.run(run())
    except KeyboardInterrupt:
        report = {"interrupted": True}
    except (AlgoTrendyError, OSError) as exc:
        raise _fail("record", exc) from None
    _print({"recording": str(out), **report}, f"data record -> {out}", json_)
