"""Trading from the command line, on the Python SDK: ``algotrendy orders ...``, ``positions``,
``balances``, ``pnl``, ``instruments`` and ``book show``.

Prices and quantities are typed as decimal strings and sent as such (never through a float).
Exit status as in ``ops.connect`` (a risk denial is 1 with the reason on stderr, bad input 2).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ops.connect import (
    AccountOption,
    Connection,
    JsonOption,
    dec,
    enum_text,
    print_json,
    remote,
    show,
    table,
    utc,
)

DEFAULT_ACCOUNT = "main"

orders_app = typer.Typer(
    name="orders",
    help="List, submit, amend and cancel orders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_STATUS_STYLE = {
    "FILLED": "green",
    "PARTIALLY_FILLED": "cyan",
    "DENIED": "red",
    "REJECTED": "red",
    "CANCELED": "dim",
    "EXPIRED": "dim",
}


def orders_table(orders: list[Any], title: str | None = None) -> Any:
    t = table(
        "client order id",
        "instrument",
        "side",
        "type",
        "qty",
        "price",
        "filled",
        "avg px",
        "status",
        "reason",
        title=title,
    )
    for o in orders:
        status = enum_text(o.status)
        style = _STATUS_STYLE.get(status)
        t.add_row(
            o.client_order_id,
            o.instrument_id,
            enum_text(o.side),
            enum_text(o.order_type),
            dec(o.quantity),
            dec(o.price if o.price is not None else o.trigger_price),
            dec(o.filled_quantity),
            dec(o.average_fill_price),
            f"[{style}]{status}[/]" if style else status,
            o.reason or "",
        )
    return t


def _print_order(order: Any, json_: bool, verb: str) -> None:
    if json_:
        print_json(order)
        return
    show(f"{verb} [bold]{order.client_order_id}[/]: {enum_text(order.status)}")
    show(orders_table([order]))
    if order.detail:
        from rich.markup import escape  # (a venue's message may hold [brackets])

        show(escape(f"{order.reason}: {order.detail}"))


@orders_app.callback()
def _orders() -> None:
    """List, submit, amend and cancel orders."""


@orders_app.command("list")
@remote
def list_orders(
    conn: Connection,
    account: AccountOption = DEFAULT_ACCOUNT,
    instrument: Annotated[str, typer.Option("--instrument", "-i", help="Only this instrument.")] = "",
    strategy: Annotated[str, typer.Option("--strategy", help="Only this strategy.")] = "",
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Only these statuses (repeatable), e.g. FILLED.")
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only working orders.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="The N most recent orders.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Every matching order (overrides -n).")] = False,
    json_: JsonOption = False,
) -> None:
    """The most recent orders (-n, default 50) or --all, oldest first (the latest at the bottom)."""
    with conn.client() as client:
        filters = dict(
            account_id=account,
            instrument_id=instrument,
            strategy_id=strategy,
            statuses=status or (),
            open_only=open_only,
        )
        if all_:
            orders, more = client.list_orders(**filters), False
        else:
            # One more than shown says whether older orders were left out.
            latest = client.list_orders(**filters, limit=limit + 1, newest_first=True)
            more = len(latest) > limit
            orders = latest[:limit][::-1]
    if json_:
        print_json(orders)
        return
    title = f"{len(orders)} orders · account {account}"
    if more:
        title = f"the last {len(orders)} orders · account {account} (older: -n N or --all)"
    show(orders_table(orders, title=title))


@orders_app.command("get")
@remote
def get_order(
    conn: Connection,
    client_order_id: Annotated[str, typer.Argument(help="The order's client order id.")],
    account: AccountOption = DEFAULT_ACCOUNT,
    json_: JsonOption = False,
) -> None:
    """One order by its client order id."""
    with conn.client() as client:
        order = client.get_order(client_order_id, account_id=account)
    _print_order(order, json_, "order")


@orders_app.command("submit")
@remote
def submit_order(
    conn: Connection,
    instrument: Annotated[str, typer.Argument(help="Instrument id, e.g. SIM:BTC-USD.")],
    side: Annotated[str, typer.Argument(help="buy or sell.")],
    quantity: Annotated[str, typer.Argument(help="Quantity as a decimal, e.g. 0.01.")],
    price: Annotated[str | None, typer.Option("--price", "-p", help="Limit price (omit: market).")] = None,
    trigger: Annotated[str | None, typer.Option("--trigger", help="Stop trigger price.")] = None,
    order_type: Annotated[
        str | None,
        typer.Option("--type", help="market, limit, stop_market, stop_limit (default: from prices)"),
    ] = None,
    tif: Annotated[
        str | None, typer.Option("--tif", help="gtc, ioc, fok, gtd (default: ioc market, else gtc)")
    ] = None,
    client_order_id: Annotated[
        str | None, typer.Option("--id", help="Client order id (a retry with the same id is safe).")
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", help="Strategy id (default: manual).")] = "",
    post_only: Annotated[bool, typer.Option("--post-only", help="Maker only.")] = False,
    reduce_only: Annotated[bool, typer.Option("--reduce-only", help="Only reduce a position.")] = False,
    account: AccountOption = DEFAULT_ACCOUNT,
    json_: JsonOption = False,
) -> None:
    """Submit an order: `algotrendy orders submit SIM:BTC-USD buy 0.01 --price 65000`."""
    with conn.client() as client:
        order = client.submit_order(
            instrument,
            side,
            quantity,
            price,
            order_type=order_type,
            trigger_price=trigger,
            time_in_force=tif,
            client_order_id=client_order_id,
            account_id=account,
            strategy_id=strategy,
            post_only=post_only,
            reduce_only=reduce_only,
        )
    _print_order(order, json_, "submitted")


@orders_app.command("amend")
@remote
def amend_order(
    conn: Connection,
    client_order_id: Annotated[str, typer.Argument(help="The working order's client order id.")],
    quantity: Annotated[str | None, typer.Option("--qty", "--quantity", help="New quantity.")] = None,
    price: Annotated[str | None, typer.Option("--price", "-p", help="New limit price.")] = None,
    trigger: Annotated[str | None, typer.Option("--trigger", help="New trigger price.")] = None,
    account: AccountOption = DEFAULT_ACCOUNT,
    json_: JsonOption = False,
) -> None:
    """Change a working order's quantity and/or prices."""
    with conn.client() as client:
        order = client.amend_order(
            client_order_id, quantity=quantity, price=price, trigger_price=trigger, account_id=account
        )
    _print_order(order, json_, "amended")


