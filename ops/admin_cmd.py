"""Identity and administration, on the Python SDK: ``login``, ``logout``, ``whoami``,
``users ...``, ``api-keys ...`` and the remote ``audit verify|tail --remote``.

``login`` keeps the session's tokens (never the password) in ``~/.config/algotrendy/sessions.json``
(mode 0600; ``$ALGOTRENDY_CONFIG_DIR`` overrides the folder), keyed by target; later commands to
that target use it and refresh it as needed, until ``logout``. Passwords are prompted when not
given (``--password`` or ``$ALGOTRENDY_PASSWORD``), never echoed or logged.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ops.connect import (
    EXIT_FAILED,
    Connection,
    JsonOption,
    enum_text,
    load_session,
    print_json,
    remote,
    save_session,
    show,
    table,
    utc,
)

users_app = typer.Typer(
    name="users",
    help="Users and roles (admin).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(
    name="api-keys",
    help="API keys: create (shown once), list, revoke.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# -- login / logout / whoami -------------------------------------------------------------------------
@remote
def login(conn: Connection, json_: JsonOption = False) -> None:
    """Log in with --user/--password (prompted) and keep the session for later commands."""
    from algotrendy_sdk import Password

    user = conn.user or typer.prompt("user")
    password = conn.password or typer.prompt(f"password for {user}", hide_input=True)
    credentials = Password(user, password, on_update=lambda s: save_session(conn.target, s))
    from algotrendy_sdk import Client

    with Client(conn.target, credentials, timeout_s=conn.timeout_s) as client:
        me = client.whoami()  # logs in (and saves the session) first
    session = credentials.session
    if json_:
        print_json(
            {
                "user": me.user,
                "role": me.role,
                "access_expires_at_ns": session.access_expires_at_ns if session else 0,
            }
        )
        return
    show(f"logged in to {conn.target} as [bold]{me.user}[/] ({enum_text(me.role)}); session saved")


@remote
def logout(conn: Connection) -> None:
    """End the saved session for the target (the engine revokes its tokens) and forget it."""
    from algotrendy_sdk import Client, Session

    stored = load_session(conn.target)
    if stored is None:
        show(f"no saved session for {conn.target}")
        return
    credentials = Session(stored, on_update=lambda s: save_session(conn.target, s))
    try:
        with Client(conn.target, credentials, timeout_s=conn.timeout_s) as client:
            client.logout()
    finally:
        save_session(conn.target, None)
    show(f"logged out of {conn.target}")


@remote
def whoami(conn: Connection, json_: JsonOption = False) -> None:
    """Who the engine thinks you are: user, role and credential."""
    with conn.client() as client:
        me = client.whoami()
    if json_:
        print_json(me)
        return
    key = f" {me.key_id}" if me.key_id else ""
    expires = f", expires {utc(me.expires_at_ns)} UTC" if me.expires_at_ns else ""
    show(f"[bold]{me.user}[/] · {enum_text(me.role)} · {me.credential.lower()}{key}{expires} · {conn.target}")


# -- users -------------------------------------------------------------------------------------------
def _users_table(users: list[Any]) -> Any:
    t = table("user", "role", "disabled", "created (UTC)", "password changed (UTC)")
    for u in users:
        t.add_row(
            u.user,
            enum_text(u.role),
            "yes" if u.disabled else "",
            utc(u.created_at_ns),
            utc(u.password_changed_at_ns),
        )
    return t


def _print_user(user: Any, json_: bool, verb: str) -> None:
    if json_:
        print_json(user)
    else:
        show(f"{verb} [bold]{user.user}[/] ({enum_text(user.role)}{', disabled' if user.disabled else ''})")


@users_app.callback()
def _users() -> None:
    """Users and roles (admin)."""


@users_app.command("list")
@remote
def users_list(conn: Connection, json_: JsonOption = False) -> None:
    """Every user (never a password hash)."""
    with conn.client() as client:
        users = client.list_users()
    if json_:
        print_json(users)
    else:
        show(_users_table(users))


NewPassword = Annotated[
    str | None,
    typer.Option(
        "--new-password", envvar="ALGOTRENDY_NEW_PASSWORD", help="The user's password (prompted if omitted)."
    ),
]


@users_app.command("create")
@remote
def users_create(
    conn: Connection,
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option("--role", help="viewer, trader or admin.")] = "viewer",
    new_password: NewPassword = None,
    json_: JsonOption = False,
) -> None:
    """Create a user (password: at least 12 characters)."""
    password = new_password or typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
    with conn.client() as client:
        user = client.create_user(name, password, role)
    _print_user(user, json_, "created")


@users_app.command("set-role")
@remote
def users_set_role(
    conn: Connection,
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Argument(help="viewer, trader or admin.")],
    json_: JsonOption = False,
) -> None:
    """Change a user's role (applies to new tokens and to API keys at once)."""
    with conn.client() as client:
        user = client.set_user_role(name, role)
    _print_user(user, json_, "updated")


@users_app.command("disable")
@remote
def users_disable(
    conn: Connection, name: Annotated[str, typer.Argument(help="User name.")], json_: JsonOption = False
) -> None:
    """Disable a user: no login, sessions and API keys refused."""
    with conn.client() as client:
        user = client.disable_user(name)
    _print_user(user, json_, "disabled")


