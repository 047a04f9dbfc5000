"""SimVenue persistence (snapshot/restore, exact round trip), reconciliation lookups and latency."""

from __future__ import annotations

import json

import pytest

from engine.core.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.core.errors import UnavailableError, ValidationError
from engine.core.events import OrderAccepted, OrderFilled
from engine.core.fixed import Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId
from engine.venues.sim import (
    MarketSimulator,
    MarketSimulatorConfig,
    SimVenue,
    SimVenueConfig,
    default_instruments,
)

MAIN = AccountId("main")
BTC = InstrumentId("SIM:BTC-USD")
CONFIG = SimVenueConfig(
    accounts={"main": {"USD": "1000000", "BTC": "10"}, "mm": {"USD": "1000000", "BTC": "10"}}
)


def _busy_venue(clock, submit) -> SimVenue:
    venue = SimVenue(default_instruments(), clock, CONFIG)
    sim = MarketSimulator(venue, clock, MarketSimulatorConfig(seed=3))
    for _ in range(40):
        clock.advance(100_000_000)
        sim.step(clock.timestamp_ns())
    top = venue.matching_engine(BTC)
    bid = venue.instrument(BTC).ticks_to_price(top.best_bid())
    venue.apply(submit("rest", Side.BUY, "0.05", str(bid)))
    venue.apply(submit("take", Side.SELL, "0.02"))
    venue.apply(submit("stop", Side.SELL, "0.01", order_type=OrderType.STOP_MARKET, trigger="1000.00"))
    venue.apply(
        submit(
            "gtd",
            Side.SELL,
            "0.01",
            "99999.00",
            tif=TimeInForce.GTD,
            expire_at_ns=clock.timestamp_ns() + 10**12,
        )
    )
    venue.apply(submit("rej", Side.BUY, "0.000001", "60000.00"))
    return venue


def test_sim_venue_snapshot_when_restored_from_json_then_state_round_trips_exactly(clock, submit):
    venue = _busy_venue(clock, submit)
    snap = venue.snapshot()
    restored = SimVenue(default_instruments(), clock, CONFIG)
    restored.restore(json.loads(json.dumps(snap)))
    assert restored.snapshot() == snap
    assert restored.balances(MAIN) == venue.balances(MAIN)
    assert restored.book(BTC, 20) == venue.book(BTC, 20)
    assert restored.open_orders(MAIN) == venue.open_orders(MAIN)
    for iid in (i.id for i in default_instruments()):
        assert restored.trades(iid, 1000) == venue.trades(iid, 1000)


def test_sim_venue_snapshot_when_restored_then_behaves_identically_afterwards(clock, submit, cancel):
    venue = _busy_venue(clock, submit)
    restored = SimVenue(default_instruments(), clock, CONFIG)
    restored.restore(json.loads(json.dumps(venue.snapshot())))
    commands = [
        submit("after-1", Side.BUY, "0.3"),
        cancel("rest"),
        submit("after-2", Side.SELL, "0.2", "1.00"),
        submit("rest", Side.BUY, "0.1", "1.00"),
    ]
    ts = clock.timestamp_ns() + 10**13  # also past the GTD expiry
    for command in commands:
        assert restored.apply(command, ts) == venue.apply(command, ts)
    assert restored.advance(ts) == venue.advance(ts)
    assert restored.snapshot() == venue.snapshot()


def test_sim_venue_order_lookup_when_reconciling_then_finds_working_finished_and_rejected(clock, submit):
    venue = _busy_venue(clock, submit)
    assert venue.order(MAIN, ClientOrderId("rest")).status in (
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
    )
    take = venue.order(MAIN, ClientOrderId("take"))
    assert take.status is OrderStatus.FILLED and take.fills and take.filled_quantity == Quantity("0.02000")
    assert sum((f.quantity for f in take.fills), Quantity("0")) == take.filled_quantity
    rej = venue.order(MAIN, ClientOrderId("rej"))
    assert (rej.status, rej.reason, rej.venue_order_id) == (OrderStatus.REJECTED, "SIZE_OFF_INCREMENT", None)
    assert venue.order(MAIN, ClientOrderId("never-sent")) is None


