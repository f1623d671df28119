"""``fraudstream worker``, ``drift`` and ``lag-exporter``: the long-running stream processes."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from cli.options import default_help, given, kafka_from, settings_from, store_help, store_uri
from consumers.drift.config import DriftConfig, DriftThresholds
from consumers.scoring.config import WorkerConfig
from monitoring.lag_exporter import LagExporterConfig

__all__ = ["WORKER_TUNING", "register", "worker_config"]

#: ``fraudstream worker`` flags passed to :class:`WorkerConfig` only when given
WORKER_TUNING = ("batch_size", "batch_wait", "fetch_max_wait", "fetch_min_bytes", "reload_interval", "scoring_threads",
                 "producer_skew", "held_per_partition", "standby_replicas", "rocksdb_block_cache_mib",
                 "rocksdb_write_buffer_mib", "state_cache_entries")  # fmt: skip
WORKER_FLAGS = ("app_id", "shadow", *WORKER_TUNING)
DRIFT_FLAGS = ("group_id", "window", "grace", "window_events", "close_idle_after", "stop_idle_after")
THRESHOLD_FLAGS = ("psi_warn", "psi_alert", "ks_threshold", "ks_alpha")
#: the worker's log level unless ``--log-level`` says otherwise (Faust is chatty at info)
WORKER_LOG_LEVEL = "warning"


def worker_config(args: argparse.Namespace) -> WorkerConfig:
    """The worker's configuration: shared settings, then only the flags the user gave."""
    settings = settings_from(args)
    config = WorkerConfig(
        bootstrap_servers=settings.bootstrap_servers,
        security=settings.security,
        topics=settings.topics,
        schema_registry_url=settings.schema_registry_url,
        model_store=store_uri(args, settings),
        partitions=settings.partitions,
        **given(args, ["state_store"], {"state_store": "store"}),
        **given(args, WORKER_FLAGS),
    )
    return config.model_copy(update={"data_dir": str(settings.home / "worker" / config.app_id)})


