"""Ten thousand malformed records among good ones: each dead-lettered with its reason, no card number kept.

The bad records are seeded random draws of every kind an upstream system or an attacker can send
(random bytes, truncations, unknown and wrong fingerprints, invalid fields, values near the
broker's size limit, tombstones, card numbers in any id or the key or a header, missing keys), on
both source topics. Afterwards every topic the worker wrote (decisions, dead letters, its state
changelogs), its log and its metrics are searched for card numbers.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from consumers.scoring.records import DEAD_LETTER_REASONS
from fraudstream.kafka import PRODUCER_DEFAULTS
from fraudstream.pan import luhn_valid
from fraudstream.settings import TopicNames
from producers.adapters import load_dataset
from producers.config import GeneratorConfig
from producers.replay import label_records, transaction_records
from schemas.codec import AvroCodec
from tests.integration.worker_harness import WorkerProcess, decisions, promoted_model, topic_size, wait_for

BAD_RECORDS = 10_500
GOOD_TRANSACTIONS = 4_000
#: every card number the test sent
SENT: set[str] = set()
_RUNS = re.compile(rb"[0-9](?:[ -]?[0-9])*")


def _pan(rng: random.Random) -> str:
    body = "4" + "".join(rng.choice("0123456789") for _ in range(rng.randint(12, 18) - 1))
    pan = body + next(d for d in "0123456789" if luhn_valid(body + d))
    SENT.add(pan)
    return pan


def sent_pans_in(data: bytes) -> list[str]:
    """The card numbers this test sent that ``data`` holds, in any grouping, glued to anything."""
    found = []
    for match in _RUNS.finditer(data):
        digits = match.group().replace(b" ", b"").replace(b"-", b"").decode()
        if len(digits) >= 13:
            found += [pan for pan in SENT if pan in digits]
    return found


def _with_pan(rng: random.Random) -> str:
    pan = _pan(rng)
    if rng.random() < 0.3:
        pan = rng.choice(" -").join(pan[i : i + 4] for i in range(0, len(pan), 4))
    return rng.choice(["{}", "tx-{}", "{}_x", "a{}b"]).format(pan)


def _bad(rng: random.Random, tx: dict, label: dict, topics: TopicNames) -> tuple[str, bytes | None, bytes | None, list]:
    """One malformed record: (topic, key, value, headers)."""
    tx_codec, label_codec = AvroCodec.for_record("Transaction"), AvroCodec.for_record("Label")
    topic, codec, record = (
        (topics.labels, label_codec, label) if rng.random() < 0.25 else (topics.transactions, tx_codec, tx)
    )
    key = record["card_id"].encode()
    headers: list = []
    kind = rng.randrange(11)
    if kind == 0:
        value: bytes | None = rng.randbytes(rng.randint(0, 300))
    elif kind == 1:
        encoded = codec.encode(record)
        value = encoded[: rng.randrange(len(encoded))]
    elif kind == 2:
        value = b"\xc3\x01" + rng.randbytes(8) + codec.encode(record)[10:]
    elif kind == 3:  # a label on the transactions topic, or the other way round
        other = label_codec if codec is tx_codec else tx_codec
        value = other.encode(label if codec is tx_codec else tx)
    elif kind == 4:
        field, bad = rng.choice([("amount", -1.0), ("amount", math.nan), ("amount", math.inf), ("amount", 1e9),
                                 ("transaction_id", ""), ("terminal_id", "t" * 500), ("card_id", "a b"),
                                 ("event_time", 4_102_444_800_000 + rng.randrange(9)), ("event_time", 10)])  # fmt: skip
        if codec is label_codec and field == "amount":
            field, bad = "reported_at", record["event_time"] - 1
        value = codec.encode({**record, field: bad})
    elif kind == 5:
        value = rng.randbytes(rng.randint(600_000, 1_000_000)) if rng.random() < 0.01 else rng.randbytes(5000)
    elif kind == 6:
        value = None
    elif kind == 7:
        field = rng.choice(["transaction_id", "card_id", "terminal_id"])
        changed = {**record, field: _with_pan(rng)}
        key = changed["card_id"].encode()
        value = codec.encode(changed)
    elif kind == 8:
        value, key = codec.encode(record), _pan(rng).encode()
    elif kind == 9:
        value, key = codec.encode(record), None
    else:  # a card number in an original header, on a record that is bad anyway
        value = rng.randbytes(40)
        headers = [("ref", f"card {_pan(rng)}".encode()), ("trace", rng.randbytes(8))]
    return topic, key, value, headers


@pytest.fixture(scope="module")
def fuzz_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    data, store, _ = promoted_model(root, GeneratorConfig(n_customers=300, n_terminals=600, n_days=28, seed=12))
    return root, store, load_dataset(data)


def test_ten_thousand_malformed_records_are_dead_lettered_with_a_reason_and_no_card_number_survives(
    fuzz_model, bootstrap_servers, topic_factory
) -> None:
    root, store, dataset = fuzz_model
    topics = TopicNames(transactions=topic_factory("tx"), labels=topic_factory("labels"),
                        decisions=topic_factory("decisions"), dlq=topic_factory("dlq"))  # fmt: skip
    good = transaction_records(dataset.transactions.head(GOOD_TRANSACTIONS))
    labels = label_records(dataset.labels.head(50))
    rng = random.Random(2026)
    codec = AvroCodec.for_record("Transaction")
    producer = Producer({"bootstrap.servers": bootstrap_servers, **PRODUCER_DEFAULTS, "message.max.bytes": 1_048_000})
    placed: dict[tuple[str, int, int], str] = {}  # (topic, partition, offset) -> "good" / "bad"
    failures: list[str] = []

    def sent(kind: str):
        def report(err, msg) -> None:
            if err is not None:
                failures.append(str(err))
            else:
                placed[(msg.topic(), msg.partition(), msg.offset())] = kind

        return report

    bad_every = GOOD_TRANSACTIONS / BAD_RECORDS
    owed = 0.0
    for record in good:
        producer.produce(topics.transactions, codec.encode(record), record["card_id"].encode(),
                         timestamp=int(record["event_time"]), on_delivery=sent("good"))  # fmt: skip
        owed += 1 / bad_every
        while owed >= 1:
            owed -= 1
            topic, key, value, headers = _bad(rng, record, rng.choice(labels), topics)
            producer.produce(topic, value, key, headers=headers or None, on_delivery=sent("bad"))
        producer.poll(0)
    assert producer.flush(120) == 0
    assert not failures, failures[:3]
    bad_count = sum(1 for kind in placed.values() if kind == "bad")
    assert bad_count >= 10_000

    app_id = f"fuzz-{topics.dlq[-8:]}"
    worker = WorkerProcess(bootstrap_servers, topics, store, app_id, root, env={"FRAUDSTREAM_LOG_FORMAT": "json"})
    worker.start()
    try:
        wait_for(lambda: topic_size(bootstrap_servers, topics.dlq) >= bad_count
                 and topic_size(bootstrap_servers, topics.decisions) >= len(good), 300,
                 "every record decided or dead-lettered", worker)  # fmt: skip
        assert worker.process is not None
        assert worker.process.poll() is None, "the worker died"
        metrics = worker.metrics()
    finally:
        worker.stop()

    assert sorted(d["transaction_id"] for d in decisions(bootstrap_servers, topics.decisions)) == sorted(
        r["transaction_id"] for r in good
    )
    letters = _read_all(bootstrap_servers, topics.dlq)
    sources, reasons = Counter(), Counter()
    for message in letters:
        headers = dict(message.headers())
        assert headers["error_type"].decode() in DEAD_LETTER_REASONS
        assert headers["error_message"]
        source = (headers["source_topic"].decode(), int(headers["source_partition"]), int(headers["source_offset"]))
        sources[source] += 1
        reasons[headers["error_type"].decode()] += 1
    expected = {position for position, kind in placed.items() if kind == "bad"}
    assert set(sources) == expected  # every bad record, by its topic, partition and offset
    assert max(sources.values()) == 1
    assert {"card_number", "empty", "key_mismatch", "bad_marker", "invalid", "malformed_body"} <= set(reasons)

    changelogs = [name for name in AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(timeout=10).topics
                  if name.startswith(app_id) and name.endswith("-changelog")]  # fmt: skip
    assert len(changelogs) == 2
    everything = letters + [m for topic in [topics.decisions, *changelogs] for m in _read_all(bootstrap_servers, topic)]
    holding = []
    for message in everything:
        parts = [message.key() or b"", message.value() or b""] + [v or b"" for _, v in message.headers() or []]
        if any(sent_pans_in(part) for part in parts):
            holding.append((message.topic(), message.partition(), message.offset()))
    assert len(SENT) > 1000
    assert holding == [], f"{len(holding)} records hold a card number, e.g. {holding[:3]}"
    assert not sent_pans_in(worker.log_path.read_bytes()), "a card number in the worker's log"
    assert not sent_pans_in(metrics.encode())
    # the tombstones stayed tombstones
    assert sum(1 for m in letters if m.value() is None) == reasons_of_tombstones(letters) > 0


def reasons_of_tombstones(letters) -> int:
    return sum(1 for m in letters if dict(m.headers())["error_message"].startswith(b"A tombstone"))


def _read_all(bootstrap_servers: str, topic: str) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": f"fuzz-read-{topic}",
                         "enable.partition.eof": True, "auto.offset.reset": "earliest"})  # fmt: skip
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    messages, done = [], set()
    while len(done) < len(partitions):
        for message in consumer.consume(5000, timeout=2):
            if message.error() is None:
                messages.append(message)
            elif message.error().code() == KafkaError._PARTITION_EOF:
                done.add(message.partition())
    consumer.close()
    return messages