def test_sim_venue_restore_when_venue_not_fresh_or_instruments_differ_then_refused(clock, submit):
    venue = _busy_venue(clock, submit)
    snap = venue.snapshot()
    with pytest.raises(ValidationError):
        venue.restore(snap)
    with pytest.raises(ValidationError):
        SimVenue(default_instruments()[:1], clock, CONFIG).restore(snap)


def test_sim_venue_send_when_latency_configured_then_matches_late_and_reports_later(clock, submit):
    venue = SimVenue(
        default_instruments(),
        clock,
        SimVenueConfig(order_latency_ns=1_000, report_latency_ns=500, accounts={"main": {}}),
    )
    seen = []
    venue.set_event_handler(seen.append)
    venue.start()
    t0 = clock.timestamp_ns()
    venue.send(submit("l1", Side.BUY, "0.1", "60000.00"))
    clock.advance(999)
    assert venue.book(BTC, 1).bids == [] and seen == []
    clock.advance(1)
    assert venue.book(BTC, 1).bids != [] and seen == []  # matched at t0 + 1000, not yet reported
    clock.advance(499)
    assert seen == []
    clock.advance(1)
    accepted = [e for e in seen if isinstance(e, OrderAccepted)]
    assert len(accepted) == 1
    assert (accepted[0].ts_event, accepted[0].ts_init) == (t0 + 1_000, t0 + 1_500)


def test_sim_venue_send_when_zero_latency_then_never_delivers_inside_send(clock, submit):
    venue = SimVenue(default_instruments(), clock, SimVenueConfig(accounts={"main": {}}))
    seen = []
    venue.set_event_handler(seen.append)
    venue.start()
    venue.send(submit("l1", Side.BUY, "0.1", "60000.00"))
    assert seen == []
    clock.advance(0)
    assert [type(e) for e in seen if isinstance(e, OrderAccepted)] == [OrderAccepted]


def test_sim_venue_send_when_stopped_then_unavailable(clock, submit):
    venue = SimVenue(default_instruments(), clock, SimVenueConfig(accounts={"main": {}}))
    with pytest.raises(UnavailableError):
        venue.send(submit("l1", Side.BUY, "0.1", "60000.00"))
    venue.start()
    venue.stop()
    with pytest.raises(UnavailableError):
        venue.send(submit("l1", Side.BUY, "0.1", "60000.00"))


def test_sim_venue_agent_fill_when_our_order_rests_then_event_reaches_handler(clock, submit):
    venue = SimVenue(default_instruments(), clock, SimVenueConfig(accounts={"main": {}}))
    seen = []
    venue.set_event_handler(seen.append)
    venue.apply(submit("l1", Side.BUY, "0.1", "60000.00"))
    agent = venue.register_agent("tester")
    code, _ = venue.agent_submit(BTC, agent, clock.timestamp_ns(), 2, 1, 2, 10_000)
    assert code == 0
    fills = [e for e in seen if isinstance(e, OrderFilled)]
    assert [(f.client_order_id, str(f.last_quantity)) for f in fills] == [("l1", "0.10000")]
    assert venue.register_agent("tester") == agent


def test_sim_venue_input_recorder_when_command_applied_then_input_equals_the_constructed_one(
    clock, submit, cancel
):
    """The recorded command input (built through the slots' setters on the order path) is the very
    value ``VenueInput(INPUT_COMMAND, ts, command)`` gives, every field set, and as immutable."""
    import dataclasses

    from engine.venues.sim.venue import INPUT_COMMAND, VenueInput

    venue = SimVenue(default_instruments(), clock, SimVenueConfig(accounts={"main": {"USD": "1000000"}}))
    recorded: list[VenueInput] = []
    venue.set_input_recorder(recorded.append)
    commands = [submit("r1", Side.BUY, "0.1", "60000.00"), cancel("r1")]
    for command in commands:
        venue.apply(command, clock.timestamp_ns() + 7)
    expected = [VenueInput(INPUT_COMMAND, clock.timestamp_ns() + 7, c) for c in commands]
    assert recorded == expected
    for got in recorded:
        assert {f.name: getattr(got, f.name) for f in dataclasses.fields(VenueInput)} == {
            "kind": INPUT_COMMAND,
            "ts": clock.timestamp_ns() + 7,
            "command": got.command,
            "instrument_id": "",
            "args": (),
            "name": "",
            "values": (),
        }
        with pytest.raises(dataclasses.FrozenInstanceError):
            got.ts = 0  # type: ignore[misc]
