"""Replay a dataset into Kafka in event-time order (``fraudstream produce``).

Transactions go to the transactions topic at their ``event_time``; labels go to the labels topic
at their ``reported_at`` (days later), interleaved into one event-time-ordered stream; at equal
times a transaction goes before a label. Both are keyed by ``card_id`` with the murmur2
partitioner, so a card's transactions and labels share a partition number, and the Kafka record
timestamp is the event's own time.

Pacing: as fast as possible (default), ``rate`` events a second, or ``speedup`` times event time.
The producer is idempotent with ``acks=all``; every delivery report is counted, and the summary
says how many were sent, acknowledged and failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from confluent_kafka import KafkaError, Message
from tqdm import tqdm

from features.definitions import DAY_MS
from fraudstream.kafka import PRODUCER_DEFAULTS, KafkaTarget, client_config, warmed_producer
from fraudstream.settings import TopicNames
from producers import replay_metrics
from producers.config import DriftSpec
from schemas.confluent import codec_for
from schemas.dataset import Dataset
from schemas.timestamps import epoch_millis

log = logging.getLogger("fraudstream.replay")

TRANSACTION, LABEL = 0, 1
TX_FIELDS = (
    "transaction_id", "card_id", "terminal_id", "amount", "currency", "merchant_category",
    "channel", "card_country", "terminal_country",
)  # fmt: skip


def replay_order(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(kind, row, timestamp_ms)`` of every event, ordered by time, transactions first on ties."""
    tx_ts = epoch_millis(dataset.transactions["event_time"])
    label_ts = epoch_millis(dataset.labels["reported_at"])
    kind = np.concatenate([np.full(len(tx_ts), TRANSACTION), np.full(len(label_ts), LABEL)])
    row = np.concatenate([np.arange(len(tx_ts)), np.arange(len(label_ts))])
    ts = np.concatenate([tx_ts, label_ts])
    order = np.lexsort((row, kind, ts))  # last key is primary
    return kind[order], row[order], ts[order]


def transaction_records(transactions: pd.DataFrame) -> list[dict[str, Any]]:
    """Avro-ready dicts (times as epoch milliseconds), one per row, without ground truth."""
    columns = {name: transactions[name].tolist() for name in TX_FIELDS}
    columns["event_time"] = epoch_millis(transactions["event_time"]).tolist()
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def label_records(labels: pd.DataFrame) -> list[dict[str, Any]]:
    scenario = [None if pd.isna(s) else str(s) for s in labels["fraud_scenario"].tolist()]
    columns = {
        "transaction_id": labels["transaction_id"].tolist(),
        "card_id": labels["card_id"].tolist(),
        "terminal_id": labels["terminal_id"].tolist(),
        "event_time": epoch_millis(labels["event_time"]).tolist(),
        "reported_at": epoch_millis(labels["reported_at"]).tolist(),
        "is_fraud": labels["is_fraud"].astype(bool).tolist(),
        "fraud_scenario": scenario,
    }
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


@dataclass(frozen=True)
class ReplayEvent:
    topic: str
    key: bytes
    timestamp_ms: int
    value: bytes
    is_label: bool = False


class VisibilityBarrier:
    """Where a producer writing in event-time order waits until what it has written is delivered.

    The stream worker scores a transaction at ``t`` once every other transactions partition is
    complete up to the start of ``t``'s UTC day and every labels partition up to ``t - λ``; a
    partition at its end counts as complete up to ``x`` once a fetch sent ``producer_skew`` after
    one that brought *any* record at or after ``x`` (of any partition, in any worker process)
    finds it at its end (``docs/event-time.md``). That needs every record earlier than ``x`` to be
    visible by then, and a client sends each partition's batch on its own: on a loaded machine the
    gap can be longer than any allowance.

    Flushing where those ``x`` are crossed makes it hold whatever the load: before the first record
    (transaction or label) of a UTC day, and before the first record later than a label written
    since the last flush. A record at or after ``x`` is then sent only once every transaction of an
    earlier day and every label earlier than it is acknowledged, and so visible.

    >>> barrier = VisibilityBarrier()
    >>> [barrier.before(ts, is_label) for ts, is_label in [(10, False), (20, True), (20, False), (21, False)]]
    [False, False, False, True]
    >>> barrier.before(DAY_MS + 5, True)  # a new day, even if it starts with a label
    True
    """

    def __init__(self) -> None:
        self._day: int | None = None
        self._earliest_unflushed_label: int | None = None
        self.flushes = 0

    def before(self, timestamp_ms: int, is_label: bool) -> bool:
        """Whether the records written so far must be delivered before this one is written."""
        day = timestamp_ms // DAY_MS
        label = self._earliest_unflushed_label
        flush = (self._day is not None and day != self._day) or (label is not None and label < timestamp_ms)
        self._day = day
        if flush:
            self._earliest_unflushed_label = None
            self.flushes += 1
        if is_label and self._earliest_unflushed_label is None:
            self._earliest_unflushed_label = timestamp_ms
        return flush


