"""Cross-venue data quality: mid divergence alerts and reference-price failover.

``DivergenceMonitor``: instruments of several venues that quote the same asset pair share a key
(``BTC/USDT``). On every quote it keeps the venue's mid and compares it with the median of the fresh
mids of all venues on that key (at least ``min_venues`` of them); a mid further than
``max_divergence_bps`` from the median raises ``DataQualityAlert(kind="MID_DIVERGENCE")`` once when it
starts diverging (and ``MID_CONVERGED`` when it is back), and always sets the Prometheus gauge
``algotrendy_feed_mid_divergence_bps{venue,symbol}``. Mids are exact decimals (Price); the
divergence in basis points is analytics and is rounded to 0.01 bps.

``ReferencePrices``: the risk gate's price band and market-data age need a reference quote for each
traded instrument. ``add_route(target, sources)`` names the venues allowed to provide it, in order of
preference (normally the target itself first). The selected source is the first one that is fresh
(last quote within ``max_age_ns``) and healthy (not diverging, circuit not open); when the selection
changes an alert ``REFERENCE_FAILOVER`` is raised and the new source's last quote is forwarded at once.
A forwarded quote keeps the source's ``ts_event``/``ts_init`` (so the gate judges the real age of the
data) and is moved onto the target's grid conservatively: bid rounded down, ask rounded up, sizes
rounded down to at least one lot.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from statistics import median

from prometheus_client import CollectorRegistry, Counter, Gauge

from engine.core.clock import Clock
from engine.core.events import DataQualityAlert, QuoteTick
from engine.core.fixed import Quantity
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument

__all__ = ["DivergenceMonitor", "ReferencePrices"]

AlertCallback = Callable[[DataQualityAlert], None]
_BPS = Decimal(10_000)
_CENT = Decimal("0.01")


def _mid(tick: QuoteTick) -> Decimal | None:
    if not tick.bid_size.raw or not tick.ask_size.raw:
        return None
    return (tick.bid_price.as_decimal() + tick.ask_price.as_decimal()) / 2


class DivergenceMonitor:
    def __init__(
        self,
        *,
        max_divergence_bps: int,
        max_age_ns: int,
        clock: Clock,
        on_alert: AlertCallback,
        min_venues: int = 3,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if max_divergence_bps <= 0 or min_venues < 2:
            raise ValueError("max_divergence_bps must be > 0 and min_venues >= 2")
        self._max_bps = Decimal(max_divergence_bps)
        self._max_age_ns = max_age_ns
        self._clock = clock
        self._on_alert = on_alert
        self._min_venues = min_venues
        self._key: dict[InstrumentId, str] = {}
        self._mids: dict[str, dict[InstrumentId, tuple[Decimal, int]]] = {}
        self.diverging: set[InstrumentId] = set()
        registry = registry if registry is not None else CollectorRegistry()
        self.gauge = Gauge(
            "algotrendy_feed_mid_divergence_bps",
            "Distance of a venue's mid from the cross-venue median, in basis points.",
            ["venue", "symbol"],
            registry=registry,
        )
        self.alerts_total = Counter(
            "algotrendy_feed_divergence_alerts",
            "Mid-divergence alerts raised.",
            ["venue", "symbol"],
            registry=registry,
        )

    def register(self, instrument_id: InstrumentId, key: str) -> None:
        """Compare ``instrument_id`` with the other instruments registered under ``key``."""
        self._key[instrument_id] = key
        self._mids.setdefault(key, {})

    def on_quote(self, tick: QuoteTick) -> Decimal | None:
        """Record the mid; returns this venue's divergence in bps when it can be judged."""
        key = self._key.get(tick.instrument_id)
        mid = _mid(tick)
        if key is None or mid is None:
            return None
        mids = self._mids[key]
        mids[tick.instrument_id] = (mid, tick.ts_init)
        now = self._clock.timestamp_ns()
        fresh = {i: m for i, (m, ts) in mids.items() if now - ts <= self._max_age_ns}
        if len(fresh) < self._min_venues or tick.instrument_id not in fresh:
            return None
        centre = median(fresh.values())
        bps = (abs(mid - centre) / centre * _BPS).quantize(_CENT, ROUND_HALF_EVEN)
        iid = tick.instrument_id
        self.gauge.labels(iid.venue, key).set(float(bps))
        if bps > self._max_bps and iid not in self.diverging:
            self.diverging.add(iid)
            self.alerts_total.labels(iid.venue, key).inc()
            self._alert(iid, "MID_DIVERGENCE", f"mid {mid} is {bps} bps from the {key} median {centre}", bps)
        elif bps <= self._max_bps and iid in self.diverging:
            self.diverging.discard(iid)
            self._alert(
                iid, "MID_CONVERGED", f"mid {mid} is back within {self._max_bps} bps of {centre}", bps
            )
        return bps

    def _alert(self, iid: InstrumentId, kind: str, detail: str, bps: Decimal) -> None:
        now = self._clock.timestamp_ns()
        self._on_alert(
            DataQualityAlert(
                ts_event=now,
                ts_init=now,
                venue=iid.venue,
                instrument_id=iid,
                kind=kind,
                detail=detail,
                value=str(bps),
            )
        )


