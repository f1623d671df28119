"""Read a topic back from the beginning and say what is on it (``fraudstream audit``).

An independent confluent-kafka consumer (its own throw-away group, no commits) that decodes every
record with the topic's schema and counts records per partition, decode failures by reason,
distinct keys and the event-time range. The demo uses it to show what arrived; operators use it
to check a topic after a replay.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from fraudstream.kafka import KafkaTarget, client_config
from schemas.codec import DecodeError, SchemaName
from schemas.confluent import codec_for


@dataclass
class AuditedRecord:
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int
    value: bytes
    record: dict[str, Any] | None


@dataclass
class TopicAudit:
    topic: str
    records: int = 0
    by_partition: Counter[int] = field(default_factory=Counter)
    decode_errors: Counter[str] = field(default_factory=Counter)
    keys: set[bytes] = field(default_factory=set)
    first_timestamp_ms: int | None = None
    last_timestamp_ms: int | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "records": self.records,
            "by_partition": dict(sorted(self.by_partition.items())),
            "decode_errors": dict(self.decode_errors),
            "distinct_keys": len(self.keys),
        }


def end_offsets(kafka: KafkaTarget, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """High watermarks per partition: how many records a full read must reach."""
    consumer = Consumer(client_config(kafka, **{"group.id": f"audit-{uuid.uuid4()}"}))
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        if metadata.error is not None:
            raise RuntimeError(f"topic {topic!r}: {metadata.error.str()}")
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in metadata.partitions
        }
    finally:
        consumer.close()


def read_topic(
    kafka: KafkaTarget,
    topic: str,
    schema: SchemaName,
    timeout: float = 60.0,
    keep_records: bool = False,
    samples: int = 3,
    registry_url: str | None = None,
) -> tuple[TopicAudit, list[AuditedRecord]]:
    """Read ``topic`` from the beginning up to its current end offsets (with ``registry_url``,
    Confluent-framed records decode too)."""
    targets = end_offsets(kafka, topic)
    codec = codec_for(schema, topic, registry_url)
    audit, kept = TopicAudit(topic), []
    consumer = Consumer(
        client_config(kafka, **{"group.id": f"audit-{uuid.uuid4()}", "enable.auto.commit": False,
                                "auto.offset.reset": "earliest"})
    )  # fmt: skip
    consumer.assign([TopicPartition(topic, p, 0) for p in targets])
    done = {p for p, end in targets.items() if end == 0}
    deadline = time.monotonic() + timeout
    try:
        while len(done) < len(targets):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"read {audit.records} records of {topic!r} in {timeout:.0f} s; "
                    f"partitions not finished: {sorted(set(targets) - done)}"
                )
            for message in consumer.consume(10_000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(f"consuming {topic!r}: {error.str()}")
                partition, offset = message.partition(), message.offset()
                assert partition is not None
                assert offset is not None
                value = message.value() or b""
                try:
                    record: dict[str, Any] | None = codec.decode(value)
                except DecodeError as exc:
                    record = None
                    audit.decode_errors[exc.reason] += 1
                _, ts = message.timestamp()
                audit.records += 1
                audit.by_partition[partition] += 1
                key = message.key()
                if isinstance(key, str):
                    key = key.encode()
                if key is not None:
                    audit.keys.add(key)
                audit.first_timestamp_ms = ts if audit.first_timestamp_ms is None else min(audit.first_timestamp_ms, ts)
                audit.last_timestamp_ms = ts if audit.last_timestamp_ms is None else max(audit.last_timestamp_ms, ts)
                if record is not None and len(audit.samples) < samples:
                    audit.samples.append(record)
                if keep_records:
                    kept.append(AuditedRecord(partition, offset, key, ts, value, record))
                if offset + 1 >= targets[partition]:
                    done.add(partition)
    finally:
        consumer.close()
    return audit, kept
