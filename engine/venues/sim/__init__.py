"""The simulated venue: compiled matching (``engine.ext.matching``), accounts, latency, market data,
an agent-based market simulator for offline runs, and paper trading against an external book.

The app constructs and drives these; nothing here imports gRPC or the app.
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
