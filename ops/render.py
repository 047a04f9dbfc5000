"""Readable output for people (rich tables) and JSON for scripts."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from rich.table import Table


def print_json(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


def status_dict(status: Any) -> dict[str, Any]:
    """``algotrendy_sdk.types.EngineStatus`` -> the JSON of ``algotrendy status --json``."""
    return {
        "version": status.version,
        "instance": status.instance,
        "pid": status.pid,
        "engine_state": status.engine_state,
        "trading_state": str(getattr(status.trading_state, "value", status.trading_state)),
        "started_at_ns": status.started_at_ns,
        "uptime_ns": status.uptime_ns,
        "server_time_ns": status.server_time_ns,
        "components": [
            {"name": c.name, "state": c.state, "detail": c.detail, "since_ns": c.since_ns}
            for c in status.components
        ],
        "loop_lag": {
            "p50_ns": status.loop_lag.p50_ns,
            "p99_ns": status.loop_lag.p99_ns,
            "max_ns": status.loop_lag.max_ns,
            "samples": status.loop_lag.samples,
            "window_ns": status.loop_lag.window_ns,
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
    from ops.connect import console as stdout_console

    data = status_dict(response)
    console = stdout_console()
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