class ReferencePrices:
    def __init__(
        self,
        *,
        instruments: Callable[[InstrumentId], Instrument],
        max_age_ns: int,
        clock: Clock,
        on_reference: Callable[[QuoteTick], None],
        on_alert: AlertCallback,
        is_healthy: Callable[[InstrumentId], bool] = lambda _i: True,
    ) -> None:
        self._instrument = instruments
        self._max_age_ns = max_age_ns
        self._clock = clock
        self._on_reference = on_reference
        self._on_alert = on_alert
        self._is_healthy = is_healthy
        self._routes: dict[InstrumentId, list[InstrumentId]] = {}
        self._targets_of: dict[InstrumentId, list[InstrumentId]] = {}
        self._last: dict[InstrumentId, QuoteTick] = {}
        self.selected: dict[InstrumentId, InstrumentId | None] = {}

    def add_route(self, target: InstrumentId, sources: list[InstrumentId]) -> None:
        if not sources:
            raise ValueError("a reference route needs at least one source")
        self._routes[target] = list(sources)
        self.selected[target] = None
        for source in sources:
            self._targets_of.setdefault(source, []).append(target)

    def on_quote(self, tick: QuoteTick) -> None:
        self._last[tick.instrument_id] = tick
        for target in self._targets_of.get(tick.instrument_id, ()):
            previous = self.selected[target]
            # a changed selection forwards the new source's last quote itself
            if self._select(target) == tick.instrument_id == previous:
                self._forward(target, tick)

    def check(self) -> None:
        """Re-evaluate every route (call periodically: a primary that went silent is replaced)."""
        for target in self._routes:
            self._select(target)

    def _usable(self, source: InstrumentId, now: int) -> bool:
        last = self._last.get(source)
        return last is not None and now - last.ts_init <= self._max_age_ns and self._is_healthy(source)

    def _select(self, target: InstrumentId) -> InstrumentId | None:
        now = self._clock.timestamp_ns()
        chosen = next((s for s in self._routes[target] if self._usable(s, now)), None)
        previous = self.selected[target]
        if chosen != previous:
            self.selected[target] = chosen
            if previous is not None or chosen != self._routes[target][0]:
                self._on_alert(
                    DataQualityAlert(
                        ts_event=now,
                        ts_init=now,
                        venue=target.venue,
                        instrument_id=target,
                        kind="REFERENCE_FAILOVER",
                        detail=f"reference for {target}: {previous or 'none'} -> {chosen or 'none'}",
                    )
                )
            if chosen is not None:
                self._forward(target, self._last[chosen])
        return chosen

    def _forward(self, target: InstrumentId, tick: QuoteTick) -> None:
        if tick.instrument_id != target:
            tick = self._regrid(target, tick)
        self._on_reference(tick)

    def _regrid(self, target: InstrumentId, tick: QuoteTick) -> QuoteTick:
        inst = self._instrument(target)
        step = inst.price_increment.as_decimal()
        bid = (tick.bid_price.as_decimal() / step).to_integral_value(rounding=ROUND_FLOOR)
        ask = (tick.ask_price.as_decimal() / step).to_integral_value(rounding=ROUND_CEILING)
        return QuoteTick(
            ts_event=tick.ts_event,
            ts_init=tick.ts_init,
            instrument_id=target,
            bid_price=inst.ticks_to_price(int(bid)),
            bid_size=self._size(inst, tick.bid_size),
            ask_price=inst.ticks_to_price(int(ask)),
            ask_size=self._size(inst, tick.ask_size),
        )

    @staticmethod
    def _size(inst: Instrument, size: Quantity) -> Quantity:
        if not size.raw:
            return inst.lots_to_quantity(0)
        lots = int(size.as_decimal() / inst.size_increment.as_decimal())
        return inst.lots_to_quantity(max(lots, 1))
