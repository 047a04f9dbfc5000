"""Venue price levels -> int64 ticks and lots (Cython, ``ext/book/levels.pyx``)."""

import numpy as np
import numpy.typing as npt

def parse_levels(
    bids: list[list[str]],
    asks: list[list[str]],
    price_precision: int,
    price_step: int,
    size_precision: int,
    size_step: int,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(sides, ticks, lots)`` for bids then asks, ready for ``L2Book.apply_deltas``.

    Each ``[price, size]`` pair of decimal strings is parsed exactly (no float/Decimal): ticks =
    price * 10**price_precision / price_step, lots = size * 10**size_precision / size_step, both of
    which must be integers (sizes also >= 0). Sides are 1 for bids, 2 for asks. ``ValueError`` names
    the offending level otherwise.
    """
