"""The Confluent wire format turned on at run time, against a real Confluent-compatible registry.

Apicurio Registry (from Maven Central, ``cli/schema_registry.py``) serves the Confluent Schema
Registry API. With ``FRAUDSTREAM_SCHEMA_REGISTRY_URL`` set, ``fraudstream produce``, the worker and
the drift consumer frame what they write the Confluent way and read it back; confluent-kafka's own
``AvroSerializer`` and ``AvroDeserializer`` are the other side of every topic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from cli.schema_registry import LocalSchemaRegistry
from consumers.drift.config import DriftConfig
from consumers.drift.consumer import run_drift
from consumers.scoring.worker import REGISTRY_EXIT_CODE
from consumers.topic_audit import end_offsets, read_topic
from fraudstream.settings import PROJECT_ROOT, TopicNames
from producers.adapters import load_dataset
from producers.config import GeneratorConfig
from producers.replay import transaction_records
from schemas.codec import AvroCodec, load_schema_json
from schemas.confluent import codec_for
from tests.integration.worker_harness import WorkerProcess, free_port, promoted_model, topic_size, wait_for

PARTITIONS = 3


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    local = LocalSchemaRegistry(tmp_path_factory.mktemp("registry"), port=free_port())
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A dataset and a production model trained on it."""
    root = tmp_path_factory.mktemp("registry-model")
    data, store, _ = promoted_model(root, GeneratorConfig(n_customers=150, n_terminals=300, n_days=21, seed=11))
    return data, store


def _raw_values(bootstrap: str, topic: str) -> list[bytes]:
    ends = end_offsets(bootstrap, topic)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "raw", "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    values: list[bytes] = []
    done = {p for p, end in ends.items() if end == 0}
    try:
        while len(done) < len(ends):
            message = consumer.poll(10)
            assert message is not None, f"{topic}: nothing within 10 s"
            if message.error() is not None:
                assert message.error().code() == KafkaError._PARTITION_EOF
                done.add(message.partition())
                continue
            values.append(message.value())
    finally:
        consumer.close()
    return values


