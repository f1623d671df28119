"""The worker's outputs to Kafka: decisions, dead letters and changelog writes, one batch at a time.

:class:`OutputDelivery` hands everything a batch produced to one confluent-kafka producer
(librdkafka batches in C; Faust's own producer sends one message per event-loop turn) and returns
a :class:`PendingBatch`. A batch is *delivered* once librdkafka has reported every message it
produced (:class:`BatchDelivery`), not when the producer's whole queue is empty: only then may its
state writes reach the local store and its offsets be acked, so nothing is committed before its
outputs and state are durable. A failed or unreported delivery stops the worker before the
offsets are acked (the restarted worker processes the batch again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from consumers.scoring import metrics
from consumers.scoring.alignment import Watermark
from consumers.scoring.records import TERMINAL_TABLE, BatchResult, OutputMessage
from consumers.scoring.terminal_view import WATERMARK_KEY, encode_watermark
from fraudstream.settings import TopicNames

__all__ = ["DEAD_LETTERS_LOGGED_PER_BATCH", "BatchDelivery", "OutputDelivery", "PendingBatch", "log_dead_letters"]

log = logging.getLogger("fraudstream.worker")

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


class BatchDelivery:
    """The delivery reports of one batch's outputs (decisions, dead letters, changelog writes).

    Only the completing batch's thread polls the producer, so only it runs these callbacks.
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


@dataclass
class PendingBatch:
    """A batch whose outputs are produced and not yet known to be delivered."""

    result: BatchResult
    delivery: BatchDelivery
    #: ``time.perf_counter()`` when the batch's processing started
    started: float


class OutputDelivery:
    """Produces a batch's outputs: decisions and dead letters to their topics, state writes to the
    changelog partition that owns each key."""

    def __init__(self, producer: Any, topics: TopicNames, changelog_topics: Mapping[str, str]) -> None:
        self.producer, self.topics, self.changelog_topics = producer, topics, dict(changelog_topics)

    def produce(
        self, result: BatchResult, started: float, watermarks: Mapping[int, Watermark] | None = None
    ) -> PendingBatch:
        """Everything of ``result``; then ``watermarks``, each to its terminal changelog partition
        after the batch's state writes there, so a reader that has it has the writes it covers."""
        produce = self.producer.produce
        delivery = BatchDelivery()
        report = delivery.on_delivery
        decisions_topic, dlq_topic = self.topics.decisions, self.topics.dlq
        for message in result.decisions:
            produce(
                decisions_topic, message.value, message.key, timestamp=message.timestamp_ms or 0, on_delivery=report
            )
        for message, reason in zip(result.dead_letters, result.dead_letter_reasons, strict=True):
            produce(dlq_topic, message.value, message.key, headers=list(message.headers), on_delivery=report)
            metrics.DEAD_LETTERS.labels(reason).inc()
        log_dead_letters(result.dead_letters, result.dead_letter_reasons)
        # only a changelog partition's last record reports its offset: records arrive in order
        last_write = {(write.table, write.partition): i for i, write in enumerate(result.state_writes)}
        for i, (table, key, value, partition) in enumerate(result.state_writes):
            on_delivery = delivery.on_changelog_delivery(table) if last_write[(table, partition)] == i else report
            produce(self.changelog_topics[table], value, key, partition=partition, on_delivery=on_delivery)
        marks = watermarks or {}
        for partition, watermark in marks.items():
            produce(self.changelog_topics[TERMINAL_TABLE], encode_watermark(watermark), WATERMARK_KEY,
                    partition=partition, on_delivery=report)  # fmt: skip
        delivery.expected = len(result.decisions) + len(result.dead_letters) + len(result.state_writes) + len(marks)
        return PendingBatch(result, delivery, started)

    def wait(self, pending: PendingBatch, timeout: float) -> bool:
        """Block until the batch is reported (True) or ``timeout`` passes (run it in a thread)."""
        return pending.delivery.wait(self.producer, timeout)
