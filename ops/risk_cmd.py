"""``algotrendy risk ...``: trading state and limits, on the Python SDK.

``risk set`` changes only the limits named on the command line: it reads the subject's current
limits and sends them back whole with the changes (the API replaces a subject's limits as a
whole); a subject without limits needs every field. ``halt``, ``resume`` and ``reduce-only``
apply to one account with ``--account`` or to the whole engine without it, and require a reason
(it goes into the journal and the audit log).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Annotated, Any

import typer

from ops.connect import (
    EXIT_USAGE,
    Connection,
    JsonOption,
    dec,
    enum_text,
    fail,
    print_json,
    remote,
    show,
    table,
)

app = typer.Typer(
    name="risk",
    help="Trading state (halt, resume, reduce-only) and risk limits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ReasonOption = Annotated[str, typer.Option("--reason", "-r", help="Why (journalled and audited).")]
ScopeOption = Annotated[str, typer.Option("--account", "-a", help="One account; omit for the whole engine.")]

_STATE_STYLE = {"ACTIVE": "green", "REDUCING": "yellow", "HALTED": "bold red"}


def _state(value: Any) -> str:
    text = enum_text(value)
    style = _STATE_STYLE.get(text)
    return f"[{style}]{text}[/]" if style else text


@app.callback()
def _risk() -> None:
    """Trading state and risk limits."""


@app.command("show")
@remote
def show_risk(
    conn: Connection,
    account: Annotated[str, typer.Option("--account", "-a", help="Account id.")] = "main",
    json_: JsonOption = False,
) -> None:
    """Trading states, exposure, equity marks and every subject's limits."""
    with conn.client() as client:
        state = client.risk_state(account_id=account)
        limits = client.limits()
    if json_:
        print_json({"state": state, "limits": limits})
        return
    show(
        f"account [bold]{state.account_id or '-'}[/] trading {_state(state.trading_state)} · "
        f"global {_state(state.global_trading_state)}"
    )
    t = table("", state.currency)
    for label, value in (
        ("gross exposure", state.gross_exposure),
        ("net exposure", state.net_exposure),
        ("day-start equity", state.day_start_equity),
        ("peak equity", state.peak_equity),
    ):
        t.add_row(label, dec(value))
    show(t)
    accounts = table(
        "account",
        "max gross",
        "max net",
        "open orders",
        "orders/s",
        "burst",
        "daily loss",
        "drawdown",
        "breach",
        title=f"account limits ({limits.currency})",
    )
    for name, a in limits.accounts.items():
        accounts.add_row(
            name,
            dec(a.max_gross_exposure),
            dec(a.max_net_exposure),
            str(a.max_open_orders),
            str(a.max_orders_per_second),
            str(a.order_burst),
            dec(a.max_daily_loss),
            dec(a.max_drawdown),
            enum_text(a.breach_state),
        )
    show(accounts)
    instruments = table(
        "instrument",
        "max order qty",
        "max notional",
        "max position",
        "band bps",
        "data age ms",
        "reference",
        title="instrument limits",
    )
    for name, i in limits.instruments.items():
        instruments.add_row(
            name,
            dec(i.max_order_quantity),
            dec(i.max_order_notional),
            dec(i.max_position),
            str(i.price_band_bps),
            str(i.max_data_age_ms),
            enum_text(i.reference),
        )
    show(instruments)
    if limits.strategies:
        strategies = table("strategy", "orders/s", "burst", title="strategy limits")
        for name, s in limits.strategies.items():
            strategies.add_row(name, str(s.max_orders_per_second), str(s.order_burst))
        show(strategies)


def _set_state(conn: Connection, state: str, reason: str, account: str, json_: bool) -> None:
    if not reason.strip():
        fail("--reason is required", EXIT_USAGE)
    with conn.client() as client:
        change = client.set_trading_state(state, reason, account_id=account)
    if json_:
        print_json(change)
        return
    scope = f"account {change.account_id}" if change.account_id else "global"
    show(
        f"{scope}: {_state(change.previous)} -> {_state(change.current)} "
        f"(effective {_state(change.effective)})"
    )


@app.command("halt")
@remote
def halt(
    conn: Connection, reason: ReasonOption, account: ScopeOption = "", json_: JsonOption = False
) -> None:
    """Kill switch: deny new orders and amends (cancels still work)."""
    _set_state(conn, "HALTED", reason, account, json_)


