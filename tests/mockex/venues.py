"""Mock exchanges per venue, built from ``../shared/data/exchange-payloads`` (and l2-samples for Bybit).

Each builder returns a ``MockExchange`` plus the ccxt symbols its recorded streams cover. The recorded
sessions are replayed unmodified; where ccxt needs a REST answer the recording does not hold, the
builder says so and what it serves instead.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.mockex.server import MockExchange
from tests.mockex.sessions import RestRecord, merge, read_rest, read_ws

SESSIONS = "exchange-payloads/cryptofeed-sessions"
FIXTURES = "exchange-payloads/nautilus-adapter-fixtures"


@dataclass
class VenueMock:
    venue: str  # ccxt id for FeedSettings.venue
    mock: MockExchange
    symbols: tuple[str, ...]
    #: Symbols whose recorded stream carries a book (default: all).
    books: tuple[str, ...] = ()

    @property
    def book_symbols(self) -> tuple[str, ...]:
        return self.books or self.symbols


def _session(data: Path, rest_files: list[str], ws_files: list[str]) -> MockExchange:
    d = data / SESSIONS
    rest = [r for f in rest_files for r in read_rest(d / f)]
    return MockExchange(rest, merge(*[read_ws(d / f) for f in ws_files]))


def binance(data: Path) -> VenueMock:
    """Binance spot, 2021-10-12: exchangeInfo, 4 REST depth snapshots, depth/bookTicker/kline/aggTrade."""
    mock = _session(data, ["BINANCE.0", "BINANCE.http.0.0"], ["BINANCE.ws.1.0"])
    return VenueMock("binance", mock, ("NKN/USDT", "BLZ/ETH"))


def binance_usdm(data: Path) -> VenueMock:
    mock = _session(data, ["BINANCE_FUTURES.0", "BINANCE_FUTURES.http.0.0"], ["BINANCE_FUTURES.ws.1.0"])
    return VenueMock("binanceusdm", mock, ("SUSHI/USDT:USDT", "AKRO/USDT:USDT"))


def okx(data: Path) -> VenueMock:
    """OKX v5, 2022-05-13: instruments (spot/swap/futures), books (with checksums), trades."""
    mock = _session(data, ["OKX.0"], ["OKX.ws.1.0"])
    mock.pong = lambda text: "pong" if text == "ping" else None
    return VenueMock("okx", mock, ("BTC/USDT", "UNI/USD:UNI", "BTC/USD:BTC-220527"))


def kraken(data: Path) -> VenueMock:
    """Kraken ws v1, 2021-04-17: AssetPairs, trade/ticker/book-1000 (with checksums), merged by time."""
    mock = _session(data, ["KRAKEN.0"], ["KRAKEN.ws.48.0", "KRAKEN.ws.49.0", "KRAKEN.ws.50.0"])
    mock.pong = lambda text: '{"event":"pong"}' if '"ping"' in text else None
    return VenueMock("kraken", mock, ("XMR/USD", "ETH/CHF"))


def coinbase(data: Path) -> VenueMock:
    """Coinbase Pro/Exchange, 2021-04-17: products, level2 snapshot/l2update, matches, ticker."""
    mock = _session(data, ["COINBASE.0"], ["COINBASE.ws.28.0"])
    return VenueMock("coinbase", mock, ("SKL/USD", "DASH/BTC"))


def bybit(data: Path) -> VenueMock:
    """Bybit v5 linear. The recorded cryptofeed Bybit session is the retired v2 API, so this mock uses:
    the real ``orderbook.500.XRPUSDT`` capture (1 snapshot + 49 deltas, l2-samples), the v5 trade
    fixture, and nautilus's v5 ``instruments-info`` fixtures. XRPUSDT is not in those fixtures: its row
    is the fixture's ETHUSDT row with the symbol, base coin and XRPUSDT's tick (0.0001) and step (1)."""
    fx = data / FIXTURES / "bybit" / "test_data"
    linear = json.loads((fx / "http_get_instruments_linear.json").read_text())
    eth = next(row for row in linear["result"]["list"] if row["symbol"] == "ETHUSDT")
    xrp = json.loads(json.dumps(eth))
    xrp.update(symbol="XRPUSDT", baseCoin="XRP")
    xrp["priceFilter"]["tickSize"] = "0.0001"
    xrp["lotSizeFilter"].update(qtyStep="1", minOrderQty="1")
    linear["result"]["list"].append(xrp)
    spot = (fx / "http_get_instruments_spot.json").read_text()
    rest = [
        RestRecord("/v5/market/instruments-info", {"category": "linear"}, json.dumps(linear)),
        RestRecord("/v5/market/instruments-info", {"category": "spot"}, spot),
        # ccxt also asks for pre-launch linear markets; the fixtures have none: an empty, valid page.
        RestRecord(
            "/v5/market/instruments-info",
            {"category": "linear", "limit": "1000", "status": "PreLaunch"},
            '{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[],"nextPageCursor":""}}',
        ),
    ]
    with zipfile.ZipFile(data / "l2-samples" / "xrpusdt-ob500.data.zip") as z:
        book = z.read(z.namelist()[0]).decode().splitlines()
    trade = json.loads((fx / "ws_public_trade.json").read_text())
    trade["topic"] = "publicTrade.BTCUSDT"
    mock = MockExchange(rest, [*book, json.dumps(trade)])
    mock.pong = lambda text: '{"op":"pong","success":true}' if '"ping"' in text else None
    return VenueMock("bybit", mock, ("XRP/USDT:USDT", "BTC/USDT:USDT"), books=("XRP/USDT:USDT",))


ALL = {
    "binance": binance,
    "binanceusdm": binance_usdm,
    "okx": okx,
    "kraken": kraken,
    "coinbase": coinbase,
    "bybit": bybit,
}
