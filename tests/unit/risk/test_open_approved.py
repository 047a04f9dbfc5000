"""An approved order opened right after its check: the gate opens it with the ticks and lots the check
derived (``RiskGate.open_approved``), with the same result as converting the order's terms again."""

from __future__ import annotations

from risk_builders import ACC, BTC, ETH, STRAT, T0, make_engine, submit

from engine.core.enums import OrderType, Side
from engine.risk import RiskEngine

TS = T0 + 1


def _gate_order(risk: RiskEngine, key: int) -> tuple[int, ...] | None:
    return risk.gate.order(key)  # type: ignore[no-any-return]


def test_on_order_opened_right_after_approval_then_gate_holds_the_checked_terms() -> None:
    risk = make_engine()
    # A stop-limit sell whose values are at fewer places than the grid's (rescaled by the check).
    cmd = submit(Side.SELL, "0.5", "49900", order_type=OrderType.STOP_LIMIT, trigger="49950.5")
    assert risk.check_submit(cmd, TS).approved
    risk.on_order_opened(cmd)
    acc, inst, strat = risk._accounts[ACC], risk._instruments[BTC].ix, risk._strategies[STRAT]
    # (acc, inst, strat, side, otype, price ticks, trigger ticks, total lots, leaves): 0.01 / 0.001 grid
    assert _gate_order(risk, 1) == (acc, inst, strat, 2, 4, 4_990_000, 4_995_050, 500, 500)
    assert risk.gate.open_lots(acc, inst, int(Side.SELL)) == 500


def test_on_order_opened_when_another_check_ran_in_between_then_same_state_as_right_after() -> None:
    direct, late = make_engine(), make_engine()
    first = submit(Side.BUY, "0.25", "49995.5", coid="a")
    second = submit(Side.BUY, "0.02", "3000", instrument_id=ETH, coid="b")
    for risk in (direct, late):
        assert risk.check_submit(first, TS).approved
    direct.on_order_opened(first)  # right after its approval
    assert late.check_submit(second, TS).approved  # another approval in between: converted again
    late.on_order_opened(first)
    late.on_order_opened(second)
    assert direct.check_submit(second, TS).approved
    direct.on_order_opened(second)
    assert direct.snapshot() == late.snapshot()
    assert direct.gate.order(1) == late.gate.order(1)


def test_open_approved_when_not_the_last_approval_then_nothing_is_opened() -> None:
    risk = make_engine()
    gate = risk.gate
    acc, btc, eth = risk._accounts[ACC], risk._instruments[BTC].ix, risk._instruments[ETH].ix
    cmd = submit(Side.BUY, "1", "50000", coid="x")
    assert gate.open_approved(1, acc, btc, "x") == 0  # nothing approved yet
    assert risk.check_submit(cmd, TS).approved
    assert gate.open_approved(1, acc + 1, btc, "x") == 0  # another account
    assert gate.open_approved(1, acc, eth, "x") == 0  # another instrument
    assert gate.open_approved(1, acc, btc, "y") == 0  # another order
    assert gate.order_count == 0
    assert gate.open_approved(1, acc, btc, "x") == 1000
    assert gate.order(1) is not None and gate.order_count == 1
    assert gate.open_approved(2, acc, btc, "x") == 0  # opened once only
    assert gate.order_count == 1


def test_open_approved_when_a_denied_check_followed_then_nothing_is_opened() -> None:
    risk = make_engine()
    acc, btc = risk._accounts[ACC], risk._instruments[BTC].ix
    assert risk.check_submit(submit(coid="ok"), TS).approved
    assert not risk.check_submit(submit(price="50000.001", coid="off-tick"), TS).approved
    assert risk.gate.open_approved(1, acc, btc, "ok") == 0
    assert risk.gate.order_count == 0


def test_open_approved_when_the_order_was_opened_the_long_way_then_not_again() -> None:
    risk = make_engine()
    gate = risk.gate
    acc, btc, strat = risk._accounts[ACC], risk._instruments[BTC].ix, risk._strategies[STRAT]
    assert risk.check_submit(submit(coid="z"), TS).approved
    gate.on_order_opened(7, acc, btc, strat, 1, 2, 5_000_000, 0, 1000)
    assert gate.open_approved(8, acc, btc, "z") == 0
    assert gate.order_count == 1
