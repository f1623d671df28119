"""The scoring worker (``fraudstream worker``): its named parts, wired in one place.

=================  ==========================================  ===============================
part               what it does                                module
=================  ==========================================  ===============================
Faust app          consumer group, tables and their            ``app.py``
                   changelogs, recovery, rebalances, commits
source feed        the source topics' records, a fetch at a    ``feed.py``
                   time, as bounded batches; acks
alignment          holds each transaction until everything     ``alignment.py``
                   it reads is applied, in any process
state store        the card and terminal tables' local         ``state_store.py``
                   stores, by explicit partition
terminal view      every partition's terminal partials and     ``terminal_view.py``
                   watermarks, from the changelog
processor          decode, validate, features, score, decide   ``processor.py``
delivery           decisions, dead letters and changelog       ``delivery.py``
                   writes produced; per-batch delivery
model watch        the production model, reloaded when the     ``model_watch.py``
                   alias moves
metrics            Prometheus, once per batch                  ``metrics.py``
=================  ==========================================  ===============================

One agent (concurrency 1: higher concurrency can commit past unprocessed messages, faust issue
606) subscribes the transactions and labels topics; their records reach it through the feed, not
Faust's per-event stream. Per batch the worker runs the processor, hands the outputs to the
delivery, and *completes* the batch once everything is delivered: its state writes go into the
local stores and its offsets are acked, so nothing is committed before its outputs and state are
durable. Completion runs while the next batch is processed (:func:`pipelined`: at most two
batches in flight, completed in order).

Delivery is at-least-once: after a crash the uncommitted tail is processed again; the state
ignores transactions and labels it has already applied, so features and scores repeat exactly and
a duplicate decision is identical to the first except for ``decision_time``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import faust
from confluent_kafka import Producer

from consumers.scoring import metrics
from consumers.scoring.alignment import NEVER, EventTimeAligner, Watermark
from consumers.scoring.app import drop_faust_monitor, faust_app, install_batch_feed
from consumers.scoring.config import WorkerConfig
from consumers.scoring.delivery import OutputDelivery, PendingBatch
from consumers.scoring.feed import BatchFeed, FetchedBatch
from consumers.scoring.model_watch import ModelWatch, prepare_model
from consumers.scoring.processor import ScoringProcessor
from consumers.scoring.records import FAUST_TABLE_NAMES, TERMINAL_TABLE, Shadow
from consumers.scoring.state_store import RocksDBStore, TableState, rocksdb_options, table_store
from consumers.scoring.terminal_view import ChangelogView
from features.definitions import DEFAULT_CONFIG
from fraudstream.kafka import PRODUCER_DEFAULTS, client_config
from registry import LoadedModel, ModelRegistry
from schemas.confluent import SchemaRegistryError

__all__ = ["ScoringWorker", "build_app", "pipelined"]

log = logging.getLogger("fraudstream.worker")
P = TypeVar("P")

#: how long a batch's outputs may take to be reported delivered before the worker gives up
DELIVERY_TIMEOUT = 60.0
#: the exit code of a worker that stopped because it could not deliver (EX_SOFTWARE)
UNDELIVERED_EXIT_CODE = 70
#: the exit code of a worker that stopped because the schema registry cannot be reached (EX_UNAVAILABLE)
REGISTRY_EXIT_CODE = 69


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


def make_shadow(config: WorkerConfig, registry: ModelRegistry) -> Shadow | None:
    """The shadow ``config.shadow`` names: River's online model, or a registry alias or version."""
    if config.shadow is None:
        return None
    if config.shadow == "river":
        from consumers.scoring.shadow import RiverShadow

        return RiverShadow()
    from consumers.scoring.challenger import ChallengerShadow

    watch = ModelWatch(registry, interval=config.reload_interval, alias=config.shadow)
    return ChallengerShadow(watch, config.shadow, threads=config.scoring_threads)


