"""MarketSimulator: deterministic (same seed -> same trade tape) and realistic enough for ``make run``."""

from __future__ import annotations

import statistics

from engine.core.clock import TestClock
from engine.core.enums import Side
from engine.core.events import OrderFilled, QuoteTick, TradeTick
from engine.core.ids import AccountId, ClientOrderId, InstrumentId
from engine.venues.sim import (
    MarketSimulator,
    MarketSimulatorConfig,
    SimVenue,
    SimVenueConfig,
    default_instruments,
)

BTC = InstrumentId("SIM:BTC-USD")
STEP = 100_000_000


def _run(seed: int, start_ns: int = 1_700_000_000_000_000_000):
    clock = TestClock(start_ns)
    venue = SimVenue(default_instruments(), clock, SimVenueConfig(accounts={"main": {"USD": "1000000"}}))
    events = []
    venue.set_event_handler(events.append)
    venue.start()
    sim = MarketSimulator(venue, clock, MarketSimulatorConfig(seed=seed, step_ns=STEP))
    sim.start()
    return clock, venue, sim, events


def _tape(events):
    return [(t.ts_event, str(t.instrument_id), str(t.price), str(t.size), t.aggressor_side, str(t.trade_id))
            for t in events if isinstance(t, TradeTick)]  # fmt: skip


def test_market_simulator_when_same_seed_then_identical_trade_tape():
    tapes = []
    for _ in range(2):
        clock, _, _, events = _run(seed=11)
        clock.advance(300 * STEP)
        tapes.append(_tape(events))
    assert tapes[0] == tapes[1]
    assert len(tapes[0]) > 100
    clock, _, _, events = _run(seed=12)
    clock.advance(300 * STEP)
    assert _tape(events) != tapes[0]


def test_market_simulator_when_running_then_books_uncrossed_two_sided_with_tight_spreads_and_trades():
    clock, venue, sim, events = _run(seed=5)
    spreads: dict[InstrumentId, list[int]] = {iid: [] for iid in sim.instrument_ids()}
    for step in range(600):
        clock.advance(STEP)
        for iid in sim.instrument_ids():
            engine = venue.matching_engine(iid)
            bid, ask = engine.best_bid(), engine.best_ask()
            assert bid and ask, (step, iid)  # both sides populated
            assert bid < ask, (step, iid)  # never crossed
            spreads[iid].append(ask - bid)
            if step % 100 == 0:
                engine.check_invariants()
    assert sim.steps == 600
    for iid, values in spreads.items():
        book = venue.book(iid, 10)
        assert len(book.bids) >= 5 and len(book.asks) >= 5, iid  # depth on both sides
        assert statistics.median(values) <= 25, (iid, statistics.median(values))  # a few ticks
        trades = [e for e in events if isinstance(e, TradeTick) and e.instrument_id == iid]
        assert len(trades) > 300, iid
        assert {t.aggressor_side for t in trades} == {Side.BUY, Side.SELL}
    assert any(isinstance(e, QuoteTick) for e in events)


def test_market_simulator_when_trend_regime_then_price_moves_over_time():
    config = MarketSimulatorConfig(seed=2, trend_probability=1.0, trend_bps=1.0, trend_steps=(500, 500))
    clock = TestClock(0)
    venue = SimVenue(default_instruments(), clock)
    sim = MarketSimulator(venue, clock, config)
    start = sim.fair_value(BTC)
    for i in range(1, 301):
        sim.step(i * STEP)
    moved = abs(sim.fair_value(BTC).as_decimal() - start.as_decimal()) / start.as_decimal()
    assert moved > 0.01  # 300 steps x 1 bp of drift ~ 3 %
    last = venue.trades(BTC, 1)[0].price.as_decimal()
    assert abs(last - sim.fair_value(BTC).as_decimal()) / last < 0.002  # the book follows the fair value


def test_market_simulator_when_our_order_rests_at_the_touch_then_flow_fills_it(submit):
    clock, venue, _, events = _run(seed=9)
    clock.advance(20 * STEP)
    bid = venue.book(BTC, 1).bids[0][0]
    venue.apply(submit("ours", Side.BUY, "0.01", str(bid)))
    clock.advance(600 * STEP)
    state = venue.order(AccountId("main"), ClientOrderId("ours"))
    assert state.filled_quantity.raw > 0
    assert any(isinstance(e, OrderFilled) and e.client_order_id == "ours" for e in events)


def test_market_simulator_stop_when_stopped_then_no_more_steps():
    clock, _, sim, _ = _run(seed=1)
    clock.advance(5 * STEP)
    assert sim.steps == 5
    sim.stop()
    clock.advance(5 * STEP)
    assert sim.steps == 5 and not sim.is_running
