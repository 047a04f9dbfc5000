"""The simulated venue's compiled submit path (``engine.ext.matching.sim``): it runs the common case
(a new order the matcher accepts) and leaves everything else to ``SimVenue._submit``; either way the
venue behaves as with the Python path alone (``venue._kernel = None``): the same events with the same
field values and types, the same order records (slots, types, table order, live and closed orders),
quotes, recorded inputs, snapshots and venue order ids, before and after a restore."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.clock import TestClock
from engine.core.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.core.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.core.errors import ValidationError
from engine.core.events import OrderAccepted, OrderFilled
from engine.core.fixed import Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from engine.ext.matching import sim as sx
from engine.venues.sim import SimVenue, SimVenueConfig, default_instruments
from engine.venues.sim.venue import _Order

from .conftest import START_NS

BTC, ETH, SOL = (i.id for i in default_instruments()[:3])
NOPE = InstrumentId("SIM:NOPE-USD")
#: SOL halted: submits to it are rejected INSTRUMENT_NOT_TRADABLE.
INSTRUMENTS = [*default_instruments()[:2], dataclasses.replace(default_instruments()[2], tradable=False)]
ACCOUNTS = {"main": {"USD": "10000000", "BTC": "100"}, "mm": {"USD": "10000000", "BTC": "100"}}


def _venue(*, compiled: bool, latency: int = 0, retention: int = 10_000) -> SimVenue:
    config = SimVenueConfig(accounts=ACCOUNTS, report_latency_ns=latency, closed_order_retention=retention)
    venue = SimVenue(INSTRUMENTS, TestClock(START_NS), config)
    if not compiled:
        venue._kernel = None
    return venue


def _cmd(coid: str, side: Side, qty: str, price: str | None = None, **kw: Any) -> SubmitOrder:
    order_type = kw.pop("order_type", OrderType.LIMIT if price is not None else OrderType.MARKET)
    trigger = kw.pop("trigger", None)
    return SubmitOrder(
        ts_init=START_NS,
        account_id=AccountId(kw.pop("account", "main")),
        strategy_id=StrategyId("test"),
        client_order_id=ClientOrderId(coid),
        instrument_id=kw.pop("instrument", BTC),
        side=side,
        order_type=order_type,
        quantity=Quantity(qty),
        price=Price(price) if price is not None else None,
        trigger_price=Price(trigger) if trigger is not None else None,
        **kw,
    )


def _value(v: Any) -> Any:
    """A value with its exact type (an enum member, an id class, int vs bool)."""
    if isinstance(v, list | tuple):
        return (type(v).__name__, [_value(x) for x in v])
    return (type(v).__name__, repr(v))


def _events(events: list[Any]) -> list[Any]:
    return [
        (type(e).__name__, [(f.name, _value(getattr(e, f.name))) for f in dataclasses.fields(e)])
        for e in events
    ]


def _state(venue: SimVenue) -> dict[str, Any]:
    """Everything the submit path touches: the order records slot by slot (in table order), the live
    and closed orders, the quotes last published, the next venue order id and the snapshot."""
    for vid, record in venue._live.items():
        assert venue._orders[(record.account, record.coid)] is record and record.vid == vid
    return {
        "orders": [
            (_value(key), [(name, _value(getattr(o, name))) for name in _Order.__slots__])
            for key, o in venue._orders.items()
        ],
        "live": list(venue._live),
        "closed": venue._closed.snapshot(),
        "quotes": {str(i): m.last_quote for i, m in venue._markets.items()},
        "next_vid": venue._next_vid,
        "snapshot": venue.snapshot(),
    }


# == the common case runs in the kernel ===========================================================
def test_kernel_submit_when_resting_limit_then_taken_with_the_python_paths_record_and_event() -> None:
    compiled, python = _venue(compiled=True, latency=7), _venue(compiled=False, latency=7)
    cmd = _cmd("c-1", Side.BUY, "0.5", "64995.0")  # a price with fewer places than the grid's two
    out: list[Any] = []
    assert compiled._kernel is not None and compiled._kernel.submit(cmd, START_NS, out) is True
    assert out == [
        OrderAccepted(
            ts_event=START_NS,
            ts_init=START_NS + 7,
            account_id=AccountId("main"),
            client_order_id=ClientOrderId("c-1"),
            instrument_id=BTC,
            venue_order_id=VenueOrderId("1"),
        )
    ]
    assert type(out[0].venue_order_id) is VenueOrderId and out[0].instrument_id is INSTRUMENTS[0].id
    record = compiled._orders[(AccountId("main"), ClientOrderId("c-1"))]
    assert (record.vid, record.qty, record.leaves, record.price, record.status) == (
        1,
        50_000,
        50_000,
        649_950,
        OrderStatus.ACCEPTED,
    )
    assert (type(record.side), type(record.otype), type(record.tif)) == (int, int, int)
    assert record.fills == () and compiled._live == {1: record} and compiled._next_vid == 2
    assert _events(out) == _events(python.apply(cmd, START_NS))
    assert _state(compiled) == _state(python)


def test_kernel_submit_when_bid_and_ask_then_quote_published_as_the_python_path() -> None:
    compiled, python = _venue(compiled=True), _venue(compiled=False)
    for venue in (compiled, python):
        venue.apply(_cmd("ask", Side.SELL, "1", "65010.00", account="mm"), START_NS)
    cmd = _cmd("bid", Side.BUY, "0.25", "65000.1")
    out: list[Any] = []
    assert compiled._kernel is not None and compiled._kernel.submit(cmd, START_NS + 5, out) is True
    assert [type(e).__name__ for e in out] == ["OrderAccepted", "QuoteTick"]
    assert (out[1].bid_price, out[1].bid_size, out[1].ask_price) == (
        Price("65000.10"),
        Quantity("0.25000"),
        Price("65010.00"),
    )
    assert _events(out) == _events(python.apply(cmd, START_NS + 5))
    assert _state(compiled) == _state(python)


@pytest.mark.parametrize(
    "cmd",
    [
        _cmd("dup", Side.BUY, "0.5", "64000"),  # a duplicate client order id (submitted first below)
        _cmd("c-2", Side.BUY, "0.5", "64000", instrument=NOPE),
        _cmd("c-2", Side.BUY, "0.5", "64000", instrument=SOL),  # not tradable
        _cmd("c-2", Side.BUY, "0.5", "64000", account="ghost"),
        _cmd("c-2", Side.BUY, "0.5", "64000.05"),  # off the tick grid
        _cmd("c-2", Side.BUY, "0.5", "64000.000"),  # more places than the grid: the instrument rescales
        _cmd("c-2", Side.BUY, "0.000001", "64000"),  # more places than the size grid
        _cmd("c-2", Side.BUY, "100000000000", "64000"),  # above 2**53 - 1 lots
        _cmd("c-2", Side.BUY, "0.5", "10000000000000000"),  # above 2**53 - 1 ticks
    ],
)
def test_kernel_submit_when_not_the_common_case_then_declined_and_nothing_changed(cmd: SubmitOrder) -> None:
    venue = _venue(compiled=True)
    venue.apply(_cmd("dup", Side.BUY, "0.5", "64000"), START_NS)
    before = _state(venue)
    out: list[Any] = []
    assert venue._kernel is not None and venue._kernel.submit(cmd, START_NS, out) is False
    assert out == [] and _state(venue) == before
    python = _venue(compiled=False)
    python.apply(_cmd("dup", Side.BUY, "0.5", "64000"), START_NS)
    assert _events(venue.apply(cmd, START_NS)) == _events(python.apply(cmd, START_NS))
    assert _state(venue) == _state(python)


def test_kernel_submit_when_the_order_trades_then_the_reports_go_through_dispatch() -> None:
    compiled, python = _venue(compiled=True), _venue(compiled=False)
    for venue in (compiled, python):
        venue.apply(_cmd("ask", Side.SELL, "0.4", "65000.00", account="mm"), START_NS)
    cmd = _cmd("take", Side.BUY, "1", "65000.00")
    out: list[Any] = []
    assert compiled._kernel is not None and compiled._kernel.submit(cmd, START_NS + 1, out) is True
    assert [type(e).__name__ for e in out] == ["OrderAccepted", "TradeTick", "OrderFilled", "OrderFilled"]
    assert _events(out) == _events(python.apply(cmd, START_NS + 1))
    assert _state(compiled) == _state(python)


def test_kernel_when_given_other_slots_or_classes_then_refused() -> None:
    venue = _venue(compiled=True)
    assert isinstance(_kernel_with(venue), sx.SimKernel)  # (the venue's own arguments are accepted)
    with pytest.raises(ValueError, match="not the slot"):
        _kernel_with(venue, order=(_Order, tuple(getattr(_Order, n) for n in reversed(sx.ORDER_FIELDS))))
    with pytest.raises(TypeError, match="not a class defined in Python"):
        _kernel_with(venue, accepted=(int, ()))
    with pytest.raises(TypeError, match="is not a slot of"):  # a descriptor of another class
        _kernel_with(
            venue, accepted=(OrderAccepted, tuple(getattr(OrderFilled, n) for n in sx.ACCEPTED_FIELDS))
        )
    with pytest.raises(TypeError, match="not a str subclass"):
        _kernel_with(venue, venue_order_id_cls=int)


def _kernel_with(venue: SimVenue, **replaced: Any) -> sx.SimKernel:
    args: dict[str, Any] = {
        "report_latency_ns": 0,
        "order": (_Order, tuple(getattr(_Order, n) for n in sx.ORDER_FIELDS)),
        "accepted": (OrderAccepted, tuple(getattr(OrderAccepted, n) for n in sx.ACCEPTED_FIELDS)),
        "submit": (SubmitOrder, tuple(getattr(SubmitOrder, n) for n in sx.SUBMIT_FIELDS)),
        "sequence0": 0,
        "venue_order_id_cls": VenueOrderId,
        "statuses": (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED),
        "no_fills": (),
        "flags": (1, 2),
        "fixed": (Price, Quantity, Price._raw, Price._precision),  # type: ignore[attr-defined]
        "market": (type(venue._markets[BTC]).last_quote,),
        "dispatch": venue._dispatch,
        "quote_tick": venue._quote_tick,
    }
    args.update(replaced)
    return sx.SimKernel(venue._orders, venue._live, venue._accounts, venue.__dict__, "_next_vid", **args)


# == parity over mixes of commands ================================================================
#: Mostly valid values (on the grid at its places, with fewer places), some off the grid or with more
#: places than it (the Python path's conversions and rejects).
PRICES = ["64990", "64995.0", "65000.10", "65005", "65010.5", "64990.100", "64990.05", "0.1"]
QTYS = ["0.5", "1", "0.25", "0.50000", "2", "0.000001", "0.00001"]
_submits = st.builds(
    lambda coid, account, instrument, side, kind, price, qty, tif, flags: (
        "submit",
        coid,
        account,
        instrument,
        side,
        kind,
        price,
        qty,
        tif,
        flags,
    ),
    st.integers(0, 40),
    st.sampled_from(["main", "main", "main", "mm", "ghost"]),
    st.sampled_from([BTC, BTC, BTC, BTC, ETH, SOL, NOPE]),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.sampled_from([*[OrderType.LIMIT] * 5, *OrderType]),
    st.sampled_from(PRICES),
    st.sampled_from(QTYS),
    st.sampled_from([*[TimeInForce.GTC] * 5, *TimeInForce]),
    st.sampled_from([0, 0, 0, 0, 1, 2, 3]),
)
_cancels = st.tuples(st.just("cancel"), st.integers(0, 40), st.sampled_from(["main", "mm"]))
_amends = st.tuples(st.just("amend"), st.integers(0, 40), st.sampled_from(QTYS), st.sampled_from(PRICES))
_agents = st.tuples(
    st.just("agent"), st.sampled_from([1, 2]), st.integers(649_800, 650_200), st.integers(1, 90_000)
)
_others = [_cancels, _amends, _agents, _agents, st.just(("advance",))]
_ops = st.lists(
    st.integers(0, 10).flatmap(lambda k: _submits if k < 6 else _others[k - 6]), min_size=10, max_size=60
)


def _command(op: tuple[Any, ...], ts: int) -> SubmitOrder | CancelOrder | AmendOrder | None:
    try:
        if op[0] == "cancel":
            return CancelOrder(
                ts_init=ts, account_id=AccountId(op[2]), client_order_id=ClientOrderId(f"c{op[1]}")
            )
        if op[0] == "amend":
            return AmendOrder(
                ts_init=ts,
                account_id=AccountId("main"),
                client_order_id=ClientOrderId(f"c{op[1]}"),
                quantity=Quantity(op[2]),
                price=Price(op[3]),
            )
        _, coid, account, instrument, side, kind, price, qty, tif, flags = op
        priced = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        triggered = kind in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
        return _cmd(
            f"c{coid}",
            side,
            qty,
            price if priced else None,
            order_type=kind,
            trigger=price if triggered else None,
            account=account,
            instrument=instrument,
            time_in_force=tif,
            expire_at_ns=ts + 50 if tif == TimeInForce.GTD else None,
            post_only=bool(flags & 1),
            reduce_only=bool(flags & 2),
        )
    except ValidationError:
        return None  # (the command itself is invalid: nothing reaches a venue)


def _run(venue: SimVenue, ops: list[tuple[Any, ...]], start: int) -> list[Any]:
    agents = {1: venue.register_agent("a1"), 2: venue.register_agent("a2")}
    out: list[Any] = []
    for n, op in enumerate(ops):
        ts = start + 10 * n
        if op[0] == "agent":
            side = Side.BUY if op[2] % 2 else Side.SELL
            code, vid = venue.agent_submit(
                BTC, agents[op[1]], ts, int(side), int(OrderType.LIMIT), int(TimeInForce.GTC), op[3], op[2]
            )
            out.append(("agent", code, vid))
        elif op[0] == "advance":
            out.extend(_events(venue.advance(ts)))
        else:
            cmd = _command(op, ts)
            if cmd is not None:
                out.extend(_events(venue.apply(cmd, ts)))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops, latency=st.sampled_from([0, 250]), retention=st.sampled_from([3, 10_000]))
def test_sim_venue_when_kernel_on_or_off_then_same_events_records_inputs_and_snapshots(
    ops: list[tuple[Any, ...]], latency: int, retention: int
) -> None:
    venues = [_venue(compiled=c, latency=latency, retention=retention) for c in (True, False)]
    inputs: list[list[str]] = [[], []]
    for venue, log in zip(venues, inputs, strict=True):
        venue.set_input_recorder(lambda i, log=log: log.append(repr(i)))
    results = [_run(v, ops, START_NS) for v in venues]
    assert results[0] == results[1]
    assert inputs[0] == inputs[1]
    assert _state(venues[0]) == _state(venues[1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=_ops, after=_ops)
def test_sim_venue_when_restored_then_the_kernel_runs_on_the_restored_tables_as_the_python_path(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]
) -> None:
    source = _venue(compiled=True)
    _run(source, before, START_NS)
    snapshot = source.snapshot()
    restored = []
    for compiled in (True, False):
        venue = SimVenue(INSTRUMENTS, TestClock(START_NS), SimVenueConfig())
        if not compiled:
            venue._kernel = None
        venue.restore(snapshot)
        restored.append(venue)
    assert restored[1]._kernel is None and restored[0]._kernel is not None
    start = START_NS + 10 * len(before) + 10
    assert _run(restored[0], after, start) == _run(restored[1], after, start)
    assert _state(restored[0]) == _state(restored[1])
