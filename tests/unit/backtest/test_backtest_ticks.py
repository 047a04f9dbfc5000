"""Trades/quotes replay (tardis.dev CSV through the marketdata importers): market orders take the
recorded top of book, a resting order waits behind the displayed size until trades consume it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from engine.backtest import BacktestConfig
from engine.backtest.sources import data_kind, make_backtest
from engine.backtest.ticks import TickBacktest
from engine.core.enums import Side
from engine.core.events import QuoteTick, TradeTick
from engine.strategy.api import Strategy

US = 1_600_000_000_000_000  # tardis timestamps are microseconds


def _quotes(path: Path) -> str:
    rows = ["exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"]
    rows.append(f"binance-futures,TESTUSDT,{US},{US + 10},2.0,101.0,100.0,3.0")
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def _trades(path: Path, prints: list[tuple[str, str, str]]) -> str:
    rows = ["exchange,symbol,timestamp,local_timestamp,id,side,price,amount"]
    for n, (side, price, amount) in enumerate(prints, start=1):
        t = US + n * 1_000_000
        rows.append(f"binance-futures,TESTUSDT,{t},{t + 10},{n},{side},{price},{amount}")
    path.write_text("\n".join(rows) + "\n")
    return str(path)


class BidOnQuote(Strategy):
    """On the first quote: a resting BUY 1.0 at the bid and a market BUY 1.0."""

    name = "bid_on_quote"

    def on_start(self) -> None:
        self.done = False

    def on_quote(self, tick: QuoteTick) -> None:
        if not self.done:
            self.done = True
            iid = tick.instrument_id
            one = self.ctx.quantity(iid, "1.0")
            self.ctx.submit_limit(iid, Side.BUY, one, tick.bid_price)
            self.ctx.submit_market(iid, Side.BUY, one)


class SellAfterPrints(Strategy):
    """Buys 0.5 on the first trade print, sells it on the third."""

    name = "sell_after_prints"

    def on_start(self) -> None:
        self.n = 0

    def on_trade(self, tick: TradeTick) -> None:
        self.n += 1
        half = self.ctx.quantity(tick.instrument_id, "0.5")
        if self.n == 1:
            self.ctx.submit_market(tick.instrument_id, Side.BUY, half)
        elif self.n == 3:
            self.ctx.submit_market(tick.instrument_id, Side.SELL, half)


def test_quotes_make_the_book_and_trades_work_the_queue(tmp_path: Path) -> None:
    quotes = _quotes(tmp_path / "q.csv")
    trades = _trades(
        tmp_path / "t.csv", [("sell", "100.0", "2.0"), ("sell", "100.0", "1.5"), ("sell", "100.0", "1.0")]
    )
    assert data_kind(quotes) == data_kind(trades) == "ticks"
    run = make_backtest(
        BidOnQuote, [trades, quotes], BacktestConfig(fees_bps=Decimal(4), maker_fees_bps=Decimal(1))
    )
    assert isinstance(run, TickBacktest)
    r = run.run()
    assert r.currency == "USDT"
    fills = [(f.price, f.quantity, f.liquidity, f.ts_ns) for f in r.fills]
    # The market BUY takes the ask at once; the bid joins behind 3.0: 2.0 then 1.0 of the second
    # print consume the queue, its last 0.5 fills us, the third print fills the remaining 0.5 (fills
    # carry the print's exchange time).
    assert fills == [
        (Decimal("101"), Decimal("1"), "TAKER", (US + 10) * 1000),
        (Decimal("100"), Decimal("0.5"), "MAKER", (US + 2_000_000) * 1000),
        (Decimal("100"), Decimal("0.5"), "MAKER", (US + 3_000_000) * 1000),
    ]


def test_trades_only_fill_market_orders_at_the_last_print_with_slippage(tmp_path: Path) -> None:
    trades = _trades(
        tmp_path / "t.csv", [("buy", "200.0", "1.5"), ("sell", "201.5", "1.5"), ("buy", "202.0", "1.5")]
    )
    r = TickBacktest(SellAfterPrints, [trades], BacktestConfig(slippage_bps=Decimal(50))).run()
    # The grid is the file's finest decimals (0.1). 50 bps: buy at 200 * 1.005 = 201.0; sell at
    # 202 * 0.995 = 200.99 -> 200.9 (rounded against us).
    assert [(f.side, f.price) for f in r.fills] == [("BUY", Decimal("201")), ("SELL", Decimal("200.9"))]
    assert r.final_equity == Decimal(100_000) + Decimal("0.5") * (Decimal("200.9") - Decimal("201"))


def test_real_tardis_trades_and_quotes_replay(shared_data: Path) -> None:
    files = [str(shared_data / "trades/tardis_quotes.csv"), str(shared_data / "trades/tardis_trades.csv.gz")]
    r = make_backtest(BidOnQuote, files, BacktestConfig()).run()
    assert r.currency == "USDT" and r.metrics["bars"] > 10_000
    assert r.fills[0].liquidity == "TAKER" and len(r.orders) == 2
