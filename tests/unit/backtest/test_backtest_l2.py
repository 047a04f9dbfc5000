"""L2 replay: Binance captures through the depth synchroniser, our orders filled by the paper venue's
book walk (taking) and queue position (resting). A small hand-written capture in the real format,
and the real BTCUSDT spot capture."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from engine.backtest import BacktestConfig
from engine.backtest.l2 import L2Backtest
from engine.core.enums import Side
from engine.core.events import OrderBookUpdated, TradeTick
from engine.strategy.api import Strategy

T0 = 1_700_000_000_000_000_000
SYMBOL = "TESTUSDT"


def _capture(path: Path, trades: list[tuple[str, str, bool]]) -> str:
    """Snapshot bids 100.0 x 5 / 99.0 x 5, asks 101.0 x 5 / 102.0 x 5; one diff that syncs the book
    (adds a bid level at 98.0); then ``trades`` (price, qty, buyer_is_maker) 1 s apart, each followed
    by a diff that leaves the book as it was."""
    lines = []
    ts = T0
    snapshot = {
        "lastUpdateId": 100,
        "bids": [["100.0", "5.000"], ["99.0", "5.000"]],
        "asks": [["101.0", "5.000"], ["102.0", "5.000"]],
    }
    lines.append(f"{ts} {json.dumps(snapshot)}")
    u = 101

    def diff(bids: list[list[str]]) -> str:
        nonlocal u, ts
        ts += 1_000_000
        data = {"e": "depthUpdate", "E": ts // 1_000_000, "s": SYMBOL, "U": u, "u": u, "b": bids, "a": []}
        u += 1
        return f"{ts} {json.dumps({'stream': 'testusdt@depth@100ms', 'data': data})}"

    lines.append(diff([["98.0", "1.000"]]))
    for n, (price, qty, buyer_maker) in enumerate(trades):
        ts += 1_000_000_000
        data = {
            "e": "trade",
            "E": ts // 1_000_000,
            "s": SYMBOL,
            "t": n + 1,
            "p": price,
            "q": qty,
            "m": buyer_maker,
        }
        lines.append(f"{ts} {json.dumps({'stream': 'testusdt@trade', 'data': data})}")
        lines.append(diff([["98.0", "1.000"]]))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class JoinBid(Strategy):
    """On the first synced book: a resting BUY 1.000 at 100.0 (joins behind 5.000 shown there)."""

    name = "join_bid"

    def on_start(self) -> None:
        self.sent = False
        self.iid = self.ctx.instruments[0]
        self.trades_seen: list[str] = []

    def on_book(self, book: OrderBookUpdated) -> None:
        if not self.sent:
            self.sent = True
            self.ctx.submit_limit(
                self.iid, Side.BUY, self.ctx.quantity(self.iid, "1"), self.ctx.price(self.iid, "100.0")
            )

    def on_trade(self, tick: TradeTick) -> None:
        self.trades_seen.append(str(tick.price))


class TakeAsks(Strategy):
    """On the first synced book: a market BUY 7.000 (walks 5 @ 101.0 and 2 @ 102.0)."""

    name = "take_asks"

    def on_start(self) -> None:
        self.sent = False

    def on_book(self, book: OrderBookUpdated) -> None:
        if not self.sent:
            self.sent = True
            iid = self.ctx.instruments[0]
            self.ctx.submit_market(iid, Side.BUY, self.ctx.quantity(iid, "7"))


def test_resting_order_fills_only_after_the_queue_ahead_traded(tmp_path: Path) -> None:
    # Sells hit 100.0: 3 (queue 5 -> 2), then 3 (2 consumed, 1 fills us), then 1 (we are done).
    data = _capture(
        tmp_path / "cap.txt", [("100.0", "3.000", True), ("100.0", "3.000", True), ("100.0", "1.000", True)]
    )
    r = L2Backtest(JoinBid, [data], BacktestConfig(fees_bps=Decimal(5), maker_fees_bps=Decimal(1))).run()
    assert r.currency == "USDT"
    assert [(f.side, f.price, f.quantity, f.liquidity) for f in r.fills] == [
        ("BUY", Decimal("100"), Decimal("1"), "MAKER")
    ]
    # It filled on the second print (1 s after the first), not the first.
    assert r.fills[0].ts_ns == T0 + 1_000_000 + 2 * (1_000_000_000 + 1_000_000) - 1_000_000
    assert r.fills[0].commission == Decimal("0.01")  # 1 bp of 100
    assert r.orders[0]["status"] == "FILLED"


def test_resting_order_not_reached_by_the_queue_stays_working(tmp_path: Path) -> None:
    data = _capture(tmp_path / "cap.txt", [("100.0", "3.000", True), ("100.0", "2.000", True)])
    r = L2Backtest(JoinBid, [data], BacktestConfig()).run()
    assert r.fills == [] and r.orders[0]["status"] == "ACCEPTED"


def test_trade_through_our_price_fills_at_once(tmp_path: Path) -> None:
    data = _capture(tmp_path / "cap.txt", [("99.0", "0.500", True), ("99.0", "0.500", True)])
    r = L2Backtest(JoinBid, [data], BacktestConfig()).run()
    assert [(f.price, f.quantity) for f in r.fills] == [
        (Decimal("100"), Decimal("0.5")),
        (Decimal("100"), Decimal("0.5")),
    ]


def test_market_order_walks_the_book(tmp_path: Path) -> None:
    data = _capture(tmp_path / "cap.txt", [("101.0", "0.100", False)])
    r = L2Backtest(TakeAsks, [data], BacktestConfig(fees_bps=Decimal(10))).run()
    assert [(f.price, f.quantity, f.liquidity) for f in r.fills] == [
        (Decimal("101"), Decimal("5"), "TAKER"),
        (Decimal("102"), Decimal("2"), "TAKER"),
    ]
    assert sum(f.commission for f in r.fills) == Decimal("0.709")  # 10 bp of 505 + 204
    assert r.final_equity == Decimal(100_000) - 709 - Decimal("0.709") + 7 * Decimal("101")


def test_real_btcusdt_spot_capture_replays_and_trades(shared_data: Path) -> None:
    files = [
        str(shared_data / "binance-l2/spot/btcusdt_20240808.gz"),
        str(shared_data / "binance-l2/spot/btcusdt_20240809.gz"),
    ]
    r = L2Backtest(JoinBid, files, BacktestConfig()).run()
    assert r.instruments == ["BINANCE:BTCUSDT"] and r.currency == "USDT"
    assert r.metrics["bars"] > 500  # one sample per second of the ~10.8 minutes
    assert [o["status"] for o in r.orders] == ["ACCEPTED"]  # a bid at 100 USDT rests unfilled
    assert r.final_equity == Decimal(100_000)
