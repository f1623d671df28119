"""BatchFeed: batching, acks that Faust's commit logic understands, and rebalance behaviour."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace

import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP
from intervaltree import IntervalTree
from prometheus_client import REGISTRY

from consumers.scoring.feed import BatchFeed, FetchedBatch
from consumers.scoring.records import InputEvent

TX = "transactions"


def events(partition: int, offsets: range) -> list[InputEvent]:
    return [InputEvent(TX, partition, o, b"k", b"v", 0) for o in offsets]


def fake_consumer() -> SimpleNamespace:
    """The bookkeeping attributes of faust's Consumer that ack and ``_new_offset`` use."""
    return SimpleNamespace(
        _acked=defaultdict(list),
        _acked_index=defaultdict(set),
        _committed_offset=defaultdict(lambda: None),
        _gap=defaultdict(IntervalTree),
        _n_acked=0,
    )


def commit_offset(consumer: SimpleNamespace, tp: TP) -> int | None:
    # faust's own computation of the offset to commit, over what BatchFeed.ack recorded
    return FaustConsumer._new_offset(consumer, tp)  # type: ignore[arg-type]


def test_split_cuts_a_fetch_into_batches_with_their_offsets() -> None:
    feed = BatchFeed([TX], batch_size=4)
    batches = feed.split(events(0, range(0, 3)) + events(1, range(10, 13)))
    assert [len(b.events) for b in batches] == [4, 2]
    assert batches[0].offsets == {TP(TX, 0): [0, 1, 2], TP(TX, 1): [10]}
    assert batches[1].offsets == {TP(TX, 1): [11, 12]}


def test_acked_offsets_are_what_faust_commits() -> None:
    feed = BatchFeed([TX], batch_size=100)
    feed.consumer = consumer = fake_consumer()
    tp = TP(TX, 0)
    consumer._committed_offset[tp] = 100
    first, second = feed.split(events(0, range(100, 105)))[0], feed.split(events(0, range(107, 110)))[0]
    feed.in_flight += [first, second]  # as if yielded by feed.batches()
    assert feed.ack(second) == 3
    assert commit_offset(consumer, tp) is None  # 100-104 not acked yet: nothing to commit
    assert feed.ack(first) == 5
    assert feed.ack(first) == 0  # acking twice changes nothing
    assert consumer._n_acked == 8
    assert commit_offset(consumer, tp) == 105  # offsets 105-106 are missing: stop there
    consumer._committed_offset[tp] = 104
    consumer._gap[tp].addi(105, 107)  # what the drain registers for a gap in the log
    assert commit_offset(consumer, tp) == 110


def test_offsets_below_the_committed_offset_are_not_acked_again() -> None:
    feed = BatchFeed([TX], batch_size=100)
    feed.consumer = consumer = fake_consumer()
    consumer._committed_offset[TP(TX, 0)] = 3
    batch = feed.split(events(0, range(0, 5)))[0]
    feed.in_flight.append(batch)
    assert feed.ack(batch) == 2


def test_batches_merge_what_is_queued_up_to_the_batch_size() -> None:
    async def run() -> list[list[tuple[int, int]]]:
        feed = BatchFeed([TX], batch_size=5)
        for fetch in [events(0, range(0, 2)), events(1, range(0, 2)), events(2, range(0, 3))]:
            for batch in feed.split(fetch):
                feed.queue.put_nowait(batch)
        got = []
        batches = feed.batches(within=0.0)
        for _ in range(2):
            batch = await anext(batches)
            got.append([(e.partition, e.offset) for e in batch.events])
            assert sum(len(offsets) for offsets in batch.offsets.values()) == len(batch.events)
            feed.finished(batch)
        return got

    first, second = asyncio.run(run())
    assert first == [(0, 0), (0, 1), (1, 0), (1, 1)]  # the third fetch would make it 7 > 5
    assert second == [(2, 0), (2, 1), (2, 2)]


