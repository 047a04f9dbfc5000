"""Internal tick-to-order latency on the real engine components, on uvloop.

One iteration: a quote arrives (market event) -> a strategy stub subscribed on the bus decides to
buy (``OrderManager.submit_nowait``, as a strategy callback does) -> risk gate -> order manager
(OrderInitialized/OrderSubmitted journalled and durable in LMDB before the order leaves: committed
on the loop in the same call with ``async`` -- into the writable map, ``store.writemap``, the async
default --, by the writer thread with ``sync``, the order then leaving from a task) -> the simulated venue -> the venue's acknowledgement applied by the order
manager. Timed from the moment the quote is handed to the engine (the risk gate's reference price,
then the bus) to the OrderAccepted, perf_counter_ns, one order at a time (the loop awaits the
order's future directly, under one timeout for the whole run). The benchmark's stand-in feed builds
each quote from decimal strings just before that (a fresh object with fresh timestamps, as a feed
normalises an exchange message; the feeds benchmark measures that work): ``p50_us`` / ``p99_us``
leave it out, ``*_from_quote_parse_us`` include it (~3-5 us, the definition before this session).

Variants (same run): store durability ``async`` and ``sync``; the venue alone (a real venue keeps
its own books) and the durable simulated venue as wired in the app (which also commits its own
state before it reports, so the crash test can reconcile against it).

Run: make bench BENCH=benchmarks/test_bench_tick_to_order.py
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import uvloop

from engine.app.adapters import JournalAdapter, RiskAdapter
from engine.app.durable_venue import DurableSimVenue
from engine.app.trading import MANUAL_STRATEGY, TradingCore
from engine.bus import MessageBus
from engine.config import load_config
from engine.core import AccountId, ClientOrderId, InstrumentId, OrderType, Price, Quantity, Side, TimeInForce
from engine.core.clock import LiveClock
from engine.core.commands import SubmitOrder
from engine.core.events import OrderAccepted, OrderEvent, QuoteTick, TradeTick
from engine.oms.manager import OrderManager
from engine.store import LmdbStore
from engine.store.persistence import Persistence
from engine.venues.sim import SimVenue, SimVenueConfig

RESULTS = Path(__file__).parent / "results" / "tick_to_order.json"
BTC = InstrumentId("SIM:BTC-USD")
ACCOUNT = AccountId("main")
WARMUP = 300
SAMPLES = 3000
_results: dict[str, dict[str, float]] = {}


async def _measure(
    durability: str, durable_venue: bool, cpu_ns: list[int], with_parse: list[list[int]]
) -> list[int]:
    """Latencies (ns) of ``SAMPLES`` orders; appends the CPU time per order (ns) to ``cpu_ns`` and
    the latencies counted from the quote's parsing to ``with_parse``."""
    config = load_config(
        env={},
        overrides={
            "risk.max_orders_per_second": 1_000_000,
            "risk.order_burst": 1_000_000,
            "risk.strategy_max_orders_per_second": 1_000_000,
            "risk.strategy_order_burst": 1_000_000,
            "risk.max_open_orders": 1_000_000,
        },
    )
    clock = LiveClock()
    loop = asyncio.get_running_loop()
    bus = MessageBus()
    bus.bind_to_current_thread()
    with tempfile.TemporaryDirectory() as tmp:
        store = LmdbStore(Path(tmp) / "lmdb", map_size_mb=4096, durability=durability)
        store.open(clock.timestamp_ns())
        core = TradingCore(config, store, bus, clock, on_invariant_violation=lambda exc: None)
        persistence = Persistence(store, clock=clock.timestamp_ns)
        persistence.start()
        risk = core._build_risk()
        instruments = list(core.instruments.values())
        venue = SimVenue(instruments, clock, SimVenueConfig(accounts={"main": {"USD": "100000000"}}))
        acked: dict[str, asyncio.Future[int]] = {}
        oms: OrderManager

        def on_report(event: Any) -> None:
            # As ``TradingCore._on_venue_event`` routes the venue's reports (its portfolio and bus
            # publication aside): market data to the gate's reference prices, order events applied
            # (the simulated venue's reports are the receiver's own: sequenced in place).
            if isinstance(event, OrderEvent):
                oms.on_order_event(event, owned=True)
            elif isinstance(event, QuoteTick):
                oms.on_quote(event)
            elif isinstance(event, TradeTick):
                oms.on_trade(event)

        port: Any = venue
        if durable_venue:
            port = DurableSimVenue(
                venue, persistence.state, persistence.writer, on_report, clock.timestamp_ns
            )
            # As the app starts it (``TradingCore._build_venue``): a first snapshot, then every input
            # logged -- without this the "durable" variant would log nothing and commit nothing.
            port.restore(None)
        else:
            venue.set_event_handler(on_report)
        oms = OrderManager(
            clock=clock,
            venue=port,
            risk=RiskAdapter(risk),
            journal=JournalAdapter(persistence.journal),
            instruments=instruments,
        )

        def on_order_event(event: Any) -> None:
            if isinstance(event, OrderAccepted):
                future = acked.pop(event.client_order_id, None)
                if future is not None and not future.done():
                    future.set_result(time.perf_counter_ns())

        oms.subscribe(on_order_event)
        venue.start()
        counter = 0
        #: The future of the order the last quote sent (the timed loop awaits it; no id lookup).
        pending: list[asyncio.Future[int]] = []
        quantity = Quantity("0.001")  # a strategy's constants are built once, not per event
        offset = Price("5.0")

        def strategy_stub(quote: QuoteTick) -> None:
            """Buy 1 lot 50 ticks below the bid on every quote (rests: the venue acknowledges)."""
            nonlocal counter
            counter += 1
            coid = ClientOrderId(f"b-{counter}")
            acked[coid] = future = loop.create_future()
            pending.append(future)
            oms.submit_nowait(
                SubmitOrder(
                    ts_init=quote.ts_init,
                    account_id=ACCOUNT,
                    strategy_id=MANUAL_STRATEGY,
                    client_order_id=coid,
                    instrument_id=BTC,
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=quantity,
                    price=quote.bid_price - offset,
                    time_in_force=TimeInForce.GTC,
                )
            )

        bus.subscribe(f"data.quotes.{BTC}", strategy_stub)

        def new_quote() -> QuoteTick:
            """The stand-in feed: a quote parsed from the exchange's decimal strings."""
            now = clock.timestamp_ns()
            return QuoteTick(
                ts_event=now,
                ts_init=now,
                instrument_id=BTC,
                bid_price=Price("65000.0"),
                bid_size=Quantity("1.00000"),
                ask_price=Price("65000.1"),
                ask_size=Quantity("1.00000"),
            )

        def market_event(quote: QuoteTick) -> None:
            oms.on_quote(quote)  # risk gate: reference price and freshness
            bus.publish(f"data.quotes.{BTC}", quote)

        latencies: list[int] = []
        from_parse: list[int] = []
        gc.collect()
        gc.freeze()  # as engine.app does once the engine has started
        # One timeout for the whole run: a per-order ``wait_for`` (a timer handle, a callback and a
        # wrapper future per order, ~5 us) would sit inside the timed window, which is the engine's.
        async with asyncio.timeout(120):
            for i in range(WARMUP + SAMPLES):
                if i == WARMUP:
                    cpu0 = time.process_time_ns()
                t_parse = time.perf_counter_ns()
                quote = new_quote()
                t0 = time.perf_counter_ns()
                market_event(quote)
                t1 = await pending.pop()
                if i >= WARMUP:
                    latencies.append(t1 - t0)
                    from_parse.append(t1 - t_parse)
            # Let the last acknowledgement's own work (its journal commit) finish inside the count.
            await asyncio.sleep(0)
            cpu_ns.append((time.process_time_ns() - cpu0) // SAMPLES)
            with_parse.append(from_parse)
        gc.unfreeze()
        await oms.idle()
        venue.stop()
        await persistence.close()
        store.close(clock.timestamp_ns())
    return latencies


def _summary(latencies: list[int], cpu_ns_per_order: int, from_parse: list[int]) -> dict[str, float]:
    ordered = sorted(latencies)
    with_parse = sorted(from_parse)
    return {
        "samples": len(ordered),
        "p50_us": statistics.median(ordered) / 1e3,
        "p90_us": ordered[int(0.90 * len(ordered)) - 1] / 1e3,
        "p99_us": ordered[int(0.99 * len(ordered)) - 1] / 1e3,
        "max_us": ordered[-1] / 1e3,
        # Process CPU time per order over the timed orders (the loop's work, the writer thread's
        # with sync, and the benchmark's own per-order work): steadier than wall time on a shared
        # machine, and what a change to the order path moves.
        "cpu_us_per_order": cpu_ns_per_order / 1e3,
        "p50_from_quote_parse_us": statistics.median(with_parse) / 1e3,
        "p99_from_quote_parse_us": with_parse[int(0.99 * len(with_parse)) - 1] / 1e3,
    }


@pytest.mark.parametrize("durable_venue", [False, True], ids=["venue", "durable-sim-venue"])
@pytest.mark.parametrize("durability", ["async", "sync"])
def test_bench_tick_to_order(benchmark, durability: str, durable_venue: bool) -> None:
    collected: list[list[int]] = []
    cpu_ns: list[int] = []
    with_parse: list[list[int]] = []

    def run() -> None:
        previous = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)  # as engine.app.serve sets it for the LMDB writer thread
        try:
            collected.append(uvloop.run(_measure(durability, durable_venue, cpu_ns, with_parse)))
        finally:
            sys.setswitchinterval(previous)

    benchmark.pedantic(run, rounds=1, iterations=1)
    summary = _summary(collected[-1], cpu_ns[-1], with_parse[-1])
    benchmark.extra_info.update(summary)
    name = f"{durability}/{'durable-sim-venue' if durable_venue else 'venue'}"
    _results[name] = summary
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(_results, indent=2) + "\n")
    assert summary["samples"] == SAMPLES
