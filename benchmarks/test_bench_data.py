"""Data benchmarks: bars from trades (trades/s) and recordings (write and read rows/s).

Inputs are real when ``../shared/data`` is present (the tardis day of Binance USDⓈ-M BTCUSDT
trades, 137,988 trades; the Binance spot BTCUSDT capture for the recording mix of trades, quotes
and book deltas), else synthetic trades of the same shape.

- **Bars**: ``BarAggregator`` (exact integer OHLCV, exact VWAP, trade count; 1-minute bars) fed
  ``TradeTick`` objects one by one, as the engine does. Peer in the same run: pandas
  ``resample("1min").ohlc()`` + volume sum + VWAP on float columns of the same trades — vectorised
  over the whole day at once (so not a streaming peer: an upper bound for batch float code).
- **Recording write**: ``RecordingWriter.append`` for every event (codec encode, zstd per 4096-record
  block, one LMDB commit per block); **read**: ``RecordingReader.iter_events`` (decompress + decode).
  Peer in the same run: the same events as orjson lines compressed by zstd into one file (write),
  and decompressed + parsed back to dicts (read) — the cost of a plain compressed log without exact
  types or random access.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_data.py --benchmark-only
--benchmark-json=benchmarks/results/data.json``. ``extra_info`` holds ``rows_per_sec``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import zstandard

from engine.core.enums import Side
from engine.core.events import Event, TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import InstrumentId, TradeId
from engine.marketdata.bars import BarAggregator
from engine.marketdata.io.importers import import_binance_capture, import_file
from engine.store.recording import RecordingReader, RecordingWriter
from tests.conftest import shared_data_path

MINUTE = 60_000_000_000


def _synthetic_trades(n: int) -> list[TradeTick]:
    rng = np.random.default_rng(7)
    ts = 1_582_329_600_000_000_000 + np.cumsum(rng.integers(1, 1_200_000_000, n))
    ticks = 968_200 + np.cumsum(rng.integers(-3, 4, n))
    lots = rng.integers(1, 2_000, n)
    iid = InstrumentId("BINANCE_USDM:BTCUSDT")
    return [
        TradeTick(
            ts_event=int(t),
            ts_init=int(t) + 300_000,
            instrument_id=iid,
            price=Price.from_raw(int(p), 2),
            size=Quantity.from_raw(int(q), 3),
            aggressor_side=Side.BUY if i % 2 else Side.SELL,
            trade_id=TradeId(str(i)),
        )
        for i, (t, p, q) in enumerate(zip(ts.tolist(), ticks.tolist(), lots.tolist(), strict=True))
    ]


@pytest.fixture(scope="module")
def trades() -> list[TradeTick]:
    path = shared_data_path() / "trades" / "tardis_trades.csv.gz"
    if path.is_file():
        return [t for t in import_file(path) if isinstance(t, TradeTick)]
    return _synthetic_trades(137_988)


@pytest.fixture(scope="module")
def capture_events() -> tuple[Any, list[Event]]:
    root = shared_data_path() / "binance-l2" / "spot"
    files = [root / "btcusdt_20240808.gz", root / "btcusdt_20240809.gz"]
    if not all(f.is_file() for f in files):
        trades = _synthetic_trades(100_000)
        from engine.marketdata.io.importers import make_instrument

        return make_instrument("BINANCE_USDM", "BTCUSDT", price_places=2, size_places=3), list(trades)
    items = list(import_binance_capture(files))
    return items[0], items[1:]


def _rate(benchmark: Any, rows: int, **extra: Any) -> None:
    median = benchmark.stats.stats.median
    benchmark.extra_info["rows"] = rows
    benchmark.extra_info["rows_per_sec"] = round(rows / median)
    benchmark.extra_info["ns_per_row"] = round(median / rows * 1e9, 1)
    benchmark.extra_info.update(extra)


# -- bars --------------------------------------------------------------------------------------------
@pytest.mark.benchmark(group="bars from trades (1m, one tardis day)")
def test_bench_bars_aggregator(benchmark: Any, trades: list[TradeTick]) -> None:
    out: list[Any] = []

    def run() -> None:
        out.clear()
        agg = BarAggregator(trades[0].instrument_id, MINUTE, out.append, price_precision=2, size_precision=3)
        on_trade = agg.on_trade
        for t in trades:
            on_trade(t)
        agg.flush(0)

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    _rate(benchmark, len(trades), bars=len(out), exact=True)


@pytest.mark.benchmark(group="bars from trades (1m, one tardis day)")
def test_bench_bars_pandas_peer(benchmark: Any, trades: list[TradeTick]) -> None:
    import pandas as pd

    ts = pd.to_datetime(np.array([t.ts_event for t in trades], dtype=np.int64), unit="ns")
    price = np.array([t.price.raw for t in trades], dtype=np.float64) / 100
    size = np.array([t.size.raw for t in trades], dtype=np.float64) / 1000
    frame = pd.DataFrame({"price": price, "size": size, "notional": price * size}, index=ts)
    out: list[Any] = []

    def run() -> None:
        grouped = frame.resample("1min")
        ohlc = grouped["price"].ohlc()
        sums = grouped[["size", "notional"]].sum()
        count = grouped["price"].count()
        bars = ohlc.assign(volume=sums["size"], vwap=sums["notional"] / sums["size"], trades=count)
        out[:] = [bars[count > 0]]

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    _rate(benchmark, len(trades), bars=len(out[0]), exact=False, note="vectorised float batch; not streaming")


# -- recordings --------------------------------------------------------------------------------------
@pytest.mark.benchmark(group="recording write (real capture mix)")
def test_bench_recording_write(benchmark: Any, capture_events: tuple[Any, list[Event]]) -> None:
    instrument, events = capture_events
    roots: list[Path] = []
    sizes: list[int] = []

    def run() -> None:
        root = Path(tempfile.mkdtemp(prefix="bench-rec-"))
        roots.append(root)
        writer = RecordingWriter(root / "rec")
        writer.add_instrument(instrument)
        append = writer.append
        for e in events:
            append(e)
        writer.close()
        sizes.append(RecordingReader(root / "rec").info().compressed_bytes)

    try:
        benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    finally:
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
    _rate(benchmark, len(events), compressed_bytes=sizes[-1])


@pytest.mark.benchmark(group="recording read (real capture mix)")
def test_bench_recording_read(benchmark: Any, capture_events: tuple[Any, list[Event]]) -> None:
    instrument, events = capture_events
    root = Path(tempfile.mkdtemp(prefix="bench-rec-"))
    writer = RecordingWriter(root / "rec")
    writer.add_instrument(instrument)
    for e in events:
        writer.append(e)
    writer.close()
    reader = RecordingReader(root / "rec")
    counted: list[int] = []

    def run() -> None:
        n = 0
        for _ in reader.iter_events():
            n += 1
        counted.append(n)

    try:
        benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    finally:
        reader.close()
        shutil.rmtree(root, ignore_errors=True)
    assert counted[-1] == len(events)
    _rate(benchmark, len(events))


def _as_dict(e: Event) -> dict[str, Any]:
    return {k: str(getattr(e, k)) for k in e.__slots__}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def plain_dicts(capture_events: tuple[Any, list[Event]]) -> list[dict[str, Any]]:
    return [_as_dict(e) for e in capture_events[1]]


@pytest.mark.benchmark(group="recording write (real capture mix)")
def test_bench_recording_write_peer_orjson_zstd(benchmark: Any, plain_dicts: list[dict[str, Any]]) -> None:
    """Peer: orjson lines of plain dicts (strings), zstd-compressed in 4096-line frames, one file."""
    out: list[int] = []

    def run() -> None:
        compressor = zstandard.ZstdCompressor(level=3)
        root = Path(tempfile.mkdtemp(prefix="bench-peer-"))
        try:
            with (root / "events.zst").open("wb") as f:
                for i in range(0, len(plain_dicts), 4096):
                    f.write(
                        compressor.compress(b"\n".join(orjson.dumps(d) for d in plain_dicts[i : i + 4096]))
                    )
            out.append((root / "events.zst").stat().st_size)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    _rate(benchmark, len(plain_dicts), compressed_bytes=out[-1], note="plain dicts, no exact types")


@pytest.mark.benchmark(group="recording read (real capture mix)")
def test_bench_recording_read_peer_orjson_zstd(benchmark: Any, plain_dicts: list[dict[str, Any]]) -> None:
    compressor = zstandard.ZstdCompressor(level=3)
    frames = [
        compressor.compress(b"\n".join(orjson.dumps(d) for d in plain_dicts[i : i + 4096]))
        for i in range(0, len(plain_dicts), 4096)
    ]
    counted: list[int] = []

    def run() -> None:
        decompress = zstandard.ZstdDecompressor().decompress
        n = 0
        for frame in frames:
            for line in decompress(frame).split(b"\n"):
                orjson.loads(line)
                n += 1
        counted.append(n)

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert counted[-1] == len(plain_dicts)
    _rate(benchmark, len(plain_dicts), note="dicts of strings, no exact types")
