"""``algotrendy stream market|orders|positions``: live tables, or JSON lines with ``--json``.

Order events and position updates resume by sequence after a disconnect (the SDK reconnects with
``from_sequence = last seen + 1``, no gap, no duplicate), so a stream survives an engine restart;
market data resubscribes. ``--count N`` / ``--duration S`` stop the stream (exit 0) for scripts;
otherwise Ctrl-C stops it (exit 0).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from ops.connect import Connection, JsonOption, dec, enum_text, print_json_line, remote, table, utc

app = typer.Typer(
    name="stream",
    help="Live market data, order events or position updates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CountOption = Annotated[int | None, typer.Option("--count", "-n", min=1, help="Stop after N events.")]
DurationOption = Annotated[float | None, typer.Option("--duration", min=0.1, help="Stop after S seconds.")]
ROWS = 20


@app.callback()
def _stream() -> None:
    """Live market data, order events or position updates."""


def _bounded(items: Iterator[Any], count: int | None, duration_s: float | None) -> Iterator[Any]:
    """At most ``count`` items, until ``duration_s`` passed (checked as items arrive; heartbeats
    keep arriving on a quiet stream)."""
    deadline = None if duration_s is None else time.monotonic() + duration_s
    seen = 0
    try:
        for item in items:
            if deadline is not None and time.monotonic() >= deadline:
                return
            yield item
            seen += 1
            if count is not None and seen >= count:
                return
    except KeyboardInterrupt:
        return


def _live(render: Any) -> Any:
    from rich.live import Live

    return Live(render(), auto_refresh=False, transient=False)


@app.command("market")
@remote
def market(
    conn: Connection,
    instruments: Annotated[list[str], typer.Argument(help="Instrument ids, e.g. SIM:BTC-USD.")],
    channel: Annotated[
        list[str] | None,
        typer.Option(
            "--channel",
            "-c",
            help="trades, bbo, book[:DEPTH], bars:INTERVAL, indicator:NAME:INTERVAL[:k=v] (repeatable) "
            " (default: trades and bbo)",
        ),
    ] = None,
    count: CountOption = None,
    duration: DurationOption = None,
    json_: JsonOption = False,
) -> None:
    """Trades, best bid/offer, books, bars and indicators as they happen."""
    from algotrendy_sdk.types import Bar, BestBidOffer, BookUpdate, IndicatorValue, Trade, TradesSkipped

    channels = channel or ["trades", "bbo"]
    with conn.client() as client:
        batches = client.stream_market_data(instruments, channels)

        def events() -> Iterator[Any]:
            for batch in batches:
                yield from batch.events

        if json_:
            for event in _bounded(events(), count, duration):
                print_json_line({"type": type(event).__name__, **_fields(event)})
            return
        bbo: dict[str, Any] = {}
        trades: collections.deque[Any] = collections.deque(maxlen=ROWS)
        other: collections.deque[str] = collections.deque(maxlen=8)

        def render() -> Any:
            from rich.console import Group

            quotes = table(
                "instrument", "bid size", "bid", "ask", "ask size", "time (UTC)", title="best bid / offer"
            )
            for name in instruments:
                q = bbo.get(name)
                if q is not None:
                    quotes.add_row(
                        name,
                        dec(q.bid_size),
                        f"[green]{dec(q.bid_price)}[/]",
                        f"[red]{dec(q.ask_price)}[/]",
                        dec(q.ask_size),
                        utc(q.ts_event_ns),
                    )
            tape = table("time (UTC)", "instrument", "side", "price", "size", title="trades")
            for t in reversed(trades):
                side = enum_text(t.aggressor_side)
                style = "green" if side == "BUY" else "red" if side == "SELL" else ""
                tape.add_row(
                    utc(t.ts_event_ns),
                    t.instrument_id,
                    f"[{style}]{side}[/]" if style else side,
                    dec(t.price),
                    dec(t.size),
                )
            return Group(quotes, tape, *other)

        with _live(render) as live:
            for event in _bounded(events(), count, duration):
                if isinstance(event, BestBidOffer):
                    bbo[event.instrument_id] = event
                elif isinstance(event, Trade):
                    trades.append(event)
                elif isinstance(event, Bar):
                    other.append(
                        f"bar {event.instrument_id} {utc(event.ts_open_ns)} O {dec(event.open)} H {dec(event.high)} "
                        f"L {dec(event.low)} C {dec(event.close)} V {dec(event.volume)}"
                    )
                elif isinstance(event, IndicatorValue):
                    values = " ".join(f"{k}={v:.6g}" for k, v in event.values.items())
                    other.append(f"{event.indicator} {event.instrument_id} {utc(event.ts_open_ns)} {values}")
                elif isinstance(event, BookUpdate):
                    from ops.trading_cmd import render_book

                    other.clear()
                    other.append(render_book(event))  # type: ignore[arg-type]
                elif isinstance(event, TradesSkipped):
                    other.append(
                        f"[yellow]{event.count} trades skipped on {event.instrument_id} (slow consumer)[/]"
                    )
                live.update(render(), refresh=True)


def _fields(event: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}


@app.command("orders")
@remote
def orders(
    conn: Connection,
    account: Annotated[
        str, typer.Option("--account", "-a", help="Only this account (default: every account).")
    ] = "",
    instrument: Annotated[str, typer.Option("--instrument", "-i", help="Only this instrument.")] = "",
    from_sequence: Annotated[
        int,
        typer.Option(
            "--from-sequence", min=0, help="0 = live only; N = every event from sequence N, then live."
        ),
    ] = 0,
    count: CountOption = None,
    duration: DurationOption = None,
    json_: JsonOption = False,
) -> None:
    """Order events (submitted, accepted, filled, canceled ...) in sequence order."""
    with conn.client() as client:
        events = client.stream_order_events(
            account_id=account, instrument_id=instrument, from_sequence=from_sequence
        )
        if json_:
            for event in _bounded(events, count, duration):
                print_json_line(event)
            return
        rows: collections.deque[Any] = collections.deque(maxlen=ROWS)

        def render() -> Any:
            t = table(
                "seq",
                "time (UTC)",
                "event",
                "client order id",
                "instrument",
                "side",
                "qty",
                "price",
                "detail",
                title="order events",
            )
            for e in rows:
                qty = e.last_quantity if e.kind == "FILLED" else e.quantity
                price = e.last_price if e.kind == "FILLED" else e.price
                t.add_row(
                    str(e.sequence),
                    utc(e.ts_event_ns),
                    e.kind,
                    e.client_order_id,
                    e.instrument_id,
                    enum_text(e.side) if e.side else "",
                    dec(qty) if qty is not None else "",
                    dec(price) if price is not None else "",
                    e.reason or e.detail or e.venue_order_id,
                )
            return t

        with _live(render) as live:
            for event in _bounded(events, count, duration):
                rows.append(event)
                live.update(render(), refresh=True)


@app.command("positions")
@remote
def positions(
    conn: Connection,
    account: Annotated[
        str, typer.Option("--account", "-a", help="Only this account (default: every account).")
    ] = "",
    instrument: Annotated[str, typer.Option("--instrument", "-i", help="Only this instrument.")] = "",
    from_sequence: Annotated[
        int,
        typer.Option(
            "--from-sequence", min=0, help="0 = live only; N = every fill from sequence N, then live."
        ),
    ] = 0,
    count: CountOption = None,
    duration: DurationOption = None,
    json_: JsonOption = False,
) -> None:
    """The position after every fill, in sequence order."""
    with conn.client() as client:
        updates = client.stream_positions(
            account_id=account, instrument_id=instrument, from_sequence=from_sequence
        )
        if json_:
            for update in _bounded(updates, count, duration):
                print_json_line(update)
            return
        latest: dict[tuple[str, str], Any] = {}

        def render() -> Any:
            t = table(
                "seq", "account", "instrument", "qty", "avg entry", "realised", "last fill", title="positions"
            )
            for u in latest.values():
                p = u.position
                t.add_row(
                    str(u.sequence),
                    p.account_id,
                    p.instrument_id,
                    dec(p.quantity),
                    dec(p.average_entry_price),
                    dec(p.realised_pnl),
                    u.client_order_id,
                )
            return t

        with _live(render) as live:
            for update in _bounded(updates, count, duration):
                latest[(update.position.account_id, update.position.instrument_id)] = update
                live.update(render(), refresh=True)
