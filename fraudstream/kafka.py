"""Create the project's topics (idempotently), check a cluster answers, and the client settings we share.

Every function that talks to Kafka takes a :data:`KafkaTarget`: a bootstrap address (a plaintext
cluster, as in tests) or a whole librdkafka configuration, the one
:meth:`~fraudstream.settings.FraudstreamSettings.client_config` builds with the security settings.

``PRODUCER_DEFAULTS`` sets ``partitioner=murmur2_random``: librdkafka's default partitioner
(CRC32) differs from the Java clients' and aiokafka's (murmur2), and transactions, labels and the
Faust worker's card table must agree on which partition a card lives in.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from fraudstream.errors import FraudstreamError

log = logging.getLogger("fraudstream.kafka")

#: a bootstrap address, or a librdkafka configuration holding ``bootstrap.servers``
KafkaTarget = str | Mapping[str, Any]


#: where librdkafka's own log lines go (instead of straight to stderr): the processes' handlers,
#: which hold most of them back during an outage (``fraudstream/logs.py``)
CLIENT_LOG = logging.getLogger("fraudstream.kafka.client")


def client_config(target: KafkaTarget, **overrides: Any) -> dict[str, Any]:
    """The librdkafka configuration for ``target``, with ``overrides``; its log lines go to :data:`CLIENT_LOG`.

    >>> config = client_config("127.0.0.1:9092", **{"group.id": "g"})
    >>> config["bootstrap.servers"], config["group.id"], config["logger"].name
    ('127.0.0.1:9092', 'g', 'fraudstream.kafka.client')
    """
    base: dict[str, Any] = {"bootstrap.servers": target} if isinstance(target, str) else dict(target)
    return {"logger": CLIENT_LOG, **base, **overrides}


def admin_config(target: KafkaTarget) -> dict[str, Any]:
    """An admin client's configuration: its own log lines off, as its failures come back as errors
    of the calls made (an admin client that logs through :data:`CLIENT_LOG` serves the lines from
    a thread of librdkafka's own, which has crashed a process here)."""
    config = client_config(target, log_level=0)
    del config["logger"]
    return config


class KafkaUnavailableError(FraudstreamError, ConnectionError):
    """No broker of the configured cluster accepted a connection, a login or a TLS handshake."""


#: librdkafka errors that say why a cluster cannot be used, most telling first
_CAUSES = (KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._RESOLVE)
#: errors that waiting longer cannot cure
_REFUSALS = (KafkaError._AUTHENTICATION, KafkaError._SSL)


def check_connection(target: KafkaTarget, timeout: float = 10.0) -> None:
    """Return when a broker of ``target`` answers a metadata request; raise :class:`KafkaUnavailableError`
    within about ``timeout`` with one line naming the address, the cause and what to check.

    librdkafka retries a refused connection, a failed login or handshake quietly for as long as a
    request may wait, logging each attempt; so every command checks first, with its logs off. A
    refused login or TLS handshake fails at once: waiting cannot cure it.
    """
    config = client_config(target)
    errors: list[KafkaError] = []
    quiet: dict[str, Any] = {**admin_config(config), "error_cb": errors.append}
    admin = AdminClient(quiet)
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
            return
        except KafkaException as exc:
            admin.poll(0)  # serves the error callbacks queued meanwhile
            refused = any(error.code() in _REFUSALS for error in errors)
            if refused or time.monotonic() >= deadline:
                # the client's own error (first) says less than what its error callback heard before
                first = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                errors.insert(0, first or KafkaError(KafkaError._TIMED_OUT))
                raise KafkaUnavailableError(unavailable_message(config, errors, timeout)) from None


def unavailable_message(config: Mapping[str, Any], errors: list[KafkaError], timeout: float) -> str:
    """One line for why the cluster of ``config`` did not answer: the address, the cause, what to check."""
    address = config.get("bootstrap.servers")
    protocol = str(config.get("security.protocol", "PLAINTEXT")).upper()
    cause = next((error for code in _CAUSES for error in reversed(errors) if error.code() == code), None)
    reason = f" ({cause.str()})" if cause is not None else ""
    if cause is not None and cause.code() == KafkaError._AUTHENTICATION:
        return (
            f"Kafka at {address} refused the login of {config.get('sasl.username')!r} "
            f"({config.get('sasl.mechanism')}){reason}: check FRAUDSTREAM_SECURITY__SASL_USERNAME, "
            f"FRAUDSTREAM_SECURITY__SASL_MECHANISM and the password (FRAUDSTREAM_SECURITY__SASL_PASSWORD or _FILE)"
        )
    if cause is not None and cause.code() == KafkaError._SSL:
        return (
            f"the TLS handshake with Kafka at {address} failed{reason}: check that FRAUDSTREAM_SECURITY__CA_FILE "
            f"names the CA that signed the broker's certificate and that the broker listens with "
            f"{protocol} there"
        )
    return (
        f"no Kafka broker answered at {address} within {timeout:g} s{reason}: check FRAUDSTREAM_BOOTSTRAP_SERVERS "
        f"(or --bootstrap-servers), that the broker runs (`fraudstream kafka status`), and that its listener "
        f"there speaks {protocol} (FRAUDSTREAM_SECURITY__PROTOCOL)"
    )


PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "partitioner": "murmur2_random",
    "linger.ms": 20,
    "batch.num.messages": 10_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
}


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The partition of a record key under the Java client's default partitioner (librdkafka's
    ``murmur2_random`` for non-empty keys, which ``PRODUCER_DEFAULTS`` sets): murmur2, positive,
    modulo ``partitions``. The state bootstrap files each card where the replay and the worker do.

    >>> murmur2_partition(b"card_000001", 4) == murmur2_partition(b"card_000001", 4) < 4
    True
    """
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    length = len(key)
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= key[base + 2] << 16
    if tail >= 2:
        h ^= key[base + 1] << 8
    if tail >= 1:
        h ^= key[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def warmed_producer(config: Mapping[str, Any], topics: Iterable[str], timeout: float = 30.0) -> Producer:
    """A producer that already knows the partitions of ``topics``.

    The stream worker assumes that a record written before another, to any partition of the source
    topics, becomes visible at most its ``producer_skew`` later (``consumers/scoring/alignment.py``).
    A new producer learns each topic's partitions with a metadata request made when the topic's
    first record is produced; records wait for it, so the first records of one topic can become
    visible a round trip later than records of another written after them. Asking for every
    topic's metadata before the first record removes that wait.
    """
    producer = Producer(dict(config))
    for topic in dict.fromkeys(topics):
        producer.list_topics(topic, timeout=timeout)
    return producer


#: Record timestamps are event times. Time-based retention would delete a replay of historical data
#: (older than the retention period) as soon as it is written, and with it offsets a consumer has
#: committed; so the project's topics are retained by size instead.
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": str(1 << 30)}


def ensure_topics(
    kafka: KafkaTarget,
    names: Iterable[str],
    partitions: int = 3,
    timeout: float = 30.0,
    config: Mapping[str, str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet (``config``, by default size-based retention);
    returns the names created.

    A broker that is away (every connection refused) is asked again each second until ``timeout``:
    a long-running process that found the broker a moment ago rides out a restart during its
    start-up instead of dying with a traceback.
    """
    admin = AdminClient(admin_config(kafka))
    deadline, warned = time.monotonic() + timeout, False
    while True:
        try:
            existing = set(admin.list_topics(timeout=max(0.1, deadline - time.monotonic())).topics)
            break
        except KafkaException as exc:
            code = exc.args[0].code() if exc.args and isinstance(exc.args[0], KafkaError) else None
            if code not in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT) or time.monotonic() + 1 > deadline:
                raise
            if not warned:
                log.warning(f"creating topics: the broker is not answering ({exc.args[0].str()}); asking again "
                            f"for up to {deadline - time.monotonic():.0f} s")  # fmt: skip
                warned = True
            time.sleep(1.0)
    wanted = [name for name in dict.fromkeys(names) if name not in existing]
    if not wanted:
        return []
    settings = dict(config or TOPIC_CONFIG)
    new = [NewTopic(name, num_partitions=partitions, replication_factor=1, config=settings) for name in wanted]
    futures = admin.create_topics(new, operation_timeout=timeout)
    for future in futures.values():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args and getattr(exc.args[0], "name", lambda: "")() == "TOPIC_ALREADY_EXISTS":
                continue
            raise
    return wanted


def delete_topics(kafka: KafkaTarget, names: Iterable[str], timeout: float = 30.0) -> None:
    admin = AdminClient(admin_config(kafka))
    futures = admin.delete_topics(list(names), operation_timeout=timeout)
    for future in futures.values():
        with contextlib.suppress(KafkaException):  # already gone is fine
            future.result(timeout=timeout)
