"""Replay generated events into the real broker and read them back with an independent consumer."""

from __future__ import annotations

from collections import defaultdict

import pytest

from consumers.topic_audit import read_topic
from fraudstream.kafka import murmur2_partition
from fraudstream.settings import TopicNames
from producers.config import GeneratorConfig
from producers.generator import generate
from producers.replay import encoded_events, replay

N_EVENTS = 10_000


@pytest.fixture(scope="module")
def dataset():
    data = generate(GeneratorConfig(n_customers=400, n_terminals=800, n_days=16, seed=5))
    assert len(data.transactions) + len(data.labels) > N_EVENTS
    return data


def test_replayed_events_arrive_complete_ordered_keyed_and_byte_identical(
    dataset, bootstrap_servers: str, topic_factory
) -> None:
    topics = TopicNames(transactions=topic_factory("tx"), labels=topic_factory("labels"))
    expected = list(encoded_events(dataset, topics, limit=N_EVENTS))

    summary = replay(dataset, bootstrap_servers, topics, limit=N_EVENTS, progress=False)
    assert summary.ok, summary.as_dict()
    assert (summary.sent, summary.acknowledged, summary.failed) == (N_EVENTS, N_EVENTS, 0)

    tx_audit, tx_records = read_topic(bootstrap_servers, topics.transactions, "Transaction", keep_records=True)
    label_audit, label_records = read_topic(bootstrap_servers, topics.labels, "Label", keep_records=True)
    assert tx_audit.records + label_audit.records == N_EVENTS
    assert not tx_audit.decode_errors
    assert not label_audit.decode_errors
    assert label_audit.records > 0

    for topic, got in ((topics.transactions, tx_records), (topics.labels, label_records)):
        want = [e for e in expected if e.topic == topic]
        # byte-identical values, keys and record timestamps, as a multiset
        assert sorted((r.key, r.timestamp_ms, r.value) for r in got) == sorted(
            (e.key, e.timestamp_ms, e.value) for e in want
        )
        # keyed by card, partitioned by murmur2 like the Java clients and Faust
        for r in got:
            assert r.record is not None
            assert r.key == r.record["card_id"].encode()
            assert r.partition == murmur2_partition(r.key, 3)
        # per card, the order on the topic is the replay (event-time) order
        on_topic: dict[bytes, list[bytes]] = defaultdict(list)
        for r in sorted(got, key=lambda r: (r.partition, r.offset)):
            on_topic[r.key].append(r.value)  # type: ignore[index]
        sent: dict[bytes, list[bytes]] = defaultdict(list)
        for e in want:
            sent[e.key].append(e.value)
        assert on_topic == sent
