"""One backtest in its own process, speaking JSON lines: ``python -m engine.backtest.worker``.

The engine's ``BacktestService`` starts this module so that a backtest (CPU-bound, possibly a user's
strategy file) never runs on the trading loop, and so that canceling the call can end it. Protocol:

* stdin: one JSON object: ``strategy``, ``params`` (object of strings), ``data_files`` (list),
  ``cash``, ``currency``, ``fill`` (``next_open`` | ``close``), ``fees_bps``, ``maker_fees_bps``,
  ``slippage_bps`` (decimal strings or null), ``order_latency_ns``, ``include_details``;
* stdout: JSON lines: ``{"progress": [done, total]}`` while it runs, then exactly one of
  ``{"result": {"metrics": {...}, "strategy": ..., "params": {...}, "instruments": [...],
  "details": {...} | null}}`` or ``{"error": {"kind": "validation" | "internal", "field": ...,
  "reason": ..., "message": ...}}``. Exit status 0, 2 (bad input) or 1.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.core.errors import ValidationError

__all__ = ["main", "run_request"]


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _decimal(name: str, value: Any, default: str | None) -> Decimal | None:
    if value is None or value == "":
        return None if default is None else Decimal(default)
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(name, f"not a decimal number: {value!r}") from None
    if not d.is_finite():
        raise ValidationError(name, f"must be finite, got {value!r}")
    return d


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    """Validate and run one request; progress lines go to stdout as it runs."""
    from engine.backtest.engine import BacktestConfig
    from engine.backtest.sources import make_backtest

    strategy = request.get("strategy") or ""
    if not strategy:
        raise ValidationError("strategy", "required: a built-in name, package.module:Class or a .py file")
    files = [str(f) for f in request.get("data_files") or []]
    if not files:
        raise ValidationError("data_files", "give at least one bar file")
    latency_ns = int(request.get("order_latency_ns") or 0)
    if latency_ns < 0:
        raise ValidationError("order_latency_us", "must be >= 0")
    config = BacktestConfig(
        cash=_decimal("cash", request.get("cash"), "100000"),  # type: ignore[arg-type]
        currency=(request.get("currency") or "USD").upper(),
        fill=request.get("fill") or "",  # type: ignore[arg-type]
        fees_bps=_decimal("fees_bps", request.get("fees_bps"), "0"),  # type: ignore[arg-type]
        maker_fees_bps=_decimal("maker_fees_bps", request.get("maker_fees_bps"), None),
        slippage_bps=_decimal("slippage_bps", request.get("slippage_bps"), "0"),  # type: ignore[arg-type]
        order_latency_ns=latency_ns,
    )
    run = make_backtest(strategy, files, config, params=dict(request.get("params") or {}))
    last = [-1]

    def progress(done: int, total: int) -> None:
        if done != last[0]:
            last[0] = done
            _emit({"progress": [done, total]})

    progress(0, len(run.stream) if hasattr(run, "stream") else len(files))
    result = run.run(progress)
    return {
        "metrics": result.summary(),
        "strategy": result.strategy,
        "params": {k: str(v) for k, v in result.params.items()},
        "instruments": result.instruments,
        "details": result.to_json() if request.get("include_details") else None,
    }


def main() -> int:
    try:
        request = json.loads(sys.stdin.read() or "{}")
        if not isinstance(request, dict):
            raise ValidationError("request", "expected a JSON object")
        _emit({"result": run_request(request)})
        return 0
    except ValidationError as exc:
        _emit(
            {
                "error": {
                    "kind": "validation",
                    "field": exc.field,
                    "reason": exc.reason,
                    "message": exc.message,
                }
            }
        )
        return 2
    except json.JSONDecodeError as exc:
        _emit(
            {
                "error": {
                    "kind": "validation",
                    "field": "request",
                    "reason": "INVALID_REQUEST",
                    "message": str(exc),
                }
            }
        )
        return 2
    except Exception as exc:
        _emit({"error": {"kind": "internal", "field": "", "reason": "BACKTEST_FAILED", "message": repr(exc)}})
        return 1


if __name__ == "__main__":
    sys.exit(main())
