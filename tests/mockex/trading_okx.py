"""A stateful local OKX v5 *trading* exchange (spot, REST) for real ccxt clients on 127.0.0.1.

Signed exactly as OKX checks it: ``OK-ACCESS-KEY``, ``OK-ACCESS-PASSPHRASE``, ``OK-ACCESS-TIMESTAMP``
and ``OK-ACCESS-SIGN`` = base64(HMAC-SHA256(secret, timestamp + method + path[?query] + body)).

Endpoints: ``public/instruments`` (the real SPOT list recorded in ``cryptofeed-sessions/OKX.0``;
other instrument types answer an empty list), ``trade/batch-orders`` (ccxt places single orders with
it) and ``trade/order`` (POST place, GET by ``ordId`` or ``clOrdId``), ``trade/cancel-order``,
``trade/amend-order`` (in place: ``newSz`` is the new total), ``trade/fills`` and
``trade/fills-history``, ``trade/orders-pending``, ``account/balance``, ``asset/currencies`` (empty).
Every answer uses OKX's envelope ``{"code", "msg", "data"}``; per-order results carry
``sCode``/``sMsg`` (``51008`` insufficient balance, ``51603`` no such order), shapes as in
``nautilus-adapter-fixtures/okx/test_data`` (``http_place_order_response``,
``http_get_orders_pending``, ``http_transaction_detail``, ``http_get_account_balance``).

Place/cancel/amend only acknowledge (ids, no state), as OKX does: the client learns the rest by
querying. Matching is test-driven (``fill``). Fault injection: ``delay_next`` (carried out, answered
late) and ``rate_limit_next`` (HTTP 429, code 50011).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

__all__ = ["CREATE_PATHS", "OkxOrder", "OkxTradingMock", "load_okx_instruments"]

CREATE_PATHS = ("/api/v5/trade/order", "/api/v5/trade/batch-orders")


def load_okx_instruments(shared_data: Path, inst_ids: set[str]) -> list[dict[str, Any]]:
    path = shared_data / "exchange-payloads" / "cryptofeed-sessions" / "OKX.0"
    with path.open(encoding="utf-8") as f:
        for line in f:
            if "instType=SPOT" in line.split(" -> ", 1)[0]:
                data = json.loads(line.split(": ", 1)[1])["data"]
                return [row for row in data if row["instId"] in inst_ids]
    raise FileNotFoundError(f"no SPOT instruments in {path}")


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class OkxOrder:
    ord_id: str
    inst_id: str
    cl_ord_id: str
    side: str
    ord_type: str
    sz: Decimal
    px: Decimal
    acc_fill_sz: Decimal = Decimal(0)
    fill_notional: Decimal = Decimal(0)
    state: str = "live"
    c_time: int = 0
    u_time: int = 0
    fills: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.state in ("live", "partially_filled")

    def as_rest(self) -> dict[str, Any]:
        avg = self.fill_notional / self.acc_fill_sz if self.acc_fill_sz else Decimal(0)
        last = self.fills[-1] if self.fills else None
        return {
            "accFillSz": str(self.acc_fill_sz),
            "avgPx": str(avg) if self.acc_fill_sz else "",
            "cTime": str(self.c_time),
            "category": "normal",
            "ccy": "",
            "clOrdId": self.cl_ord_id,
            "fee": "0",
            "feeCcy": "USDT",
            "fillPx": last["fillPx"] if last else "",
            "fillSz": last["fillSz"] if last else "0",
            "fillTime": last["ts"] if last else "",
            "instId": self.inst_id,
            "instType": "SPOT",
            "lever": "",
            "ordId": self.ord_id,
            "ordType": self.ord_type,
            "pnl": "0",
            "posSide": "net",
            "px": str(self.px),
            "rebate": "0",
            "rebateCcy": "USDT",
            "reduceOnly": "false",
            "side": self.side,
            "slOrdPx": "",
            "slTriggerPx": "",
            "source": "",
            "state": self.state,
            "sz": str(self.sz),
            "tag": "",
            "tdMode": "cash",
            "tgtCcy": "",
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tradeId": last["tradeId"] if last else "",
            "uTime": str(self.u_time),
        }


class OkxTradingMock:
    def __init__(
        self,
        instruments: list[dict[str, Any]],
        *,
        api_key: str,
        secret: str,
        passphrase: str,
        balances: dict[str, str] | None = None,
    ) -> None:
        self.instruments = instruments
        self.api_key = api_key
        self.secret = secret
        self.passphrase = passphrase
        self.balances = {a: Decimal(v) for a, v in (balances or {"USDT": "1000000", "BTC": "10"}).items()}
        self.orders: dict[str, OkxOrder] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.create_times: list[float] = []
        self.rejected_auth = 0
        self._ids = itertools.count(600_000_000_000_000_001)
        self._trade_ids = itertools.count(9_000_001)
        self._delays: dict[tuple[str, str], list[float]] = {}
        self._rate_limits: dict[tuple[str, str], list[int]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/api/v5/public/instruments", self._instruments)
        app.router.add_route("*", "/api/v5/trade/order", self._order)
        app.router.add_post("/api/v5/trade/cancel-order", self._cancel)
        app.router.add_post("/api/v5/trade/amend-order", self._amend)
        app.router.add_post("/api/v5/trade/batch-orders", self._batch)
        app.router.add_get("/api/v5/trade/fills", self._fills)
        app.router.add_get("/api/v5/trade/fills-history", self._fills)
        app.router.add_get("/api/v5/trade/orders-pending", self._pending)
        app.router.add_get("/api/v5/account/balance", self._balance)
        app.router.add_get("/api/v5/asset/currencies", self._currencies)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    # == controls ==================================================================================
    def delay_next(self, method: str, path: str, seconds: float) -> None:
        self._delays.setdefault((method, path), []).append(seconds)

    def rate_limit_next(self, method: str, path: str, retry_after_s: int = 1) -> None:
        self._rate_limits.setdefault((method, path), []).append(retry_after_s)

    def by_client_id(self, cl_ord_id: str) -> list[OkxOrder]:
        return [o for o in self.orders.values() if o.cl_ord_id == cl_ord_id]

    def creates(self) -> list[dict[str, Any]]:
        """Every order-create request that arrived (ccxt sends single orders as a batch of one)."""
        return [p for m, path, p in self.requests if m == "POST" and path in CREATE_PATHS]

    def fill(self, cl_ord_id: str, size: str, price: str | None = None) -> dict[str, Any]:
        (order,) = [o for o in self.by_client_id(cl_ord_id) if o.is_open]
        qty = min(Decimal(size), order.sz - order.acc_fill_sz)
        px = Decimal(price) if price else order.px
        order.acc_fill_sz += qty
        order.fill_notional += qty * px
        order.state = "filled" if order.acc_fill_sz == order.sz else "partially_filled"
        order.u_time = _now_ms()
        base, quote = order.inst_id.split("-")
        sign = 1 if order.side == "buy" else -1
        fee = (qty * px * Decimal("0.0008")).quantize(Decimal("0.00000001"))
        self.balances[base] = self.balances.get(base, Decimal(0)) + sign * qty
        self.balances[quote] = self.balances.get(quote, Decimal(0)) - sign * qty * px - fee
        fill = {
            "instType": "SPOT",
            "instId": order.inst_id,
            "tradeId": str(next(self._trade_ids)),
            "ordId": order.ord_id,
            "clOrdId": order.cl_ord_id,
            "billId": str(next(self._ids)),
            "tag": "",
            "fillPx": str(px),
            "fillSz": str(qty),
            "side": order.side,
            "posSide": "net",
            "execType": "M",
            "feeCcy": quote,
            "fee": str(-fee),
            "ts": str(order.u_time),
        }
        order.fills.append(fill)
        return fill

    # == plumbing ==================================================================================
    async def _signed(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        body = await request.text() if request.method != "GET" else ""
        params: dict[str, Any] = dict(request.query)
        if body:
            decoded = json.loads(body)
            params.update({"orders": decoded} if isinstance(decoded, list) else decoded)
        self.requests.append((request.method, request.path, params))
        if request.method == "POST" and request.path in CREATE_PATHS:
            self.create_times.append(time.monotonic())
        ts = request.headers.get("OK-ACCESS-TIMESTAMP", "")
        prehash = ts + request.method + request.path_qs + body
        expected = base64.b64encode(
            hmac.new(self.secret.encode(), prehash.encode(), hashlib.sha256).digest()
        ).decode()
        if (
            request.headers.get("OK-ACCESS-KEY") != self.api_key
            or request.headers.get("OK-ACCESS-PASSPHRASE") != self.passphrase
            or not hmac.compare_digest(request.headers.get("OK-ACCESS-SIGN", ""), expected)
        ):
            self.rejected_auth += 1
            return params, web.json_response({"code": "50113", "msg": "Invalid Sign", "data": []}, status=401)
        limited = self._rate_limits.get((request.method, request.path))
        if limited:
            retry_after = limited.pop(0)
            return params, web.json_response(
                {"code": "50011", "msg": "Too Many Requests", "data": []},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        return params, None

    async def _answer(
        self, request: web.Request, data: list[Any], code: str = "0", msg: str = ""
    ) -> web.Response:
        delays = self._delays.get((request.method, request.path))
        if delays:
            await asyncio.sleep(delays.pop(0))
        return web.json_response({"code": code, "msg": msg, "data": data})

    def _find(self, params: dict[str, Any]) -> OkxOrder | None:
        if params.get("ordId"):
            return self.orders.get(str(params["ordId"]))
        matches = self.by_client_id(str(params.get("clOrdId", "")))
        return matches[-1] if matches else None

    # == REST ======================================================================================
    async def _instruments(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, dict(request.query)))
        data = self.instruments if request.query.get("instType") == "SPOT" else []
        return web.json_response({"code": "0", "msg": "", "data": data})

    async def _order(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            order = self._find(params)
            if order is None:
                return web.json_response({"code": "51603", "msg": "Order does not exist", "data": []})
            return await self._answer(request, [order.as_rest()])
        result = self._create(params)
        failed = result["sCode"] != "0"
        return await self._answer(request, [result], "1" if failed else "0", "failed" if failed else "")

    async def _batch(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        results = [self._create(one) for one in params["orders"]]
        failed = any(r["sCode"] != "0" for r in results)
        return await self._answer(
            request, results, "1" if failed else "0", "All operations failed" if failed else ""
        )

    def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        cl = str(params.get("clOrdId", ""))
        if any(o.is_open for o in self.by_client_id(cl)):
            return _result("", cl, "51016", "Duplicated clOrdId")
        _base, quote = str(params["instId"]).split("-")
        sz, px = Decimal(str(params["sz"])), Decimal(str(params.get("px", "0")))
        if params["side"] == "buy" and sz * px > self.balances.get(quote, Decimal(0)):
            return _result("", cl, "51008", "Insufficient balance")
        now = _now_ms()
        order = OkxOrder(
            ord_id=str(next(self._ids)),
            inst_id=str(params["instId"]),
            cl_ord_id=cl,
            side=str(params["side"]),
            ord_type=str(params["ordType"]),
            sz=sz,
            px=px,
            c_time=now,
            u_time=now,
        )
        self.orders[order.ord_id] = order
        return _result(order.ord_id, cl)

    async def _cancel(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        order = self._find(params)
        if order is None or not order.is_open:
            cl = str(params.get("clOrdId", ""))
            return await self._answer(
                request, [_result("", cl, "51400", "Order does not exist")], "1", "failed"
            )
        order.state = "canceled"
        order.u_time = _now_ms()
        return await self._answer(request, [_result(order.ord_id, order.cl_ord_id)])

    async def _amend(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        order = self._find(params)
        if order is None or not order.is_open:
            cl = str(params.get("clOrdId", ""))
            return await self._answer(
                request, [_result("", cl, "51603", "Order does not exist")], "1", "failed"
            )
        if "newSz" in params:
            order.sz = Decimal(str(params["newSz"]))
        if "newPx" in params:
            order.px = Decimal(str(params["newPx"]))
        order.u_time = _now_ms()
        return await self._answer(request, [_result(order.ord_id, order.cl_ord_id)])

    async def _fills(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        out = [
            f
            for o in self.orders.values()
            for f in o.fills
            if f["instId"] == params.get("instId", f["instId"])
            and f["ordId"] == params.get("ordId", f["ordId"])
        ]
        return await self._answer(request, out)

    async def _pending(self, request: web.Request) -> web.Response:
        params, refused = await self._signed(request)
        if refused is not None:
            return refused
        out = [
            o.as_rest()
            for o in self.orders.values()
            if o.is_open and params.get("instId") in (None, o.inst_id)
        ]
        return await self._answer(request, out)

    async def _currencies(self, request: web.Request) -> web.Response:
        """Signed (ccxt asks for it whenever it holds keys); no chain data: currencies then come
        from the markets."""
        _params, refused = await self._signed(request)
        if refused is not None:
            return refused
        return await self._answer(request, [])

    async def _balance(self, request: web.Request) -> web.Response:
        _params, refused = await self._signed(request)
        if refused is not None:
            return refused
        details = [
            {
                "ccy": ccy,
                "eq": str(amount),
                "cashBal": str(amount),
                "availBal": str(amount),
                "availEq": str(amount),
                "frozenBal": "0",
                "ordFrozen": "0",
                "uTime": str(_now_ms()),
            }
            for ccy, amount in self.balances.items()
        ]
        return await self._answer(request, [{"details": details, "totalEq": "0", "uTime": str(_now_ms())}])


def _result(ord_id: str, cl_ord_id: str, s_code: str = "0", s_msg: str = "") -> dict[str, Any]:
    return {
        "ordId": ord_id,
        "clOrdId": cl_ord_id,
        "tag": "",
        "sCode": s_code,
        "sMsg": s_msg,
        "ts": str(_now_ms()),
    }