@orders_app.command("cancel")
@remote
def cancel_order(
    conn: Connection,
    client_order_id: Annotated[str, typer.Argument(help="The working order's client order id.")],
    account: AccountOption = DEFAULT_ACCOUNT,
    json_: JsonOption = False,
) -> None:
    """Cancel one working order (works while HALTED)."""
    with conn.client() as client:
        order = client.cancel_order(client_order_id, account_id=account)
    _print_order(order, json_, "cancel requested")


@orders_app.command("cancel-all")
@remote
def cancel_all_orders(
    conn: Connection,
    instrument: Annotated[str, typer.Option("--instrument", "-i", help="Only this instrument.")] = "",
    side: Annotated[str | None, typer.Option("--side", help="Only buy or sell orders.")] = None,
    account: AccountOption = DEFAULT_ACCOUNT,
    json_: JsonOption = False,
) -> None:
    """Cancel every working order of the account (optionally one instrument and/or side)."""
    with conn.client() as client:
        orders = client.cancel_all_orders(instrument_id=instrument, side=side, account_id=account)
    if json_:
        print_json(orders)
    else:
        show(orders_table(orders, title=f"cancel requested for {len(orders)} orders"))


@remote
def positions(
    conn: Connection,
    account: AccountOption = DEFAULT_ACCOUNT,
    instrument: Annotated[str, typer.Option("--instrument", "-i", help="Only this instrument.")] = "",
    json_: JsonOption = False,
) -> None:
    """Open positions with average entry, mark and PnL."""
    with conn.client() as client:
        items = client.positions(account_id=account, instrument_id=instrument)
    if json_:
        print_json(items)
        return
    t = table(
        "instrument", "qty", "avg entry", "mark", "realised", "unrealised", "ccy", title=f"account {account}"
    )
    for p in items:
        t.add_row(
            p.instrument_id,
            dec(p.quantity),
            dec(p.average_entry_price),
            dec(p.mark_price),
            dec(p.realised_pnl),
            dec(p.unrealised_pnl),
            p.currency,
        )
    show(t if items else f"no open positions · account {account}")


