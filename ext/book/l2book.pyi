"""Price-level (L2) order book on int64 ticks and lots (Cython, ``ext/book/l2book.pyx``).

Units: prices are integer *ticks* (multiples of the instrument's price increment), sizes integer
*lots* (multiples of its size increment); ``engine.marketdata.book.OrderBook`` converts to and from
``Price``/``Quantity``. Every value that is money is an exact ``int``; the analytics (mid, microprice,
imbalance, average fill price) are ``float`` and say so.

Side encoding (``engine.core.enums.Side``): ``1`` = bid side / buy order, ``2`` = ask side / sell order.

Empty side: ``best_bid_ticks()`` returns ``NO_BID_TICKS`` (INT64_MIN) and ``best_ask_ticks()``
``NO_ASK_TICKS`` (INT64_MAX), with 0 lots; so ``best_bid_lots() == 0`` (or ``level_count(side) == 0``)
is the "side is empty" test, and ``bid >= ask`` is never true for an empty side.

Status codes returned by the update methods: ``STATUS_OK`` (0), ``STATUS_CROSSED`` (1, applied and the
book is now crossed), ``STATUS_STALE`` (2), ``STATUS_GAP`` (3), ``STATUS_NOT_SYNCED`` (4) — the last
three only from sequenced ``apply_deltas``, and the batch was *not* applied. Invalid input raises
``ValueError``; the ``STATUS_ERR_*`` codes (< 0) are what the ``cdef`` fast paths return instead.
"""

from typing import Final

import numpy as np
import numpy.typing as npt

BID: Final[int]  # 1
ASK: Final[int]  # 2
STATUS_OK: Final[int]
STATUS_CROSSED: Final[int]
STATUS_STALE: Final[int]
STATUS_GAP: Final[int]
STATUS_NOT_SYNCED: Final[int]
STATUS_ERR_SIDE: Final[int]
STATUS_ERR_LOTS: Final[int]
STATUS_ERR_TICKS: Final[int]
STATUS_ERR_MEMORY: Final[int]
STATUS_ERR_DUPLICATE: Final[int]
NO_BID_TICKS: Final[int]  # INT64_MIN: best_bid_ticks() of an empty bid side
NO_ASK_TICKS: Final[int]  # INT64_MAX: best_ask_ticks() of an empty ask side
MIN_TICKS: Final[int]  # -(2**61 - 1): valid ticks are within [MIN_TICKS, MAX_TICKS]
MAX_TICKS: Final[int]  # 2**61 - 1
DEFAULT_WINDOW_TICKS: Final[int]  # 65536

