"""Recordings: exact round trip, compression, retention by size and by age, filters, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.errors import StorageError, ValidationError
from engine.core.events import Bar, Event, TradeTick
from engine.core.ids import InstrumentId
from engine.store.recording import RecordingReader, RecordingWriter, RetentionPolicy, record_items
from tests.unit.store.market_samples import IID, S, instrument, market_events


def write(path: Path, events: list[Event], **kw) -> RecordingWriter:
    writer = RecordingWriter(path, **kw)
    writer.add_instrument(instrument())
    for event in events:
        writer.append(event)
    return writer


def test_recording_when_written_and_read_then_every_event_equal_in_order(tmp_path: Path) -> None:
    events = market_events(10_000)
    with write(tmp_path / "rec", events, block_records=1000) as writer:
        pass
    assert writer is not None
    with RecordingReader(tmp_path / "rec") as reader:
        assert list(reader.iter_events()) == events
        info = reader.info()
        assert info.events == 10_000 and info.blocks == 10
        assert info.kinds == {"trades": 2500, "quotes": 2500, "books": 2500, "bars": 2500}
        assert (info.first_ts_ns, info.last_ts_ns) == (0, events[-1].ts_init)
        assert reader.instruments() == {IID: instrument()}


def test_recording_when_market_data_then_compressed(tmp_path: Path) -> None:
    with write(tmp_path / "rec", market_events(20_000)) as writer:
        pass
    info = RecordingReader(tmp_path / "rec").info()
    assert info.compressed_bytes * 4 < info.raw_bytes, info.to_dict()  # zstd: > 4x on repetitive data
    assert info.compression_ratio > 4
    del writer


def test_recording_when_reopened_then_appends_after_existing_blocks(tmp_path: Path) -> None:
    first, second = market_events(300), market_events(300, start=10**12)
    with write(tmp_path / "rec", first, block_records=128):
        pass
    with write(tmp_path / "rec", second, block_records=128):
        pass
    with RecordingReader(tmp_path / "rec") as reader:
        assert list(reader.iter_events()) == first + second
        assert reader.info().events == 600


def test_recording_filters_by_time_instrument_and_kind(tmp_path: Path) -> None:
    other = InstrumentId("SIM:ETH-USD")
    a, b = market_events(400), market_events(400, iid=other)
    mixed = [e for pair in zip(a, b, strict=True) for e in pair]
    writer = RecordingWriter(tmp_path / "rec", block_records=64)
    writer.add_instrument(instrument())
    writer.add_instrument(instrument(other))
    for event in mixed:
        writer.append(event)
    writer.close()
    reader = RecordingReader(tmp_path / "rec")
    got = list(reader.iter_events(start_ns=10 * S, end_ns=20 * S))
    assert got == [e for e in mixed if 10 * S <= e.ts_init < 20 * S]
    assert list(reader.iter_events(instrument_ids=[str(other)])) == b
    assert list(reader.iter_events(kinds=["trades", "bars"])) == [
        e for e in mixed if isinstance(e, (TradeTick, Bar))
    ]
    with pytest.raises(ValidationError, match="unknown"):
        list(reader.iter_events(kinds=["candles"]))


def test_recording_retention_by_size_deletes_oldest_blocks(tmp_path: Path) -> None:
    events = market_events(40_000)
    writer = write(tmp_path / "rec", events, block_records=1000, retention=RetentionPolicy(max_size_mb=0.05))
    writer.close()
    info = RecordingReader(tmp_path / "rec").info()
    assert info.compressed_bytes <= 0.05 * 1024 * 1024
    assert info.blocks_deleted > 0 and info.events + info.events_deleted == 40_000
    kept = list(RecordingReader(tmp_path / "rec").iter_events())
    assert kept == events[-len(kept) :]  # the newest survive, contiguous and in order
    assert len(kept) == info.events and sum(info.kinds.values()) == info.events


def test_recording_retention_by_age_keeps_the_newest_window(tmp_path: Path) -> None:
    events = market_events(10_000, step=S)  # 10 000 s of data
    writer = write(tmp_path / "rec", events, block_records=500, retention=RetentionPolicy(max_age_s=2_000))
    writer.close()
    reader = RecordingReader(tmp_path / "rec")
    kept = list(reader.iter_events())
    newest = events[-1].ts_init
    # Whole blocks: everything whose block ended within the window survives, nothing older.
    assert kept == events[-len(kept) :]
    assert kept[0].ts_init >= newest - 2_000 * S - 500 * S
    assert all(newest - e.ts_init <= 2_500 * S for e in kept)
    assert reader.info().first_ts_ns == kept[0].ts_init


def test_recording_when_unknown_instrument_or_type_then_refused(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "rec")
    with pytest.raises(ValidationError, match="add_instrument"):
        writer.append(market_events(1)[0])
    with pytest.raises(ValidationError, match="not market data"):
        writer.append(Event(ts_event=0, ts_init=0))
    writer.close()
    assert RecordingReader(tmp_path / "rec").info().events == 0


def test_recording_reader_when_not_a_recording_then_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not a recording"):
        RecordingReader(tmp_path / "nothing")


def test_record_items_when_importer_stream_then_instruments_first(tmp_path: Path) -> None:
    events = market_events(50)
    writer = RecordingWriter(tmp_path / "rec")
    assert record_items([instrument(), *events], writer) == 50
    writer.close()
    assert list(RecordingReader(tmp_path / "rec").iter_events()) == events


def test_recording_reader_while_writer_appends_sees_committed_blocks(tmp_path: Path) -> None:
    events = market_events(3000)
    writer = write(tmp_path / "rec", events[:2000], block_records=1000)
    reader = writer.reader()
    assert len(list(reader.iter_events())) == 2000
    for event in events[2000:]:
        writer.append(event)
    writer.flush()
    assert list(reader.iter_events()) == events
    writer.close()
