"""The faust-streaming app around :class:`ScoringProcessor` (``fraudstream worker``).

Faust runs the consumer group, the tables and their changelogs, recovery, rebalances and offset
commits. One agent (concurrency 1: higher concurrency can commit past unprocessed messages, faust
issue 606) subscribes the transactions and labels topics; their records reach it a fetch at a time
through :class:`~consumers.scoring.feed.BatchFeed` instead of Faust's per-event path, which alone
caps a process at 10,000-12,000 records/s on the project's machine (see ``feed.py``). Batches
hold up to ``batch_size`` records and wait at most ``batch_wait`` to fill, the size and time bound
``take_events`` would give.

Per batch the agent runs the processor, then writes everything the batch produced through one
confluent-kafka producer: decisions, dead letters, and each changed state key once, to the
table's changelog topic in the partition that owns it. Faust's own producer sends one message per
event-loop turn, which held the worker near 1,500 events/s; librdkafka batches in C. A batch is
*completed* once the producer has delivered all of it: only then are its state writes put in
the table's local store and its offsets acked, so nothing is committed before its outputs and
state are durable. Completion runs while the next batch is processed (at most two batches in
flight, completed in order).

Delivery is at-least-once: after a crash the uncommitted tail is processed again; the state
ignores transactions and labels it has already applied, so features and scores repeat exactly and
a duplicate decision is identical to the first except for ``decision_time``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import faust
import numpy as np
from confluent_kafka import Producer
from faust.types import TP

from consumers.scoring import metrics
from consumers.scoring.feed import BatchFeed, FetchedBatch, batch_consumer_class
from consumers.scoring.model_watch import ModelWatch
from consumers.scoring.processor import (
    CARD_TABLE,
    TERMINAL_TABLE,
    BatchResult,
    InputEvent,
    OutputMessage,
    ScoringProcessor,
    StateAccess,
)
from features.definitions import feature_names
from fraudstream.kafka import PRODUCER_DEFAULTS
from fraudstream.settings import TopicNames
from registry import LoadedModel, ModelRegistry

log = logging.getLogger("fraudstream.worker")
P = TypeVar("P")


@dataclass(frozen=True)
class WorkerConfig:
    bootstrap_servers: str
    topics: TopicNames
    model_store: str
    app_id: str = "fraudstream-scoring"
    partitions: int = 3
    store: str = "memory://"
    #: most records in a batch: the bound that matters only when the worker is behind (catching
    #: up, or over capacity); at lower rates the fetch wait closes batches first (BENCHMARKS.md)
    batch_size: int = 2000
    #: how long a batch waits for more records after its first one was fetched (BENCHMARKS.md)
    batch_wait: float = 0.005
    reload_interval: float = 2.0
    commit_interval: float = 1.0
    #: A crashed worker's partitions move after this long (Faust's default of 60 s is slow to fail over).
    session_timeout: float = 10.0
    shadow: str | None = None
    data_dir: str = ".fraudstream/worker"
    #: how long the broker may hold a fetch until ``fetch_min_bytes`` have arrived (Faust hard-codes 1.5 s)
    fetch_max_wait: float = 0.02
    #: the data a fetch waits for (up to ``fetch_max_wait``): at low rates one fetch per batch
    #: instead of one per record or two (BENCHMARKS.md, session 7)
    fetch_min_bytes: int = 64 * 1024
    #: XGBoost threads for scoring and reason codes (``prepare_model``)
    scoring_threads: int = 1


class PartitionStore:
    """One Faust table's local store, read and written by explicit partition.

    Faust's RocksDB store (one database per partition) picks the database from the *current
    event*; in a batch that is whichever event the stream yielded last, so a plain
    ``table[key] = value`` would file a card under another partition's database, and a read would
    miss it. The memory store is one dict and ignores the partition. ``_db_for_partition`` is
    the RocksDB store's private accessor: this class is the one place that uses it, and the
    RocksDB integration test (restart from the stores) fails without it.
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self.store = table.data
        self.rocksdb = hasattr(self.store, "_db_for_partition")

    def get(self, key: bytes, partition: int) -> bytes | None:
        if self.rocksdb:
            value: bytes | None = self.store._db_for_partition(partition).get(key)
            return value
        return self.store.get(key)  # type: ignore[no-any-return]

    def put_many(self, writes: list[tuple[bytes, bytes, int]]) -> None:
        """Store ``(key, value, partition)`` writes: one RocksDB write batch per partition."""
        if not self.rocksdb:
            for key, value, _ in writes:
                self.store[key] = value
            return
        from rocksdict import WriteBatch

        batches: dict[int, Any] = {}
        for key, value, partition in writes:
            if partition not in batches:
                batches[partition] = WriteBatch(raw_mode=True)
            batches[partition].put(key, value)
        for partition, batch in batches.items():
            self.store._db_for_partition(partition).write(batch)

    def set_changelog_offset(self, partition: int, offset: int) -> None:
        """Remember how far the local store matches the changelog, so a restart on this machine
        reads only the changelog after ``offset`` instead of all of it (RocksDB only)."""
        if self.rocksdb:
            self.store.set_persisted_offset(TP(self.table.changelog_topic.get_topic_name(), partition), offset)


