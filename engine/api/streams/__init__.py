"""Server-streaming machinery: fan-out hubs with bounded per-subscriber queues, conflation, batching.

* ``Streams``: every subscriber of the engine (admission limit, heartbeats, end on drain);
* ``MarketDataHub``: trades, BBO, books, bars, indicators; conflating, never blocking the engine;
* ``SequencedHub``: order events and position updates; durable before sent, exact resume from the
  journal, slow consumers closed with RESOURCE_EXHAUSTED (never a silent drop);
* ``add_service``: registers a servicer so its streams can send pre-encoded messages (``encode``).

The servicers stay thin: validate the request, ``subscribe``, ``async for`` over ``stream``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor

from engine.api.streams.encode import prebuilt
from engine.api.streams.marketdata import MarketDataHub, MarketDataSubscriber
from engine.api.streams.sequenced import (
    OrderEventSource,
    PositionSource,
    SequencedHub,
    SequencedSubscriber,
)
from engine.api.streams.subscriber import Streams, Subscriber, run_stream

__all__ = [
    "MarketDataHub",
    "MarketDataSubscriber",
    "OrderEventSource",
    "PositionSource",
    "SequencedHub",
    "SequencedSubscriber",
    "Streams",
    "Subscriber",
    "add_service",
    "run_stream",
]

_HANDLERS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def add_service(service: ServiceDescriptor) -> Callable[[Any, grpc.aio.Server], None]:
    """An ``add_<Service>Servicer_to_server`` equivalent for ``service`` whose server-streaming
    methods may yield already serialized responses (bytes) as well as messages. Everything else is
    what the generated function registers (same names, same (de)serializers)."""

    def add(servicer: Any, server: grpc.aio.Server) -> None:
        handlers = {}
        for method in service.methods:
            request = message_factory.GetMessageClass(method.input_type)
            response = message_factory.GetMessageClass(method.output_type)
            serialize = response.SerializeToString
            if method.server_streaming:
                serialize = prebuilt(serialize)
            handlers[method.name] = _HANDLERS[(method.client_streaming, method.server_streaming)](
                getattr(servicer, method.name),
                request_deserializer=request.FromString,
                response_serializer=serialize,
            )
        # Generic handlers only (see engine.api.server._GenericHandlersOnly: registered methods make
        # grpc.aio wait on one pending task per method for every call it accepts).
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))

    return add
