"""Bar files -> exact integer bars on an instrument, ready for the replay loop.

Reading and validating the files is the marketdata loader's job (``engine.marketdata.io.load_bars``:
CSV with ISO or epoch s/ms/us/ns times, a ``date`` column, Binance klines, feather, parquet; errors
name the file and row). This module adds what a backtest needs on top:

* **one instrument per symbol**: the symbol is the file name up to its first ``-`` (upper-cased), so
  ``ADABTC-1m-2021-11-27.csv`` and ``ADABTC-1m-2021-11-28.csv`` are one instrument ``BT:ADABTC`` whose
  bars are the two files in time order (files that overlap in time are an error naming both);
* **exact prices**: the tick size is the coarsest power of ten that every open/high/low/close of the
  symbol sits on (``46319.0`` -> 1, ``0.00003512`` -> 0.00000001), or the one given; prices become
  ``int64`` ticks (``engine.marketdata.io.to_ticks``: off-grid values are refused, never rounded);
* **timestamps**: the files give each bar's open time; a bar closes at ``ts_open + interval`` (the
  file's most common spacing), and that close time is when the strategy sees it.

Several symbols are merged into one time-ordered stream (ties keep the order the files were given).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from engine.core.enums import InstrumentKind
from engine.core.errors import ValidationError
from engine.core.fixed import Price, Quantity
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.marketdata.io import BarArrays, BarFileError, load_bars, to_ticks

__all__ = [
    "BACKTEST_VENUE",
    "BarSeries",
    "BarStream",
    "infer_tick_size",
    "load_bar_stream",
    "make_instrument",
]

BACKTEST_VENUE = "BT"
_MAX_DECIMALS = 12


@dataclass(frozen=True, slots=True)
class BarSeries:
    """One instrument's bars: exact ticks for prices, float volume (analytics only)."""

    instrument: Instrument
    paths: tuple[str, ...]
    ts_open: np.ndarray  # int64 ns
    ts_close: np.ndarray  # int64 ns
    open: np.ndarray  # int64 ticks
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # float64
    interval_ns: int

    def __len__(self) -> int:
        return int(self.ts_open.shape[0])

    @property
    def price_step(self) -> int:
        """Raw units of one tick at ``price_scale`` (tick 0.5 at precision 1: step 5, scale 10)."""
        return self.instrument.price_increment.raw

    @property
    def price_scale(self) -> float:
        return 10.0**self.instrument.price_precision

    def as_float(self, ticks: np.ndarray) -> np.ndarray:
        """Ticks as float64 prices: ``raw / 10**precision``, the float a decimal parser gives for
        the same text (so strategies see the same numbers here and live)."""
        return (ticks * self.price_step) / self.price_scale

    def close_float(self) -> np.ndarray:
        """Close prices as float64 (analytics, reports, reference computations)."""
        return self.as_float(self.close)


@dataclass(frozen=True, slots=True)
class BarStream:
    """Every series merged into one replay order: ``series_of[k]``/``row_of[k]`` is the k-th bar."""

    series: tuple[BarSeries, ...]
    series_of: np.ndarray  # int32
    row_of: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.row_of.shape[0])


def infer_tick_size(arrays: Sequence[BarArrays]) -> Decimal:
    """The coarsest ``10**-k`` (k = 0..12) on which every price of the files lies."""
    for k in range(_MAX_DECIMALS + 1):
        step = Decimal(1).scaleb(-k)
        try:
            for a in arrays:
                for col in (a.open, a.high, a.low, a.close):
                    to_ticks(col, step)
        except ValidationError:
            continue
        return step
    raise BarFileError(arrays[0].path, f"prices have more than {_MAX_DECIMALS} decimal places")


#: Auto lot size: tick x lot = 10**-NOTIONAL_DECIMALS quote (lots of at most 8 decimals). With BTC
#: at a 0.001 tick that is a 0.00000001 lot; with ETH/BTC at 0.00000001, a 0.001 lot. Keeping every
#: instrument's notional unit this coarse lets one risk engine (int64 notional units) hold them all.
NOTIONAL_DECIMALS = 11


