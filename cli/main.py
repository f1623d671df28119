"""``fraudstream``: the one command-line entry point, with a subcommand per job.

    fraudstream kafka start|stop|status     the local single-node KRaft broker
    fraudstream topics                      create the project's topics
    fraudstream generate --out DIR          synthetic transactions, labels and a manifest
    fraudstream produce --data PATH         replay a dataset into Kafka in event-time order
    fraudstream audit TOPIC                 read a topic back and summarise what is on it
    fraudstream features [--markdown]       the feature reference
    fraudstream train --data PATH           train, evaluate and store a model version
    fraudstream score --data PATH --out F   batch-score a file with a stored model
    fraudstream model list|show|promote|rollback   the model registry
    fraudstream demo                        the main job end to end on a small dataset

Settings come from ``FRAUDSTREAM_*`` environment variables (see ``fraudstream.settings``) and the
flags below; each command prints the settings it runs with.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

from fraudstream.logs import LogFormat, configure_logging
from fraudstream.settings import FraudstreamSettings


def _settings(args: argparse.Namespace) -> FraudstreamSettings:
    overrides: dict[str, Any] = {}
    if getattr(args, "bootstrap_servers", None):
        overrides["bootstrap_servers"] = args.bootstrap_servers
    if getattr(args, "log_format", None):
        overrides["log_format"] = args.log_format
    return FraudstreamSettings(**overrides)


def _broker(settings: FraudstreamSettings, port: int | None = None) -> Any:
    from cli.broker import LocalBroker

    if port is None:
        port = int(settings.bootstrap_servers.rsplit(":", 1)[-1])
    return LocalBroker(settings.home / "kafka", port=port, controller_port=port + 1)


def cmd_kafka(args: argparse.Namespace) -> int:
    from cli.broker import BrokerError

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
    from fraudstream.kafka import ensure_topics

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
    from fraudstream.kafka import ensure_topics
    from producers.adapters import load_dataset, parse_mapping
    from producers.replay import Pacer, replay, shift_end_to, shift_to

    settings = _settings(args)
    print(f"settings: {settings.model_dump_json()}")
    mapping = parse_mapping(args.columns) if args.columns else None
    dataset = load_dataset(args.data, mapping, timedelta(days=args.label_delay_days))
    if args.shift_to_now:
        dataset = shift_to(dataset, datetime.now(UTC))
    elif args.end_at_now:
        dataset = shift_end_to(dataset, datetime.now(UTC))
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


def _store_uri(args: argparse.Namespace, settings: FraudstreamSettings) -> str:
    return str(args.store or settings.model_store or f"file://{settings.home / 'models'}")


def cmd_features(args: argparse.Namespace) -> int:
    from features.definitions import FEATURES, markdown_table

    if args.markdown:
        print(markdown_table(), end="")
    else:
        for spec in FEATURES:
            print(f"{spec.name:28s} {spec.semantics}")
    return 0


def _gates(args: argparse.Namespace) -> Any:
    from trainer.train import Gates

    return Gates(args.min_f1, args.min_precision, args.min_recall, args.min_average_precision)


def cmd_train(args: argparse.Namespace) -> int:
    from producers.adapters import parse_mapping
    from trainer.train import TrainConfig, train

    settings = _settings(args)
    config = TrainConfig(
        data=Path(args.data),
        store_uri=_store_uri(args, settings),
        report_dir=Path(args.report_dir) if args.report_dir else None,
        columns=parse_mapping(args.columns) if args.columns else None,
        label_delay_days=args.label_delay_days,
        train_days=args.train_days,
        delay_days=args.delay_days,
        test_days=args.test_days,
        validation_days=args.validation_days,
        train_start=args.train_start,
        review_precision=args.review_precision,
        decline_precision=args.decline_precision,
        gates=_gates(args),
        trials=args.trials,
    )
    result = train(config)
    card = result.card
    print(f"\nmodel version {result.version} stored in {config.store_uri}")
    for name in ("xgboost", "logistic_regression"):
        m = card["metrics"][name]
        print(
            f"  {name:20s} AUC-ROC {m['auc_roc']:.3f}  average precision {m['average_precision']:.3f}  "
            f"card precision@100 {m['card_precision_at_100']:.3f}"
        )
    at = card["metrics"]["xgboost"]["at_review_threshold"]
    print(
        f"  thresholds: review {card['thresholds']['review']:.4f}, decline {card['thresholds']['decline']:.4f}; "
        f"at review on test: precision {at['precision']:.3f} recall {at['recall']:.3f} F1 {at['f1']:.3f}"
    )
    print(f"  report: {result.report_files[-1].parent}")
    if not result.passed:
        print("REFUSED for promotion, gates failed: " + "; ".join(card["gates"]["failed"]), file=sys.stderr)
        return 3
    print("  gates passed; the version is now 'staging'. Promote it: fraudstream model promote " + result.version)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from producers.adapters import parse_mapping
    from trainer.batch_score import score_dataset

    settings = _settings(args)
    summary = score_dataset(
        Path(args.data),
        _store_uri(args, settings),
        args.model,
        Path(args.out),
        parse_mapping(args.columns) if args.columns else None,
        args.label_delay_days,
    )
    print(json.dumps(summary, indent=2))
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from registry import ModelRegistry, RegistryError

    settings = _settings(args)
    registry = ModelRegistry(_store_uri(args, settings))
    try:
        if args.action == "list":
            aliases = registry.aliases()
            for version in registry.versions():
                card = registry.card(version)
                tags = ",".join(alias for alias, v in aliases.items() if v == version)
                m = card["metrics"]["xgboost"]
                status = "gates ok" if not card["gates"]["failed"] else "gates FAILED"
                print(f"{version}  AP {m['average_precision']:.3f}  AUC {m['auc_roc']:.3f}  {status}  {tags}")
        elif args.action == "show":
            print(json.dumps(registry.card(registry.resolve(args.version or "production")), indent=2))
        elif args.action == "promote":
            if not args.version:
                raise RegistryError("promote needs a VERSION")
            compare = None
            if args.data:
                from trainer.compare import compare_on_test_period

                def compare(candidate: str, current: str) -> tuple[float, float]:
                    return compare_on_test_period(registry, candidate, current, Path(args.data))

            for note in registry.promote(args.version, args.alias, force=args.force, compare=compare):
                print(note)
            print(f"{args.alias} -> {args.version}")
        else:
            print(f"{args.alias} -> {registry.rollback(args.alias)}")
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


#: ``fraudstream worker`` flags passed to :class:`WorkerConfig` only when given
WORKER_TUNING = ("batch_size", "batch_wait", "fetch_max_wait", "fetch_min_bytes", "reload_interval", "scoring_threads")


def worker_tuning(args: argparse.Namespace) -> dict[str, Any]:
    """The tuning flags given on the command line; the defaults live in ``WorkerConfig`` only."""
    return {name: getattr(args, name) for name in WORKER_TUNING if getattr(args, name) is not None}


def cmd_worker(args: argparse.Namespace) -> int:
    import faust
    from prometheus_client import start_http_server

    from consumers.scoring.app import WorkerConfig, build_app, tune_gc
    from fraudstream.kafka import ensure_topics
    from fraudstream.logs import logging_config

    settings = _settings(args)
    config = WorkerConfig(
        bootstrap_servers=settings.bootstrap_servers,
        topics=settings.topics,
        model_store=_store_uri(args, settings),
        app_id=args.app_id,
        partitions=settings.partitions,
        store=args.state_store,
        shadow=args.shadow,
        data_dir=str(settings.home / "worker" / args.app_id),
        **worker_tuning(args),
    )
    # logged before Faust takes over logging, at the start-up level (info), as JSON in production
    logging.getLogger("fraudstream.worker").info(f"worker settings: {config}")
    ensure_topics(settings.bootstrap_servers, settings.topics.model_dump().values(), settings.partitions)
    if args.metrics_port:
        start_http_server(args.metrics_port)
    tune_gc()  # process-wide: only the worker process holds the big state
    app = build_app(config)
    # Faust's worker replaces the root handlers with its own; hand it ours (JSON lines in production)
    worker = faust.Worker(
        app, loglevel=args.log_level, quiet=True, logging_config=logging_config(settings.log_format, args.log_level)
    )
    worker.execute_from_commandline()  # returns on SIGTERM/SIGINT after a clean stop
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    from prometheus_client import start_http_server

    from consumers.drift.consumer import DriftConfig, run_drift
    from consumers.drift.windows import DriftThresholds
    from fraudstream.kafka import ensure_topics

    settings = _settings(args)
    config = DriftConfig(
        bootstrap_servers=settings.bootstrap_servers,
        decisions_topic=settings.topics.decisions,
        reports_topic=settings.topics.drift_reports,
        model_store=_store_uri(args, settings),
        group_id=args.group_id,
        window_ms=int(args.window_minutes * 60_000) if args.window_minutes else None,
        window_events=args.window_events,
        grace_ms=int(args.grace_minutes * 60_000),
        thresholds=DriftThresholds(args.psi_warn, args.psi_alert, args.ks_threshold, args.ks_alpha),
        close_idle_after=args.close_idle_after,
        stop_idle_after=args.stop_idle_after,
    )
    logging.getLogger("fraudstream.drift").info(f"drift settings: {config}")
    ensure_topics(settings.bootstrap_servers, [config.decisions_topic, config.reports_topic], settings.partitions)
    if args.metrics_port:
        start_http_server(args.metrics_port)

    def show(report: dict[str, Any]) -> None:
        flagged = [f"{f['feature']} PSI {f['psi']:.2f}" for f in report["features"] if f["status"] != "OK"]
        print(f"{report['window_id']}: {report['event_count']:,} decisions, {report['status']}"
              + (f" ({', '.join(flagged)})" if flagged else ""), flush=True)  # fmt: skip

    run_drift(config, on_report=show)
    return 0


def cmd_lag_exporter(args: argparse.Namespace) -> int:
    import signal
    import threading

    from prometheus_client import start_http_server

    from monitoring.lag_exporter import parse_targets, run_lag_exporter

    settings = _settings(args)
    topics = settings.topics
    specs = args.target or [
        f"{args.scoring_group}={topics.transactions},{topics.labels}",
        f"{args.drift_group}={topics.decisions}",
    ]
    targets = parse_targets(specs)
    logging.getLogger("fraudstream.lag").info(
        f"lag exporter: {', '.join(specs)} every {args.interval:g} s on :{args.port}/metrics"
    )
    start_http_server(args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_lag_exporter(settings.bootstrap_servers, targets, interval=args.interval, stop=stop)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return run_demo(_settings(args), Path(args.workdir), customers=args.customers, days=args.days)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraudstream", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (env FRAUDSTREAM_BOOTSTRAP_SERVERS)")
    parser.add_argument(
        "--log-format", choices=get_args(LogFormat), help="text, or one JSON object a line (env FRAUDSTREAM_LOG_FORMAT)"
    )
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
    shift = prod.add_mutually_exclusive_group()
    shift.add_argument("--shift-to-now", action="store_true", help="move event times so the first is now")
    shift.add_argument(
        "--end-at-now",
        action="store_true",
        help="move event times so the last is now (fast replays of history into a live worker)",
    )
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

    feats = sub.add_parser("features", help="print the feature reference")
    feats.add_argument("--markdown", action="store_true", help="as the Markdown of docs/features.md")
    feats.set_defaults(func=cmd_features)

    store_help = "model store URI: file://PATH or s3://bucket/prefix (env FRAUDSTREAM_MODEL_STORE)"
    tr = sub.add_parser("train", help="train, evaluate and store a model version")
    tr.add_argument("--data", required=True, help="generated folder, or a .csv/.parquet file")
    tr.add_argument("--columns", help="column mapping SOURCE=canonical,... for external files")
    tr.add_argument("--label-delay-days", type=float, default=7.0, help="label delay when the data has no report times")
    tr.add_argument("--store", help=store_help)
    tr.add_argument("--report-dir", help="where the report goes (default .fraudstream/reports/VERSION)")
    tr.add_argument("--train-start", type=date.fromisoformat, help="first training day (default: as late as fits)")
    tr.add_argument("--train-days", type=int, default=7)
    tr.add_argument("--delay-days", type=int, default=7)
    tr.add_argument("--test-days", type=int, default=7)
    tr.add_argument("--validation-days", type=int, default=2, help="last days of the training period held out")
    tr.add_argument("--review-precision", type=float, default=0.80)
    tr.add_argument("--decline-precision", type=float, default=0.95)
    tr.add_argument("--min-f1", type=float, default=0.75)
    tr.add_argument("--min-precision", type=float, default=0.80)
    tr.add_argument("--min-recall", type=float, default=0.70)
    tr.add_argument("--min-average-precision", type=float, default=0.70)
    tr.add_argument("--trials", type=int, default=0, help="random-search trials over XGBoost parameters")
    tr.set_defaults(func=cmd_train)

    sc = sub.add_parser("score", help="batch-score a file with a stored model")
    sc.add_argument("--data", required=True)
    sc.add_argument("--columns")
    sc.add_argument("--label-delay-days", type=float, default=7.0)
    sc.add_argument("--model", default="production", help="production, staging or a version id")
    sc.add_argument("--out", required=True, help="output .parquet or .csv")
    sc.add_argument("--store", help=store_help)
    sc.set_defaults(func=cmd_score)

    model = sub.add_parser("model", help="list, show, promote or roll back model versions")
    model.add_argument("action", choices=["list", "show", "promote", "rollback"])
    model.add_argument("version", nargs="?")
    model.add_argument("--alias", default="production", choices=["production", "staging"])
    model.add_argument("--force", action="store_true", help="promote despite failed gates or a worse score")
    model.add_argument("--data", help="score candidate and current on the candidate's test period of this data")
    model.add_argument("--store", help=store_help)
    model.set_defaults(func=cmd_model)

    wk = sub.add_parser("worker", help="run the Faust scoring worker")
    wk.add_argument("--store", help=store_help)
    wk.add_argument("--app-id", default="fraudstream-scoring", help="Faust app id (consumer group, table names)")
    wk.add_argument(
        "--state-store", default="rocksdb://", help="Faust table store: rocksdb:// (production) or memory:// (tests)"
    )
    # tuning flags default to None: WorkerConfig holds the defaults, the start-up log prints them
    wk.add_argument("--batch-size", type=int, help="most records in a micro-batch (reached when the worker is behind)")
    wk.add_argument(
        "--batch-wait", type=float, help="seconds a micro-batch waits for more records after its first was fetched"
    )
    wk.add_argument(
        "--fetch-max-wait",
        type=float,
        help="seconds the broker may hold a fetch for --fetch-min-bytes (Faust's own 1.5 s stalls the worker)",
    )
    wk.add_argument(
        "--fetch-min-bytes", type=int, help="data a fetch waits for, at most --fetch-max-wait: batches in the broker"
    )
    wk.add_argument("--reload-interval", type=float, help="seconds between production-alias checks")
    wk.add_argument(
        "--scoring-threads", type=int, help="XGBoost threads for scoring (1 leaves the other cores to Kafka)"
    )
    wk.add_argument("--shadow", choices=["river"], help="score with a River challenger in shadow")
    wk.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    wk.add_argument("--log-level", default="warning")
    wk.set_defaults(func=cmd_worker)

    dr = sub.add_parser("drift", help="run the drift consumer over the decisions topic")
    dr.add_argument("--store", help=store_help)
    dr.add_argument("--group-id", default="fraudstream-drift")
    dr.add_argument(
        "--window-minutes",
        type=float,
        default=60.0,
        help="tumbling event-time window size (0: windows bounded by --window-events only)",
    )
    dr.add_argument("--window-events", type=int, help="also close a window once it holds this many decisions")
    dr.add_argument("--grace-minutes", type=float, default=10.0, help="how long a window waits for late events")
    dr.add_argument("--psi-warn", type=float, default=0.1)
    dr.add_argument("--psi-alert", type=float, default=0.25)
    dr.add_argument("--ks-threshold", type=float, default=0.1)
    dr.add_argument("--ks-alpha", type=float, default=0.001)
    dr.add_argument("--close-idle-after", type=float, help="close all windows after this many idle seconds")
    dr.add_argument("--stop-idle-after", type=float, help="exit after this many idle seconds (after closing)")
    dr.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    dr.set_defaults(func=cmd_drift)

    lag = sub.add_parser("lag-exporter", help="export consumer-group lag (messages, seconds) to Prometheus")
    lag.add_argument("--port", type=int, default=8003, help="serve /metrics on this port")
    lag.add_argument("--interval", type=float, default=5.0, help="seconds between measurements")
    lag.add_argument("--scoring-group", default="fraudstream-scoring", help="the worker's group (its --app-id)")
    lag.add_argument("--drift-group", default="fraudstream-drift", help="the drift consumer's group")
    lag.add_argument("--target", action="append", metavar="GROUP=TOPIC[,TOPIC]",
                     help="watch these instead of the scoring and drift groups (repeatable)")  # fmt: skip
    lag.set_defaults(func=cmd_lag_exporter)

    demo = sub.add_parser("demo", help="the main job end to end on a small dataset")
    demo.add_argument("--workdir", default=".fraudstream/demo")
    demo.add_argument("--customers", type=int, default=2_000)
    demo.add_argument("--days", type=int, default=49)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValueError as exc:  # a bad FRAUDSTREAM_* variable: pydantic names it and the value
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
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
