"""Offline store tools: ``algotrendy audit verify|tail``, ``algotrendy backup``, ``algotrendy restore``.

They read the engine's LMDB directly, read-only (LMDB allows readers in other processes while the
engine runs), so they work with the engine up or down; ``restore`` needs the engine stopped.
Engine imports happen inside the commands so ``algotrendy --help`` stays instant.

Exit status: 0 success; 1 the check failed or the operation was refused (one-line reason on stderr).

``app`` is the ``audit`` group; ``backup_command`` and ``restore_command`` are top-level commands.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_DATA_DIR = Path(".algotrendy")

app = typer.Typer(
    name="audit",
    help="Check and read the hash-chained audit log (offline and read-only, or --remote over gRPC).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Engine data directory (or a backup). [default: $ALGOTRENDY_DATA_DIR or .algotrendy]",
        file_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object (for scripts).")]
RemoteOption = Annotated[
    bool,
    typer.Option(
        "--remote",
        help="Ask the running engine over gRPC (AdminService, admin role) instead of reading the data "
        "directory; --data-dir then only locates the local admin credentials.",
    ),
]
RemoteTargetOption = Annotated[
    str | None,
    typer.Option("--target", help="Engine HOST:PORT for --remote (implies it; default $ALGOTRENDY_TARGET)."),
]


def _data_dir(value: Path | None) -> Path:
    if value is not None:
        return value
    env = os.environ.get("ALGOTRENDY_DATA_DIR")
    return Path(env) if env else DEFAULT_DATA_DIR


def _fail(command: str, message: str) -> typer.Exit:
    typer.echo(f"algotrendy {command}: {message}", err=True)
    return typer.Exit(1)


def _print_json(obj: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


@app.callback()
def _audit() -> None:
    """Check and read the hash-chained audit log."""


@app.command()
def verify(
    data_dir: DataDirOption = None,
    json_: JsonOption = False,
    remote: RemoteOption = False,
    target: RemoteTargetOption = None,
) -> None:
    """Walk the whole audit chain: exit 0 if intact, 1 with the first problem if tampered."""
    if remote or target:
        from ops.admin_cmd import audit_verify_remote
        from ops.connect import env_connection, sdk_errors

        conn = env_connection(target, data_dir)
        with sdk_errors(conn.target):
            audit_verify_remote(conn, json_)
        return
    from engine.core.errors import StorageError
    from engine.store.audit import verify as verify_chain
    from engine.store.offline import open_readonly

    try:
        with open_readonly(_data_dir(data_dir)) as env:
            result = verify_chain(env)
    except StorageError as exc:
        raise _fail("audit verify", exc.message) from None
    if json_:
        _print_json(result.to_dict())
    elif result.ok:
        typer.echo(f"audit chain OK: {result.records} records, head {result.head_hash}")
    if not result.ok:
        if not json_:
            typer.echo(f"audit chain TAMPERED at seq {result.first_bad_seq}: {result.problem}", err=True)
        raise typer.Exit(1)


@app.command()
def tail(
    n: Annotated[int, typer.Option("-n", "--lines", min=1, help="How many records.")] = 20,
    data_dir: DataDirOption = None,
    json_: JsonOption = False,
    remote: RemoteOption = False,
    target: RemoteTargetOption = None,
) -> None:
    """The last N audit records, oldest first."""
    if remote or target:
        from ops.admin_cmd import audit_tail_remote
        from ops.connect import env_connection, sdk_errors

        conn = env_connection(target, data_dir)
        with sdk_errors(conn.target):
            audit_tail_remote(conn, n, json_)
        return
    from engine.core.errors import StorageError
    from engine.store.audit import tail as read_tail
    from engine.store.offline import open_readonly

    try:
        with open_readonly(_data_dir(data_dir)) as env:
            records = read_tail(env, n)
    except StorageError as exc:
        raise _fail("audit tail", exc.message) from None
    if json_:
        _print_json([r.to_dict() for r in records])
        return
    from rich.table import Table

    from ops.connect import show

    table = Table("seq", "time (UTC)", "actor", "action", "result", "summary", "hash")
    for r in records:
        table.add_row(str(r.seq), _utc(r.ts_ns), r.actor, r.action, r.result, _short(r.summary), r.hash[:12])
    show(table)


def backup_command(
    dest: Annotated[Path, typer.Argument(help="New directory to write the backup to.")],
    data_dir: DataDirOption = None,
    json_: JsonOption = False,
) -> None:
    """Hot, consistent backup of the data directory (the engine may keep running)."""
    from engine.core.errors import StorageError
    from engine.store.backup import backup

    try:
        result = backup(_data_dir(data_dir), dest)
    except StorageError as exc:
        raise _fail("backup", exc.message) from None
    if json_:
        _print_json({"dest": str(result.dest), "manifest": result.manifest})
        return
    for name, env in result.manifest["environments"].items():
        typer.echo(
            f"backed up {name}: journal to seq {env['last_journal_sequence']}, "
            f"audit head {env['audit_head_seq']} {env['audit_head_hash'][:16]}"
        )
    typer.echo(f"backup written to {result.dest}")


def restore_command(
    src: Annotated[Path, typer.Argument(help="A backup directory written by `algotrendy backup`.")],
    data_dir: DataDirOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing data (kept aside, not deleted).")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Restore a backup into a STOPPED engine's data directory (verified first, swapped in atomically)."""
    from engine.core.errors import StorageError
    from engine.store.backup import restore

    try:
        result = restore(src, _data_dir(data_dir), force=force)
    except StorageError as exc:
        raise _fail("restore", exc.message) from None
    if json_:
        _print_json(
            {
                "data_dir": str(result.data_dir),
                "previous": None if result.previous is None else str(result.previous),
                "manifest": result.manifest,
            }
        )
        return
    typer.echo(f"restored {src} into {result.data_dir}")
    if result.previous is not None:
        typer.echo(f"previous contents kept at {result.previous}")


def _utc(ts_ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _short(summary: dict[str, Any], limit: int = 60) -> str:
    text = ", ".join(f"{k}={v}" for k, v in summary.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"
