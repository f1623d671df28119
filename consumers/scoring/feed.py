"""The worker's records, a fetch at a time, past faust-streaming's per-event path.

faust-streaming delivers each record on its own: the fetcher wraps it in a ``ConsumerMessage``,
awaits the conductor through ``Service.wait_first`` (four futures and an ``asyncio.wait`` per
record), the conductor decodes it into an ``Event`` and queues it, and ``take_events`` gets one
event per event-loop turn. That per-record path, with no work at all, is slower than the scoring
the worker must sustain, while the fetches it starts from arrive an order of magnitude faster
(``bench/faust_consume.py``; the figures are in BENCHMARKS.md).

:class:`BatchConsumer` keeps everything else of Faust's consumer (group membership, assignment,
table recovery, pausing source partitions until the tables are recovered, flow control during
rebalances, offset commits) and changes one thing: records of the *source topics* go, a whole
fetch at a time, into a :class:`BatchFeed` as :class:`~consumers.scoring.processor.InputEvent`
lists; a standby changelog partition's records are applied to its store a fetch at a time
(:func:`apply_standby`); every other record (changelogs during recovery) takes Faust's own path.

What Faust did per event is done per batch:

* **acks**: :meth:`BatchFeed.ack` marks a batch's offsets acknowledged in the consumer's
  bookkeeping exactly as ``Consumer.ack`` does per message, so Faust commits them; the worker
  calls it only after the batch's outputs are durable;
* **rebalance and shutdown**: Faust calls ``Consumer.wait_empty`` before it commits on revocation
  and on stop; :class:`BatchConsumer` first drops the queued batches (Faust seeks every assigned
  partition back to its committed offset after a rebalance, as it clears its own stream buffers)
  and waits for the batches in flight to be acked;
* **after an assignment** Faust resumes the source partitions *before* it seeks them to their
  committed offsets (end of table recovery), so what a fetch returns in between (read from the
  committed offsets too: a revocation forgets the read offsets) comes again after the seek. Those
  records may be processed twice (a duplicate decision is identical); the aligner drops what it
  holds of a partition from the offset it goes back to (``EventTimeAligner.add``), so a record
  never waits behind its own later copy. Dropping the fetch instead is not safe: the seek runs in
  the consumer's thread, and a fetch from the new positions may return before it is reported done;
* **order**: within a fetch, the records of each partition stay in offset order, and the
  source topics come in the feed's order (the worker puts labels first: a label's features count
  only once it is reported, so applying it early is harmless, and a transaction scored before a
  label it should have seen is not);
* **gaps** in offsets (compaction, transaction markers) are registered with ``Consumer._add_gap``
  as Faust's fetcher does, so commits move past them.

This reaches into private parts of faust-streaming 0.15 (``_drain_messages``,
``_wait_next_records``, ``_acked``, ``_acked_index``, ``_read_offset``, ``_add_gap``); they are
used in this module only, pyproject pins the minor version, and the tests in
``tests/consumers/test_feed.py`` and the worker's integration tests (commits, kill -9, restart,
rebalance onto a second worker) fail if any of them changes meaning.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from faust.types import TP
from faust.types.tuples import ack_lock

from consumers.scoring import metrics
from consumers.scoring.alignment import NEVER, EventTimeAligner, Watermark
from consumers.scoring.records import InputEvent
from consumers.scoring.state_store import StateStore

#: how often watermarks are published while no records are released (other processes wait on them)
WATERMARK_INTERVAL = 0.05


@dataclass
class FetchedBatch:
    """Up to ``batch_size`` source records of one fetch, in offset order per partition."""

    epoch: int
    events: list[InputEvent]
    #: offsets per partition, to acknowledge when the batch's outputs are durable
    offsets: dict[TP, list[int]] = field(default_factory=dict)
    #: ``time.monotonic()`` when its first records were fetched
    fetched_at: float = field(default_factory=time.monotonic)
    #: 0 for a batch of labels only (it goes before queued batches of transactions: a label may be
    #: applied early, and the other processes wait on the labels applied here), else 1
    priority: int = 1
    #: per partition number owned here, what is applied once this batch is: (up to, idle at) of
    #: its labels and of its transactions; published for the other worker processes after the
    #: batch's state writes (None: nothing new)
    label_marks: dict[int, tuple[int, int]] | None = None
    tx_marks: dict[int, tuple[int, int]] | None = None


class BatchQueue(asyncio.Queue):  # type: ignore[type-arg]
    """A bounded queue of batches: batches of labels go before queued batches of transactions,
    each kind in order (asyncio's queues are built to be specialised through these hooks)."""

    def _init(self, maxsize: int) -> None:
        self._queue: list[tuple[int, int, FetchedBatch]] = []
        self._seq = 0

    def _put(self, batch: FetchedBatch) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (batch.priority, self._seq, batch))

    def _get(self) -> FetchedBatch:
        return heapq.heappop(self._queue)[2]


