"""``MarketSimulator``: agent-based order flow on the simulated venue's own matching engines.

Per instrument a latent *fair value* follows a random walk (``volatility_bps`` per step) with
occasional trend regimes; three kinds of agents trade around it on the same L3 books our orders
rest in, so our orders meet their flow:

* **market makers** re-quote a ladder of limit orders around the fair value each time they act
  (cancel-all, then ``levels`` bids and asks), half-spread about a third of a step's volatility, skewed
  against their inventory (long -> quotes shift down) and, near their inventory limit, smaller on
  the side that would grow it (both sides are always quoted, and if a side is still empty at the end
  of a step the first maker re-fills it: a designated market maker's obligation);
* **noise traders** send small market orders or place GTD limit orders at a random distance from
  the fair value (which expire on their own after a random lifetime);
* **momentum traders** follow a fast/slow average of traded prices and send market orders in the
  direction of the trend while their position is within its limit.

Deterministic: one ``random.Random(seed)``, instruments and agents always visited in the same
order; the same seed, configuration and starting venue state give the identical trade tape.
Driven by a clock: ``start()`` sets a repeating timer of ``step_ns`` (``TestClock`` in tests,
``LiveClock`` in the app, whose timer runs on the loop), ``step(ts)`` runs one step directly.
Floats are used only for the agents' decisions; every order is integer ticks and lots.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.core.clock import Clock, TimeEvent
from engine.core.errors import ValidationError
from engine.core.events import TradeTick
from engine.core.fixed import Price
from engine.core.ids import InstrumentId
from engine.ext.matching import engine as mx
from engine.marketdata.book import BookSnapshot
from engine.venues.sim.instruments import initial_prices
from engine.venues.sim.venue import SimVenue

__all__ = ["MarketSimulator", "MarketSimulatorConfig"]


@dataclass(frozen=True, slots=True)
class MarketSimulatorConfig:
    seed: int = 7
    step_ns: int = 100_000_000
    #: Starting fair values (default: ``initial_prices()`` of the default instruments). Instruments
    #: of the venue without one start from their book's mid or last trade, else are not simulated.
    start_prices: Mapping[InstrumentId, Price] = field(default_factory=initial_prices)
    #: Standard deviation of the fair value's return per step, in basis points.
    volatility_bps: float = 0.1
    #: Per-step chance that a trend regime starts; its drift (bps per step) and length (steps).
    trend_probability: float = 0.004
    trend_bps: float = 0.08
    trend_steps: tuple[int, int] = (50, 400)
    market_makers: int = 3
    noise_traders: int = 8
    momentum_traders: int = 2
    #: Quote levels per side and per market maker, and the chance a maker re-quotes in a step.
    levels: int = 5
    requote_probability: float = 0.6
    #: Typical order notional in quote currency (sizes are drawn around it).
    order_notional: float = 2_000.0
    #: Market makers' inventory limit, in multiples of their typical order size.
    inventory_limit: float = 20.0

    def __post_init__(self) -> None:
        if self.step_ns <= 0:
            raise ValidationError("step_ns", "must be positive")
        if self.market_makers < 1:
            raise ValidationError("market_makers", "at least one market maker keeps both sides quoted")
        if self.levels < 1:
            raise ValidationError("levels", "must be >= 1")


class _Instrument:
    """Simulation state of one instrument (floats: decisions only)."""

    __slots__ = (
        "base_lots",
        "fair",
        "fast",
        "iid",
        "last_trade_seen",
        "min_lots",
        "slow",
        "trend_bps",
        "trend_left",
    )

    def __init__(self, iid: InstrumentId, fair_ticks: float, base_lots: int, min_lots: int) -> None:
        self.iid = iid
        self.fair = fair_ticks
        self.base_lots = base_lots
        self.min_lots = min_lots
        self.trend_bps = 0.0
        self.trend_left = 0
        self.fast = fair_ticks
        self.slow = fair_ticks
        self.last_trade_seen = 0


class MarketSimulator:
    """Agent-based order flow for a ``SimVenue`` (see the module docstring)."""

    def __init__(self, venue: SimVenue, clock: Clock, config: MarketSimulatorConfig | None = None) -> None:
        self._venue = venue
        self._clock = clock
        self._config = cfg = config or MarketSimulatorConfig()
        self._rng = random.Random(cfg.seed)
        self._timer = f"market-simulator-{id(self)}"
        self._running = False
        self._steps = 0
        self._makers = [venue.register_agent(f"sim-mm-{i}") for i in range(cfg.market_makers)]
        self._noise = [venue.register_agent(f"sim-noise-{i}") for i in range(cfg.noise_traders)]
        self._momentum = [venue.register_agent(f"sim-momentum-{i}") for i in range(cfg.momentum_traders)]
        self._markets: list[_Instrument] = []
        for instrument in sorted(venue.instruments(), key=lambda i: str(i.id)):
            fair = self._starting_fair_ticks(instrument.id)
            if fair is None:
                continue
            terms = venue.terms(instrument.id)
            price = float(instrument.price_increment.as_decimal()) * fair
            size_step = float(instrument.size_increment.as_decimal() * instrument.multiplier)
            base = max(terms.min_lots, round(cfg.order_notional / (price * size_step)))
            self._markets.append(_Instrument(instrument.id, fair, base, terms.min_lots))

    def _starting_fair_ticks(self, iid: InstrumentId) -> float | None:
        engine = self._venue.matching_engine(iid)
        bid, ask = engine.best_bid(), engine.best_ask()
        if bid and ask:
            return (bid + ask) / 2
        if engine.last_trade_ticks:
            return float(engine.last_trade_ticks)
        start = self._config.start_prices.get(iid)
        if start is None:
            return None
        return float(self._venue.instrument(iid).price_to_ticks(start))

    # == lifecycle ===============================================================================
    @property
    def config(self) -> MarketSimulatorConfig:
        return self._config

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def steps(self) -> int:
        return self._steps

    def instrument_ids(self) -> list[InstrumentId]:
        return [m.iid for m in self._markets]

    def start(self) -> None:
        """Step every ``step_ns`` on the clock's timer (the first step one interval from now)."""
        if self._running:
            return
        self._running = True
        self._clock.set_timer(self._timer, self._config.step_ns, self._on_timer)

    def stop(self) -> None:
        self._running = False
        self._clock.cancel_timer(self._timer)

    def _on_timer(self, event: TimeEvent) -> None:
        self.step(event.ts_event)

    # == market data passthrough =================================================================
    def fair_value(self, iid: InstrumentId) -> Price:
        for m in self._markets:
            if m.iid == iid:
                return self._venue.instrument(iid).ticks_to_price(round(m.fair))
        raise ValidationError("instrument_id", f"{iid} is not simulated")

    def book(self, iid: InstrumentId, depth: int = 10) -> BookSnapshot:
        return self._venue.book(iid, depth)

    def trades(self, iid: InstrumentId, limit: int = 100) -> list[TradeTick]:
        return self._venue.trades(iid, limit)

    # == one step ================================================================================
    def step(self, ts: int) -> None:
        """Advance every simulated instrument by one step at ``ts`` and publish the new quotes."""
        self._steps += 1
        for m in self._markets:
            self._evolve(m)
            self._observe_trades(m)
            for agent in self._makers:
                self._market_maker(m, agent, ts)
            for agent in self._noise:
                self._noise_trader(m, agent, ts)
            for agent in self._momentum:
                self._momentum_trader(m, agent, ts)
            self._backstop(m, ts)
        self._venue.publish_quotes(ts)

    def _backstop(self, m: _Instrument, ts: int) -> None:
        """Designated market maker obligation: the first maker re-fills an emptied side at once."""
        engine, venue = self._venue.matching_engine(m.iid), self._venue
        vol = self._vol_ticks(m)
        bid, ask = engine.best_bid(), engine.best_ask()
        if not bid:
            price = math.floor(m.fair - vol)
            price = min(price, ask - 1) if ask else price
            if price > 0:
                venue.agent_submit(m.iid, self._makers[0], ts, mx.BUY, mx.LIMIT, mx.GTC, m.base_lots, price)
        if not ask:
            price = math.ceil(m.fair + vol)
            bid = engine.best_bid()
            price = max(price, bid + 1) if bid else price
            venue.agent_submit(m.iid, self._makers[0], ts, mx.SELL, mx.LIMIT, mx.GTC, m.base_lots, price)

    def _evolve(self, m: _Instrument) -> None:
        rng, cfg = self._rng, self._config
        if m.trend_left == 0 and rng.random() < cfg.trend_probability:
            m.trend_left = rng.randint(*cfg.trend_steps)
            m.trend_bps = cfg.trend_bps * (1 if rng.random() < 0.5 else -1)
        drift = 0.0
        if m.trend_left:
            m.trend_left -= 1
            drift = m.trend_bps
        m.fair *= math.exp((drift + rng.gauss(0.0, cfg.volatility_bps)) / 1e4)
        m.fair = max(m.fair, 10.0)

    def _vol_ticks(self, m: _Instrument) -> float:
        return max(1.0, m.fair * self._config.volatility_bps / 1e4)

    def _observe_trades(self, m: _Instrument) -> None:
        engine = self._venue.matching_engine(m.iid)
        last = engine.last_trade_ticks
        if last and engine.next_trade_id != m.last_trade_seen:
            m.last_trade_seen = engine.next_trade_id
            m.fast += 0.3 * (last - m.fast)
            m.slow += 0.03 * (last - m.slow)
        else:
            # no new trade: both averages drift towards the fair value slowly
            m.fast += 0.05 * (m.fair - m.fast)
            m.slow += 0.01 * (m.fair - m.slow)

    def _lots(self, m: _Instrument, scale: float) -> int:
        return max(m.min_lots, round(m.base_lots * scale))

    def _market_maker(self, m: _Instrument, agent: int, ts: int) -> None:
        rng, cfg, venue = self._rng, self._config, self._venue
        engine = venue.matching_engine(m.iid)
        if engine.best_bid() and engine.best_ask() and rng.random() > cfg.requote_probability:
            return
        venue.agent_cancel_all(m.iid, ts, agent)
        vol = self._vol_ticks(m)
        limit = cfg.inventory_limit * m.base_lots
        inventory = max(-1.0, min(1.0, engine.position(agent) / limit))  # -1 .. 1 at the limit
        half = max(1.0, 0.3 * vol) * (1.0 + 0.5 * rng.random())
        center = m.fair - inventory * 4.0 * half
        spacing = max(1.0, 0.5 * vol)
        for k in range(cfg.levels):
            size = 1.0 + 0.6 * k + rng.random()
            bid = max(1, math.floor(center - half - k * spacing))
            ask = math.ceil(center + half + k * spacing)
            # Both sides are always quoted; the side that would grow the inventory gets smaller.
            bid_lots = self._lots(m, size * max(0.3, 1.0 - inventory))
            ask_lots = self._lots(m, size * max(0.3, 1.0 + inventory))
            venue.agent_submit(m.iid, agent, ts, mx.BUY, mx.LIMIT, mx.GTC, bid_lots, bid)
            venue.agent_submit(m.iid, agent, ts, mx.SELL, mx.LIMIT, mx.GTC, ask_lots, ask)

    def _noise_trader(self, m: _Instrument, agent: int, ts: int) -> None:
        rng, venue = self._rng, self._venue
        if rng.random() > 0.25:
            return
        side = mx.BUY if rng.random() < 0.5 else mx.SELL
        size = self._lots(m, 0.2 + rng.expovariate(1.0))
        engine = venue.matching_engine(m.iid)
        if rng.random() < 0.3:
            opposite = engine.best_ask() if side == mx.BUY else engine.best_bid()
            if opposite:
                venue.agent_submit(m.iid, agent, ts, side, mx.MARKET, mx.IOC, size)
            return
        offset = rng.expovariate(1.0 / (2.0 * self._vol_ticks(m)))
        price = math.floor(m.fair - offset) if side == mx.BUY else math.ceil(m.fair + offset)
        lifetime_ns = int(rng.expovariate(1.0 / 5.0) * 1e9) + self._config.step_ns
        if price > 0:
            venue.agent_submit(
                m.iid, agent, ts, side, mx.LIMIT, mx.GTD, size, price, expire_ns=ts + lifetime_ns
            )

    def _momentum_trader(self, m: _Instrument, agent: int, ts: int) -> None:
        rng, venue = self._rng, self._venue
        if rng.random() > 0.2:
            return
        signal = (m.fast - m.slow) / self._vol_ticks(m)
        if abs(signal) < 1.0:
            return
        engine = venue.matching_engine(m.iid)
        position = engine.position(agent)
        limit = 10 * m.base_lots
        side = mx.BUY if signal > 0 else mx.SELL
        if (side == mx.BUY and position >= limit) or (side == mx.SELL and position <= -limit):
            return
        opposite = engine.best_ask() if side == mx.BUY else engine.best_bid()
        if opposite:
            venue.agent_submit(m.iid, agent, ts, side, mx.MARKET, mx.IOC, self._lots(m, 0.5 + rng.random()))