def encoded_events(
    dataset: Dataset, topics: TopicNames, limit: int | None = None, registry_url: str | None = None
) -> Iterator[ReplayEvent]:
    """The dataset as the exact Kafka records the replay sends, in replay order (Confluent-framed
    when ``registry_url`` names a schema registry)."""
    tx_codec = codec_for("Transaction", topics.transactions, registry_url)
    label_codec = codec_for("Label", topics.labels, registry_url)
    kinds, rows, stamps = replay_order(dataset)
    if limit is not None:
        kinds, rows, stamps = kinds[:limit], rows[:limit], stamps[:limit]
    tx_records = transaction_records(dataset.transactions)
    label_records_ = label_records(dataset.labels)
    for kind, row, ts in zip(kinds.tolist(), rows.tolist(), stamps.tolist(), strict=True):
        if kind == TRANSACTION:
            record = tx_records[row]
            yield ReplayEvent(topics.transactions, record["card_id"].encode(), ts, tx_codec.encode(record))
        else:
            record = label_records_[row]
            yield ReplayEvent(topics.labels, record["card_id"].encode(), ts, label_codec.encode(record), True)


def shift_to(dataset: Dataset, start: datetime) -> Dataset:
    """The dataset moved in time so its first transaction happens at ``start``."""
    offset = pd.Timestamp(start) - dataset.transactions["event_time"].min()
    tx = dataset.transactions.assign(event_time=dataset.transactions["event_time"] + offset)
    labels = dataset.labels.assign(
        event_time=dataset.labels["event_time"] + offset,
        reported_at=dataset.labels["reported_at"] + offset,
    )
    return Dataset(tx, labels, dataset.parameters, dataset.scenario_counts)


def shift_end_to(dataset: Dataset, end: datetime) -> Dataset:
    """The dataset moved in time so its last event (transaction or label report) happens at ``end``.

    For fast replays of history into a live worker: every event stays in the past, where
    ``--shift-to-now`` with a speedup would run event time into the future (dead-lettered).
    """
    last = dataset.transactions["event_time"].max()
    if len(dataset.labels):
        last = max(last, dataset.labels["reported_at"].max())
    first = dataset.transactions["event_time"].min()
    return shift_to(dataset, (pd.Timestamp(end) - (last - first)).to_pydatetime())


class Pacer:
    """Holds the replay back to ``rate`` events/s or ``speedup`` x event time; else never waits."""

    def __init__(
        self,
        rate: float | None = None,
        speedup: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate is not None and speedup is not None:
            raise ValueError("choose either a rate or a speedup, not both")
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive events/s, got {rate}")
        if speedup is not None and speedup <= 0:
            raise ValueError(f"speedup must be positive, got {speedup}")
        self.rate, self.speedup, self._clock, self._sleep = rate, speedup, clock, sleep
        self._start_wall: float | None = None
        self._start_ts: int | None = None

    def wait(self, index: int, timestamp_ms: int) -> float:
        """Sleep until event ``index`` (at ``timestamp_ms``) is due; returns seconds slept."""
        if self.rate is None and self.speedup is None:
            return 0.0
        now = self._clock()
        if self._start_wall is None:
            self._start_wall, self._start_ts = now, timestamp_ms
            return 0.0
        assert self._start_ts is not None
        if self.rate is not None:
            due = self._start_wall + index / self.rate
        else:
            assert self.speedup is not None
            due = self._start_wall + (timestamp_ms - self._start_ts) / 1000.0 / self.speedup
        delay = due - now
        if delay > 0.001:
            self._sleep(delay)
            return delay
        return 0.0


@dataclass
class ReplaySummary:
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    #: flushes the visibility barrier made (see :class:`VisibilityBarrier`)
    flushes: int = 0
    drift: dict[str, Any] | None = None
    first_event_time: str | None = None
    last_event_time: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.acknowledged == self.sent

    @property
    def acknowledged_per_second(self) -> float:
        return self.acknowledged / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "failed": self.failed,
            "by_topic": self.by_topic,
            "errors": self.errors,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "flushes": self.flushes,
            "acknowledged_per_second": round(self.acknowledged_per_second, 1),
            "first_event_time": self.first_event_time,
            "last_event_time": self.last_event_time,
            "drift": self.drift,
        }


