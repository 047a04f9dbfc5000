"""Bar fill model: next open vs close, slippage, maker/taker fees, resting limits and stops worked
along the intrabar path, latency, determinism. Small hand-made bar files, scripted strategies."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

from engine.backtest import Backtest, BacktestConfig
from engine.core.enums import Side
from engine.strategy.api import BarView, Strategy

T0 = 1_700_000_000  # epoch seconds of the first bar's open
MINUTE_NS = 60_000_000_000
#: open, high, low, close per bar (1-minute bars)
BARS = [
    (100.0, 101.0, 99.0, 100.5),
    (101.0, 103.0, 100.0, 102.0),
    (102.5, 104.0, 98.0, 99.0),
    (99.5, 100.0, 97.0, 98.0),
    (98.0, 99.0, 96.0, 97.5),
    (97.0, 98.0, 95.0, 96.0),
]


def _csv(path: Path, bars: list[tuple[float, float, float, float]] = BARS) -> str:
    lines = ["timestamp,open,high,low,close,volume"]
    for i, (o, h, lo, c) in enumerate(bars):
        lines.append(f"{T0 + 60 * i},{o},{h},{lo},{c},10")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class Scripted(Strategy):
    """Does what ``SCRIPT`` says at bar n: ('market', side, qty) / ('limit', side, qty, price) /
    ('stop', side, qty, trigger)."""

    name = "scripted"
    SCRIPT: ClassVar[dict[int, list[tuple]]] = {}

    def on_start(self) -> None:
        self.n = 0
        self.iid = self.ctx.instruments[0]

    def on_bar(self, bar: BarView) -> None:
        for action in self.SCRIPT.get(self.n, []):
            kind, side, qty, *rest = action
            q = self.ctx.quantity(self.iid, qty)
            if kind == "market":
                self.ctx.submit_market(self.iid, side, q)
            elif kind == "limit":
                self.ctx.submit_limit(self.iid, side, q, self.ctx.price(self.iid, rest[0]))
            elif kind == "stop":
                self.ctx.submit_stop(self.iid, side, q, self.ctx.price(self.iid, rest[0]))
        self.n += 1


def _script(actions: dict[int, list[tuple]]) -> type[Strategy]:
    return type("Script", (Scripted,), {"SCRIPT": actions})


def _run(tmp_path: Path, actions: dict[int, list[tuple]], **cfg: object):
    config = BacktestConfig(tick_size="0.5", size_increment="0.001", **cfg)  # type: ignore[arg-type]
    return Backtest(_script(actions), [_csv(tmp_path / "x-1m.csv")], config).run()


def _fills(result) -> list[tuple[int, str, Decimal, Decimal, Decimal, str]]:
    return [(f.bar_index, f.side, f.price, f.quantity, f.commission, f.liquidity) for f in result.fills]


def test_fill_at_close_fills_market_orders_at_the_signal_bar_close(tmp_path: Path) -> None:
    r = _run(tmp_path, {0: [("market", Side.BUY, "2")], 2: [("market", Side.SELL, "2")]}, fill="close")
    assert _fills(r) == [
        (0, "BUY", Decimal("100.5"), Decimal("2"), Decimal(0), "TAKER"),
        (2, "SELL", Decimal("99"), Decimal("2"), Decimal(0), "TAKER"),
    ]
    assert r.final_equity == Decimal(100_000) + 2 * (Decimal("99") - Decimal("100.5"))
    assert len(r.trades) == 1 and r.trades[0].pnl == Decimal("-3")


def test_fill_at_next_open_fills_at_the_following_bar_open(tmp_path: Path) -> None:
    r = _run(tmp_path, {0: [("market", Side.BUY, "2")], 2: [("market", Side.SELL, "2")]}, fill="next_open")
    assert _fills(r) == [
        (1, "BUY", Decimal("101"), Decimal("2"), Decimal(0), "TAKER"),
        (3, "SELL", Decimal("99.5"), Decimal("2"), Decimal(0), "TAKER"),
    ]
    assert r.final_equity == Decimal(100_000) + 2 * (Decimal("99.5") - Decimal("101"))


def test_next_open_on_the_last_bar_does_not_fill(tmp_path: Path) -> None:
    r = _run(tmp_path, {5: [("market", Side.BUY, "1")]}, fill="next_open")
    assert r.fills == []
    assert [o["status"] for o in r.orders] == ["REJECTED"]
    assert r.orders[0]["reason"] == "NO_LIQUIDITY"


def test_slippage_moves_buys_up_and_sells_down_rounded_against_us(tmp_path: Path) -> None:
    # 100 bps of 100.5 = 1.005 -> buy at 101.505 rounded up to the 0.5 grid = 102.0;
    # sell at 99 - 0.99 = 98.01 rounded down = 98.0.
    r = _run(
        tmp_path,
        {0: [("market", Side.BUY, "1")], 2: [("market", Side.SELL, "1")]},
        fill="close",
        slippage_bps=Decimal(100),
    )
    assert [(f[1], f[2]) for f in _fills(r)] == [("BUY", Decimal("102")), ("SELL", Decimal("98"))]


def test_taker_fees_on_market_orders(tmp_path: Path) -> None:
    r = _run(
        tmp_path,
        {0: [("market", Side.BUY, "2")], 2: [("market", Side.SELL, "2")]},
        fill="close",
        fees_bps=Decimal(10),
        maker_fees_bps=Decimal(2),
    )
    # 10 bps of 201 = 0.201; of 198 = 0.198 (taker).
    assert [(f[4], f[5]) for f in _fills(r)] == [(Decimal("0.201"), "TAKER"), (Decimal("0.198"), "TAKER")]
    assert r.fees == Decimal("0.399")
    assert r.final_equity == Decimal(100_000) - 3 - Decimal("0.399")
    assert r.trades[0].fees == Decimal("0.399")


def test_resting_limit_fills_at_its_price_when_the_path_reaches_it_with_the_maker_fee(tmp_path: Path) -> None:
    # At bar 0's close (100.5) a BUY limit at 99.5 rests; bar 1 (low 100) never reaches it; bar 2's
    # path (down bar: open 102.5, high 104, low 98, close 99) crosses it -> fills at 99.5 as maker.
    r = _run(
        tmp_path,
        {0: [("limit", Side.BUY, "1", 99.5)]},
        fill="close",
        fees_bps=Decimal(10),
        maker_fees_bps=Decimal(2),
    )
    assert _fills(r) == [(2, "BUY", Decimal("99.5"), Decimal("1"), Decimal("0.0199"), "MAKER")]
    assert r.orders[0]["status"] == "FILLED"


def test_resting_limit_far_outside_the_book_window_fills_at_its_price_when_the_path_reaches_it(
    tmp_path: Path,
) -> None:
    # The bar books keep a 64-tick price window around the reference: a limit 150 ticks of 0.01
    # below the touch (bar 0 closes at 100.5) rests outside it, and still fills at 99.00 as maker on
    # bar 2 (low 98), with nothing queued ahead of it.
    config = BacktestConfig(tick_size="0.01", size_increment="0.001", fill="close")  # type: ignore[arg-type]
    script = _script({0: [("limit", Side.BUY, "1", 99.0)]})
    r = Backtest(script, [_csv(tmp_path / "x-1m.csv")], config).run()
    assert _fills(r) == [(2, "BUY", Decimal("99.00"), Decimal("1"), Decimal("0"), "MAKER")]
    assert r.orders[0]["status"] == "FILLED"


def test_limit_that_the_path_never_reaches_stays_working(tmp_path: Path) -> None:
    r = _run(tmp_path, {0: [("limit", Side.BUY, "1", 90)]}, fill="close")
    assert r.fills == []
    assert r.orders[0]["status"] == "ACCEPTED"


def test_stop_triggers_on_the_path_and_takes_the_book_there(tmp_path: Path) -> None:
    # BUY stop at 103.5 placed at bar 0; bar 1 high is 103 (no trigger); bar 2 (down bar) goes
    # open 102.5 -> high 104: triggers, and takes the book at that point (104) as taker.
    r = _run(tmp_path, {0: [("stop", Side.BUY, "1", 103.5)]}, fill="close")
    assert _fills(r) == [(2, "BUY", Decimal("104"), Decimal("1"), Decimal(0), "TAKER")]


def test_order_latency_delays_the_fill_to_the_book_of_its_arrival(tmp_path: Path) -> None:
    # Sent at bar 0's close (T0+60s) with 70 s latency: arrives at T0+130s, inside bar 2 (opens at
    # T0+120s). Its path: open 102.5 at +120s, high 104 at +140s... so it takes the open's book.
    r = _run(tmp_path, {0: [("market", Side.BUY, "1")]}, fill="close", order_latency_ns=70 * 1_000_000_000)
    assert len(r.fills) == 1
    fill = r.fills[0]
    assert fill.ts_ns == (T0 + 130) * 1_000_000_000
    assert (fill.bar_index, fill.price) == (2, Decimal("102.5"))


def test_same_inputs_give_byte_identical_results(tmp_path: Path) -> None:
    data = _csv(tmp_path / "btc-1m.csv")
    config = BacktestConfig(
        fill="next_open", fees_bps=Decimal(5), slippage_bps=Decimal(3), size_increment="0.001"
    )
    outs = []
    for i in range(2):
        result = Backtest("sma_cross", [data], config, params={"fast": 2, "slow": 3}).run()
        outs.append(result.write_json(tmp_path / f"r{i}.json").read_bytes())
    assert outs[0] == outs[1]
    assert b'"fills"' in outs[0]


def test_sma_cross_on_real_candles_is_deterministic(shared_data: Path, tmp_path: Path) -> None:
    data = [str(shared_data / "candles/btc-perp-20211231-20220201_1m.csv")]
    config = BacktestConfig(fill="next_open", fees_bps=Decimal(4), slippage_bps=Decimal(1))
    a = Backtest("sma_cross", data, config).run().write_json(tmp_path / "a.json").read_bytes()
    b = Backtest("sma_cross", data, config).run().write_json(tmp_path / "b.json").read_bytes()
    assert a == b


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_final_equity_is_cash_plus_position_at_the_last_close(tmp_path: Path, fill: str) -> None:
    r = _run(tmp_path, {1: [("market", Side.BUY, "3")]}, fill=fill, fees_bps=Decimal(1))
    price = r.fills[0].price
    expected = Decimal(100_000) - 3 * price - r.fees + 3 * Decimal("96")
    assert r.final_equity == expected
    assert float(r.equity[-1]) == pytest.approx(float(expected), rel=1e-12)
    assert r.metrics["exposure"] == pytest.approx((6 - r.fills[0].bar_index) / 6)


def test_lmdb_bar_recording_backtests_like_the_same_bars_from_csv(tmp_path: Path) -> None:
    from engine.backtest.data import load_bar_stream
    from engine.core.events import Bar
    from engine.core.fixed import Price, Quantity
    from engine.store.recording import RecordingWriter

    csv = _csv(tmp_path / "x-1m.csv")
    instrument = load_bar_stream([csv], tick_size="0.5", size_increment="0.001").series[0].instrument
    with RecordingWriter(tmp_path / "rec") as writer:
        writer.add_instrument(instrument)
        for i, (o, h, lo, c) in enumerate(BARS):
            ts_open = (T0 + 60 * i) * 1_000_000_000
            writer.append(
                Bar(
                    ts_event=ts_open + MINUTE_NS,
                    ts_init=ts_open + MINUTE_NS,
                    instrument_id=instrument.id,
                    interval_ns=MINUTE_NS,
                    ts_open=ts_open,
                    open=Price(str(o)),
                    high=Price(str(h)),
                    low=Price(str(lo)),
                    close=Price(str(c)),
                    volume=Quantity("10"),
                    trade_count=0,
                )
            )
    actions = {0: [("market", Side.BUY, "2")], 3: [("market", Side.SELL, "2")]}
    config = BacktestConfig(tick_size="0.5", size_increment="0.001", fill="next_open", fees_bps=Decimal(3))
    from_csv = Backtest(_script(actions), [csv], config).run()
    from_lmdb = Backtest(_script(actions), [str(tmp_path / "rec")], config).run()
    assert _fills(from_lmdb) == _fills(from_csv) and len(from_csv.fills) == 2
    assert from_lmdb.final_equity == from_csv.final_equity


def test_tiny_prices_get_a_coarser_lot_and_files_of_one_symbol_are_joined(shared_data: Path) -> None:
    candles = shared_data / "candles"
    files = [str(candles / "ADABTC-1m-2021-11-27.csv"), str(candles / "ADABTC-1m-2021-11-28.csv")]
    r = Backtest("ema_cross", files, BacktestConfig(fill="close", fees_bps=Decimal(2))).run()
    assert r.instruments == ["BT:ADABTC"] and r.bars == 2880
    assert r.metrics["fills"] > 10 and all(o["status"] == "FILLED" for o in r.orders)
    assert r.fills[0].quantity == r.fills[0].quantity.quantize(Decimal("0.001"))  # 1e-8 tick -> 0.001 lot


def test_two_symbols_replay_merged_in_time_order(shared_data: Path) -> None:
    candles = shared_data / "candles"
    files = [str(candles / "freqtrade/ETH_BTC-5m.feather"), str(candles / "freqtrade/LTC_BTC-5m.feather")]
    r = Backtest("sma_cross", files, BacktestConfig(fill="next_open")).run()
    assert r.instruments == ["BT:ETH_BTC", "BT:LTC_BTC"]
    assert (r.ts_close_ns[1:] >= r.ts_close_ns[:-1]).all()
    assert {f.instrument_id for f in r.fills} == {"BT:ETH_BTC", "BT:LTC_BTC"}


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_equity_curve_is_cash_plus_position_marked_at_each_close(tmp_path: Path, fill: str) -> None:
    actions = {
        0: [("market", Side.BUY, "2")],
        1: [("market", Side.BUY, "1.5")],
        3: [("market", Side.SELL, "3.5"), ("market", Side.SELL, "1")],
        4: [("market", Side.BUY, "1")],
    }
    r = _run(tmp_path, actions, fill=fill, fees_bps=Decimal(7))
    assert len(r.fills) == 5
    closes = [Decimal(str(c)) for *_, c in BARS]
    cash, position = Decimal(100_000), Decimal(0)
    expected_equity, expected_value = [], []
    for k, close in enumerate(closes):
        for f in (f for f in r.fills if f.bar_index == k):
            signed = f.quantity if f.side == "BUY" else -f.quantity
            cash -= signed * f.price + f.commission
            position += signed
        expected_value.append(float(position * close))
        expected_equity.append(float(cash + position * close))
    assert r.position_value.tolist() == pytest.approx(expected_value, rel=1e-12, abs=1e-9)
    assert r.equity.tolist() == pytest.approx(expected_equity, rel=1e-12)
    assert r.ts_close_ns.tolist() == [(T0 + 60 * (k + 1)) * 1_000_000_000 for k in range(len(BARS))]
