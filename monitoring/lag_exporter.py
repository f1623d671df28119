"""Consumer-lag exporter: how far each consumer group is behind, per topic partition.

For every (group, topic, partition) it exports two gauges:

* ``fraudstream_consumer_lag_messages``: log end offset minus the group's committed offset (a
  partition the group has never committed counts from the log start offset, which is where our
  consumers start);
* ``fraudstream_consumer_lag_seconds``: the age of the oldest unconsumed event, i.e. now minus the
  record timestamp of the message at the committed offset; 0 when nothing is unconsumed. Our
  producers stamp records with the event time, so in a replay of historical data this is the age in
  event time (replay with ``--shift-to-now`` for wall-clock ages).

It reads offsets with the admin API and one ``fetch`` per lagging partition per round; it never
joins the groups it watches. Measurements run every ``interval`` seconds in a loop and a scrape
returns the last round, so a slow broker delays the numbers but not the scrape.
``fraudstream_consumer_lag_exporter_up`` is 0 while the last round failed (the previous numbers
are dropped, not served as if fresh).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from pydantic import BaseModel, ConfigDict, Field

from fraudstream.kafka import KafkaTarget, admin_config, client_config
from fraudstream.logs import CLIENT_LOG_INTERVAL

log = logging.getLogger("fraudstream.lag")

#: librdkafka's "no committed offset" marker (OFFSET_INVALID)
NO_OFFSET = -1001


@dataclass(frozen=True)
class LagTarget:
    """A consumer group and the topics it consumes."""

    group: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None
    log_start: int
    log_end: int
    #: record timestamp (ms) of the oldest unconsumed message; None when nothing is unconsumed
    oldest_unconsumed_ms: int | None

    @property
    def position(self) -> int:
        """Where the group resumes: its committed offset, or the log start if none (or deleted)."""
        return self.log_start if self.committed is None else max(self.committed, self.log_start)

    @property
    def messages(self) -> int:
        return max(0, self.log_end - self.position)

    def seconds(self, now: float) -> float:
        if self.messages == 0 or self.oldest_unconsumed_ms is None:
            return 0.0
        return max(0.0, now - self.oldest_unconsumed_ms / 1000)


def parse_targets(specs: Iterable[str]) -> list[LagTarget]:
    """``GROUP=TOPIC[,TOPIC...]`` strings (the CLI's ``--target``) as targets."""
    targets = []
    for spec in specs:
        group, sep, topics = spec.partition("=")
        names = tuple(t.strip() for t in topics.split(",") if t.strip())
        if not sep or not group.strip() or not names:
            raise ValueError(f"a target is GROUP=TOPIC[,TOPIC...], got {spec!r}")
        targets.append(LagTarget(group.strip(), names))
    return targets


class LagMeter:
    """Measures lag with one admin client and one non-committing reader consumer."""

    def __init__(self, kafka: KafkaTarget, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.admin = AdminClient(admin_config(kafka))
        # the reader never subscribes (assign only) and never commits, so it joins no group
        self.reader = Consumer({
            **client_config(kafka),
            "group.id": f"fraudstream-lag-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 50,
        })  # fmt: skip

    def close(self) -> None:
        self.reader.close()

    def measure(self, targets: Iterable[LagTarget]) -> list[PartitionLag]:
        rows: list[PartitionLag] = []
        for target in targets:
            rows.extend(self._measure_group(target))
        self._fill_oldest_timestamps(rows)
        return rows

    def _partitions(self, topic: str) -> list[int]:
        metadata = self.admin.list_topics(topic, timeout=self.timeout).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise KafkaException(metadata.error if metadata else f"no metadata for topic {topic}")
        return sorted(metadata.partitions)

    def _measure_group(self, target: LagTarget) -> list[PartitionLag]:
        partitions = [TopicPartition(topic, p) for topic in target.topics for p in self._partitions(topic)]
        request = ConsumerGroupTopicPartitions(target.group, partitions)
        futures = self.admin.list_consumer_group_offsets([request], request_timeout=self.timeout)
        committed = {(tp.topic, tp.partition): tp.offset for tp in futures[target.group].result().topic_partitions}
        rows = []
        for tp in partitions:
            low, high = self.reader.get_watermark_offsets(tp, timeout=self.timeout, cached=False)
            offset = committed.get((tp.topic, tp.partition), NO_OFFSET)
            rows.append(PartitionLag(target.group, tp.topic, tp.partition, None if offset < 0 else offset,
                                     low, high, None))  # fmt: skip
        return rows

    def _fill_oldest_timestamps(self, rows: list[PartitionLag]) -> None:
        """Read the first unconsumed record of every lagging partition for its timestamp."""
        wanted: dict[tuple[str, int], set[int]] = {}
        for row in rows:
            if row.messages:
                wanted.setdefault((row.topic, row.partition), set()).add(row.position)
        found: dict[tuple[str, int, int], int] = {}
        if wanted:
            self.reader.assign([TopicPartition(t, p, min(offsets)) for (t, p), offsets in wanted.items()])
            deadline = time.monotonic() + self.timeout
            while wanted and time.monotonic() < deadline:
                for message in self.reader.consume(num_messages=500, timeout=0.2):
                    key = (message.topic(), message.partition())
                    offset = message.offset()
                    if message.error() or key not in wanted or offset is None:
                        continue
                    # the first record at or after a position (offsets can skip: control records)
                    for position in [o for o in wanted[key] if o <= offset]:
                        found[(*key, position)] = message.timestamp()[1]
                        wanted[key].discard(position)
                    if not wanted[key]:
                        del wanted[key]
                        self.reader.incremental_unassign([TopicPartition(*key)])
            self.reader.unassign()
        for index, row in enumerate(rows):
            ts = found.get((row.topic, row.partition, row.position))
            if row.messages and ts is not None:
                rows[index] = dataclasses.replace(row, oldest_unconsumed_ms=ts)


class LagCollector(Collector):
    """Serves the last measurement round to Prometheus."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[PartitionLag] = []
        self._measured_at = 0.0
        self._up = False
        self._rounds = 0
        self._failures = 0

    def update(self, rows: list[PartitionLag] | None, measured_at: float) -> None:
        with self._lock:
            self._rounds += 1
            if rows is None:
                self._failures += 1
                self._rows, self._up = [], False
            else:
                self._rows, self._up, self._measured_at = rows, True, measured_at

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            rows, measured_at, up = list(self._rows), self._measured_at, self._up
            rounds, failures = self._rounds, self._failures
        labels = ["group", "topic", "partition"]
        messages = GaugeMetricFamily("fraudstream_consumer_lag_messages",
                                     "Messages not yet committed by the group.", labels=labels)  # fmt: skip
        seconds = GaugeMetricFamily(
            "fraudstream_consumer_lag_seconds", "Age of the oldest unconsumed event (record timestamp).", labels=labels
        )
        for row in rows:
            key = [row.group, row.topic, str(row.partition)]
            messages.add_metric(key, row.messages)
            if row.messages == 0 or row.oldest_unconsumed_ms is not None:  # unknown age: no sample, not 0
                seconds.add_metric(key, row.seconds(measured_at))
        yield messages
        yield seconds
        yield GaugeMetricFamily("fraudstream_consumer_lag_exporter_up",
                                "1 when the last measurement round succeeded.", value=1 if up else 0)  # fmt: skip
        yield CounterMetricFamily("fraudstream_consumer_lag_exporter_rounds", "Measurement rounds.", value=rounds)
        yield CounterMetricFamily("fraudstream_consumer_lag_exporter_failures", "Failed rounds.", value=failures)


class LagExporterConfig(BaseModel):
    """The exporter process (``fraudstream lag-exporter``); durations in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: serve ``/metrics`` on this port
    port: int = Field(default=8003, ge=1, le=65535)
    #: seconds between measurement rounds
    interval: float = Field(default=5.0, gt=0)


def run_lag_exporter(
    kafka: KafkaTarget,
    targets: list[LagTarget],
    interval: float,
    rounds: int | None = None,
    collector: LagCollector | None = None,
    stop: threading.Event | None = None,
) -> LagCollector:
    """Measure every ``interval`` seconds (``rounds`` times, or until ``stop`` is set)."""
    if not targets:
        raise ValueError("the lag exporter needs at least one GROUP=TOPIC target")
    if collector is None:
        collector = LagCollector()
        REGISTRY.register(collector)
    stop = stop or threading.Event()
    meter = LagMeter(kafka, timeout=max(1.0, interval))
    done = 0
    try:
        failing_since: float | None = None  # an outage is logged when it starts, every so often, and when it ends
        last_said = 0.0
        while not stop.is_set() and (rounds is None or done < rounds):
            began = time.monotonic()
            try:
                collector.update(meter.measure(targets), time.time())
                if failing_since is not None:
                    log.warning(f"lag measured again after {began - failing_since:.0f} s of failures")
                    failing_since = None
            except KafkaException as exc:  # broker away: report down, keep trying
                if failing_since is None or began - last_said >= CLIENT_LOG_INTERVAL:
                    since = "" if failing_since is None else f" (failing for {began - failing_since:.0f} s)"
                    log.warning(f"lag measurement failed{since}: {exc}")
                    last_said = began
                failing_since = began if failing_since is None else failing_since
                collector.update(None, time.time())
            done += 1
            if rounds is None or done < rounds:
                stop.wait(max(0.0, interval - (time.monotonic() - began)))
    finally:
        meter.close()
    return collector
