"""The simulated venue: compiled matching (``engine.ext.matching``), accounts, latency, market data,
an agent-based market simulator for offline runs, and paper trading against an external book.

The app constructs and drives these; nothing here imports gRPC or the app. On the loop thread::

    clock = LiveClock()
    venue = SimVenue(default_instruments(), clock, SimVenueConfig(accounts={"main": {"USD": "100000"}}),
                     on_event=publish)            # order events, TradeTick, QuoteTick
    simulator = MarketSimulator(venue, clock)     # agents trade on the venue's own books
    venue.start(); simulator.start()              # clock alerts/timers; no threads
    venue.send(SubmitOrder(...))                  # events arrive later through on_event
    venue.book(instrument_id, depth)              # BookSnapshot (Price/Quantity levels)
    venue.trades(instrument_id, limit)            # recent TradeTicks
    state = venue.snapshot()                      # JSON-ready; SimVenue(...).restore(state)
    venue.order(account_id, client_order_id)      # reconciliation by client order id
    simulator.stop(); venue.stop()
"""

from engine.venues.sim.instruments import default_instruments, initial_prices
from engine.venues.sim.paper import PaperVenue, PaperVenueConfig
from engine.venues.sim.reasons import REASON_DETAILS, VenueReason
from engine.venues.sim.simulator import MarketSimulator, MarketSimulatorConfig
from engine.venues.sim.terms import InstrumentTerms
from engine.venues.sim.venue import SimFill, SimOrderState, SimPosition, SimVenue, SimVenueConfig

__all__ = [
    "REASON_DETAILS",
    "InstrumentTerms",
    "MarketSimulator",
    "MarketSimulatorConfig",
    "PaperVenue",
    "PaperVenueConfig",
    "SimFill",
    "SimOrderState",
    "SimPosition",
    "SimVenue",
    "SimVenueConfig",
    "VenueReason",
    "default_instruments",
    "initial_prices",
]