class ScoringWorker:
    """The worker's parts (see the module docstring), built from one :class:`WorkerConfig`.

    ``app`` is the Faust app to run (``faust.Worker(worker.app).execute_from_commandline()``). The
    processor is made when the agent starts, since it loads the production model.
    """

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self.app: faust.App = faust_app(config)
        skew_ms = round(config.producer_skew * 1000)
        self.view: ChangelogView | None = None  # made when the agent starts: the changelog exists then
        self._last_head: tuple[str, int, int] | None = None
        #: partition number -> what is applied of it here: (transactions up to, idle at, labels up to, idle at)
        self._applied: dict[int, list[int]] = {}
        aligner = EventTimeAligner(
            config.topics.labels, max_held=config.held_per_partition, skew_ms=skew_ms,
            label_lag_ms=DEFAULT_CONFIG.label_lag_ms, partition_count=config.partitions, foreign=self._watermark,
        )  # fmt: skip
        self.feed = BatchFeed([config.topics.labels, config.topics.transactions], config.batch_size, aligner=aligner)
        install_batch_feed(self.app, self.feed, int(config.fetch_max_wait * 1000), config.fetch_min_bytes)
        drop_faust_monitor(self.app)
        binary: dict[str, Any] = {"key_type": bytes, "value_type": bytes}  # raw bytes in and out of changelogs

        def options() -> dict[str, Any]:  # one dict per table: Faust's store pops keys from it
            if config.store != "rocksdb://":
                return {}
            return {"options": rocksdb_options(config.rocksdb_block_cache_mib, config.rocksdb_write_buffer_mib)}

        self.tables = {
            table: self.app.Table(name, partitions=config.partitions, default=None, **binary, **options())
            for table, name in FAUST_TABLE_NAMES.items()
        }
        self.state = TableState({name: table_store(table) for name, table in self.tables.items()})
        self.changelogs = changelogs = {
            name: table.changelog_topic.get_topic_name() for name, table in self.tables.items()
        }
        self.feed.standby_stores = {changelogs[name]: self.state.stores[name] for name in self.tables}
        self.producer = Producer(
            client_config(config.security.client(config.bootstrap_servers), **{**PRODUCER_DEFAULTS, "linger.ms": 2})
        )
        self.delivery = OutputDelivery(self.producer, config.topics, changelogs)
        self.registry = ModelRegistry(config.model_store)
        self.shadow = make_shadow(config, self.registry)
        self.processor: ScoringProcessor | None = None
        self.app.on_partitions_revoked.connect(self._clear_cache)
        self.app.on_partitions_assigned.connect(self._on_assigned)
        source = self.app.topic(
            config.topics.transactions, config.topics.labels, key_serializer="raw", value_serializer="raw"
        )

        async def score(stream: Any) -> None:
            """Subscribes the source topics; their records arrive through the feed, never ``stream``."""
            await self.run()

        self.app.agent(source, concurrency=1)(score)
        self.app.timer(config.reload_interval)(self.follow_production_alias)
        self.app.timer(10.0)(self.log_waiting)
        self.app.timer(10.0)(self.export_memory)

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        if self.view is None:
            self.view = ChangelogView(
                client_config(self.config.security.client(self.config.bootstrap_servers)),
                self.changelogs[TERMINAL_TABLE],
                self.config.partitions,
            )  # fmt: skip
            loop = asyncio.get_running_loop()

            def wake() -> None:  # from the view's thread
                with contextlib.suppress(RuntimeError):  # the loop closed: the worker is stopping
                    loop.call_soon_threadsafe(self.feed.marks_moved.set)

            self.view.on_watermark = wake
            self.view.start()
        if self.processor is None:
            watch = ModelWatch(self.registry, interval=self.config.reload_interval, on_change=self._on_model)
            self.processor = ScoringProcessor(self.config.topics, watch, self.config.partitions, shadow=self.shadow,
                                              cache_size=self.config.state_cache_entries,
                                              registry_url=self.config.schema_registry_url)  # fmt: skip
            self.processor.foreign = self.view.get
            self._on_assigned()
        # Batch N+1 reads batch N's states from the processor's cache, which holds them until
        # then (its LRU bound is far above two batches' keys), not from the local store, which
        # N's completion writes later.
        await pipelined(self.feed.batches(self.config.batch_wait), self.produce_batch, self.complete_batch,
                        self.feed.finished)  # fmt: skip

    def produce_batch(self, batch: FetchedBatch) -> PendingBatch:
        processor = self.processor
        assert processor is not None
        started = time.perf_counter()
        # before the batch: a promotion applies to every batch that starts after it is seen
        if processor.models.maybe_reload():
            metrics.MODEL_RELOADS.inc()
        try:
            result = processor.process(batch.events, self.state)
        except SchemaRegistryError as exc:
            # the records are good but cannot be read or written now: leave their offsets
            # uncommitted for the restarted worker rather than dead-letter them
            log.critical(f"{exc}; exiting before offsets are committed")
            os._exit(REGISTRY_EXIT_CODE)
        return self.delivery.produce(result, started, self._watermarks_after(batch))

    async def complete_batch(self, batch: FetchedBatch, pending: PendingBatch) -> None:
        try:
            # durable before the batch is acked (and Faust later commits its offsets)
            loop = asyncio.get_running_loop()
            delivered = await loop.run_in_executor(None, self.delivery.wait, pending, DELIVERY_TIMEOUT)
            delivery = pending.delivery
            if not delivered or delivery.errors:
                # Raising would still leave the offsets unacked, but a worker that cannot deliver
                # should stop: leaving at once keeps them uncommitted for the restarted worker.
                log.critical(
                    f"{delivery.expected - delivery.reported} outputs unreported after {DELIVERY_TIMEOUT:g} s, "
                    f"{len(delivery.errors)} failed (first: {delivery.errors[:1]}); "
                    "exiting before offsets are committed"
                )
                os._exit(UNDELIVERED_EXIT_CODE)
            # The local store follows the changelog, never runs ahead of it: a store restored on
            # restart then holds only what the changelog holds (the processor's cache serves reads
            # of these keys meanwhile).
            self.state.apply(pending.result.state_writes)
            self.state.set_changelog_offsets(delivery.changelog_offsets)
            self.feed.ack(batch)  # Faust's next commit includes these offsets
        finally:
            self.feed.finished(batch)
        metrics.record_batch(pending.result, len(batch.events), pending.started)
        if self.feed.aligner is not None:
            metrics.HELD.set(self.feed.aligner.held)
            for kind in {kind for kind, _ in self.feed.aligner.waits()}:
                metrics.ALIGNMENT_WAITS.labels(kind).inc()
            now_ms = time.time() * 1000
            for kind, upto in zip(("own", "others"), self.feed.aligner.labels_complete_upto(), strict=True):
                if upto is not None and upto > NEVER:
                    metrics.LABEL_VISIBILITY_LAG.labels(kind).set((now_ms - upto) / 1000)
        if self.shadow is not None:
            self.shadow.export_metrics()

    # -- around the loop ---------------------------------------------------------------------

    async def follow_production_alias(self) -> None:
        """Also while idle, so the model metric and the next batch are current; and the shadow's
        comparison, whose figures a batch refreshes only every so often (the last labels of a
        stream would otherwise wait for the next batch to count)."""
        if self.processor is not None and self.processor.models.maybe_reload():
            metrics.MODEL_RELOADS.inc()
        if self.shadow is not None:
            self.shadow.export_metrics()

    async def log_waiting(self) -> None:
        """What the oldest held transaction waits on, once it has waited across two of these ticks."""
        aligner = self.feed.aligner
        head = aligner.oldest_held() if aligner is not None else None
        if head is not None and head == self._last_head and aligner is not None:
            log.info(f"alignment: {aligner.waiting_on()}")
        self._last_head = head

    async def export_memory(self) -> None:
        """What the state takes in memory: RocksDB's part, and the decoded states kept."""
        totals: dict[str, int] = {}
        for store in self.state.stores.values():
            if isinstance(store, RocksDBStore):
                for kind, value in store.memory().items():
                    totals[kind] = totals.get(kind, 0) + value
        for kind, value in totals.items():
            metrics.STATE_STORE_MEMORY.labels(kind).set(value)
        if self.processor is not None:
            metrics.STATE_CACHE_ENTRIES.set(len(self.processor.cache))

    def _on_model(self, model: LoadedModel) -> None:
        prepare_model(model, self.config.scoring_threads)
        metrics.set_model(model.version)

    def _clear_cache(self, *args: Any, **kwargs: Any) -> None:
        if self.processor is not None:
            self.processor.cache.clear()  # another worker may have written these keys meanwhile

    def _on_assigned(self, *args: Any, **kwargs: Any) -> None:
        """The partition numbers owned now: the others' terminal partials come from the view, and
        their watermarks matter; this process publishes its own only when others exist."""
        consumer = getattr(self.app, "_consumer", None)
        assignment = consumer.assignment() if consumer is not None else set()
        owned = frozenset(tp.partition for tp in assignment if tp.topic == self.config.topics.transactions)
        self.feed.shared = len(owned) < self.config.partitions
        if self.view is not None:
            self.view.set_partitions(p for p in range(self.config.partitions) if p not in owned)
        self._applied = {}  # what this process publishes starts afresh with its partitions
        metrics.OWNED_PARTITIONS.set(len(owned))
        if self.processor is not None:
            self.processor.set_owned(owned)

    def _watermarks_after(self, batch: FetchedBatch) -> dict[int, Watermark] | None:
        """What is applied of each owned partition once ``batch`` is (its labels and its
        transactions may come from different releases: batches of labels go first)."""
        if batch.label_marks is None and batch.tx_marks is None:
            return None
        applied = self._applied
        for marks, at in ((batch.tx_marks, 0), (batch.label_marks, 2)):
            for partition, (upto, idle) in (marks or {}).items():
                slot = applied.setdefault(partition, [NEVER, NEVER, NEVER, NEVER])
                slot[at], slot[at + 1] = max(slot[at], upto), max(slot[at + 1], idle)
        return {partition: Watermark(*slot) for partition, slot in applied.items()}

    def _watermark(self, partition: int) -> Any:
        return None if self.view is None else self.view.watermark(partition)


def build_app(config: WorkerConfig) -> faust.App:
    """The Faust app of a :class:`ScoringWorker` built from ``config``."""
    return ScoringWorker(config).app
