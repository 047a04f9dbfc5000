"""OrderService over a real grpc.aio channel, backed by the real OrderManager, RiskEngine and SimVenue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from test_orders_api_harness import BID, BTC, ETH, MAIN, START_NS, Api, serve_api, trailers

from algotrendy.v1 import common_pb2, orders_pb2, risk_pb2

OK_LIMIT: dict[str, Any] = dict(
    account_id="main",
    client_order_id="c-1",
    instrument_id="SIM:BTC-USD",
    side=common_pb2.SIDE_BUY,
    order_type=common_pb2.ORDER_TYPE_LIMIT,
    time_in_force=common_pb2.TIME_IN_FORCE_GTC,
    quantity=common_pb2.Decimal(value="0.01"),
    price=common_pb2.Decimal(value="64000.0"),
)


def submit_request(**changes: Any) -> orders_pb2.SubmitOrderRequest:
    fields = dict(OK_LIMIT)
    for key, value in changes.items():
        if value is None:
            fields.pop(key, None)
        elif key in ("quantity", "price", "trigger_price"):
            fields[key] = common_pb2.Decimal(value=value)
        else:
            fields[key] = value
    return orders_pb2.SubmitOrderRequest(**fields)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with serve_api() as api:
        yield api


async def submit_working(api: Api, coid: str, **changes: Any) -> orders_pb2.Order:
    await api.orders.SubmitOrder(submit_request(client_order_id=coid, **changes))
    await api.settle()
    return (
        await api.orders.GetOrder(orders_pb2.GetOrderRequest(account_id="main", client_order_id=coid))
    ).order


async def rejected(call: Any, request: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(request)
    return info.value


# == happy paths ===================================================================================
async def test_submit_order_when_valid_limit_then_submitted_and_accepted_after_venue_ack(api: Api) -> None:
    response = await api.orders.SubmitOrder(submit_request())
    order = response.order
    assert order.status == common_pb2.ORDER_STATUS_SUBMITTED
    assert (order.account_id, order.client_order_id, order.instrument_id) == ("main", "c-1", "SIM:BTC-USD")
    assert (order.quantity.value, order.price.value) == ("0.01000", "64000.00")
    assert order.strategy_id == "manual"
    assert not order.HasField("trigger_price")
    assert order.created_at_ns == START_NS and order.last_sequence >= 2
    await api.settle()
    got = await api.orders.GetOrder(orders_pb2.GetOrderRequest(account_id="main", client_order_id="c-1"))
    assert got.order.status == common_pb2.ORDER_STATUS_ACCEPTED
    assert got.order.venue_order_id
    assert got.order.filled_quantity.value == "0.00000"
    assert api.audit[-1][0] == "SubmitOrder" and api.audit[-1][2] == "OK"
    assert api.audit[-1][1]["client_order_id"] == "c-1" and api.audit[-1][1]["price"] == "64000.0"


async def test_submit_order_when_market_buy_then_filled_against_the_book(api: Api) -> None:
    await api.orders.SubmitOrder(
        submit_request(client_order_id="m-1", order_type=common_pb2.ORDER_TYPE_MARKET, price=None)
    )
    await api.settle()
    order = (
        await api.orders.GetOrder(orders_pb2.GetOrderRequest(account_id="main", client_order_id="m-1"))
    ).order
    assert order.status == common_pb2.ORDER_STATUS_FILLED
    assert order.filled_quantity.value == "0.01000"


async def test_submit_order_when_stop_limit_gtd_then_trigger_and_expiry_kept(api: Api) -> None:
    response = await api.orders.SubmitOrder(
        submit_request(
            client_order_id="s-1",
            side=common_pb2.SIDE_SELL,
            order_type=common_pb2.ORDER_TYPE_STOP_LIMIT,
            price="63000.0",
            trigger_price="63500.0",
            time_in_force=common_pb2.TIME_IN_FORCE_GTD,
            expire_at_ns=START_NS + 3_600_000_000_000,
        )
    )
    order = response.order
    assert (order.price.value, order.trigger_price.value) == ("63000.00", "63500.00")
    assert order.time_in_force == common_pb2.TIME_IN_FORCE_GTD
    assert order.expire_at_ns == START_NS + 3_600_000_000_000


async def test_cancel_order_when_working_then_pending_cancel_then_canceled(api: Api) -> None:
    await submit_working(api, "c-1")
    response = await api.orders.CancelOrder(
        orders_pb2.CancelOrderRequest(account_id="main", client_order_id="c-1")
    )
    assert response.order.status == common_pb2.ORDER_STATUS_PENDING_CANCEL
    await api.settle()
    got = await api.orders.GetOrder(orders_pb2.GetOrderRequest(account_id="main", client_order_id="c-1"))
    assert got.order.status == common_pb2.ORDER_STATUS_CANCELED
    assert [a[0] for a in api.audit] == ["SubmitOrder", "CancelOrder"]


async def test_cancel_all_orders_when_filtered_by_side_then_only_that_side_canceled(api: Api) -> None:
    await submit_working(api, "b-1")
    await submit_working(api, "b-2", price="63000.0")
    await submit_working(api, "s-1", side=common_pb2.SIDE_SELL, price="66000.0")
    response = await api.orders.CancelAllOrders(
        orders_pb2.CancelAllOrdersRequest(
            account_id="main", instrument_id="SIM:BTC-USD", side=common_pb2.SIDE_BUY
        )
    )
    assert sorted(o.client_order_id for o in response.orders) == ["b-1", "b-2"]
    await api.settle()
    rest = await api.orders.CancelAllOrders(orders_pb2.CancelAllOrdersRequest(account_id="main"))
    assert [o.client_order_id for o in rest.orders] == ["s-1"]
    await api.settle()
    open_orders = await api.orders.ListOrders(orders_pb2.ListOrdersRequest(account_id="main", open_only=True))
    assert list(open_orders.orders) == []


async def test_amend_order_when_price_and_quantity_changed_then_venue_applies_them(api: Api) -> None:
    await submit_working(api, "c-1")
    response = await api.orders.AmendOrder(
        orders_pb2.AmendOrderRequest(
            account_id="main",
            client_order_id="c-1",
            quantity=common_pb2.Decimal(value="0.02"),
            price=common_pb2.Decimal(value="63900.5"),
        )
    )
    assert response.order.status == common_pb2.ORDER_STATUS_PENDING_UPDATE
    await api.settle()
    got = (
        await api.orders.GetOrder(orders_pb2.GetOrderRequest(account_id="main", client_order_id="c-1"))
    ).order
    assert got.status == common_pb2.ORDER_STATUS_ACCEPTED
    assert (got.quantity.value, got.price.value) == ("0.02000", "63900.50")


async def test_list_orders_when_paged_then_every_order_once_in_creation_order(api: Api) -> None:
    for i in range(5):
        await api.orders.SubmitOrder(submit_request(client_order_id=f"p-{i}", price=f"6400{i}.0"))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await api.orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=2, page_token=token))
        seen += [o.client_order_id for o in page.orders]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"p-{i}" for i in range(5)]
    assert pages == 3
    default = await api.orders.ListOrders(orders_pb2.ListOrdersRequest())
    assert len(default.orders) == 5 and default.next_page_token == ""


async def test_list_orders_when_filtered_then_only_matching_orders(api: Api) -> None:
    await submit_working(api, "c-1")
    await submit_working(api, "c-2", price="63000.0")
    await api.orders.CancelOrder(orders_pb2.CancelOrderRequest(account_id="main", client_order_id="c-2"))
    await api.settle()
    canceled = await api.orders.ListOrders(
        orders_pb2.ListOrdersRequest(statuses=[common_pb2.ORDER_STATUS_CANCELED])
    )
    assert [o.client_order_id for o in canceled.orders] == ["c-2"]
    working = await api.orders.ListOrders(
        orders_pb2.ListOrdersRequest(account_id="main", instrument_id="SIM:BTC-USD", open_only=True)
    )
    assert [o.client_order_id for o in working.orders] == ["c-1"]
    none = await api.orders.ListOrders(
        orders_pb2.ListOrdersRequest(instrument_id=str(ETH), strategy_id="manual")
    )
    assert list(none.orders) == []


# == bad input: the documented code, the field named, nothing changed ==========================
SUBMIT_BAD: list[tuple[str, dict[str, Any], grpc.StatusCode, str]] = [
    ("account empty", {"account_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
    ("account malformed", {"account_id": "main account"}, grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
    ("account too long", {"account_id": "a" * 5000}, grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
    ("account unknown", {"account_id": "ghost"}, grpc.StatusCode.NOT_FOUND, "UNKNOWN_ACCOUNT"),
    ("strategy malformed", {"strategy_id": "s 1"}, grpc.StatusCode.INVALID_ARGUMENT, "strategy_id"),
    ("coid empty", {"client_order_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "client_order_id"),
    ("coid too long", {"client_order_id": "x" * 37}, grpc.StatusCode.INVALID_ARGUMENT, "client_order_id"),
    ("coid bad chars", {"client_order_id": "c#1"}, grpc.StatusCode.INVALID_ARGUMENT, "client_order_id"),
    ("instrument empty", {"instrument_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "instrument_id"),
    ("instrument no venue", {"instrument_id": "BTC-USD"}, grpc.StatusCode.INVALID_ARGUMENT, "instrument_id"),
    (
        "instrument unknown",
        {"instrument_id": "SIM:DOGE-USD"},
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_INSTRUMENT",
    ),
    ("side unspecified", {"side": 0}, grpc.StatusCode.INVALID_ARGUMENT, "side"),
    ("side unknown", {"side": 7}, grpc.StatusCode.INVALID_ARGUMENT, "side"),
    ("type unspecified", {"order_type": 0}, grpc.StatusCode.INVALID_ARGUMENT, "order_type"),
    ("type unknown", {"order_type": 99}, grpc.StatusCode.INVALID_ARGUMENT, "order_type"),
    ("tif unspecified", {"time_in_force": 0}, grpc.StatusCode.INVALID_ARGUMENT, "time_in_force"),
    ("tif unknown", {"time_in_force": 5}, grpc.StatusCode.INVALID_ARGUMENT, "time_in_force"),
    ("quantity missing", {"quantity": None}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("quantity empty", {"quantity": ""}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("quantity zero", {"quantity": "0"}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("quantity negative", {"quantity": "-0.01"}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("quantity exponent", {"quantity": "1e-2"}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("quantity text", {"quantity": "ten"}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("quantity off lot", {"quantity": "0.000001"}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("quantity huge", {"quantity": "9" * 30}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("price off tick", {"price": "64000.05"}, grpc.StatusCode.INVALID_ARGUMENT, "price"),
    ("price missing", {"price": None}, grpc.StatusCode.INVALID_ARGUMENT, "price"),
    ("price zero", {"price": "0.0"}, grpc.StatusCode.INVALID_ARGUMENT, "price"),
    ("price negative", {"price": "-64000.0"}, grpc.StatusCode.INVALID_ARGUMENT, "price"),
    ("price spaces", {"price": " 64000"}, grpc.StatusCode.INVALID_ARGUMENT, "price"),
    (
        "price on market",
        {"order_type": common_pb2.ORDER_TYPE_MARKET},
        grpc.StatusCode.INVALID_ARGUMENT,
        "price",
    ),
    ("trigger on limit", {"trigger_price": "64000.0"}, grpc.StatusCode.INVALID_ARGUMENT, "trigger_price"),
    (
        "trigger missing",
        {"order_type": common_pb2.ORDER_TYPE_STOP_LIMIT},
        grpc.StatusCode.INVALID_ARGUMENT,
        "trigger_price",
    ),
    (
        "trigger off tick",
        {"order_type": common_pb2.ORDER_TYPE_STOP_LIMIT, "trigger_price": "64000.01"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "trigger_price",
    ),
    ("expiry on gtc", {"expire_at_ns": START_NS + 10**12}, grpc.StatusCode.INVALID_ARGUMENT, "expire_at_ns"),
    ("expiry negative", {"expire_at_ns": -1}, grpc.StatusCode.INVALID_ARGUMENT, "expire_at_ns"),
    (
        "gtd without expiry",
        {"time_in_force": common_pb2.TIME_IN_FORCE_GTD},
        grpc.StatusCode.INVALID_ARGUMENT,
        "expire_at_ns",
    ),
    (
        "gtd in the past",
        {"time_in_force": common_pb2.TIME_IN_FORCE_GTD, "expire_at_ns": START_NS - 1},
        grpc.StatusCode.INVALID_ARGUMENT,
        "expire_at_ns",
    ),
    (
        "post only ioc",
        {"post_only": True, "time_in_force": common_pb2.TIME_IN_FORCE_IOC},
        grpc.StatusCode.INVALID_ARGUMENT,
        "post_only",
    ),
]


@pytest.mark.parametrize(
    ("changes", "code", "detail"), [c[1:] for c in SUBMIT_BAD], ids=[c[0] for c in SUBMIT_BAD]
)
async def test_submit_order_when_field_invalid_then_named_error_and_nothing_changes(
    api: Api, changes: dict[str, Any], code: grpc.StatusCode, detail: str
) -> None:
    before = api.state()
    error = await rejected(api.orders.SubmitOrder, submit_request(**changes))
    assert error.code() == code, error.details()
    meta = trailers(error)
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        assert meta["algotrendy-field"] == detail
    else:
        assert meta["algotrendy-reason"] == detail
    assert error.details()
    assert api.state() == before
    assert api.audit[-1] == ("SubmitOrder", api.audit[-1][1], f"{code.name}:{meta['algotrendy-reason']}")


async def test_submit_order_when_price_off_tick_then_reason_price_off_tick(api: Api) -> None:
    error = await rejected(api.orders.SubmitOrder, submit_request(price="64000.05"))
    assert trailers(error)["algotrendy-reason"] == "PRICE_OFF_TICK"
    error = await rejected(api.orders.SubmitOrder, submit_request(quantity="0.000001"))
    assert trailers(error)["algotrendy-reason"] == "SIZE_OFF_INCREMENT"


async def test_submit_order_when_client_order_id_reused_then_already_exists_with_original(api: Api) -> None:
    first = (await api.orders.SubmitOrder(submit_request())).order
    await api.settle()
    before = api.state()
    error = await rejected(api.orders.SubmitOrder, submit_request(quantity="0.05", price="63000.0"))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    meta = trailers(error)
    assert meta["algotrendy-reason"] == "DUPLICATE_CLIENT_ORDER_ID"
    original = orders_pb2.Order.FromString(meta["algotrendy-original-order-bin"])
    assert (original.client_order_id, original.quantity.value, original.price.value) == (
        "c-1",
        first.quantity.value,
        first.price.value,
    )
    assert original.status == common_pb2.ORDER_STATUS_ACCEPTED
    assert api.state() == before
    assert api.audit[-1][2] == "ALREADY_EXISTS:DUPLICATE_CLIENT_ORDER_ID"


async def test_submit_order_when_above_max_order_quantity_set_by_api_then_failed_precondition(
    api: Api,
) -> None:
    limits = (await api.risk_api.GetLimits(risk_pb2.GetLimitsRequest())).instruments
    btc = next(e for e in limits if e.instrument_id == str(BTC))
    btc.limits.max_order_quantity.value = "0.5"
    await api.risk_api.SetLimits(
        risk_pb2.SetLimitsRequest(limits=risk_pb2.SubjectLimits(instrument=btc), reason="tighten")
    )
    error = await rejected(api.orders.SubmitOrder, submit_request(quantity="1.0"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    meta = trailers(error)
    assert meta["algotrendy-reason"] == "RISK_MAX_ORDER_QUANTITY"
    denied = orders_pb2.Order.FromString(meta["algotrendy-order-bin"])
    assert denied.status == common_pb2.ORDER_STATUS_DENIED and denied.reason == "RISK_MAX_ORDER_QUANTITY"
    await api.settle()
    assert api.venue.order(MAIN, "c-1") is None  # never reached the venue
    ok = await api.orders.SubmitOrder(submit_request(client_order_id="c-2", quantity="0.5"))
    assert ok.order.status == common_pb2.ORDER_STATUS_SUBMITTED
    retry = await rejected(api.orders.SubmitOrder, submit_request(quantity="0.4"))
    assert retry.code() == grpc.StatusCode.ALREADY_EXISTS  # the denial was recorded under c-1


async def test_submit_order_when_halted_then_trading_halted_but_cancel_still_works(api: Api) -> None:
    await submit_working(api, "c-1")
    await api.risk_api.SetTradingState(
        risk_pb2.SetTradingStateRequest(
            account_id="main", state=common_pb2.TRADING_STATE_HALTED, reason="kill switch test"
        )
    )
    error = await rejected(api.orders.SubmitOrder, submit_request(client_order_id="c-2"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert trailers(error)["algotrendy-reason"] == "TRADING_HALTED"
    amend = await rejected(
        api.orders.AmendOrder,
        orders_pb2.AmendOrderRequest(
            account_id="main", client_order_id="c-1", price=common_pb2.Decimal(value="63000.0")
        ),
    )
    assert amend.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert trailers(amend)["algotrendy-reason"] == "TRADING_HALTED"
    canceled = await api.orders.CancelOrder(
        orders_pb2.CancelOrderRequest(account_id="main", client_order_id="c-1")
    )
    assert canceled.order.status == common_pb2.ORDER_STATUS_PENDING_CANCEL
    await api.settle()
    assert api.venue.order(MAIN, "c-1").status.name == "CANCELED"  # type: ignore[union-attr]
    await api.risk_api.SetTradingState(
        risk_pb2.SetTradingStateRequest(
            account_id="main", state=common_pb2.TRADING_STATE_ACTIVE, reason="resume"
        )
    )
    resumed = await api.orders.SubmitOrder(submit_request(client_order_id="c-3"))
    assert resumed.order.status == common_pb2.ORDER_STATUS_SUBMITTED


async def test_submit_order_when_globally_reducing_then_only_reducing_orders_pass(api: Api) -> None:
    await api.risk_api.SetTradingState(
        risk_pb2.SetTradingStateRequest(state=common_pb2.TRADING_STATE_REDUCING, reason="wind down")
    )
    error = await rejected(api.orders.SubmitOrder, submit_request())
    assert trailers(error)["algotrendy-reason"] == "RISK_REDUCING_ONLY"


CANCEL_BAD: list[tuple[str, dict[str, Any], grpc.StatusCode, str]] = [
    ("account empty", {"account_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
    ("account malformed", {"account_id": "a b"}, grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
    ("account unknown", {"account_id": "ghost"}, grpc.StatusCode.NOT_FOUND, "UNKNOWN_ACCOUNT"),
    ("coid empty", {"client_order_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "client_order_id"),
    ("coid malformed", {"client_order_id": "c 1"}, grpc.StatusCode.INVALID_ARGUMENT, "client_order_id"),
    ("order unknown", {"client_order_id": "nope"}, grpc.StatusCode.NOT_FOUND, "ORDER_NOT_FOUND"),
]


@pytest.mark.parametrize(
    ("changes", "code", "detail"), [c[1:] for c in CANCEL_BAD], ids=[c[0] for c in CANCEL_BAD]
)
async def test_cancel_order_when_request_invalid_then_named_error_and_nothing_changes(
    api: Api, changes: dict[str, Any], code: grpc.StatusCode, detail: str
) -> None:
    await submit_working(api, "c-1")
    before = api.state()
    fields = {"account_id": "main", "client_order_id": "c-1", **changes}
    error = await rejected(api.orders.CancelOrder, orders_pb2.CancelOrderRequest(**fields))
    assert error.code() == code
    key = "algotrendy-field" if code is grpc.StatusCode.INVALID_ARGUMENT else "algotrendy-reason"
    assert trailers(error)[key] == detail
    assert api.state() == before


async def test_cancel_order_when_already_canceled_then_failed_precondition_order_closed(api: Api) -> None:
    await submit_working(api, "c-1")
    await api.orders.CancelOrder(orders_pb2.CancelOrderRequest(account_id="main", client_order_id="c-1"))
    await api.settle()
    before = api.state()
    error = await rejected(
        api.orders.CancelOrder, orders_pb2.CancelOrderRequest(account_id="main", client_order_id="c-1")
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert trailers(error)["algotrendy-reason"] == "ORDER_CLOSED"
    assert api.state() == before


CANCEL_ALL_BAD: list[tuple[str, dict[str, Any], grpc.StatusCode, str]] = [
    ("account empty", {"account_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
    ("account unknown", {"account_id": "ghost"}, grpc.StatusCode.NOT_FOUND, "UNKNOWN_ACCOUNT"),
    ("instrument malformed", {"instrument_id": "btc"}, grpc.StatusCode.INVALID_ARGUMENT, "instrument_id"),
    ("instrument unknown", {"instrument_id": "SIM:XRP-USD"}, grpc.StatusCode.NOT_FOUND, "UNKNOWN_INSTRUMENT"),
    ("side unknown", {"side": 3}, grpc.StatusCode.INVALID_ARGUMENT, "side"),
]


@pytest.mark.parametrize(
    ("changes", "code", "detail"), [c[1:] for c in CANCEL_ALL_BAD], ids=[c[0] for c in CANCEL_ALL_BAD]
)
async def test_cancel_all_orders_when_request_invalid_then_named_error_and_nothing_changes(
    api: Api, changes: dict[str, Any], code: grpc.StatusCode, detail: str
) -> None:
    await submit_working(api, "c-1")
    before = api.state()
    error = await rejected(
        api.orders.CancelAllOrders, orders_pb2.CancelAllOrdersRequest(**{"account_id": "main", **changes})
    )
    assert error.code() == code
    key = "algotrendy-field" if code is grpc.StatusCode.INVALID_ARGUMENT else "algotrendy-reason"
    assert trailers(error)[key] == detail
    assert api.state() == before


AMEND_BAD: list[tuple[str, dict[str, Any], grpc.StatusCode, str]] = [
    ("account empty", {"account_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
    ("coid malformed", {"client_order_id": "c 1"}, grpc.StatusCode.INVALID_ARGUMENT, "client_order_id"),
    ("order unknown", {"client_order_id": "nope"}, grpc.StatusCode.NOT_FOUND, "ORDER_NOT_FOUND"),
    ("nothing to change", {"price": None}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("price off tick", {"price": "63000.01"}, grpc.StatusCode.INVALID_ARGUMENT, "price"),
    ("price negative", {"price": "-1"}, grpc.StatusCode.INVALID_ARGUMENT, "price"),
    ("price malformed", {"price": "63,000"}, grpc.StatusCode.INVALID_ARGUMENT, "price"),
    ("quantity zero", {"quantity": "0.00000"}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("quantity off lot", {"quantity": "0.0100001"}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    ("trigger on limit", {"trigger_price": "63000.0"}, grpc.StatusCode.INVALID_ARGUMENT, "trigger_price"),
    ("above max quantity", {"quantity": "6"}, grpc.StatusCode.FAILED_PRECONDITION, "RISK_MAX_ORDER_QUANTITY"),
]


@pytest.mark.parametrize(
    ("changes", "code", "detail"), [c[1:] for c in AMEND_BAD], ids=[c[0] for c in AMEND_BAD]
)
async def test_amend_order_when_request_invalid_then_named_error_and_nothing_changes(
    api: Api, changes: dict[str, Any], code: grpc.StatusCode, detail: str
) -> None:
    await submit_working(api, "c-1")
    before = api.state()
    fields: dict[str, Any] = {"account_id": "main", "client_order_id": "c-1", "price": "63000.0", **changes}
    for key in ("quantity", "price", "trigger_price"):
        if fields.get(key) is None:
            fields.pop(key, None)
        elif key in fields:
            fields[key] = common_pb2.Decimal(value=fields[key])
    error = await rejected(api.orders.AmendOrder, orders_pb2.AmendOrderRequest(**fields))
    assert error.code() == code, error.details()
    key = "algotrendy-field" if code is grpc.StatusCode.INVALID_ARGUMENT else "algotrendy-reason"
    assert trailers(error)[key] == detail
    assert api.state() == before


async def test_amend_order_when_not_acknowledged_yet_then_failed_precondition(api: Api) -> None:
    await api.orders.SubmitOrder(submit_request())
    before = api.state()
    error = await rejected(
        api.orders.AmendOrder,
        orders_pb2.AmendOrderRequest(
            account_id="main", client_order_id="c-1", price=common_pb2.Decimal(value="1.0")
        ),
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert trailers(error)["algotrendy-reason"] == "NOT_ACKNOWLEDGED"
    assert api.state() == before


@pytest.mark.parametrize(
    ("fields", "code", "detail"),
    [
        ({"account_id": "", "client_order_id": "c-1"}, grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
        ({"account_id": "main", "client_order_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "client_order_id"),
        (
            {"account_id": "main", "client_order_id": "c\n1"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "client_order_id",
        ),
        ({"account_id": "main", "client_order_id": "nope"}, grpc.StatusCode.NOT_FOUND, "ORDER_NOT_FOUND"),
        ({"account_id": "ghost", "client_order_id": "c-1"}, grpc.StatusCode.NOT_FOUND, "ORDER_NOT_FOUND"),
    ],
)
async def test_get_order_when_request_invalid_then_named_error(
    api: Api, fields: dict[str, Any], code: grpc.StatusCode, detail: str
) -> None:
    await api.orders.SubmitOrder(submit_request())
    error = await rejected(api.orders.GetOrder, orders_pb2.GetOrderRequest(**fields))
    assert error.code() == code
    key = "algotrendy-field" if code is grpc.StatusCode.INVALID_ARGUMENT else "algotrendy-reason"
    assert trailers(error)[key] == detail


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"page_size": 1001}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"page_token": "x" * 1000}, "page_token"),
        ({"statuses": [common_pb2.ORDER_STATUS_UNSPECIFIED]}, "statuses"),
        ({"statuses": [common_pb2.ORDER_STATUS_FILLED, 42]}, "statuses"),
        ({"statuses": [common_pb2.ORDER_STATUS_FILLED] * 33}, "statuses"),
        ({"account_id": "a b"}, "account_id"),
        ({"instrument_id": "SIM"}, "instrument_id"),
        ({"strategy_id": "s!"}, "strategy_id"),
    ],
)
async def test_list_orders_when_request_invalid_then_invalid_argument_naming_the_field(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    error = await rejected(api.orders.ListOrders, orders_pb2.ListOrdersRequest(**fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(error)["algotrendy-field"] == field


async def test_list_orders_when_page_size_1000_then_accepted(api: Api) -> None:
    response = await api.orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=1000))
    assert list(response.orders) == []


async def test_audit_when_reads_and_writes_then_only_state_changing_calls_recorded(api: Api) -> None:
    await submit_working(api, "c-1")
    await api.orders.ListOrders(orders_pb2.ListOrdersRequest())
    await rejected(api.orders.GetOrder, orders_pb2.GetOrderRequest(account_id="main", client_order_id="zz"))
    await api.orders.AmendOrder(
        orders_pb2.AmendOrderRequest(
            account_id="main", client_order_id="c-1", price=common_pb2.Decimal(value="63000.0")
        )
    )
    await api.settle()
    await rejected(
        api.orders.CancelOrder, orders_pb2.CancelOrderRequest(account_id="main", client_order_id="zz")
    )
    await api.orders.CancelAllOrders(orders_pb2.CancelAllOrdersRequest(account_id="main"))
    await api.risk_api.GetLimits(risk_pb2.GetLimitsRequest())
    await api.risk_api.GetRiskState(risk_pb2.GetRiskStateRequest(account_id="main"))
    assert [(m, r) for m, _, r in api.audit] == [
        ("SubmitOrder", "OK"),
        ("AmendOrder", "OK"),
        ("CancelOrder", "NOT_FOUND:ORDER_NOT_FOUND"),
        ("CancelAllOrders", "OK"),
    ]
    assert api.audit[1][1] == {"account_id": "main", "client_order_id": "c-1", "price": "63000.0"}


async def test_submit_order_when_market_sell_then_filled_at_the_bid_without_a_price(api: Api) -> None:
    await api.orders.SubmitOrder(
        submit_request(
            client_order_id="m-s",
            side=common_pb2.SIDE_SELL,
            order_type=common_pb2.ORDER_TYPE_MARKET,
            price=None,
        )
    )
    await api.settle()
    order = (
        await api.orders.GetOrder(orders_pb2.GetOrderRequest(account_id="main", client_order_id="m-s"))
    ).order
    assert order.status == common_pb2.ORDER_STATUS_FILLED
    assert not order.HasField("price")
    fills = [e for e in api.journal.records if type(e).__name__ == "OrderFilled"]
    assert [str(f.last_price) for f in fills] == [BID + "0"]


# == hooks: audit failures, internal errors, callers that go away ================================
async def test_submit_order_when_client_gives_up_before_durable_then_order_still_sent_and_audited(
    api: Api,
) -> None:
    api.journal.hold = True
    error = await rejected(
        lambda request: api.orders.SubmitOrder(request, timeout=0.2), submit_request(client_order_id="slow")
    )
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert [m for m, _, _ in api.audit] == []  # still waiting for durability
    api.journal.release()  # a canceled durability future would raise here
    await api.settle()
    order = api.oms.get(MAIN, "slow")  # type: ignore[arg-type]
    assert order.status.name == "ACCEPTED"
    assert api.audit == [("SubmitOrder", api.audit[0][1], "OK")]


async def test_audit_when_hook_raises_then_internal_and_on_internal_called() -> None:
    internal: list[BaseException] = []

    def failing_audit(method: str, summary: dict[str, Any], result: str) -> None:
        raise OSError("audit log unavailable")

    async with serve_api(audit_hook=failing_audit, on_internal=internal.append) as api:
        error = await rejected(api.orders.SubmitOrder, submit_request())
        assert error.code() == grpc.StatusCode.INTERNAL
        assert trailers(error)["algotrendy-reason"] == "INTERNAL"
        assert "audit log" not in (error.details() or "")  # internals never leak
        assert [type(e) for e in internal] == [OSError]
        reads = await api.orders.ListOrders(orders_pb2.ListOrdersRequest())
        assert len(reads.orders) == 1  # reads are not audited, so they still work


async def test_internal_error_when_servicer_fails_unexpectedly_then_internal_and_on_internal_called() -> None:
    internal: list[BaseException] = []
    async with serve_api(on_internal=internal.append) as api:
        api.oms._by_index.append(None)  # type: ignore[arg-type]  # corrupt the manager: listing now fails
        error = await rejected(api.orders.ListOrders, orders_pb2.ListOrdersRequest())
        assert error.code() == grpc.StatusCode.INTERNAL
        assert len(internal) == 1 and isinstance(internal[0], AttributeError)
        api.oms._by_index.pop()


async def test_submit_order_when_account_throttled_then_failed_precondition_risk_throttled(api: Api) -> None:
    limits = (await api.risk_api.GetLimits(risk_pb2.GetLimitsRequest())).accounts[0]
    limits.limits.max_orders_per_second = 1
    limits.limits.order_burst = 1
    await api.risk_api.SetLimits(risk_pb2.SetLimitsRequest(limits=risk_pb2.SubjectLimits(account=limits)))
    await api.orders.SubmitOrder(submit_request(client_order_id="t-1"))
    error = await rejected(api.orders.SubmitOrder, submit_request(client_order_id="t-2"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert trailers(error)["algotrendy-reason"] == "RISK_THROTTLED_ACCOUNT"