@users_app.command("enable")
@remote
def users_enable(
    conn: Connection, name: Annotated[str, typer.Argument(help="User name.")], json_: JsonOption = False
) -> None:
    """Enable a disabled user again."""
    with conn.client() as client:
        user = client.disable_user(name, enable=True)
    _print_user(user, json_, "enabled")


@users_app.command("reset-password")
@remote
def users_reset_password(
    conn: Connection,
    name: Annotated[str, typer.Argument(help="User name.")],
    new_password: NewPassword = None,
    json_: JsonOption = False,
) -> None:
    """Set a new password and end the user's sessions (API keys stay valid)."""
    password = new_password or typer.prompt(
        f"new password for {name}", hide_input=True, confirmation_prompt=True
    )
    with conn.client() as client:
        user = client.reset_password(name, password)
    _print_user(user, json_, "password reset for")


# -- API keys ----------------------------------------------------------------------------------------
def _keys_table(keys: list[Any]) -> Any:
    t = table("key id", "prefix", "name", "user", "role", "created (UTC)", "expires", "last used", "revoked")
    for k in keys:
        t.add_row(
            k.key_id,
            k.prefix,
            k.name,
            k.user,
            enum_text(k.role),
            utc(k.created_at_ns),
            utc(k.expires_at_ns) if k.expires_at_ns else "never",
            utc(k.last_used_at_ns),
            utc(k.revoked_at_ns) if k.revoked else "",
        )
    return t


@keys_app.callback()
def _keys() -> None:
    """API keys: create (shown once), list, revoke."""


@keys_app.command("list")
@remote
def keys_list(
    conn: Connection,
    owner: Annotated[str, typer.Option("--for", help="Only this user's keys (admin).")] = "",
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    json_: JsonOption = False,
) -> None:
    """API keys (never their secrets): yours, or every key for an admin."""
    with conn.client() as client:
        keys = client.list_api_keys(user=owner, include_revoked=include_revoked)
    if json_:
        print_json(keys)
    else:
        show(_keys_table(keys))


@keys_app.command("create")
@remote
def keys_create(
    conn: Connection,
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. ci or grafana.")],
    role: Annotated[
        str | None, typer.Option("--role", help="viewer, trader or admin (default: the owner's).")
    ] = None,
    owner: Annotated[str, typer.Option("--for", help="Create it for another user (admin).")] = "",
    expires_in_s: Annotated[
        int, typer.Option("--expires-in", min=0, help="Seconds until it expires; 0 = never.")
    ] = 0,
    json_: JsonOption = False,
) -> None:
    """Create an API key. The secret is printed once: store it now."""
    with conn.client() as client:
        created = client.create_api_key(name, role=role, user=owner, expires_in_s=expires_in_s)
    if json_:
        print_json({"key": created.key, "api_key": created.secret})
        return
    show(
        f"created API key [bold]{created.key.key_id}[/] for {created.key.user} ({enum_text(created.key.role)})"
    )
    show("secret (shown once, store it now):")
    typer.echo(created.secret)


@keys_app.command("revoke")
@remote
def keys_revoke(
    conn: Connection, key_id: Annotated[str, typer.Argument(help="The key's id.")], json_: JsonOption = False
) -> None:
    """Revoke an API key: refused from the next call on."""
    with conn.client() as client:
        key = client.revoke_api_key(key_id)
    if json_:
        print_json(key)
    else:
        show(f"revoked {key.key_id} ({key.name}, {key.user})")


# -- audit over gRPC (AdminService) ------------------------------------------------------------------
def audit_verify_remote(conn: Connection, json_: bool) -> None:
    with conn.client() as client:
        result = client.verify_audit()
    if json_:
        print_json(
            {
                "ok": result.ok,
                "records": result.records,
                "first_bad_seq": result.first_bad_seq or None,
                "problem": result.problem or None,
                "head_seq": result.head_seq,
                "head_hash": result.head_hash,
            }
        )
    elif result.ok:
        typer.echo(f"audit chain OK: {result.records} records, head {result.head_hash}")
    if not result.ok:
        if not json_:
            typer.echo(f"audit chain TAMPERED at seq {result.first_bad_seq}: {result.problem}", err=True)
        raise typer.Exit(EXIT_FAILED)


def audit_tail_remote(conn: Connection, n: int, json_: bool) -> None:
    import json

    with conn.client() as client:
        records = client.audit_tail(n)
    if json_:
        print_json(
            [
                {
                    "seq": r.seq,
                    "ts_ns": r.ts_ns,
                    "actor": r.actor,
                    "action": r.action,
                    "summary": json.loads(r.summary_json) if r.summary_json else {},
                    "result": r.result,
                    "prev_hash": r.prev_hash,
                    "hash": r.hash,
                }
                for r in records
            ]
        )
        return
    t = table("seq", "time (UTC)", "actor", "action", "result", "summary", "hash")
    for r in records:
        summary = r.summary_json if len(r.summary_json) <= 60 else r.summary_json[:59] + "…"
        t.add_row(str(r.seq), utc(r.ts_ns), r.actor, r.action, r.result, summary, r.hash[:12])
    show(t)
