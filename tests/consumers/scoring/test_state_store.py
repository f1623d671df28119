"""The state store contract, run against both implementations (as quixstreams' store parity tests do).

The memory store backs tests and ``memory://`` workers; the RocksDB store is Faust's own (one
database per partition) reached by explicit partition. Both must give back what was written to
the partition a key lives in, in write order, and never invent a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import faust
import pytest

from consumers.scoring.records import CARD_TABLE, TERMINAL_TABLE, StateWrite
from consumers.scoring.state_store import MemoryStore, RocksDBStore, StateStore, TableState, table_store


def _faust_table(kind: str, datadir: Path) -> object:
    app = faust.App("store-contract", broker="kafka://127.0.0.1:1", store=kind, datadir=str(datadir), web_enabled=False)
    return app.Table("card-state", partitions=3, default=None, key_type=bytes, value_type=bytes)


@pytest.fixture(params=["memory", "rocksdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        made = table_store(_faust_table("rocksdb://", tmp_path))
        assert isinstance(made, RocksDBStore)
        yield made


def test_a_key_never_written_is_absent(store: StateStore) -> None:
    assert store.get(b"card_1", 0) is None


def test_writes_come_back_from_the_partition_they_were_written_to(store: StateStore) -> None:
    store.put_many([(b"card_1", b"a", 0), (b"card_2", b"b", 2), (b"t\x1f1", b"c", 1)])
    assert (store.get(b"card_1", 0), store.get(b"card_2", 2), store.get(b"t\x1f1", 1)) == (b"a", b"b", b"c")


def test_a_later_write_of_a_key_wins_within_and_across_batches(store: StateStore) -> None:
    store.put_many([(b"card_1", b"first", 1), (b"card_1", b"second", 1)])
    assert store.get(b"card_1", 1) == b"second"
    store.put_many([(b"card_1", b"third", 1)])
    assert store.get(b"card_1", 1) == b"third"


def test_an_empty_batch_changes_nothing(store: StateStore) -> None:
    store.put_many([(b"k", b"v", 0)])
    store.put_many([])
    assert store.get(b"k", 0) == b"v"


def test_the_changelog_offset_is_kept_or_the_whole_changelog_is_restored(store: StateStore) -> None:
    store.set_changelog_offset(2, 41)
    assert store.changelog_offset(2) in (41, None)  # None: restored from the start (memory)
    assert store.changelog_offset(0) is None


def test_faust_picks_the_implementation_of_its_store(tmp_path: Path) -> None:
    assert isinstance(table_store(_faust_table("memory://", tmp_path)), MemoryStore)
    assert isinstance(table_store(_faust_table("rocksdb://", tmp_path)), RocksDBStore)


def test_rocksdb_keeps_each_partition_in_its_own_database_and_its_offset_across_a_reopen(tmp_path: Path) -> None:
    first = table_store(_faust_table("rocksdb://", tmp_path))
    first.put_many([(b"card_1", b"v", 2)])
    first.set_changelog_offset(2, 99)
    assert first.get(b"card_1", 0) is None  # a read from the wrong partition misses
    assert isinstance(first, RocksDBStore)
    for db in first.store._dbs.values():  # as a worker's exit does
        db.close()
    again = table_store(_faust_table("rocksdb://", tmp_path))
    assert again.get(b"card_1", 2) == b"v"
    assert again.changelog_offset(2) == 99


def test_table_state_routes_a_batch_of_writes_to_each_table() -> None:
    state = TableState.in_memory()
    state.apply([StateWrite(CARD_TABLE, b"c", b"1", 0), StateWrite(TERMINAL_TABLE, b"t\x1f0", b"2", 0)])
    assert state.get(CARD_TABLE, b"c", 0) == b"1"
    assert state.get(TERMINAL_TABLE, b"t\x1f0", 0) == b"2"
    assert state.get(CARD_TABLE, b"t\x1f0", 0) is None


def test_the_worker_bounds_each_rocksdb_database_and_reports_what_it_holds(tmp_path: Path) -> None:
    """Faust's defaults give every partition database a 2 GiB block cache and three 64 MiB write
    buffers; the worker's tables get the configured sizes, and the store reports RocksDB's memory."""
    from consumers.scoring.config import WorkerConfig
    from consumers.scoring.worker import ScoringWorker

    config = WorkerConfig(bootstrap_servers="127.0.0.1:1", model_store="file:///nonexistent", data_dir=str(tmp_path),
                          rocksdb_block_cache_mib=8, rocksdb_write_buffer_mib=4)  # fmt: skip
    worker = ScoringWorker(config)
    for table in worker.tables.values():
        options = table.data.rocksdb_options
        assert (options.block_cache_size, options.write_buffer_size, options.max_write_buffer_number) == (
            8 << 20,
            4 << 20,
            2,
        )
    store = worker.state.stores[CARD_TABLE]
    assert isinstance(store, RocksDBStore)
    assert store.memory() == {"memtables": 0, "block_cache": 0, "table_readers": 0}  # no database open yet
    store.put_many([(f"card_{i}".encode(), b"x" * 500, i % 3) for i in range(3000)])
    held = store.memory()
    assert 1_000_000 < held["memtables"] < 3 * 2 * (4 << 20), held  # three databases, each within its two buffers
