"""State tables share the writer (and transactions) with the journal."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from store_samples import mixed_objects, open_store, sample_events

from engine.core.errors import ValidationError
from engine.store import Persistence


async def test_state_when_put_then_visible_at_once_and_after_commit(persistence: Persistence) -> None:
    state = persistence.state
    ticket = state.put("venue", "SIM", {"last_trade_id": 42})
    assert state.get("venue", "SIM") == {"last_trade_id": 42}
    await persistence.writer.wait(ticket)
    assert state._overlay == {}
    assert state.get("venue", "SIM") == {"last_trade_id": 42}


async def test_state_when_registered_objects_put_then_round_trip(persistence: Persistence) -> None:
    obj = mixed_objects()[3]
    persistence.state.put("last_fill", "sim-main", obj)
    await persistence.flush()
    assert persistence.state.get("last_fill", "sim-main") == obj


async def test_state_when_items_listed_then_merged_sorted_and_deletes_applied(
    persistence: Persistence,
) -> None:
    state = persistence.state
    state.put_many("limits", {"b": 2, "a": 1, "c": 3})
    await persistence.flush()
    state.delete("limits", "b")
    state.put("limits", "d", 4)
    state.put("other", "a", 0)
    assert list(state.items("limits")) == [("a", 1), ("c", 3), ("d", 4)]
    await persistence.flush()
    assert list(state.items("limits")) == [("a", 1), ("c", 3), ("d", 4)]
    assert state.get("limits", "b", "gone") == "gone"
    assert state.tables() == ["limits", "other"]


async def test_state_when_read_from_a_key_then_only_later_keys_of_the_table(persistence: Persistence) -> None:
    state = persistence.state
    state.put_many("log", {"0001": "a", "0002": "b", "0003": "c", "0004": "d"})
    state.put("logz", "0005", "other table")  # a table whose name extends this one's
    await persistence.flush()
    state.delete("log", "0003")  # queued, not committed: the overlay counts as well
    state.put("log", "0005", "e")
    state.put("log", "0001", "a again")  # at or before the position: not listed
    assert list(state.items("log", after="0002")) == [("0004", "d"), ("0005", "e")]
    assert list(state.items("log", after="0000")) == [
        ("0001", "a again"),
        ("0002", "b"),
        ("0004", "d"),
        ("0005", "e"),
    ]
    assert list(state.items("log", after="0005")) == []
    await persistence.flush()
    assert list(state.items("log", after="0002")) == [("0004", "d"), ("0005", "e")]


async def test_state_when_keys_listed_then_no_value_decoded_and_the_bound_included(
    persistence: Persistence, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = persistence.state
    state.put_many("log", {"0001": 1, "0002": 2, "0003": 3})
    state.put("logz", "0000", "other table")
    await persistence.flush()
    state.delete("log", "0002")
    state.put("log", "0004", 4)
    decoded: list[bytes] = []
    decode = state._codec.decode
    monkeypatch.setattr(state._codec, "decode", lambda data: decoded.append(data) or decode(data))
    assert state.keys("log") == ["0001", "0003", "0004"]
    assert state.keys("log", upto="0003") == ["0001", "0003"]
    assert state.keys("log", upto="0000") == []
    await persistence.flush()
    assert state.keys("log", upto="0004") == ["0001", "0003", "0004"]
    assert decoded == []
    assert [key for key, _ in state.items("log")] == ["0001", "0003", "0004"]
    assert len(decoded) == 3  # (the spy sees decodes: ``items`` reads the values)


async def test_state_when_queued_with_journal_then_same_transaction(persistence: Persistence) -> None:
    before = persistence.writer.transactions
    for e in sample_events(100):
        persistence.journal.append(e)
    persistence.state.put("snapshot", "oms", {"as_of_seq": persistence.journal.last_sequence})
    await persistence.flush()
    assert persistence.writer.transactions - before == 1


async def test_state_when_reopened_then_values_restored(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lmdb")
    p = Persistence(store)
    p.start()
    p.state.put("seq", "order_event", 1234)
    await p.close()
    store.close(time.time_ns())
    store = open_store(tmp_path / "lmdb")
    p = Persistence(store)
    assert p.state.get("seq", "order_event") == 1234
    store.close(time.time_ns())


def test_state_when_table_or_key_invalid_then_validation_error(persistence: Persistence) -> None:
    with pytest.raises(ValidationError):
        persistence.state.put("Bad Table", "k", 1)
    with pytest.raises(ValidationError):
        persistence.state.put("t", "", 1)


def test_state_when_table_name_refused_then_refused_every_time_and_nothing_queued(
    persistence: Persistence,
) -> None:
    """Valid table names are remembered (their regex runs once); a refused one never is."""
    state = persistence.state
    before = persistence.writer.enqueued_ticket
    for _ in range(3):
        with pytest.raises(ValidationError) as info:
            state.put("Bad.Table", "k", 1)
        assert info.value.field == "table"
    with pytest.raises(ValidationError):
        state.put("ok_table", "bad\x00key", 1)
    assert persistence.writer.enqueued_ticket == before
    state.put("ok_table", "k", 1)
    state.put("ok_table", "k", 2)
    assert state.get("ok_table", "k") == 2


async def test_state_when_a_commit_covers_only_part_of_the_queue_then_later_writes_still_read_back(
    tmp_path: Path,
) -> None:
    """The overlay is dropped whole only when everything queued is committed; a commit of part of
    the queue keeps the later writes visible (the database still holds the older value)."""
    from engine.store.state import StateStore
    from engine.store.writer import StoreWriter

    store = open_store(tmp_path / "lmdb", durability="async")
    writer = StoreWriter(store, max_batch=1)  # one record per commit: the rest waits a loop turn
    state = StateStore(store, writer)
    writer.start()
    state.put("t", "a", "old")
    state.put("t", "b", 2)
    state.put("t", "a", "new")
    await asyncio.sleep(0)  # the loop's first commit callback ran: ticket 1 (a = "old") only
    assert writer.committed_ticket == 1 < writer.enqueued_ticket == 3
    assert state.get("t", "a") == "new" and state.get("t", "b") == 2
    assert list(state.items("t")) == [("a", "new"), ("b", 2)]
    await writer.flush()
    assert state.get("t", "a") == "new" and state.get("t", "b") == 2
    await writer.close()
    store.close(time.time_ns())
