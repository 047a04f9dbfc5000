"""What an engine start imports: the simulated venue pays for neither ccxt nor Numba.

ccxt (with ccxt.pro, ~2 s) is only for crypto venues and feeds, Numba (~1 s) only for the batch
indicator kernels; the composition root imports them where they are configured or first called.
Each check runs in a fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Loaded only by a crypto venue, a feed or a batch indicator call.
HEAVY = ["ccxt", "ccxt.pro", "numba", "engine.venues.ccxt", "engine.marketdata.feeds.base"]


def _loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; the ``HEAVY`` modules it loaded."""
    script = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_engine_app_when_imported_then_no_ccxt_numba_or_feed_handler_is_loaded() -> None:
    assert _loaded_after("import engine.app, engine.marketdata.feeds.sink, engine.strategy") == []


def test_feeds_package_when_a_handler_is_named_then_it_and_ccxt_load() -> None:
    loaded = _loaded_after(
        "from engine.marketdata.feeds import BusFeedSink, CircuitBreaker\n"
        "assert 'ccxt' not in sys.modules\n"
        "from engine.marketdata.feeds import FeedHandler, FeedSink\n"
        "import engine.marketdata.feeds.base as base\n"
        "assert FeedHandler is base.FeedHandler and FeedSink is base.FeedSink"
    )
    assert {"ccxt", "engine.marketdata.feeds.base"} <= set(loaded)


def test_crypto_venue_imports_when_external_venue_loaded_then_ccxt_venue_is_there() -> None:
    loaded = _loaded_after(
        "from engine.app.external_venue import ExternalVenue, check_venue_mode\n"
        "from engine.app.venue_mode import check_venue_mode as mode_check\n"
        "assert check_venue_mode is mode_check"
    )
    assert {"ccxt", "ccxt.pro", "engine.venues.ccxt"} <= set(loaded)


def test_batch_indicator_when_first_called_then_numba_loads_and_results_are_exact() -> None:
    loaded = _loaded_after(
        "import numpy as np\n"
        "from engine import indicators\n"
        "assert 'numba' not in sys.modules\n"
        "out = indicators.sma(np.arange(1.0, 6.0), 3)\n"
        "assert np.isnan(out[:2]).all() and out[2:].tolist() == [2.0, 3.0, 4.0]"
    )
    assert "numba" in loaded
