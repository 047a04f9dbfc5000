"""``algotrendy``: the ops command line.

Commands that talk to a running engine use gRPC only; ``serve`` is the one command that runs the
engine in this process. Heavy imports (grpc, the engine) happen inside the commands so that
``algotrendy --help`` stays instant.

Exit status: 0 success; 1 the command failed; 2 bad usage or configuration (including a port in use
or a locked data directory); 3 the engine is unreachable or not serving.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ops import book_cmd, store_cmd

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
def status(
    target: TargetOption = DEFAULT_TARGET, json_: JsonOption = False, timeout: TimeoutOption = 5.0
) -> None:
    """Show a running engine's state, components and event-loop lag."""
    from ops import render
    from ops.rpc import call_engine

    response = call_engine(
        target, timeout, lambda stub, t: stub.GetStatus(_engine_pb2().GetStatusRequest(), timeout=t)
    )
    if json_:
        render.print_json(render.status_dict(response))
    else:
        render.print_status(response, target)


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


def _engine_pb2() -> Any:
    from algotrendy.v1 import engine_pb2

    return engine_pb2


def main() -> None:
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # keep grpc's C-core chatter out of CLI output
    app()


if __name__ == "__main__":
    main()