class BatchFeed:
    """A bounded queue of fetched source records between Faust's fetcher and the scoring loop.

    ``epoch`` moves on every rebalance and stop; a batch still queued then is dropped, never
    processed or acked (its partitions are re-read from the committed offsets).
    """

    def __init__(
        self,
        topics: Iterable[str],
        batch_size: int,
        max_queued_batches: int = 8,
        aligner: EventTimeAligner | None = None,
    ) -> None:
        #: the source topics, in the order their records are taken from one fetch
        self.order = {topic: rank for rank, topic in enumerate(topics)}
        self.topics = frozenset(self.order)
        self.batch_size = batch_size
        self.queue: asyncio.Queue[FetchedBatch] = BatchQueue(max_queued_batches)
        self.labels_topic = next(iter(self.order))  # the first topic: see the worker
        self.epoch = 0
        #: batches yielded and not yet finished (acked or given up); a rebalance waits for them
        self.in_flight: list[FetchedBatch] = []
        self.idle = asyncio.Event()
        self.idle.set()
        self.consumer: Any = None  # set by BatchConsumer when it starts draining
        #: holds records until every owned source partition has reached them (None: fetch order)
        self.aligner = aligner
        #: source partitions this feed paused because they ran ahead of the others
        self.paused: set[TP] = set()
        self._getter: asyncio.Future[FetchedBatch] | None = None
        #: whether other processes own partitions (then this one publishes watermarks for them)
        self.shared = False
        self._published: dict[int, Watermark] | None = None
        self._published_at = 0.0
        #: set (from any thread, through the loop) when another process's watermark moved: held
        #: transactions may go now, not only once the next fetch returns (:func:`drain`)
        self.marks_moved = asyncio.Event()
        #: one release at a time goes into the queue, so each partition's records stay in order
        self._releasing = asyncio.Lock()
        #: changelog topic -> the store its standby partitions are applied to, in bulk (:func:`apply_standby`)
        self.standby_stores: dict[str, StateStore] = {}

    # -- the fetcher's side --------------------------------------------------------------------

    def split(self, events: list[InputEvent], watermarks: dict[int, Watermark] | None = None) -> list[FetchedBatch]:
        """``events`` (a release: labels, then transactions) as batches of at most ``batch_size``,
        the labels in batches of their own that go ahead of queued transactions. New
        ``watermarks`` ride on the last batch of their kind (with no events, a batch of them
        alone, at most every ``WATERMARK_INTERVAL``)."""
        now = time.monotonic()
        labels = [e for e in events if e.topic == self.labels_topic] if self.aligner is not None else []
        transactions = [e for e in events if e.topic != self.labels_topic] if labels else events
        label_batches = self._chunks(labels, 0, now)
        batches = self._chunks(transactions, 1, now)
        if watermarks is not None and watermarks != self._published:
            due = now - self._published_at >= WATERMARK_INTERVAL
            if label_batches or due:
                if not label_batches:
                    label_batches.append(FetchedBatch(self.epoch, [], {}, now, priority=0))
                label = {p: (w.labels_upto, w.labels_idle_at) for p, w in watermarks.items()}
                for batch, marks in zip(label_batches, _marks_per_batch(label_batches, label), strict=True):
                    batch.label_marks = marks
            if batches or due:
                if not batches:
                    batches.append(FetchedBatch(self.epoch, [], {}, now))
                tx = {p: (w.transactions_upto, w.transactions_idle_at) for p, w in watermarks.items()}
                for batch, marks in zip(batches, _marks_per_batch(batches, tx), strict=True):
                    batch.tx_marks = marks
            if (label_batches or due) and (batches or due):
                self._published, self._published_at = watermarks, now
        return label_batches + batches

    def _chunks(self, events: list[InputEvent], priority: int, now: float) -> list[FetchedBatch]:
        batches = []
        for start in range(0, len(events), self.batch_size):
            chunk = events[start : start + self.batch_size]
            offsets: dict[TP, list[int]] = {}
            for event in chunk:
                tp = TP(event.topic, event.partition)
                if tp in offsets:
                    offsets[tp].append(event.offset)
                else:
                    offsets[tp] = [event.offset]
            batches.append(FetchedBatch(self.epoch, chunk, offsets, now, priority))
        return batches

    # -- the scoring loop's side ----------------------------------------------------------------

    async def batches(self, within: float) -> AsyncIterator[FetchedBatch]:
        """Batches to process, one at a time: what has been fetched, up to ``batch_size`` records,
        waiting for more to fill it until ``within`` seconds after its first record was fetched
        (records that queued while the previous batch was processed have waited already).

        The caller calls :meth:`finished` when it is done with a batch (acked, or given up),
        also when it fails: a rebalance waits for that. Several batches may be in flight (the
        worker processes the next batch while the previous one's outputs are delivered).
        """
        held: FetchedBatch | None = None  # taken off the queue, too big to join the last batch
        while True:
            batch, held = held or await self._next(None), None
            assert batch is not None
            if batch.epoch != self.epoch:
                continue  # queued before a rebalance
            deadline = batch.fetched_at + within
            while len(batch.events) < self.batch_size:
                more = await self._next(max(0.0, deadline - time.monotonic()))
                if more is None:
                    break
                if more.epoch != self.epoch:
                    continue
                if batch.epoch != self.epoch or len(batch.events) + len(more.events) > self.batch_size:
                    held = more  # starts the next batch
                    break
                batch = _merge(batch, more, self.labels_topic)
            if batch.epoch != self.epoch:
                continue  # a rebalance while it was filling
            self.in_flight.append(batch)
            self.idle.clear()
            yield batch

    async def _next(self, timeout: float | None) -> FetchedBatch | None:
        """The next queued batch, or None after ``timeout`` seconds. A get that times out stays
        pending for the next call, so nothing taken off the queue is lost in a timeout."""
        if self._getter is None:
            if not self.queue.empty():
                return self.queue.get_nowait()
            if timeout == 0:
                return None
            self._getter = asyncio.ensure_future(self.queue.get())
        done, _ = await asyncio.wait({self._getter}, timeout=timeout)
        if not done:
            return None
        result, self._getter = self._getter.result(), None
        return result

    def finished(self, batch: FetchedBatch) -> None:
        """``batch`` (yielded by :meth:`batches`) is acked or abandoned."""
        self.in_flight = [b for b in self.in_flight if b is not batch]
        if not self.in_flight:
            self.idle.set()

    def ack(self, batch: FetchedBatch) -> int:
        """Mark ``batch``'s offsets acknowledged, as ``Consumer.ack`` does for each message; Faust's
        next commit includes them. Returns how many were acked.

        A batch is acked only while in flight: a rebalance waits for the batches in flight (their
        partitions are still this worker's until then) and its commit includes them.
        """
        consumer = self.consumer
        if consumer is None or not any(b is batch for b in self.in_flight):
            return 0
        acked = 0
        with ack_lock:
            for tp, offsets in batch.offsets.items():
                committed = consumer._committed_offset[tp]
                index = consumer._acked_index[tp]
                new = [o for o in offsets if (committed is None or o >= committed) and o not in index]
                index.update(new)
                consumer._acked[tp].extend(new)
                acked += len(new)
            consumer._n_acked += acked
        return acked

    async def drop_and_wait(self) -> None:
        """Drop queued and held batches and wait for the ones in flight (rebalance, stop)."""
        self.epoch += 1  # a pending get's batch, if any, is dropped by its epoch
        while not self.queue.empty():
            self.queue.get_nowait()
        if self.aligner is not None:
            self.aligner.clear()
        self._published = None
        self.paused.clear()  # Faust resumes the partitions it reassigns
        await self.idle.wait()

    async def release(
        self,
        fetched: list[tuple[list[InputEvent], int]] | None = None,
        progress: dict[TP, int | None] | None = None,
        epoch: int | None = None,
    ) -> None:
        """Queue what may be processed now: of ``fetched`` (with ``progress``, see :meth:`aligned`), or,
        with neither, of the records held (another process's watermark moved). Nothing is queued
        if a rebalance moved the epoch on since ``epoch``."""
        async with self._releasing:
            if epoch is not None and epoch != self.epoch:
                return
            if fetched is None:
                released = self.aligner.release() if self.aligner is not None else []
            else:
                released = self.aligned(fetched, progress or {})
            watermarks = self.aligner.watermarks() if self.aligner is not None and self.shared else None
            for batch in self.split(released, watermarks):
                await self.queue.put(batch)

    def aligned(self, fetched: list[tuple[list[InputEvent], int]], progress: dict[TP, int | None]) -> list[InputEvent]:
        """The records to process now: as fetched without an aligner, else those it releases.

        ``fetched`` holds each partition's new records with the consumer-clock time of the fetch
        response that delivered them; ``progress`` maps every owned source partition to the time
        of the newest fetch response in which it was at its end (None: not at its end).
        """
        if self.aligner is None:
            return [event for events, _ in fetched for event in events]
        aligner = self.aligner
        if set(progress) != set(aligner.progress):
            aligner.assign(progress)
        for events, fetched_at in fetched:
            aligner.add(events, fetched_at)
        for tp, as_of in progress.items():
            if as_of is not None:
                aligner.at_end(tp, as_of)
        return aligner.release()


