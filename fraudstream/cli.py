"""``fraudstream``: the one command-line entry point, with a subcommand per job.

    fraudstream kafka start|stop|status     the local single-node KRaft broker
    fraudstream topics                      create the project's topics
    fraudstream generate --out DIR          synthetic transactions, labels and a manifest
    fraudstream produce --data PATH         replay a dataset into Kafka in event-time order
    fraudstream audit TOPIC                 read a topic back and summarise what is on it
    fraudstream demo                        the main job end to end on a small dataset

Settings come from ``FRAUDSTREAM_*`` environment variables (see ``fraudstream.settings``) and the
flags below; each command prints the settings it runs with.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fraudstream.settings import FraudstreamSettings


def _settings(args: argparse.Namespace) -> FraudstreamSettings:
    overrides: dict[str, Any] = {}
    if getattr(args, "bootstrap_servers", None):
        overrides["bootstrap_servers"] = args.bootstrap_servers
    return FraudstreamSettings(**overrides)


def _broker(settings: FraudstreamSettings, port: int | None = None) -> Any:
    from fraudstream.broker import LocalBroker

    if port is None:
        port = int(settings.bootstrap_servers.rsplit(":", 1)[-1])
    return LocalBroker(settings.home / "kafka", port=port, controller_port=port + 1)


def cmd_kafka(args: argparse.Namespace) -> int:
    from fraudstream.broker import BrokerError

    settings = _settings(args)
    broker = _broker(settings, args.port)
    try:
        if args.action == "start":
            already = broker.pid() is not None and broker.is_ready()
            seconds = broker.start()
            state = "already running" if already else f"ready in {seconds:.1f} s"
            print(f"Kafka broker on {broker.bootstrap_servers}: {state} (pid {broker.pid()}); logs in {broker.log_dir}")
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
    from fraudstream.topics import ensure_topics

    settings = _settings(args)
    created = ensure_topics(settings.bootstrap_servers, settings.topics.model_dump().values(), settings.partitions)
    print(f"created: {created or 'nothing (all exist)'}")
    return 0


def _generator_config(args: argparse.Namespace) -> Any:
    from producers.generator import GeneratorConfig

    return GeneratorConfig(
        n_customers=args.customers,
        n_terminals=args.terminals,
        n_days=args.days,
        start_date=args.start_date,
        seed=args.seed,
    )


def cmd_generate(args: argparse.Namespace) -> int:
    from producers.generator import generate_to

    manifest = generate_to(_generator_config(args), Path(args.out))
    print(
        f"wrote {manifest['transactions']:,} transactions ({manifest['frauds']:,} frauds, "
        f"rate {manifest['fraud_rate']:.3%}) and {manifest['files']['labels']['rows']:,} labels "
        f"to {args.out} in {manifest['elapsed_seconds']:.1f} s"
    )
    print("scenarios: " + ", ".join(f"{k}={v:,}" for k, v in manifest["scenarios"].items()))
    return 0


def _drift_spec(args: argparse.Namespace) -> Any:
    if args.drift_from is None:
        return None
    from producers.drift_injection import DriftSpec

    mix: dict[str, float] = {}
    for item in filter(None, (args.drift_merchant or "").split(",")):
        code, _, weight = item.partition("=")
        mix[code.strip()] = float(weight or 1.0)
    start = datetime.fromisoformat(args.drift_from)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return DriftSpec(
        start=start,
        amount_scale=args.drift_amount_scale,
        merchant_mix=mix,
        merchant_share=args.drift_merchant_share if mix else 0.0,
        cross_border_share=args.drift_cross_border_share,
    )


def cmd_produce(args: argparse.Namespace) -> int:
    from fraudstream.topics import ensure_topics
    from producers.adapters import load_dataset, parse_mapping
    from producers.replay import Pacer, replay, shift_to

    settings = _settings(args)
    print(f"settings: {settings.model_dump_json()}")
    mapping = parse_mapping(args.columns) if args.columns else None
    dataset = load_dataset(args.data, mapping, timedelta(days=args.label_delay_days))
    if args.shift_to_now:
        dataset = shift_to(dataset, datetime.now(UTC))
    if args.metrics_port:
        from producers.replay_metrics import serve

        serve(args.metrics_port)
    ensure_topics(settings.bootstrap_servers, settings.topics.model_dump().values(), settings.partitions)
    summary = replay(
        dataset,
        settings.bootstrap_servers,
        settings.topics,
        pacer=Pacer(rate=args.rate, speedup=args.speedup),
        drift=_drift_spec(args),
        limit=args.limit,
    )
    result = summary.as_dict()
    print(json.dumps(result, indent=2))
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(result, indent=2) + "\n")
    if not summary.ok:
        print(f"error: {summary.failed} event(s) were not acknowledged", file=sys.stderr)
        return 1
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from consumers.topic_audit import read_topic

    settings = _settings(args)
    schema = args.schema or _schema_of(settings, args.topic)
    audit, _ = read_topic(settings.bootstrap_servers, args.topic, schema, samples=args.samples)
    print(json.dumps(audit.as_dict(), indent=2))
    for sample in audit.samples:
        print(json.dumps(sample, default=str))
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


def cmd_demo(args: argparse.Namespace) -> int:
    from fraudstream.demo import run_demo

    return run_demo(_settings(args), Path(args.workdir), customers=args.customers, days=args.days)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraudstream", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (env FRAUDSTREAM_BOOTSTRAP_SERVERS)")
    sub = parser.add_subparsers(dest="command", required=True)

    kafka = sub.add_parser("kafka", help="run the local single-node KRaft broker")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.add_argument("--port", type=int, default=None, help="listener port (controller uses port+1)")
    kafka.set_defaults(func=cmd_kafka)

    topics = sub.add_parser("topics", help="create the project's topics if missing")
    topics.set_defaults(func=cmd_topics)

    gen = sub.add_parser("generate", help="generate a synthetic dataset")
    gen.add_argument("--out", required=True, help="output folder")
    gen.add_argument("--customers", type=int, default=5_000)
    gen.add_argument("--terminals", type=int, default=10_000)
    gen.add_argument("--days", type=int, default=183)
    gen.add_argument("--start-date", type=date.fromisoformat, default=date(2026, 4, 1))
    gen.add_argument("--seed", type=int, default=42)
    gen.set_defaults(func=cmd_generate)

    prod = sub.add_parser("produce", help="replay a dataset into Kafka")
    prod.add_argument("--data", required=True, help="generated folder, or a .csv/.parquet file")
    prod.add_argument("--columns", help="column mapping SOURCE=canonical,... for external files")
    prod.add_argument(
        "--label-delay-days", type=float, default=7.0, help="label delay when the data has no report times"
    )
    pace = prod.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, help="events per second")
    pace.add_argument("--speedup", type=float, help="multiple of event time (e.g. 3600: an hour a second)")
    prod.add_argument("--shift-to-now", action="store_true", help="move event times so the first is now")
    prod.add_argument("--limit", type=int, help="send only the first N events")
    prod.add_argument("--drift-from", help="ISO time from which to inject drift")
    prod.add_argument("--drift-amount-scale", type=float, default=1.0)
    prod.add_argument("--drift-merchant", help="new merchant mix, e.g. 7995=0.5,4829=0.5")
    prod.add_argument("--drift-merchant-share", type=float, default=0.3)
    prod.add_argument("--drift-cross-border-share", type=float, default=0.0)
    prod.add_argument("--summary-json", help="also write the summary to this file")
    prod.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    prod.set_defaults(func=cmd_produce)

    audit = sub.add_parser("audit", help="read a topic back and summarise it")
    audit.add_argument("topic")
    audit.add_argument("--schema", choices=["Transaction", "Label", "Decision", "DriftReport"])
    audit.add_argument("--samples", type=int, default=3)
    audit.set_defaults(func=cmd_audit)

    demo = sub.add_parser("demo", help="the main job end to end on a small dataset")
    demo.add_argument("--workdir", default=".fraudstream/demo")
    demo.add_argument("--customers", type=int, default=1_000)
    demo.add_argument("--days", type=int, default=28)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