def test_a_batch_waits_within_for_more_records_then_closes() -> None:
    async def run() -> tuple[int, int]:
        feed = BatchFeed([TX], batch_size=10)
        feed.queue.put_nowait(feed.split(events(0, range(0, 2)))[0])

        async def later() -> None:
            await asyncio.sleep(0.02)
            feed.queue.put_nowait(feed.split(events(0, range(2, 5)))[0])

        asyncio.get_running_loop().create_task(later())
        batches = feed.batches(within=0.2)
        first = await anext(batches)
        feed.finished(first)
        feed.queue.put_nowait(feed.split(events(0, range(5, 6)))[0])
        started = asyncio.get_running_loop().time()
        await anext(batches)
        return len(first.events), round(asyncio.get_running_loop().time() - started, 1)

    size, waited = asyncio.run(run())
    assert size == 5  # the records that arrived 20 ms later joined the batch
    assert waited == 0.2  # a lone record waits `within` for company, then goes on its own


def test_the_wait_for_more_counts_from_when_the_first_records_were_fetched() -> None:
    # records that queued while the previous batch was processed have waited already: a batch
    # waits only what is left of `within`, not `within` again from when the loop takes it
    async def run() -> float:
        feed = BatchFeed([TX], batch_size=10)
        feed.queue.put_nowait(feed.split(events(0, range(0, 2)))[0])
        await asyncio.sleep(0.15)  # the scoring loop is busy with the previous batch
        batches = feed.batches(within=0.2)
        started = asyncio.get_running_loop().time()
        await anext(batches)
        return round(asyncio.get_running_loop().time() - started, 2)

    waited = asyncio.run(run())
    assert 0.02 <= waited <= 0.1  # about 0.05 s: 0.2 from the fetch, not from when it was taken


def test_a_rebalance_drops_queued_batches_and_waits_for_the_one_in_progress() -> None:
    async def run() -> list[str]:
        feed = BatchFeed([TX], batch_size=2)
        feed.consumer = fake_consumer()
        for batch in feed.split(events(0, range(0, 6))):
            feed.queue.put_nowait(batch)
        batches = feed.batches(within=0.0)
        current = await anext(batches)
        log: list[str] = []

        async def rebalance() -> None:
            await feed.drop_and_wait()
            log.append("rebalanced")

        task = asyncio.get_running_loop().create_task(rebalance())
        await asyncio.sleep(0.01)
        log.append("still processing")  # the rebalance waits for this batch
        assert feed.ack(current) == 2  # in flight: the rebalance's commit includes it
        feed.finished(current)
        assert feed.ack(current) == 0  # finished: no longer this feed's to ack
        await task
        assert feed.queue.empty()
        stale = FetchedBatch(current.epoch, events(0, range(6, 7)))
        fresh = feed.split(events(0, range(0, 1)))[0]  # re-read from the committed offset
        feed.queue.put_nowait(stale)
        feed.queue.put_nowait(fresh)
        nxt = await anext(batches)
        log.append(f"next starts at {nxt.events[0].offset}")
        return log

    assert asyncio.run(run()) == ["still processing", "rebalanced", "next starts at 0"]


@pytest.mark.parametrize("within", [0.0, 0.05])
def test_nothing_queued_is_lost_when_a_wait_times_out(within: float) -> None:
    async def run() -> list[int]:
        feed = BatchFeed([TX], batch_size=1000)
        seen: list[int] = []
        batches = feed.batches(within=within)

        async def produce() -> None:
            for start in range(0, 200, 10):
                for batch in feed.split(events(0, range(start, start + 10))):
                    await feed.queue.put(batch)
                await asyncio.sleep(0.003)

        task = asyncio.get_running_loop().create_task(produce())
        while len(seen) < 200:
            batch = await anext(batches)
            seen += [e.offset for e in batch.events]
            feed.finished(batch)
        await task
        return seen

    assert asyncio.run(run()) == list(range(200))


