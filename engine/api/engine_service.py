"""EngineService: engine-wide introspection. Servicers read snapshots; they hold no business logic."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from algotrendy.v1 import engine_pb2, engine_pb2_grpc
from engine.api.convert import engine_status_to_proto
from engine.api.errors import grpc_errors
from engine.core.component import EngineStatus


class EngineServicer(engine_pb2_grpc.EngineServiceServicer):
    def __init__(self, status: Callable[[], EngineStatus]) -> None:
        self._status = status

    @grpc_errors()
    async def GetStatus(
        self, request: engine_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> engine_pb2.GetStatusResponse:
        return engine_status_to_proto(self._status())
