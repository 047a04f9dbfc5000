"""``algotrendy backtest`` and ``algotrendy sweep``: offline backtests (no running engine needed).

::

    algotrendy backtest --strategy NAME|FILE.py [--params k=v,...] --data FILE [FILE ...]
        [--fees-bps X] [--slippage-bps X] [--fill next_open|close] [--cash X] --out DIR [--json]

    algotrendy sweep --strategy NAME|FILE.py --data FILE [FILE ...] [--grid | --random N]
        [--params k=v,...] [--vary fast=5:20:5,slow=20,30,50] [--sort-by sharpe] [--top N]
        [--workers N] [--out DIR] [--json] (plus the simulation options of ``backtest``)

``backtest`` writes ``result.json`` (orders, fills, trades, equity curve, metrics), ``report.html``
(self-contained, offline) and ``summary.png`` into ``--out`` and prints the metrics: one JSON object on
stdout with ``--json`` (snake_case keys; money as decimal strings, ratios as numbers), a table
otherwise. A progress bar goes to stderr when it is a terminal.

``sweep`` runs the strategy over its declared parameter ranges (``--grid``: every combination;
``--random N``: N draws) on all cores and prints the results sorted by ``--sort-by`` (best first).
``--vary`` narrows or replaces a declared range; ``--params`` fixes parameters for every run.

Exit status: 0 done; 1 the run failed; 2 bad input (unknown strategy or parameter — the message lists
the valid ones —, a bad data file — the message names the file and row —, a bad option).

The engine is imported inside the commands so that ``algotrendy --help`` stays instant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_FAILED = 1
EXIT_USAGE = 2

StrategyOption = Annotated[
    str,
    typer.Option("--strategy", help="Built-in name (sma_cross ...), pkg.module:Class or FILE.py[:Class]."),
]
ParamsOption = Annotated[str, typer.Option("--params", help="Strategy parameters: k=v,k=v.")]
DataOption = Annotated[
    list[Path],
    typer.Option(
        "--data",
        help="Bar files (CSV, Binance klines, feather, parquet); more may follow: --data A B C.",
    ),
]
FeesOption = Annotated[str, typer.Option("--fees-bps", help="Taker fee in basis points.")]
MakerFeesOption = Annotated[
    str | None, typer.Option("--maker-fees-bps", help="Maker fee in bps (default: --fees-bps).")
]
SlippageOption = Annotated[str, typer.Option("--slippage-bps", help="Slippage in basis points (against us).")]
FillOption = Annotated[str, typer.Option("--fill", help="next_open (default) or close.")]
CashOption = Annotated[str, typer.Option("--cash", help="Starting cash (decimal).")]
CurrencyOption = Annotated[str, typer.Option("--currency", help="Quote currency of the cash and prices.")]
LatencyOption = Annotated[int, typer.Option("--latency-ms", min=0, help="Order latency to the venue (ms).")]
TickOption = Annotated[
    str | None, typer.Option("--tick-size", help="Price grid of the data (default: inferred per file).")
]
LotOption = Annotated[
    str | None,
    typer.Option(
        "--size-increment", help="Lot size of orders (default: tick x lot = 1e-11, at most 8 decimals)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object (for scripts).")]


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"algotrendy: {message}", err=True)
    return typer.Exit(code)


def _data_files(data: list[Path], extra: list[str]) -> list[str]:
    """``--data A B C``: click gives ``A`` to the option and ``B C`` as extra arguments."""
    files = [str(p) for p in data] + list(extra)
    for item in extra:
        if item.startswith("-"):
            raise _fail(f"unknown option {item!r}")
    if not files:
        raise _fail("give at least one bar file with --data FILE [FILE ...]")
    return files


def _config(
    *,
    fees_bps: str,
    maker_fees_bps: str | None,
    slippage_bps: str,
    fill: str,
    cash: str,
    currency: str,
    latency_ms: int,
    tick_size: str | None,
    size_increment: str | None,
) -> Any:
    from decimal import Decimal, InvalidOperation

    from engine.backtest import BacktestConfig

    def dec(name: str, value: str) -> Decimal:
        try:
            return Decimal(value)
        except InvalidOperation:
            raise _fail(f"{name}: not a decimal number: {value!r}") from None

    return BacktestConfig(
        cash=dec("--cash", cash),
        currency=currency.upper(),
        fill=fill,  # type: ignore[arg-type]
        slippage_bps=dec("--slippage-bps", slippage_bps),
        fees_bps=dec("--fees-bps", fees_bps),
        maker_fees_bps=None if maker_fees_bps is None else dec("--maker-fees-bps", maker_fees_bps),
        order_latency_ns=latency_ms * 1_000_000,
        tick_size=tick_size,
        size_increment=size_increment,
    )


class _Progress:
    """A rich progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, label: str) -> None:
        self._bar: Any = None
        self._task: Any = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress(
                f"[bold]{label}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._task = self._bar.add_task("run", total=total)
        self._bar.update(self._task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def backtest(
    ctx: typer.Context,
    strategy: StrategyOption,
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", help="Directory for result.json, report.html, summary.png.")],
    params: ParamsOption = "",
    fees_bps: FeesOption = "0",
    maker_fees_bps: MakerFeesOption = None,
    slippage_bps: SlippageOption = "0",
    fill: FillOption = "next_open",
    cash: CashOption = "100000",
    currency: CurrencyOption = "USD",
    latency_ms: LatencyOption = 0,
    tick_size: TickOption = None,
    size_increment: LotOption = None,
    json_: JsonOption = False,
) -> None:
    """Backtest a strategy on bar files through the engine's own risk gate, OMS and simulated venue."""
    from engine.backtest.report import write_reports
    from engine.backtest.sources import make_backtest
    from engine.core.errors import ValidationError
    from engine.strategy.params import parse_params_text

    files = _data_files(data, ctx.args)
    try:
        config = _config(
            fees_bps=fees_bps,
            maker_fees_bps=maker_fees_bps,
            slippage_bps=slippage_bps,
            fill=fill,
            cash=cash,
            currency=currency,
            latency_ms=latency_ms,
            tick_size=tick_size,
            size_increment=size_increment,
        )
        run = make_backtest(strategy, files, config, params=parse_params_text(params))
    except ValidationError as exc:
        raise _fail(str(exc)) from None
    try:
        with _Progress("backtest") as progress:
            result = run.run(progress)
        write_reports(result, out)
    except ValidationError as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:
        raise _fail(f"backtest failed: {type(exc).__name__}: {exc}", EXIT_FAILED) from exc
    if json_:
        typer.echo(json.dumps(result.summary(), sort_keys=True))
        return
    _print_metrics(result, out)


def metric_text(key: str, value: Any) -> str:
    """A metric as the table shows it: ratios to 6 significant digits, durations (seconds) as days
    and hours (``30d 23:55:00``), money and counts as they are; ``--json`` keeps the raw values."""
    if value is None:
        return "-"
    if key.endswith("_duration") and isinstance(value, int | float):
        seconds = round(value)
        days, rest = divmod(seconds, 86_400)
        hours, rest = divmod(rest, 3_600)
        clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        return f"{days}d {clock}" if days else clock
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _print_metrics(result: Any, out: Path) -> None:
    from rich.table import Table

    from ops.connect import console as stdout_console

    table = Table(title=f"{result.strategy} {result.params} · {', '.join(result.instruments)}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.metrics.items():
        table.add_row(key, metric_text(key, value))
    console = stdout_console()
    console.print(table)
    console.print(f"results in {out}/ (result.json, report.html, summary.png) · {result.elapsed_s:.2f}s")


def sweep(
    ctx: typer.Context,
    strategy: StrategyOption,
    data: DataOption,
    grid: Annotated[bool, typer.Option("--grid", help="Every combination of the ranges (default).")] = False,
    random_: Annotated[int, typer.Option("--random", min=0, help="N random draws instead of the grid.")] = 0,
    vary: Annotated[
        str,
        typer.Option("--vary", help="Ranges to search: name=low:high[:step] or name=a|b|c, comma separated."),
    ] = "",
    params: ParamsOption = "",
    sort_by: Annotated[str, typer.Option("--sort-by", help="Metric to sort by (best first).")] = "sharpe",
    top: Annotated[int, typer.Option("--top", min=1, help="Rows to print.")] = 20,
    workers: Annotated[int, typer.Option("--workers", min=0, help="Processes (0 = all cores).")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of --random.")] = 7,
    out: Annotated[Path | None, typer.Option("--out", help="Write sweep.json (every run) here.")] = None,
    fees_bps: FeesOption = "0",
    maker_fees_bps: MakerFeesOption = None,
    slippage_bps: SlippageOption = "0",
    fill: FillOption = "next_open",
    cash: CashOption = "100000",
    currency: CurrencyOption = "USD",
    latency_ms: LatencyOption = 0,
    tick_size: TickOption = None,
    size_increment: LotOption = None,
    json_: JsonOption = False,
) -> None:
    """Search a strategy's parameter space on all cores; print the runs sorted by a metric."""
    from engine.backtest.sweep import run_sweep, sweep_space
    from engine.core.errors import ValidationError
    from engine.strategy.params import parse_params_text

    files = _data_files(data, ctx.args)
    if grid and random_:
        raise _fail("give --grid or --random N, not both")
    try:
        config = _config(
            fees_bps=fees_bps,
            maker_fees_bps=maker_fees_bps,
            slippage_bps=slippage_bps,
            fill=fill,
            cash=cash,
            currency=currency,
            latency_ms=latency_ms,
            tick_size=tick_size,
            size_increment=size_increment,
        )
        space = sweep_space(
            strategy, fixed=parse_params_text(params), vary=vary, random_draws=random_, seed=seed
        )
        with _Progress("sweep") as progress:
            report = run_sweep(
                strategy, files, config, space, sort_by=sort_by, workers=workers, progress=progress
            )
    except ValidationError as exc:
        raise _fail(str(exc)) from None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.json").write_text(json.dumps(report.to_json(), sort_keys=True) + "\n")
    if json_:
        typer.echo(json.dumps(report.to_json(), sort_keys=True))
        return
    from rich.table import Table

    from ops.connect import console as stdout_console

    names = report.param_names
    cols = ["total_return", "sharpe", "max_drawdown", "trades", "final_equity"]
    if sort_by not in cols:
        cols.insert(0, sort_by)
    table = Table(title=f"{report.strategy}: {len(report.rows)} runs sorted by {sort_by}")
    for name in ["#", *names, *cols]:
        table.add_column(name, justify="right")
    for rank, row in enumerate(report.rows[:top], start=1):
        cells = [str(rank), *(str(row["params"][n]) for n in names)]
        for c in cols:
            v = row["metrics"].get(c)
            cells.append("-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v))
        table.add_row(*cells)
    console = stdout_console()
    console.print(table)
    console.print(
        f"{len(report.rows)} runs x {report.bars} bars in {report.elapsed_s:.2f}s on {report.workers} "
        f"process(es): {report.throughput:,.0f} parameter-set x bars per second"
    )


def register(app: typer.Typer) -> None:
    """Add ``backtest`` and ``sweep`` to the ``algotrendy`` app (the one line in ops/cli.py)."""
    settings = {"allow_extra_args": True, "ignore_unknown_options": False}
    app.command("backtest", context_settings=settings)(backtest)
    app.command("sweep", context_settings=settings)(sweep)