def _merge(a: FetchedBatch, b: FetchedBatch, labels_topic: str) -> FetchedBatch:
    """One batch of both: labels first (a batch of labels taken after one of transactions may hold
    labels those transactions read), then transactions in order; the marks of both hold after it."""
    offsets = {tp: list(offs) for tp, offs in a.offsets.items()}
    for tp, offs in b.offsets.items():
        offsets.setdefault(tp, []).extend(offs)
    events = a.events + b.events
    if b.priority < a.priority and b.events:
        events = b.events + a.events  # labels only: ahead of a's transactions
    elif any(e.topic == labels_topic for e in b.events):
        events = [e for e in events if e.topic == labels_topic] + [e for e in events if e.topic != labels_topic]
    return FetchedBatch(a.epoch, events, offsets, a.fetched_at, min(a.priority, b.priority),
                        _max_marks(a.label_marks, b.label_marks), _max_marks(a.tx_marks, b.tx_marks))  # fmt: skip


def _marks_per_batch(
    batches: list[FetchedBatch], final: dict[int, tuple[int, int]]
) -> list[dict[int, tuple[int, int]]]:
    """What is applied of each partition number after each of ``batches`` (one release, in order),
    given ``final``, what holds after the last: a partition with records in a later batch is
    complete only up to the earliest of them, and not idle. A big release then lets the other
    processes go on as its first batches are applied, not only once all of it is."""
    out: list[dict[int, tuple[int, int]]] = []
    later: dict[int, int] = {}  # partition number -> earliest event time in the batches after
    for batch in reversed(batches):
        out.append(
            {p: (min(upto, later[p]), NEVER) if p in later else (upto, idle) for p, (upto, idle) in final.items()}
        )
        for event in batch.events:
            if event.partition not in later or event.timestamp_ms < later[event.partition]:
                later[event.partition] = event.timestamp_ms
    out.reverse()
    return out