def replay(
    dataset: Dataset,
    kafka: KafkaTarget,
    topics: TopicNames,
    pacer: Pacer | None = None,
    drift: DriftSpec | None = None,
    limit: int | None = None,
    producer_config: dict[str, object] | None = None,
    progress: bool | None = None,
    barrier: bool = True,
    registry_url: str | None = None,
) -> ReplaySummary:
    """Send the dataset and wait for every delivery report; with ``barrier`` (the default),
    flush where :class:`VisibilityBarrier` says, so the stream worker's alignment never depends on
    how the client happens to schedule its partitions' batches."""
    summary = ReplaySummary()
    if drift is not None:
        changed, summary.drift = drift.apply(dataset.transactions)
        dataset = Dataset(changed, dataset.labels, dataset.parameters, dataset.scenario_counts)
    pacer = pacer or Pacer()
    config = client_config(kafka, **PRODUCER_DEFAULTS, **(producer_config or {}))
    producer = warmed_producer(config, [topics.transactions, topics.labels])

    kinds = {topics.transactions: "transaction", topics.labels: "label"}

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        topic = msg.topic() or ""
        if err is None:
            summary.acknowledged += 1
            replay_metrics.EVENTS_ACKNOWLEDGED.labels(topic, kinds.get(topic, "other")).inc()
        else:
            summary.failed += 1
            replay_metrics.EVENTS_FAILED.labels(topic, kinds.get(topic, "other")).inc()
            if len(summary.errors) < 10:
                summary.errors.append(f"{msg.topic()}: {err.str()}")

    sent_counters = {t: replay_metrics.EVENTS_SENT.labels(t, k) for t, k in kinds.items()}
    reported: dict[str, int] = {}
    total = len(dataset.transactions) + len(dataset.labels)
    total = min(total, limit) if limit is not None else total
    started = time.perf_counter()
    last_ts = None
    ordering = VisibilityBarrier() if barrier else None
    with tqdm(total=total, desc="replay", unit="ev", disable=progress is False or None, mininterval=0.5) as bar:
        for index, event in enumerate(encoded_events(dataset, topics, limit, registry_url)):
            pacer.wait(index, event.timestamp_ms)
            if ordering is not None and ordering.before(event.timestamp_ms, event.is_label):
                barrier_flush(producer)
            while True:
                try:
                    producer.produce(
                        event.topic, event.value, event.key, timestamp=event.timestamp_ms, on_delivery=on_delivery
                    )
                    break
                except BufferError:
                    producer.poll(0.05)  # local queue full: let deliveries drain
            summary.sent += 1
            summary.by_topic[event.topic] = summary.by_topic.get(event.topic, 0) + 1
            if summary.first_event_time is None:
                summary.first_event_time = _iso(event.timestamp_ms)
            last_ts = event.timestamp_ms
            if index % 1000 == 999:
                producer.poll(0)
                for topic, count in summary.by_topic.items():
                    sent_counters[topic].inc(count - reported.get(topic, 0))
                    reported[topic] = count
                replay_metrics.EVENT_TIME.set(event.timestamp_ms / 1000)
                bar.update(index + 1 - bar.n)
        remaining = producer.flush(60)
        for topic, count in summary.by_topic.items():
            sent_counters[topic].inc(count - reported.get(topic, 0))
        bar.update(total - bar.n)
    if remaining:
        summary.failed += remaining
        summary.errors.append(f"{remaining} message(s) still undelivered after a 60 s flush")
    summary.last_event_time = _iso(last_ts) if last_ts is not None else None
    summary.flushes = ordering.flushes if ordering is not None else 0
    summary.elapsed_seconds = time.perf_counter() - started
    return summary


def barrier_flush(producer: Any, wait: float = 60.0) -> int:
    """Flush until no record is queued, each delivered or failed (librdkafka gives one up after its
    ``message.timeout.ms``), and return how many flushes that took. A barrier's promise is that
    no later record is sent before the earlier ones are on the broker; a flush that ends with
    records still queued (the broker away for a while) must not be taken for one that delivered.
    """
    flushes = 1
    while remaining := producer.flush(wait):
        log.warning(f"visibility barrier: {remaining} record(s) still undelivered after {wait:g} s; "
                    "the later records wait for them")  # fmt: skip
        flushes += 1
    return flushes


def _iso(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).isoformat()
