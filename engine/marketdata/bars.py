"""Time bars built from trades, exactly, with a documented rule for late trades.

A :class:`BarAggregator` turns one instrument's ``TradeTick`` stream into ``Bar`` events for one
interval. Intervals are aligned to the Unix epoch: a bar covers ``[k * interval, (k + 1) * interval)``
of **trade time** (``ts_event``), so the same trades give the same bars live, in a replay and in a
backtest. ``ts_open`` is the start of that range and the bar's ``ts_event`` its end (exclusive);
``ts_init`` is the ``ts_init`` of whatever closed it (the first trade of a later interval, or the
``now_ns`` given to :meth:`BarAggregator.on_time`).

**Exact.** Prices and sizes are kept as integers at the instrument's precision: open/high/low/close
are trade prices, ``volume`` the integer sum of sizes, ``trade_count`` the count. The notional
``sum(price_raw * size_raw)`` is an unbounded Python int, so the VWAP is computed exactly as a
rational and rounded once, half-to-even, to **price precision + 4** decimals (``VWAP_EXTRA_DIGITS``;
capped at 18): a VWAP is an average, not a tradable price, so it is not forced onto the tick grid,
and 4 more digits keep it within 1/20000 of a tick of the true value.

**When a bar closes.** The open bar closes when a trade of a later interval arrives, or when the
loop calls ``on_time(now_ns)`` with ``now_ns`` at or after the bar's end (the engine does that on a
timer so quiet markets still close their bars). An interval without trades produces no bar (there is
no price to report; a flat bar would invent one).

**Late trades** (a trade whose ``ts_event`` is before the open bar's start — or, with no open bar,
before the end of the last closed bar):

- If it falls in the **last closed bar** and arrives within ``grace_ns`` of that bar's end —
  measured on the aggregator's watermark, the latest trade time or ``now_ns`` it has seen, so a
  replay decides exactly as live did — the bar is amended (high/low/volume/VWAP/count; open or close
  only when the late trade's time is before the first or at/after the last trade's time) and
  re-published with ``revision`` incremented. Consumers replace the bar with the same ``ts_open``.
- Anything older (an earlier bar, or past the grace window) is **dropped and counted** in
  ``late_dropped``. Bars are never re-opened further back: a strategy that already acted on a bar
  two intervals ago cannot un-act, and a bounded memory of one closed bar keeps the aggregator O(1).

Precision: give the instrument's ``price_precision``/``size_precision`` and every trade is rescaled
to them exactly (one that would lose digits raises ``ValueError``: off the instrument's grid). Without
them the aggregator follows the trades, widening to the finest precision seen so far (``"0.5"`` then
``"0.25"`` -> 2 decimals), so a bar's precision is that of the finest trade up to its close.

:class:`BarService` attaches aggregators to a bus: it subscribes to ``data.trades.<instrument_id>``
(or ``data.trades.*``) and publishes every bar (and revision) on ``data.bars.<instrument_id>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from engine.core.events import Bar, TradeTick
from engine.core.fixed import MAX_PRECISION, Price, Quantity
from engine.core.ids import InstrumentId

__all__ = [
    "TOPIC_BARS",
    "VWAP_EXTRA_DIGITS",
    "BarAggregator",
    "BarService",
    "BarStats",
    "Publisher",
    "format_interval",
    "parse_interval",
]

#: Bus topic prefix of bars: ``data.bars.<instrument_id>``.
TOPIC_BARS = "data.bars"
TOPIC_TRADES = "data.trades"
#: Decimal places a VWAP carries beyond the instrument's price precision.
VWAP_EXTRA_DIGITS = 4

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_INTERVAL = re.compile(r"^\s*(\d+)\s*(ns|us|ms|s|m|h|d)\s*$")


def parse_interval(text: str | int) -> int:
    """``"1m"`` -> 60_000_000_000; an int is taken as nanoseconds. Units: ns us ms s m h d."""
    if isinstance(text, int):
        if text <= 0:
            raise ValueError(f"interval must be positive, got {text}")
        return text
    m = _INTERVAL.match(text)
    if not m or int(m.group(1)) <= 0:
        raise ValueError(
            f"interval {text!r}: expected a positive number and a unit (ns us ms s m h d), e.g. 1m"
        )
    return int(m.group(1)) * _UNITS_NS[m.group(2)]


def format_interval(interval_ns: int) -> str:
    """The shortest exact spelling: 60_000_000_000 -> ``1m``."""
    for unit in ("d", "h", "m", "s", "ms", "us"):
        size = _UNITS_NS[unit]
        if interval_ns % size == 0:
            return f"{interval_ns // size}{unit}"
    return f"{interval_ns}ns"


@dataclass(slots=True)
class BarStats:
    trades: int = 0
    bars: int = 0
    revisions: int = 0
    #: Late trades outside the grace window (or older than the last closed bar): dropped.
    late_dropped: int = 0


@dataclass(slots=True)
class _Acc:
    """One bar under construction (or the last closed one, kept for late amendments)."""

    ts_open: int
    open: int
    high: int
    low: int
    close: int
    first_ts: int
    last_ts: int
    volume: int
    notional: int
    count: int
    revision: int = 0


class BarAggregator:
    """Trades of one instrument -> bars of one interval (see the module docstring for the rules)."""

    __slots__ = (
        "_bars",
        "_closed",
        "_emit",
        "_late_dropped",
        "_open",
        "_open_end",
        "_pinned",
        "_price_precision",
        "_revisions",
        "_size_precision",
        "_trades",
        "_vwap_precision",
        "_watermark",
        "grace_ns",
        "instrument_id",
        "interval_ns",
    )

    def __init__(
        self,
        instrument_id: InstrumentId,
        interval_ns: int,
        emit: Callable[[Bar], object],
        *,
        grace_ns: int = 0,
        price_precision: int | None = None,
        size_precision: int | None = None,
    ) -> None:
        if type(interval_ns) is not int or interval_ns <= 0:
            raise ValueError(f"interval_ns must be a positive int, got {interval_ns!r}")
        if grace_ns < 0:
            raise ValueError(f"grace_ns must not be negative, got {grace_ns}")
        self.instrument_id = instrument_id
        self.interval_ns = interval_ns
        self.grace_ns = grace_ns
        self._emit = emit
        if (price_precision is None) != (size_precision is None):
            raise ValueError("give both price_precision and size_precision, or neither")
        #: Precisions given by the caller (the instrument's) are fixed; otherwise they follow the trades.
        self._pinned = price_precision is not None
        self._price_precision = price_precision
        self._size_precision = size_precision
        self._vwap_precision = (
            None if price_precision is None else min(price_precision + VWAP_EXTRA_DIGITS, MAX_PRECISION)
        )
        self._open: _Acc | None = None
        self._open_end = 0
        self._closed: _Acc | None = None
        self._watermark = -(1 << 63)
        self._trades = self._bars = self._revisions = self._late_dropped = 0

    @property
    def stats(self) -> BarStats:
        return BarStats(self._trades, self._bars, self._revisions, self._late_dropped)

    @property
    def open_bar_start_ns(self) -> int | None:
        return None if self._open is None else self._open.ts_open

    def on_trade(self, trade: TradeTick) -> None:
        price = trade.price
        size = trade.size
        pp = self._price_precision
        sp = self._size_precision
        if price._precision != pp or size._precision != sp:
            pp, sp = self._adopt(price._precision, size._precision)
            price_raw = price._raw if price._precision == pp else price.with_precision(pp)._raw
            size_raw = size._raw if size._precision == sp else size.with_precision(sp)._raw
        else:
            price_raw = price._raw
            size_raw = size._raw
        ts = trade.ts_event
        self._trades += 1
        if ts > self._watermark:  # noqa: PLR1730 - a compare is cheaper than a max() call here
            self._watermark = ts
        bar = self._open
        if bar is not None:
            if ts >= bar.ts_open:
                if ts < self._open_end:
                    # The hot path: a trade of the open bar.
                    if price_raw > bar.high:
                        bar.high = price_raw
                    elif price_raw < bar.low:
                        bar.low = price_raw
                    if ts >= bar.last_ts:
                        bar.close = price_raw
                        bar.last_ts = ts
                    elif ts < bar.first_ts:
                        bar.open = price_raw
                        bar.first_ts = ts
                    bar.volume += size_raw
                    bar.notional += price_raw * size_raw
                    bar.count += 1
                    return
                self._close_open(trade.ts_init)
            else:
                self._late(ts, price_raw, size_raw, trade.ts_init)
                return
        elif self._closed is not None and ts < self._closed.ts_open + self.interval_ns:
            self._late(ts, price_raw, size_raw, trade.ts_init)
            return
        start = ts - ts % self.interval_ns
        self._open_end = start + self.interval_ns
        self._open = _Acc(
            start, price_raw, price_raw, price_raw, price_raw, ts, ts, size_raw, price_raw * size_raw, 1
        )

    def on_time(self, now_ns: int) -> None:
        """Close the open bar if ``now_ns`` is at or past its end (timer-driven close for quiet markets)."""
        self._watermark = max(self._watermark, now_ns)
        bar = self._open
        if bar is not None and now_ns >= self._open_end:
            self._close_open(now_ns)

    def flush(self, ts_init: int) -> None:
        """Close the open bar now, whatever the time (end of a replay or recording)."""
        if self._open is not None:
            self._close_open(ts_init)

    # -- internals ---------------------------------------------------------------------------
    def _adopt(self, price_precision: int, size_precision: int) -> tuple[int, int]:
        """The precisions to use for a trade that differs from the current ones.

        Pinned precisions (given at construction) never change: the trade is rescaled to them and
        one that would lose digits raises. Inferred ones (from the trades) widen to the finer of the
        two, and the open and last closed bar are rescaled exactly with them.
        """
        pp, sp = self._price_precision, self._size_precision
        if self._pinned:
            return pp, sp  # type: ignore[return-value]
        new_pp = price_precision if pp is None else max(pp, price_precision)
        new_sp = size_precision if sp is None else max(sp, size_precision)
        if pp is not None and sp is not None and (new_pp, new_sp) != (pp, sp):
            fp, fs = 10 ** (new_pp - pp), 10 ** (new_sp - sp)
            for acc in (self._open, self._closed):
                if acc is not None:
                    acc.open *= fp
                    acc.high *= fp
                    acc.low *= fp
                    acc.close *= fp
                    acc.volume *= fs
                    acc.notional *= fp * fs
        self._price_precision, self._size_precision = new_pp, new_sp
        self._vwap_precision = min(new_pp + VWAP_EXTRA_DIGITS, MAX_PRECISION)
        return new_pp, new_sp

    def _close_open(self, ts_init: int) -> None:
        bar = self._open
        assert bar is not None
        self._open = None
        self._closed = bar
        self._bars += 1
        self._emit(self._bar(bar, ts_init))

    def _late(self, ts: int, price_raw: int, size_raw: int, ts_init: int) -> None:
        bar = self._closed
        end = None if bar is None else bar.ts_open + self.interval_ns
        if bar is None or ts < bar.ts_open or ts >= end or self._watermark - end >= self.grace_ns:  # type: ignore[operator]
            self._late_dropped += 1
            return
        bar.high = max(bar.high, price_raw)
        bar.low = min(bar.low, price_raw)
        if ts < bar.first_ts:
            bar.open = price_raw
            bar.first_ts = ts
        if ts >= bar.last_ts:
            bar.close = price_raw
            bar.last_ts = ts
        bar.volume += size_raw
        bar.notional += price_raw * size_raw
        bar.count += 1
        bar.revision += 1
        self._revisions += 1
        self._emit(self._bar(bar, ts_init))

    def _bar(self, acc: _Acc, ts_init: int) -> Bar:
        pp = self._price_precision
        sp = self._size_precision
        vp = self._vwap_precision
        assert pp is not None and sp is not None and vp is not None
        vwap = None
        if acc.volume > 0:
            # notional has pp + sp decimals, volume sp: vwap at vp decimals = notional * 10**(vp-pp) / volume.
            num = acc.notional * 10 ** (vp - pp)
            q, r = divmod(num, acc.volume)
            twice = 2 * r
            if twice > acc.volume or (twice == acc.volume and q & 1):
                q += 1
            vwap = Price.from_raw(q, vp)
        return Bar(
            ts_event=acc.ts_open + self.interval_ns,
            ts_init=ts_init,
            instrument_id=self.instrument_id,
            interval_ns=self.interval_ns,
            ts_open=acc.ts_open,
            open=Price.from_raw(acc.open, pp),
            high=Price.from_raw(acc.high, pp),
            low=Price.from_raw(acc.low, pp),
            close=Price.from_raw(acc.close, pp),
            volume=Quantity.from_raw(acc.volume, sp),
            trade_count=acc.count,
            vwap=vwap,
            revision=acc.revision,
        )


class Publisher(Protocol):
    """Anything with ``publish(topic, message)``: the engine's ``MessageBus``, a recorder, a list."""

    def publish(self, topic: str, message: object) -> object: ...