@app.command("resume")
@remote
def resume(
    conn: Connection, reason: ReasonOption, account: ScopeOption = "", json_: JsonOption = False
) -> None:
    """Back to ACTIVE."""
    _set_state(conn, "ACTIVE", reason, account, json_)


@app.command("reduce-only")
@remote
def reduce_only(
    conn: Connection, reason: ReasonOption, account: ScopeOption = "", json_: JsonOption = False
) -> None:
    """Accept only orders that reduce a position without flipping it."""
    _set_state(conn, "REDUCING", reason, account, json_)


_ACCOUNT_FIELDS = {
    "max_gross_exposure": Decimal,
    "max_net_exposure": Decimal,
    "max_open_orders": int,
    "max_orders_per_second": int,
    "order_burst": int,
    "max_daily_loss": Decimal,
    "max_drawdown": Decimal,
    "breach_state": str,
}
_INSTRUMENT_FIELDS = {
    "max_order_quantity": Decimal,
    "max_order_notional": Decimal,
    "max_position": Decimal,
    "price_band_bps": int,
    "max_data_age_ms": int,
    "reference": str,
}
_STRATEGY_FIELDS = {"max_orders_per_second": int, "order_burst": int}


@app.command("set")
@remote
def set_limits(
    conn: Connection,
    kind: Annotated[str, typer.Argument(help="account, instrument or strategy.")],
    subject: Annotated[str, typer.Argument(help="The account, instrument or strategy id.")],
    values: Annotated[
        list[str],
        typer.Argument(
            help="FIELD=VALUE pairs, e.g. max_daily_loss=5000 price_band_bps=300 breach_state=REDUCING.",
            show_default=False,
        ),
    ],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Recorded in the audit log.")] = "",
    json_: JsonOption = False,
) -> None:
    """Change some limits of one subject; the others keep their current values."""
    from algotrendy_sdk.types import AccountLimits, InstrumentLimits, StrategyLimits

    schemas: dict[str, tuple[type, dict[str, type], str]] = {
        "account": (AccountLimits, _ACCOUNT_FIELDS, "accounts"),
        "instrument": (InstrumentLimits, _INSTRUMENT_FIELDS, "instruments"),
        "strategy": (StrategyLimits, _STRATEGY_FIELDS, "strategies"),
    }
    if kind not in schemas:
        fail(f"kind must be account, instrument or strategy (got {kind!r})", EXIT_USAGE)
    cls, fields, attr = schemas[kind]
    changes: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            fail(f"{item!r}: expected FIELD=VALUE with FIELD one of {', '.join(fields)}", EXIT_USAGE)
        try:
            changes[key] = fields[key](raw.strip())
        except (ValueError, ArithmeticError):
            fail(f"{key}: {raw!r} is not a valid {fields[key].__name__}", EXIT_USAGE)
    with conn.client() as client:
        current = getattr(client.limits(), attr).get(subject)
        if current is None:
            missing = [f for f in fields if f not in changes]
            if missing:
                fail(
                    f"{kind} {subject} has no limits yet: give every field (missing {', '.join(missing)})",
                    EXIT_USAGE,
                )
            limits = cls(**changes)
        else:
            limits = dataclasses.replace(current, **changes)
        previous, now = client.set_limits(subject, limits, reason=reason)
    if json_:
        print_json({"previous": previous[1] if previous else None, "current": now[1]})
        return
    t = table("field", "before", "after", title=f"{kind} {subject}")
    for name in fields:
        before = getattr(previous[1], name) if previous else None
        after = getattr(now[1], name)
        if isinstance(before, Decimal) and isinstance(after, Decimal):
            # One number of places for both sides (the engine may re-express a value on the
            # instrument's grid: 25 -> 25.00000), so an unchanged value reads unchanged.
            places = Decimal(1).scaleb(min(before.as_tuple().exponent, after.as_tuple().exponent, 0))  # type: ignore[arg-type]
            before, after = before.quantize(places), after.quantize(places)
        t.add_row(name, _cell(before), _cell(after) + ("" if before == after else " [yellow]*[/]"))
    show(t)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return dec(value)
    if isinstance(value, int):
        return str(value)
    return enum_text(value)
