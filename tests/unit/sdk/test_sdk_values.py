"""The SDK's value handling without an engine: exact decimals, enum parsing, channel specs, error
mapping from a status and its trailing metadata."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from algotrendy.v1 import common_pb2, orders_pb2
from algotrendy_sdk.client import MarketDataChannel, parse_interval_ns
from algotrendy_sdk.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    OrderDenied,
    RateLimited,
    Unavailable,
    from_rpc_error,
)
from algotrendy_sdk.types import OrderStatus, Side, TimeInForce, decimal_text, to_decimal


@given(st.decimals(allow_nan=False, allow_infinity=False, places=12, min_value=-(10**15), max_value=10**15))
def test_decimal_text_when_any_finite_decimal_then_plain_string_with_the_same_value(value: Decimal) -> None:
    text = decimal_text(value)
    assert "E" not in text.upper()
    assert Decimal(text) == value


@pytest.mark.parametrize("bad", [0.1, 1e-9, float("nan"), True])
def test_to_decimal_when_float_or_bool_then_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        to_decimal(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "abc", "1,5", "NaN", "Infinity"])
def test_to_decimal_when_not_a_finite_decimal_string_then_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        to_decimal(bad)


def test_enums_when_parsed_from_text_then_round_trip_to_proto() -> None:
    assert Side.parse("buy") is Side.BUY
    assert Side.parse("SIDE_SELL") is Side.SELL
    assert TimeInForce.parse("ioc").to_proto(common_pb2.TimeInForce) == common_pb2.TIME_IN_FORCE_IOC
    assert OrderStatus.from_proto(common_pb2.ORDER_STATUS_FILLED, common_pb2.OrderStatus).is_terminal
    with pytest.raises(ValueError, match="buy, sell"):
        Side.parse("sideways")


def test_channel_specs_when_parsed_then_subscription_fields() -> None:
    assert MarketDataChannel.parse("book:5") == MarketDataChannel("book", depth=5)
    assert MarketDataChannel.parse("bars:1m").interval_ns == 60_000_000_000
    rsi = MarketDataChannel.parse("indicator:rsi:5m:timeperiod=14")
    assert (rsi.indicator, rsi.interval_ns, rsi.params) == ("rsi", 300_000_000_000, (("timeperiod", 14.0),))
    assert parse_interval_ns("250ms") == 250_000_000
    with pytest.raises(ValueError):
        MarketDataChannel.parse("candles")


class _Failed(grpc.RpcError):
    """A failed call as grpc reports it: code, details and trailing metadata."""

    def __init__(self, code: grpc.StatusCode, details: str, trailers: tuple[tuple[str, object], ...]) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, object], ...]:
        return self._trailers


def test_errors_when_mapped_then_class_reason_field_and_carried_orders() -> None:
    invalid = from_rpc_error(
        _Failed(
            grpc.StatusCode.INVALID_ARGUMENT,
            "price: bad",
            (("algotrendy-reason", "BAD"), ("algotrendy-field", "price")),
        )
    )
    assert isinstance(invalid, InvalidArgument) and (invalid.reason, invalid.field) == ("BAD", "price")

    denied_order = orders_pb2.Order(
        client_order_id="x", status=common_pb2.ORDER_STATUS_DENIED, reason="RISK_MAX_NOTIONAL"
    )
    denied = from_rpc_error(
        _Failed(
            grpc.StatusCode.FAILED_PRECONDITION,
            "denied",
            (
                ("algotrendy-reason", "RISK_MAX_NOTIONAL"),
                ("algotrendy-order-bin", denied_order.SerializeToString()),
            ),
        )
    )
    assert isinstance(denied, OrderDenied) and denied.order is not None
    assert (denied.order.client_order_id, denied.order.status) == ("x", OrderStatus.DENIED)

    closed = from_rpc_error(
        _Failed(grpc.StatusCode.FAILED_PRECONDITION, "closed", (("algotrendy-reason", "ORDER_CLOSED"),))
    )
    assert type(closed) is FailedPrecondition

    original = from_rpc_error(
        _Failed(
            grpc.StatusCode.ALREADY_EXISTS,
            "dup",
            (("algotrendy-original-order-bin", denied_order.SerializeToString()),),
        )
    )
    assert isinstance(original, AlreadyExists) and original.original is not None

    limited = from_rpc_error(
        _Failed(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow", (("retry-after-ms", "250"),))
    )
    assert (
        isinstance(limited, RateLimited)
        and limited.retry_after == 0.25
        and limited.reason == "RESOURCE_EXHAUSTED"
    )

    down = from_rpc_error(_Failed(grpc.StatusCode.DEADLINE_EXCEEDED, "", ()))
    assert isinstance(down, Unavailable)
