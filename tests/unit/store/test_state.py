"""State tables share the writer (and transactions) with the journal."""

from __future__ import annotations

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
