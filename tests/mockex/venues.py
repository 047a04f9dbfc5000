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
OKX_CANDLE_FIXTURE = f"{FIXTURES}/okx/test_data/ws_candle.json"
#: Where ccxt.pro's okx opens its candle connection (``get_url('candle', 'business')``).
OKX_BUSINESS_PATH = "/ws/v5/business"
#: Crypto.com has no recorded session here: its BTC/USDT spot market as ccxt's ``load_markets`` gives it
#: (given to ccxt with ``set_markets``), for the tests that drive its documented message shapes.
CRYPTOCOM_MARKET = {
    "id": "BTC_USDT",
    "symbol": "BTC/USDT",
    "base": "BTC",
    "quote": "USDT",
    "baseId": "BTC",
    "quoteId": "USDT",
    "settle": None,
    "type": "spot",
    "spot": True,
    "swap": False,
    "future": False,
    "option": False,
    "contract": False,
    "active": True,
    "precision": {"price": 0.01, "amount": 0.00001},
    "limits": {"amount": {"min": 0.00001}},
    "info": {},
}


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
    """OKX v5, 2022-05-13: instruments (spot/swap/futures), books (with checksums), trades on
    ``/public``. The recording has no candles: ``/business`` answers and stays silent (the feed's
    candle connection must never land on ``/public``); ``okx_with_candles`` serves candles there."""
    mock = _session(data, ["OKX.0"], ["OKX.ws.1.0"])
    mock.pong = lambda text: "pong" if text == "ping" else None
    business = MockExchange([], [])
    business.pong = mock.pong
    mock.ws_routes[OKX_BUSINESS_PATH] = business
    return VenueMock("okx", mock, ("BTC/USDT", "UNI/USD:UNI", "BTC/USD:BTC-220527"))


def okx_business(vm: VenueMock) -> MockExchange:
    """The mock behind an OKX mock's ``/business`` endpoint."""
    return vm.mock.ws_routes[OKX_BUSINESS_PATH]


def okx_candle_pushes(data: Path) -> list[str] | None:
    """The ``/business`` pushes of one BTC-USDT ``candle1D``, from nautilus's ``ws_candle.json`` (the
    venue's closing push, ``confirm`` "1"): first the same row with ``confirm`` "0" (how OKX pushes a
    candle while it forms), then the fixture as recorded. None when the fixture is absent."""
    path = data / OKX_CANDLE_FIXTURE
    if not path.is_file():
        return None
    closed = json.loads(path.read_text())
    forming = json.loads(json.dumps(closed))
    for row in forming["data"]:
        row[8] = "0"
    return [json.dumps(forming), json.dumps(closed)]


def okx_with_candles(data: Path) -> VenueMock | None:
    """``okx`` plus the candle pushes of ``okx_candle_pushes`` on ``/business`` (None without the
    fixture). The fixture is OKX's documentation example, priced at 0.01 (8533.02) while the 2022
    session lists BTC-USDT at a 0.1 tick, and prices off the grid are refused, never rounded: here the
    instrument list gives BTC-USDT a 0.01 tick (a finer grid that still holds every recorded book
    price; OKX's checksum formatting of them is unchanged)."""
    pushes = okx_candle_pushes(data)
    if pushes is None:
        return None
    vm = okx(data)
    spot: str | None = None
    for record in vm.mock.rest:
        if record.path == "/api/v5/public/instruments" and record.query == {"instType": "SPOT"}:
            if spot is None:
                listing = json.loads(record.body)
                for row in listing["data"]:
                    if row["instId"] == "BTC-USDT":
                        row["tickSz"] = "0.01"
                spot = json.dumps(listing)
            record.body = spot
    okx_business(vm).ws_messages = pushes
    return vm


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
