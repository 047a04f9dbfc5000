"""Round trips from the fills' integers (``_round_trips_exact``) are the records the general
``Decimal`` path (``_round_trips`` over the fill records) gives -- the same values down to each
``Decimal``'s exponent -- and it hands over to that path exactly when it cannot promise that (a fill
that flips a position, mixed precisions, sums of 28 digits). The result's fill records are built
when first read."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from engine.backtest import Backtest, BacktestConfig
from engine.backtest.engine import _fill_record, _FillColumns, _round_trips, _round_trips_exact
from engine.core.enums import LiquiditySide, Side
from engine.core.events import OrderFilled
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId, VenueOrderId

ACCOUNT = AccountId("acc")
BTC = InstrumentId("SIM:BTC-USD")
ETH = InstrumentId("SIM:ETH-USD")


def _fill(n: int, iid: InstrumentId, side: Side, price: Price, qty: Quantity, fee: Money) -> OrderFilled:
    return OrderFilled(
        ts_event=1_000 + n,
        ts_init=1_000 + n,
        account_id=ACCOUNT,
        client_order_id=ClientOrderId(f"o-{n}"),
        instrument_id=iid,
        venue_order_id=VenueOrderId(f"v-{n}"),
        trade_id=TradeId(f"t-{n}"),
        side=side,
        last_price=price,
        last_quantity=qty,
        liquidity_side=LiquiditySide.TAKER,
        commission=fee,
    )


def _random_log(rng: random.Random, fills: int, fees: bool) -> list[tuple[int, OrderFilled]]:
    """Fills that open, add to, reduce and close positions on two instruments, never flipping one."""
    position = {BTC: 0, ETH: 0}
    log = []
    for n in range(fills):
        iid = rng.choice((BTC, ETH))
        pos = position[iid]
        if pos == 0:
            signed = rng.choice((1, -1)) * rng.randint(1, 5_000)
        elif rng.random() < 0.4:  # add
            signed = (1 if pos > 0 else -1) * rng.randint(1, 5_000)
        else:  # reduce or close, at most the position
            signed = (-1 if pos > 0 else 1) * rng.choice((abs(pos), rng.randint(1, abs(pos))))
        position[iid] += signed
        price = Price.from_raw(rng.randint(1, 10_000_000), 2)
        fee = Money.from_raw(rng.choice((0, rng.randint(-50, 5_000))) if fees else 0, 8, "USD")
        side = Side.BUY if signed > 0 else Side.SELL
        log.append((n // 3, _fill(n, iid, side, price, Quantity.from_raw(abs(signed), 4), fee)))
    return log


def _as_text(trades: list) -> list[tuple[str, ...]]:
    """Every field; each Decimal by its exact text (value and exponent)."""
    return [tuple(repr(getattr(t, f)) for f in t.__slots__) for t in trades]


def _general(log: list[tuple[int, OrderFilled]]) -> list:
    return _round_trips([_fill_record(bar, ev) for bar, ev in log])


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("fees", [True, False])
def test_round_trips_exact_when_no_flip_then_the_records_of_the_decimal_path(seed: int, fees: bool) -> None:
    log = _random_log(random.Random(seed), 300, fees)
    exact = _round_trips_exact(_FillColumns(log))
    general = _general(log)
    assert exact is not None and len(exact) == len(general) > 10
    assert {t.direction for t in exact} == {"LONG", "SHORT"}
    assert _as_text(exact) == _as_text(general)


def test_round_trips_exact_when_a_short_is_covered_in_two_fills_then_one_exact_trade() -> None:
    zero = Money.from_raw(0, 8, "USD")
    log = [
        (0, _fill(0, BTC, Side.SELL, Price("100.50"), Quantity("0.1500"), zero)),
        (1, _fill(1, ETH, Side.BUY, Price("10.00"), Quantity("1.0000"), zero)),  # still open at the end
        (1, _fill(2, BTC, Side.BUY, Price("99.25"), Quantity("0.0500"), zero)),
        (2, _fill(3, BTC, Side.BUY, Price("101.00"), Quantity("0.1000"), zero)),
    ]
    exact = _round_trips_exact(_FillColumns(log))
    assert exact is not None and _as_text(exact) == _as_text(_general(log))
    (trade,) = exact
    assert (trade.instrument_id, trade.direction, trade.entry_bar, trade.exit_bar) == (
        str(BTC),
        "SHORT",
        0,
        2,
    )
    assert (trade.entry_ts_ns, trade.exit_ts_ns) == (1_000, 1_003)
    # entry 0.15 x 100.50 = 15.0750; exits 0.05 x 99.25 + 0.10 x 101.00 = 15.0625; short: +0.0125
    assert trade.quantity == Decimal("0.15") and trade.entry_price == Decimal("100.50")
    assert trade.exit_price == Decimal("15.0625") / Decimal("0.15")
    assert trade.pnl == Decimal("0.0125") and trade.fees == 0


def test_round_trips_when_a_fill_flips_the_position_then_the_general_path_splits_its_fee() -> None:
    fee = Money("0.03", "USD")
    log = [
        (0, _fill(0, BTC, Side.BUY, Price("100.00"), Quantity("1.0000"), fee)),
        (1, _fill(1, BTC, Side.SELL, Price("101.00"), Quantity("3.0000"), fee)),  # long 1 -> short 2
        (2, _fill(2, BTC, Side.BUY, Price("99.00"), Quantity("2.0000"), fee)),
    ]
    assert _round_trips_exact(_FillColumns(log)) is None
    long, short = _general(log)
    assert (long.direction, long.quantity, short.direction, short.quantity) == (
        "LONG", Decimal("1"), "SHORT", Decimal("2"),
    )  # fmt: skip
    assert long.fees == Decimal("0.03") + Decimal("0.01")  # a third of the flip's fee
    assert short.fees == Decimal("0.02") + Decimal("0.03")
    assert long.pnl == Decimal("1.00") - long.fees and short.pnl == Decimal("4.00") - short.fees


def test_round_trips_exact_when_precisions_mix_then_the_general_path() -> None:
    fee = Money("0", "USD")
    log = [
        (0, _fill(0, BTC, Side.BUY, Price("100.00"), Quantity("1.0000"), fee)),
        (1, _fill(1, BTC, Side.SELL, Price("101.000"), Quantity("1.0000"), fee)),
    ]
    assert _round_trips_exact(_FillColumns(log)) is None
    (trade,) = _general(log)
    assert trade.pnl == Decimal("1")


def test_round_trips_exact_when_sums_reach_28_digits_then_the_general_path() -> None:
    big = Quantity.from_raw(9 * 10**17, 4)
    price = Price.from_raw(9 * 10**17, 2)  # q x p = 8.1e35 raw: beyond Decimal's 28 digits
    fee = Money("0", "USD")
    log = [(0, _fill(0, BTC, Side.BUY, price, big, fee)), (1, _fill(1, BTC, Side.SELL, price, big, fee))]
    assert _round_trips_exact(_FillColumns(log)) is None
    assert len(_general(log)) == 1


def test_result_fills_when_first_read_then_built_once_and_as_the_json_has_them(tmp_path: Path) -> None:
    closes = [100.0, 101.0, 103.0, 104.0, 102.0, 99.0, 98.0, 97.0, 99.0, 102.0, 104.0, 103.0, 100.0, 98.0]
    path = tmp_path / "b.csv"
    rows = ["timestamp,open,high,low,close,volume"]
    rows += [f"{1_700_000_000 + 60 * i},{c},{c + 1},{c - 1},{c},10" for i, c in enumerate(closes)]
    path.write_text("\n".join(rows) + "\n")
    result = Backtest(
        "sma_cross", [str(path)], BacktestConfig(fill="close"), params={"fast": 2, "slow": 4}
    ).run()
    assert callable(result.fill_records)  # nothing built yet
    fills = result.fills
    assert result.fills is fills and result.fill_records is fills
    assert len(fills) == result.metrics["fills"] >= 2 and [f.side for f in fills][:2] == ["BUY", "SELL"]
    assert result.to_json()["fills"] == [f.to_json() for f in fills]
    assert _as_text(result.trades) == _as_text(_round_trips(fills))
