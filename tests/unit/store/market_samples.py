"""Market-data samples for the recording/replay/QuestDB tests: one instrument and a mix of every kind."""

from __future__ import annotations

from engine.core.enums import InstrumentKind, Side
from engine.core.events import Bar, Event, QuoteTick, TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import InstrumentId, TradeId
from engine.core.instruments import Instrument
from engine.marketdata.io.records import OrderBookDeltas

IID = InstrumentId("SIM:BTC-USD")
S = 1_000_000_000


def instrument(iid: InstrumentId = IID) -> Instrument:
    return Instrument(
        id=iid,
        kind=InstrumentKind.SPOT,
        base="BTC",
        quote="USD",
        settlement="USD",
        price_increment=Price("0.01"),
        size_increment=Quantity("0.001"),
        min_quantity=Quantity("0.001"),
    )


def market_events(n: int, *, start: int = 0, step: int = S // 10, iid: InstrumentId = IID) -> list[Event]:
    """A deterministic mix of every recorded kind."""
    out: list[Event] = []
    for i in range(n):
        ts = start + i * step
        k = i % 4
        price = Price.from_raw(5_000_000 + (i * 37) % 1000, 2)
        if k == 0:
            out.append(
                TradeTick(
                    ts_event=ts - 7,
                    ts_init=ts,
                    instrument_id=iid,
                    price=price,
                    size=Quantity.from_raw(1 + i % 50, 3),
                    aggressor_side=Side.BUY if i % 8 else Side.SELL,
                    trade_id=TradeId(f"t{i}"),
                )
            )
        elif k == 1:
            out.append(
                QuoteTick(
                    ts_event=ts,
                    ts_init=ts,
                    instrument_id=iid,
                    bid_price=price,
                    bid_size=Quantity.from_raw(i + 1, 3),
                    ask_price=Price.from_raw(price.raw + 1, 2),
                    ask_size=Quantity.from_raw(2 * i + 1, 3),
                )
            )
        elif k == 2:
            out.append(
                OrderBookDeltas(
                    ts_event=ts,
                    ts_init=ts,
                    instrument_id=iid,
                    bid_ticks=(price.raw, price.raw - 1),
                    bid_lots=(i, 0),
                    ask_ticks=(price.raw + 2,),
                    ask_lots=(5,),
                    sequence=i,
                    is_snapshot=i % 40 == 2,
                )
            )
        else:
            out.append(
                Bar(
                    ts_event=ts,
                    ts_init=ts,
                    instrument_id=iid,
                    interval_ns=S,
                    ts_open=ts - S,
                    open=price,
                    high=price,
                    low=price,
                    close=price,
                    volume=Quantity.from_raw(i, 3),
                    trade_count=i,
                    vwap=Price.from_raw(price.raw * 100 + 3, 6),
                    revision=i % 3,
                )
            )
    return out
