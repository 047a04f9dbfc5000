"""The venue and the simulator on a LiveClock: events arrive via loop callbacks (no threads, no sleeps)."""

from __future__ import annotations

import asyncio

from engine.core.clock import LiveClock
from engine.core.enums import Side
from engine.core.events import OrderAccepted, TradeTick
from engine.venues.sim import (
    MarketSimulator,
    MarketSimulatorConfig,
    SimVenue,
    SimVenueConfig,
    default_instruments,
)


async def test_sim_venue_on_live_clock_when_order_sent_then_ack_arrives_on_the_loop(submit):
    venue = SimVenue(default_instruments(), LiveClock(), SimVenueConfig(accounts={"main": {}}))
    acked: asyncio.Future[OrderAccepted] = asyncio.get_running_loop().create_future()
    venue.set_event_handler(
        lambda e: isinstance(e, OrderAccepted) and not acked.done() and acked.set_result(e)
    )
    venue.start()
    venue.send(submit("l1", Side.BUY, "0.1", "60000.00"))
    assert not acked.done()  # never delivered from inside send()
    event = await asyncio.wait_for(acked, timeout=2.0)
    assert event.client_order_id == "l1"
    venue.stop()


async def test_market_simulator_on_live_clock_when_started_then_trades_print():
    clock = LiveClock()
    venue = SimVenue(default_instruments(), clock)
    trades: list[TradeTick] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_event(event: object) -> None:
        if isinstance(event, TradeTick):
            trades.append(event)
            if len(trades) >= 20 and not done.done():
                done.set_result(None)

    venue.set_event_handler(on_event)
    venue.start()
    sim = MarketSimulator(venue, clock, MarketSimulatorConfig(step_ns=1_000_000))  # 1 ms steps
    sim.start()
    await asyncio.wait_for(done, timeout=5.0)
    sim.stop()
    venue.stop()
    assert sim.steps > 0 and len(trades) >= 20
    assert clock.timer_names() == []