@dataclass(slots=True)
class BarService:
    """Bars for every instrument that trades on a bus, for each configured interval.

    ``subscribe(bus)`` listens on ``data.trades.*``; an aggregator per (instrument, interval) is
    created on the instrument's first trade (precision from that trade unless ``precisions`` gives
    the instrument's). Bars go out on ``data.bars.<instrument_id>``. Call ``on_time(now_ns)`` from a
    timer (``timer_interval_ns``) so bars close without waiting for the next trade.
    """

    bus: Publisher
    intervals_ns: tuple[int, ...]
    grace_ns: int = 0
    precisions: dict[InstrumentId, tuple[int, int]] = field(default_factory=dict)
    aggregators: dict[InstrumentId, list[BarAggregator]] = field(default_factory=dict)

    def subscribe(self, bus: object, instruments: Iterable[InstrumentId] | None = None) -> None:
        sub = bus.subscribe  # type: ignore[attr-defined]
        if instruments is None:
            sub(f"{TOPIC_TRADES}.*", self.on_trade)
        else:
            for instrument_id in instruments:
                sub(f"{TOPIC_TRADES}.{instrument_id}", self.on_trade)

    def on_trade(self, trade: TradeTick) -> None:
        aggs = self.aggregators.get(trade.instrument_id)
        if aggs is None:
            aggs = self._create(trade.instrument_id)
        for agg in aggs:
            agg.on_trade(trade)

    def on_time(self, now_ns: int) -> None:
        for aggs in self.aggregators.values():
            for agg in aggs:
                agg.on_time(now_ns)

    def flush(self, ts_init: int) -> None:
        for aggs in self.aggregators.values():
            for agg in aggs:
                agg.flush(ts_init)

    def stats(self) -> BarStats:
        total = BarStats()
        for aggs in self.aggregators.values():
            for agg in aggs:
                total.trades += agg.stats.trades
                total.bars += agg.stats.bars
                total.revisions += agg.stats.revisions
                total.late_dropped += agg.stats.late_dropped
        return total

    def _create(self, instrument_id: InstrumentId) -> list[BarAggregator]:
        topic = f"{TOPIC_BARS}.{instrument_id}"
        publish = self.bus.publish
        pp, sp = self.precisions.get(instrument_id, (None, None))

        def emit(bar: Bar) -> None:
            publish(topic, bar)

        aggs = [
            BarAggregator(
                instrument_id, interval, emit, grace_ns=self.grace_ns, price_precision=pp, size_precision=sp
            )
            for interval in self.intervals_ns
        ]
        self.aggregators[instrument_id] = aggs
        return aggs