def auto_size_increment(tick_size: Decimal) -> str:
    """The lot size for ``tick_size`` (see ``NOTIONAL_DECIMALS``)."""
    price_places = max(-tick_size.normalize().as_tuple().exponent, 0)  # type: ignore[operator]
    places = min(max(NOTIONAL_DECIMALS - price_places, 0), 8)
    return format(Decimal(1).scaleb(-places), "f") if places else "1"


def make_instrument(
    symbol: str,
    tick_size: Decimal,
    *,
    size_increment: str | None = None,
    quote: str = "USD",
    maker_fee: Decimal = Decimal(0),
    taker_fee: Decimal = Decimal(0),
) -> Instrument:
    """A spot instrument ``BT:<symbol>`` quoted in ``quote`` (cash is held in it); the lot size is
    ``size_increment`` or, when None, ``auto_size_increment(tick_size)``."""
    if size_increment is None:
        size_increment = auto_size_increment(tick_size)
    return Instrument(
        id=InstrumentId.of(BACKTEST_VENUE, symbol),
        kind=InstrumentKind.SPOT,
        # An asset code is alphanumeric (ETH_BTC -> ETHBTC).
        base="".join(c for c in symbol if c.isalnum())[:16] or "ASSET",
        quote=quote,
        settlement=quote,
        price_increment=Price(str(tick_size)),
        size_increment=Quantity(size_increment),
        min_quantity=Quantity(size_increment),
        maker_fee=maker_fee,
        taker_fee=taker_fee,
    )


def symbol_of(path: str | Path) -> str:
    """``btc-perp-20211231_1m.csv`` -> ``BTC``; ``ETH_BTC-5m.feather`` -> ``ETH_BTC``."""
    name = Path(path).name
    for suffix in (".gz", ".csv", ".feather", ".arrow", ".ipc", ".parquet", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    symbol = name.split("-", 1)[0].upper()
    cleaned = "".join(c if c.isalnum() or c in "._/" else "_" for c in symbol)[:64]
    return cleaned or "BARS"


def _series(
    symbol: str,
    arrays: list[BarArrays],
    *,
    tick_size: Decimal | None,
    size_increment: str | None,
    quote: str,
    maker_fee: Decimal,
    taker_fee: Decimal,
) -> BarSeries:
    arrays.sort(key=lambda a: int(a.ts_ns[0]))
    for prev, cur in itertools.pairwise(arrays):
        if int(cur.ts_ns[0]) <= int(prev.ts_ns[-1]):
            raise BarFileError(cur.path, f"overlaps {prev.path} in time (both are symbol {symbol})", row=1)
    step = tick_size if tick_size is not None else infer_tick_size(arrays)
    instrument = make_instrument(
        symbol, step, size_increment=size_increment, quote=quote, maker_fee=maker_fee, taker_fee=taker_fee
    )
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("open", "high", "low", "close")}
    for a in arrays:
        for name, chunks in cols.items():
            try:
                chunks.append(to_ticks(getattr(a, name), step))
            except ValidationError as exc:
                row = _row_from_index(exc.message)
                raise BarFileError(a.path, f"{name}: {exc.message}", row=row, column=name) from None
    ts_open = np.concatenate([a.ts_ns for a in arrays]).astype(np.int64)
    intervals = [a.interval_ns for a in arrays if a.interval_ns > 0]
    interval = min(intervals) if intervals else 60_000_000_000
    return BarSeries(
        instrument=instrument,
        paths=tuple(a.path for a in arrays),
        ts_open=ts_open,
        ts_close=ts_open + interval,
        open=np.concatenate(cols["open"]),
        high=np.concatenate(cols["high"]),
        low=np.concatenate(cols["low"]),
        close=np.concatenate(cols["close"]),
        volume=np.concatenate([a.volume for a in arrays]).astype(np.float64),
        interval_ns=interval,
    )