def _max_marks(
    a: dict[int, tuple[int, int]] | None, b: dict[int, tuple[int, int]] | None
) -> dict[int, tuple[int, int]] | None:
    if a is None or b is None:
        return a if b is None else b
    out = dict(a)
    for p, (upto, idle) in b.items():
        old = out.get(p)
        out[p] = (upto, idle) if old is None else (max(old[0], upto), max(old[1], idle))
    return out


def batch_consumer_class(base: type, feed: BatchFeed, fetch_max_wait_ms: int, fetch_min_bytes: int = 1) -> type:
    """``base`` (faust-streaming's aiokafka Consumer) with the source topics fed to ``feed`` and
    the broker's fetch wait set to ``fetch_min_bytes`` or ``fetch_max_wait_ms``, whichever comes
    first (see ``install_batch_feed`` in app.py)."""
    from faust.transport.drivers import aiokafka as driver

    stamp_fetch_requests()

    class BoundedWaitThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            consumer._fetch_min_bytes = fetch_min_bytes
            return consumer

    class BatchConsumer(base):  # type: ignore[misc]
        def _new_consumer_thread(self) -> Any:
            return BoundedWaitThread(self, loop=self.loop, beacon=self.beacon)

        async def wait_empty(self) -> None:
            await feed.drop_and_wait()
            await super().wait_empty()

        async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - runs in the worker
            feed.consumer = self
            await drain(self, fetcher, feed)

    return BatchConsumer


