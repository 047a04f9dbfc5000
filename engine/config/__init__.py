"""Typed configuration, validated once at start (see ``loader`` for precedence and env names)."""

from engine.config.loader import ENV_PREFIX, load_config, redacted
from engine.config.model import (
    EngineConfig,
    EngineSectionConfig,
    GrpcConfig,
    InstrumentRiskConfig,
    LogConfig,
    MetricsConfig,
    RiskConfig,
    SimConfig,
    StoreConfig,
)

__all__ = [
    "ENV_PREFIX",
    "EngineConfig",
    "EngineSectionConfig",
    "GrpcConfig",
    "InstrumentRiskConfig",
    "LogConfig",
    "MetricsConfig",
    "RiskConfig",
    "SimConfig",
    "StoreConfig",
    "load_config",
    "redacted",
]
