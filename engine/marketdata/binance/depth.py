"""Binance depth normaliser and book synchronisation (spot and USDⓈ-M), per Binance's documentation.

Binance publishes a diff stream (``<symbol>@depth``) and a REST snapshot (``/depth``, carrying
``lastUpdateId`` = L). A local book is built like this:

1. Buffer the diffs; fetch the snapshot; apply it.
2. Drop buffered diffs that are already in the snapshot: spot ``u <= L``; USDⓈ-M ``u < L``.
3. The first diff applied must straddle the snapshot: spot ``U <= L + 1 <= u``; USDⓈ-M
   ``U <= L <= u``. (A USDⓈ-M diff whose ``pu == L`` also continues the snapshot exactly.)
4. Afterwards every diff must continue the previous one: spot ``U == previous u + 1``; USDⓈ-M
   ``pu == previous u``. Anything else is a sequence gap.

On a gap, or when a diff leaves the book crossed (best bid >= best ask: the feed and our book
disagree), the book is invalidated (``L2Book.needs_snapshot``), the event is counted and diffs are
buffered again until the next snapshot re-synchronises it. A possibly-wrong book is never kept
silently: ``synced`` is False until then.

Prices and sizes are parsed from the venue's decimal strings straight into ticks and lots by the
compiled ``engine.ext.book.levels.parse_levels`` (``parse_fixed_c`` per string: exact, no
``Decimal`` or ``float``); a value off the instrument's grid raises ``ValidationError`` rather than
being rounded.

Note on step 2 for USDⓈ-M: Binance's futures documentation drops ``u < L`` (not ``u <= L`` as for
spot). With ``u <= L`` the ETHUSDT 2024-07-18 capture would show a spurious "gap" at the initial
sync: its diff with ``u == L`` would be dropped and the next diff (``pu == L``, ``U > L``) fails
``U <= L``, although ``pu == L`` proves it continues the snapshot.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from enum import IntEnum, StrEnum
from typing import Any

import numpy as np

from engine.core.errors import ValidationError
from engine.core.instruments import Instrument
from engine.ext.book.l2book import STATUS_CROSSED, STATUS_OK
from engine.ext.book.levels import parse_levels
from engine.ext.core.fixedpoint import parse_fixed
from engine.marketdata.binance.instruments import BinanceMarket
from engine.marketdata.book import OrderBook

__all__ = [
    "BinanceDepthSync",
    "DepthOutcome",
    "DepthSyncStats",
    "LevelParser",
    "SyncState",
]


def _parse(text: str, precision: int, field: str) -> int | None:
    """Fixed-point value of ``text``; None if it is a valid decimal finer than ``precision``."""
    try:
        return parse_fixed(text, precision)
    except ValueError as exc:
        try:  # error path only: tell "finer than the grid" from "not a number"
            finite = Decimal(text).is_finite()
        except InvalidOperation:
            finite = False
        if not finite or "decimal places" not in str(exc):
            raise ValidationError(field, str(exc)) from None
        return None


class LevelParser:
    """Venue decimal strings -> int ticks / lots on an instrument's grid (exact, or ValidationError)."""

    __slots__ = ("_pp", "_pstep", "_sp", "_sstep", "instrument")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self._pp = instrument.price_precision
        self._pstep = instrument.price_increment.raw
        self._sp = instrument.size_precision
        self._sstep = instrument.size_increment.raw

    def ticks(self, price: str) -> int:
        raw = _parse(price, self._pp, "price")
        ticks, rem = divmod(raw, self._pstep) if raw is not None else (0, 1)
        if rem:
            raise ValidationError(
                "price",
                f"{price} is off the tick grid {self.instrument.price_increment} of {self.instrument.id}",
                reason="PRICE_OFF_TICK",
            )
        return ticks

    def lots(self, size: str) -> int:
        raw = _parse(size, self._sp, "quantity")
        lots, rem = divmod(raw, self._sstep) if raw is not None else (0, 1)
        if rem or lots < 0:
            raise ValidationError(
                "quantity",
                f"{size} is not a non-negative multiple of {self.instrument.size_increment} "
                f"of {self.instrument.id}",
                reason="SIZE_OFF_INCREMENT",
            )
        return lots

    def delta_arrays(
        self, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A diff's bid and ask levels as one batch (sides uint8 1/2, ticks, lots), parsed in C."""
        bids = bids if type(bids) is list else list(bids)
        asks = asks if type(asks) is list else list(asks)
        try:
            return parse_levels(bids, asks, self._pp, self._pstep, self._sp, self._sstep)
        except ValueError as exc:
            for price, size in (*bids, *asks):  # slow path, only to raise the precise error
                self.ticks(price)
                self.lots(size)
            raise ValidationError("levels", str(exc)) from None

    def side_arrays(self, levels: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """``[[price, size], ...]`` -> (ticks, lots) int64 arrays."""
        _, ticks, lots = self.delta_arrays(levels, [])
        return ticks, lots


class SyncState(StrEnum):
    AWAITING_SNAPSHOT = "awaiting_snapshot"
    AWAITING_FIRST_DIFF = "awaiting_first_diff"
    SYNCED = "synced"


class DepthOutcome(IntEnum):
    BUFFERED = 1  # waiting for a snapshot
    APPLIED = 2
    DROPPED = 3  # already contained in the snapshot / the book (stale or duplicate)
    GAP = 4  # sequence gap: book invalidated, waiting for a snapshot
    CROSSED = 5  # applied and the book crossed: book invalidated, waiting for a snapshot
    SNAPSHOT_APPLIED = 6
    SNAPSHOT_IGNORED = 7  # a snapshot while synced (the diff stream is authoritative)


@dataclass(slots=True)
class DepthSyncStats:
    diffs: int = 0
    diffs_applied: int = 0
    diffs_dropped: int = 0
    deltas_applied: int = 0  # price levels applied from diffs
    seq_gaps: int = 0
    resyncs: int = 0  # snapshots that re-synchronised the book after a gap or a crossed book
    crossed_states: int = 0
    snapshots: int = 0
    snapshots_ignored: int = 0
    buffer_overflows: int = 0  # buffered diffs discarded because the buffer was full
    bookticker_checks: int = 0
    bookticker_matches: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class BinanceDepthSync:
    """Keeps an ``OrderBook`` in sync with one Binance symbol's diff stream and snapshots.

    Feed it the ``data`` objects of ``depthUpdate`` events (``on_depth_update``) and REST snapshots
    (``on_snapshot``) in arrival order; ``on_book_ticker`` cross-checks the top of book against a
    ``bookTicker`` event carrying the same update id as the last diff applied.
    """

    def __init__(self, book: OrderBook, market: BinanceMarket, *, max_buffered: int = 20_000) -> None:
        self.book = book
        self.market = market
        self.parser = LevelParser(book.instrument)
        self.stats = DepthSyncStats()
        self.state = SyncState.AWAITING_SNAPSHOT
        self._buffer: deque[dict[str, Any]] = deque()
        self._max_buffered = max_buffered
        self._snapshot_id = -1
        self._last_final_id = -1  # u of the last diff applied; -1 before the first one
        self._lost_sync = False

    @property
    def synced(self) -> bool:
        return self.state is SyncState.SYNCED

    @property
    def last_final_id(self) -> int:
        """``u`` of the last diff applied since the last (re)sync, -1 if none."""
        return self._last_final_id

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # -- snapshots --------------------------------------------------------------------------------
    def on_snapshot(
        self, last_update_id: int, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]
    ) -> DepthOutcome:
        if self.state is SyncState.SYNCED:
            self.stats.snapshots_ignored += 1
            return DepthOutcome.SNAPSHOT_IGNORED
        bid_t, bid_l = self.parser.side_arrays(bids)
        ask_t, ask_l = self.parser.side_arrays(asks)
        status = self.book.l2.apply_snapshot(bid_t, bid_l, ask_t, ask_l, last_update_id)
        self.stats.snapshots += 1
        if status == STATUS_CROSSED:
            self.stats.crossed_states += 1
            self._lose_sync()
            return DepthOutcome.CROSSED
        if self._lost_sync:
            self.stats.resyncs += 1
            self._lost_sync = False
        self.state = SyncState.AWAITING_FIRST_DIFF
        self._snapshot_id = last_update_id
        self._last_final_id = -1
        pending, self._buffer = self._buffer, deque()
        while pending:
            diff = pending.popleft()
            if self._process(diff) in (DepthOutcome.GAP, DepthOutcome.CROSSED):
                self._buffer.extend(pending)  # newer than the gap: keep for the next snapshot
                break
        return DepthOutcome.SNAPSHOT_APPLIED

    # -- diffs ------------------------------------------------------------------------------------
    def on_depth_update(self, data: dict[str, Any]) -> DepthOutcome:
        self.stats.diffs += 1
        if self.state is SyncState.AWAITING_SNAPSHOT:
            self._buffer_diff(data)
            return DepthOutcome.BUFFERED
        return self._process(data)

    def _buffer_diff(self, data: dict[str, Any]) -> None:
        if len(self._buffer) >= self._max_buffered:
            self._buffer.popleft()
            self.stats.buffer_overflows += 1
        self._buffer.append(data)

    def _process(self, data: dict[str, Any]) -> DepthOutcome:
        first, final = data["U"], data["u"]
        prev = data.get("pu", -1)
        spot = self.market is BinanceMarket.SPOT
        if self.state is SyncState.AWAITING_FIRST_DIFF:
            snap = self._snapshot_id
            if final < snap or (spot and final == snap):
                self.stats.diffs_dropped += 1
                return DepthOutcome.DROPPED
            straddles = first <= snap + 1 <= final if spot else (first <= snap <= final or prev == snap)
            if not straddles:
                return self._gap(data)
            # USDⓈ-M: a first diff with u == L holds nothing newer than the snapshot's levels (but
            # may add levels deeper than its 1000): apply it without moving the sequence.
            batch_first, batch_last = (-1, -1) if final == snap else (first, final)
        else:
            last = self._last_final_id
            if final <= last:
                self.stats.diffs_dropped += 1
                return DepthOutcome.DROPPED
            if (first != last + 1) if spot else (prev != last):
                return self._gap(data)
            batch_first, batch_last = (first, final) if spot else (last + 1, final)
        sides, ticks, lots = self.parser.delta_arrays(data["b"], data["a"])
        status = self.book.l2.apply_deltas(sides, ticks, lots, batch_first, batch_last)
        if status == STATUS_CROSSED:
            self.stats.crossed_states += 1
            self._lose_sync()
            return DepthOutcome.CROSSED
        if status != STATUS_OK:  # the book's own sequence check disagreed: treat as a gap
            return self._gap(data)
        self.state = SyncState.SYNCED
        self._last_final_id = final
        self.stats.diffs_applied += 1
        self.stats.deltas_applied += len(sides)
        return DepthOutcome.APPLIED

    def _gap(self, data: dict[str, Any]) -> DepthOutcome:
        self.stats.seq_gaps += 1
        self._lose_sync()
        self._buffer_diff(data)
        return DepthOutcome.GAP

    def _lose_sync(self) -> None:
        self.book.l2.invalidate()
        self.state = SyncState.AWAITING_SNAPSHOT
        self._last_final_id = -1
        self._lost_sync = True

    # -- cross-check ------------------------------------------------------------------------------
    def on_book_ticker(self, data: dict[str, Any]) -> bool | None:
        """Compare a ``bookTicker`` with our top of book when its ``u`` equals the last diff's ``u``.

        Returns None when not comparable, else whether best bid/ask prices *and* sizes all match.
        """
        if not self.synced or data["u"] != self._last_final_id:
            return None
        p = self.parser
        expected = (p.ticks(data["b"]), p.lots(data["B"]), p.ticks(data["a"]), p.lots(data["A"]))
        self.stats.bookticker_checks += 1
        matched = self.book.l2.top() == expected
        if matched:
            self.stats.bookticker_matches += 1
        return matched
