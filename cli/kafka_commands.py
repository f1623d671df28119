"""``fraudstream kafka start|stop|status``, ``topics`` and ``audit``: the broker and what is on it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.broker import BrokerError, LocalBroker
from cli.options import kafka_from, settings_from
from fraudstream.settings import FraudstreamSettings

__all__ = ["register"]


def local_broker(settings: FraudstreamSettings, port: int | None = None, secure_port: int | None = None) -> LocalBroker:
    """The local broker of ``settings`` (its port from the bootstrap address unless given)."""
    if port is None:
        port = int(settings.bootstrap_servers.rsplit(":", 1)[-1])
    return LocalBroker(settings.home / "kafka", port=port, controller_port=port + 1, secure_port=secure_port)


def cmd_kafka(args: argparse.Namespace) -> int:
    broker = local_broker(settings_from(args), args.port, args.secure_port)
    try:
        if args.action == "start":
            already = broker.pid() is not None and broker.is_ready()
            seconds = broker.start()
            state = "already running" if already else f"ready in {seconds:.1f} s"
            print(f"Kafka broker on {broker.bootstrap_servers}: {state} (pid {broker.pid()}); logs in {broker.log_dir}")
            if broker.secure_port is not None:
                files = broker.security_files
                print(f"Secured listener (SASL_SSL) on {broker.secure_bootstrap_servers}; to use it:")
                for name, value in files.client_environment(broker.secure_bootstrap_servers).items():
                    print(f"  export {name}={value}")
        elif args.action == "stop":
            print("Kafka broker stopped." if broker.stop() else "Kafka broker was not running.")
        else:
            pid = broker.pid()
            ready = broker.is_ready()
            print(
                f"Kafka broker on {broker.bootstrap_servers}: "
                f"{'running' if pid else 'not running'}"
                f"{f' (pid {pid})' if pid else ''}, {'ready' if ready else 'not ready'}; "
                f"data {broker.data_dir}, logs {broker.log_dir}"
            )
            return 0 if ready else 3
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from fraudstream.kafka import ensure_topics

    settings = settings_from(args)
    created = ensure_topics(kafka_from(settings), settings.topics.model_dump().values(), settings.partitions)
    print(f"created: {created or 'nothing (all exist)'}")
    return 0


def _schema_of(settings: FraudstreamSettings, topic: str) -> Any:
    names = {
        settings.topics.transactions: "Transaction",
        settings.topics.labels: "Label",
        settings.topics.decisions: "Decision",
        settings.topics.drift_reports: "DriftReport",
    }
    if topic not in names:
        raise SystemExit(f"error: no schema known for topic {topic!r}; pass --schema")
    return names[topic]


def cmd_audit(args: argparse.Namespace) -> int:
    from consumers.topic_audit import read_topic

    settings = settings_from(args)
    schema = args.schema or _schema_of(settings, args.topic)
    options = {"samples": args.samples} if args.samples is not None else {}
    audit, _ = read_topic(
        kafka_from(settings), args.topic, schema, registry_url=settings.schema_registry_url, **options
    )
    print(json.dumps(audit.as_dict(), indent=2))
    for sample in audit.samples:
        print(json.dumps(sample, default=str))
    return 0


def register(sub: Any) -> None:
    kafka = sub.add_parser("kafka", help="run the local single-node KRaft broker")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.add_argument("--port", type=int, help="listener port (controller uses port+1; default: the bootstrap port)")
    kafka.add_argument(
        "--secure-port",
        type=int,
        help="also listen here with TLS and SASL (SCRAM-SHA-256/512, PLAIN): a CA, certificate and users "
        "of the broker's own, made on the first secured start",
    )
    kafka.set_defaults(func=cmd_kafka)

    topics = sub.add_parser("topics", help="create the project's topics if missing")
    topics.set_defaults(func=cmd_topics)

    audit = sub.add_parser("audit", help="read a topic back and summarise it")
    audit.add_argument("topic")
    audit.add_argument("--schema", choices=["Transaction", "Label", "Decision", "DriftReport"])
    audit.add_argument("--samples", type=int, help="how many decoded records to print")
    audit.set_defaults(func=cmd_audit)
