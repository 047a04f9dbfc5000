"""A stateful local Binance spot *trading* exchange for real ccxt clients (aiohttp on 127.0.0.1).

REST (signed with HMAC-SHA256 exactly as Binance checks it: ``X-MBX-APIKEY`` + ``signature`` over the
query string / form body): ``exchangeInfo``, ``order`` (POST/GET/DELETE), ``order/cancelReplace``,
``openOrders``, ``allOrders``, ``myTrades``, ``account``, ``time``, ``ping``, and a public ``depth``
around ``market_price`` (for a market-data feed's REST fallback: the engine-level live test). Payload shapes follow the
recorded fixtures in ``../shared/data/exchange-payloads/nautilus-adapter-fixtures/binance/test_data/
spot`` (``new_order_full_response``, ``order_response``, ``cancel_order_response``,
``account_trades_response``, ``account_response``, ``execution_report_*``); the market list is the
real ``/api/v3/exchangeInfo`` recorded in ``cryptofeed-sessions/BINANCE.0``.

User data over the WebSocket API (``/ws-api/v3``, what ccxt.pro uses for spot): the
``userDataStream.subscribe.signature`` request is answered, then every order change is pushed as an
``executionReport`` event.

Matching is driven by the test: limit orders rest until ``fill()`` trades them (a partial or a full
fill, maker), market orders fill at ``market_price`` at once. Fault injection: ``delay_next`` (accept
the request, then answer only after a delay — a client timeout after the venue acted),
``rate_limit_next`` (HTTP 429, code -1003, ``Retry-After``), ``drop_user_streams`` (close every user
websocket; fills while nobody is connected are only visible over REST).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

__all__ = ["BinanceTradingMock", "MockOrder", "load_exchange_info"]


def load_exchange_info(shared_data: Path, symbols: set[str]) -> dict[str, Any]:
    """The recorded ``/api/v3/exchangeInfo`` (cryptofeed session), narrowed to ``symbols``."""
    path = shared_data / "exchange-payloads" / "cryptofeed-sessions" / "BINANCE.0"
    with path.open(encoding="utf-8") as f:
        for line in f:
            if "/api/v3/exchangeInfo" in line.split(" -> ", 1)[0]:
                body = line.split(": ", 1)[1]
                info = json.loads(body)
                info["symbols"] = [s for s in info["symbols"] if s["symbol"] in symbols]
                return info
    raise FileNotFoundError(f"no exchangeInfo in {path}")


def _fmt(value: Decimal) -> str:
    return f"{value:.8f}"


@dataclass
class MockOrder:
    order_id: int
    symbol: str
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    stop_price: Decimal = Decimal(0)
    executed: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    status: str = "NEW"
    time_ms: int = 0
    update_ms: int = 0
    trades: list[int] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def as_rest(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": _fmt(self.price),
            "origQty": _fmt(self.quantity),
            "executedQty": _fmt(self.executed),
            "cummulativeQuoteQty": _fmt(self.quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "stopPrice": _fmt(self.stop_price),
            "icebergQty": "0.00000000",
            "time": self.time_ms,
            "updateTime": self.update_ms,
            "isWorking": self.is_open,
            "workingTime": self.time_ms,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "NONE",
        }


class BinanceTradingMock:
    #: The order endpoint (USDⓈ-M: ``/fapi/v1/order``).
    order_path = "/api/v3/order"

    def __init__(
        self,
        exchange_info: dict[str, Any],
        *,
        api_key: str,
        secret: str,
        balances: dict[str, str] | None = None,
        market_price: str = "50000",
    ) -> None:
        self.exchange_info = exchange_info
        self.api_key = api_key
        self.secret = secret
        self.balances = {a: Decimal(v) for a, v in (balances or {"USDT": "1000000", "BTC": "10"}).items()}
        self.market_price = Decimal(market_price)
        self.orders: dict[int, MockOrder] = {}
        self.my_trades: list[dict[str, Any]] = []
        #: Every request: (method, path, params) in arrival order.
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        #: Times (monotonic s) of every order-create request that arrived (refused ones included).
        self.create_times: list[float] = []
        self.rejected_auth = 0
        self._ids = itertools.count(1001)
        self._depth_id = 100
        self._trade_ids = itertools.count(5001)
        self._delays: dict[tuple[str, str], list[float]] = {}
        self._rate_limits: dict[tuple[str, str], list[int]] = {}
        self._stalls: dict[tuple[str, str], list[float]] = {}
        self._user_ws: set[web.WebSocketResponse] = set()
        self.user_ws_connects = 0
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._symbols = {s["symbol"]: s for s in exchange_info["symbols"]}

    # == lifecycle =================================================================================
    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_route("*", "/api/v3/order", self._order)
        app.router.add_post("/api/v3/order/cancelReplace", self._cancel_replace)
        app.router.add_get("/api/v3/openOrders", self._open_orders)
        app.router.add_get("/api/v3/allOrders", self._all_orders)
        app.router.add_get("/api/v3/myTrades", self._my_trades_handler)
        app.router.add_get("/api/v3/account", self._account)
        app.router.add_get("/ws-api/v3", self._ws_api)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        await self.drop_user_streams()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    # == controls ==================================================================================
    def delay_next(self, method: str, path: str, seconds: float) -> None:
        """The next such request is carried out, but answered only after ``seconds``."""
        self._delays.setdefault((method, path), []).append(seconds)

    def stall_next(self, method: str, path: str, seconds: float) -> None:
        """The next such request is *not* carried out; it is answered 503 after ``seconds``."""
        self._stalls.setdefault((method, path), []).append(seconds)

    def rate_limit_next(self, method: str, path: str, retry_after_s: int = 1, count: int = 1) -> None:
        """The next ``count`` such requests are refused with HTTP 429 (nothing is done)."""
        self._rate_limits.setdefault((method, path), []).extend([retry_after_s] * count)

    def by_client_id(self, client_order_id: str) -> list[MockOrder]:
        return [o for o in self.orders.values() if o.client_order_id == client_order_id]

    def creates(self) -> list[dict[str, str]]:
        """Every order-create request that arrived (refused ones included)."""
        return [p for m, path, p in self.requests if m == "POST" and path == self.order_path]

    async def fill(self, client_order_id: str, quantity: str, price: str | None = None) -> dict[str, Any]:
        """Trade ``quantity`` of the open order with this client order id (maker) and push reports."""
        (order,) = [o for o in self.by_client_id(client_order_id) if o.is_open]
        trade = self._trade(order, Decimal(quantity), Decimal(price) if price else order.price, maker=True)
        await self._push(order, "TRADE", trade)
        return trade

    async def drop_user_streams(self) -> None:
        for ws in list(self._user_ws):
            await ws.close()
        self._user_ws.clear()

    @property
    def user_streams(self) -> int:
        return len(self._user_ws)

    # == REST ======================================================================================
    async def _exchange_info(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, dict(request.query)))
        return web.json_response(self.exchange_info)

    async def _depth(self, request: web.Request) -> web.Response:
        """A public book around ``market_price`` (5 levels a side, one tick apart): enough for a
        market-data feed's REST polling fallback to give the risk gate its reference price."""
        self.requests.append(("GET", request.path, dict(request.query)))
        self._depth_id += 1
        tick = Decimal("0.01")
        bids = [[_fmt(self.market_price - tick * (i + 1)), "1.00000000"] for i in range(5)]
        asks = [[_fmt(self.market_price + tick * (i + 1)), "1.00000000"] for i in range(5)]
        return web.json_response({"lastUpdateId": self._depth_id, "bids": bids, "asks": asks})

    async def _ping(self, _request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, _request: web.Request) -> web.Response:
        return web.json_response({"serverTime": _now_ms()})

    async def _signed(self, request: web.Request) -> tuple[dict[str, str], web.Response | None]:
        raw = request.query_string
        if request.method in ("POST", "PUT"):
            raw = await request.text()
        params = dict(parse_qsl(raw, keep_blank_values=True))
        self.requests.append((request.method, request.path, params))
        if (request.method, request.path) == ("POST", self.order_path):
            self.create_times.append(time.monotonic())
        payload, _, signature = raw.rpartition("&signature=")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if request.headers.get("X-MBX-APIKEY") != self.api_key or not hmac.compare_digest(
            signature, expected
        ):
            self.rejected_auth += 1
            # Some venues echo the key they were sent: the client must redact it before logging.
            sent = request.headers.get("X-MBX-APIKEY", "")
            return params, _error(401, -2015, f"Invalid API-key {sent}, IP, or permissions for action.")
        limited = self._rate_limits.get((request.method, request.path))
        if limited:
            retry_after = limited.pop(0)
            return params, web.json_response(
                {"code": -1003, "msg": "Too many requests; current limit is 10 orders per SECOND."},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        stalled = self._stalls.get((request.method, request.path))
        if stalled:
            await asyncio.sleep(stalled.pop(0))
            return params, _error(503, -1001, "Internal error; unable to process your request.")
        return params, None

    async def _answer(self, request: web.Request, body: Any, status: int = 200) -> web.Response:
        delays = self._delays.get((request.method, request.path))
        if delays:
            await asyncio.sleep(delays.pop(0))
        return web.json_response(body, status=status)

    async def _order(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        if request.method == "POST":
            return await self._create(request, params)
        order = self._find(params)
        if order is None:
            if request.method == "DELETE":
                return _error(400, -2011, "Unknown order sent.")
            return _error(400, -2013, "Order does not exist.")
        if request.method == "GET":
            return await self._answer(request, order.as_rest())
        if request.method == "DELETE":
            if not order.is_open:
                return _error(400, -2011, "Unknown order sent.")
            await self._close(order, "CANCELED")
            body = order.as_rest()
            body["origClientOrderId"] = order.client_order_id
            body["clientOrderId"] = params.get("newClientOrderId", f"cancel-{order.order_id}")
            body["transactTime"] = _now_ms()
            return await self._answer(request, body)
        return _error(405, -1, "method not allowed")

    async def _create(self, request: web.Request, params: dict[str, str]) -> web.Response:
        coid = params.get("newClientOrderId") or f"mock-{next(self._ids)}"
        if any(o.is_open for o in self.by_client_id(coid)):
            return _error(400, -2010, "Duplicate order sent.")
        symbol = params["symbol"]
        if symbol not in self._symbols:
            return _error(400, -1121, "Invalid symbol.")
        quantity = Decimal(params["quantity"])
        otype = params["type"]
        price = Decimal(params.get("price", "0"))
        info = self._symbols[symbol]
        cost_price = price if otype != "MARKET" else self.market_price
        if params["side"] == "BUY" and quantity * cost_price > self.balances.get(
            info["quoteAsset"], Decimal(0)
        ):
            return _error(400, -2010, "Account has insufficient balance for requested action.")
        if params["side"] == "SELL" and quantity > self.balances.get(info["baseAsset"], Decimal(0)):
            return _error(400, -2010, "Account has insufficient balance for requested action.")
        now = _now_ms()
        order = MockOrder(
            order_id=next(self._ids),
            symbol=symbol,
            client_order_id=coid,
            side=params["side"],
            type=otype,
            time_in_force=params.get("timeInForce", "GTC"),
            quantity=quantity,
            price=price,
            stop_price=Decimal(params.get("stopPrice", "0")),
            time_ms=now,
            update_ms=now,
        )
        self.orders[order.order_id] = order
        await self._push(order, "NEW")
        fills: list[dict[str, Any]] = []
        if otype == "MARKET":
            trade = self._trade(order, quantity, self.market_price, maker=False)
            await self._push(order, "TRADE", trade)
            fills.append(
                {
                    "price": trade["price"],
                    "qty": trade["qty"],
                    "commission": trade["commission"],
                    "commissionAsset": trade["commissionAsset"],
                    "tradeId": trade["id"],
                }
            )
        body = order.as_rest()
        body["transactTime"] = now
        body["fills"] = fills
        return await self._answer(request, body)

    async def _cancel_replace(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        old = None
        if "cancelOrderId" in params:
            old = self.orders.get(int(params["cancelOrderId"]))
        elif "cancelOrigClientOrderId" in params:
            old = self._find({"origClientOrderId": params["cancelOrigClientOrderId"]})
        if old is None or not old.is_open:
            return _error(400, -2021, "Order cancel-replace failed.")
        await self._close(old, "CANCELED")
        cancel = old.as_rest()
        cancel["origClientOrderId"] = old.client_order_id
        now = _now_ms()
        new = MockOrder(
            order_id=next(self._ids),
            symbol=old.symbol,
            client_order_id=params.get("newClientOrderId", old.client_order_id),
            side=params["side"],
            type=params["type"],
            time_in_force=params.get("timeInForce", "GTC"),
            quantity=Decimal(params["quantity"]),
            price=Decimal(params.get("price", "0")),
            time_ms=now,
            update_ms=now,
        )
        self.orders[new.order_id] = new
        await self._push(new, "NEW")
        answer = new.as_rest()
        answer["transactTime"] = now
        answer["fills"] = []
        body = {
            "cancelResult": "SUCCESS",
            "newOrderResult": "SUCCESS",
            "cancelResponse": cancel,
            "newOrderResponse": answer,
        }
        return await self._answer(request, body)

    async def _open_orders(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        orders = [
            o.as_rest()
            for o in self.orders.values()
            if o.is_open and params.get("symbol") in (None, o.symbol)
        ]
        return await self._answer(request, orders)

    async def _all_orders(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        orders = [o.as_rest() for o in self.orders.values() if o.symbol == params.get("symbol")]
        return await self._answer(request, orders)

    async def _my_trades_handler(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        out = [
            t
            for t in self.my_trades
            if t["symbol"] == params.get("symbol")
            and ("orderId" not in params or str(t["orderId"]) == params["orderId"])
            and ("startTime" not in params or t["time"] >= int(params["startTime"]))
        ]
        return await self._answer(request, out)

    async def _account(self, request: web.Request) -> web.Response:
        _params, refused = await self._signed(request)
        if refused is not None:
            return refused
        body = {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "updateTime": _now_ms(),
            "accountType": "SPOT",
            "balances": [
                {"asset": a, "free": _fmt(v), "locked": "0.00000000"} for a, v in self.balances.items()
            ],
            "permissions": ["SPOT"],
        }
        return await self._answer(request, body)

    # == WebSocket API (user data) =================================================================
    async def _ws_api(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.user_ws_connects += 1
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                req = json.loads(msg.data)
                if req.get("method") == "userDataStream.subscribe.signature":
                    if req.get("params", {}).get("apiKey") != self.api_key:
                        await ws.send_json(
                            {
                                "id": req.get("id"),
                                "status": 401,
                                "error": {"code": -2015, "msg": "Invalid API-key"},
                            }
                        )
                        continue
                    self._user_ws.add(ws)
                    await ws.send_json({"id": req["id"], "status": 200, "result": {"subscriptionId": 0}})
                else:
                    await ws.send_json({"id": req.get("id"), "status": 200, "result": {}})
        finally:
            self._user_ws.discard(ws)
        return ws

    async def _push(self, order: MockOrder, execution: str, trade: dict[str, Any] | None = None) -> None:
        event = {
            "e": "executionReport",
            "E": _now_ms(),
            "s": order.symbol,
            "c": order.client_order_id,
            "S": order.side,
            "o": order.type,
            "f": order.time_in_force,
            "q": _fmt(order.quantity),
            "p": _fmt(order.price),
            "P": _fmt(order.stop_price),
            "F": "0.00000000",
            "g": -1,
            "C": order.client_order_id if execution == "CANCELED" else "",
            "x": execution,
            "X": order.status,
            "r": "NONE",
            "i": order.order_id,
            "l": trade["qty"] if trade else "0.00000000",
            "z": _fmt(order.executed),
            "L": trade["price"] if trade else "0.00000000",
            "n": trade["commission"] if trade else "0",
            "N": trade["commissionAsset"] if trade else None,
            "T": order.update_ms,
            "t": trade["id"] if trade else -1,
            "I": 0,
            "w": order.is_open,
            "m": bool(trade and trade["isMaker"]),
            "M": False,
            "O": order.time_ms,
            "Z": _fmt(order.quote),
            "Y": _fmt(Decimal(trade["quoteQty"])) if trade else "0.00000000",
            "Q": "0.00000000",
            "V": "NONE",
        }
        for ws in list(self._user_ws):
            if not ws.closed:
                await ws.send_json({"subscriptionId": 0, "event": event})

    # == matching ==================================================================================
    def _trade(self, order: MockOrder, quantity: Decimal, price: Decimal, *, maker: bool) -> dict[str, Any]:
        quantity = min(quantity, order.quantity - order.executed)
        order.executed += quantity
        order.quote += quantity * price
        order.update_ms = _now_ms()
        order.status = "FILLED" if order.executed == order.quantity else "PARTIALLY_FILLED"
        info = self._symbols[order.symbol]
        base, quote = info["baseAsset"], info["quoteAsset"]
        sign = 1 if order.side == "BUY" else -1
        self.balances[base] = self.balances.get(base, Decimal(0)) + sign * quantity
        self.balances[quote] = self.balances.get(quote, Decimal(0)) - sign * quantity * price
        commission = (quantity * price * Decimal("0.001")).quantize(Decimal("0.00000001"))
        self.balances[quote] -= commission
        trade = {
            "symbol": order.symbol,
            "id": next(self._trade_ids),
            "orderId": order.order_id,
            "orderListId": -1,
            "price": _fmt(price),
            "qty": _fmt(quantity),
            "quoteQty": _fmt(quantity * price),
            "commission": _fmt(commission),
            "commissionAsset": quote,
            "time": order.update_ms,
            "isBuyer": order.side == "BUY",
            "isMaker": maker,
            "isBestMatch": True,
        }
        order.trades.append(trade["id"])
        self.my_trades.append(trade)
        return trade

    async def _close(self, order: MockOrder, status: str) -> None:
        order.status = status
        order.update_ms = _now_ms()
        await self._push(order, status)

    def _find(self, params: dict[str, str]) -> MockOrder | None:
        if "orderId" in params:
            return self.orders.get(int(params["orderId"]))
        coid = params.get("origClientOrderId")
        if coid is None:
            return None
        matches = self.by_client_id(coid)
        return matches[-1] if matches else None


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _now_ms() -> int:
    return int(time.time() * 1000)
