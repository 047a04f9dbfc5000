"""Which venue mode wrote a data directory (``venue/mode``): ``sim``, ``paper:<venue>`` or
``live:<venue>``. The engine refuses to start another mode on it (the journal's open orders belong to
that venue), instead of guessing.

Its own module, apart from ``engine.app.external_venue``: every start checks the mode, and the
simulated venue's start must not import ccxt (about two seconds) to do so.
"""

from __future__ import annotations

from engine.config import EngineConfig
from engine.core.errors import StartupError
from engine.store.state import StateStore

__all__ = ["KEY_MODE", "MODE_TABLE", "check_venue_mode", "venue_mode"]

MODE_TABLE = "venue"
KEY_MODE = "mode"


def venue_mode(config: EngineConfig) -> str:
    """``sim``, ``paper:binance`` or ``live:binance`` (``live-sandbox:`` on a testnet)."""
    venue = config.venue
    if venue.name == "sim":
        return "sim"
    if venue.paper:
        return f"paper:{venue.name}"
    return f"{'live-sandbox' if venue.sandbox else 'live'}:{venue.name}"


def check_venue_mode(state: StateStore, mode: str, *, has_history: bool) -> None:
    """Refuse a data directory written by another venue mode; remember the mode of a new one.

    A directory from before this marker existed (journal history, no mark) was the simulator's."""
    saved = state.get(MODE_TABLE, KEY_MODE)
    if saved is None and has_history:
        saved = "sim"
    if saved is not None and saved != mode:
        raise StartupError(
            f"this data directory belongs to venue mode {saved!r}, not {mode!r}: its open orders live at "
            "that venue. Use another --data-dir for this mode."
        )
    if saved is None:
        state.put(MODE_TABLE, KEY_MODE, mode)
