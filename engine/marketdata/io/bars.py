"""Bar files -> columnar NumPy arrays, validated, with errors that point at the offending row.

Formats (picked by :func:`load_bars` from the suffix and the first line):

- **CSV with a header**: columns ``timestamp, open, high, low, close, volume`` in any order and any
  case; the time column may also be called ``date``, ``datetime``, ``time``, ``open_time`` or ``ts``.
  Extra columns are ignored (``Adj Close``, ``trades`` ...); a ``trades``/``trade_count`` /
  ``number_of_trades`` column is kept as ``trade_count``. ``.csv.gz`` is read transparently.
- **Binance klines CSV without a header** (data.binance.vision layout): ``open_time, open, high, low,
  close, volume, close_time, quote_volume, trade_count, taker_buy_base, taker_buy_quote, ignore``.
  Recognised when every field of the first line is a number.
- **Feather / Arrow IPC** (``.feather``, ``.arrow``, ``.ipc``; freqtrade's layout ``date, open, high,
  low, close, volume``) and **Parquet** (``.parquet``) with the same column rules.

Time: a numeric time column is an epoch whose unit is detected from its magnitude (seconds below
1e11, milliseconds below 1e14, microseconds below 1e17, else nanoseconds: 1e11 s is the year 5138
and 1e11 ms is 1973, so the ranges cannot be confused for real market data). A text column is parsed
as ISO-8601 (``2021-12-31 23:01:00``, ``...T...Z``, ``+02:00`` offsets); text that is not ISO is
tried once more with pandas' general parser (``1/4/1999``). Times without an offset are UTC.
The row's timestamp is the bar's **open** time (``ts_open``), as in every format above.

Output units: ``ts_ns`` is ``int64`` Unix nanoseconds; prices and volume are ``float64`` as written in
the file (a file carries no instrument, so it has no tick grid); :func:`to_ticks` converts a column to
exact integer ticks/lots for a given increment and refuses values that are off the grid.

Validation (each failure raises :class:`BarFileError` naming the file and the row, nothing partial is
returned): a required column missing; a value that does not parse; a time that is empty, not after
the previous one (duplicate or unsorted); an open/high/low/close that is NaN, infinite or not positive;
a volume that is NaN, infinite or negative; a high below the low. Rows are numbered from 1 for the
first data row; text files also name the line (the header is line 1).
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from engine.core.errors import ValidationError

__all__ = [
    "BINANCE_KLINE_COLUMNS",
    "BarArrays",
    "BarFileError",
    "OffGridError",
    "bars_from_table",
    "detect_epoch_unit",
    "load_bars",
    "to_ticks",
]

#: Columns of a data.binance.vision klines CSV, which has no header.
BINANCE_KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trade_count",
    "taker_buy_base_volume",
    "taker_buy_quote_volume",
    "ignore",
)

_TIME_NAMES = ("timestamp", "date", "datetime", "time", "open_time", "ts", "ts_open", "ts_event")
_PRICE_NAMES = ("open", "high", "low", "close")
_COUNT_NAMES = ("trade_count", "trades", "number_of_trades", "count")
_FEATHER_SUFFIXES = {".feather", ".arrow", ".ipc"}

_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


class BarFileError(ValidationError):
    """A bar file is unreadable or invalid. ``path``, ``row`` (1-based data row or None) and ``line``."""

    reason = "INVALID_BAR_FILE"

    def __init__(
        self,
        path: Path | str,
        problem: str,
        *,
        row: int | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        where = str(path)
        if row is not None:
            where += f", row {row}" + (f" (line {line})" if line is not None else "")
        if column is not None:
            where += f", column {column!r}"
        super().__init__(where, problem)
        self.path = str(path)
        self.row = row
        self.line = line
        self.column = column


class OffGridError(ValidationError):
    """A value is not on the requested grid; ``index`` is its position in the column."""

    reason = "OFF_GRID"

    def __init__(self, field: str, index: int, problem: str) -> None:
        super().__init__(field, problem)
        self.index = index


@dataclass(frozen=True, slots=True)
class BarArrays:
    """Columnar bars: one row per bar, sorted by strictly increasing ``ts_ns`` (open time, Unix ns).

    ``open``/``high``/``low``/``close``/``volume`` are ``float64`` as written in the file;
    ``trade_count`` is ``int64`` when the file has it, else None. ``interval_ns`` is the most common
    spacing between consecutive bars (0 for fewer than two bars).
    """

    path: str
    ts_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    trade_count: np.ndarray | None
    interval_ns: int

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


def load_bars(path: str | Path) -> BarArrays:
    """Read, validate and return the bars of one file (format per the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise BarFileError(path, "no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in _FEATHER_SUFFIXES:
            from pyarrow import feather

            table = feather.read_table(path)
            return bars_from_table(table, path, header_line=None)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return bars_from_table(pq.read_table(path), path, header_line=None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BarFileError(path, f"unreadable: {exc}") from None
    return _load_csv(path)


def _load_csv(path: Path) -> BarArrays:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix.lower() == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise BarFileError(path, f"unreadable: {exc}") from None
    first = raw.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].strip()
    if not first:
        raise BarFileError(path, "empty file: no header and no rows")
    headerless = all(_is_number(f) for f in first.split(b","))
    read_options = pacsv.ReadOptions(
        column_names=list(BINANCE_KLINE_COLUMNS) if headerless else None,
        block_size=1 << 24,
    )
    if headerless and len(first.split(b",")) != len(BINANCE_KLINE_COLUMNS):
        raise BarFileError(
            path,
            f"no header and {len(first.split(b','))} fields a line: not a Binance klines file "
            f"({len(BINANCE_KLINE_COLUMNS)} fields); add a header timestamp,open,high,low,close,volume",
            row=1,
            line=1,
        )
    # Every column as text first would be slow; let Arrow infer, but never let it guess timestamps from
    # a numeric column (we detect the epoch unit ourselves) and keep strings for anything ambiguous.
    convert = pacsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=True)
    try:
        table = pacsv.read_csv(io.BytesIO(raw), read_options=read_options, convert_options=convert)
    except pa.ArrowInvalid as exc:
        row, line = _csv_error_position(str(exc), headerless)
        raise BarFileError(path, f"malformed CSV: {_first_line(str(exc))}", row=row, line=line) from None
    return bars_from_table(table, path, header_line=None if headerless else 1)


def bars_from_table(table: pa.Table, path: str | Path, *, header_line: int | None) -> BarArrays:
    """Validate an Arrow table of bars (any supported column naming) into :class:`BarArrays`.

    ``header_line`` is 1 for a text file with a header, None for a file without one (text rows then
    start at line 1) or a binary file (no line numbers reported).
    """
    columns = {name.strip().lower(): name for name in table.column_names}
    line_offset = None if header_line is None else header_line
    is_text = header_line is not None or Path(path).suffix.lower() in {".csv", ".gz", ".txt"}
    if is_text and line_offset is None:
        line_offset = 0

    def line_of(row: int) -> int | None:
        return None if line_offset is None else row + line_offset

    time_key = next((n for n in _TIME_NAMES if n in columns), None)
    missing = ([] if time_key else ["timestamp"]) + [n for n in (*_PRICE_NAMES, "volume") if n not in columns]
    if missing:
        raise BarFileError(
            path,
            f"missing column(s) {', '.join(missing)}; found {', '.join(table.column_names) or 'none'} "
            "(need timestamp|date, open, high, low, close, volume; names are case-insensitive)",
        )
    assert time_key is not None
    n = table.num_rows
    if n == 0:
        raise BarFileError(path, "no rows")

    ts = _time_column(table.column(columns[time_key]), path, columns[time_key], line_of)
    values: dict[str, np.ndarray] = {}
    for name in (*_PRICE_NAMES, "volume"):
        values[name] = _float_column(table.column(columns[name]), path, columns[name], line_of)

    # Sorted, no duplicates: report the first row that is not after its predecessor.
    if n > 1:
        step = np.diff(ts)
        bad = np.flatnonzero(step <= 0)
        if bad.size:
            i = int(bad[0]) + 1
            kind = "duplicate timestamp" if step[bad[0]] == 0 else "timestamp out of order"
            raise BarFileError(
                path,
                f"{kind}: {_iso(ts[i])} is not after the previous row's {_iso(ts[i - 1])}",
                row=i + 1,
                line=line_of(i + 1),
                column=columns[time_key],
            )
    for name in _PRICE_NAMES:
        col = values[name]
        bad = np.flatnonzero(~(np.isfinite(col) & (col > 0)))
        if bad.size:
            i = int(bad[0])
            what = "missing" if np.isnan(col[i]) else f"{float(col[i])!r}"
            raise BarFileError(
                path,
                f"{name} price {what}: prices must be finite and positive",
                row=i + 1,
                line=line_of(i + 1),
                column=columns[name],
            )
    vol = values["volume"]
    bad = np.flatnonzero(~(np.isfinite(vol) & (vol >= 0)))
    if bad.size:
        i = int(bad[0])
        what = "missing" if np.isnan(vol[i]) else f"{float(vol[i])!r}"
        raise BarFileError(
            path,
            f"volume {what}: volume must be finite and not negative",
            row=i + 1,
            line=line_of(i + 1),
            column=columns["volume"],
        )
    bad = np.flatnonzero(values["high"] < values["low"])
    if bad.size:
        i = int(bad[0])
        raise BarFileError(
            path,
            f"high {float(values['high'][i])!r} is below low {float(values['low'][i])!r}",
            row=i + 1,
            line=line_of(i + 1),
        )

    count_key = next((c for c in _COUNT_NAMES if c in columns), None)
    trade_count = None
    if count_key is not None:
        counts = _float_column(table.column(columns[count_key]), path, columns[count_key], line_of)
        if np.all(np.isfinite(counts)) and np.all(counts >= 0) and np.all(counts == np.floor(counts)):
            trade_count = counts.astype(np.int64)

    interval = 0
    if n > 1:
        diffs = np.diff(ts)
        uniq, freq = np.unique(diffs, return_counts=True)
        interval = int(uniq[int(np.argmax(freq))])
    return BarArrays(
        path=str(path),
        ts_ns=ts,
        open=values["open"],
        high=values["high"],
        low=values["low"],
        close=values["close"],
        volume=vol,
        trade_count=trade_count,
        interval_ns=interval,
    )


def detect_epoch_unit(magnitude: float) -> str:
    """``s``, ``ms``, ``us`` or ``ns`` for an epoch value of this magnitude (see the module docstring)."""
    m = abs(magnitude)
    if m < 1e11:
        return "s"
    if m < 1e14:
        return "ms"
    if m < 1e17:
        return "us"
    return "ns"


def to_ticks(values: np.ndarray, increment: str | Decimal, *, what: str = "price") -> np.ndarray:
    """Exact ``int64`` multiples of ``increment`` for float values written with that precision.

    A value more than 1e-6 of an increment away from the grid is refused (``ValidationError``): a
    price of 100.05 on a 0.1 grid is a data/instrument mismatch, not something to round silently.
    """
    step = float(Decimal(str(increment)))
    if step <= 0:
        raise ValidationError("increment", f"must be positive, got {increment}")
    scaled = np.asarray(values, dtype=np.float64) / step
    ticks = np.rint(scaled)
    off = np.abs(scaled - ticks) > 1e-6 * np.maximum(1.0, 1e-9 * np.abs(ticks))
    if np.any(off):
        i = int(np.flatnonzero(off)[0])
        raise OffGridError(
            what, i, f"value {float(values[i])!r} at index {i} is not a multiple of {increment}"
        )
    return ticks.astype(np.int64)


# -- columns -------------------------------------------------------------------------------------
def _time_column(col: pa.ChunkedArray, path: str | Path, name: str, line_of) -> np.ndarray:
    null_at = _first_null(col)
    if null_at is not None:
        raise BarFileError(path, "empty time", row=null_at + 1, line=line_of(null_at + 1), column=name)
    kind = col.type
    if pa.types.is_timestamp(kind):
        unit = kind.unit
        arr = col.to_numpy().astype(f"datetime64[{unit}]").astype(np.int64)
        return arr * _NS_PER[unit]
    if pa.types.is_date(kind):
        return col.cast(pa.timestamp("s")).to_numpy().astype("datetime64[s]").astype(np.int64) * _NS_PER["s"]
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        arr = col.to_numpy()
        if arr.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(arr))
            if bad.size:
                i = int(bad[0])
                raise BarFileError(path, "time is not finite", row=i + 1, line=line_of(i + 1), column=name)
        unit = detect_epoch_unit(float(np.max(np.abs(arr))))
        if arr.dtype.kind == "f":
            return np.rint(arr * _NS_PER[unit]).astype(np.int64)
        return arr.astype(np.int64) * _NS_PER[unit]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _parse_time_text(col, path, name, line_of)
    raise BarFileError(path, f"time column has unsupported type {kind}", column=name)


