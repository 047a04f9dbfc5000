"""What every CLI command that talks to an engine shares: connection options, credentials, the
mapping of SDK errors to exit codes, and output (rich tables for people, JSON for scripts).

``@remote`` adds the connection options to a typer command and hands it a ``Connection``:

    --target HOST:PORT   $ALGOTRENDY_TARGET, default 127.0.0.1:50051
    --api-key KEY        $ALGOTRENDY_API_KEY
    --user U --password P  $ALGOTRENDY_USER / $ALGOTRENDY_PASSWORD (password prompted if missing)
    --data-dir DIR       where a local engine wrote admin-credentials.json ($ALGOTRENDY_DATA_DIR, .algotrendy)
    --timeout S          per-call deadline

Credentials are taken from the first of: flags, environment, the session saved by
``algotrendy login`` for that target, the local admin credentials file. So after ``make run`` every
command works in another shell with no options at all.

Exit status: 0 success; 1 the engine refused or the operation failed (not found, already exists,
failed precondition such as a risk denial, internal error); 2 bad usage (bad option values, or the
engine answered INVALID_ARGUMENT); 3 the engine is unreachable, unavailable or did not answer in
time; 4 not authenticated or not permitted (no/invalid credential, role too low); 5 rate limited
(retry after the delay printed).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_AUTH = 4
EXIT_RATE_LIMITED = 5
DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_DATA_DIR = ".algotrendy"
SESSIONS_FILE = "sessions.json"


# -- options -----------------------------------------------------------------------------------------
TargetOption = Annotated[
    str,
    typer.Option("--target", envvar="ALGOTRENDY_TARGET", help="Engine gRPC address HOST:PORT."),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="ALGOTRENDY_API_KEY", help="API key.", show_envvar=True),
]
UserOption = Annotated[
    str | None, typer.Option("--user", envvar="ALGOTRENDY_USER", help="Log in as this user.")
]
PasswordOption = Annotated[
    str | None,
    typer.Option(
        "--password", envvar="ALGOTRENDY_PASSWORD", help="Password (prompted if --user is given without)."
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Local engine data directory holding admin-credentials.json. (default: $ALGOTRENDY_DATA_DIR or .algotrendy)",
        file_okay=False,
    ),
]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each call.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="Account id.")]


@dataclass
class Connection:
    target: str
    api_key: str | None
    user: str | None
    password: str | None
    data_dir: Path | None
    timeout_s: float

    @property
    def data_directory(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        return Path(os.environ.get("ALGOTRENDY_DATA_DIR") or DEFAULT_DATA_DIR)

    def credentials(self) -> Any:
        """Flags/env API key or user+password, else the saved ``login`` session, else the admin file."""
        from algotrendy_sdk import auth

        if self.api_key:
            return auth.ApiKey(self.api_key)
        if self.user:
            password = self.password
            if not password:
                password = typer.prompt(f"password for {self.user}", hide_input=True)
            return auth.Password(self.user, password)
        session = load_session(self.target)
        if session is not None:
            return auth.Session(session, on_update=functools.partial(save_session, self.target))
        try:
            return auth.admin_file_credentials(self.data_directory)
        except ValueError as exc:
            fail(str(exc), EXIT_USAGE)

    def client(self) -> Any:
        """The SDK's blocking ``Client``."""
        from algotrendy_sdk import Client

        return Client(self.target, self.credentials(), timeout_s=self.timeout_s)

    def async_client(self) -> Any:
        """The SDK's ``AsyncClient`` (create it inside the event loop that uses it)."""
        from algotrendy_sdk import AsyncClient

        return AsyncClient(self.target, self.credentials(), timeout_s=self.timeout_s)


def env_connection(target: str | None, data_dir: Path | None, timeout_s: float = 60.0) -> Connection:
    """A connection for commands without the full set of options (``audit ... --remote``):
    target from the flag or ``$ALGOTRENDY_TARGET``, credentials from the environment, the saved
    session or the admin file in ``data_dir``."""
    return Connection(
        target=target or os.environ.get("ALGOTRENDY_TARGET") or DEFAULT_TARGET,
        api_key=os.environ.get("ALGOTRENDY_API_KEY"),
        user=os.environ.get("ALGOTRENDY_USER"),
        password=os.environ.get("ALGOTRENDY_PASSWORD"),
        data_dir=data_dir,
        timeout_s=timeout_s,
    )


_CONNECTION_PARAMS = (
    ("target", TargetOption, DEFAULT_TARGET),
    ("api_key", ApiKeyOption, None),
    ("user", UserOption, None),
    ("password", PasswordOption, None),
    ("data_dir", DataDirOption, None),
    ("timeout", TimeoutOption, 10.0),
)