class TableState:
    """:class:`StateAccess` over the two Faust tables."""

    def __init__(self, stores: dict[str, PartitionStore]) -> None:
        self.stores = stores

    def get(self, table: str, key: bytes, partition: int) -> bytes | None:
        return self.stores[table].get(key, partition)


def prepare_model(model: LoadedModel, threads: int) -> None:
    """Check a model loaded for scoring and set XGBoost's threads for this process.

    One thread by default: the scoring loop is one thread, and on a small machine the other cores
    serve the broker and librdkafka; XGBoost's second thread contended with them. On the
    project's 2-core machine the worker ran 9,282 events/s with one thread and 7,872 with two
    (one run each; BENCHMARKS.md, which also has the isolated timings and why they are mixed).
    """
    expected = list(feature_names())
    if model.feature_names != expected:
        raise ValueError(
            f"model {model.version} was trained on features {model.feature_names}, but this worker computes "
            f"{expected}; train a model with this version of fraudstream"
        )
    model.booster.set_param({"nthread": threads})
    # the reason codes' DMatrix too: built with every core by default, its thread team spun against
    # the broker's for ~0.2-0.8 ms a batch on the 2-core machine (session 7)
    model.threads = threads


def tune_gc() -> None:
    """Collect the young generations 100x less often and full collections rarely.

    The worker keeps a large, long-lived state (cards, terminal partials: hundreds of thousands of
    small containers) that refcounting frees and that has no reference cycles; with the default
    thresholds the cyclic collector walked it again and again, costing pauses of hundreds of ms
    per batch. Measured with ``bench/worker.py`` (BENCHMARKS.md): throughput about 3,300 ->
    4,700 events/s, p99 at 1,000/s 963 -> 438 ms. Cycles that asyncio and Faust create are still
    collected by the young-generation passes.
    """
    gc.set_threshold(100_000, 50, 100)


def install_batch_feed(app: faust.App, feed: BatchFeed, fetch_max_wait_ms: int, fetch_min_bytes: int) -> None:
    """Give ``app`` a Kafka consumer that hands the source topics to ``feed`` a fetch at a time
    (``consumers/scoring/feed.py``) and asks the broker to hold a fetch until ``fetch_min_bytes``
    have arrived, ``fetch_max_wait_ms`` at most.

    The wait: faust-streaming's aiokafka driver creates its consumer with
    ``fetch_max_wait_ms=1500``. aiokafka may leave partitions that still have buffered records
    out of the next fetch, so that fetch may cover only quiet partitions (labels, changelogs); the
    broker then holds it for the full wait and the busy partitions are not fetched meanwhile: the
    worker stalled 1-1.5 s about every second at 1,000 events/s.

    The minimum: with aiokafka's default of one byte, the broker answers as soon as one record
    arrives, so at 1,000 events/s the worker fetched every record or two; those fetches kept the
    worker at 45-80 % of a core and the broker at 30-120 % (BENCHMARKS.md, session 7). A fetch
    that waits for a batch's worth (or ``fetch_max_wait_ms``) batches in the broker instead;
    under load the data is there and the fetch returns at once. A test checks both take effect.
    """
    from faust.transport.drivers import aiokafka as driver

    consumer_class = batch_consumer_class(driver.Consumer, feed, fetch_max_wait_ms, fetch_min_bytes)
    app.transport.Consumer = consumer_class  # type: ignore[misc]  # this app's transport only


