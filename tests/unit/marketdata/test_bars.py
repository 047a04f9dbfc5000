"""Bars from trades: exact OHLCV/VWAP against an independent reference, late trades, timers, the bus."""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.bus import MessageBus
from engine.core.enums import Side
from engine.core.events import Bar, TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import InstrumentId, TradeId
from engine.marketdata.bars import (
    VWAP_EXTRA_DIGITS,
    BarAggregator,
    BarService,
    format_interval,
    parse_interval,
)
from engine.store.codec import CODEC

IID = InstrumentId("SIM:BTC-USD")
S = 1_000_000_000
M = 60 * S


def trade(ts: int, price: str, size: str, n: int = 0, *, iid: InstrumentId = IID) -> TradeTick:
    return TradeTick(
        ts_event=ts,
        ts_init=ts + 5,
        instrument_id=iid,
        price=Price(price),
        size=Quantity(size),
        aggressor_side=Side.BUY,
        trade_id=TradeId(f"t{n}"),
    )


def collect(interval: int = M, grace: int = 0, **kw) -> tuple[BarAggregator, list[Bar]]:
    out: list[Bar] = []
    return BarAggregator(IID, interval, out.append, grace_ns=grace, **kw), out


def test_parse_and_format_interval() -> None:
    assert parse_interval("1m") == M and parse_interval("250ms") == 250_000_000 and parse_interval(5) == 5
    assert format_interval(M) == "1m" and format_interval(90 * S) == "90s" and format_interval(7) == "7ns"
    for bad in ("", "1x", "0s", "-1m", "m"):
        with pytest.raises(ValueError):
            parse_interval(bad)


def test_bar_when_trades_span_intervals_then_ohlcv_vwap_exact() -> None:
    agg, bars = collect()
    agg.on_trade(trade(10 * M + 1, "100.00", "0.5"))
    agg.on_trade(trade(10 * M + 2, "101.50", "0.25"))
    agg.on_trade(trade(10 * M + 3, "99.25", "1.0"))
    agg.on_trade(trade(10 * M + 4, "100.10", "0.3"))
    assert bars == []  # still open
    agg.on_trade(trade(12 * M + 7, "102.00", "1"))  # skips an empty interval: no bar for 11m
    assert len(bars) == 1
    bar = bars[0]
    assert (bar.ts_open, bar.ts_event, bar.ts_init) == (10 * M, 11 * M, 12 * M + 12)
    assert (bar.open, bar.high, bar.low, bar.close) == (
        Price("100.00"),
        Price("101.50"),
        Price("99.25"),
        Price("100.10"),
    )
    assert bar.volume == Quantity("2.05") and bar.trade_count == 4 and bar.revision == 0
    # 204.655 / 2.05 = 99.83170731... -> 6 decimals (2 + 4) half-even
    assert bar.vwap == Price("99.831707") and bar.vwap.precision == 2 + VWAP_EXTRA_DIGITS
    agg.flush(99)
    assert len(bars) == 2 and bars[1].ts_open == 12 * M and bars[1].ts_init == 99


def test_bar_when_out_of_order_inside_open_bar_then_open_close_by_time() -> None:
    agg, bars = collect()
    agg.on_trade(trade(5 * S, "10", "1"))
    agg.on_trade(trade(2 * S, "9", "1"))  # earlier in the same bar: becomes the open
    agg.on_trade(trade(50 * S, "11", "1"))
    agg.on_trade(trade(40 * S, "12", "1"))  # earlier than the last: not the close
    agg.flush(0)
    assert (bars[0].open, bars[0].close, bars[0].high, bars[0].low) == (
        Price("9"),
        Price("11"),
        Price("12"),
        Price("9"),
    )