async def drain(consumer: Any, fetcher: Any, feed: BatchFeed) -> None:
    """Faust's ``Consumer._drain_messages`` with the source topics' records delivered per fetch."""
    callback = consumer.callback
    read_offset = consumer._read_offset
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    commit_every = consumer._commit_every
    stopping: Callable[[], bool] = lambda: consumer._stopped.is_set() or fetcher._stopped.is_set()  # noqa: E731
    waker = asyncio.ensure_future(release_when_marks_move(consumer, feed))
    try:
        while not stopping():
            # records held for alignment wait on the other partitions' next fetch, not a second
            # and the other processes wait on this one's watermarks
            holding = feed.aligner is not None and (feed.aligner.held > 0 or feed.shared)
            records, active = await consumer._wait_next_records(0.02 if holding else 1.0)
            # as Faust's getmany: the generation as the fetch returns; a rebalance while this
            # fetch is handed over (the per-message path below awaits) drops the rest of it
            generation, epoch = consumer.app.consumer_generation_id, feed.epoch
            await asyncio.sleep(0)
            if consumer.should_stop or (not records and not holding):
                continue
            if not consumer.flow_active:
                # as Faust's getmany: a rebalance is under way; the partitions may be revoked while
                # the seek is under way (faust-streaming PR 264), and the next assignment seeks again
                try:
                    await consumer.perform_seek()
                except Exception as exc:
                    consumer.log.warning("exception performing seek when flow not active %r", exc)
                # that seek skips a partition with no committed offset, or one at offset 0
                lost: dict[TP, int] = {}
                for tp, tp_records in records.items():
                    first = first_unread(tp_records, read_offset[tp]) if tp.topic in feed.topics else None
                    if first is not None and not consumer._committed_offset.get(tp):
                        lost[tp] = first
                if lost and consumer.app.consumer_generation_id == generation:
                    read_again(consumer, lost)
                continue
            #: source partitions whose fetched records are not delivered: the first offset of those
            unread: dict[TP, int] = {}
            fetched: list[tuple[list[InputEvent], int]] = []
            fetch_times = fetch_state(consumer) if feed.aligner is not None else None
            # source topics in the feed's order (labels before transactions: a label applied early
            # is harmless, features count only labels reported before the transaction)
            for tp, tp_records in sorted(records.items(), key=lambda item: feed.order.get(item[0].topic, -1)):
                if consumer.app.consumer_generation_id != generation:
                    break
                if active is not None and tp not in active and tp not in consumer._buffered_partitions:
                    # paused since the fetch began (table recovery): aiokafka's position has moved
                    # past these records, and Faust's seek at the end of the recovery moves it back
                    # only to a committed offset above 0
                    first = first_unread(tp_records, read_offset[tp]) if tp.topic in feed.topics else None
                    if first is not None:
                        unread[tp] = first
                    continue
                if tp.topic not in feed.topics:
                    store = feed.standby_stores.get(tp.topic)
                    if store is not None:
                        tp_records = apply_standby(consumer.app.tables.recovery, store, tp, tp_records, read_offset)
                    for record in tp_records:  # Faust's own path: changelogs, recovery
                        if consumer.app.consumer_generation_id != generation or not consumer.flow_active:
                            break  # as Faust's getmany
                        r_offset = read_offset[tp]
                        if r_offset is None or record.offset >= r_offset:
                            await consumer.wait_first(
                                callback(consumer._to_message(tp, record)), consumer.suspend_flow.wait()
                            )
                            read_offset[tp] = record.offset
                    continue
                r_offset = read_offset[tp]
                events: list[InputEvent] = []
                for record in tp_records:
                    offset = record.offset
                    if r_offset is not None and offset < r_offset:
                        continue  # already delivered: Faust's read-offset rule
                    if r_offset and offset - r_offset > 1 and acks_enabled_for(tp.topic):
                        await consumer._add_gap(tp, r_offset + 1, offset)  # as Faust's fetcher does
                    events.append(
                        InputEvent(
                            tp.topic, tp.partition, offset, record.key, record.value, record.timestamp, record.headers
                        )
                    )
                    r_offset = offset
                read_offset[tp] = r_offset
                fetched.append((events, fetch_times.fetched_at(tp) if fetch_times else 0))
            if consumer.app.consumer_generation_id != generation or feed.epoch != epoch:
                continue  # a rebalance began meanwhile: these partitions are re-read from commits
            if unread:
                read_again(consumer, unread)
            progress = {}
            if fetch_times is not None:
                progress = fetch_times.at_end({tp for tp in consumer.assignment() if tp.topic in feed.topics})
            await feed.release(fetched, progress, epoch)
            if feed.aligner is not None:
                pause_the_partitions_ahead(consumer, feed)
            if commit_every is not None and consumer._n_acked >= commit_every:
                consumer._n_acked = 0
                await consumer.commit()
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            consumer.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            consumer.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        consumer.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        waker.cancel()


