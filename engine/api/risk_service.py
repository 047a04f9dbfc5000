"""RiskService: limits and trading states of the loop's ``RiskEngine``. Decode and validate
(``engine.api.validate``), call the risk engine, hand its event to ``publish``, encode.

``publish(event)`` receives the ``RiskLimitsChanged`` / ``TradingStateChanged`` each change returns
(the app journals and broadcasts it); when it returns an awaitable (the journal's durability
future) the answer waits for it, so an acknowledged change survives a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc

from algotrendy.v1 import risk_pb2, risk_pb2_grpc
from engine.api import validate
from engine.api.convert import (
    AuditHook,
    RpcHooks,
    decimal_to_proto,
    risk_limits_to_proto,
    subject_limits_to_proto,
)
from engine.api.errors import grpc_errors
from engine.api.validate import InstrumentLookup
from engine.core.errors import NotFoundError
from engine.core.events import TradingStateChanged
from engine.oms.ports import Clock
from engine.risk import RiskEngine, RiskLimitsChanged

__all__ = ["RiskServicer"]

Publish = Callable[[RiskLimitsChanged | TradingStateChanged], Awaitable[None] | None]

_UNKNOWN = {"ACCOUNT": "UNKNOWN_ACCOUNT", "INSTRUMENT": "UNKNOWN_INSTRUMENT", "STRATEGY": "UNKNOWN_STRATEGY"}


class RiskServicer(risk_pb2_grpc.RiskServiceServicer):
    """``instruments(instrument_id)`` returns the instrument or raises ``NotFoundError`` (quantity
    limits are parsed on its size grid); ``audit`` is called for SetLimits and SetTradingState."""

    def __init__(
        self,
        risk: RiskEngine,
        instruments: InstrumentLookup,
        clock: Clock,
        *,
        publish: Publish | None = None,
        audit: AuditHook | None = None,
        on_internal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._risk = risk
        self._instruments = instruments
        self._clock = clock
        self._publish = publish
        self._hooks = RpcHooks(audit, on_internal)

    @grpc_errors()
    async def GetLimits(
        self, request: risk_pb2.GetLimitsRequest, context: grpc.aio.ServicerContext
    ) -> risk_pb2.GetLimitsResponse:
        return await self._hooks.run("GetLimits", request, self._get_limits(), audited=False)

    async def _get_limits(self) -> risk_pb2.GetLimitsResponse:
        return risk_limits_to_proto(self._risk.limits(), self._risk.quote_currency)

    @grpc_errors()
    async def SetLimits(
        self, request: risk_pb2.SetLimitsRequest, context: grpc.aio.ServicerContext
    ) -> risk_pb2.SetLimitsResponse:
        return await self._hooks.run("SetLimits", request, self._set_limits(request), audited=True)

    async def _set_limits(self, request: risk_pb2.SetLimitsRequest) -> risk_pb2.SetLimitsResponse:
        update = validate.set_limits(
            request, instruments=self._instruments, currency=self._risk.quote_currency
        )
        ts = self._clock.timestamp_ns()
        try:
            event = self._risk.set_limits(update.subject_id, update.limits, ts)
        except NotFoundError as exc:
            raise NotFoundError(exc.message, reason=_UNKNOWN[update.subject]) from None
        await self._published(event)
        response = risk_pb2.SetLimitsResponse(
            current=subject_limits_to_proto(event.subject_id, event.current),
            currency=self._risk.quote_currency,
            ts_ns=ts,
        )
        if event.previous is not None:
            response.previous.CopyFrom(subject_limits_to_proto(event.subject_id, event.previous))
        return response

    @grpc_errors()
    async def SetTradingState(
        self, request: risk_pb2.SetTradingStateRequest, context: grpc.aio.ServicerContext
    ) -> risk_pb2.SetTradingStateResponse:
        return await self._hooks.run("SetTradingState", request, self._set_state(request), audited=True)

    async def _set_state(self, request: risk_pb2.SetTradingStateRequest) -> risk_pb2.SetTradingStateResponse:
        ts = self._clock.timestamp_ns()
        command = validate.set_trading_state(request, ts_ns=ts)
        try:
            event = self._risk.set_trading_state(command.state, command.reason, ts, command.account_id)
        except NotFoundError as exc:
            raise NotFoundError(exc.message, reason="UNKNOWN_ACCOUNT") from None
        await self._published(event)
        return risk_pb2.SetTradingStateResponse(
            account_id=event.account_id or "",
            previous=int(event.previous),
            current=int(event.current),
            effective=int(self._risk.trading_state(event.account_id)),
            ts_ns=ts,
        )

    @grpc_errors()
    async def GetRiskState(
        self, request: risk_pb2.GetRiskStateRequest, context: grpc.aio.ServicerContext
    ) -> risk_pb2.GetRiskStateResponse:
        return await self._hooks.run("GetRiskState", request, self._get_state(request), audited=False)

    async def _get_state(self, request: risk_pb2.GetRiskStateRequest) -> risk_pb2.GetRiskStateResponse:
        account_id = validate.get_risk_state(request)
        risk = self._risk
        response = risk_pb2.GetRiskStateResponse(
            account_id=account_id or "",
            global_trading_state=int(risk.trading_state(None)),
            currency=risk.quote_currency,
            ts_ns=self._clock.timestamp_ns(),
        )
        if account_id is None:
            response.trading_state = response.global_trading_state
            return response
        try:
            response.trading_state = int(risk.trading_state(account_id))
        except NotFoundError as exc:
            raise NotFoundError(exc.message, reason="UNKNOWN_ACCOUNT") from None
        gross, net = risk.exposure(account_id)
        response.gross_exposure.CopyFrom(decimal_to_proto(gross))
        response.net_exposure.CopyFrom(decimal_to_proto(net))
        marks = risk.equity_marks(account_id)
        if marks is not None:
            response.day_start_equity.CopyFrom(decimal_to_proto(marks[0]))
            response.peak_equity.CopyFrom(decimal_to_proto(marks[1]))
        return response

    async def _published(self, event: RiskLimitsChanged | TradingStateChanged) -> None:
        if self._publish is None:
            return
        durable = self._publish(event)
        if durable is not None:
            await asyncio.shield(durable)
