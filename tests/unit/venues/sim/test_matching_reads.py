"""The compiled matcher's read calls a venue makes after every call (``report_rows``, ``top``) and the
venue's acknowledgement built from them."""

from __future__ import annotations

import dataclasses

import pytest

from engine.core.enums import Side
from engine.core.events import OrderAccepted
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, VenueOrderId
from engine.ext.matching import engine as mx

BTC = InstrumentId("SIM:BTC-USD")

TS = 1_000


def test_report_rows_when_the_buffer_grew_then_rows_match_the_reports_array():
    e = mx.MatchingEngine(capacity=16)
    for oid in range(1, 301):  # 300 resting orders of one account
        e.submit(TS, oid, 1, mx.BUY, mx.LIMIT, mx.GTC, 1, 100 + oid % 7)
    e.cancel_all(TS + 1, 1)  # one call, 300 reports: past the buffer's first capacity (256)
    rows = e.report_rows()
    assert len(rows) == e.n_reports == 300
    assert rows == e.reports.T.tolist()
    assert all(type(row) is list and len(row) == mx.NUM_FIELDS for row in rows)
    assert [row[mx.FIELD_ORDER_ID] for row in rows] == list(range(1, 301))
    assert {row[mx.FIELD_KIND] for row in rows} == {mx.REPORT_CANCELED}
    assert {row[mx.FIELD_TS] for row in rows} == {TS + 1}


def test_report_rows_when_no_reports_then_empty():
    e = mx.MatchingEngine()
    e.advance(TS)
    assert e.report_rows() == []


def test_top_when_book_changes_then_best_prices_and_lots_of_both_sides():
    e = mx.MatchingEngine()
    assert e.top() == (0, 0, 0, 0)
    e.submit(TS, 1, 1, mx.BUY, mx.LIMIT, mx.GTC, 3, 100)
    e.submit(TS, 2, 1, mx.BUY, mx.LIMIT, mx.GTC, 4, 100)
    e.submit(TS, 3, 1, mx.BUY, mx.LIMIT, mx.GTC, 9, 99)
    assert e.top() == (100, 7, 0, 0)
    e.submit(TS, 4, 2, mx.SELL, mx.LIMIT, mx.GTC, 5, 102)
    assert e.top() == (100, 7, 102, 5)
    assert e.top() == (e.best_bid(), e.best_bid_lots(), e.best_ask(), e.best_ask_lots())
    e.submit(TS, 5, 2, mx.SELL, mx.LIMIT, mx.GTC, 7, 100)  # takes the whole best bid level
    assert e.top() == (99, 9, 102, 5)


def test_venue_accepted_report_when_order_rests_then_equals_the_constructed_event(venue, submit, clock):
    venue.apply(submit("r1", Side.BUY, "0.5", "60000.00"))
    ts = clock.timestamp_ns()
    (accepted,) = [
        e for e in venue.apply(submit("r2", Side.BUY, "0.25", "59999.00")) if type(e) is OrderAccepted
    ]
    expected = OrderAccepted(
        ts_event=ts,
        ts_init=ts + venue.config.report_latency_ns,
        account_id=AccountId("main"),
        client_order_id=ClientOrderId("r2"),
        instrument_id=BTC,
        venue_order_id=VenueOrderId("2"),
    )
    assert accepted == expected and hash(accepted) == hash(expected)
    assert type(accepted.venue_order_id) is VenueOrderId and accepted.sequence == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        accepted.sequence = 5  # type: ignore[misc]


def test_accepted_only_when_the_call_only_acknowledged_that_order_then_true():
    e = mx.MatchingEngine()
    e.submit(TS, 1, 1, mx.BUY, mx.LIMIT, mx.GTC, 3, 100)
    assert e.accepted_only(1)
    assert not e.accepted_only(2)  # another order's id
    e.submit(TS, 2, 2, mx.SELL, mx.LIMIT, mx.GTC, 1, 100)  # accepted and filled against order 1
    assert e.n_reports > 1 and not e.accepted_only(2)
    e.submit(TS, 3, 1, mx.BUY, mx.LIMIT, mx.GTC, 0, 100)  # rejected: invalid quantity
    assert e.n_reports == 1 and not e.accepted_only(3)
    e.cancel(TS, 1)
    assert not e.accepted_only(1)
    e.advance(TS + 1)  # no reports
    assert not e.accepted_only(1)