def test_bar_when_late_trade_within_grace_then_revision_reemitted() -> None:
    agg, bars = collect(grace=2 * S)
    agg.on_trade(trade(10 * S, "100", "1"))
    agg.on_trade(trade(M + 1 * S, "101", "1"))  # closes bar 0
    agg.on_trade(trade(30 * S, "105", "2", 3))  # late, watermark 61 s < 60 s + 2 s grace: amend
    assert [b.revision for b in bars] == [0, 1]
    amended = bars[1]
    assert amended.ts_open == 0 and amended.high == Price("105") and amended.close == Price("105")
    assert amended.volume == Quantity("3") and amended.trade_count == 2
    assert amended.vwap == Price("103.3333")
    assert agg.stats.revisions == 1 and agg.stats.late_dropped == 0
    agg.on_trade(trade(M + 3 * S, "101", "1"))  # watermark 63 s: the grace window is over
    agg.on_trade(trade(59 * S, "1", "1"))
    assert len(bars) == 2 and agg.stats.late_dropped == 1


def test_bar_when_late_trade_older_than_last_closed_bar_then_dropped_and_counted() -> None:
    agg, bars = collect(grace=10 * M)
    agg.on_trade(trade(0, "100", "1"))
    agg.on_trade(trade(M, "100", "1"))
    agg.on_trade(trade(2 * M, "100", "1"))  # closes bar 1m; bar 0 is no longer amendable
    agg.on_trade(trade(30 * S, "1", "1"))
    assert agg.stats.late_dropped == 1 and [b.ts_open for b in bars] == [0, M]


def test_bar_when_timer_closes_then_late_trade_amends_within_grace() -> None:
    agg, bars = collect(grace=5 * S)
    agg.on_trade(trade(10 * S, "100", "1"))
    agg.on_time(M - 1)
    assert bars == []
    agg.on_time(M + S)  # quiet market: the timer closes the bar
    assert len(bars) == 1 and bars[0].ts_init == M + S
    agg.on_trade(trade(59 * S, "90", "1"))  # late, no open bar, within grace
    assert bars[-1].revision == 1 and bars[-1].low == Price("90") and bars[-1].close == Price("90")
    agg.on_time(M + 6 * S)
    agg.on_trade(trade(59 * S, "80", "1"))
    assert agg.stats.late_dropped == 1 and len(bars) == 2


def test_bar_when_precision_differs_then_rescaled_exactly() -> None:
    agg, bars = collect(price_precision=2, size_precision=3)
    agg.on_trade(trade(1, "100.5", "1"))
    agg.on_trade(trade(2, "100.25", "0.125"))
    agg.flush(0)
    assert (
        bars[0].open.precision == 2 and bars[0].volume == Quantity("1.125") and bars[0].volume.precision == 3
    )
    with pytest.raises(ValueError):
        agg.on_trade(trade(3, "100.001", "1"))


def test_bar_codec_round_trip_with_vwap_and_revision() -> None:
    agg, bars = collect(grace=M)
    agg.on_trade(trade(1, "100.01", "0.3"))
    agg.on_trade(trade(M + 1, "100.02", "0.1"))
    agg.on_trade(trade(2, "100.03", "0.1"))
    for bar in bars:
        assert CODEC.decode(CODEC.encode(bar)) == bar
    assert bars[-1].revision == 1


def test_bar_service_when_bus_trades_then_bars_published_per_instrument() -> None:
    bus = MessageBus()
    bus.bind_to_current_thread()
    got: dict[str, list[Bar]] = defaultdict(list)
    bus.subscribe("data.bars.*", lambda bar: got[str(bar.instrument_id)].append(bar))
    service = BarService(bus, (M, 5 * M))
    service.subscribe(bus)
    other = InstrumentId("SIM:ETH-USD")
    for i in range(12):
        bus.publish(f"data.trades.{IID}", trade(i * M + 1, "100", "1", i))
        bus.publish(f"data.trades.{other}", trade(i * M + 2, "10", "2", i, iid=other))
    service.on_time(12 * M)
    assert [b.ts_open for b in got[str(IID)] if b.interval_ns == M] == [i * M for i in range(12)]
    assert [b.ts_open for b in got[str(IID)] if b.interval_ns == 5 * M] == [0, 5 * M]
    five = [b for b in got[str(other)] if b.interval_ns == 5 * M]
    assert five[0].volume == Quantity("10") and five[0].trade_count == 5
    assert service.stats().trades == 48 and service.stats().bars == 2 * (12 + 2)


