"""Logs (structlog), metrics (Prometheus) and the event-loop lag monitor."""

from engine.telemetry.logging import configure_logging
from engine.telemetry.looplag import LoopLagMonitor, LoopLagSnapshot
from engine.telemetry.metrics import CallbackCollector, EngineMetrics

__all__ = ["CallbackCollector", "EngineMetrics", "LoopLagMonitor", "LoopLagSnapshot", "configure_logging"]