def _parse_time_text(col: pa.ChunkedArray, path: str | Path, name: str, line_of) -> np.ndarray:
    import pandas as pd

    text = pd.Series(col.to_numpy(zero_copy_only=False), dtype=object).str.strip()
    # Epochs quoted as text, or mixed with text: numbers first.
    as_num = pd.to_numeric(text, errors="coerce")
    if as_num.notna().all():
        unit = detect_epoch_unit(float(as_num.abs().max()))
        return np.rint(as_num.to_numpy(dtype=np.float64) * _NS_PER[unit]).astype(np.int64)
    try:
        parsed = pd.to_datetime(text, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if bad.size:
            i = int(bad[0])
            raise BarFileError(
                path, f"time {text.iloc[i]!r} is not a date/time", row=i + 1, line=line_of(i + 1), column=name
            ) from None
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _float_column(col: pa.ChunkedArray, path: str | Path, name: str, line_of) -> np.ndarray:
    kind = col.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return col.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    if pa.types.is_null(kind):
        return np.full(len(col), np.nan)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            pass
        for i, value in enumerate(col.to_pylist()):
            if value is None:
                continue
            try:
                float(value)
            except ValueError:
                raise BarFileError(
                    path, f"{value!r} is not a number", row=i + 1, line=line_of(i + 1), column=name
                ) from None
    raise BarFileError(path, f"column has unsupported type {kind}", column=name)


def _first_null(col: pa.ChunkedArray) -> int | None:
    if col.null_count == 0:
        return None
    mask = col.is_null().to_numpy(zero_copy_only=False)
    return int(np.flatnonzero(mask)[0])


def _is_number(field: bytes) -> bool:
    try:
        float(field.strip().strip(b'"'))
    except ValueError:
        return False
    return True


def _csv_error_position(message: str, headerless: bool) -> tuple[int | None, int | None]:
    """Arrow reports ``Row #N`` (1-based line number in the file) for parse errors."""
    import re

    m = re.search(r"Row #(\d+)", message)
    if not m:
        return None, None
    line = int(m.group(1))
    return (line if headerless else line - 1), line


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else message


def _iso(ts_ns: int) -> str:
    return str(np.datetime64(int(ts_ns), "ns"))