class FakeDrainConsumer:
    """What ``drain`` uses of faust's Consumer: one fetch is returned, then the consumer stops."""

    consumer_stopped_errors = ()

    def __init__(
        self, fetch: dict, read_offsets: dict | None = None, generation_step: int = 0, active: set | None = None
    ) -> None:
        self.fetch = fetch
        self.active = active
        self.assigned = set(fetch)
        self._committed_offset: defaultdict = defaultdict(lambda: None)
        self.seeks: list[tuple[TP, int]] = []
        #: aiokafka's position per partition: past the records its fetch returned
        self.positions = {tp: records[-1].offset + 1 for tp, records in fetch.items() if records}
        states = SimpleNamespace(state_value=self._position_state)
        aiokafka = SimpleNamespace(_subscription=SimpleNamespace(subscription=SimpleNamespace(assignment=states)))
        self._thread = SimpleNamespace(seek=lambda tp, offset: self.seeks.append((tp, offset)),
                                       _ensure_consumer=lambda: aiokafka)  # fmt: skip
        self.log = SimpleNamespace(info=lambda msg, *args: None, warning=lambda msg, *args: None)
        self.generation_step = generation_step
        self.callback_got: list[tuple[str, int]] = []
        self.gaps: list[tuple[TP, int, int]] = []
        self._read_offset: defaultdict = defaultdict(lambda: None, read_offsets or {})
        self._commit_every = None
        self._n_acked = 0
        self._buffered_partitions: set = set()
        self._stopped = asyncio.Event()
        self.should_stop = False
        self.flow_active = True
        self.app = SimpleNamespace(consumer_generation_id=1, topics=SimpleNamespace(acks_enabled_for=lambda t: True))
        self.suspend_flow = asyncio.Event()

    async def _wait_next_records(self, timeout: float) -> tuple[dict, set | None]:
        if self.fetch is None:
            self._stopped.set()
            return {}, None
        fetch, self.fetch = self.fetch, None
        self.app.consumer_generation_id += self.generation_step  # an assignment while fetching
        return fetch, self.active

    def assignment(self) -> set:
        return self.assigned

    def _position_state(self, tp: TP) -> SimpleNamespace:
        position = self.positions.get(tp)
        return SimpleNamespace(position=position, has_valid_position=position is not None)

    async def _add_gap(self, tp: TP, start: int, end: int) -> None:
        self.gaps.append((tp, start, end))

    def _to_message(self, tp: TP, record: SimpleNamespace) -> tuple[str, int]:
        return (tp.topic, record.offset)

    async def callback(self, message: tuple[str, int]) -> None:
        self.callback_got.append(message)

    async def wait_first(self, *coros: object) -> None:
        for other in coros[1:]:
            other.close()  # type: ignore[attr-defined]
        await coros[0]  # type: ignore[misc]


def drain_once(consumer: FakeDrainConsumer, batch_size: int) -> list[FetchedBatch]:
    """Run ``drain`` over the consumer's one fetch; the batches it queued."""
    from consumers.scoring.feed import drain

    async def run() -> list[FetchedBatch]:
        feed = BatchFeed([TX], batch_size=batch_size)
        await drain(consumer, SimpleNamespace(_stopped=asyncio.Event()), feed)
        return [feed.queue.get_nowait() for _ in range(feed.queue.qsize())]

    return asyncio.run(run())


def record(topic: str, partition: int, offset: int) -> SimpleNamespace:
    return SimpleNamespace(
        topic=topic, partition=partition, offset=offset, key=b"k", value=b"v", timestamp=0, headers=()
    )