def _row_from_index(message: str) -> int | None:
    marker = "at index "
    at = message.find(marker)
    if at < 0:
        return None
    digits = "".join(c for c in message[at + len(marker) :].split(" ", 1)[0] if c.isdigit())
    return int(digits) + 1 if digits else None


def _recording_series(path: Path, *, maker_fee: Decimal, taker_fee: Decimal) -> list[BarSeries]:
    """The ``Bar`` events of an LMDB market-data recording (``algotrendy data record``), one series per
    instrument on the recording's own instrument grid (exact: no tick inference)."""
    import dataclasses

    from engine.core.errors import StorageError
    from engine.store.recording import RecordingReader

    try:
        reader = RecordingReader(path)
    except StorageError as exc:
        raise BarFileError(path, str(exc)) from None
    with reader:
        instruments = reader.instruments()
        rows: dict[InstrumentId, list[tuple[int, int, int, int, int, int, float]]] = {}
        for bar in reader.iter_events(kinds=["bars"]):
            inst = instruments.get(bar.instrument_id)
            if inst is None:
                raise BarFileError(path, f"bar of unknown instrument {bar.instrument_id}")
            p2t = inst.price_to_ticks
            rows.setdefault(bar.instrument_id, []).append(
                (bar.ts_open, bar.ts_event, p2t(bar.open), p2t(bar.high), p2t(bar.low), p2t(bar.close),
                 float(bar.volume.as_decimal()))
            )  # fmt: skip
    if not rows:
        raise BarFileError(path, "the recording holds no bars")
    out = []
    for iid, items in rows.items():
        arr = np.array([r[:6] for r in items], dtype=np.int64)
        bad = np.flatnonzero(np.diff(arr[:, 0]) <= 0)
        if bad.size:
            raise BarFileError(
                path, f"{iid}: bar times not increasing (duplicate or unsorted)", row=int(bad[0]) + 2
            )
        intervals = arr[:, 1] - arr[:, 0]
        out.append(
            BarSeries(
                instrument=dataclasses.replace(instruments[iid], maker_fee=maker_fee, taker_fee=taker_fee),
                paths=(str(path),),
                ts_open=arr[:, 0].copy(),
                ts_close=arr[:, 1].copy(),
                open=arr[:, 2].copy(),
                high=arr[:, 3].copy(),
                low=arr[:, 4].copy(),
                close=arr[:, 5].copy(),
                volume=np.array([r[6] for r in items]),
                interval_ns=int(np.median(intervals)) if intervals.size else 0,
            )
        )
    return out


def load_bar_stream(
    paths: Sequence[str | Path],
    *,
    tick_size: str | None = None,
    size_increment: str | None = None,
    quote: str = "USD",
    maker_fee: Decimal = Decimal(0),
    taker_fee: Decimal = Decimal(0),
) -> BarStream:
    """Load, validate and merge bar files (see the module docstring)."""
    if not paths:
        raise ValidationError("data", "give at least one bar file")
    by_symbol: dict[str, list[BarArrays]] = {}
    recorded: list[BarSeries] = []
    for path in paths:
        if Path(path).is_dir():
            recorded.extend(_recording_series(Path(path), maker_fee=maker_fee, taker_fee=taker_fee))
        else:
            by_symbol.setdefault(symbol_of(path), []).append(load_bars(path))
    step = Decimal(tick_size) if tick_size is not None else None
    series = tuple(recorded) + tuple(
        _series(
            s,
            arrays,
            tick_size=step,
            size_increment=size_increment,
            quote=quote,
            maker_fee=maker_fee,
            taker_fee=taker_fee,
        )
        for s, arrays in by_symbol.items()
    )
    if len(series) == 1:
        n = len(series[0])
        return BarStream(series, np.zeros(n, dtype=np.int32), np.arange(n, dtype=np.int64))
    ts = np.concatenate([s.ts_close for s in series])
    which = np.concatenate([np.full(len(s), i, dtype=np.int32) for i, s in enumerate(series)])
    rows = np.concatenate([np.arange(len(s), dtype=np.int64) for s in series])
    order = np.argsort(ts, kind="stable")
    return BarStream(series, which[order], rows[order])
