"""RiskService over a real grpc.aio channel, backed by the real RiskEngine (and the OMS for exposure)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from test_orders_api_harness import MAIN, Api, serve_api, trailers

from algotrendy.v1 import common_pb2, orders_pb2, risk_pb2
from engine.core.enums import TradingState
from engine.core.events import Event, TradingStateChanged
from engine.core.fixed import Quantity
from engine.core.ids import InstrumentId, StrategyId
from engine.risk import RiskLimitsChanged


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with serve_api() as api:
        yield api


def d(value: str) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=value)


def account_entry(**changes: Any) -> risk_pb2.AccountLimitsEntry:
    limits: dict[str, Any] = dict(
        max_gross_exposure=d("2000000"),
        max_net_exposure=d("1500000.5"),
        max_open_orders=50,
        max_orders_per_second=20,
        order_burst=40,
        max_daily_loss=d("25000"),
        max_drawdown=d("50000"),
        breach_state=common_pb2.TRADING_STATE_REDUCING,
    )
    account_id = changes.pop("account_id", "main")
    limits.update(changes)
    return risk_pb2.AccountLimitsEntry(
        account_id=account_id,
        limits=risk_pb2.AccountLimits(**{k: v for k, v in limits.items() if v is not None}),
    )


def instrument_entry(**changes: Any) -> risk_pb2.InstrumentLimitsEntry:
    limits: dict[str, Any] = dict(
        max_order_quantity=d("2.5"),
        max_order_notional=d("150000"),
        max_position=d("12.00001"),
        price_band_bps=250,
        max_data_age_ms=10_000,
        reference=risk_pb2.PRICE_REFERENCE_LAST,
    )
    instrument_id = changes.pop("instrument_id", "SIM:BTC-USD")
    limits.update(changes)
    return risk_pb2.InstrumentLimitsEntry(
        instrument_id=instrument_id,
        limits=risk_pb2.InstrumentLimits(**{k: v for k, v in limits.items() if v is not None}),
    )


def strategy_entry(**changes: Any) -> risk_pb2.StrategyLimitsEntry:
    limits: dict[str, Any] = dict(max_orders_per_second=5, order_burst=10)
    strategy_id = changes.pop("strategy_id", "spare")
    limits.update(changes)
    return risk_pb2.StrategyLimitsEntry(strategy_id=strategy_id, limits=risk_pb2.StrategyLimits(**limits))


async def rejected(call: Any, request: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(request)
    return info.value


def risk_state(api: Api) -> tuple[dict[str, Any], int]:
    return api.risk.snapshot(), len(api.published)


# == happy paths ===================================================================================
async def test_get_limits_when_called_then_every_subject_with_limits_sorted_as_decimal_strings(
    api: Api,
) -> None:
    response = await api.risk_api.GetLimits(risk_pb2.GetLimitsRequest())
    assert response.currency == "USD"
    assert [e.account_id for e in response.accounts] == ["main", "other"]
    assert [e.instrument_id for e in response.instruments] == ["SIM:BTC-USD", "SIM:SOL-USD"]  # ETH: none
    assert [e.strategy_id for e in response.strategies] == ["manual"]  # spare: none
    btc = response.instruments[0].limits
    assert (btc.max_order_quantity.value, btc.max_position.value, btc.max_order_notional.value) == (
        "5",
        "50",
        "1000000",
    )
    assert (btc.price_band_bps, btc.max_data_age_ms, btc.reference) == (
        1000,
        3_600_000,
        risk_pb2.PRICE_REFERENCE_MID,
    )
    main = response.accounts[0].limits
    assert main.breach_state == common_pb2.TRADING_STATE_HALTED
    assert main.max_open_orders == 100_000


async def test_set_limits_when_instrument_limits_replaced_then_previous_and_current_and_journalled(
    api: Api,
) -> None:
    response = await api.risk_api.SetLimits(
        risk_pb2.SetLimitsRequest(
            limits=risk_pb2.SubjectLimits(instrument=instrument_entry()), reason="tighter"
        )
    )
    assert response.current.instrument.limits.max_order_quantity.value == "2.50000"
    assert response.current.instrument.limits.max_position.value == "12.00001"
    assert response.previous.instrument.limits.max_order_quantity.value == "5"
    assert response.currency == "USD" and response.ts_ns == api.clock.timestamp_ns()
    limits = api.risk.limits().instruments[InstrumentId("SIM:BTC-USD")]
    assert limits.max_order_quantity == Quantity("2.5") and limits.price_band_bps == 250
    assert len(api.published) == 1 and isinstance(api.published[0], RiskLimitsChanged)
    assert api.audit[-1][0] == "SetLimits" and api.audit[-1][2] == "OK"
    assert api.audit[-1][1]["reason"] == "tighter"
    assert api.audit[-1][1]["limits"]["instrument"]["limits"]["max_position"] == "12.00001"


async def test_set_limits_when_account_and_new_strategy_then_applied_and_no_previous_for_new(
    api: Api,
) -> None:
    account = await api.risk_api.SetLimits(
        risk_pb2.SetLimitsRequest(limits=risk_pb2.SubjectLimits(account=account_entry()))
    )
    assert account.current.account.limits.max_net_exposure.value == "1500000.5"
    assert account.current.account.limits.breach_state == common_pb2.TRADING_STATE_REDUCING
    assert account.HasField("previous")
    strategy = await api.risk_api.SetLimits(
        risk_pb2.SetLimitsRequest(limits=risk_pb2.SubjectLimits(strategy=strategy_entry()))
    )
    assert strategy.current.strategy.limits.order_burst == 10
    assert not strategy.HasField("previous")
    assert api.risk.limits().strategies[StrategyId("spare")].max_orders_per_second == 5
    listed = await api.risk_api.GetLimits(risk_pb2.GetLimitsRequest())
    assert [e.strategy_id for e in listed.strategies] == ["manual", "spare"]


async def test_set_trading_state_when_account_halted_then_effective_halted_and_global_active(
    api: Api,
) -> None:
    response = await api.risk_api.SetTradingState(
        risk_pb2.SetTradingStateRequest(
            account_id="main", state=common_pb2.TRADING_STATE_HALTED, reason="ops"
        )
    )
    assert (response.account_id, response.previous, response.current, response.effective) == (
        "main",
        common_pb2.TRADING_STATE_ACTIVE,
        common_pb2.TRADING_STATE_HALTED,
        common_pb2.TRADING_STATE_HALTED,
    )
    assert isinstance(api.published[-1], TradingStateChanged)
    state = await api.risk_api.GetRiskState(risk_pb2.GetRiskStateRequest(account_id="main"))
    assert state.trading_state == common_pb2.TRADING_STATE_HALTED
    assert state.global_trading_state == common_pb2.TRADING_STATE_ACTIVE
    other = await api.risk_api.GetRiskState(risk_pb2.GetRiskStateRequest(account_id="other"))
    assert other.trading_state == common_pb2.TRADING_STATE_ACTIVE


async def test_set_trading_state_when_global_reducing_then_every_account_at_least_reducing(api: Api) -> None:
    response = await api.risk_api.SetTradingState(
        risk_pb2.SetTradingStateRequest(state=common_pb2.TRADING_STATE_REDUCING, reason="wind down")
    )
    assert response.account_id == "" and response.effective == common_pb2.TRADING_STATE_REDUCING
    assert api.risk.trading_state(None) is TradingState.REDUCING
    state = await api.risk_api.GetRiskState(risk_pb2.GetRiskStateRequest())
    assert (state.trading_state, state.global_trading_state) == (
        common_pb2.TRADING_STATE_REDUCING,
        common_pb2.TRADING_STATE_REDUCING,
    )
    assert not state.HasField("gross_exposure")
    other = await api.risk_api.GetRiskState(risk_pb2.GetRiskStateRequest(account_id="other"))
    assert other.trading_state == common_pb2.TRADING_STATE_REDUCING


async def test_get_risk_state_when_order_working_then_exposure_reported(api: Api) -> None:
    before = await api.risk_api.GetRiskState(risk_pb2.GetRiskStateRequest(account_id="main"))
    assert before.gross_exposure.value.strip("0.") == ""
    await api.orders.SubmitOrder(
        orders_pb2.SubmitOrderRequest(
            account_id="main",
            client_order_id="c-1",
            instrument_id="SIM:BTC-USD",
            side=common_pb2.SIDE_BUY,
            order_type=common_pb2.ORDER_TYPE_LIMIT,
            time_in_force=common_pb2.TIME_IN_FORCE_GTC,
            quantity=d("0.1"),
            price=d("64000.0"),
        )
    )
    after = await api.risk_api.GetRiskState(risk_pb2.GetRiskStateRequest(account_id="main"))
    assert float(after.gross_exposure.value) > 0
    assert after.currency == "USD" and after.ts_ns == api.clock.timestamp_ns()


async def test_set_trading_state_when_publish_returns_future_then_answer_waits_for_durability() -> None:
    durable: asyncio.Future[None] | None = None
    events: list[Event] = []

    def publish(event: Event) -> asyncio.Future[None]:
        nonlocal durable
        events.append(event)
        durable = asyncio.get_running_loop().create_future()
        return durable

    async with serve_api(publish=publish) as api:
        call = asyncio.ensure_future(
            api.risk_api.SetTradingState(
                risk_pb2.SetTradingStateRequest(state=common_pb2.TRADING_STATE_HALTED, reason="durable?")
            )
        )
        for _ in range(200):
            if durable is not None:
                break
            await asyncio.sleep(0.005)
        assert durable is not None and len(events) == 1
        await asyncio.sleep(0.05)
        assert not call.done()
        durable.set_result(None)
        response = await asyncio.wait_for(call, 5)
        assert response.current == common_pb2.TRADING_STATE_HALTED


# == bad input: the documented code, the field named, nothing changed ==========================
def _limits(**subject: Any) -> risk_pb2.SetLimitsRequest:
    return risk_pb2.SetLimitsRequest(limits=risk_pb2.SubjectLimits(**subject))


A = "limits.account.limits."
I = "limits.instrument.limits."  # noqa: E741
S = "limits.strategy.limits."
SET_LIMITS_BAD: list[tuple[str, risk_pb2.SetLimitsRequest, grpc.StatusCode, str]] = [
    ("no limits", risk_pb2.SetLimitsRequest(), grpc.StatusCode.INVALID_ARGUMENT, "limits"),
    ("no subject", _limits(), grpc.StatusCode.INVALID_ARGUMENT, "limits"),
    (
        "reason too long",
        risk_pb2.SetLimitsRequest(limits=risk_pb2.SubjectLimits(strategy=strategy_entry()), reason="x" * 501),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reason",
    ),
    (
        "reason control chars",
        risk_pb2.SetLimitsRequest(limits=risk_pb2.SubjectLimits(strategy=strategy_entry()), reason="a\x00b"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reason",
    ),
    (
        "account id empty",
        _limits(account=account_entry(account_id="")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "limits.account.account_id",
    ),
    (
        "account unknown",
        _limits(account=account_entry(account_id="ghost")),
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_ACCOUNT",
    ),
    (
        "account limits missing",
        _limits(account=risk_pb2.AccountLimitsEntry(account_id="main")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "limits.account.limits",
    ),
    (
        "gross missing",
        _limits(account=account_entry(max_gross_exposure=None)),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "max_gross_exposure",
    ),
    (
        "gross zero",
        _limits(account=account_entry(max_gross_exposure=d("0"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "max_gross_exposure",
    ),
    (
        "net negative",
        _limits(account=account_entry(max_net_exposure=d("-5"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "max_net_exposure",
    ),
    (
        "daily loss exponent",
        _limits(account=account_entry(max_daily_loss=d("1e3"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "max_daily_loss",
    ),
    (
        "drawdown text",
        _limits(account=account_entry(max_drawdown=d("lots"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "max_drawdown",
    ),
    (
        "drawdown too precise",
        _limits(account=account_entry(max_drawdown=d("1." + "1" * 40))),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "max_drawdown",
    ),
    (
        "open orders zero",
        _limits(account=account_entry(max_open_orders=0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "max_open_orders",
    ),
    (
        "open orders huge",
        _limits(account=account_entry(max_open_orders=1_000_000_001)),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "max_open_orders",
    ),
    (
        "rate zero",
        _limits(account=account_entry(max_orders_per_second=0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "max_orders_per_second",
    ),
    (
        "burst zero",
        _limits(account=account_entry(order_burst=0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "order_burst",
    ),
    (
        "breach unspecified",
        _limits(account=account_entry(breach_state=0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "breach_state",
    ),
    (
        "breach active",
        _limits(account=account_entry(breach_state=common_pb2.TRADING_STATE_ACTIVE)),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "breach_state",
    ),
    (
        "breach unknown",
        _limits(account=account_entry(breach_state=9)),
        grpc.StatusCode.INVALID_ARGUMENT,
        A + "breach_state",
    ),
    (
        "instrument malformed",
        _limits(instrument=instrument_entry(instrument_id="BTC")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "limits.instrument.instrument_id",
    ),
    (
        "instrument unknown",
        _limits(instrument=instrument_entry(instrument_id="SIM:DOGE-USD")),
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_INSTRUMENT",
    ),
    (
        "instrument limits missing",
        _limits(instrument=risk_pb2.InstrumentLimitsEntry(instrument_id="SIM:BTC-USD")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "limits.instrument.limits",
    ),
    (
        "max qty missing",
        _limits(instrument=instrument_entry(max_order_quantity=None)),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "max_order_quantity",
    ),
    (
        "max qty off lot",
        _limits(instrument=instrument_entry(max_order_quantity=d("1.000001"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "max_order_quantity",
    ),
    (
        "max qty zero",
        _limits(instrument=instrument_entry(max_order_quantity=d("0"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "max_order_quantity",
    ),
    (
        "max position negative",
        _limits(instrument=instrument_entry(max_position=d("-1"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "max_position",
    ),
    (
        "notional malformed",
        _limits(instrument=instrument_entry(max_order_notional=d("1,000"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "max_order_notional",
    ),
    (
        "band zero",
        _limits(instrument=instrument_entry(price_band_bps=0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "price_band_bps",
    ),
    (
        "band too wide",
        _limits(instrument=instrument_entry(price_band_bps=1_000_001)),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "price_band_bps",
    ),
    (
        "data age zero",
        _limits(instrument=instrument_entry(max_data_age_ms=0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "max_data_age_ms",
    ),
    (
        "data age over a day",
        _limits(instrument=instrument_entry(max_data_age_ms=86_400_001)),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "max_data_age_ms",
    ),
    (
        "reference unspecified",
        _limits(instrument=instrument_entry(reference=0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "reference",
    ),
    (
        "reference unknown",
        _limits(instrument=instrument_entry(reference=3)),
        grpc.StatusCode.INVALID_ARGUMENT,
        I + "reference",
    ),
    (
        "strategy malformed",
        _limits(strategy=strategy_entry(strategy_id="s 1")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "limits.strategy.strategy_id",
    ),
    (
        "strategy unknown",
        _limits(strategy=strategy_entry(strategy_id="ghost")),
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_STRATEGY",
    ),
    (
        "strategy limits missing",
        _limits(strategy=risk_pb2.StrategyLimitsEntry(strategy_id="spare")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "limits.strategy.limits",
    ),
    (
        "strategy rate zero",
        _limits(strategy=strategy_entry(max_orders_per_second=0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        S + "max_orders_per_second",
    ),
    (
        "strategy burst zero",
        _limits(strategy=strategy_entry(order_burst=0)),
        grpc.StatusCode.INVALID_ARGUMENT,
        S + "order_burst",
    ),
]


@pytest.mark.parametrize(
    ("request_", "code", "detail"), [c[1:] for c in SET_LIMITS_BAD], ids=[c[0] for c in SET_LIMITS_BAD]
)
async def test_set_limits_when_field_invalid_then_named_error_and_limits_unchanged(
    api: Api, request_: risk_pb2.SetLimitsRequest, code: grpc.StatusCode, detail: str
) -> None:
    before = risk_state(api)
    error = await rejected(api.risk_api.SetLimits, request_)
    assert error.code() == code, error.details()
    key = "algotrendy-field" if code is grpc.StatusCode.INVALID_ARGUMENT else "algotrendy-reason"
    assert trailers(error)[key] == detail
    assert risk_state(api) == before
    assert api.audit[-1][0] == "SetLimits" and api.audit[-1][2].startswith(code.name)


async def test_set_limits_when_quantity_off_lot_then_reason_size_off_increment(api: Api) -> None:
    error = await rejected(
        api.risk_api.SetLimits, _limits(instrument=instrument_entry(max_order_quantity=d("1.000001")))
    )
    assert trailers(error)["algotrendy-reason"] == "SIZE_OFF_INCREMENT"


SET_STATE_BAD: list[tuple[str, dict[str, Any], grpc.StatusCode, str]] = [
    ("state unspecified", {"state": 0}, grpc.StatusCode.INVALID_ARGUMENT, "state"),
    ("state unknown", {"state": 4}, grpc.StatusCode.INVALID_ARGUMENT, "state"),
    ("reason empty", {"reason": ""}, grpc.StatusCode.INVALID_ARGUMENT, "reason"),
    ("reason blank", {"reason": "   "}, grpc.StatusCode.INVALID_ARGUMENT, "reason"),
    ("reason too long", {"reason": "r" * 501}, grpc.StatusCode.INVALID_ARGUMENT, "reason"),
    ("reason newline", {"reason": "a\nb"}, grpc.StatusCode.INVALID_ARGUMENT, "reason"),
    ("account malformed", {"account_id": "m a i n"}, grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
    ("account unknown", {"account_id": "ghost"}, grpc.StatusCode.NOT_FOUND, "UNKNOWN_ACCOUNT"),
]


@pytest.mark.parametrize(
    ("changes", "code", "detail"), [c[1:] for c in SET_STATE_BAD], ids=[c[0] for c in SET_STATE_BAD]
)
async def test_set_trading_state_when_field_invalid_then_named_error_and_state_unchanged(
    api: Api, changes: dict[str, Any], code: grpc.StatusCode, detail: str
) -> None:
    before = risk_state(api)
    fields = {"account_id": "main", "state": common_pb2.TRADING_STATE_HALTED, "reason": "test", **changes}
    error = await rejected(api.risk_api.SetTradingState, risk_pb2.SetTradingStateRequest(**fields))
    assert error.code() == code
    key = "algotrendy-field" if code is grpc.StatusCode.INVALID_ARGUMENT else "algotrendy-reason"
    assert trailers(error)[key] == detail
    assert risk_state(api) == before
    assert api.risk.trading_state(MAIN) is TradingState.ACTIVE


@pytest.mark.parametrize(
    ("account_id", "code", "detail"),
    [
        ("bad account", grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
        ("a" * 200, grpc.StatusCode.INVALID_ARGUMENT, "account_id"),
        ("ghost", grpc.StatusCode.NOT_FOUND, "UNKNOWN_ACCOUNT"),
    ],
)
async def test_get_risk_state_when_account_invalid_then_named_error(
    api: Api, account_id: str, code: grpc.StatusCode, detail: str
) -> None:
    error = await rejected(api.risk_api.GetRiskState, risk_pb2.GetRiskStateRequest(account_id=account_id))
    assert error.code() == code
    key = "algotrendy-field" if code is grpc.StatusCode.INVALID_ARGUMENT else "algotrendy-reason"
    assert trailers(error)[key] == detail


async def test_audit_when_risk_reads_and_writes_then_only_writes_recorded(api: Api) -> None:
    await api.risk_api.GetLimits(risk_pb2.GetLimitsRequest())
    await api.risk_api.GetRiskState(risk_pb2.GetRiskStateRequest())
    await api.risk_api.SetTradingState(
        risk_pb2.SetTradingStateRequest(state=common_pb2.TRADING_STATE_HALTED, reason="drill")
    )
    await rejected(api.risk_api.SetTradingState, risk_pb2.SetTradingStateRequest(reason="no state"))
    await api.risk_api.SetLimits(_limits(strategy=strategy_entry()))
    assert [(m, r) for m, _, r in api.audit] == [
        ("SetTradingState", "OK"),
        ("SetTradingState", "INVALID_ARGUMENT:INVALID_ARGUMENT"),
        ("SetLimits", "OK"),
    ]
    assert api.audit[0][1] == {"state": "TRADING_STATE_HALTED", "reason": "drill"}
