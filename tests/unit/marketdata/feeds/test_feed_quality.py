"""Cross-venue mid divergence alerts/metric and reference-price failover, on a test clock."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import CollectorRegistry

from engine.core.clock import TestClock
from engine.core.enums import InstrumentKind
from engine.core.events import DataQualityAlert, QuoteTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.marketdata.feeds.quality import DivergenceMonitor, ReferencePrices

MS = 1_000_000
BIN, OKX, KRA = (InstrumentId(i) for i in ("BINANCE:BTCUSDT", "OKX:BTC-USDT", "KRAKEN:XBT/USDT"))


def _quote(iid: InstrumentId, bid: str, ask: str, ts: int, size: str = "1") -> QuoteTick:
    return QuoteTick(
        ts_event=ts,
        ts_init=ts,
        instrument_id=iid,
        bid_price=Price(bid),
        bid_size=Quantity(size),
        ask_price=Price(ask),
        ask_size=Quantity(size),
    )


def _monitor(
    clock: TestClock, alerts: list[DataQualityAlert], registry: CollectorRegistry
) -> DivergenceMonitor:
    monitor = DivergenceMonitor(
        max_divergence_bps=50, max_age_ns=1_000 * MS, clock=clock, on_alert=alerts.append, registry=registry
    )
    for iid in (BIN, OKX, KRA):
        monitor.register(iid, "BTC/USDT")
    return monitor


def test_divergence_when_one_venue_leaves_the_median_then_one_alert_metric_and_recovery() -> None:
    clock, alerts, registry = TestClock(10**18), [], CollectorRegistry()
    monitor = _monitor(clock, alerts, registry)
    now = clock.timestamp_ns()
    assert monitor.on_quote(_quote(BIN, "60000", "60001", now)) is None  # fewer than 3 venues
    monitor.on_quote(_quote(OKX, "60002", "60003", now))
    assert monitor.on_quote(_quote(KRA, "60001", "60002", now)) == Decimal("0.00")
    # Kraken's mid moves 0.6 % away: 60360.5 vs median 60002.5 -> 59.66 bps > 50
    bps = monitor.on_quote(_quote(KRA, "60360", "60361", now))
    assert bps == Decimal("59.66")
    assert [(a.kind, a.venue, a.value) for a in alerts] == [("MID_DIVERGENCE", "KRAKEN", "59.66")]
    assert (
        registry.get_sample_value(
            "algotrendy_feed_mid_divergence_bps", {"venue": "KRAKEN", "symbol": "BTC/USDT"}
        )
        == 59.66
    )
    assert (
        registry.get_sample_value(
            "algotrendy_feed_divergence_alerts_total", {"venue": "KRAKEN", "symbol": "BTC/USDT"}
        )
        == 1.0
    )
    monitor.on_quote(_quote(KRA, "60361", "60362", now))  # still diverging: no second alert
    assert len(alerts) == 1
    monitor.on_quote(_quote(KRA, "60001", "60002", now))
    assert [a.kind for a in alerts] == ["MID_DIVERGENCE", "MID_CONVERGED"]
    assert KRA not in monitor.diverging


def test_divergence_when_other_venues_are_stale_then_not_judged() -> None:
    clock, alerts, registry = TestClock(10**18), [], CollectorRegistry()
    monitor = _monitor(clock, alerts, registry)
    t0 = clock.timestamp_ns()
    monitor.on_quote(_quote(BIN, "60000", "60001", t0))
    monitor.on_quote(_quote(OKX, "60002", "60003", t0))
    clock.advance(2_000 * MS)  # both older than max_age
    assert monitor.on_quote(_quote(KRA, "61000", "61001", clock.timestamp_ns())) is None
    assert alerts == []


def _instrument(iid: InstrumentId, tick: str, lot: str) -> Instrument:
    return Instrument(
        id=iid,
        kind=InstrumentKind.SPOT,
        base="BTC",
        quote="USDT",
        settlement="USDT",
        price_increment=Price(tick),
        size_increment=Quantity(lot),
        min_quantity=Quantity(lot),
    )


def test_reference_when_primary_goes_stale_then_fails_over_and_back() -> None:
    clock = TestClock(10**18)
    forwarded: list[QuoteTick] = []
    alerts: list[DataQualityAlert] = []
    instruments = {BIN: _instrument(BIN, "0.01", "0.00001"), OKX: _instrument(OKX, "0.1", "0.00000001")}
    refs = ReferencePrices(
        instruments=instruments.__getitem__,
        max_age_ns=500 * MS,
        clock=clock,
        on_reference=forwarded.append,
        on_alert=alerts.append,
    )
    refs.add_route(BIN, [BIN, OKX])
    t0 = clock.timestamp_ns()
    refs.on_quote(_quote(BIN, "60000.01", "60000.02", t0))
    refs.on_quote(_quote(OKX, "60000.1", "60000.2", t0))  # not forwarded: the primary is fresh
    assert [q.instrument_id for q in forwarded] == [BIN] and alerts == []
    clock.advance(600 * MS)
    refs.on_quote(_quote(OKX, "60001.1", "60001.3", clock.timestamp_ns(), size="0.000004567"))
    assert refs.selected[BIN] == OKX
    assert [a.kind for a in alerts] == ["REFERENCE_FAILOVER"]
    failover = forwarded[-1]
    assert failover.instrument_id == BIN  # on the target's id and grid, source's times
    assert failover.bid_price == Price("60001.10") and failover.ask_price == Price("60001.30")
    assert failover.bid_size == Quantity("0.00001")  # rounded down to one lot, never zero
    assert failover.ts_init == clock.timestamp_ns()
    refs.on_quote(_quote(BIN, "60002.00", "60002.01", clock.timestamp_ns()))
    assert refs.selected[BIN] == BIN and forwarded[-1].bid_price == Price("60002.00")
    assert [a.kind for a in alerts] == ["REFERENCE_FAILOVER", "REFERENCE_FAILOVER"]


def test_reference_when_source_unhealthy_then_skipped_and_when_none_usable_then_nothing_forwarded() -> None:
    clock = TestClock(10**18)
    forwarded: list[QuoteTick] = []
    alerts: list[DataQualityAlert] = []
    unhealthy = {BIN}
    instruments = {BIN: _instrument(BIN, "0.01", "0.00001"), OKX: _instrument(OKX, "0.1", "0.00000001")}
    refs = ReferencePrices(
        instruments=instruments.__getitem__,
        max_age_ns=500 * MS,
        clock=clock,
        on_reference=forwarded.append,
        on_alert=alerts.append,
        is_healthy=lambda iid: iid not in unhealthy,
    )
    refs.add_route(BIN, [BIN, OKX])
    refs.on_quote(_quote(BIN, "60000.01", "60000.02", clock.timestamp_ns()))
    assert forwarded == []  # the primary is unhealthy (diverging / circuit open) and nothing else yet
    refs.on_quote(_quote(OKX, "59999.95", "60000.05", clock.timestamp_ns()))
    # bid rounded down, ask rounded up onto the 0.01 grid? 59999.95 and 60000.05 are on it already
    assert forwarded[-1].bid_price == Price("59999.95") and refs.selected[BIN] == OKX
    clock.advance(600 * MS)
    refs.check()
    assert refs.selected[BIN] is None and alerts[-1].detail.endswith("-> none")
