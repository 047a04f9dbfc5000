"""``BacktestService``: runs a backtest in a worker process and streams its progress and result.

A backtest is CPU-bound for seconds to minutes and may run a user's strategy file, so it never runs
on the engine's loop: each call starts ``python -m engine.backtest.worker`` (the backtester behind
``algotrendy backtest``) as a subprocess, writes the request to its stdin and turns the JSON lines
it prints into ``RunBacktestResponse`` messages. The loop only awaits pipe reads. Canceling the call
(or the client going away) kills the worker. ``max_concurrent`` calls run at once; more wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import structlog

from algotrendy.v1 import backtest_pb2, common_pb2
from engine.api.errors import status_for
from engine.core.errors import AlgoTrendyError, ValidationError

__all__ = ["BACKTEST_SERVICE", "BacktestServicer"]

BACKTEST_SERVICE = backtest_pb2.DESCRIPTOR.services_by_name["BacktestService"].full_name
WORKER_MODULE = "engine.backtest.worker"
_FILL = {backtest_pb2.FILL_MODEL_NEXT_OPEN: "next_open", backtest_pb2.FILL_MODEL_CLOSE: "close"}
_RATIOS = (
    "total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "win_rate",
    "profit_factor", "expectancy", "exposure", "turnover",
)  # fmt: skip
_log = structlog.get_logger("engine.api.backtest")


def _decimal(field: str, value: common_pb2.Decimal, present: bool) -> str | None:
    if not present:
        return None
    text = value.value.strip()
    if not text:
        raise ValidationError(field, "empty decimal")
    return text


def request_to_json(request: backtest_pb2.RunBacktestRequest) -> dict[str, Any]:
    """The worker's request (validation of shape here; the backtester validates the rest)."""
    if not request.strategy.strip():
        raise ValidationError("strategy", "required: a built-in name, package.module:Class or a .py file")
    if not request.data_files:
        raise ValidationError("data_files", "give at least one bar file")
    fill = _FILL.get(request.fill)
    if fill is None:
        raise ValidationError("fill", "must be FILL_MODEL_NEXT_OPEN or FILL_MODEL_CLOSE")
    if request.order_latency_us < 0:
        raise ValidationError("order_latency_us", "must be >= 0")
    return {
        "strategy": request.strategy.strip(),
        "params": dict(request.params),
        "data_files": list(request.data_files),
        "cash": _decimal("cash", request.cash, request.HasField("cash")),
        "currency": request.currency or "USD",
        "fill": fill,
        "fees_bps": _decimal("fees_bps", request.fees_bps, request.HasField("fees_bps")),
        "maker_fees_bps": _decimal(
            "maker_fees_bps", request.maker_fees_bps, request.HasField("maker_fees_bps")
        ),
        "slippage_bps": _decimal("slippage_bps", request.slippage_bps, request.HasField("slippage_bps")),
        "order_latency_ns": request.order_latency_us * 1_000,
        "include_details": request.include_details,
    }


def result_message(result: dict[str, Any]) -> backtest_pb2.BacktestResult:
    m = result["metrics"]
    msg = backtest_pb2.BacktestResult(
        strategy=result["strategy"],
        params=result["params"],
        instrument_ids=result["instruments"],
        bars=m["bars"],
        trades=m["trades"],
        orders=m["orders"],
        fills=m["fills"],
        starting_cash=common_pb2.Decimal(value=m["starting_cash"]),
        final_equity=common_pb2.Decimal(value=m["final_equity"]),
        net_pnl=common_pb2.Decimal(value=m["net_pnl"]),
        fees=common_pb2.Decimal(value=m["fees"]),
        currency=m["currency"],
        metrics_json=json.dumps(m, sort_keys=True),
        details_json=json.dumps(result["details"], sort_keys=True) if result.get("details") else "",
    )
    for name in _RATIOS:
        if m.get(name) is not None:
            setattr(msg, name, float(m[name]))
    if m.get("max_drawdown_duration") is not None:
        msg.max_drawdown_duration_s = float(m["max_drawdown_duration"])
    return msg


class BacktestServicer:
    """Async servicer; see the module docstring."""

    def __init__(self, *, max_concurrent: int = 2, python: str = sys.executable) -> None:
        self._slots = asyncio.Semaphore(max_concurrent)
        self._python = python

    async def RunBacktest(
        self, request: backtest_pb2.RunBacktestRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[backtest_pb2.RunBacktestResponse]:
        try:
            payload = request_to_json(request)
        except AlgoTrendyError as exc:
            await self._abort(context, exc)
            return
        sequence = 0
        async with self._slots:
            proc = await asyncio.create_subprocess_exec(
                self._python,
                "-m",
                WORKER_MODULE,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                limit=1 << 28,  # the details line of a long run is large
            )
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(json.dumps(payload).encode())
                await proc.stdin.drain()
                proc.stdin.close()
                final: dict[str, Any] | None = None
                while True:
                    line = await proc.stdout.readline()
                    if not line:
                        break
                    message = json.loads(line)
                    if "progress" in message:
                        done, total = message["progress"]
                        sequence += 1
                        yield backtest_pb2.RunBacktestResponse(
                            sequence=sequence,
                            progress=backtest_pb2.BacktestProgress(bars_done=done, bars_total=total),
                        )
                    else:
                        final = message
                await proc.wait()
            finally:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
        if final is None or "error" in final:
            error = (final or {}).get("error") or {
                "kind": "internal",
                "reason": "BACKTEST_FAILED",
                "message": f"the backtest worker exited with status {proc.returncode}",
            }
            if error["kind"] == "validation":
                exc: AlgoTrendyError = ValidationError(error["field"], "", reason=error["reason"])
                exc.message = error["message"]
            else:
                _log.error("backtest.worker_failed", detail=error.get("message"))
                exc = AlgoTrendyError(error.get("message", ""), reason=error.get("reason", "BACKTEST_FAILED"))
            await self._abort(context, exc)
            return
        sequence += 1
        yield backtest_pb2.RunBacktestResponse(sequence=sequence, result=result_message(final["result"]))

    @staticmethod
    async def _abort(context: grpc.aio.ServicerContext, exc: AlgoTrendyError) -> None:
        code, message, metadata = status_for(exc)
        if code is grpc.StatusCode.INTERNAL:
            message = f"backtest failed ({exc.reason})"
        context.set_trailing_metadata(metadata)
        await context.abort(code, message)
