"""The Binance USDⓈ-M futures flavour of the trading mock (REST only: tests run the venue with REST
polling). Same state, signing, fault injection and test-driven matching as ``trading_binance``; the
paths are ``/fapi/...`` and the payloads are the futures shapes of the recorded fixtures
(``nautilus-adapter-fixtures/binance/test_data/futures/http_json``: ``order_response``,
``position_risk``, ``account_info_v2``); the market list is the real ``/fapi/v1/exchangeInfo`` of
``cryptofeed-sessions/BINANCE_FUTURES.0``.

Amends are in place (``PUT /fapi/v1/order``: the order keeps its id, the quantity is the new total)
— the opposite of spot's cancel-replace — and fills move a one-way (``BOTH``) position per symbol.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from .trading_binance import BinanceTradingMock, MockOrder, _error, _fmt, _now_ms

__all__ = ["BinanceUsdmTradingMock", "load_usdm_exchange_info"]


def load_usdm_exchange_info(shared_data: Path, symbols: set[str]) -> dict[str, Any]:
    path = shared_data / "exchange-payloads" / "cryptofeed-sessions" / "BINANCE_FUTURES.0"
    with path.open(encoding="utf-8") as f:
        for line in f:
            if "/fapi/v1/exchangeInfo" in line.split(" -> ", 1)[0]:
                info = json.loads(line.split(": ", 1)[1])
                info["symbols"] = [s for s in info["symbols"] if s["symbol"] in symbols]
                return info
    raise FileNotFoundError(f"no exchangeInfo in {path}")


def _futures(order: MockOrder) -> dict[str, Any]:
    average = order.quote / order.executed if order.executed else Decimal(0)
    return {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": order.status,
        "clientOrderId": order.client_order_id,
        "price": f"{order.price:.2f}",
        "avgPrice": f"{average:.2f}",
        "origQty": f"{order.quantity:.3f}",
        "executedQty": f"{order.executed:.3f}",
        "cumQuote": f"{order.quote:.5f}",
        "timeInForce": order.time_in_force,
        "type": order.type,
        "reduceOnly": False,
        "closePosition": False,
        "side": order.side,
        "positionSide": "BOTH",
        "stopPrice": f"{order.stop_price:.2f}",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": order.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "time": order.time_ms,
        "updateTime": order.update_ms,
    }


class BinanceUsdmTradingMock(BinanceTradingMock):
    order_path = "/fapi/v1/order"

    def __init__(self, exchange_info: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(exchange_info, **kwargs)
        #: Net position (BOTH) and entry price per symbol.
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}
        self.amends: list[dict[str, str]] = []

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/fapi/v1/exchangeInfo", self._exchange_info)
        app.router.add_get("/fapi/v1/ping", self._ping)
        app.router.add_get("/fapi/v1/time", self._time)
        app.router.add_route("*", "/fapi/v1/order", self._futures_order)
        app.router.add_get("/fapi/v1/openOrders", self._futures_open_orders)
        app.router.add_get("/fapi/v1/userTrades", self._user_trades)
        app.router.add_get("/fapi/v3/positionRisk", self._position_risk)
        app.router.add_get("/fapi/v1/leverageBracket", self._leverage_bracket)
        app.router.add_get("/fapi/v3/account", self._futures_account)
        app.router.add_get("/fapi/v2/account", self._futures_account)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def _futures_order(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        if request.method == "POST":
            response = await self._create(request, params)
            if response.status != 200:
                return response
            created = self.by_client_id(params["newClientOrderId"])[-1]
            return await self._answer(request, _futures(created))
        order = self._find(params)
        if order is None:
            return _error(400, -2013, "Order does not exist.")
        if request.method == "GET":
            return await self._answer(request, _futures(order))
        if request.method == "DELETE":
            if not order.is_open:
                return _error(400, -2011, "Unknown order sent.")
            await self._close(order, "CANCELED")
            return await self._answer(request, _futures(order))
        if request.method == "PUT":
            if not order.is_open:
                return _error(400, -2013, "Order does not exist.")
            self.amends.append(params)
            quantity = Decimal(params["quantity"])
            if quantity <= order.executed:
                return _error(400, -4003, "Quantity less than or equal to zero.")
            order.quantity = quantity
            order.price = Decimal(params["price"])
            order.update_ms = _now_ms()
            return await self._answer(request, _futures(order))
        return _error(405, -1, "method not allowed")

    async def _futures_open_orders(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        orders = [
            _futures(o)
            for o in self.orders.values()
            if o.is_open and params.get("symbol") in (None, o.symbol)
        ]
        return await self._answer(request, orders)

    async def _user_trades(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        out = []
        for t in self.my_trades:
            if t["symbol"] != params.get("symbol"):
                continue
            if "orderId" in params and str(t["orderId"]) != params["orderId"]:
                continue
            out.append(
                {
                    "buyer": t["isBuyer"],
                    "commission": t["commission"],
                    "commissionAsset": t["commissionAsset"],
                    "id": t["id"],
                    "maker": t["isMaker"],
                    "orderId": t["orderId"],
                    "price": t["price"],
                    "qty": t["qty"],
                    "quoteQty": t["quoteQty"],
                    "realizedPnl": "0",
                    "side": "BUY" if t["isBuyer"] else "SELL",
                    "positionSide": "BOTH",
                    "symbol": t["symbol"],
                    "time": t["time"],
                }
            )
        return await self._answer(request, out)

    async def _leverage_bracket(self, request: web.Request) -> web.Response:
        """Notional brackets (ccxt reads the maintenance margin rate from them for positions)."""
        _params, refused = await self._signed(request)
        if refused is not None:
            return refused
        bracket = {
            "bracket": 1,
            "initialLeverage": 125,
            "notionalCap": 50000,
            "notionalFloor": 0,
            "maintMarginRatio": 0.004,
            "cum": 0.0,
        }
        return await self._answer(request, [{"symbol": s, "brackets": [bracket]} for s in self._symbols])

    async def _position_risk(self, request: web.Request) -> web.Response:
        _params, refused = await self._signed(request)
        if refused is not None:
            return refused
        out = []
        for symbol, (amount, entry) in self.positions.items():
            out.append(
                {
                    "symbol": symbol,
                    "positionSide": "BOTH",
                    "positionAmt": _fmt(amount),
                    "entryPrice": _fmt(entry),
                    "breakEvenPrice": _fmt(entry),
                    "markPrice": _fmt(self.market_price),
                    "unRealizedProfit": _fmt((self.market_price - entry) * amount),
                    "liquidationPrice": "0",
                    "isolatedMargin": "0",
                    "notional": _fmt(amount * self.market_price),
                    "marginAsset": "USDT",
                    "isolatedWallet": "0",
                    "initialMargin": "0",
                    "maintMargin": "0",
                    "positionInitialMargin": "0",
                    "openOrderInitialMargin": "0",
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "updateTime": _now_ms(),
                }
            )
        return await self._answer(request, out)

    async def _futures_account(self, request: web.Request) -> web.Response:
        _params, refused = await self._signed(request)
        if refused is not None:
            return refused
        usdt = self.balances.get("USDT", Decimal(0))
        body = {
            "totalWalletBalance": _fmt(usdt),
            "availableBalance": _fmt(usdt),
            "assets": [
                {
                    "asset": "USDT",
                    "walletBalance": _fmt(usdt),
                    "unrealizedProfit": "0.00000000",
                    "marginBalance": _fmt(usdt),
                    "maintMargin": "0.00000000",
                    "initialMargin": "0.00000000",
                    "positionInitialMargin": "0.00000000",
                    "openOrderInitialMargin": "0.00000000",
                    "crossWalletBalance": _fmt(usdt),
                    "crossUnPnl": "0.00000000",
                    "availableBalance": _fmt(usdt),
                    "maxWithdrawAmount": _fmt(usdt),
                    "updateTime": _now_ms(),
                }
            ],
            "positions": [],
        }
        return await self._answer(request, body)

    def _trade(self, order: MockOrder, quantity: Decimal, price: Decimal, *, maker: bool) -> dict[str, Any]:
        usdt_before = self.balances.get("USDT", Decimal(0))
        trade = super()._trade(order, quantity, price, maker=maker)
        # Futures: no base asset changes hands; only the fee leaves the USDT wallet.
        info = self._symbols[order.symbol]
        self.balances.pop(info["baseAsset"], None)
        qty = Decimal(trade["qty"])
        self.balances["USDT"] = usdt_before - Decimal(trade["commission"])
        amount, entry = self.positions.get(order.symbol, (Decimal(0), Decimal(0)))
        signed = qty if order.side == "BUY" else -qty
        new = amount + signed
        if amount == 0 or (amount > 0) == (signed > 0):
            entry = (entry * abs(amount) + price * qty) / abs(new) if new else Decimal(0)
        self.positions[order.symbol] = (new, entry)
        return trade