@remote
def balances(conn: Connection, account: AccountOption = DEFAULT_ACCOUNT, json_: JsonOption = False) -> None:
    """Balance of every asset of the account."""
    with conn.client() as client:
        result = client.balances(account_id=account)
    if json_:
        print_json(result)
        return
    t = table("asset", "total", title=f"account {result.account_id}")
    for b in result.balances:
        t.add_row(b.asset, dec(b.total))
    show(t)


@remote
def pnl(conn: Connection, account: AccountOption = DEFAULT_ACCOUNT, json_: JsonOption = False) -> None:
    """Realised and unrealised PnL, fees, equity, day-start and peak equity."""
    with conn.client() as client:
        result = client.pnl(account_id=account)
    if json_:
        print_json(result)
        return
    t = table("", result.currency, title=f"account {result.account_id} · {utc(result.ts_ns)} UTC")
    for label, value in (
        ("realised", result.realised_pnl),
        ("unrealised", result.unrealised_pnl),
        ("fees", result.fees),
        ("equity", result.equity),
        ("day-start equity", result.day_start_equity),
        ("peak equity", result.peak_equity),
    ):
        t.add_row(label, dec(value))
    show(t)


@remote
def instruments(
    conn: Connection,
    venue: Annotated[str, typer.Option("--venue", help="Only this venue, e.g. SIM.")] = "",
    json_: JsonOption = False,
) -> None:
    """Instruments with tick and lot sizes, minimums and fees."""
    with conn.client() as client:
        items = client.instruments(venue)
    if json_:
        print_json(items)
        return
    t = table("instrument", "kind", "tick", "lot", "min qty", "min notional", "maker", "taker", "tradable")
    for i in items:
        t.add_row(
            i.instrument_id,
            i.kind,
            dec(i.price_increment),
            dec(i.size_increment),
            dec(i.min_quantity),
            dec(i.min_notional),
            dec(i.maker_fee),
            dec(i.taker_fee),
            "yes" if i.tradable else "no",
        )
    show(t)


@remote
def book_show(
    conn: Connection,
    instrument: Annotated[str, typer.Argument(help="Instrument id, e.g. SIM:BTC-USD.")],
    depth: Annotated[int, typer.Option("--depth", "-d", min=1, max=1000, help="Levels per side.")] = 10,
    json_: JsonOption = False,
) -> None:
    """The live L2 order book of an instrument: asks above, bids below."""
    with conn.client() as client:
        book = client.order_book(instrument, depth)
    if json_:
        print_json(book)
        return
    show(render_book(book))


def render_book(book: Any) -> Any:
    """Asks above (best last), bids below (best first), a header line with the book's sequence and time."""
    from rich.console import Group

    t = table("", "price", "size")
    for level in reversed(book.asks):
        t.add_row("[red]ask[/]", dec(level.price), dec(level.size))
    if book.bids and book.asks:
        t.add_row("", f"[dim]spread {dec(book.asks[0].price - book.bids[0].price)}[/]", "")
    for level in book.bids:
        t.add_row("[green]bid[/]", dec(level.price), dec(level.size))
    sequence = f" · seq {book.sequence}" if book.sequence >= 0 else ""
    crossed = " · [bold red]CROSSED[/]" if book.crossed else ""
    return Group(f"[bold]{book.instrument_id}[/]{sequence} · {utc(book.ts_ns)} UTC{crossed}", t)