# -- property: the aggregator equals an independent reference -----------------------------------
trade_lists = st.lists(
    st.tuples(
        st.integers(0, 10 * M),  # ts
        st.integers(1, 10_000_000),  # price ticks (precision 2)
        st.integers(1, 100_000),  # size lots (precision 3)
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(trades=trade_lists, interval=st.sampled_from([S, M, 7 * S + 3]))
def test_bar_when_sorted_trades_then_equal_to_reference(trades, interval) -> None:
    trades = sorted(trades, key=lambda t: t[0])
    agg, bars = collect(interval)
    for n, (ts, p, q) in enumerate(trades):
        agg.on_trade(trade(ts, str(Decimal(p).scaleb(-2)), str(Decimal(q).scaleb(-3)), n))
    agg.flush(0)
    groups: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for t in trades:
        groups[t[0] // interval * interval].append(t)
    assert [b.ts_open for b in bars] == sorted(groups)
    for bar in bars:
        g = groups[bar.ts_open]
        prices = [p for _, p, _ in g]
        vol = sum(q for _, _, q in g)
        assert bar.open.raw == prices[0] and bar.close.raw == prices[-1]
        assert bar.high.raw == max(prices) and bar.low.raw == min(prices)
        assert bar.volume.raw == vol and bar.trade_count == len(g)
        # Reference VWAP: the exact rational (Fraction), rounded half-even to 6 decimals (2 + 4) by
        # Decimal with enough digits that the division itself is exact to well past the 6th place.
        exact = Fraction(sum(p * q for _, p, q in g), vol) / 100
        ctx = Context(prec=60)
        ref = ctx.divide(Decimal(exact.numerator), Decimal(exact.denominator))
        assert bar.vwap is not None
        assert bar.vwap.as_decimal() == ref.quantize(Decimal("0.000001"), ROUND_HALF_EVEN)


def test_bar_when_precision_inferred_then_widens_to_finest_trade() -> None:
    agg, bars = collect(grace=M)
    agg.on_trade(trade(1, "100.5", "1"))
    agg.on_trade(trade(M + 1, "100", "2"))  # closes bar 0 at 1 decimal
    agg.on_trade(trade(M + 2, "100.25", "0.125"))  # widens the open bar
    agg.on_trade(trade(3, "100.125", "0.5"))  # late: the closed bar is widened too
    agg.flush(0)
    assert bars[0].close == Price("100.5") and bars[0].close.precision == 1
    assert bars[1].revision == 1 and bars[1].low == Price("100.125") and bars[1].volume == Quantity("1.5")
    assert bars[2].volume == Quantity("2.125") and bars[2].volume.precision == 3
    assert bars[2].vwap == Price("100.0147059")  # 212.53125 / 2.125 = 100.01470588..., at 3 + 4 decimals


def test_bar_when_vwap_exactly_half_then_rounds_to_even() -> None:
    # vwap = 1 + b / 20000 with integer prices (4 decimals): b = 1 -> 1.00005 -> 1.0000 (even),
    # b = 3 -> 1.00015 -> 1.0002 (even), b = 2 -> 1.0001 exact.
    for b, expected in ((1, "1.0000"), (3, "1.0002"), (2, "1.0001")):
        agg, bars = collect()
        agg.on_trade(trade(1, "1", str(20_000 - b)))
        agg.on_trade(trade(2, "2", str(b)))
        agg.flush(0)
        assert bars[0].vwap == Price(expected) and bars[0].vwap.precision == 4