#: Dead letters logged one by one per batch; the rest of a batch is one summary line (a flood of
#: garbage must not become a flood of logs: the DLQ topic and its counter hold every one).
DEAD_LETTERS_LOGGED_PER_BATCH = 10


def log_dead_letters(dead_letters: list[OutputMessage], reasons: list[str]) -> None:
    """A warning per dead letter, with where it came from; never the payload or its key."""
    for message, reason in zip(dead_letters[:DEAD_LETTERS_LOGGED_PER_BATCH], reasons, strict=False):
        headers = {name: value.decode(errors="replace") for name, value in message.headers}
        log.warning(
            f"dead-lettered: {reason}",
            extra={
                "reason": reason,
                "topic": headers.get("source_topic"),
                "partition": int(headers.get("source_partition", -1)),
                "offset": int(headers.get("source_offset", -1)),
                "error": headers.get("error_message", "")[:300],
            },
        )
    if len(dead_letters) > DEAD_LETTERS_LOGGED_PER_BATCH:
        more = len(dead_letters) - DEAD_LETTERS_LOGGED_PER_BATCH
        log.warning(f"dead-lettered {more} more events in this batch", extra={"dead_letters": more})


def drop_faust_monitor(app: faust.App) -> None:
    """Start ``app`` without Faust's built-in Monitor sensor.

    The Monitor records four hooks per event (counters, per-partition dicts, timestamps) for
    Faust's web views, which the worker disables; its metrics are ours, in Prometheus. Faust adds
    the Monitor when the app starts (``on_init_dependencies``), so it is removed right there.
    """
    add_dependencies = app.on_init_dependencies

    def without_monitor() -> Any:
        dependencies = add_dependencies()
        app.sensors.remove(app.monitor)
        return dependencies

    app.on_init_dependencies = without_monitor  # type: ignore[method-assign]


