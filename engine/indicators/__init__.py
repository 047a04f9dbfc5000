"""Technical indicators: TA-Lib-compatible batch functions, O(1) streaming objects, a registry.

* Batch: ``sma``, ``ema``, ``wma``, ``dema``, ``tema``, ``rsi``, ``macd``, ``bbands``, ``atr``, ``natr``,
  ``adx``, ``plus_di``, ``minus_di``, ``stoch``, ``stochrsi``, ``mfi``, ``obv``, ``cci``, ``willr``, ``roc``,
  ``mom``, ``trix`` take TA-Lib's arguments (order, keywords, defaults) and give TA-Lib's results
  (same NaN warm-up and seeding, within 1e-9 of the output's magnitude; most are bit-identical).
  Plus ``vwap`` (UTC-day sessions from int64 ns timestamps), ``vwap_rolling``, ``keltner``,
  ``donchian`` and ``supertrend``.
* Streaming: ``registry.create(name, **params)`` gives an object whose ``update(...)`` takes one bar
  and equals the batch output at that bar; ``snapshot()`` / ``registry.restore(...)`` persist it.
* ``warm_up()`` compiles every batch kernel ahead of its first use (Numba caches them on disk), for
  a batch job that wants no compile pause on its first call. The engine does not need it: its
  streaming indicators are compiled Cython, and Numba is not even imported until a batch call.
"""

from __future__ import annotations

import time

import numpy as np

from engine.indicators import registry
from engine.indicators._batch import (
    adx,
    atr,
    bbands,
    cci,
    dema,
    donchian,
    ema,
    keltner,
    macd,
    mfi,
    minus_di,
    mom,
    natr,
    obv,
    plus_di,
    roc,
    rsi,
    sma,
    stoch,
    stochrsi,
    supertrend,
    tema,
    trix,
    vwap,
    vwap_rolling,
    willr,
    wma,
)

__all__ = [
    "adx",
    "atr",
    "bbands",
    "cci",
    "dema",
    "donchian",
    "ema",
    "keltner",
    "macd",
    "mfi",
    "minus_di",
    "mom",
    "natr",
    "obv",
    "plus_di",
    "registry",
    "roc",
    "rsi",
    "sma",
    "stoch",
    "stochrsi",
    "supertrend",
    "tema",
    "trix",
    "vwap",
    "vwap_rolling",
    "warm_up",
    "willr",
    "wma",
]


def warm_up() -> dict[str, float]:
    """Compile (or load from Numba's cache) every batch kernel with the signatures the engine uses.

    Runs each indicator once on a small synthetic series, through the same validating wrappers the
    live path uses (C-contiguous float64 arrays, int64 periods, float64 multipliers, every MA type),
    so nothing is JIT-compiled on the loop afterwards. Returns seconds spent per indicator.
    """
    n = 256
    rng = np.random.default_rng(0)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    high = close * 1.01
    low = close * 0.99
    volume = rng.uniform(1.0, 10.0, n)
    ts_ns = np.arange(n, dtype=np.int64) * 3_600_000_000_000
    inputs = {"real": close, "high": high, "low": low, "close": close, "volume": volume, "ts_ns": ts_ns}
    spent: dict[str, float] = {}
    for name in registry.names():
        s = registry.spec(name)
        args = [inputs[i] for i in s.inputs]
        t0 = time.perf_counter()
        s.batch(*args)
        for key in ("matype", "slowk_matype", "fastd_matype"):
            if key in s.params:
                for matype in range(1, 5):
                    s.batch(*args, **{key: matype})
        spent[name] = time.perf_counter() - t0
    return spent
