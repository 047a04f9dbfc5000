"""SimVenue retention of finished orders: open ones always kept, the N most recently finished kept,
older ones unknown; deterministic across snapshot + replay; version-1 snapshots still restore."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.config import load_config
from engine.core.enums import OrderStatus, Side, TimeInForce
from engine.core.errors import ConfigError, ValidationError
from engine.core.events import OrderCanceled, OrderCancelRejected, OrderRejected
from engine.core.ids import AccountId, ClientOrderId, InstrumentId
from engine.venues.sim import (
    MarketSimulator,
    MarketSimulatorConfig,
    SimVenue,
    SimVenueConfig,
    default_instruments,
)
from engine.venues.sim.venue import SNAPSHOT_VERSION, VenueInput
from tests.unit.venues.sim.venue_retention_checks import (
    BAD_CLOSED_ORDERS,
    FINISHED,
    assert_tables_consistent,
    check_version_1_restore,
    order_status,
)

MAIN, MM = AccountId("main"), AccountId("mm")
BTC = InstrumentId("SIM:BTC-USD")
ACCOUNTS = {"main": {"USD": "1000000", "BTC": "10"}, "mm": {"USD": "1000000", "BTC": "10"}}


def _venue(clock, retention: int) -> SimVenue:
    return SimVenue(
        default_instruments(), clock, SimVenueConfig(accounts=ACCOUNTS, closed_order_retention=retention)
    )


@pytest.fixture
def mm_book(clock, submit):
    """A venue keeping 3 finished orders, with a deep resting book from 'mm' (never fully taken)."""
    venue = _venue(clock, 3)
    venue.apply(submit("ask", Side.SELL, "5.0", "65000.0", account="mm"))
    venue.apply(submit("bid", Side.BUY, "5.0", "64000.0", account="mm"))
    return venue


def _finish_ten(venue: SimVenue, clock, submit, cancel, cancel_all) -> list[str]:
    """Ten orders of 'main' ending in every way (fill, cancel, cancel-all, STP, IOC, post-only,
    submit-time rejects, expiry) around one that stays open; returns them in the order they finished."""
    finished: list[str] = []

    def step(*commands: Any) -> None:
        clock.advance(1_000)
        for command in commands:
            venue.apply(command)

    def done(coid: str, expected: OrderStatus) -> None:
        assert order_status(venue, coid) is expected
        finished.append(coid)

    step(submit("keep", Side.BUY, "0.1", "60000.0"))  # stays open throughout
    step(submit("rest", Side.BUY, "0.1", "61000.0"))  # canceled later: finishes after later orders
    step(
        submit(
            "gtd", Side.BUY, "0.1", "62000.0", tif=TimeInForce.GTD, expire_at_ns=clock.timestamp_ns() + 10**9
        )
    )
    step(submit("fill-1", Side.BUY, "0.1"))
    done("fill-1", OrderStatus.FILLED)
    step(submit("size", Side.BUY, "0.000001", "60000.0"))  # rejected before the matcher
    done("size", OrderStatus.REJECTED)
    step(submit("ioc", Side.BUY, "0.1", "59000.0", tif=TimeInForce.IOC))  # nothing to take: canceled
    done("ioc", OrderStatus.CANCELED)
    step(cancel("rest"))
    done("rest", OrderStatus.CANCELED)
    step(submit("post", Side.BUY, "0.1", "65000.0", post_only=True))  # would take: rejected
    done("post", OrderStatus.REJECTED)
    step(submit("maker", Side.SELL, "0.1", "64500.0"), submit("taker", Side.BUY, "0.1", "64500.0"))
    done("taker", OrderStatus.CANCELED)  # self-trade prevention cancels the taker
    step(submit("unlisted", Side.BUY, "0.1", "1.0", instrument=InstrumentId("SIM:NOPE-USD")))
    done("unlisted", OrderStatus.REJECTED)
    step(submit("all", Side.SELL, "0.1", "70000.0"), cancel_all(side=Side.SELL))  # ends 'maker', 'all'
    done("maker", OrderStatus.CANCELED)
    done("all", OrderStatus.CANCELED)
    clock.advance(10**9)
    venue.advance(clock.timestamp_ns())
    done("gtd", OrderStatus.EXPIRED)
    return finished


def test_sim_venue_retention_when_ten_orders_finish_then_only_the_three_latest_and_the_open_one_remain(
    mm_book, clock, submit, cancel, cancel_all
):
    venue = mm_book
    # Without retention all ten would stay known; keeping 3 forgets the 7 oldest.
    finished = _finish_ten(venue, clock, submit, cancel, cancel_all)
    assert len(finished) == 10 and finished[-3:] == ["maker", "all", "gtd"]
    for coid in finished[-3:]:
        assert order_status(venue, coid) in FINISHED
    for coid in finished[:-3]:
        assert venue.order(MAIN, ClientOrderId(coid)) is None, coid
    assert order_status(venue, "keep") is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in venue.open_orders(MAIN)] == ["keep"]
    assert order_status(venue, "ask", MM) is not None and order_status(venue, "bid", MM) is not None
    assert_tables_consistent(venue)
    assert venue.snapshot()["closed_orders"] == [["main", "maker"], ["main", "all"], ["main", "gtd"]]
    assert {(o["account"], o["coid"]) for o in venue.snapshot()["orders"]} == {
        ("main", c) for c in ("keep", "maker", "all", "gtd")
    } | {("mm", "ask"), ("mm", "bid")}


def test_sim_venue_retention_when_order_forgotten_then_it_behaves_as_an_unknown_order(
    mm_book, clock, submit, cancel, cancel_all
):
    venue = mm_book
    _finish_ten(venue, clock, submit, cancel, cancel_all)
    # 'fill-1' is forgotten: a cancel is answered like one for an order never sent ...
    (answer,) = venue.apply(cancel("fill-1"))
    assert isinstance(answer, OrderCancelRejected) and answer.reason == "UNKNOWN_ORDER"
    (never,) = venue.apply(cancel("never-sent"))
    assert answer.instrument_id == never.instrument_id != BTC
    (known,) = venue.apply(cancel("gtd"))  # a remembered finished order still names its instrument
    assert known.reason == "UNKNOWN_ORDER" and known.instrument_id == BTC
    # ... and its client order id is free again at the venue (the OMS refuses duplicates itself).
    events = venue.apply(submit("fill-1", Side.BUY, "0.1", "59000.0"))
    assert not [e for e in events if isinstance(e, OrderRejected)]
    assert order_status(venue, "fill-1") is OrderStatus.ACCEPTED
    # A remembered finished one is still a duplicate.
    (dup,) = venue.apply(submit("gtd", Side.BUY, "0.1", "59000.0"))
    assert isinstance(dup, OrderRejected) and dup.reason == "DUPLICATE_CLIENT_ORDER_ID"
    assert_tables_consistent(venue)


def test_sim_venue_retention_when_many_orders_finish_then_open_orders_are_never_forgotten(
    clock, submit, cancel
):
    venue = _venue(clock, 1)
    resting = [f"rest-{i}" for i in range(5)]
    for i, coid in enumerate(resting):
        venue.apply(submit(coid, Side.BUY, "0.1", f"{60000 + i}.0"))
    for i in range(20):
        clock.advance(1_000)
        events = venue.apply(submit(f"ioc-{i}", Side.BUY, "0.1", "59000.0", tif=TimeInForce.IOC))
        assert [type(e) for e in events if isinstance(e, OrderCanceled)] == [OrderCanceled]
    assert [order_status(venue, c) for c in resting] == [OrderStatus.ACCEPTED] * 5
    assert sorted(o.client_order_id for o in venue.open_orders(MAIN)) == resting
    assert [order_status(venue, f"ioc-{i}") for i in (0, 18, 19)] == [None, None, OrderStatus.CANCELED]
    assert_tables_consistent(venue)
    for coid in resting:  # now they finish and fall under the rule like any other
        venue.apply(cancel(coid))
    assert [order_status(venue, c) for c in resting] == [None] * 4 + [OrderStatus.CANCELED]
    assert venue.open_orders(MAIN) == []
    assert_tables_consistent(venue)
    assert len(venue.snapshot()["orders"]) == 1


def _drive(
    venue: SimVenue, simulator: MarketSimulator, clock, submit, cancel, start: int, steps: int
) -> None:
    """The market simulator plus our orders that fill, cancel, reject and rest, step by step."""
    for n in range(start, start + steps):
        clock.advance(100_000_000)
        simulator.step(clock.timestamp_ns())
        kind = n % 4
        if kind == 0:
            venue.apply(submit(f"mkt-{n}", Side.BUY if n % 8 else Side.SELL, "0.01", tif=TimeInForce.IOC))
        elif kind == 1:
            venue.apply(submit(f"rest-{n}", Side.BUY, "0.01", "1000.0"))
        elif kind == 2:
            venue.apply(cancel(f"rest-{n - 1}"))
        else:
            venue.apply(submit(f"bad-{n}", Side.BUY, "0.000001", "1000.0"))


def test_sim_venue_retention_when_restored_mid_run_and_replayed_then_forgets_exactly_as_live(
    clock, submit, cancel
):
    live = _venue(clock, 3)
    simulator = MarketSimulator(live, clock, MarketSimulatorConfig(seed=3))
    _drive(live, simulator, clock, submit, cancel, 0, 30)
    snap = json.loads(json.dumps(live.snapshot()))
    assert snap["version"] == SNAPSHOT_VERSION == 2 and len(snap["closed_orders"]) == 3
    inputs: list[VenueInput] = []
    live.set_input_recorder(inputs.append)
    _drive(live, simulator, clock, submit, cancel, 30, 30)
    assert any(i.command is not None for i in inputs) and any(i.command is None for i in inputs)

    rebuilt = _venue(clock, 3)
    rebuilt.restore(snap)
    for recorded in inputs:
        rebuilt.replay(recorded)
    final = live.snapshot()
    assert rebuilt.snapshot() == final
    assert list(rebuilt._closed) == list(live._closed) and len(live._closed) == 3
    assert set(rebuilt._orders) == set(live._orders)
    # Orders finished before the snapshot are forgotten in both; the mid-run ones too.
    assert (
        rebuilt.order(MAIN, ClientOrderId("mkt-0")) is None
        and live.order(MAIN, ClientOrderId("mkt-0")) is None
    )
    assert_tables_consistent(rebuilt)


def _finish_out_of_insertion_order(venue: SimVenue, clock, submit, cancel) -> None:
    """Finished in this order: 'fill', 'size', 'early' (inserted first), 'ioc'; 'open' stays open."""
    clock.advance(1_000)
    venue.apply(submit("ask", Side.SELL, "5.0", "65000.0", account="mm"))
    venue.apply(submit("early", Side.BUY, "0.1", "61000.0"))
    venue.apply(submit("open", Side.BUY, "0.1", "60000.0"))
    clock.advance(1_000)
    venue.apply(submit("fill", Side.BUY, "0.1"))
    clock.advance(1_000)
    venue.apply(submit("size", Side.BUY, "0.000001", "60000.0"))
    clock.advance(1_000)
    venue.apply(cancel("early"))
    clock.advance(1_000)
    venue.apply(submit("ioc", Side.BUY, "0.1", "59000.0", tif=TimeInForce.IOC))


def test_sim_venue_restore_when_version_1_snapshot_then_finished_orders_ordered_by_time_and_pruned_oldest_first(
    clock, submit, cancel
):
    source = _venue(clock, 100)
    _finish_out_of_insertion_order(source, clock, submit, cancel)

    def finish_ioc(venue: SimVenue, coid: str) -> None:
        clock.advance(1_000)
        venue.apply(submit(coid, Side.BUY, "0.1", "59000.0", tif=TimeInForce.IOC))

    check_version_1_restore(source, lambda retention: _venue(clock, retention), finish_ioc, "size")


@pytest.mark.parametrize(("edit", "problem"), BAD_CLOSED_ORDERS)
def test_sim_venue_restore_when_closed_orders_inconsistent_then_refused_clearly(
    clock, submit, cancel, edit, problem
):
    source = _venue(clock, 100)
    _finish_out_of_insertion_order(source, clock, submit, cancel)
    snap = json.loads(json.dumps(source.snapshot()))
    edit(snap)
    with pytest.raises(ValidationError, match="snapshot") as info:
        _venue(clock, 100).restore(snap)
    assert problem in str(info.value)


def test_sim_venue_config_when_retention_below_one_then_refused(clock):
    with pytest.raises(ValidationError) as info:
        SimVenueConfig(closed_order_retention=0)
    assert info.value.field == "closed_order_retention"
    assert "must be >= 1" in str(info.value)
    assert load_config(env={}).sim.closed_order_retention == 10_000
    assert SimVenueConfig().closed_order_retention == 10_000
    with pytest.raises(ConfigError) as error:
        load_config(env={"ALGOTRENDY_SIM__CLOSED_ORDER_RETENTION": "0"})
    assert error.value.key == "sim.closed_order_retention"
    assert load_config(env={"ALGOTRENDY_SIM__CLOSED_ORDER_RETENTION": "5"}).sim.closed_order_retention == 5
