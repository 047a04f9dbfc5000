"""The compiled matcher's own validation: each reject reason with its named code and report."""

from __future__ import annotations

import pytest

from engine.ext.matching import engine as mx

R = mx.REASON_CODES
TS = 1_000


def _engine() -> mx.MatchingEngine:
    e = mx.MatchingEngine(min_lots=2, max_lots=100, min_notional=50, capacity=16)
    e.submit(0, 900, 9, mx.SELL, mx.LIMIT, mx.GTC, 10, 105)
    return e


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((0, 1, mx.BUY, mx.LIMIT, mx.GTC, 5, 100), "INVALID_ORDER_ID"),
        ((900, 1, mx.BUY, mx.LIMIT, mx.GTC, 5, 100), "DUPLICATE_ORDER_ID"),
        ((1, -1, mx.BUY, mx.LIMIT, mx.GTC, 5, 100), "INVALID_ACCOUNT"),
        ((1, 1, 3, mx.LIMIT, mx.GTC, 5, 100), "INVALID_SIDE"),
        ((1, 1, mx.BUY, 9, mx.GTC, 5, 100), "INVALID_ORDER_TYPE"),
        ((1, 1, mx.BUY, mx.LIMIT, 7, 5, 100), "INVALID_TIME_IN_FORCE"),
        ((1, 1, mx.BUY, mx.MARKET, mx.GTD, 5, 0, 0, TS + 5), "INVALID_TIME_IN_FORCE"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.GTC, 0, 100), "INVALID_QUANTITY"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.GTC, 5, 0), "INVALID_PRICE"),
        ((1, 1, mx.BUY, mx.MARKET, mx.IOC, 5, 100), "INVALID_PRICE"),
        ((1, 1, mx.BUY, mx.STOP_MARKET, mx.GTC, 5, 0, 0), "INVALID_TRIGGER_PRICE"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.GTC, 5, 100, 101), "INVALID_TRIGGER_PRICE"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.GTD, 5, 100, 0, TS), "INVALID_EXPIRE_TIME"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.GTC, 5, 100, 0, TS + 5), "INVALID_EXPIRE_TIME"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.GTC, 5, 100, 0, 0, 8), "INVALID_FLAGS"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.IOC, 5, 100, 0, 0, mx.POST_ONLY), "POST_ONLY_INVALID"),
        ((1, 1, mx.BUY, mx.MARKET, mx.IOC, 5, 0, 0, 0, mx.POST_ONLY), "POST_ONLY_INVALID"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.GTC, 1, 100), "BELOW_MIN_QUANTITY"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.GTC, 101, 100), "ABOVE_MAX_QUANTITY"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.GTC, 2, 20), "BELOW_MIN_NOTIONAL"),
        ((1, 1, mx.SELL, mx.MARKET, mx.IOC, 5), "NO_LIQUIDITY"),
        ((1, 1, mx.SELL, mx.LIMIT, mx.GTC, 5, 100, 0, 0, mx.REDUCE_ONLY), "REDUCE_ONLY_WOULD_INCREASE"),
        ((1, 1, mx.BUY, mx.LIMIT, mx.GTC, 5, 105, 0, 0, mx.POST_ONLY), "POST_ONLY_WOULD_TAKE"),
    ],
)
def test_matcher_submit_when_invalid_then_rejected_with_named_reason(args, reason):
    e = _engine()
    code = e.submit(TS, *args)
    assert mx.REASON_NAMES[code] == reason
    rows = e.report_rows()
    assert len(rows) == 1
    assert rows[0][mx.FIELD_KIND] == mx.REPORT_REJECTED and rows[0][mx.FIELD_REASON] == code
    assert e.order_count == 1  # nothing added


def test_matcher_submit_when_above_max_notional_then_rejected():
    e = mx.MatchingEngine(taker_fee_num=1, taker_fee_den=1)  # fee = notional: bound 2**62
    assert e.max_notional == 1 << 62
    assert (
        mx.REASON_NAMES[e.submit(0, 1, 1, mx.BUY, mx.LIMIT, mx.GTC, 1 << 40, 1 << 23)] == "ABOVE_MAX_NOTIONAL"
    )


def test_matcher_stop_when_last_trade_already_beyond_trigger_then_rejected():
    e = _engine()
    e.submit(TS, 1, 1, mx.BUY, mx.MARKET, mx.IOC, 5)  # trades at 105
    assert (
        mx.REASON_NAMES[e.submit(TS, 2, 1, mx.BUY, mx.STOP_MARKET, mx.GTC, 5, 0, 104)] == "STOP_WOULD_TRIGGER"
    )
    assert e.submit(TS, 3, 1, mx.BUY, mx.STOP_MARKET, mx.GTC, 5, 0, 106) == 0


def test_matcher_cancel_and_amend_when_unknown_then_rejected_reports():
    e = _engine()
    assert mx.REASON_NAMES[e.cancel(TS, 77)] == "UNKNOWN_ORDER"
    assert e.report_rows()[0][mx.FIELD_KIND] == mx.REPORT_CANCEL_REJECTED
    assert mx.REASON_NAMES[e.amend(TS, 77, qty=5)] == "UNKNOWN_ORDER"
    assert e.report_rows()[0][mx.FIELD_KIND] == mx.REPORT_AMEND_REJECTED


def test_matcher_reason_table_when_read_then_names_and_codes_are_a_bijection():
    assert {mx.REASON_CODES[name] for name in mx.REASON_NAMES.values()} == set(mx.REASON_NAMES)
    assert len(set(mx.REASON_NAMES.values())) == len(mx.REASON_NAMES)


def test_matcher_reports_when_buffer_fills_then_it_grows_and_keeps_every_report():
    e = mx.MatchingEngine(capacity=16)
    for i in range(1, 601):
        e.submit(0, i, 1, mx.SELL, mx.LIMIT, mx.GTC, 1, 100 + i % 7)
    e.submit(1, 10_000, 2, mx.BUY, mx.MARKET, mx.IOC, 600)
    rows = e.report_rows()
    assert e.n_reports == len(rows) == 1 + 2 * 600
    assert sum(r[mx.FIELD_QTY] for r in rows if r[mx.FIELD_LIQUIDITY] == mx.TAKER) == 600
    assert e.order_count == 0
    e.check_invariants()
