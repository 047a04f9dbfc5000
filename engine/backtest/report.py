"""Reports of a backtest: a self-contained HTML page (plotly, works offline) and a PNG summary
(matplotlib, Agg backend, no display needed).

The HTML embeds plotly.js (no CDN), and shows the equity curve with the trade entries and exits as
markers, the drawdown under it, and the metrics table. Long runs are thinned for the charts to at
most ``MAX_POINTS`` points per series (every bar's value goes into a bucket; each bucket keeps its
first, lowest, highest and last value, so peaks and troughs stay visible); the JSON result keeps
every bar. Element ids are fixed, so the same result gives the same page.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from engine.backtest.metrics import drawdown_series
from engine.backtest.result import BacktestResult

__all__ = ["MAX_POINTS", "write_html", "write_png", "write_reports"]

MAX_POINTS = 4000


def _thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ~``max_points`` points keeping each bucket's first, min, max and last."""
    n = x.shape[0]
    if n <= max_points:
        return x, y
    buckets = max_points // 4
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep: list[int] = []
    for a, b in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        if b <= a:
            continue
        seg = y[a:b]
        keep.extend(sorted({a, a + int(np.argmin(seg)), a + int(np.argmax(seg)), b - 1}))
    idx = np.array(keep, dtype=np.int64)
    return x[idx], y[idx]


def _times(ts_ns: np.ndarray) -> np.ndarray:
    return ts_ns.astype("datetime64[ns]")


def _metric_rows(result: BacktestResult) -> list[tuple[str, str]]:
    rows = []
    for key, value in result.metrics.items():
        if isinstance(value, float):
            text = f"{value:.6g}"
        elif value is None:
            text = "-"
        else:
            text = str(value)
        rows.append((key, text))
    return rows


def write_html(result: BacktestResult, path: str | Path) -> Path:
    """The interactive report (equity + trade markers, drawdown, metrics), plotly.js inlined."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    path = Path(path)
    times = _times(result.ts_close_ns)
    eq_x, eq_y = _thin(times, result.equity)
    dd = -drawdown_series(result.equity) * 100.0
    dd_x, dd_y = _thin(times, dd)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04,
        subplot_titles=("Equity", "Drawdown (%)"),
    )  # fmt: skip
    fig.add_trace(go.Scatter(x=eq_x, y=eq_y, name="equity", line={"width": 1.2}), row=1, col=1)
    if result.trades and result.equity.shape[0]:
        n = result.equity.shape[0]
        entries = np.array([min(t.entry_bar, n - 1) for t in result.trades], dtype=np.int64)
        exits = np.array([min(t.exit_bar, n - 1) for t in result.trades], dtype=np.int64)
        hover_in = [f"{t.direction} {t.quantity} @ {t.entry_price:.8g}" for t in result.trades]
        hover_out = [f"exit @ {t.exit_price:.8g} pnl {t.pnl:.2f}" for t in result.trades]
        fig.add_trace(
            go.Scatter(
                x=times[entries], y=result.equity[entries], mode="markers", name="entry",
                marker={"symbol": "triangle-up", "color": "#2ca02c", "size": 7}, text=hover_in,
            ),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=times[exits], y=result.equity[exits], mode="markers", name="exit",
                marker={"symbol": "triangle-down", "color": "#d62728", "size": 7}, text=hover_out,
            ),
            row=1, col=1,
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=dd_x, y=dd_y, name="drawdown", fill="tozeroy", line={"width": 0.8, "color": "#d62728"}),
        row=2, col=1,
    )  # fmt: skip
    title = f"{result.strategy} {result.params} on {', '.join(result.instruments)}"
    fig.update_layout(title=title, height=720, template="plotly_white", hovermode="x unified")
    chart = fig.to_html(include_plotlyjs=True, full_html=False, div_id="algotrendy-backtest")
    rows = "\n".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in _metric_rows(result)
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px}}table{{border-collapse:collapse}}
td{{padding:2px 12px;border-bottom:1px solid #ddd;font-variant-numeric:tabular-nums}}</style></head>
<body><h2>AlgoTrendy backtest: {html.escape(title)}</h2>
<p>Data: {html.escape(", ".join(result.data))}<br>Settings: {html.escape(str(result.settings))}</p>
{chart}
<h3>Metrics</h3><table>{rows}</table>
</body></html>
"""
    path.write_text(page)
    return path


def write_png(result: BacktestResult, path: str | Path) -> Path:
    """A one-page summary image: equity with trade markers, drawdown, key metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    times = _times(result.ts_close_ns)
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}, constrained_layout=True
    )
    x, y = _thin(times, result.equity)
    ax1.plot(x, y, lw=1.0, color="#1f77b4", label="equity")
    if result.trades and result.equity.shape[0]:
        n = result.equity.shape[0]
        entries = np.array([min(t.entry_bar, n - 1) for t in result.trades], dtype=np.int64)
        exits = np.array([min(t.exit_bar, n - 1) for t in result.trades], dtype=np.int64)
        ax1.scatter(times[entries], result.equity[entries], marker="^", s=12, color="#2ca02c", label="entry")
        ax1.scatter(times[exits], result.equity[exits], marker="v", s=12, color="#d62728", label="exit")
    ax1.set_ylabel(f"equity ({result.currency})")
    ax1.legend(loc="upper left", fontsize=8)
    ax1.grid(alpha=0.3)
    m = result.metrics
    lines = [
        f"total return {_pct(m.get('total_return'))}   CAGR {_pct(m.get('cagr'))}   "
        f"max DD {_pct(m.get('max_drawdown'))}",
        f"Sharpe {_num(m.get('sharpe'))}   Sortino {_num(m.get('sortino'))}   "
        f"trades {m.get('trades')}   win rate {_pct(m.get('win_rate'))}",
        f"final equity {m.get('final_equity')} {result.currency}",
    ]
    ax1.set_title(f"{result.strategy} {result.params}\n" + "\n".join(lines), fontsize=9, loc="left")
    dx, dy = _thin(times, -drawdown_series(result.equity) * 100.0)
    ax2.fill_between(dx, dy, 0, color="#d62728", alpha=0.4, lw=0)
    ax2.set_ylabel("drawdown (%)")
    ax2.grid(alpha=0.3)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def write_reports(result: BacktestResult, out_dir: str | Path) -> dict[str, Path]:
    """``result.json``, ``report.html`` and ``summary.png`` in ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "json": result.write_json(out / "result.json"),
        "html": write_html(result, out / "report.html"),
        "png": write_png(result, out / "summary.png"),
    }
