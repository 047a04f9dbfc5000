"""``algotrendy stream market|orders|positions``: live tables, or JSON lines with ``--json``.

Order events and position updates resume by sequence after a disconnect (the SDK reconnects with
``from_sequence = last seen + 1``, no gap, no duplicate), so a stream survives an engine restart;
market data resubscribes. ``--count N`` / ``--duration S`` stop the stream (exit 0) for scripts;
otherwise Ctrl-C stops it (exit 0).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import typer

from ops.connect import (
    Connection,
    JsonOption,
    clock_ms,
    console,
    dec,
    enum_text,
    print_json_line,
    remote,
    table,
    utc,
)

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


def _run(conn: Connection, consume: Callable[[Any], Awaitable[None]], duration_s: float | None) -> None:
    """Run ``consume(async_client)`` until it returns, ``duration_s`` passes or Ctrl-C (all exit 0).

    The streams run on the SDK's ``AsyncClient``: a deadline then also ends a quiet stream, which
    a blocking iterator waiting for its next event could not notice.
    """

    async def main() -> None:
        async with conn.async_client() as client:
            try:
                async with asyncio.timeout(duration_s):
                    await consume(client)
            except TimeoutError:
                return

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


async def _take(items: AsyncIterator[Any], count: int | None) -> AsyncIterator[Any]:
    """At most ``count`` items (all of them when None)."""
    seen = 0
    async for item in items:
        yield item
        seen += 1
        if count is not None and seen >= count:
            return


def _live(render: Any) -> Any:
    from rich.live import Live

    # On the same console as every other table: piped output gets the wide line too.
    return Live(render(), console=console(), auto_refresh=False, transient=False)


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
            help="trades, bbo, book[:DEPTH], bars:INTERVAL, indicator:NAME:INTERVAL[:k=v] (repeatable; "
            "default: trades and bbo)",
        ),
    ] = None,
    count: CountOption = None,
    duration: DurationOption = None,
    json_: JsonOption = False,
) -> None:
    """Trades, best bid/offer, books, bars and indicators as they happen."""
    channels = channel or ["trades", "bbo"]

    async def events(client: Any) -> AsyncIterator[Any]:
        async for batch in client.stream_market_data(instruments, channels):
            for event in batch.events:
                yield event

    async def consume(client: Any) -> None:
        stream = _take(events(client), count)
        if json_:
            async for event in stream:
                print_json_line({"type": type(event).__name__, **_fields(event)})
            return
        view = _MarketView(instruments)
        with _live(view.render) as live:
            async for event in stream:
                view.apply(event)
                live.update(view.render(), refresh=True)

    _run(conn, consume, duration)


class _MarketView:
    """The latest best bid/offer per instrument, the recent trades, and recent bars/indicators/books."""

    def __init__(self, instruments: list[str]) -> None:
        self.instruments = instruments
        self.bbo: dict[str, Any] = {}
        self.trades: collections.deque[Any] = collections.deque(maxlen=ROWS)
        self.other: collections.deque[Any] = collections.deque(maxlen=8)

    def apply(self, event: Any) -> None:
        from algotrendy_sdk.types import Bar, BestBidOffer, BookUpdate, IndicatorValue, Trade, TradesSkipped

        if isinstance(event, BestBidOffer):
            self.bbo[event.instrument_id] = event
        elif isinstance(event, Trade):
            self.trades.append(event)
        elif isinstance(event, Bar):
            self.other.append(
                f"bar {event.instrument_id} {utc(event.ts_open_ns)} O {dec(event.open)} H {dec(event.high)} "
                f"L {dec(event.low)} C {dec(event.close)} V {dec(event.volume)}"
            )
        elif isinstance(event, IndicatorValue):
            values = " ".join(f"{k}={v:.6g}" for k, v in event.values.items())
            self.other.append(f"{event.indicator} {event.instrument_id} {utc(event.ts_open_ns)} {values}")
        elif isinstance(event, BookUpdate):
            from ops.trading_cmd import render_book

            self.other.clear()
            self.other.append(render_book(event))
        elif isinstance(event, TradesSkipped):
            self.other.append(
                f"[yellow]{event.count} trades skipped on {event.instrument_id} (slow consumer)[/]"
            )

    def render(self) -> Any:
        from rich.console import Group

        quotes = table("instrument", "bid size", "bid", "ask", "ask size", "UTC", title="best bid / offer")
        for name in self.instruments:
            q = self.bbo.get(name)
            if q is not None:
                quotes.add_row(
                    name,
                    dec(q.bid_size),
                    f"[green]{dec(q.bid_price)}[/]",
                    f"[red]{dec(q.ask_price)}[/]",
                    dec(q.ask_size),
                    clock_ms(q.ts_event_ns),
                )
        tape = table("UTC", "instrument", "side", "price", "size", title="trades")
        for t in reversed(self.trades):
            side = enum_text(t.aggressor_side)
            style = "green" if side == "BUY" else "red" if side == "SELL" else ""
            tape.add_row(
                clock_ms(t.ts_event_ns),
                t.instrument_id,
                f"[{style}]{side}[/]" if style else side,
                dec(t.price),
                dec(t.size),
            )
        return Group(quotes, tape, *self.other)


def _fields(event: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}


AccountFilter = Annotated[
    str, typer.Option("--account", "-a", help="Only this account (default: every account).")
]
InstrumentFilter = Annotated[str, typer.Option("--instrument", "-i", help="Only this instrument.")]
FromSequence = Annotated[
    int,
    typer.Option("--from-sequence", min=0, help="0 = live only; N = every event from sequence N, then live."),
]


@app.command("orders")
@remote
def orders(
    conn: Connection,
    account: AccountFilter = "",
    instrument: InstrumentFilter = "",
    from_sequence: FromSequence = 0,
    count: CountOption = None,
    duration: DurationOption = None,
    json_: JsonOption = False,
) -> None:
    """Order events (submitted, accepted, filled, canceled ...) in sequence order."""

    async def consume(client: Any) -> None:
        stream = _take(
            client.stream_order_events(
                account_id=account, instrument_id=instrument, from_sequence=from_sequence
            ),
            count,
        )
        if json_:
            async for event in stream:
                print_json_line(event)
            return
        rows: collections.deque[Any] = collections.deque(maxlen=ROWS)

        def render() -> Any:
            t = table(
                "seq",
                "UTC",
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
                    clock_ms(e.ts_event_ns),
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
            async for event in stream:
                rows.append(event)
                live.update(render(), refresh=True)

    _run(conn, consume, duration)


@app.command("positions")
@remote
def positions(
    conn: Connection,
    account: AccountFilter = "",
    instrument: InstrumentFilter = "",
    from_sequence: FromSequence = 0,
    count: CountOption = None,
    duration: DurationOption = None,
    json_: JsonOption = False,
) -> None:
    """The position after every fill, in sequence order."""

    async def consume(client: Any) -> None:
        stream = _take(
            client.stream_positions(
                account_id=account, instrument_id=instrument, from_sequence=from_sequence
            ),
            count,
        )
        if json_:
            async for update in stream:
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
            async for update in stream:
                latest[(update.position.account_id, update.position.instrument_id)] = update
                live.update(render(), refresh=True)

    _run(conn, consume, duration)
