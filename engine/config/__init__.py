"""Typed configuration, validated once at start (see ``loader`` for precedence and env names)."""

from engine.config.loader import ENV_PREFIX, load_config, redacted
from engine.config.model import (
    AuthConfig,
    EngineConfig,
    EngineSectionConfig,
    GrpcConfig,
    InstrumentRiskConfig,
    LogConfig,
    MetricsConfig,
    RateLimitConfig,
    RiskConfig,
    SimConfig,
    StoreConfig,
    TlsConfig,
)

__all__ = [
    "ENV_PREFIX",
    "AuthConfig",
    "EngineConfig",
    "EngineSectionConfig",
    "GrpcConfig",
    "InstrumentRiskConfig",
    "LogConfig",
    "MetricsConfig",
    "RateLimitConfig",
    "RiskConfig",
    "SimConfig",
    "StoreConfig",
    "TlsConfig",
    "load_config",
    "redacted",
]
