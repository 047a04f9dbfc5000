"""``algotrendy strategies``: lists the built-ins with their parameter ranges, describes one
strategy (built-in or file), and exits 2 listing the built-ins for an unknown name."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ops.cli import app


def test_strategies_when_listed_as_json_then_every_builtin_with_ranges() -> None:
    result = CliRunner().invoke(app, ["strategies", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert sorted(listed) == [
        "bollinger_reversion",
        "bollinger_squeeze",
        "donchian_breakout",
        "ema_cross",
        "macd_cross",
        "mfi_reversion",
        "momentum",
        "rsi_reversion",
        "sma_cross",
        "vwap_reversion",
    ]
    assert listed["sma_cross"]["params"]["fast"] == {
        "type": "int",
        "default": 10,
        "low": 2,
        "high": 500,
        "doc": "fast SMA period in bars",
    }


def test_strategies_when_file_given_then_described(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(
        "from engine.strategy import Strategy, FloatParam\n\n"
        "class Mine(Strategy):\n"
        '    """Buys dips."""\n\n'
        "    depth = FloatParam(1.5, low=0.5, high=3.0)\n"
    )
    result = CliRunner().invoke(app, ["strategies", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "name": "Mine",
        "interface_version": 1,
        "doc": "Buys dips.",
        "params": {"depth": {"type": "float", "default": 1.5, "low": 0.5, "high": 3.0}},
    }


def test_strategies_when_unknown_then_exit_2_listing_builtins() -> None:
    result = CliRunner().invoke(app, ["strategies", "sma_crossover"])
    assert result.exit_code == 2
    assert "unknown strategy 'sma_crossover'; built-in strategies: bollinger_reversion" in result.stderr


def test_strategies_table_when_piped_then_wide_rows_and_plain_words() -> None:
    # No $COLUMNS and not a terminal: the table gets the wide line every other table gets, and the
    # docstrings' ``literals`` read as plain words.
    result = CliRunner().invoke(app, ["strategies"], env={"COLUMNS": None})
    assert result.exit_code == 0, result.output
    assert "Bollinger-band reversion: enter when the close is below the lower band" in result.stdout
    assert (
        "max_bandwidth = 0.04  [0.0001 .. 1.0]  relative band width that counts as a squeeze" in result.stdout
    )
    assert "``" not in result.stdout
