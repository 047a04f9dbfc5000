"""Structured logs with structlog: JSON lines for machines, readable console output on a TTY.

Logs go to stderr so that a command's stdout stays clean for its output.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import orjson
import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _orjson_dumps(obj: object, default: object = None) -> bytes:
    return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS)


def configure_logging(
    level: Literal["debug", "info", "warning", "error"] = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    *,
    stream=None,
) -> str:
    """Configure structlog (and route stdlib logging through the same output). Returns the format used."""
    stream = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if fmt == "json":
        processors = [
            *shared,
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ]
        factory = structlog.BytesLoggerFactory(file=getattr(stream, "buffer", stream))
    else:
        processors = [*shared, structlog.dev.ConsoleRenderer(colors=stream.isatty())]
        factory = structlog.PrintLoggerFactory(file=stream)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    # Libraries that use stdlib logging (grpc, asyncio) end up in the same stream and format.
    root = logging.getLogger()
    root.handlers[:] = [_StructlogBridge()]
    root.setLevel(_LEVELS[level])
    return fmt


class _StructlogBridge(logging.Handler):
    """Forward stdlib log records to structlog so all output shares one format."""

    def emit(self, record: logging.LogRecord) -> None:
        log = structlog.get_logger(record.name)
        method = getattr(log, record.levelname.lower(), log.info)
        kwargs = {"exc_info": record.exc_info} if record.exc_info else {}
        method(record.getMessage(), **kwargs)