def remote(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options to a command that takes ``conn: Connection``; map SDK errors to
    exit codes (one line on stderr)."""
    signature = inspect.signature(func)
    hints = {k: v for k, v in _resolved_hints(func).items() if k != "conn"}
    # Resolved annotations (not the strings of ``from __future__ import annotations``): typer reads them.
    own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "conn"]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in _CONNECTION_PARAMS
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        conn = Connection(
            target=kwargs.pop("target"),
            api_key=kwargs.pop("api_key"),
            user=kwargs.pop("user"),
            password=kwargs.pop("password"),
            data_dir=kwargs.pop("data_dir"),
            timeout_s=kwargs.pop("timeout"),
        )
        with sdk_errors(conn.target):
            return func(*args, conn=conn, **kwargs)

    hints.update({name: annotation for name, annotation, _ in _CONNECTION_PARAMS})
    wrapper.__annotations__ = hints
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own, *extra], return_annotation=signature.return_annotation
    )
    del wrapper.__wrapped__  # typer must see the new signature, not the original's
    return wrapper


def _resolved_hints(func: Callable[..., Any]) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(func, include_extras=True)


# -- errors ------------------------------------------------------------------------------------------
def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    typer.echo(f"algotrendy: {message}", err=True)
    raise typer.Exit(code)


def exit_code_for(error: Any) -> int:
    from algotrendy_sdk import errors

    if isinstance(error, errors.InvalidArgument):
        return EXIT_USAGE
    if isinstance(error, errors.Unavailable):
        return EXIT_UNAVAILABLE
    if isinstance(error, errors.Unauthenticated | errors.PermissionDenied):
        return EXIT_AUTH
    if isinstance(error, errors.RateLimited):
        return EXIT_RATE_LIMITED
    return EXIT_FAILED


def describe(error: Any, target: str) -> str:
    from algotrendy_sdk import errors

    if isinstance(error, errors.Unavailable):
        return f"engine at {target} is unreachable or not ready ({error.code.name}: {error.details}): is it running?"
    # The reason names the rule (PRICE_OFF_TICK, RISK_PRICE_BAND); a generic one repeats the code.
    reason = "" if error.reason in ("", error.code.name) else f" {error.reason}"
    text = f"{error.code.name}{reason}: {error.details}"
    if isinstance(error, errors.InvalidArgument) and error.field and error.field not in error.details:
        text += f" (field {error.field})"
    if isinstance(error, errors.RateLimited) and error.retry_after_ms:
        text += f" (retry after {error.retry_after_ms} ms)"
    if isinstance(error, errors.Unauthenticated):
        text += " — pass --api-key, --user or run `algotrendy login` (a local engine: --data-dir)"
    return text


@contextlib.contextmanager
def sdk_errors(target: str) -> Iterator[None]:
    """SDK exceptions -> one line on stderr and the documented exit code; bad values -> exit 2."""
    from algotrendy_sdk import AlgoTrendyError

    try:
        yield
    except AlgoTrendyError as exc:
        fail(describe(exc, target), exit_code_for(exc))
    except (ValueError, TypeError) as exc:
        fail(str(exc), EXIT_USAGE)


# -- saved sessions (algotrendy login) ---------------------------------------------------------------
def sessions_path() -> Path:
    base = os.environ.get("ALGOTRENDY_CONFIG_DIR")
    if base:
        return Path(base) / SESSIONS_FILE
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "algotrendy" / SESSIONS_FILE


@contextlib.contextmanager
def _locked_sessions() -> Iterator[dict[str, Any]]:
    """Read-modify-write the sessions file under an exclusive lock (two commands refreshing at
    once would otherwise present the same single-use refresh token twice and end the session)."""
    path = sessions_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        text = f.read()
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            data = {}
        before = json.dumps(data, sort_keys=True)
        yield data
        if json.dumps(data, sort_keys=True) != before:
            f.seek(0)
            f.truncate()
            f.write(json.dumps(data, indent=2, sort_keys=True))
            f.flush()
            os.fsync(f.fileno())


def load_session(target: str) -> Any:
    from algotrendy_sdk import StoredSession

    if not sessions_path().exists():
        return None
    with _locked_sessions() as data:
        entry = data.get(target)
    if not entry:
        return None
    try:
        return StoredSession.from_dict(entry)
    except (KeyError, TypeError, ValueError):
        return None


def save_session(target: str, session: Any) -> None:
    with _locked_sessions() as data:
        if session is None:
            data.pop(target, None)
        else:
            data[target] = session.to_dict()


# -- output ------------------------------------------------------------------------------------------
def print_json(obj: Any) -> None:
    import orjson

    from algotrendy_sdk.types import to_jsonable

    sys.stdout.write(orjson.dumps(to_jsonable(obj), option=orjson.OPT_INDENT_2).decode() + "\n")


def print_json_line(obj: Any) -> None:
    import orjson

    from algotrendy_sdk.types import to_jsonable

    sys.stdout.write(orjson.dumps(to_jsonable(obj)).decode() + "\n")
    sys.stdout.flush()


def table(*columns: str, title: str | None = None) -> Any:
    """A borderless table; at least as wide as its title, which rich would otherwise wrap over a
    narrow table's width (``account main · 2026-11-21`` / ``21:32:30 UTC``)."""
    from rich.table import Table

    return Table(
        *columns,
        title=title,
        box=None,
        pad_edge=False,
        header_style="bold",
        min_width=len(title) if title else None,
    )


def show(renderable: Any) -> None:
    console().print(renderable)


def console() -> Any:
    """A rich console; piped output gets a wide line instead of rich's 80 columns, so tables stay
    readable in logs (``$COLUMNS`` still wins)."""
    from rich.console import Console

    wide = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(width=200 if wide else None)


def dec(value: Any) -> str:
    """A Decimal as people read it (exact, no exponent); '-' when unset."""
    if value is None:
        return "-"
    return format(value, "f")


def utc(ts_ns: int) -> str:
    import datetime as dt

    if not ts_ns:
        return "-"
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def clock_ms(ts_ns: int) -> str:
    """Time of day with milliseconds (UTC), for live event rows."""
    import datetime as dt

    if not ts_ns:
        return "-"
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def enum_text(value: Any) -> str:
    return str(getattr(value, "value", value) or "-")
