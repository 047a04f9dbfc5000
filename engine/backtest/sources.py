"""Which backtester reads which files: ``make_backtest`` looks at the data and picks one.

* raw Binance captures (``<ts_ns> <json>`` lines) -> ``L2Backtest`` (depth book, queue positions);
* tardis.dev ``trades`` / ``quotes`` CSV -> ``TickBacktest`` (prints and top of book);
* anything else -> ``Backtest`` (bar files: CSV, Binance klines, feather, parquet; or LMDB recordings).

A mix of kinds in one run is refused (they replay on different books).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.backtest.engine import Backtest
from engine.backtest.l2 import L2Backtest, is_capture
from engine.backtest.ticks import TICK_FORMATS, TickBacktest
from engine.core.errors import ValidationError
from engine.marketdata.io.importers import detect_format

__all__ = ["data_kind", "make_backtest"]


def data_kind(path: str | Path) -> str:
    """``capture``, ``ticks`` or ``bars`` for one ``--data`` argument."""
    p = Path(path)
    if p.is_dir() or not p.is_file():
        return "bars"  # a recording directory, or a missing file (the bar loader names it)
    if is_capture(p):
        return "capture"
    try:
        return "ticks" if detect_format(p) in TICK_FORMATS else "bars"
    except ValidationError:
        return "bars"


def make_backtest(
    strategy: Any,
    files: Sequence[str],
    config: Any = None,
    *,
    params: Mapping[str, Any] | None = None,
) -> Backtest:
    """The backtester for ``files`` (see the module docstring)."""
    kinds = {data_kind(f) for f in files}
    if len(kinds) > 1:
        raise ValidationError("data", f"one kind of data per run; got {', '.join(sorted(kinds))} files")
    kind = kinds.pop() if kinds else "bars"
    if kind == "capture":
        return L2Backtest(strategy, files, config, params=params)
    if kind == "ticks":
        return TickBacktest(strategy, files, config, params=params)
    return Backtest(strategy, list(files), config, params=params)