class BatchDelivery:
    """The delivery reports of one batch's outputs (decisions, dead letters, changelog writes).

    A batch is complete when librdkafka has reported every message it produced, not when the
    producer's whole queue is empty: ``Producer.flush`` also waits for the next batch's messages,
    produced meanwhile, and held the worker up to a batch's processing time per batch. Only the
    completing batch's thread polls the producer, so only it runs these callbacks.
    """

    __slots__ = ("changelog_offsets", "errors", "expected", "reported")

    def __init__(self) -> None:
        self.expected = 0  # set once all of the batch is produced, before anyone waits
        self.reported = 0
        self.errors: list[str] = []
        #: (table, changelog partition) -> offset of the batch's last write there
        self.changelog_offsets: dict[tuple[str, int], int] = {}

    def on_delivery(self, error: Any, message: Any) -> None:
        self.reported += 1
        if error is not None:
            self.errors.append(f"{message.topic()}[{message.partition()}]: {error}")

    def on_changelog_delivery(self, table: str) -> Callable[[Any, Any], None]:
        """The callback of the batch's last write to a changelog partition: also notes its offset."""

        def report(error: Any, message: Any) -> None:
            self.on_delivery(error, message)
            if error is None:
                self.changelog_offsets[(table, message.partition())] = message.offset()

        return report

    def wait(self, producer: Any, timeout: float) -> bool:
        """Poll ``producer`` until every message of the batch is reported (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while self.reported < self.expected:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            producer.poll(min(left, 0.1))
        return True


async def pipelined(
    batches: AsyncIterator[FetchedBatch],
    produce: Callable[[FetchedBatch], P],
    complete: Callable[[FetchedBatch, P], Awaitable[None]],
    finished: Callable[[FetchedBatch], None],
) -> None:
    """Process and produce batch N+1 while batch N's outputs are delivered.

    ``produce`` (synchronous: features, scoring, handing outputs to the producer) runs in the loop;
    ``complete`` (wait for the delivery reports, local store, ack) runs as a task that starts at
    once, so its wait overlaps the next batch's processing. Completions run in batch order and at
    most two batches are in flight. ``finished`` releases a batch whose ``produce`` failed.
    """
    previous: asyncio.Task[None] | None = None
    async for batch in batches:
        try:
            pending = produce(batch)
        except BaseException:
            finished(batch)
            raise
        if previous is not None:
            await asyncio.shield(previous)  # completions in batch order; bounds the pipeline
        previous = asyncio.ensure_future(complete(batch, pending))
        # let it start now: a task runs only when the loop yields, and the next batch may be
        # queued already, so without this its wait began after that batch was processed
        await asyncio.sleep(0)


def build_app(config: WorkerConfig) -> faust.App:
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    app = faust.App(
        config.app_id,
        broker=f"kafka://{config.bootstrap_servers}",
        store=config.store,
        datadir=config.data_dir,
        topic_partitions=config.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=config.commit_interval,
        broker_session_timeout=config.session_timeout,
        broker_heartbeat_interval=min(3.0, config.session_timeout / 3),
        web_enabled=False,
        producer_linger_ms=5,
        stream_buffer_maxsize=max(4096, config.batch_size * 4),
        table_cleanup_interval=3600.0,
    )
    feed = BatchFeed([config.topics.labels, config.topics.transactions], config.batch_size)  # labels first
    install_batch_feed(app, feed, int(config.fetch_max_wait * 1000), config.fetch_min_bytes)
    drop_faust_monitor(app)
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(config.topics.transactions, config.topics.labels, **raw)
    binary: dict[str, Any] = {"key_type": bytes, "value_type": bytes}  # raw bytes in and out of changelogs
    cards = app.Table("card-state", partitions=config.partitions, default=None, **binary)
    terminals = app.Table("terminal-state", partitions=config.partitions, default=None, **binary)

    def on_model(model: LoadedModel) -> None:
        prepare_model(model, config.scoring_threads)
        metrics.set_model(model.version)

    registry = ModelRegistry(config.model_store)
    shadow = None
    if config.shadow == "river":
        from consumers.scoring.shadow import RiverShadow

        shadow = RiverShadow()
    elif config.shadow is not None:
        raise ValueError(f"unknown shadow model {config.shadow!r}; use 'river'")
    state: dict[str, Any] = {}
    fast = Producer({"bootstrap.servers": config.bootstrap_servers, **PRODUCER_DEFAULTS, "linger.ms": 2})
    stores = {CARD_TABLE: PartitionStore(cards), TERMINAL_TABLE: PartitionStore(terminals)}
    changelog_topics = {name: store.table.changelog_topic.get_topic_name() for name, store in stores.items()}

    def clear_cache(*args: Any, **kwargs: Any) -> None:
        processor = state.get("processor")
        if processor is not None:
            processor.cache.clear()  # another worker may have written these keys meanwhile

    app.on_partitions_revoked.connect(clear_cache)
    app.on_partitions_assigned.connect(clear_cache)

    @app.agent(source, concurrency=1)
    async def score(stream: Any) -> None:
        """Subscribes the source topics; their records arrive through ``feed``, never ``stream``."""
        if "processor" not in state:
            watch = ModelWatch(registry, interval=config.reload_interval, on_change=on_model)
            state["processor"] = ScoringProcessor(config.topics, watch, config.partitions, shadow=shadow)
        processor: ScoringProcessor = state["processor"]
        table_state: StateAccess = TableState(stores)
        # Batch N+1 reads batch N's states from the processor's cache, which holds them until
        # then (its LRU bound, 500,000 keys, is far above two batches' keys), not from the local
        # store, which N's completion writes later.
        await pipelined(
            feed.batches(config.batch_wait),
            lambda batch: produce_batch(processor, table_state, batch.events),
            complete_batch,
            feed.finished,
        )

    @dataclass
    class Pending:
        """A batch whose outputs are produced and not yet known to be delivered."""

        result: BatchResult
        by_table: dict[str, list[tuple[bytes, bytes, int]]]
        delivery: BatchDelivery
        started: float

    def produce_batch(processor: ScoringProcessor, table_state: StateAccess, events: list[InputEvent]) -> Pending:
        started = time.perf_counter()
        # before the batch: a promotion applies to every batch that starts after it is seen
        if processor.models.maybe_reload():
            metrics.MODEL_RELOADS.inc()
        result = processor.process(events, table_state)
        delivery = BatchDelivery()
        report = delivery.on_delivery
        for message in result.decisions:
            fast.produce(config.topics.decisions, message.value, message.key, timestamp=message.timestamp_ms or 0,
                         on_delivery=report)  # fmt: skip
        for message, reason in zip(result.dead_letters, result.dead_letter_reasons, strict=True):
            fast.produce(config.topics.dlq, message.value or b"", message.key, headers=list(message.headers),
                         on_delivery=report)  # fmt: skip
            metrics.DEAD_LETTERS.labels(reason).inc()
        log_dead_letters(result.dead_letters, result.dead_letter_reasons)
        # only a changelog partition's last record reports its offset: records arrive in order
        last_write = {(table, partition): i for i, (table, _, _, partition) in enumerate(result.state_writes)}
        by_table: dict[str, list[tuple[bytes, bytes, int]]] = {name: [] for name in stores}
        for i, (table_name, key, value, partition) in enumerate(result.state_writes):
            by_table[table_name].append((key, value, partition))
            topic = changelog_topics[table_name]
            on_delivery = (
                delivery.on_changelog_delivery(table_name) if last_write[(table_name, partition)] == i else report
            )
            fast.produce(topic, value, key, partition=partition, on_delivery=on_delivery)
        delivery.expected = len(result.decisions) + len(result.dead_letters) + len(result.state_writes)
        return Pending(result, by_table, delivery, started)

    async def complete_batch(batch: FetchedBatch, pending: Pending) -> None:
        try:
            # durable before the batch is acked (and Faust later commits its offsets)
            delivery = pending.delivery
            delivered = await asyncio.get_running_loop().run_in_executor(None, delivery.wait, fast, 60.0)
            if not delivered or delivery.errors:
                # Raising would still leave the offsets unacked, but a worker that cannot deliver
                # should stop: leaving at once keeps them uncommitted for the restarted worker.
                log.critical(
                    f"{delivery.expected - delivery.reported} outputs unreported after 60 s, "
                    f"{len(delivery.errors)} failed (first: {delivery.errors[:1]}); "
                    "exiting before offsets are committed"
                )
                os._exit(70)
            # The local store follows the changelog, never runs ahead of it: a store restored on
            # restart then holds only what the changelog holds (the processor's cache serves reads
            # of these keys meanwhile).
            for table_name, writes in pending.by_table.items():
                stores[table_name].put_many(writes)
            for (table_name, partition), offset in delivery.changelog_offsets.items():
                stores[table_name].set_changelog_offset(partition, offset)
            feed.ack(batch)  # Faust's next commit includes these offsets
        finally:
            feed.finished(batch)
        result = pending.result
        now_ms = time.time() * 1000
        event_ms = np.fromiter((scored.event.timestamp_ms for scored in result.scored), float, len(result.scored))
        metrics.observe_many(metrics.EVENT_TO_DECISION, np.maximum(0.0, now_ms - event_ms) / 1000)
        for outcome, count in Counter(scored.decision for scored in result.scored).items():
            metrics.DECISIONS.labels(outcome).inc(count)
        metrics.EVENTS.labels("transaction").inc(len(result.scored))
        metrics.EVENTS.labels("label").inc(result.labels)
        metrics.BATCH_SIZE.observe(len(batch.events))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - pending.started)
        if shadow is not None:
            shadow.export_metrics()

    @app.timer(config.reload_interval)  # type: ignore[untyped-decorator]
    async def follow_production_alias() -> None:
        """Also while idle, so the model metric and the next batch are current."""
        processor = state.get("processor")
        if processor is not None and processor.models.maybe_reload():
            metrics.MODEL_RELOADS.inc()

    return app
