"""OrderService: decode and validate the request (``engine.api.validate``), call the
``OrderManager`` (the single writer of orders, on this loop), encode the answer. No business logic.

Outcomes the manager reports as data become gRPC statuses here: a risk-denied order (status DENIED,
recorded and journalled by the manager) answers FAILED_PRECONDITION with its reason and carries the
DENIED order in ``algotrendy-order-bin``; a reused client_order_id answers ALREADY_EXISTS with the
original order in ``algotrendy-original-order-bin`` (both: the serialized ``Order`` message).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc

from algotrendy.v1 import orders_pb2, orders_pb2_grpc
from engine.api import validate
from engine.api.convert import AuditHook, RpcHooks, fill_order, order_to_proto
from engine.api.errors import grpc_errors, status_for
from engine.api.streams import SequencedHub, run_stream
from engine.api.validate import AccountCheck, InstrumentLookup
from engine.core.enums import OrderStatus
from engine.core.errors import AlgoTrendyError, DuplicateError, PreconditionError, UnavailableError
from engine.core.ids import AccountId, ClientOrderId
from engine.core.instruments import Instrument
from engine.oms.manager import OrderManager
from engine.oms.order import Order
from engine.oms.ports import Clock

__all__ = ["DENIED_ORDER_KEY", "ORIGINAL_ORDER_KEY", "OrderServicer"]

#: ALREADY_EXISTS on SubmitOrder: the serialized original ``algotrendy.v1.Order``.
ORIGINAL_ORDER_KEY = "algotrendy-original-order-bin"
#: FAILED_PRECONDITION on SubmitOrder after a risk denial: the serialized DENIED ``Order``.
DENIED_ORDER_KEY = "algotrendy-order-bin"


class OrderDenied(PreconditionError):
    """The risk gate denied a new order; the manager recorded it as DENIED (``order``)."""

    def __init__(self, order: Order) -> None:
        super().__init__(
            f"order {order.client_order_id} denied: {order.detail or order.reason}",
            reason=order.reason or "RISK_DENIED",
        )
        self.order = order


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    """``instruments(instrument_id)`` returns the instrument or raises ``NotFoundError``;
    ``account_exists`` (optional) turns unknown accounts into NOT_FOUND before anything changes;
    ``audit`` is called for SubmitOrder, CancelOrder, CancelAllOrders and AmendOrder (see
    ``RpcHooks``); ``on_internal`` for every call that ends INTERNAL."""

    def __init__(
        self,
        oms: OrderManager,
        instruments: InstrumentLookup,
        clock: Clock,
        *,
        account_exists: AccountCheck | None = None,
        audit: AuditHook | None = None,
        on_internal: Callable[[BaseException], None] | None = None,
        events: SequencedHub | None = None,
    ) -> None:
        self._oms = oms
        self._instruments = instruments
        self._clock = clock
        self._account_exists = account_exists
        self._hooks = RpcHooks(audit, on_internal)
        self._on_internal = on_internal
        self._events = events

    # == commands ==================================================================================
    @grpc_errors()
    async def SubmitOrder(
        self, request: orders_pb2.SubmitOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.SubmitOrderResponse:
        try:
            return await self._hooks.run("SubmitOrder", request, self._submit(request), audited=True)
        except DuplicateError as exc:
            extra = ()
            if isinstance(exc.original, Order):
                extra = ((ORIGINAL_ORDER_KEY, order_to_proto(exc.original).SerializeToString()),)
            await _abort(context, exc, extra)
        except OrderDenied as exc:
            await _abort(context, exc, ((DENIED_ORDER_KEY, order_to_proto(exc.order).SerializeToString()),))
        raise AssertionError("unreachable: abort raises")

    async def _submit(self, request: orders_pb2.SubmitOrderRequest) -> orders_pb2.SubmitOrderResponse:
        command = validate.submit_order(
            request,
            instruments=self._instruments,
            ts_ns=self._clock.timestamp_ns(),
            account_exists=self._account_exists,
        )
        order = await self._oms.submit(command)
        if order.status is OrderStatus.DENIED:
            raise OrderDenied(order)
        response = orders_pb2.SubmitOrderResponse()
        fill_order(response.order, order)  # in place: no Order built and copied in
        return response

    @grpc_errors()
    async def CancelOrder(
        self, request: orders_pb2.CancelOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CancelOrderResponse:
        return await self._hooks.run("CancelOrder", request, self._cancel(request), audited=True)

    async def _cancel(self, request: orders_pb2.CancelOrderRequest) -> orders_pb2.CancelOrderResponse:
        command = validate.cancel_order(
            request, ts_ns=self._clock.timestamp_ns(), account_exists=self._account_exists
        )
        order = await self._oms.cancel(command)
        response = orders_pb2.CancelOrderResponse()
        fill_order(response.order, order)
        return response

    @grpc_errors()
    async def CancelAllOrders(
        self, request: orders_pb2.CancelAllOrdersRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CancelAllOrdersResponse:
        return await self._hooks.run("CancelAllOrders", request, self._cancel_all(request), audited=True)

    async def _cancel_all(
        self, request: orders_pb2.CancelAllOrdersRequest
    ) -> orders_pb2.CancelAllOrdersResponse:
        command = validate.cancel_all_orders(
            request,
            instruments=self._instruments,
            ts_ns=self._clock.timestamp_ns(),
            account_exists=self._account_exists,
        )
        orders = await self._oms.cancel_all(command)
        return orders_pb2.CancelAllOrdersResponse(orders=[order_to_proto(o) for o in orders])

    @grpc_errors()
    async def AmendOrder(
        self, request: orders_pb2.AmendOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.AmendOrderResponse:
        return await self._hooks.run("AmendOrder", request, self._amend(request), audited=True)

    async def _amend(self, request: orders_pb2.AmendOrderRequest) -> orders_pb2.AmendOrderResponse:
        command = validate.amend_order(
            request, instrument_of=self._instrument_of, ts_ns=self._clock.timestamp_ns()
        )
        order = await self._oms.amend(command)
        response = orders_pb2.AmendOrderResponse()
        fill_order(response.order, order)
        return response

    def _instrument_of(self, account_id: AccountId, client_order_id: ClientOrderId) -> Instrument:
        return self._instruments(self._oms.get(account_id, client_order_id).instrument_id)

    # == queries ===================================================================================
    @grpc_errors()
    async def GetOrder(
        self, request: orders_pb2.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.GetOrderResponse:
        return await self._hooks.run("GetOrder", request, self._get(request), audited=False)

    async def _get(self, request: orders_pb2.GetOrderRequest) -> orders_pb2.GetOrderResponse:
        account_id, client_order_id = validate.get_order(request)
        return orders_pb2.GetOrderResponse(order=order_to_proto(self._oms.get(account_id, client_order_id)))

    @grpc_errors()
    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.ListOrdersResponse:
        return await self._hooks.run("ListOrders", request, self._list(request), audited=False)

    async def _list(self, request: orders_pb2.ListOrdersRequest) -> orders_pb2.ListOrdersResponse:
        query = validate.list_orders(request)
        page = self._oms.list_orders(**query.kwargs())
        return orders_pb2.ListOrdersResponse(
            orders=[order_to_proto(o) for o in page.orders], next_page_token=page.next_page_token
        )

    # == streams ===================================================================================
    async def StreamOrderEvents(
        self, request: orders_pb2.StreamOrderEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        async for message in run_stream(context, lambda: self._stream(request, context), self._on_internal):
            yield message

    def _stream(
        self, request: orders_pb2.StreamOrderEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        if self._events is None:
            raise UnavailableError("order-event streams are not enabled in this engine")
        filters = validate.stream_filters(
            request, instruments=self._instruments, account_exists=self._account_exists
        )
        subscriber = self._events.subscribe(
            context,
            account_id=filters.account_id or "",
            instrument_id=filters.instrument_id or "",
            from_sequence=request.from_sequence,
        )
        return self._events.stream(subscriber)


async def _abort(
    context: grpc.aio.ServicerContext, exc: AlgoTrendyError, extra: tuple[tuple[str, bytes], ...]
) -> None:
    """Answer the mapped status of ``exc`` with ``extra`` binary metadata beside the usual keys."""
    code, message, metadata = status_for(exc)
    context.set_trailing_metadata((*metadata, *extra))
    await context.abort(code, message)