class L2Book:
    """Dense tick window (re-centred on the mid) + sorted sparse levels outside it; cached best.

    ``window_ticks`` (power of two, 64..2**26) is the width of the dense window shared by both sides.
    Levels outside it live in a sorted store of 64-level blocks: still exact, a few hundred ns to
    insert instead of a few ns. C-level constants and structs: ``ext/book/types.pxd``.
    """

    def __init__(self, window_ticks: int = 65536) -> None: ...

    # -- updates ---------------------------------------------------------------------------------
    def apply_delta(self, side: int, ticks: int, lots: int) -> int:
        """Set one level's size (``lots == 0`` removes it; removing an absent level is a no-op).

        Returns STATUS_OK, or STATUS_CROSSED when the book is crossed after this delta (and
        ``crossed_count`` grows if it was not crossed before). Unsequenced: always applied.
        """
    def apply_deltas(
        self,
        sides: npt.NDArray[np.uint8],
        ticks: npt.NDArray[np.int64],
        lots: npt.NDArray[np.int64],
        first_sequence: int = -1,
        last_sequence: int = -1,
    ) -> int:
        """Apply a batch (C-contiguous uint8 / int64 / int64 arrays) as one atomic update.

        The crossed check runs once, after the whole batch (one venue message may cross transiently
        between its own levels). Everything is validated before anything is applied.

        Sequencing: with ``last_sequence >= 0`` the batch carries update ids
        ``[first_sequence, last_sequence]`` (``first_sequence`` defaults to ``last_sequence``) and is
        applied only when ``first_sequence <= last_sequence_of_book + 1 <= last_sequence`` (overlap
        allowed). ``last_sequence <= book's`` -> STATUS_STALE; ``first_sequence > book's + 1`` ->
        STATUS_GAP (``gap_count`` += 1, ``needs_snapshot`` becomes True); while ``needs_snapshot`` ->
        STATUS_NOT_SYNCED. None of these apply the batch. A book with no sequence yet accepts any.
        """
    def apply_snapshot(
        self,
        bid_ticks: npt.NDArray[np.int64],
        bid_lots: npt.NDArray[np.int64],
        ask_ticks: npt.NDArray[np.int64],
        ask_lots: npt.NDArray[np.int64],
        sequence: int = -1,
    ) -> int:
        """Replace the whole book (levels in any order; zero lots skipped), set ``last_sequence`` and
        clear ``needs_snapshot``. Returns STATUS_OK or STATUS_CROSSED. A duplicate price within one side
        raises ValueError and leaves the book empty with ``needs_snapshot`` set."""
    def clear(self) -> None:
        """Remove every level (sequence and counters are kept)."""
    def invalidate(self) -> None:
        """Set ``needs_snapshot``: sequenced batches are refused until the next snapshot."""

    # -- top of book: O(1) -------------------------------------------------------------------------
    def best_bid_ticks(self) -> int:
        """Best bid in ticks; NO_BID_TICKS (INT64_MIN) when there are no bids."""
    def best_ask_ticks(self) -> int:
        """Best ask in ticks; NO_ASK_TICKS (INT64_MAX) when there are no asks."""
    def best_bid_lots(self) -> int:
        """Lots at the best bid; 0 when there are no bids."""
    def best_ask_lots(self) -> int:
        """Lots at the best ask; 0 when there are no asks."""
    def top(self) -> tuple[int, int, int, int]:
        """(best_bid_ticks, best_bid_lots, best_ask_ticks, best_ask_lots), sentinels when empty."""
    def is_crossed(self) -> bool:
        """True while best bid >= best ask with both sides present."""
    def level_lots(self, side: int, ticks: int) -> int:
        """Lots resting at ``ticks`` on ``side``; 0 if there is no such level."""
    def level_count(self, side: int) -> int:
        """Number of non-empty levels on ``side``."""
    def __len__(self) -> int:
        """Levels on both sides."""

    # -- depth and book walks ----------------------------------------------------------------------
    def depth(
        self,
        side: int,
        out_ticks: npt.NDArray[np.int64],
        out_lots: npt.NDArray[np.int64],
        n: int = -1,
    ) -> int:
        """Write up to ``n`` levels (default: the buffers' length) of ``side``, best first (bids
        descending, asks ascending), into caller-owned C-contiguous int64 buffers; returns the count
        written. Nothing is allocated."""
    def cost_to_fill(self, side: int, lots: int) -> tuple[int, int]:
        """Walk the book for an order of ``side`` (1 = buy takes the asks upward, 2 = sell takes the
        bids downward) of ``lots``: returns ``(filled_lots, notional)`` where ``notional`` is the exact
        sum of ticks * lots over the levels taken (price = notional / filled_lots ticks).
        ``filled_lots < lots`` when the book runs out. Exact at any size (128-bit accumulator)."""
    def avg_fill_price_ticks(self, side: int, lots: int) -> float:
        """notional / filled of ``cost_to_fill`` as a float (analytics); NaN when nothing fills."""

    # -- analytics: float, in ticks -----------------------------------------------------------------
    def mid_ticks(self) -> float:
        """(best bid + best ask) / 2; NaN when a side is empty."""
    def spread_ticks(self) -> int | None:
        """best ask - best bid (exact; <= 0 when crossed); None when a side is empty."""
    def microprice_ticks(self) -> float:
        """(bid * ask_lots + ask * bid_lots) / (bid_lots + ask_lots) at the top; NaN when a side is empty."""
    def imbalance(self, levels: int = 1) -> float:
        """(bid lots - ask lots) / (bid lots + ask lots) over the top ``levels`` of each side; NaN if
        both are empty."""

    # -- sequencing, health, layout ---------------------------------------------------------------
    @property
    def last_sequence(self) -> int:
        """Update id of the last snapshot or sequenced batch applied; -1 if none."""
    @property
    def gap_count(self) -> int:
        """Sequence gaps detected by ``apply_deltas``."""
    @property
    def crossed_count(self) -> int:
        """Crossed episodes: updates that left the book crossed when it was not crossed before."""
    @property
    def needs_snapshot(self) -> bool:
        """True after a gap, ``invalidate()`` or a failed snapshot, until the next snapshot."""
    @property
    def recentre_count(self) -> int:
        """How many times the dense window moved."""
    @property
    def window_ticks(self) -> int: ...
    @property
    def window_base(self) -> int:
        """Lowest tick of the dense window ``[window_base, window_base + window_ticks)``."""
