"""``algotrendy book``: offline order-book tools (no running engine needed).

``algotrendy book replay FILE [FILE ...] [--json]`` replays the raw Binance capture files of one
session (in the order given) through the depth synchroniser and prints the report: one JSON object
with ``--json`` (scripts depend on its keys), a table otherwise. Progress goes to stderr when it is
a terminal. Exit status: 0 replayed; 1 the capture could not be replayed (bad file, off-grid price).

The engine import happens inside the command so that ``algotrendy --help`` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="book",
    help="Order books: a running engine's live book (show); raw venue captures replayed offline (replay).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _book() -> None:
    """Order books: live (show) and replayed from captures (replay)."""


@app.command()
def replay(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Capture files of one session, in order (gzip or text).", exists=True, dir_okay=False
        ),
    ],
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object (for scripts).")] = False,
    price_increment: Annotated[
        str | None, typer.Option("--price-increment", help="Tick size, e.g. 0.01 (overrides the table).")
    ] = None,
    size_increment: Annotated[
        str | None,
        typer.Option("--size-increment", help="Size increment, e.g. 0.001 (with --price-increment)."),
    ] = None,
) -> None:
    """Replay Binance depth captures (diffs + snapshot + bookTicker) and report on the book."""
    from engine.marketdata.binance import ReplayError, replay_session

    progress, stop = _progress_reporter()
    try:
        report = replay_session(
            files, price_increment=price_increment, size_increment=size_increment, progress=progress
        )
    except ReplayError as exc:
        stop()
        typer.echo(f"algotrendy book replay: {exc}", err=True)
        raise typer.Exit(1) from None
    stop()
    if json_:
        import orjson

        sys.stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_report(report.to_dict())


def _progress_reporter() -> tuple[Any, Any]:
    """A progress callback drawing a bar on stderr when it is a terminal; else a no-op."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("replaying"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("replay", total=None)
    bar.start()

    def update(_files_done: int, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table

    from ops.connect import show

    table = Table(title=f"book replay: {report['instrument_id'] or '?'}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    bid = f"{report['best_bid']} x {report['best_bid_size']}" if report["best_bid"] else "-"
    ask = f"{report['best_ask']} x {report['best_ask_size']}" if report["best_ask"] else "-"
    checks = report["bookticker_checks"]
    rows = [
        ("files", "\n".join(report["files"])),
        ("market / symbol", f"{report['market']} / {report['symbol']}"),
        (
            "increments",
            f"price {report['price_increment']}, size {report['size_increment']} ({report['increments_source']})",
        ),
        ("messages", f"{report['messages']:,}"),
        ("snapshots", str(report["snapshots"])),
        (
            "diffs applied / received",
            f"{report['diffs_applied']:,} / {report['diffs']:,} ({report['diffs_dropped']} dropped as stale)",
        ),
        ("price levels applied", f"{report['deltas_applied']:,}"),
        ("sequence gaps", str(report["seq_gaps"])),
        ("resyncs", str(report["resyncs"])),
        ("crossed states", str(report["crossed_states"])),
        (
            "bookTicker matches",
            f"{report['bookticker_matches']} / {checks} checked ({report['bookticker_messages']:,} seen)",
        ),
        ("synced at end", "yes" if report["synced"] else "NO"),
        ("best bid", bid),
        ("best ask", ask),
        ("levels bid / ask", f"{report['bid_levels']:,} / {report['ask_levels']:,}"),
        (
            "throughput",
            f"{report['deltas_per_sec']:,.0f} levels/s end to end ({report['elapsed_sec']:.2f} s)",
        ),
    ]
    for key, value in rows:
        table.add_row(key, value)
    for note in report["notes"]:
        table.add_row("note", note)
    show(table)
