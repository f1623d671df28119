"""The worker's state storage: one interface, a memory and a RocksDB implementation.

The processor reads state through :class:`StateAccess` (``get(table, key, partition)``); the
worker's completion writes a batch's :class:`~consumers.scoring.records.StateWrite` values after
they are durable in the changelog. Every key lives in exactly one changelog partition (a card's
partition, or the partition of a terminal partial's single writer), and reads and writes name it.

Why by explicit partition: Faust's RocksDB store (one database per partition) picks the database
from the *current event*; in a batch that is whichever event the stream yielded last, so a plain
``table[key] = value`` would file a card under another partition's database and a read would miss
it. :class:`RocksDBStore` is the one place that uses the store's private ``_db_for_partition``;
the contract tests (``tests/consumers/scoring/test_state_store.py``) run the same cases against
both implementations, and the RocksDB restart test fails without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from faust.types import TP

from consumers.scoring.records import CARD_TABLE, TERMINAL_TABLE, StateWrite

__all__ = [
    "ROCKSDB_MEMORY",
    "MemoryStore",
    "RocksDBStore",
    "StateStore",
    "TableState",
    "rocksdb_options",
    "table_store",
]

#: what RocksDB holds in memory, by the property that reports it
ROCKSDB_MEMORY = {
    "memtables": "rocksdb.cur-size-all-mem-tables",
    "block_cache": "rocksdb.block-cache-usage",
    "table_readers": "rocksdb.estimate-table-readers-mem",
}


def rocksdb_options(block_cache_mib: int, write_buffer_mib: int) -> dict[str, int]:
    """Faust's RocksDB store options (``Table(options=...)``) for one partition database's memory:
    a block cache and two write buffers of the given sizes.

    >>> options = rocksdb_options(16, 8)
    >>> options["block_cache_size"] >> 20, options["write_buffer_size"] >> 20, options["max_write_buffer_number"]
    (16, 8, 2)
    """
    return {
        "block_cache_size": block_cache_mib << 20,
        "block_cache_compressed_size": 0,  # the compressed cache is python-rocksdb's, never used with rocksdict
        "write_buffer_size": write_buffer_mib << 20,
        "max_write_buffer_number": 2,
    }


class StateStore(ABC):
    """One table's local store, read and written by the changelog partition each key lives in."""

    @abstractmethod
    def get(self, key: bytes, partition: int) -> bytes | None:
        """The value of ``key`` (stored in ``partition``), or None."""

    @abstractmethod
    def put_many(self, writes: Iterable[tuple[bytes, bytes, int]]) -> None:
        """Store ``(key, value, partition)`` writes in order: a later write of a key wins."""

    @abstractmethod
    def set_changelog_offset(self, partition: int, offset: int) -> None:
        """Note that the store holds the changelog partition up to ``offset``."""

    @abstractmethod
    def changelog_offset(self, partition: int) -> int | None:
        """How far the store is known to match the changelog partition (None: restore it all)."""


class MemoryStore(StateStore):
    """A mapping (Faust's memory store, or a dict): partitions share it; nothing survives the process."""

    def __init__(self, data: MutableMapping[bytes, bytes] | None = None) -> None:
        self.data: MutableMapping[bytes, bytes] = {} if data is None else data

    def get(self, key: bytes, partition: int) -> bytes | None:
        return self.data.get(key)

    def put_many(self, writes: Iterable[tuple[bytes, bytes, int]]) -> None:
        data = self.data
        for key, value, _ in writes:
            data[key] = value

    def set_changelog_offset(self, partition: int, offset: int) -> None:
        """Nothing to note: a memory store is restored from the whole changelog on every start."""

    def changelog_offset(self, partition: int) -> int | None:
        return None


class RocksDBStore(StateStore):
    """Faust's RocksDB table store (one database per partition), by explicit partition."""

    def __init__(self, store: Any, changelog_topic: str) -> None:
        self.store, self.changelog_topic = store, changelog_topic

    def get(self, key: bytes, partition: int) -> bytes | None:
        value: bytes | None = self.store._db_for_partition(partition).get(key)
        return value

    def put_many(self, writes: Iterable[tuple[bytes, bytes, int]]) -> None:
        """One RocksDB write batch per partition."""
        from rocksdict import WriteBatch

        batches: dict[int, Any] = {}
        for key, value, partition in writes:
            if partition not in batches:
                batches[partition] = WriteBatch(raw_mode=True)
            batches[partition].put(key, value)
        for partition, batch in batches.items():
            self.store._db_for_partition(partition).write(batch)

    def set_changelog_offset(self, partition: int, offset: int) -> None:
        """A restart on this machine then reads only the changelog after ``offset``."""
        self.store.set_persisted_offset(TP(self.changelog_topic, partition), offset)

    def changelog_offset(self, partition: int) -> int | None:
        offset: int | None = self.store.persisted_offset(TP(self.changelog_topic, partition))
        return offset

    def memory(self) -> dict[str, int]:
        """Bytes RocksDB holds in memory over this table's open partition databases, by kind."""
        totals = dict.fromkeys(ROCKSDB_MEMORY, 0)
        for db in list(self.store._dbs.values()):
            for kind, name in ROCKSDB_MEMORY.items():
                totals[kind] += int(db.property_int_value(name) or 0)
        return totals


def table_store(table: Any) -> StateStore:
    """The :class:`StateStore` over a Faust table's local store (RocksDB or memory)."""
    from faust.stores.rocksdb import Store as FaustRocksDBStore

    if isinstance(table.data, FaustRocksDBStore):
        return RocksDBStore(table.data, table.changelog_topic.get_topic_name())
    return MemoryStore(table.data)


class TableState:
    """:class:`StateAccess` over the card and terminal stores, and where a batch's writes land."""

    def __init__(self, stores: Mapping[str, StateStore]) -> None:
        self.stores = dict(stores)

    @classmethod
    def in_memory(cls) -> TableState:
        """Both tables in dicts: unit tests, offline runs and benchmarks of the processor.

        >>> state = TableState.in_memory()
        >>> state.apply([StateWrite(CARD_TABLE, b"card_1", b"state", 2)])
        >>> state.get(CARD_TABLE, b"card_1", 2), state.get(TERMINAL_TABLE, b"card_1", 2)
        (b'state', None)
        """
        return cls({CARD_TABLE: MemoryStore(), TERMINAL_TABLE: MemoryStore()})

    def get(self, table: str, key: bytes, partition: int) -> bytes | None:
        return self.stores[table].get(key, partition)

    def apply(self, writes: Iterable[StateWrite]) -> None:
        """Store a batch's writes, each table's in one call."""
        by_table: dict[str, list[tuple[bytes, bytes, int]]] = {name: [] for name in self.stores}
        for table, key, value, partition in writes:
            by_table[table].append((key, value, partition))
        for table, table_writes in by_table.items():
            if table_writes:
                self.stores[table].put_many(table_writes)

    def set_changelog_offsets(self, offsets: Mapping[tuple[str, int], int]) -> None:
        for (table, partition), offset in offsets.items():
            self.stores[table].set_changelog_offset(partition, offset)
