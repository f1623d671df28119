"""The worker's batch pipeline: per-batch delivery reports, and completion overlapping the next batch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from consumers.scoring.app import BatchDelivery, pipelined


class FakeProducer:
    """librdkafka's contract as the worker uses it: ``produce`` queues, ``poll`` serves reports."""

    def __init__(self) -> None:
        self.queued: list[tuple[object, object]] = []

    def produce(self, topic: str, partition: int, offset: int, on_delivery, error: str | None = None) -> None:
        message = SimpleNamespace(topic=lambda: topic, partition=lambda: partition, offset=lambda: offset)
        self.queued.append((on_delivery, (error, message)))

    def poll(self, timeout: float) -> int:
        served, self.queued = self.queued[:2], self.queued[2:]  # a few reports per poll
        for callback, args in served:
            callback(*args)
        return len(served)

    def __len__(self) -> int:
        return len(self.queued)


def test_a_batch_is_delivered_once_its_own_messages_are_reported_not_the_whole_queue() -> None:
    producer = FakeProducer()
    first = BatchDelivery()
    for offset in range(3):
        producer.produce("decisions", 0, offset, first.on_delivery)
    producer.produce("card-changelog", 1, 7, first.on_changelog_delivery("card"))
    first.expected = 4
    second = BatchDelivery()  # the next batch, produced before the first completes
    for offset in range(3, 103):
        producer.produce("decisions", 0, offset, second.on_delivery)
    second.expected = 100

    assert first.wait(producer, timeout=5.0)
    assert len(producer) == 100  # flush() would have waited for these too
    assert first.changelog_offsets == {("card", 1): 7}
    assert first.errors == []
    assert second.reported == 0


def test_a_failed_delivery_is_reported_and_an_unreported_batch_times_out() -> None:
    producer = FakeProducer()
    batch = BatchDelivery()
    producer.produce("decisions", 2, -1, batch.on_delivery, error="MSG_SIZE_TOO_LARGE")
    producer.produce("card-changelog", 0, -1, batch.on_changelog_delivery("card"), error="TIMED_OUT")
    batch.expected = 2
    assert batch.wait(producer, timeout=5.0)
    assert batch.errors == ["decisions[2]: MSG_SIZE_TOO_LARGE", "card-changelog[0]: TIMED_OUT"]
    assert batch.changelog_offsets == {}  # a failed write is no changelog position

    lost = BatchDelivery()
    lost.expected = 1  # its message is never reported
    assert not lost.wait(producer, timeout=0.05)


def test_a_batch_completion_starts_before_the_next_batch_is_processed() -> None:
    # The next batch is already queued, so the loop would not yield between batches: the
    # completion (waiting for delivery reports) must start at once, not after the next batch.
    log: list[str] = []

    async def batches():
        for n in range(3):
            yield n

    def produce(batch: int) -> int:
        log.append(f"produce {batch}")
        return batch

    async def complete(batch: int, pending: int) -> None:
        log.append(f"complete {batch} starts")
        await asyncio.sleep(0.01)
        log.append(f"complete {batch} ends")

    async def run() -> None:
        await pipelined(batches(), produce, complete, lambda batch: None)
        await asyncio.sleep(0.05)

    asyncio.run(run())
    assert log == [
        "produce 0", "complete 0 starts",
        "produce 1",  # while batch 0 is delivered
        "complete 0 ends", "complete 1 starts",  # in order, at most two in flight
        "produce 2",
        "complete 1 ends", "complete 2 starts", "complete 2 ends",
    ]  # fmt: skip


def test_a_batch_whose_processing_fails_is_released() -> None:
    released: list[int] = []

    async def batches():
        yield 1

    def produce(batch: int) -> int:
        raise RuntimeError("model exploded")

    async def complete(batch: int, pending: int) -> None:
        raise AssertionError("not reached")

    async def run() -> None:
        await pipelined(batches(), produce, complete, released.append)

    with pytest.raises(RuntimeError, match="model exploded"):
        asyncio.run(run())
    assert released == [1]
