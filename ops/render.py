"""Readable output for people (rich tables) and JSON for scripts."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table


def print_json(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


def _enum_name(enum_type: Any, value: int, prefix: str) -> str:
    return enum_type.Name(value).removeprefix(prefix)


def status_dict(response: Any) -> dict[str, Any]:
    from algotrendy.v1 import common_pb2, engine_pb2

    return {
        "version": response.version,
        "instance": response.instance,
        "pid": response.pid,
        "engine_state": _enum_name(engine_pb2.EngineState, response.engine_state, "ENGINE_STATE_"),
        "trading_state": _enum_name(common_pb2.TradingState, response.trading_state, "TRADING_STATE_"),
        "started_at_ns": response.started_at_ns,
        "uptime_ns": response.uptime_ns,
        "server_time_ns": response.server_time_ns,
        "components": [
            {
                "name": c.name,
                "state": _enum_name(common_pb2.ComponentState, c.state, "COMPONENT_STATE_"),
                "detail": c.detail,
                "since_ns": c.since_ns,
            }
            for c in response.components
        ],
        "loop_lag": {
            "p50_ns": response.loop_lag.p50_ns,
            "p99_ns": response.loop_lag.p99_ns,
            "max_ns": response.loop_lag.max_ns,
            "samples": response.loop_lag.samples,
            "window_ns": response.loop_lag.window_ns,
        },
    }


def _duration(ns: int) -> str:
    seconds = ns // 1_000_000_000
    days, rem = divmod(seconds, 86_400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts)


def _latency(ns: int) -> str:
    if ns >= 1_000_000:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.1f} µs"


_STATE_STYLE = {
    "RUNNING": "green",
    "DEGRADED": "yellow",
    "FAILED": "red",
    "STOPPED": "dim",
    "STOPPING": "yellow",
}
_TRADING_STYLE = {"ACTIVE": "green", "REDUCING": "yellow", "HALTED": "bold red"}


def print_status(response: Any, target: str) -> None:
    data = status_dict(response)
    console = Console()
    trading = data["trading_state"]
    console.print(
        f"[bold]AlgoTrendy {data['version']}[/] · {data['instance']} · pid {data['pid']} · {target}\n"
        f"engine [bold]{data['engine_state']}[/] · trading [{_TRADING_STYLE.get(trading, '')}]{trading}[/] · "
        f"up {_duration(data['uptime_ns'])}"
    )
    lag = data["loop_lag"]
    console.print(
        f"event-loop lag p50 {_latency(lag['p50_ns'])} · p99 {_latency(lag['p99_ns'])} · "
        f"max {_latency(lag['max_ns'])} ({lag['samples']} samples over {_duration(lag['window_ns'])})"
    )
    table = Table("component", "state", "detail", box=None, pad_edge=False)
    for c in data["components"]:
        style = _STATE_STYLE.get(c["state"], "")
        table.add_row(c["name"], f"[{style}]{c['state']}[/]" if style else c["state"], c["detail"])
    console.print(table)
