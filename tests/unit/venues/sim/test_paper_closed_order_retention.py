"""PaperVenue retention of finished orders: open ones always kept, the N most recently finished kept,
older ones unknown; a venue restored from a mid-run snapshot and fed the same inputs ends identical;
version-1 snapshots still restore; the limit is configurable (``venue.paper_closed_order_retention``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.app.external_venue import ExternalVenue
from engine.bus import MessageBus
from engine.config import load_config
from engine.core.clock import LiveClock
from engine.core.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.core.errors import ConfigError, ValidationError
from engine.core.events import Event, OrderCancelRejected, OrderRejected, TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId
from engine.marketdata.book import OrderBook
from engine.venues.sim import PaperVenue, PaperVenueConfig, default_instruments
from engine.venues.sim.paper import SNAPSHOT_VERSION
from tests.unit.venues.sim.venue_retention_checks import (
    BAD_CLOSED_ORDERS,
    FINISHED,
    assert_tables_consistent,
    check_version_1_restore,
    order_status,
)

MAIN = AccountId("main")
INST = default_instruments()[0]
BTC = INST.id
ACCOUNTS = {"main": {"USD": "1000000", "BTC": "5"}}


def _venue(book: OrderBook, clock, retention: int) -> PaperVenue:
    return PaperVenue(
        {BTC: book}, clock, PaperVenueConfig(accounts=ACCOUNTS, closed_order_retention=retention)
    )


def _trade(clock, price: str, size: str, n: int = 0) -> TradeTick:
    ts = clock.timestamp_ns()
    return TradeTick(
        ts_event=ts,
        ts_init=ts,
        instrument_id=BTC,
        price=Price(price),
        size=Quantity(size),
        aggressor_side=Side.SELL,
        trade_id=TradeId(f"x{ts}-{n}"),
    )


def _finish_many(venue: PaperVenue, clock, submit, cancel, cancel_all, amend) -> list[tuple[str, str | None]]:
    """Orders of 'main' ending in every way the paper venue ends one (taker fill, submit-time rejects,
    IOC / FOK / no-liquidity / reduce-only remainders, cancel, cancel-all, maker fill on a trade,
    triggered stop, amend into a fill, expiry) around one that stays open; returns (coid, reason)
    in the order they finished."""
    finished: list[tuple[str, str | None]] = []

    def step(*commands: Any) -> None:
        clock.advance(1_000)
        for command in commands:
            venue.apply(command)

    def done(coid: str, expected: OrderStatus) -> None:
        state = venue.order(MAIN, ClientOrderId(coid))
        assert state is not None and state.status is expected, (coid, state)
        finished.append((coid, state.reason))

    expire = clock.timestamp_ns() + 10**9
    step(submit("keep", Side.BUY, "0.1", "60000.00"))  # stays open throughout
    step(submit("rest", Side.BUY, "0.1", "61000.00"))  # canceled later: finishes after later orders
    step(submit("gtd", Side.BUY, "0.1", "62000.00", tif=TimeInForce.GTD, expire_at_ns=expire))
    step(submit("fill", Side.BUY, "0.3"))
    done("fill", OrderStatus.FILLED)
    step(submit("reduce", Side.SELL, "0.5", reduce_only=True))  # only 0.3 to reduce
    done("reduce", OrderStatus.CANCELED)
    step(submit("tick", Side.BUY, "0.1", "60000.05"))
    done("tick", OrderStatus.REJECTED)
    step(submit("ioc", Side.BUY, "0.1", "64000.00", tif=TimeInForce.IOC))
    done("ioc", OrderStatus.CANCELED)
    step(cancel("rest"))
    done("rest", OrderStatus.CANCELED)
    step(submit("fok", Side.BUY, "5", tif=TimeInForce.FOK))
    done("fok", OrderStatus.CANCELED)
    step(submit("thin", Side.BUY, "5"))  # 4.5 displayed: the rest is canceled
    done("thin", OrderStatus.CANCELED)
    step(submit("unlisted", Side.BUY, "0.1", "10.00", instrument=InstrumentId("SIM:XYZ-USD")))
    done("unlisted", OrderStatus.REJECTED)
    step(submit("maker", Side.BUY, "0.2", "64999.00"))
    clock.advance(1_000)
    venue.apply_trade(_trade(clock, "64998.00", "5"))  # prints through our bid: fills it
    done("maker", OrderStatus.FILLED)
    step(submit("stop", Side.BUY, "0.1", order_type=OrderType.STOP_MARKET, trigger="65000.00"))
    clock.advance(1_000)
    venue.apply_trade(_trade(clock, "65000.00", "0.1"))
    done("stop", OrderStatus.FILLED)
    step(submit("amd", Side.BUY, "0.1", "64000.00"), amend("amd", price="65001.00"))  # now takes
    done("amd", OrderStatus.FILLED)
    step(submit("ask", Side.SELL, "0.1", "70000.00"), cancel_all(side=Side.SELL))
    done("ask", OrderStatus.CANCELED)
    clock.advance(10**9)
    venue.advance(clock.timestamp_ns())
    done("gtd", OrderStatus.EXPIRED)
    return finished


def test_paper_retention_when_many_orders_finish_then_only_the_three_latest_and_the_open_one_remain(
    book, clock, submit, cancel, cancel_all, amend
):
    venue = _venue(book, clock, 3)
    finished = _finish_many(venue, clock, submit, cancel, cancel_all, amend)
    reasons = {reason for _, reason in finished}
    assert {"REDUCE_ONLY_EXHAUSTED", "PRICE_OFF_TICK", "IOC_REMAINDER", "CANCELED"} <= reasons
    assert {"FOK_CANNOT_FILL", "NO_LIQUIDITY", "UNKNOWN_INSTRUMENT", "GTD_EXPIRED"} <= reasons
    coids = [coid for coid, _ in finished]
    assert len(coids) == 13 and coids[-3:] == ["amd", "ask", "gtd"]
    # Without retention all thirteen would stay known; keeping 3 forgets the 10 oldest.
    for coid in coids[:-3]:
        assert venue.order(MAIN, ClientOrderId(coid)) is None, coid
    assert [order_status(venue, c) for c in coids[-3:]] == [
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
    ]
    assert order_status(venue, "keep") is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in venue.open_orders(MAIN)] == ["keep"]
    assert_tables_consistent(venue)
    snap = venue.snapshot()
    assert snap["closed_orders"] == [["main", "amd"], ["main", "ask"], ["main", "gtd"]]
    assert [o["coid"] for o in snap["orders"]] == ["keep", "gtd", "amd", "ask"]


def test_paper_retention_when_order_forgotten_then_it_behaves_as_an_unknown_order(
    book, clock, submit, cancel, cancel_all, amend
):
    venue = _venue(book, clock, 3)
    _finish_many(venue, clock, submit, cancel, cancel_all, amend)
    (answer,) = venue.apply(cancel("fill"))  # forgotten: answered like an order never sent
    assert isinstance(answer, OrderCancelRejected) and answer.reason == "UNKNOWN_ORDER"
    (never,) = venue.apply(cancel("never-sent"))
    assert answer.instrument_id == never.instrument_id != BTC
    (known,) = venue.apply(cancel("gtd"))  # a remembered finished one still names its instrument
    assert known.reason == "UNKNOWN_ORDER" and known.instrument_id == BTC
    events = venue.apply(submit("fill", Side.BUY, "0.1", "59000.00"))  # its id is free again
    assert not [e for e in events if isinstance(e, OrderRejected)]
    assert order_status(venue, "fill") is OrderStatus.ACCEPTED
    (dup,) = venue.apply(submit("gtd", Side.BUY, "0.1", "59000.00"))  # a remembered one is not
    assert isinstance(dup, OrderRejected) and dup.reason == "DUPLICATE_CLIENT_ORDER_ID"
    assert_tables_consistent(venue)


def test_paper_retention_when_many_orders_finish_then_open_orders_are_never_forgotten(
    book, clock, submit, cancel
):
    venue = _venue(book, clock, 1)
    resting = [f"rest-{i}" for i in range(5)]
    for i, coid in enumerate(resting):
        venue.apply(submit(coid, Side.BUY, "0.1", f"{60000 + i}.00"))
    for i in range(20):
        clock.advance(1_000)
        venue.apply(submit(f"ioc-{i}", Side.BUY, "0.1", "59000.00", tif=TimeInForce.IOC))
        venue.apply(submit(f"mkt-{i}", Side.BUY, "0.1"))
    assert [order_status(venue, c) for c in resting] == [OrderStatus.ACCEPTED] * 5
    assert sorted(o.client_order_id for o in venue.open_orders(MAIN)) == resting
    assert [order_status(venue, c) for c in ("ioc-0", "ioc-19", "mkt-18")] == [None] * 3
    assert order_status(venue, "mkt-19") is OrderStatus.FILLED
    assert len(venue.snapshot()["orders"]) == 6  # bounded: 5 open + 1 finished, not 45
    assert_tables_consistent(venue)
    for coid in resting:  # now they finish and fall under the rule like any other
        venue.apply(cancel(coid))
    assert [order_status(venue, c) for c in resting] == [None] * 4 + [OrderStatus.CANCELED]
    assert venue.open_orders(MAIN) == []
    assert_tables_consistent(venue)


def _step(venues: list[PaperVenue], book: OrderBook, clock, submit, cancel, n: int) -> list[list[Event]]:
    """One step of a run with the same inputs for every venue: market data (book changes, trades)
    and our orders that fill, rest, fill as makers, get canceled, reduced and rejected."""
    clock.advance(100_000_000)
    out: list[list[Event]] = [[] for _ in venues]
    kind = n % 6
    commands = []
    if kind == 0:
        commands = [submit(f"mkt-{n}", Side.BUY if n % 12 else Side.SELL, "0.1")]
    elif kind == 1:
        commands = [submit(f"rest-{n}", Side.BUY, "0.2", "64999.00")]
    elif kind == 2:
        book.apply_delta(Side.BUY, "64999.00", "0.4" if n % 4 else "1.0")  # queue ahead shrinks / grows
        for venue in venues:
            venue.apply_book_update(BTC, clock.timestamp_ns())
        tick = _trade(clock, "64999.00", "0.7", n)
        for venue, events in zip(venues, out, strict=True):
            events.extend(venue.apply_trade(tick))
    elif kind == 3:
        commands = [
            cancel(f"rest-{n - 2}"),
            submit(f"ioc-{n}", Side.BUY, "0.1", "64000.00", tif=TimeInForce.IOC),
        ]
    elif kind == 4:
        commands = [
            submit(f"bad-{n}", Side.BUY, "0.1", "60000.05"),
            submit(f"ro-{n}", Side.SELL, "0.3", reduce_only=True),
        ]
    else:
        commands = [submit(f"keep-{n}", Side.BUY, "0.1", f"{50000 + n}.00")]  # stays open
    for command in commands:
        for venue, events in zip(venues, out, strict=True):
            events.extend(venue.apply(command))
    return out


def test_paper_retention_when_restored_mid_run_and_fed_the_same_inputs_then_ends_identical_to_live(
    book, clock, submit, cancel
):
    live = _venue(book, clock, 3)
    for n in range(30):
        _step([live], book, clock, submit, cancel, n)
    snap = json.loads(json.dumps(live.snapshot()))
    assert snap["version"] == SNAPSHOT_VERSION == 2 and len(snap["closed_orders"]) == 3
    restored = _venue(book, clock, 3)
    restored.restore(snap)
    assert restored.snapshot() == live.snapshot()
    for n in range(30, 60):
        ours, theirs = _step([live, restored], book, clock, submit, cancel, n)
        assert ours == theirs, n
    final = live.snapshot()
    assert restored.snapshot() == final
    assert list(restored._closed) == list(live._closed) and len(live._closed) == 3
    assert len([o for o in final["orders"] if o["status"] in (int(s) for s in FINISHED)]) == 3
    assert sum(o.client_order_id.startswith("keep-") for o in live.open_orders(MAIN)) == 10
    for venue in (live, restored):
        assert venue.order(MAIN, ClientOrderId("mkt-0")) is None
        assert venue.order(MAIN, ClientOrderId("mkt-30")) is None  # finished after the snapshot, forgotten
        assert venue.order(MAIN, ClientOrderId("keep-5")) is not None
        assert_tables_consistent(venue)


def _finish_out_of_insertion_order(venue: PaperVenue, clock, submit, cancel) -> None:
    """Finished in this order: 'fill', 'tick' (no venue order id), 'early' (inserted first), 'ioc';
    'open' stays open."""
    clock.advance(1_000)
    venue.apply(submit("early", Side.BUY, "0.1", "61000.00"))
    venue.apply(submit("open", Side.BUY, "0.1", "60000.00"))
    clock.advance(1_000)
    venue.apply(submit("fill", Side.BUY, "0.1"))
    clock.advance(1_000)
    venue.apply(submit("tick", Side.BUY, "0.1", "60000.05"))
    clock.advance(1_000)
    venue.apply(cancel("early"))
    clock.advance(1_000)
    venue.apply(submit("ioc", Side.BUY, "0.1", "64000.00", tif=TimeInForce.IOC))


def test_paper_restore_when_version_1_snapshot_then_finished_orders_ordered_by_time_and_pruned_oldest_first(
    book, clock, submit, cancel
):
    source = _venue(book, clock, 100)
    _finish_out_of_insertion_order(source, clock, submit, cancel)

    def finish_ioc(venue: PaperVenue, coid: str) -> None:
        clock.advance(1_000)
        venue.apply(submit(coid, Side.BUY, "0.1", "64000.00", tif=TimeInForce.IOC))

    smaller = check_version_1_restore(
        source, lambda retention: _venue(book, clock, retention), finish_ioc, "tick"
    )
    assert smaller.balances(MAIN) == source.balances(MAIN)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        *BAD_CLOSED_ORDERS,
        (lambda s: s["closed_orders"].append(["main", ["x"]]), "is not [account, client order id]"),
    ],
)
def test_paper_restore_when_closed_orders_inconsistent_then_refused_clearly_and_nothing_changes(
    book, clock, submit, cancel, edit, problem
):
    source = _venue(book, clock, 100)
    _finish_out_of_insertion_order(source, clock, submit, cancel)
    snap = json.loads(json.dumps(source.snapshot()))
    edit(snap)
    target = _venue(book, clock, 100)
    before = target.snapshot()
    with pytest.raises(ValidationError, match="snapshot") as info:
        target.restore(snap)
    assert problem in str(info.value)
    assert target.snapshot() == before  # refused before anything was loaded
    target.restore(source.snapshot())  # and the venue can still take a good one
    assert target.snapshot() == source.snapshot()


def test_paper_config_when_retention_below_one_then_refused_and_the_engine_config_sets_it() -> None:
    with pytest.raises(ValidationError) as info:
        PaperVenueConfig(closed_order_retention=0)
    assert info.value.field == "closed_order_retention"
    assert "must be >= 1" in str(info.value)
    assert PaperVenueConfig().closed_order_retention == 10_000
    assert load_config(env={}).venue.paper_closed_order_retention == 10_000
    with pytest.raises(ConfigError) as error:
        load_config(env={"ALGOTRENDY_VENUE__PAPER_CLOSED_ORDER_RETENTION": "0"})
    assert error.value.key == "venue.paper_closed_order_retention"
    config = load_config(
        env={},
        overrides={"venue.name": "binance", "venue.paper": True, "venue.paper_closed_order_retention": 7},
    )
    paper = ExternalVenue(config, LiveClock(), MessageBus(), MAIN).build_paper(fresh=True)
    assert paper._config.closed_order_retention == 7