def test_drain_delivers_a_fetch_labels_first_in_offset_order_and_leaves_changelogs_to_faust() -> None:
    from consumers.scoring.feed import drain

    tx0, tx1, labels, changelog = TP(TX, 0), TP(TX, 1), TP("labels", 0), TP("card-state-changelog", 0)
    fetch = {
        tx0: [record(TX, 0, o) for o in (5, 6, 9)],  # 7-8 are not in the log (e.g. compacted)
        tx1: [record(TX, 1, o) for o in (0, 1, 2)],
        labels: [record("labels", 0, o) for o in (3, 4)],
        changelog: [record("card-state-changelog", 0, 0)],
    }
    consumer = FakeDrainConsumer(fetch, read_offsets={tx1: 1})  # tx1 offset 0 was delivered already

    async def run() -> list[FetchedBatch]:
        feed = BatchFeed(["labels", TX], batch_size=100)
        await drain(consumer, SimpleNamespace(_stopped=asyncio.Event()), feed)
        return [feed.queue.get_nowait() for _ in range(feed.queue.qsize())]

    (batch,) = asyncio.run(run())
    assert [(e.topic, e.partition, e.offset) for e in batch.events] == [
        ("labels", 0, 3), ("labels", 0, 4),
        (TX, 0, 5), (TX, 0, 6), (TX, 0, 9),
        (TX, 1, 1), (TX, 1, 2),
    ]  # fmt: skip
    assert consumer.callback_got == [("card-state-changelog", 0)]  # Faust's own per-message path
    assert consumer.gaps == [(tx0, 7, 9)]  # as Faust's fetcher registers it: offsets 7-8 (and 9)
    assert consumer._read_offset[tx0] == 9
    assert consumer._read_offset[tx1] == 2


def test_drain_delivers_the_first_fetch_after_an_assignment() -> None:
    # A worker joining a group waits in the fetch while it is assigned partitions: the generation
    # moves during that wait. Faust's getmany takes the generation as the fetch returns; taking it
    # before dropped the recovering changelogs' records, and recovery waited forever.
    from consumers.scoring.feed import drain

    changelog = TP("card-state-changelog", 0)
    consumer = FakeDrainConsumer({changelog: [record(changelog.topic, 0, o) for o in (0, 1)]}, generation_step=1)

    async def run() -> None:
        await drain(consumer, SimpleNamespace(_stopped=asyncio.Event()), BatchFeed([TX], batch_size=10))

    asyncio.run(run())
    assert consumer.callback_got == [(changelog.topic, 0), (changelog.topic, 1)]


def test_drain_survives_a_seek_on_partitions_revoked_meanwhile() -> None:
    # A rebalance stops the flow; drain seeks to the committed offsets as Faust's getmany does. If
    # the partitions are revoked while that seek runs, aiokafka raises IllegalStateError. Faust's
    # getmany logs it and goes on (faust-streaming PR 264); drain raised it, and the worker crashed
    # (CI, a second worker joining mid-stream).
    from aiokafka.errors import IllegalStateError

    from consumers.scoring.feed import drain

    tx0 = TP(TX, 0)
    consumer = FakeDrainConsumer({tx0: [record(TX, 0, 0)]})
    consumer.flow_active = False
    warnings: list[str] = []
    consumer.log = SimpleNamespace(warning=lambda msg, *args: warnings.append(msg % args))

    async def perform_seek() -> None:
        raise IllegalStateError(f"No current assignment for partition {tx0}")

    consumer.perform_seek = perform_seek

    async def run() -> int:
        feed = BatchFeed([TX], batch_size=10)
        await drain(consumer, SimpleNamespace(_stopped=asyncio.Event()), feed)
        return feed.queue.qsize()

    consumer.assigned = set()  # revoked
    assert asyncio.run(run()) == 0  # nothing delivered while the flow is stopped
    (warning,) = warnings
    assert "No current assignment" in warning
    assert consumer.seeks == []


