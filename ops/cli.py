"""``algotrendy``: the ops command line.

Commands that talk to a running engine use gRPC only; ``serve`` is the one command that runs the
engine in this process. Heavy imports (grpc, the engine) happen inside the commands so that
``algotrendy --help`` stays instant.

Commands that talk to an engine are built on the Python SDK (``clients/python``,
``algotrendy_sdk``); their connection and credential options are documented in ``ops/connect.py``.

Exit status: 0 success; 1 the command failed (or the engine refused: not found, risk denial ...);
2 bad usage or configuration (including a port in use, a locked data directory, or a request the
engine answered INVALID_ARGUMENT); 3 the engine is unreachable or not serving; 4 not authenticated
or not permitted; 5 rate limited.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ops import (
    admin_cmd,
    backtest_cmd,
    book_cmd,
    data_cmd,
    risk_cmd,
    store_cmd,
    strategy_cmd,
    stream_cmd,
    trading_cmd,
)
from ops.connect import Connection, remote

EXIT_UNAVAILABLE = 3
DEFAULT_TARGET = "127.0.0.1:50051"

app = typer.Typer(
    name="algotrendy",
    help="AlgoTrendy: a low-latency algorithmic trading engine for crypto markets, controlled over gRPC.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(book_cmd.app, name="book")
app.add_typer(store_cmd.app, name="audit")
app.command("backup")(store_cmd.backup_command)
app.command("restore")(store_cmd.restore_command)
book_cmd.app.command("show")(trading_cmd.book_show)
app.command("login")(admin_cmd.login)
app.command("logout")(admin_cmd.logout)
app.command("whoami")(admin_cmd.whoami)
app.add_typer(admin_cmd.users_app, name="users")
app.add_typer(admin_cmd.keys_app, name="api-keys")
app.command("instruments")(trading_cmd.instruments)
app.add_typer(trading_cmd.orders_app, name="orders")
app.command("positions")(trading_cmd.positions)
app.command("balances")(trading_cmd.balances)
app.command("pnl")(trading_cmd.pnl)
app.add_typer(risk_cmd.app, name="risk")
app.add_typer(stream_cmd.app, name="stream")
app.add_typer(data_cmd.app, name="data")
backtest_cmd.register(app)
strategy_cmd.register(app)

TargetOption = Annotated[
    str,
    typer.Option(
        "--target",
        envvar="ALGOTRENDY_TARGET",
        help="Engine gRPC address HOST:PORT.",
        show_default=True,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object (for scripts).")]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the engine.")]


@app.callback()
def _root() -> None:
    """Run the engine (serve) and operate it over gRPC."""


@app.command()
def serve(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data directory (LMDB, lock file). [default: .algotrendy]"),
    ] = None,
    grpc_port: Annotated[
        int | None, typer.Option("--grpc-port", help="gRPC port; 0 picks a free one. [default: 50051]")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Prometheus /metrics port. [default: 9464]")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML configuration file.", dir_okay=False)
    ] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = None,
    log_format: Annotated[str | None, typer.Option("--log-format", help="auto, json or console.")] = None,
    venue: Annotated[
        str | None,
        typer.Option(
            "--venue",
            help="Where orders go: sim, binance, binanceusdm, bybit, okx, coinbase, kraken, cryptocom "
            "(live through ccxt; keys from ALGOTRENDY_VENUE_API_KEY/_SECRET). [default: sim]",
        ),
    ] = None,
    paper: Annotated[
        bool | None,
        typer.Option(
            "--paper/--live",
            help="With a crypto --venue: paper-trade on its live prices (no keys), or trade live.",
            show_default=False,
        ),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(
            "--symbols",
            help="With a crypto --venue: ccxt symbols to trade, comma-separated (BTC/USDT,ETH/USDT). "
            "[default: BTC/USDT]",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override any key: --set grpc.host=0.0.0.0 (repeatable)."),
    ] = None,
) -> None:
    """Run the engine in the foreground until Ctrl-C or SIGTERM (then drain and exit 0).

    Configuration precedence: defaults < --config FILE < ALGOTRENDY_* environment < flags.
    """
    from engine.app import EXIT_CONFIG
    from engine.app import serve as run_engine

    overrides: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for key, flag, value in (
        ("data_dir", "--data-dir", data_dir),
        ("grpc.port", "--grpc-port", grpc_port),
        ("metrics.port", "--metrics-port", metrics_port),
        ("log.level", "--log-level", log_level),
        ("log.format", "--log-format", log_format),
        ("venue.name", "--venue", venue),
        ("venue.paper", "--paper", paper),
        ("venue.symbols", "--symbols", None if symbols is None else [s.strip() for s in symbols.split(",")]),
    ):
        if value is not None:
            overrides[key] = str(value) if isinstance(value, Path) else value
            labels[key] = flag
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            typer.echo(f"algotrendy: config error: --set {item!r}: expected KEY=VALUE", err=True)
            raise typer.Exit(EXIT_CONFIG)
        overrides[key.strip()] = value
        labels[key.strip()] = f"--set {key.strip()}"
    raise typer.Exit(run_engine(config, overrides, labels))


@app.command()
@remote
def status(conn: Connection, json_: JsonOption = False) -> None:
    """Show a running engine's state, components and event-loop lag."""
    from ops import render

    with conn.client() as client:
        result = client.status()
    if json_:
        render.print_json(render.status_dict(result))
    else:
        render.print_status(result, conn.target)


@app.command()
def health(
    target: TargetOption = DEFAULT_TARGET,
    service: Annotated[str, typer.Option("--service", help="Service name; empty = the whole engine.")] = "",
    timeout: TimeoutOption = 3.0,
) -> None:
    """Exit 0 if the engine reports SERVING over the standard gRPC health service (for healthchecks)."""
    from ops.rpc import check_health

    serving, text = check_health(target, service, timeout)
    typer.echo(text)
    raise typer.Exit(0 if serving else EXIT_UNAVAILABLE)


@app.command()
def version() -> None:
    """Print the AlgoTrendy version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("algotrendy"))


def main() -> None:
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # keep grpc's C-core chatter out of CLI output
    app()


if __name__ == "__main__":
    main()
