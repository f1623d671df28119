"""The consumer-lag exporter against the real broker: lag in messages and in seconds per partition."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitoring.lag_exporter import LagCollector, LagMeter, LagTarget, PartitionLag, parse_targets, run_lag_exporter


def _produce(bootstrap: str, topic: str, partition: int, timestamps_ms: list[int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, ts in enumerate(timestamps_ms):
        producer.produce(topic, value=f"m{i}".encode(), partition=partition, timestamp=ts)
    assert producer.flush(10) == 0


def _commit(bootstrap: str, group: str, topic: str, partition: int, offset: int) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)
    consumer.close()


def test_lag_counts_uncommitted_messages_and_ages_the_oldest_by_its_record_timestamp(
    bootstrap_servers, topic_factory
) -> None:
    topic = topic_factory("lag", partitions=2)
    now_ms = int(time.time() * 1000)
    # partition 0: 100 records, the one at offset 40 is 300 s old and later ones younger
    _produce(bootstrap_servers, topic, 0, [now_ms - 600_000 + i * 7_500 for i in range(100)])
    _produce(bootstrap_servers, topic, 1, [now_ms - 50_000] * 10)
    group = f"g-{uuid.uuid4().hex[:6]}"
    _commit(bootstrap_servers, group, topic, 0, 40)
    _commit(bootstrap_servers, group, topic, 1, 10)
    never = f"never-{uuid.uuid4().hex[:6]}"

    meter = LagMeter(bootstrap_servers)
    try:
        rows = {
            (r.group, r.partition): r for r in meter.measure([LagTarget(group, (topic,)), LagTarget(never, (topic,))])
        }
    finally:
        meter.close()
    measured = time.time()
    assert rows[(group, 0)].messages == 60
    assert rows[(group, 0)].seconds(measured) == pytest.approx(300, abs=5)
    assert rows[(group, 1)].messages == 0
    assert rows[(group, 1)].seconds(measured) == 0
    # a group that never committed resumes at the log start: everything is lag, aged from offset 0
    assert rows[(never, 0)].messages == 100
    assert rows[(never, 1)].messages == 10
    assert rows[(never, 0)].seconds(measured) == pytest.approx(600, abs=5)
    assert rows[(never, 1)].seconds(measured) == pytest.approx(50, abs=5)


def test_the_exporter_serves_gauges_per_group_topic_partition(bootstrap_servers, topic_factory) -> None:
    topic = topic_factory("lagexp", partitions=1)
    _produce(bootstrap_servers, topic, 0, [int(time.time() * 1000) - 30_000] * 5)
    registry = CollectorRegistry()
    collector = LagCollector()
    registry.register(collector)
    run_lag_exporter(bootstrap_servers, [LagTarget("scoring-x", (topic,))], interval=0.1, rounds=2, collector=collector)
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    (messages,) = families["fraudstream_consumer_lag_messages"].samples
    assert messages.labels == {"group": "scoring-x", "topic": topic, "partition": "0"}
    assert messages.value == 5
    (seconds,) = families["fraudstream_consumer_lag_seconds"].samples
    assert seconds.value == pytest.approx(30, abs=5)
    assert families["fraudstream_consumer_lag_exporter_up"].samples[0].value == 1
    assert families["fraudstream_consumer_lag_exporter_rounds"].samples[0].value == 2


def test_a_failed_round_drops_the_old_numbers_and_reports_down() -> None:
    collector = LagCollector()
    collector.update([PartitionLag("g", "t", 0, 5, 0, 9, 1_000)], time.time())
    collector.update(None, time.time())
    families = {f.name: f for f in collector.collect()}
    assert families["fraudstream_consumer_lag_messages"].samples == []
    assert families["fraudstream_consumer_lag_exporter_up"].samples[0].value == 0


def test_an_unreadable_oldest_record_gives_no_age_rather_than_zero() -> None:
    collector = LagCollector()
    collector.update([PartitionLag("g", "t", 0, 5, 0, 9, None)], time.time())
    families = {f.name: f for f in collector.collect()}
    assert families["fraudstream_consumer_lag_messages"].samples[0].value == 4
    assert families["fraudstream_consumer_lag_seconds"].samples == []


def test_targets_parse_from_group_equals_topics_and_reject_bad_specs() -> None:
    assert parse_targets(["g=a, b", "h=c"]) == [LagTarget("g", ("a", "b")), LagTarget("h", ("c",))]
    for bad in ("g", "=a", "g=", "g=,"):
        with pytest.raises(ValueError, match="GROUP=TOPIC"):
            parse_targets([bad])