def test_a_fetch_of_a_partition_paused_meanwhile_is_read_again() -> None:
    # Table recovery pauses the source partitions while a fetch that asked for them is under way:
    # drain drops that fetch's records, as Faust's does, but aiokafka's position has moved past
    # them. Faust's seek after the recovery skips a partition with no committed offset (a new
    # group), so they were lost.

    tx0, tx1 = TP(TX, 0), TP(TX, 1)
    fetch = {tx0: [record(TX, 0, o) for o in (5, 6, 7)], tx1: [record(TX, 1, o) for o in (3, 4)]}
    consumer = FakeDrainConsumer(fetch, read_offsets={tx0: 5}, active={tx1})  # tx0 paused meanwhile
    counted = REGISTRY.get_sample_value("fraudstream_worker_fetches_read_again_total") or 0.0

    (batch,) = drain_once(consumer, batch_size=100)
    assert [(e.partition, e.offset) for e in batch.events] == [(1, 3), (1, 4)]
    assert consumer.seeks == [(tx0, 5)]  # its next fetch starts at the first record not delivered
    assert REGISTRY.get_sample_value("fraudstream_worker_fetches_read_again_total") == counted + 1  # and ops see it


def test_a_fetch_dropped_while_the_flow_is_stopped_is_read_again_where_no_committed_offset_seeks_back() -> None:

    tx0, tx1, tx2 = TP(TX, 0), TP(TX, 1), TP(TX, 2)
    fetch = {tx0: [record(TX, 0, o) for o in (0, 1)], tx1: [record(TX, 1, o) for o in (100, 101)],
             tx2: [record(TX, 2, o) for o in (7, 8)]}  # fmt: skip
    consumer = FakeDrainConsumer(fetch)
    consumer.flow_active = False
    seeks: list[str] = []

    async def perform_seek() -> None:
        seeks.append("committed")
        consumer._committed_offset.update({tx1: 100, tx2: 0})  # tx0: none; aiokafka seeks only tx1

    consumer.perform_seek = perform_seek

    assert len(drain_once(consumer, batch_size=10)) == 0
    assert seeks == ["committed"]
    assert sorted(consumer.seeks) == [(tx0, 0), (tx2, 7)]


def test_a_fetch_of_an_assignment_replaced_meanwhile_moves_neither_the_new_positions_nor_the_read_offsets() -> None:
    # A fetch under way when a rebalance revokes the partitions returns while the flow is stopped.
    # The next assignment starts each partition afresh at its committed offset: a seek to where the
    # old fetch stopped would skip the records between, and a read offset set for the old
    # assignment would drop them as delivered once the partitions resume.

    tx0, tx1 = TP(TX, 0), TP(TX, 1)
    fetch = {tx0: [record(TX, 0, o) for o in (3305, 3306)], tx1: [record(TX, 1, o) for o in (10, 11)]}
    consumer = FakeDrainConsumer(fetch)
    consumer.flow_active = False
    consumer.positions = {tx0: 3000}  # the new assignment: tx0 at its committed offset, tx1 not reset yet

    async def perform_seek() -> None:
        pass  # nothing committed yet

    consumer.perform_seek = perform_seek

    assert len(drain_once(consumer, batch_size=10)) == 0
    assert consumer.seeks == []
    assert all(offset is None for offset in consumer._read_offset.values())