def first_unread(records: list[Any], read_offset: int | None) -> int | None:
    """The offset of the first of ``records`` (a partition's fetch) not delivered yet, or None."""
    for record in records:
        if read_offset is None or record.offset >= read_offset:
            return int(record.offset)
    return None


def read_again(consumer: Any, offsets: dict[TP, int]) -> None:
    """Seek each source partition whose position has moved past the first of its records that a
    fetch returned and the feed did not deliver back to that record, so it comes again.

    aiokafka moves a partition's position past the records a fetch returns; a record dropped
    without a seek back is never read again by this process (and once later offsets are acked,
    the commits may pass it). Faust relies on its seek to the committed offsets after a recovery,
    which aiokafka skips for a partition whose committed offset is 0 or none
    (``seek_to_committed``): a new group's records are lost without this. The same holds for a
    partition the feed paused (ahead of the others) while a fetch for it was under way.

    Only a position past the first such record moves: records of an assignment that a rebalance has
    replaced since the fetch must not move the new one, which starts at the committed offset
    (aiokafka keeps a new state per partition for each assignment), and a seek ahead of that would
    skip records never processed. Faust's read offset is left alone: it is at most the first
    record not delivered, so the records come again through its rule, and a revocation has
    cleared it for the next assignment. The seek is synchronous (aiokafka's ``seek``), so the next
    fetch starts there; a record read twice is processed twice at most, and its decision is
    identical.
    """
    assigned = consumer.assignment()
    positions = fetch_state(consumer)
    for tp, offset in offsets.items():
        position = positions.position(tp)
        if tp in assigned and position is not None and position > offset:
            consumer.log.info(f"reading {tp.topic}[{tp.partition}] again from offset {offset}: a fetch was dropped")
            consumer._thread.seek(tp, offset)
            metrics.READ_AGAIN.inc()


def apply_standby(recovery: Any, store: StateStore, tp: TP, records: list[Any], read_offset: Any) -> list[Any]:
    """Apply a fetch of a standby changelog partition to ``store`` in one write; return what is
    left for Faust's own path (everything during a recovery; from the first tombstone on).

    Faust hands each changelog record to its recovery task one at a time (an event, a queue, a
    buffer), on the event loop: with two processes, each a standby of the other's tables, that
    path held the fetch loop for seconds at a time (BENCHMARKS.md).
    The store gets the same values in offset order: Faust's buffered standby records are applied
    first, and its recovery task skips the queued ones, older than ``standby_offsets`` now says.
    """
    if tp not in recovery.standby_tps or recovery.in_recovery:
        return records
    seen, r_offset = recovery.standby_offsets.get(tp), read_offset[tp]
    writes: list[tuple[bytes, bytes, int]] = []
    last = None
    rest: list[Any] = []
    for index, record in enumerate(records):
        offset = record.offset
        if (r_offset is not None and offset < r_offset) or (seen is not None and offset <= seen):
            continue
        if record.value is None:  # a deletion: Faust's path applies it
            rest = records[index:]
            break
        writes.append((record.key, record.value, tp.partition))
        last = offset
    if last is not None:
        if any(recovery.buffers.values()):
            recovery.flush_buffers()
        store.put_many(writes)
        store.set_changelog_offset(tp.partition, last)
        recovery.standby_offsets[tp] = last
        read_offset[tp] = last
    return rest


async def release_when_marks_move(consumer: Any, feed: BatchFeed) -> None:
    """Release held records whenever another process's watermark moves.

    The fetch loop releases after each fetch, but a fetch may take far longer than its wait (a
    resumed partition's large response is decoded in the consumer's thread): at every UTC day
    boundary of a fast replay both processes waited on each other there (BENCHMARKS.md).
    """
    while True:
        await feed.marks_moved.wait()
        feed.marks_moved.clear()
        if feed.aligner is not None and feed.aligner.held and consumer.flow_active:
            await feed.release(epoch=feed.epoch)
            pause_the_partitions_ahead(consumer, feed)  # a partition drained below half resumes now


