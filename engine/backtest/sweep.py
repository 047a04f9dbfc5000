"""Parameter sweeps: grid or random search over a strategy's declared ranges, on all cores.

The search space comes from the strategy's parameter declarations (``IntParam(10, low=2, high=500,
step=...)``: ``Param.grid()`` / ``Param.sample()``), narrowed or replaced per parameter with
``vary`` text: ``fast=5:20:5`` (ints or floats from 5 to 20 by 5), ``slow=20|30|50`` (a list) or
``fast=10`` (one value). Parameters given in ``fixed`` are never varied. Combinations the strategy
rejects (``validate_params``, e.g. ``fast >= slow``) are skipped, not errors. A grid larger than
``MAX_RUNS`` is refused with a hint (narrow it with ``vary`` or draw ``random_draws`` instead).

The bar files are read once in the parent; every worker process receives the arrays once (pool
initializer) and runs whole backtests, so a run costs the same as a single ``algotrendy backtest``
minus the file parsing. Results come back as metric dicts and are sorted by the chosen metric, best
first (lower is better for drawdowns and their durations, higher for everything else; undefined
values last). Deterministic: the same space gives the same table (ties keep the space's order).
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from engine.backtest.data import BarStream, load_bar_stream
from engine.backtest.engine import METRIC_KEYS, Backtest, BacktestConfig
from engine.core.errors import ValidationError
from engine.strategy.api import Strategy
from engine.strategy.loader import load_strategy
from engine.strategy.params import declared_params

__all__ = ["MAX_RUNS", "SweepReport", "run_sweep", "sweep_space"]

MAX_RUNS = 20_000
#: Metrics where smaller is better.
LOWER_IS_BETTER = frozenset(
    {"max_drawdown", "max_drawdown_duration", "max_drawdown_duration_bars", "volatility"}
)


def _parse_values(name: str, text: str, kind: type) -> list[Any]:
    text = text.strip()
    try:
        if "|" in text:
            return [kind(v.strip()) for v in text.split("|") if v.strip()]
        if ":" in text:
            parts = [p.strip() for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            low, high = kind(parts[0]), kind(parts[1])
            if kind is int:
                step = int(parts[2]) if len(parts) == 3 else 1
                if step <= 0:
                    raise ValueError
                return list(range(low, high + 1, step))
            n = int(parts[2]) if len(parts) == 3 else 5
            return [low + (high - low) * i / max(n - 1, 1) for i in range(n)]
        return [kind(text)]
    except ValueError:
        raise ValidationError(
            name, f"cannot read the range {text!r}: use low:high[:step], a|b|c or one value"
        ) from None


def sweep_space(
    strategy: str | type[Strategy],
    *,
    fixed: Mapping[str, Any] | None = None,
    vary: str | Mapping[str, Sequence[Any]] = "",
    random_draws: int = 0,
    seed: int = 7,
) -> list[dict[str, Any]]:
    """The parameter sets to run (validated; invalid combinations skipped)."""
    cls = load_strategy(strategy)
    declared = declared_params(cls)
    fixed = dict(fixed or {})
    cls.resolve(fixed)  # unknown or out-of-range fixed values: an error listing the valid names
    ranges: dict[str, list[Any]] = {}
    if isinstance(vary, str):
        for item in filter(None, (p.strip() for p in vary.split(","))):
            name, sep, text = item.partition("=")
            name = name.strip()
            if not sep:
                raise ValidationError("vary", f"expected name=range, got {item!r}")
            if name not in declared:
                raise ValidationError(
                    name,
                    f"{cls.name or cls.__name__} has no parameter {name!r}; valid parameters: "
                    f"{', '.join(declared) or 'none'}",
                    reason="UNKNOWN_PARAMETER",
                )
            ranges[name] = [
                declared[name].coerce(name, v) for v in _parse_values(name, text, declared[name].kind)
            ]
    else:
        for name, values in vary.items():
            if name not in declared:
                raise ValidationError(name, f"unknown parameter; valid parameters: {', '.join(declared)}")
            ranges[name] = [declared[name].coerce(name, v) for v in values]
    varied = {n: ranges.get(n) for n in declared if n not in fixed and (not ranges or n in ranges)}
    if random_draws:
        rng = random.Random(seed)
        sets = []
        for _ in range(random_draws):
            draw = {n: (rng.choice(v) if v else declared[n].sample(rng)) for n, v in varied.items()}
            sets.append({**fixed, **draw})
    else:
        axes = {n: (v if v is not None else declared[n].grid()) for n, v in varied.items()}
        total = 1
        for values in axes.values():
            total *= max(len(values), 1)
        if total > MAX_RUNS:
            sizes = ", ".join(f"{n}: {len(v)}" for n, v in axes.items())
            raise ValidationError(
                "vary",
                f"the grid has {total} combinations ({sizes}), more than {MAX_RUNS}: narrow it with "
                "--vary name=low:high:step or use --random N",
            )
        names = list(axes)
        sets = [
            {**fixed, **dict(zip(names, combo, strict=True))} for combo in itertools.product(*axes.values())
        ]
    out, seen = [], set()
    for params in sets:
        try:
            values = cls.resolve(params)
        except ValidationError:
            continue
        key = tuple(sorted(values.items()))
        if key not in seen:
            seen.add(key)
            out.append(values)
    if not out:
        raise ValidationError("vary", "no valid parameter combination in the search space")
    return out


@dataclass(slots=True)
class SweepReport:
    strategy: str
    param_names: list[str]
    sort_by: str
    rows: list[dict[str, Any]]  # {"params": {...}, "metrics": {...}}, best first
    bars: int
    workers: int
    elapsed_s: float

    @property
    def throughput(self) -> float:
        """Parameter sets x bars per second."""
        return len(self.rows) * self.bars / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "sort_by": self.sort_by,
            "runs": len(self.rows),
            "bars": self.bars,
            "workers": self.workers,
            "rows": self.rows,
        }


# -- worker side ------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(strategy: str | type[Strategy], stream: BarStream, config: BacktestConfig) -> None:
    _WORKER.update(strategy=strategy, stream=stream, config=config)


def _run_one(index: int, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    run = Backtest(_WORKER["strategy"], _WORKER["stream"], _WORKER["config"], params=params)
    return index, run.run().summary()


def _sort_key(metric: str) -> Callable[[tuple[int, dict[str, Any]]], tuple[int, float, int]]:
    lower = metric in LOWER_IS_BETTER

    def key(item: tuple[int, dict[str, Any]]) -> tuple[int, float, int]:
        index, row = item
        value = row["metrics"].get(metric)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return (1, 0.0, index)
        return (0, float(value) if lower else -float(value), index)

    return key


def run_sweep(
    strategy: str | type[Strategy],
    data: Sequence[str] | BarStream,
    config: BacktestConfig,
    space: list[dict[str, Any]],
    *,
    sort_by: str = "sharpe",
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SweepReport:
    """Run every parameter set of ``space`` (``workers`` processes, 0 = all cores); sorted report."""
    cls = load_strategy(strategy)
    if isinstance(data, BarStream):
        stream = data
    else:
        stream = load_bar_stream(
            list(data),
            tick_size=config.tick_size,
            size_increment=config.size_increment,
            quote=config.currency,
            maker_fee=config.maker_fee,
            taker_fee=config.taker_fee,
        )
    if sort_by not in METRIC_KEYS:
        raise ValidationError("sort_by", f"unknown metric {sort_by!r}; metrics: {', '.join(METRIC_KEYS)}")
    n_workers = min(workers or os.cpu_count() or 1, len(space))
    started = time.perf_counter()
    results: list[tuple[int, dict[str, Any]]] = []
    if n_workers <= 1:
        _init_worker(strategy, stream, config)
        for i, params in enumerate(space):
            results.append(_run_one(i, params))
            if progress is not None:
                progress(len(results), len(space))
    else:
        with ProcessPoolExecutor(
            max_workers=n_workers, initializer=_init_worker, initargs=(strategy, stream, config)
        ) as pool:
            futures = [pool.submit(_run_one, i, params) for i, params in enumerate(space)]
            for future in as_completed(futures):
                results.append(future.result())
                if progress is not None:
                    progress(len(results), len(space))
    elapsed = time.perf_counter() - started
    rows = [(i, {"params": space[i], "metrics": m}) for i, m in results]
    rows.sort(key=_sort_key(sort_by))
    return SweepReport(
        strategy=cls.name or cls.__name__,
        param_names=list(space[0]) if space else [],
        sort_by=sort_by,
        rows=[r for _, r in rows],
        bars=len(stream),
        workers=n_workers,
        elapsed_s=elapsed,
    )