def test_held_records_go_when_another_process_s_watermark_moves_without_waiting_for_a_fetch() -> None:
    # A fetch can take far longer than its wait (a resumed partition's big response is decoded in
    # the consumer's thread); held transactions that wait only on another process go as soon as its
    # watermark moves (at every UTC day boundary of a fast replay, both processes waited there).
    from consumers.scoring.alignment import NEVER, EventTimeAligner, Watermark
    from consumers.scoring.feed import drain

    day = 10 * 86_400_000
    marks: dict[int, Watermark] = {1: Watermark(day - 1, NEVER, day + 10, NEVER)}  # partition 1: another process
    aligner = EventTimeAligner("labels", [(TX, 0)], partition_count=2, foreign=marks.get)
    feed = BatchFeed(["labels", TX], batch_size=10, aligner=aligner)
    feed.shared = True
    tx0 = TP(TX, 0)
    consumer = FakeDrainConsumer(
        {tx0: [SimpleNamespace(offset=0, key=b"k", value=b"v", timestamp=day + 5, headers=())]}
    )
    fetches = [consumer.fetch]
    queued_while_fetching: list[int] = []

    async def wait_next_records(timeout: float) -> tuple[dict, None]:
        if fetches:
            return fetches.pop(), None
        if queued_while_fetching:
            consumer._stopped.set()
            return {}, None
        marks[1] = Watermark(day, NEVER, day + 10, NEVER)  # the other process finished day 9
        feed.marks_moved.set()
        await asyncio.sleep(0.2)  # a slow fetch
        queued = [feed.queue.get_nowait() for _ in range(feed.queue.qsize())]
        queued_while_fetching.append(sum(len(batch.events) for batch in queued))
        return {}, None

    consumer._wait_next_records = wait_next_records  # type: ignore[method-assign]
    no_fetch_state = SimpleNamespace(_subscription=SimpleNamespace(subscription=None))
    consumer._thread = SimpleNamespace(_ensure_consumer=lambda: no_fetch_state)  # type: ignore[attr-defined]
    consumer.assignment = lambda: {tx0}  # type: ignore[attr-defined]

    async def run() -> None:
        await drain(consumer, SimpleNamespace(_stopped=asyncio.Event()), feed)

    asyncio.run(run())
    assert queued_while_fetching == [1]


class FakeRecovery:
    """What ``apply_standby`` uses of Faust's Recovery."""

    def __init__(self, standby: set, in_recovery: bool = False) -> None:
        from collections import Counter

        self.standby_tps, self.in_recovery = standby, in_recovery
        self.standby_offsets: Counter = Counter()
        self.buffers: dict[str, list] = {"card-state": []}
        self.flushed: list[list] = []

    def flush_buffers(self) -> None:
        for buffer in self.buffers.values():
            self.flushed.append(list(buffer))
            buffer.clear()


def changelog(partition: int, offset: int, value: bytes | None) -> SimpleNamespace:
    return SimpleNamespace(offset=offset, key=f"k{offset}".encode(), value=value)


def test_a_standby_fetch_is_applied_in_one_write_after_faust_s_buffered_records_and_in_offset_order() -> None:
    from consumers.scoring.feed import apply_standby
    from consumers.scoring.state_store import MemoryStore

    tp = TP("card-state-changelog", 1)
    recovery, store = FakeRecovery({tp}), MemoryStore()
    recovery.standby_offsets[tp] = 4  # Faust's recovery task had taken offsets up to 4
    recovery.buffers["card-state"].append("offset 4, not yet applied")
    read_offset: defaultdict = defaultdict(lambda: None)
    records = [changelog(1, o, f"v{o}".encode()) for o in (3, 4, 5, 6)]
    assert apply_standby(recovery, store, tp, records, read_offset) == []
    assert recovery.flushed == [["offset 4, not yet applied"]]  # before the newer values
    assert store.data == {b"k5": b"v5", b"k6": b"v6"}  # 3 and 4 were Faust's
    assert recovery.standby_offsets[tp] == 6  # Faust's task skips what it still has queued
    assert read_offset[tp] == 6


def test_a_standby_tombstone_and_everything_during_recovery_take_faust_s_path() -> None:
    from consumers.scoring.feed import apply_standby
    from consumers.scoring.state_store import MemoryStore

    tp = TP("card-state-changelog", 1)
    recovery, store = FakeRecovery({tp}), MemoryStore()
    records = [changelog(1, 0, b"a"), changelog(1, 1, None), changelog(1, 2, b"c")]
    assert apply_standby(recovery, store, tp, records, defaultdict(lambda: None)) == records[1:]
    assert store.data == {b"k0": b"a"}
    recovering = FakeRecovery({tp}, in_recovery=True)
    assert apply_standby(recovering, MemoryStore(), tp, records, defaultdict(lambda: None)) == records
    active = FakeRecovery(set())  # an active partition's changelog (its recovery): Faust's
    assert apply_standby(active, MemoryStore(), tp, records, defaultdict(lambda: None)) == records
