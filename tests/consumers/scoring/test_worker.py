"""The worker loop: a batch's completion overlaps the next batch, in order, and failures release the batch."""

from __future__ import annotations

import asyncio

import pytest

from consumers.scoring.worker import pipelined


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