def test_producers_worker_and_drift_consumer_speak_the_confluent_wire_format_through_a_real_registry(
    registry, trained, bootstrap_servers, topic_factory, tmp_path, request
) -> None:
    data, store = trained
    dataset = load_dataset(data)
    topics = TopicNames(
        transactions=topic_factory("tx", PARTITIONS), labels=topic_factory("labels", PARTITIONS),
        decisions=topic_factory("decisions", PARTITIONS), dlq=topic_factory("dlq", PARTITIONS),
        drift_reports=topic_factory("reports", 1),
    )  # fmt: skip
    env = {**os.environ, "FRAUDSTREAM_BOOTSTRAP_SERVERS": bootstrap_servers, "FRAUDSTREAM_PARTITIONS": str(PARTITIONS),
           "FRAUDSTREAM_SCHEMA_REGISTRY_URL": registry.url, **topics.as_env()}  # fmt: skip
    produced = subprocess.run([sys.executable, "-m", "cli.main", "produce", "--data", str(data)], cwd=PROJECT_ROOT,
                              env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert produced.returncode == 0, produced.stdout[-2000:] + produced.stderr[-2000:]

    # transactions written by confluent-kafka's own serializer, after the history, and one
    # written single-object (before the topic switched framing): the worker reads all of them
    client = SchemaRegistryClient({"url": registry.url})
    request.addfinalizer(client.close)
    serializer = AvroSerializer(client, json.dumps(load_schema_json("Transaction")))
    last = transaction_records(dataset.transactions.tail(4))
    extra = [{**record, "transaction_id": f"{record['transaction_id']}-confluent",
              "event_time": record["event_time"] + 3_600_000} for record in last]  # fmt: skip
    producer = Producer({"bootstrap.servers": bootstrap_servers})
    for record in extra[:3]:
        value = serializer(record, SerializationContext(topics.transactions, MessageField.VALUE))
        producer.produce(topics.transactions, value, record["card_id"].encode())
    producer.produce(topics.transactions, AvroCodec.for_record("Transaction").encode(extra[3]),
                     extra[3]["card_id"].encode())  # fmt: skip
    assert producer.flush(30) == 0
    raw_transactions = _raw_values(bootstrap_servers, topics.transactions)
    assert sum(v[0] == 0 for v in raw_transactions) == len(dataset.transactions) + 3

    expected = len(dataset.transactions) + len(extra)
    (tmp_path / "worker").mkdir()
    worker = WorkerProcess(bootstrap_servers, topics, store, "registry-run", tmp_path / "worker", partitions=PARTITIONS,
                           env={"FRAUDSTREAM_SCHEMA_REGISTRY_URL": registry.url}).start()  # fmt: skip
    try:
        wait_for(lambda: topic_size(bootstrap_servers, topics.decisions) >= expected, 300,
                 "a decision for every transaction", worker)  # fmt: skip
    finally:
        worker.stop()
    assert topic_size(bootstrap_servers, topics.dlq) == 0

    # the decisions: Confluent-framed, and confluent-kafka's deserializer reads every one
    deserializer = AvroDeserializer(client)
    raw = _raw_values(bootstrap_servers, topics.decisions)
    assert raw
    assert all(value[0] == 0 for value in raw)
    decided = [deserializer(value, SerializationContext(topics.decisions, MessageField.VALUE)) for value in raw]
    want = set(dataset.transactions["transaction_id"]) | {record["transaction_id"] for record in extra}
    assert {d["transaction_id"] for d in decided} == want
    assert {d["decision"] for d in decided} <= {"APPROVE", "REVIEW", "DECLINE"}
    # ... and so does ours, given the setting; without it, it says what to set
    audit, _ = read_topic(bootstrap_servers, topics.decisions, "Decision", registry_url=registry.url)
    assert audit.records == len(raw)
    assert not audit.decode_errors
    unset, _ = read_topic(bootstrap_servers, topics.decisions, "Decision")
    assert unset.decode_errors == {"bad_marker": len(raw)}

    # the drift consumer reads those decisions and writes Confluent-framed reports
    reports: list[dict] = []
    run_drift(
        DriftConfig(bootstrap_servers=bootstrap_servers, decisions_topic=topics.decisions,
                    reports_topic=topics.drift_reports, schema_registry_url=registry.url, model_store=store,
                    group_id="registry-drift", window=86_400.0, grace=3_600.0, close_idle_after=2.0,
                    stop_idle_after=0.5),
        on_report=reports.append,
    )  # fmt: skip
    assert reports
    raw_reports = _raw_values(bootstrap_servers, topics.drift_reports)
    got = [deserializer(v, SerializationContext(topics.drift_reports, MessageField.VALUE)) for v in raw_reports]
    assert sorted(r["window_id"] for r in got) == sorted(r["window_id"] for r in reports)

    subjects = set(client.get_subjects())
    assert {f"{topic}-value" for topic in (topics.transactions, topics.labels, topics.decisions,
                                           topics.drift_reports)} <= subjects  # fmt: skip


def test_a_worker_that_cannot_reach_the_registry_exits_in_one_line_with_the_record_uncommitted(
    registry, trained, bootstrap_servers, topic_factory, tmp_path
) -> None:
    data, store = trained
    dataset = load_dataset(data)
    topics = TopicNames(transactions=topic_factory("tx", 1), labels=topic_factory("labels", 1),
                        decisions=topic_factory("decisions", 1), dlq=topic_factory("dlq", 1))  # fmt: skip
    record = transaction_records(dataset.transactions.tail(1))[0]
    value = codec_for("Transaction", topics.transactions, registry.url).encode(record)  # id known to `registry` only
    producer = Producer({"bootstrap.servers": bootstrap_servers})
    producer.produce(topics.transactions, value, record["card_id"].encode())
    assert producer.flush(30) == 0
    (tmp_path / "worker").mkdir()
    unreachable = f"http://127.0.0.1:{free_port()}/apis/ccompat/v7"
    worker = WorkerProcess(bootstrap_servers, topics, store, "registry-down", tmp_path / "worker", partitions=1,
                           env={"FRAUDSTREAM_SCHEMA_REGISTRY_URL": unreachable}).start()  # fmt: skip
    try:
        assert worker.wait(120) == REGISTRY_EXIT_CODE
    finally:
        worker.stop()
    log = worker.log_path.read_text()
    (line,) = [line for line in log.splitlines() if "CRITICAL" in line]
    assert unreachable in line
    assert "exiting before offsets are committed" in line
    assert "Traceback" not in log
    assert topic_size(bootstrap_servers, topics.dlq) == 0
    assert topic_size(bootstrap_servers, topics.decisions) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "registry-down"})
    try:
        (committed,) = consumer.committed([TopicPartition(topics.transactions, 0)], timeout=10)
    finally:
        consumer.close()
    assert committed.offset < 1  # the record comes again for the restarted worker
