"""Create the project's topics (idempotently) and the confluent-kafka client settings we share.

``PRODUCER_DEFAULTS`` sets ``partitioner=murmur2_random``: librdkafka's default partitioner
(CRC32) differs from the Java clients' and aiokafka's (murmur2), and transactions, labels and the
Faust worker's card table must agree on which partition a card lives in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

PRODUCER_DEFAULTS: dict[str, object] = {
    "enable.idempotence": True,
    "acks": "all",
    "partitioner": "murmur2_random",
    "linger.ms": 20,
    "batch.num.messages": 10_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
}


def warmed_producer(config: dict[str, object], topics: Iterable[str], timeout: float = 30.0) -> Producer:
    """A producer that already knows the partitions of ``topics``.

    The stream worker assumes that a record written before another, to any partition of the source
    topics, becomes visible at most its ``producer_skew`` later (``consumers/scoring/alignment.py``).
    A new producer learns each topic's partitions with a metadata request made when the topic's
    first record is produced; records wait for it, so the first records of one topic can become
    visible a round trip later than records of another written after them. Asking for every
    topic's metadata before the first record removes that wait.
    """
    producer = Producer(config)
    for topic in dict.fromkeys(topics):
        producer.list_topics(topic, timeout=timeout)
    return producer


#: Record timestamps are event times. Time-based retention would delete a replay of historical data
#: (older than the retention period) as soon as it is written, and with it offsets a consumer has
#: committed; so the project's topics are retained by size instead.
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": str(1 << 30)}


def ensure_topics(
    bootstrap_servers: str, names: Iterable[str], partitions: int = 3, timeout: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet (size-based retention); returns the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [name for name in dict.fromkeys(names) if name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=TOPIC_CONFIG) for name in wanted],
        operation_timeout=timeout,
    )
    for future in futures.values():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args and getattr(exc.args[0], "name", lambda: "")() == "TOPIC_ALREADY_EXISTS":
                continue
            raise
    return wanted


def delete_topics(bootstrap_servers: str, names: Iterable[str], timeout: float = 30.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    futures = admin.delete_topics(list(names), operation_timeout=timeout)
    for future in futures.values():
        with contextlib.suppress(KafkaException):  # already gone is fine
            future.result(timeout=timeout)
