"""``algotrendy strategies``: what strategies exist and what they take (offline, no engine needed).

::

    algotrendy strategies                 # every built-in: its rule and parameters with ranges
    algotrendy strategies NAME|FILE.py    # one strategy (built-in, pkg.module:Class or a file)
    algotrendy strategies ... --json      # the same as one JSON object

Exit status: 0; 2 for an unknown strategy (the message lists the built-ins) or a file that does not
load as a strategy.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

EXIT_USAGE = 2


def strategies(
    spec: Annotated[
        str | None, typer.Argument(help="Built-in name, pkg.module:Class or FILE.py[:Class].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List the built-in strategies, or describe one strategy, with their parameters and ranges."""
    from engine.core.errors import ValidationError
    from engine.strategy import builtin_names, load_strategy

    try:
        names = [spec] if spec else list(builtin_names())
        described = {name: load_strategy(name).describe() for name in names}
    except ValidationError as exc:
        print(f"algotrendy: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        print(json.dumps(described if spec is None else described[spec], indent=2))
        return
    _table(described)


def _range(p: dict[str, Any]) -> str:
    if "choices" in p:
        return " | ".join(map(str, p["choices"]))
    if "low" in p or "high" in p:
        return f"{p.get('low', '')} .. {p.get('high', '')}"
    return ""


def _table(described: dict[str, dict[str, Any]]) -> None:
    from rich.table import Table

    from ops.connect import show

    table = Table(show_lines=True)
    table.add_column("strategy", style="bold")
    table.add_column("rule")
    table.add_column("parameters (default, range)")
    for info in described.values():
        params = "\n".join(
            f"{name} = {p['default']!r}  [{_range(p)}]  {p.get('doc', '')}".rstrip()
            for name, p in info["params"].items()
        )
        # (the docstrings' reStructuredText literals read as plain words in a terminal)
        table.add_row(info["name"], info["doc"].replace("``", ""), params.replace("``", "") or "-")
    show(table)


def register(app: typer.Typer) -> None:
    """Add ``strategies`` to the ``algotrendy`` app (the one line in ops/cli.py)."""
    app.command("strategies")(strategies)
