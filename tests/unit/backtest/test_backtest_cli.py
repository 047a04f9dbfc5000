"""``algotrendy backtest`` / ``algotrendy sweep`` as a user runs them (real subprocesses): the JSON
contract, the files written, and bad input -> exit 2 with a message naming the file and row or
listing the valid strategies/parameters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.backtest import METRIC_KEYS

T0 = 1_700_000_000


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def _bars(path: Path, rows: list[str], header: str = "timestamp,open,high,low,close,volume") -> str:
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)


def _good_rows(n: int = 60) -> list[str]:
    out = []
    for i in range(n):
        price = 100 + (i % 7) - (i % 3)
        out.append(f"{T0 + 60 * i},{price},{price + 1},{price - 1},{price + 0.5},5")
    return out


def test_backtest_json_prints_one_object_with_the_metrics_and_writes_the_reports(tmp_path: Path) -> None:
    data = _bars(tmp_path / "eth-1m.csv", _good_rows())
    out = tmp_path / "out"
    proc = _cli(
        "backtest", "--strategy", "sma_cross", "--params", "fast=2,slow=5", "--data", data,
        "--fees-bps", "5", "--slippage-bps", "2", "--fill", "close", "--cash", "5000", "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert list(metrics) == sorted(METRIC_KEYS)
    assert metrics["starting_cash"] == "5000"
    assert isinstance(metrics["final_equity"], str) and isinstance(metrics["sharpe"], float | None)
    assert metrics["trades"] > 0 and metrics["bars"] == 60
    assert {p.name for p in out.iterdir()} == {"result.json", "report.html", "summary.png"}
    html = (out / "report.html").read_text()
    # Self-contained, offline: plotly.js inlined, no script loaded from anywhere.
    assert "Plotly.newPlot" in html and "<script src=" not in html and len(html) > 1_000_000
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((out / "result.json").read_text())
    assert result["metrics"] == metrics
    assert len(result["equity_curve"]["equity"]) == 60


def test_backtest_accepts_several_files_after_one_data_flag(tmp_path: Path) -> None:
    rows = _good_rows(80)
    a = _bars(tmp_path / "sol-1m-a.csv", rows[:40])
    b = _bars(tmp_path / "sol-1m-b.csv", rows[40:])
    proc = _cli("backtest", "--strategy", "sma_cross", "--params", "fast=2,slow=5", "--data", a, b,
                "--out", str(tmp_path / "o"), "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["bars"] == 80


def test_unknown_strategy_exits_2_listing_the_builtins(tmp_path: Path) -> None:
    data = _bars(tmp_path / "x.csv", _good_rows())
    proc = _cli("backtest", "--strategy", "smacross", "--data", data, "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "unknown strategy 'smacross'" in proc.stderr
    assert "sma_cross" in proc.stderr and "rsi_reversion" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_unknown_parameter_exits_2_listing_the_valid_ones(tmp_path: Path) -> None:
    data = _bars(tmp_path / "x.csv", _good_rows())
    proc = _cli("backtest", "--strategy", "sma_cross", "--params", "fast=3,period=9", "--data", data,
                "--out", str(tmp_path / "o"))  # fmt: skip
    assert proc.returncode == 2
    assert "no parameter 'period'" in proc.stderr and "valid parameters: fast, slow" in proc.stderr


def test_out_of_range_parameter_exits_2_naming_it(tmp_path: Path) -> None:
    data = _bars(tmp_path / "x.csv", _good_rows())
    proc = _cli("backtest", "--strategy", "sma_cross", "--params", "fast=1", "--data", data,
                "--out", str(tmp_path / "o"))  # fmt: skip
    assert proc.returncode == 2
    assert "fast" in proc.stderr and "between 2 and 500" in proc.stderr


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        (["1700000000,1,2,0.5,1.5"], "timestamp,open,high,low,close", "missing column(s) volume"),
        (
            ["1700000000,1,2,0.5,1.5,3", "1700000120,1,2,0.5,1.5,3", "1700000060,1,2,0.5,1.5,3"],
            None,
            "row 3 (line 4)",
        ),
        (
            ["1700000000,1,2,0.5,1.5,3", "1700000060,1,2,0.5,1.5,3", "1700000060,1,2,0.5,1.5,3"],
            None,
            "row 3 (line 4)",
        ),
        (["1700000000,1,2,0.5,1.5,3", "1700000060,1,2,0.5,NaN,3"], None, "row 2 (line 3)"),
    ],
    ids=["missing-column", "unsorted", "duplicate", "nan-price"],
)
def test_bad_bar_file_exits_2_naming_the_file_and_row(
    tmp_path: Path, rows: list[str], header: str | None, expected: str
) -> None:
    path = tmp_path / "bad-1m.csv"
    _bars(path, rows, header or "timestamp,open,high,low,close,volume")
    proc = _cli("backtest", "--strategy", "sma_cross", "--data", str(path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr
    assert str(path) in proc.stderr and expected in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sweep_grid_sorts_by_the_metric_and_reports_throughput(tmp_path: Path) -> None:
    data = _bars(tmp_path / "btc-1m.csv", _good_rows(120))
    proc = _cli("sweep", "--strategy", "sma_cross", "--data", data, "--vary", "fast=2:4,slow=5|8",
                "--sort-by", "total_return", "--workers", "2", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["runs"] == 6 and report["bars"] == 120
    params = sorted((r["params"]["fast"], r["params"]["slow"]) for r in report["rows"])
    assert params == [(2, 5), (2, 8), (3, 5), (3, 8), (4, 5), (4, 8)]
    returns = [r["metrics"]["total_return"] for r in report["rows"]]
    assert returns == sorted(returns, reverse=True)


def test_sweep_unknown_metric_or_parameter_exits_2(tmp_path: Path) -> None:
    data = _bars(tmp_path / "btc-1m.csv", _good_rows(40))
    proc = _cli(
        "sweep", "--strategy", "sma_cross", "--data", data, "--vary", "fast=2:3", "--sort-by", "alpha"
    )
    assert proc.returncode == 2 and "unknown metric 'alpha'" in proc.stderr and "sharpe" in proc.stderr
    proc = _cli("sweep", "--strategy", "sma_cross", "--data", data, "--vary", "speed=2:3")
    assert proc.returncode == 2 and "valid parameters: fast, slow" in proc.stderr


def test_metric_text_when_durations_and_ratios_then_read_as_people_read_them() -> None:
    from ops.backtest_cmd import metric_text

    assert metric_text("max_drawdown_duration", 2_678_100.0) == "30d 23:55:00"
    assert metric_text("max_drawdown_duration", 5_400.0) == "01:30:00"
    assert metric_text("max_drawdown_duration", 0.0) == "00:00:00"
    assert metric_text("max_drawdown_duration_bars", 44_635) == "44635"  # bars, not seconds
    assert metric_text("sharpe", -11.53933363561732) == "-11.5393"
    assert metric_text("final_equity", "62078.38830385") == "62078.38830385"
    assert metric_text("calmar", None) == "-"
