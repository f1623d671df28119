"""The worker's configuration: one frozen, validated model whose defaults are the only defaults.

The CLI (``fraudstream worker``) fills in what the shared settings say (broker, topics, model
store, partitions, state directory) and passes a tuning flag only when the user gave it. Every
duration is in seconds. The start-up log prints the effective configuration.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fraudstream.settings import KafkaSecurity, TopicNames

__all__ = ["WorkerConfig"]


class WorkerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str
    security: KafkaSecurity = Field(default_factory=KafkaSecurity)
    topics: TopicNames = Field(default_factory=TopicNames)
    #: Confluent framing through this schema registry for what the worker reads and writes (None: single-object)
    schema_registry_url: str | None = None
    model_store: str
    #: Faust app id: the consumer group, and the prefix of the tables' changelog topics
    app_id: str = Field(default="fraudstream-scoring", min_length=1)
    partitions: int = Field(default=3, ge=1)
    #: Faust table store: ``rocksdb://`` (production) or ``memory://`` (tests)
    store: Literal["memory://", "rocksdb://"] = "rocksdb://"
    #: most records in a batch: the bound that matters only when the worker is behind (catching
    #: up, or over capacity); at lower rates the fetch wait closes batches first (BENCHMARKS.md)
    batch_size: int = Field(default=2000, ge=1)
    #: how long a batch waits for more records after its first one was fetched (BENCHMARKS.md)
    batch_wait: float = Field(default=0.005, ge=0)
    #: how often the production alias is checked, while busy and while idle
    reload_interval: float = Field(default=2.0, gt=0)
    commit_interval: float = Field(default=1.0, gt=0)
    #: a crashed worker's partitions move after this long (Faust's default of 60 s is slow to fail over)
    session_timeout: float = Field(default=10.0, gt=0)
    #: other processes keeping a warm copy of each partition's tables for failover (Faust's
    #: ``table_standby_replicas``); each process then also applies the others' changelog writes
    #: (the cost, and the failover time either way: BENCHMARKS.md)
    standby_replicas: int = Field(default=1, ge=0)
    #: a shadow model scored beside the champion: ``river``, a registry alias (``staging``) or a
    #: model version, or none
    shadow: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    #: the local table stores (RocksDB): one folder per worker process (the CLI claims a free one
    #: under ``$FRAUDSTREAM_HOME/worker/<app-id>``: ``state_dir.py``)
    data_dir: str = ".fraudstream/worker"
    #: how long the broker may hold a fetch until ``fetch_min_bytes`` have arrived (Faust hard-codes 1.5 s)
    fetch_max_wait: float = Field(default=0.02, ge=0)
    #: the data a fetch waits for (up to ``fetch_max_wait``): at low rates one fetch per batch
    #: instead of one per record or two (BENCHMARKS.md)
    fetch_min_bytes: int = Field(default=64 * 1024, ge=1)
    #: how much later than a record of one partition a record its producer wrote *before* it may
    #: become visible on another partition: the producers' ``linger.ms`` (20 ms for this project's)
    #: and a margin. An idle partition holds the others back this long (``alignment.py``).
    producer_skew: float = Field(default=0.05, ge=0)
    #: records a source partition may hold back while it waits for the others to reach them in
    #: event time (``alignment.py``); beyond this the partition is paused
    held_per_partition: int = Field(default=10_000, ge=1)
    #: XGBoost threads for scoring and reason codes (``prepare_model``)
    scoring_threads: int = Field(default=1, ge=1)
    #: RocksDB memory of each table partition's database (card and terminal tables, owned and
    #: standby partitions): its block cache, and each of its two write buffers (memtables). Faust's
    #: defaults (2 GiB of block cache and 3 x 64 MiB of write buffers per database) let a worker
    #: grow for hours; the worker's own cache of decoded states serves the hot reads (BENCHMARKS.md)
    rocksdb_block_cache_mib: int = Field(default=16, ge=1)
    rocksdb_write_buffer_mib: int = Field(default=16, ge=1)
    #: decoded card and terminal states kept between batches (an LRU bound on entries)
    state_cache_entries: int = Field(default=500_000, ge=1)
