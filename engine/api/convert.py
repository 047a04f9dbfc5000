"""Domain <-> protobuf conversion. Enums share integer values with the proto, so they map directly."""

from __future__ import annotations

from algotrendy.v1 import engine_pb2
from engine.core.component import ComponentStatus, EngineStatus


def component_status_to_proto(status: ComponentStatus) -> engine_pb2.ComponentStatus:
    return engine_pb2.ComponentStatus(
        name=status.name, state=int(status.state), detail=status.detail, since_ns=status.since_ns
    )


def engine_status_to_proto(status: EngineStatus) -> engine_pb2.GetStatusResponse:
    return engine_pb2.GetStatusResponse(
        version=status.version,
        instance=status.instance,
        engine_state=int(status.engine_state),
        trading_state=int(status.trading_state),
        started_at_ns=status.started_at_ns,
        uptime_ns=status.uptime_ns,
        server_time_ns=status.server_time_ns,
        components=[component_status_to_proto(c) for c in status.components],
        loop_lag=engine_pb2.LoopLag(
            p50_ns=status.loop_lag_p50_ns,
            p99_ns=status.loop_lag_p99_ns,
            max_ns=status.loop_lag_max_ns,
            samples=status.loop_lag_samples,
            window_ns=status.loop_lag_window_ns,
        ),
        pid=status.pid,
    )
