"""The main job end to end on a small dataset (``fraudstream demo``, the README's first command).

Today: start the local broker, generate a dataset, replay it into Kafka, and read both topics back
with an independent consumer to show what arrived. Training, the scoring worker and the drift
consumer join this path as they land.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from consumers.topic_audit import read_topic
from fraudstream.broker import LocalBroker
from fraudstream.settings import FraudstreamSettings, TopicNames
from fraudstream.topics import ensure_topics
from producers.adapters import load_dataset
from producers.generator import GeneratorConfig, generate_to
from producers.replay import replay


def _step(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def run_demo(settings: FraudstreamSettings, workdir: Path, customers: int = 1_000, days: int = 28) -> int:
    _step("1/4 local Kafka broker")
    port = int(settings.bootstrap_servers.rsplit(":", 1)[-1])
    broker = LocalBroker(settings.home / "kafka", port=port, controller_port=port + 1)
    seconds = broker.start()
    print(f"broker {broker.bootstrap_servers} ready ({seconds:.1f} s to ready; 0 means it was running)")

    _step("2/4 generate a synthetic dataset")
    data_dir = workdir / "data"
    config = GeneratorConfig(n_customers=customers, n_terminals=customers * 2, n_days=days, seed=7)
    manifest = generate_to(config, data_dir)
    print(
        f"{manifest['transactions']:,} transactions, {manifest['frauds']:,} frauds "
        f"({manifest['fraud_rate']:.2%}), scenarios: {manifest['scenarios']}"
    )

    _step("3/4 replay it into Kafka (event-time order, labels at their report time)")
    run = uuid.uuid4().hex[:8]  # fresh topics per demo run, so counts below are this run's
    topics = TopicNames(transactions=f"demo-{run}.transactions", labels=f"demo-{run}.labels")
    ensure_topics(settings.bootstrap_servers, [topics.transactions, topics.labels], settings.partitions)
    summary = replay(load_dataset(data_dir), settings.bootstrap_servers, topics)
    print(json.dumps(summary.as_dict(), indent=2))

    _step("4/4 read the topics back with an independent consumer")
    ok = summary.ok
    for topic, schema, expected in (
        (topics.transactions, "Transaction", manifest["transactions"]),
        (topics.labels, "Label", manifest["files"]["labels"]["rows"]),
    ):
        audit, _ = read_topic(settings.bootstrap_servers, topic, schema)  # type: ignore[arg-type]
        print(json.dumps(audit.as_dict()))
        if audit.samples:
            print("  first record:", json.dumps(audit.samples[0], default=str))
        match = audit.records == expected and not audit.decode_errors
        ok &= match
        print(f"  {topic}: {audit.records:,} records, expected {expected:,}: {'OK' if match else 'MISMATCH'}")
    print("\nThe broker keeps running for the next steps; stop it with: fraudstream kafka stop")
    return 0 if ok else 1
