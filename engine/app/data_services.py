"""Composition of the data services: the QuestDB sink ([questdb]) and a recording replay ([replay]).

Kept out of ``engine.app.Engine`` so the engine only creates, starts and stops one object:

- **QuestDB**: subscribes the sink to ``data.trades.*`` (trades), ``data.quotes.*`` (bbo),
  ``data.bars.*`` (bars) and ``events.order.*`` (fills) — only the tables listed in
  ``questdb.tables`` — and samples the trading account's equity every ``equity_interval_ms`` on a
  clock timer. Handlers only append to the sink's queue; the sink thread does the rest.
- **Replay**: a ``ReplayFeed`` over the recording, publishing on the bus exactly as a live feed
  (``BusFeedSink``); its instruments' books are registered for GetOrderBook and bar precisions.
- **Recording** ([recording]): a ``Recorder`` subscribed to ``data.trades|quotes|bars|books.*``;
  instruments come from the market-data registry, book levels from the feeds' (and the replay's)
  ``OrderBook``; a timer hands the buffered events to the writer thread every ``flush_interval_ms``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from engine.bus import MessageBus
from engine.config import EngineConfig
from engine.core.clock import Clock, TimeEvent
from engine.core.enums import ComponentState
from engine.core.errors import DuplicateError, NotFoundError, StartupError
from engine.marketdata.bars import BarService
from engine.marketdata.feeds.sink import BusFeedSink
from engine.marketdata.registry import MarketDataRegistry
from engine.store.questdb import EquitySampled, QuestDbSettings, QuestDbSink
from engine.store.recorder import Recorder
from engine.store.recording import RecordingReader, RecordingWriter, RetentionPolicy
from engine.store.replay import ReplayFeed, parse_speed

__all__ = ["DataServices"]

log = structlog.get_logger("engine.app.data")

SetState = Callable[[str, ComponentState, str], None]
_EQUITY_TIMER = "questdb.equity"
_RECORDING_TIMER = "recording.flush"


class DataServices:
    def __init__(
        self,
        config: EngineConfig,
        bus: MessageBus,
        clock: Clock,
        marketdata: MarketDataRegistry,
        bars: BarService,
        *,
        feeds: Any = None,
    ) -> None:
        self._config = config
        self._bus = bus
        self._clock = clock
        self._marketdata = marketdata
        self._bars = bars
        q = config.questdb
        self.questdb: QuestDbSink | None = None
        if q.enabled:
            settings = QuestDbSettings(
                host=q.host,
                port=q.port,
                protocol=q.protocol,
                table_prefix=q.table_prefix,
                batch_rows=q.batch_rows,
                flush_interval_ms=q.flush_interval_ms,
                request_timeout_ms=q.request_timeout_ms,
                retry_backoff_ms=q.retry_backoff_ms,
                retry_backoff_max_ms=q.retry_backoff_max_ms,
                max_pending_rows=q.max_pending_rows,
                create_tables=q.create_tables,
                spool_max_mb=q.spool_max_mb,
            )
            self.questdb = QuestDbSink(settings, Path(config.data_dir) / "questdb-spool")
        self.replay: ReplayFeed | None = None
        self._reader: RecordingReader | None = None
        self._feeds = feeds
        self.recorder: Recorder | None = None
        self._questdb_stopping = False

    @property
    def component_names(self) -> list[str]:
        names = []
        if self.questdb is not None:
            names.append("questdb")
        if self._config.replay.path:
            names.append("replay")
        if self._config.recording.enabled:
            names.append("recording")
        return names

    async def start(self, trading: Any, set_state: SetState) -> None:
        """Start after the venue and feeds (their instruments and books are registered by then)."""
        if self.questdb is not None:
            self._start_questdb(trading, set_state)
        if self._config.recording.enabled:
            self._start_recording(set_state)  # before the replay, so it records from the first event
        if self._config.replay.path:
            await self._start_replay(set_state)

    def _start_recording(self, set_state: SetState) -> None:
        r = self._config.recording
        path = Path(r.path) if r.path else Path(self._config.data_dir) / "recordings" / "live"
        set_state("recording", ComponentState.STARTING, str(path))
        retention = RetentionPolicy(max_age_s=r.max_age_s or None, max_size_mb=r.max_size_mb or None)
        writer = RecordingWriter(path, block_records=r.block_records, retention=retention)
        registry = self._marketdata

        def instrument_for(instrument_id: Any) -> Any:
            try:
                return registry.instrument(str(instrument_id))
            except NotFoundError:
                return None

        books: dict[Any, Any] = {}
        if self._feeds is not None:
            books.update({instrument.id: book for instrument, book in self._feeds.books()})
        recorder = Recorder(writer, books=books, instrument_for=instrument_for, book_depth=r.book_depth)
        recorder.start()
        subscribe = self._bus.subscribe
        kinds = set(r.kinds)
        if "trades" in kinds:
            subscribe("data.trades.*", recorder.on_trade)
        if "quotes" in kinds:
            subscribe("data.quotes.*", recorder.on_quote)
        if "bars" in kinds:
            subscribe("data.bars.*", recorder.on_bar)
        if "books" in kinds:
            subscribe("data.books.*", recorder.on_book)
        self._clock.set_timer(_RECORDING_TIMER, r.flush_interval_ms * 1_000_000, lambda _e: recorder.flush())
        self.recorder = recorder
        set_state("recording", ComponentState.RUNNING, f"{path}: {', '.join(r.kinds)}")

    def _start_questdb(self, trading: Any, set_state: SetState) -> None:
        sink = self.questdb
        assert sink is not None
        q = self._config.questdb
        set_state("questdb", ComponentState.STARTING, f"{q.protocol}://{q.host}:{q.port}")
        loop = asyncio.get_running_loop()

        def report(connected: bool, detail: str) -> None:  # on the loop
            if self._questdb_stopping:  # a late report must not revive a stopping component
                return
            state = ComponentState.RUNNING if connected else ComponentState.DEGRADED
            set_state(
                "questdb", state, "connected" if connected else f"QuestDB unavailable, spooling: {detail}"
            )

        def on_connection(connected: bool, detail: str) -> None:  # sink thread -> loop
            loop.call_soon_threadsafe(report, connected, detail)

        sink.on_state_change = on_connection
        sink.start()
        tables = set(q.tables)
        subscribe = self._bus.subscribe
        if "trades" in tables:
            subscribe("data.trades.*", sink.on_trade)
        if "bbo" in tables:
            subscribe("data.quotes.*", sink.on_quote)
        if "bars" in tables:
            subscribe("data.bars.*", sink.on_bar)
        if "fills" in tables:
            subscribe("events.order.*", sink.on_order_event)
        if "equity" in tables and trading is not None and trading.portfolio is not None:
            account, currency, portfolio = trading.account, trading.pnl_currency(), trading.portfolio

            def sample(event: TimeEvent) -> None:
                sink.on_equity(
                    EquitySampled(
                        ts_event=event.ts_event,
                        ts_init=self._clock.timestamp_ns(),
                        account_id=account,
                        equity=portfolio.equity(account, currency),
                    )
                )

            self._clock.set_timer(_EQUITY_TIMER, q.equity_interval_ms * 1_000_000, sample)
        set_state(
            "questdb",
            ComponentState.RUNNING,
            f"{q.protocol}://{q.host}:{q.port}, tables {', '.join(q.tables)}; spooled rows {sink.stats.spool_rows}",
        )

    async def _start_replay(self, set_state: SetState) -> None:
        r = self._config.replay
        set_state("replay", ComponentState.STARTING, r.path)
        try:
            self._reader = RecordingReader(r.path)
        except Exception as exc:
            raise StartupError(f"[replay] path {r.path}: {getattr(exc, 'message', exc)}") from None
        feed = ReplayFeed(self._reader, BusFeedSink(self._bus), speed=parse_speed(r.speed), clock=self._clock)
        for instrument_id, book in feed.books.items():
            instrument = book.instrument
            try:
                self._marketdata.add_book(instrument, book)
            except DuplicateError:
                log.warning("replay.instrument_already_served", instrument_id=str(instrument_id))
                continue
            self._bars.precisions[instrument_id] = (instrument.price_precision, instrument.size_precision)
        self.replay = feed
        if self.recorder is not None:
            self.recorder.books.update(feed.books)
        await feed.start()

        async def report() -> None:
            try:
                stats = await feed.wait()
            except asyncio.CancelledError:
                return
            except Exception as exc:  # a corrupt recording ends the replay, not the engine
                set_state("replay", ComponentState.FAILED, f"{type(exc).__name__}: {exc}")
                return
            set_state("replay", ComponentState.STOPPED, f"finished: {stats.events} events")

        self._report_task = asyncio.get_running_loop().create_task(report(), name="replay-report")
        set_state("replay", ComponentState.RUNNING, f"{r.path} at {r.speed}")

    async def stop_replay(self, set_state: SetState) -> None:
        """Stop feeding market data (first in the shutdown, like the live feeds)."""
        if self.replay is not None:
            await self.replay.stop()
            self.replay = None
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            set_state("replay", ComponentState.STOPPED, "")

    async def stop(self, set_state: SetState) -> None:
        await self.stop_replay(set_state)
        if self.recorder is not None:
            if _RECORDING_TIMER in self._clock.timer_names():
                self._clock.cancel_timer(_RECORDING_TIMER)
            recorder, self.recorder = self.recorder, None
            finished = await asyncio.get_running_loop().run_in_executor(None, recorder.stop)
            stats = recorder.stats
            set_state(
                "recording",
                ComponentState.STOPPED,
                f"{stats.events_written} events written, {stats.events_dropped} dropped"
                + ("" if finished else " (writer did not finish in time)"),
            )
        if self.questdb is not None and self.questdb.started:
            if _EQUITY_TIMER in self._clock.timer_names():
                self._clock.cancel_timer(_EQUITY_TIMER)
            self._questdb_stopping = True
            set_state("questdb", ComponentState.STOPPING, "sending what is queued (or spooling it)")
            sink = self.questdb
            finished = await asyncio.get_running_loop().run_in_executor(None, sink.stop)
            set_state(
                "questdb",
                ComponentState.STOPPED,
                f"sent {sink.stats.rows_sent + sink.stats.rows_drained}, spooled {sink.stats.spool_rows}"
                + ("" if finished else " (thread did not finish in time)"),
            )
