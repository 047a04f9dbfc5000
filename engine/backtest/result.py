"""What a backtest produces: orders, fills, round-trip trades, the equity curve and the metrics.

Money is exact where it is money: the starting cash, final equity, net PnL, fees, every fill's price,
quantity and commission and every trade's PnL are ``Decimal`` values from the engine's exact
fixed-point arithmetic, written to JSON as decimal strings. Floats are used only for analytics: the
per-bar equity curve (marked at each close, for returns, drawdowns and charts), and the ratios
(``total_return``, ``cagr``, ``volatility``, ``sharpe``, ``sortino``, ``max_drawdown``, ``calmar``,
``win_rate``, ``profit_factor``, ``exposure``, ``turnover``), which are JSON numbers (or ``null`` when
undefined, e.g. a profit factor without a losing trade).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BacktestResult", "FillRecord", "TradeRecord", "decimal_str"]


def decimal_str(value: Decimal) -> str:
    """Canonical decimal string: no exponent, no trailing zeros (``0E-11`` -> ``0``)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


RESULT_VERSION = 1


#: The records are plain slots dataclasses, not frozen ones: a run builds one per fill and one per
#: round trip, and a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
#: (~5x the cost). Nothing in the engine changes a record once built; treat them as read-only.
@dataclass(slots=True)
class FillRecord:
    ts_ns: int
    bar_index: int
    instrument_id: str
    client_order_id: str
    side: str  # BUY / SELL
    price: Decimal
    quantity: Decimal
    commission: Decimal
    liquidity: str  # MAKER / TAKER

    def to_json(self) -> dict[str, Any]:
        return {
            "ts_ns": self.ts_ns,
            "bar_index": self.bar_index,
            "instrument_id": self.instrument_id,
            "client_order_id": self.client_order_id,
            "side": self.side,
            "price": decimal_str(self.price),
            "quantity": decimal_str(self.quantity),
            "commission": decimal_str(self.commission),
            "liquidity": self.liquidity,
        }


@dataclass(slots=True)
class TradeRecord:
    """A round trip: from flat (or a flip) into a position and back out."""

    instrument_id: str
    direction: str  # LONG / SHORT
    entry_ts_ns: int
    exit_ts_ns: int
    entry_bar: int
    exit_bar: int
    quantity: Decimal
    entry_price: Decimal  # quantity-weighted average
    exit_price: Decimal
    pnl: Decimal  # net of the fees of its fills
    fees: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "instrument_id": self.instrument_id,
            "direction": self.direction,
            "entry_ts_ns": self.entry_ts_ns,
            "exit_ts_ns": self.exit_ts_ns,
            "entry_bar": self.entry_bar,
            "exit_bar": self.exit_bar,
            "quantity": decimal_str(self.quantity),
            "entry_price": decimal_str(self.entry_price),
            "exit_price": decimal_str(self.exit_price),
            "pnl": decimal_str(self.pnl),
            "fees": decimal_str(self.fees),
        }


@dataclass(slots=True)
class BacktestResult:
    """Everything a run produced (``to_json`` for the file / the API, ``metrics`` for ``--json``)."""

    strategy: str
    params: dict[str, Any]
    instruments: list[str]
    data: list[str]
    settings: dict[str, Any]
    currency: str
    starting_cash: Decimal
    final_equity: Decimal
    fees: Decimal
    metrics: dict[str, Any]
    bars: int
    ts_close_ns: np.ndarray
    equity: np.ndarray
    position_value: np.ndarray
    #: The fill records (read them as ``fills``): a list, or a function that builds it on the first
    #: read of ``fills`` (the backtester's way, as for ``order_records``: three ``Decimal`` and two
    #: string fields per fill that a sweep or a metrics-only caller never reads).
    fill_records: list[FillRecord] | Callable[[], list[FillRecord]]
    trades: list[TradeRecord]
    #: The order records (read them as ``orders``): a list, or a function that builds it on the
    #: first read of ``orders`` (the backtester hands its OMS's orders over this way: a record per
    #: order costs ~4 us of string formatting, which a sweep or a metrics-only caller never needs).
    order_records: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]]
    elapsed_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def orders(self) -> list[dict[str, Any]]:
        """Every order of the run, in creation order (built on the first read, then kept)."""
        records = self.order_records
        if callable(records):
            records = self.order_records = records()
        return records

    @property
    def fills(self) -> list[FillRecord]:
        """Every fill of the run, in order (built on the first read, then kept)."""
        records = self.fill_records
        if callable(records):
            records = self.fill_records = records()
        return records

    def summary(self) -> dict[str, Any]:
        """The metrics object (``algotrendy backtest --json`` prints exactly this)."""
        return dict(self.metrics)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RESULT_VERSION,
            "strategy": self.strategy,
            "params": self.params,
            "instruments": self.instruments,
            "data": self.data,
            "settings": self.settings,
            "metrics": self.metrics,
            "orders": self.orders,
            "fills": [f.to_json() for f in self.fills],
            "trades": [t.to_json() for t in self.trades],
            "equity_curve": {
                "ts_ns": self.ts_close_ns.tolist(),
                "equity": [float(x) for x in self.equity.tolist()],
            },
        }

    def write_json(self, path: str | Path) -> Path:
        """Write ``to_json()``; the same inputs give byte-identical files (no timestamps, sorted keys)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")) + "\n")
        return path
