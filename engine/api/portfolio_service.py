"""PortfolioService: positions, balances and PnL read from the loop's ``Portfolio``. Read-only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc

from algotrendy.v1 import portfolio_pb2, portfolio_pb2_grpc
from engine.api import validate
from engine.api.convert import RpcHooks, balances_to_proto, pnl_to_proto, position_to_proto
from engine.api.errors import grpc_errors
from engine.api.streams import SequencedHub, run_stream
from engine.api.validate import AccountCheck, InstrumentLookup
from engine.core.errors import UnavailableError
from engine.core.fixed import Money
from engine.core.ids import AccountId
from engine.oms.portfolio import Portfolio
from engine.oms.ports import Clock

__all__ = ["PortfolioServicer"]

#: ``equity_marks(account_id)``: ``(day_start_equity, peak_equity)`` or None before the first
#: equity update (``RiskEngine.equity_marks``).
EquityMarks = Callable[[AccountId], tuple[Money, Money] | None]


class PortfolioServicer(portfolio_pb2_grpc.PortfolioServiceServicer):
    """``currency`` is the currency GetPnl reports in (the risk engine's quote currency)."""

    def __init__(
        self,
        portfolio: Portfolio,
        instruments: InstrumentLookup,
        clock: Clock,
        *,
        currency: str,
        account_exists: AccountCheck | None = None,
        equity_marks: EquityMarks | None = None,
        on_internal: Callable[[BaseException], None] | None = None,
        positions: SequencedHub | None = None,
    ) -> None:
        self._positions_stream = positions
        self._on_internal = on_internal
        self._portfolio = portfolio
        self._instruments = instruments
        self._clock = clock
        self._currency = currency
        self._account_exists = account_exists
        self._equity_marks = equity_marks
        self._hooks = RpcHooks(None, on_internal)

    @grpc_errors()
    async def ListPositions(
        self, request: portfolio_pb2.ListPositionsRequest, context: grpc.aio.ServicerContext
    ) -> portfolio_pb2.ListPositionsResponse:
        return await self._hooks.run("ListPositions", request, self._positions(request), audited=False)

    async def _positions(
        self, request: portfolio_pb2.ListPositionsRequest
    ) -> portfolio_pb2.ListPositionsResponse:
        query = validate.list_positions(
            request, instruments=self._instruments, account_exists=self._account_exists
        )
        views = self._portfolio.positions(query.account_id)
        if query.instrument_id is not None:
            views = [v for v in views if v.instrument_id == query.instrument_id]
        views.sort(key=lambda v: (v.account_id, v.instrument_id))
        return portfolio_pb2.ListPositionsResponse(positions=[position_to_proto(v) for v in views])

    @grpc_errors()
    async def GetBalances(
        self, request: portfolio_pb2.GetBalancesRequest, context: grpc.aio.ServicerContext
    ) -> portfolio_pb2.GetBalancesResponse:
        return await self._hooks.run("GetBalances", request, self._balances(request), audited=False)

    async def _balances(self, request: portfolio_pb2.GetBalancesRequest) -> portfolio_pb2.GetBalancesResponse:
        account_id = validate.account_of(request, account_exists=self._account_exists)
        return balances_to_proto(account_id, self._portfolio.balances(account_id))

    @grpc_errors()
    async def GetPnl(
        self, request: portfolio_pb2.GetPnlRequest, context: grpc.aio.ServicerContext
    ) -> portfolio_pb2.GetPnlResponse:
        return await self._hooks.run("GetPnl", request, self._pnl(request), audited=False)

    async def _pnl(self, request: portfolio_pb2.GetPnlRequest) -> portfolio_pb2.GetPnlResponse:
        account_id = validate.account_of(request, account_exists=self._account_exists)
        pnl = self._portfolio.pnl(account_id, self._currency)
        marks = self._equity_marks(account_id) if self._equity_marks is not None else None
        return pnl_to_proto(account_id, self._currency, pnl, marks, self._clock.timestamp_ns())

    async def StreamPositions(
        self, request: portfolio_pb2.StreamPositionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        async for message in run_stream(context, lambda: self._stream(request, context), self._on_internal):
            yield message

    def _stream(
        self, request: portfolio_pb2.StreamPositionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        hub = self._positions_stream
        if hub is None:
            raise UnavailableError("position streams are not enabled in this engine")
        filters = validate.stream_filters(
            request, instruments=self._instruments, account_exists=self._account_exists
        )
        subscriber = hub.subscribe(
            context,
            account_id=filters.account_id or "",
            instrument_id=filters.instrument_id or "",
            from_sequence=request.from_sequence,
        )
        return hub.stream(subscriber)