def cmd_worker(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    config = worker_config(args)
    kafka = kafka_from(settings)  # before the heavy imports: a user without a broker hears so at once

    import faust
    from prometheus_client import start_http_server

    from consumers.scoring.app import tune_gc
    from consumers.scoring.state_dir import StateDirClaim
    from consumers.scoring.worker import ScoringWorker
    from fraudstream.kafka import ensure_topics
    from fraudstream.logs import logging_config

    # held until the process ends: a second worker of this app on this host gets its own folder
    claim = StateDirClaim(Path(config.data_dir))
    config = config.model_copy(update={"data_dir": str(claim.path)})
    level = args.log_level or WORKER_LOG_LEVEL
    # logged before Faust takes over logging, at the start-up level (info), as JSON in production
    logging.getLogger("fraudstream.worker").info(f"worker settings: {config!r}")
    ensure_topics(kafka, settings.topics.model_dump().values(), settings.partitions)
    if args.metrics_port:
        start_http_server(args.metrics_port)
    tune_gc()  # process-wide: only the worker process holds the big state
    app = ScoringWorker(config).app
    # Faust's worker replaces the root handlers with its own; hand it ours (JSON lines in production)
    worker = faust.Worker(app, loglevel=level, quiet=True, logging_config=logging_config(settings.log_format, level))
    worker.execute_from_commandline()  # returns on SIGTERM/SIGINT after a clean stop
    return 0


def window_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The drift flags given; ``--window 0`` means windows bounded by ``--window-events`` only."""
    flags = given(args, DRIFT_FLAGS)
    if flags.get("window") == 0:
        flags["window"] = None
    return flags


def cmd_drift(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    kafka = kafka_from(settings)  # before the heavy imports: a user without a broker hears so at once

    from prometheus_client import start_http_server

    from consumers.drift.consumer import run_drift
    from fraudstream.kafka import ensure_topics

    config = DriftConfig(
        bootstrap_servers=settings.bootstrap_servers,
        security=settings.security,
        decisions_topic=settings.topics.decisions,
        reports_topic=settings.topics.drift_reports,
        schema_registry_url=settings.schema_registry_url,
        model_store=store_uri(args, settings),
        thresholds=DriftThresholds(**given(args, THRESHOLD_FLAGS)),
        **window_flags(args),
    )
    logging.getLogger("fraudstream.drift").info(f"drift settings: {config!r}")
    ensure_topics(kafka, [config.decisions_topic, config.reports_topic], settings.partitions)
    if args.metrics_port:
        start_http_server(args.metrics_port)

    def show(report: dict[str, Any]) -> None:
        flagged = [f"{f['feature']} PSI {f['psi']:.2f}" for f in report["features"] if f["status"] != "OK"]
        print(
            f"{report['window_id']}: {report['event_count']:,} decisions, {report['status']}"
            + (f" ({', '.join(flagged)})" if flagged else ""),
            flush=True,
        )

    run_drift(config, on_report=show)
    return 0


def cmd_lag_exporter(args: argparse.Namespace) -> int:
    import signal
    import threading

    from prometheus_client import start_http_server

    from monitoring.lag_exporter import parse_targets, run_lag_exporter

    settings = settings_from(args)
    config = LagExporterConfig(**given(args, ["port", "interval"]))
    topics = settings.topics
    scoring_group = args.scoring_group or WorkerConfig.model_fields["app_id"].default
    drift_group = args.drift_group or DriftConfig.model_fields["group_id"].default
    specs = args.target or [
        f"{scoring_group}={topics.transactions},{topics.labels}",
        f"{drift_group}={topics.decisions}",
    ]
    targets = parse_targets(specs)
    kafka = kafka_from(settings)
    logging.getLogger("fraudstream.lag").info(
        f"lag exporter: {', '.join(specs)} every {config.interval:g} s on :{config.port}/metrics"
    )
    start_http_server(config.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_lag_exporter(kafka, targets, interval=config.interval, stop=stop)
    return 0


def register(sub: Any) -> None:
    wk = sub.add_parser("worker", help="run the Faust scoring worker")
    wk.add_argument("--store", help=store_help)
    wk.add_argument("--app-id", help=default_help("Faust app id (consumer group, table names)", WorkerConfig, "app_id"))
    wk.add_argument(
        "--state-store",
        choices=["rocksdb://", "memory://"],
        help=default_help("Faust table store (memory:// for tests)", WorkerConfig, "store"),
    )
    wk.add_argument(
        "--batch-size",
        type=int,
        help=default_help(
            "most records in a micro-batch (reached when the worker is behind)", WorkerConfig, "batch_size"
        ),
    )
    wk.add_argument(
        "--batch-wait",
        type=float,
        help=default_help(
            "seconds a micro-batch waits for more records after its first was fetched", WorkerConfig, "batch_wait"
        ),
    )
    wk.add_argument(
        "--fetch-max-wait",
        type=float,
        help=default_help("seconds the broker may hold a fetch for --fetch-min-bytes", WorkerConfig, "fetch_max_wait"),
    )
    wk.add_argument(
        "--fetch-min-bytes",
        type=int,
        help=default_help("data a fetch waits for, at most --fetch-max-wait", WorkerConfig, "fetch_min_bytes"),
    )
    wk.add_argument(
        "--reload-interval",
        type=float,
        help=default_help("seconds between production-alias checks", WorkerConfig, "reload_interval"),
    )
    wk.add_argument(
        "--scoring-threads", type=int, help=default_help("XGBoost threads for scoring", WorkerConfig, "scoring_threads")
    )
    wk.add_argument(
        "--producer-skew",
        type=float,
        help=default_help(
            "seconds a record written earlier may show up after a later one on another partition (the producers' "
            "linger.ms and a margin): how long an idle partition holds the others back",
            WorkerConfig,
            "producer_skew",
        ),
    )
    wk.add_argument(
        "--held-per-partition",
        type=int,
        help=default_help(
            "records a source partition may hold while it waits for the others in event time; beyond this it is paused",
            WorkerConfig,
            "held_per_partition",
        ),
    )
    wk.add_argument(
        "--standby-replicas",
        type=int,
        help=default_help(
            "other worker processes that keep a warm copy of each partition's tables (0: a process taking a "
            "partition over restores its tables from the changelog; faster scoring, slower failover)",
            WorkerConfig,
            "standby_replicas",
        ),
    )
    wk.add_argument(
        "--rocksdb-block-cache-mib",
        type=int,
        help=default_help(
            "RocksDB block cache of each table partition's database, MiB", WorkerConfig, "rocksdb_block_cache_mib"
        ),
    )
    wk.add_argument(
        "--rocksdb-write-buffer-mib",
        type=int,
        help=default_help(
            "each of the two RocksDB write buffers of each table partition's database, MiB",
            WorkerConfig,
            "rocksdb_write_buffer_mib",
        ),
    )
    wk.add_argument(
        "--state-cache-entries",
        type=int,
        help=default_help(
            "decoded card and terminal states kept in memory between batches", WorkerConfig, "state_cache_entries"
        ),
    )
    wk.add_argument(
        "--shadow",
        help="score a challenger in shadow: river (an online model), or a model alias or version (e.g. staging)",
    )
    wk.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    wk.add_argument("--log-level", help=f"the worker's log level (default: {WORKER_LOG_LEVEL})")
    wk.set_defaults(func=cmd_worker)

    dr = sub.add_parser("drift", help="run the drift consumer over the decisions topic")
    dr.add_argument("--store", help=store_help)
    dr.add_argument("--group-id", help=default_help("consumer group", DriftConfig, "group_id"))
    dr.add_argument(
        "--window",
        type=float,
        help=default_help(
            "tumbling event-time window, seconds (0: windows bounded by --window-events only)", DriftConfig, "window"
        ),
    )
    dr.add_argument("--window-events", type=int, help="also close a window once it holds this many decisions")
    dr.add_argument(
        "--grace", type=float, help=default_help("seconds a window waits for late events", DriftConfig, "grace")
    )
    for flag in THRESHOLD_FLAGS:
        dr.add_argument(
            f"--{flag.replace('_', '-')}", type=float, help=default_help("threshold", DriftThresholds, flag)
        )
    dr.add_argument("--close-idle-after", type=float, help="close all windows after this many idle seconds")
    dr.add_argument("--stop-idle-after", type=float, help="exit after this many idle seconds (after closing)")
    dr.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    dr.set_defaults(func=cmd_drift)

    lag = sub.add_parser("lag-exporter", help="export consumer-group lag (messages, seconds) to Prometheus")
    lag.add_argument("--port", type=int, help=default_help("serve /metrics on this port", LagExporterConfig, "port"))
    lag.add_argument(
        "--interval", type=float, help=default_help("seconds between measurements", LagExporterConfig, "interval")
    )
    lag.add_argument("--scoring-group", help="the worker's group (its --app-id; default: the worker's default)")
    lag.add_argument("--drift-group", help="the drift consumer's group (default: the drift consumer's default)")
    lag.add_argument(
        "--target",
        action="append",
        metavar="GROUP=TOPIC[,TOPIC]",
        help="watch these instead of the scoring and drift groups (repeatable)",
    )
    lag.set_defaults(func=cmd_lag_exporter)
