"""The main job end to end on a small dataset (``fraudstream demo``, the README's first command).

1. start the local Kafka broker;
2. generate a synthetic dataset;
3. train a model (features, XGBoost + baseline, thresholds, gates) into a local model store;
4. promote it to production (forced, and said so, if the small demo data fails the gates);
5. batch-score the dataset with the production model;
6. replay the dataset into Kafka, read it back with an independent consumer;
7. score the replay with the Faust worker and show the decisions;
8. run the drift consumer over the decisions (daily windows) and print the drift summary.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from cli.broker import LocalBroker
from cli.demo_command import DemoConfig
from consumers.drift.config import CALENDAR_FEATURES, DriftConfig
from consumers.drift.consumer import run_drift
from consumers.topic_audit import end_offsets, read_topic
from fraudstream.kafka import ensure_topics
from fraudstream.settings import FraudstreamSettings, TopicNames
from producers.adapters import load_dataset
from producers.config import GeneratorConfig
from producers.generator import generate_to
from producers.replay import replay
from registry import ModelRegistry
from trainer.batch_score import score_dataset
from trainer.config import TrainConfig
from trainer.parity import compare_with_batch
from trainer.train import train


def _step(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def run_demo(settings: FraudstreamSettings, demo: DemoConfig | None = None) -> int:
    demo = demo or DemoConfig()
    workdir = demo.workdir or settings.home / "demo"
    customers, days = demo.customers, demo.days
    _step("1/8 local Kafka broker")
    port = int(settings.bootstrap_servers.rsplit(":", 1)[-1])
    broker = LocalBroker(settings.home / "kafka", port=port, controller_port=port + 1)
    seconds = broker.start()
    print(f"broker {broker.bootstrap_servers} ready ({seconds:.1f} s to ready; 0 means it was running)")

    _step("2/8 generate a synthetic dataset")
    data_dir = workdir / "data"
    config = GeneratorConfig(n_customers=customers, n_terminals=customers * 2, n_days=days, seed=7)
    manifest = generate_to(config, data_dir)
    print(
        f"{manifest['transactions']:,} transactions, {manifest['frauds']:,} frauds "
        f"({manifest['fraud_rate']:.2%}), scenarios: {manifest['scenarios']}"
    )

    shutil.rmtree(workdir / "models", ignore_errors=True)  # each demo starts with an empty registry
    store = f"file://{(workdir / 'models').resolve()}"
    train_config = TrainConfig(data=data_dir, store_uri=store, report_dir=workdir / "report", time_budget_seconds=30)
    _step(f"3/8 train: features over the whole history, {train_config.periods.describe()}")
    result = train(train_config)
    metrics = result.card["metrics"]
    for name in ("xgboost", "logistic_regression"):
        m = metrics[name]
        print(f"  {name:20s} AUC-ROC {m['auc_roc']:.3f}  AP {m['average_precision']:.3f}  "
              f"card precision@100 {m['card_precision_at_100']:.3f}")  # fmt: skip
    at = metrics["xgboost"]["at_review_threshold"]
    print(f"  at the review threshold: precision {at['precision']:.3f}, recall {at['recall']:.3f}, F1 {at['f1']:.3f}")
    print(f"  report with plots: {workdir / 'report'}")

    _step("4/8 promote to production")
    registry = ModelRegistry(store)
    failed = result.card["gates"]["failed"]
    if failed:
        print(f"  gates FAILED on this small demo dataset ({'; '.join(failed)}): promoting with --force for the demo")
    for note in registry.promote(result.version, force=bool(failed)):
        print(f"  {note}")
    print(f"  production -> {registry.aliases()['production']}")

    _step("5/8 batch-score the dataset with the production model")
    out = workdir / "scored.parquet"
    summary = score_dataset(data_dir, store, out, progress=lambda m: None)
    print(f"  {summary['rows']:,} rows scored in {summary['seconds']} s -> {out}; decisions {summary['decisions']}")
    scored = pd.read_parquet(out, columns=["transaction_id", "score", "decision"])
    print(scored.sort_values("score", ascending=False).head(5).to_string(index=False))

    _step("6/8 replay into Kafka (event-time order, labels at their report time) and read back")
    run = uuid.uuid4().hex[:8]  # fresh topics per demo run, so counts below are this run's
    topics = TopicNames(
        transactions=f"demo-{run}.transactions",
        labels=f"demo-{run}.labels",
        decisions=f"demo-{run}.decisions",
        dlq=f"demo-{run}.dlq",
    )
    ensure_topics(settings.bootstrap_servers, topics.model_dump().values(), settings.partitions)
    sent = replay(load_dataset(data_dir), settings.bootstrap_servers, topics)
    print(json.dumps({k: v for k, v in sent.as_dict().items() if k != "drift"}))
    ok = sent.ok
    for topic, schema, expected in (
        (topics.transactions, "Transaction", manifest["transactions"]),
        (topics.labels, "Label", manifest["files"]["labels"]["rows"]),
    ):
        audit, _ = read_topic(settings.bootstrap_servers, topic, schema)  # type: ignore[arg-type]
        match = audit.records == expected and not audit.decode_errors
        ok &= match
        print(f"  {topic}: {audit.records:,} records read back, expected {expected:,}: {'OK' if match else 'MISMATCH'}")
    _step("7/8 the Faust scoring worker scores the replay; every decision checked against batch scoring")
    decisions = _run_worker(settings, topics, store, workdir, manifest["transactions"])
    parity = compare_with_batch(decisions, pd.read_parquet(out), result.card["feature_names"])
    print(f"  parity with `fraudstream score`: {parity.summary()}")
    ok &= parity.ok

    _step("8/8 the drift consumer: PSI and KS per feature over daily event-time windows")
    reports: list[dict[str, Any]] = []
    # the configured reports topic, where `fraudstream retrain --when drift` and dashboards look;
    # this run's reports are the ones handed to on_report
    ensure_topics(settings.bootstrap_servers, [settings.topics.drift_reports], settings.partitions)
    run_drift(
        DriftConfig(
            bootstrap_servers=settings.bootstrap_servers, decisions_topic=topics.decisions,
            reports_topic=settings.topics.drift_reports, model_store=store, group_id=f"demo-{run}-drift",
            window=86_400.0, grace=3_600.0, close_idle_after=2.0, stop_idle_after=0.5,
        ),
        on_report=reports.append,
    )  # fmt: skip
    statuses = pd.Series([r["status"] for r in reports]).value_counts().to_dict()
    print(f"  {len(reports)} daily windows: {statuses}")
    print(
        "  (expected in this demo: the replay starts from empty state, so the first 30 days' windows\n"
        "  differ from the training window's reference while their 30-day features fill, and the\n"
        "  generated data drifts from the training window on its own later on.)"
    )
    for report in reports[-3:]:
        ranked = [item for item in report["features"] if item["feature"] not in CALENDAR_FEATURES]
        ranked.sort(key=lambda item: -item["psi"])
        highest = ", ".join(
            f"{item['feature']} PSI {item['psi']:.3f} KS {item['ks_statistic']:.3f}" for item in ranked[:3]
        )
        print(f"  {report['window_id']}: {report['event_count']:,} decisions, {report['status']}; highest: {highest}")
    print("\nThe broker keeps running for the next steps; stop it with: fraudstream kafka stop")
    return 0 if ok else 1


def _run_worker(
    settings: FraudstreamSettings, topics: TopicNames, store: str, workdir: Path, expected: int
) -> list[dict[str, Any]]:
    """Run the worker until it decided ``expected`` transactions; its decisions, as decoded records."""
    env = {
        **os.environ,
        "FRAUDSTREAM_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        **topics.as_env(),
    }
    log_path = workdir / "worker.log"
    command = [sys.executable, "-m", "cli.main", "worker", "--store", store, "--app-id", topics.decisions]
    print(f"  fraudstream worker --store {store} (log: {log_path})")
    started = time.monotonic()
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        last = -1
        while True:
            done = sum(end_offsets(settings.bootstrap_servers, topics.decisions).values())
            if done != last:
                print(f"  decisions: {done:,} / {expected:,}", flush=True)
                last = done
            if done >= expected or worker.poll() is not None or time.monotonic() - started > 600:
                break
            time.sleep(2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    _, records = read_topic(settings.bootstrap_servers, topics.decisions, "Decision", keep_records=True)
    decisions = [r.record for r in records if r.record is not None]
    mix = pd.Series([d["decision"] for d in decisions]).value_counts().to_dict()
    print(f"  {len(decisions):,} decisions in {time.monotonic() - started:.0f} s (incl. start-up): {mix}")
    flagged = sorted((d for d in decisions if d["decision"] != "APPROVE"), key=lambda d: -d["score"])[:3]
    for d in flagged:
        reasons = ", ".join(f"{r['feature']}={r['value']:.4g} (+{r['contribution']:.2f})" for r in d["reasons"])
        print(f"  {d['decision']:8s} {d['transaction_id']} score {d['score']:.3f}: {reasons}")
    return decisions