class FetchState:
    """What aiokafka knows of each partition's fetches: when its newest fetch response arrived and
    when the request for it was sent (wall clock, ms), its high watermark then, and the position
    the worker has read to.

    aiokafka keeps this per partition (``TopicPartitionState``: ``timestamp`` (the response's
    arrival), ``highwater``, ``position``, updated by its fetcher); :func:`stamp_fetch_requests`
    adds ``fetch_requested_at``. This class is the one place that reads them.

    The two times bound the broker's view from both sides. Records arrived no later than
    ``timestamp``, so they were on the broker by then (:meth:`fetched_at`). A partition shown at
    its end was at its end on the broker *after* the request was sent, which may be long before
    the response is handled when the event loop is busy, so :meth:`at_end` reports the send time.
    Values read while a newer response lands err on the safe side: the send time is read before
    the high watermark, so a partition is never taken to be at its end as of a request newer than
    the response whose high watermark was compared.
    """

    def __init__(self, assignment: Any) -> None:
        self.assignment = assignment

    def _state(self, tp: TP) -> Any:
        return None if self.assignment is None else self.assignment.state_value(tp)

    def fetched_at(self, tp: TP) -> int:
        """When ``tp``'s newest fetch response arrived: no earlier than the one that delivered its records."""
        state = self._state(tp)
        return int(state.timestamp) if state is not None and state.timestamp is not None else 0

    def position(self, tp: TP) -> int | None:
        """The offset ``tp``'s next fetch starts at in the current assignment (None: not known yet)."""
        state = self._state(tp)
        return int(state.position) if state is not None and state.has_valid_position else None

    def at_end(self, tps: Iterable[TP]) -> dict[TP, int | None]:
        """For each of ``tps``: when the request was sent whose response showed it at its end, or None."""
        out: dict[TP, int | None] = {}
        for tp in tps:
            state = self._state(tp)
            out[tp] = None
            requested_at = getattr(state, "fetch_requested_at", None)
            if requested_at is None:
                continue
            highwater = state.highwater  # after the time: see the class docstring
            if highwater is not None and state.has_valid_position and state.position >= highwater:
                out[tp] = int(requested_at)
        return out


def stamp_fetch_requests() -> None:
    """Make aiokafka's fetcher note, per partition, when the request of its newest response was
    sent (``fetch_requested_at``, wall clock ms; see :class:`FetchState`). Idempotent."""
    from aiokafka.consumer.fetcher import Fetcher
    from aiokafka.structs import TopicPartition

    original = Fetcher._proc_fetch_request
    if getattr(original, "stamps_requests", False):
        return

    async def proc_fetch_request(self: Any, assignment: Any, node_id: Any, request: Any) -> Any:
        sent = int(1000 * time.time())
        result = await original(self, assignment, node_id, request)
        for topic, partitions in request.topics:
            for partition_info in partitions:
                state = assignment.state_value(TopicPartition(topic, partition_info[0]))
                # only partitions this response updated (a partition with an error keeps its time)
                if state is not None and state.timestamp is not None and state.timestamp >= sent:
                    state.fetch_requested_at = sent
        return result

    proc_fetch_request.stamps_requests = True  # type: ignore[attr-defined]
    Fetcher._proc_fetch_request = proc_fetch_request


def fetch_state(consumer: Any) -> FetchState:
    """The aiokafka fetch state behind Faust's consumer (``_thread`` is faust's aiokafka driver thread)."""
    subscription = consumer._thread._ensure_consumer()._subscription.subscription
    return FetchState(None if subscription is None else subscription.assignment)


def pause_the_partitions_ahead(consumer: Any, feed: BatchFeed) -> None:
    """Pause the source partitions whose held records run far ahead of the others; resume them
    once the others have caught up (Faust pauses and resumes partitions for its own reasons too,
    around recovery; a partition still ahead is paused again on the next fetch)."""
    assert feed.aligner is not None
    ahead = {TP(*tp) for tp in feed.aligner.ahead()}
    if ahead - feed.paused:
        consumer.pause_partitions(ahead - feed.paused)
        feed.paused |= ahead
    caught_up = {TP(*tp) for tp in feed.aligner.behind()} & feed.paused
    if caught_up:
        consumer.resume_partitions(caught_up)
        feed.paused -= caught_up
