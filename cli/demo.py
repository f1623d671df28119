"""The main job as the product's story (``fraudstream demo``, the README's first command).

 1. the local Kafka broker;
 2. a synthetic world: ``history_days`` of history, and newer days to replay;
 3. a model trained on the history (model selection, thresholds, acceptance gates) and promoted;
 4. the worker's state bootstrapped to the end of the history (``fraudstream state bootstrap``);
 5. the newer days replayed into Kafka at speed, every amount doubled from a known day on (the
    drift); the worker, started on the warm state, decides every event;
 6. every streamed decision checked against ``fraudstream score`` of the same data;
 7. the drift consumer: daily windows OK before the drift day, ALERT from its window on, on the
    features the change touches;
 8. a retrain on the recent data (``--when drift``): a challenger, staged because it beats
    production on the same holdout, which the worker scores in shadow on the next days;
 9. the challenger promoted: the worker switches between two batches, no transaction undecided;
10. a summary, and a Markdown report with plots (``report/README.md`` in the demo folder).

The world: 2,000 cards, frauds reported about a day after they happen (median), a compromised
terminal stays compromised six weeks. With the generator's defaults (a two-day median, four
weeks) a model of 2,000 cards stays below the 0.70 recall gate (BENCHMARKS.md, "The demo, warm
state and thresholds"). Before the drift, daily windows may WARN on a Sunday and a Monday: each is
compared with an all-week reference, and the weekend's low volume moves the gaps between a card's
transactions and the terminals' daily counts. The demo allows two.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from cli.broker import LocalBroker
from cli.demo_command import DemoConfig
from cli.state_commands import bootstrap_state
from consumers.drift.config import CALENDAR_FEATURES, DriftConfig
from consumers.drift.consumer import run_drift
from consumers.topic_audit import end_offsets, read_topic
from features.definitions import FEATURE_NAMES
from fraudstream.kafka import ensure_topics
from fraudstream.settings import FraudstreamSettings, TopicNames
from producers.adapters import load_dataset
from producers.config import DriftSpec, GeneratorConfig
from producers.generator import generate_to, write_dataset
from producers.replay import replay
from registry import ModelRegistry
from schemas.dataset import Dataset
from schemas.timestamps import epoch_millis
from trainer.batch_score import score_dataset
from trainer.compare import compare_on_test_period
from trainer.config import RetrainConfig, TrainConfig
from trainer.parity import Parity, compare_with_batch
from trainer.retrain import retrain
from trainer.train import train

#: the drift: every amount doubled from this many days into the replay on
DRIFT_DAY, AMOUNT_SCALE = 7, 2.0
#: what the doubled amounts move: the amount features, the card amount windows, and the score
AFFECTED = frozenset(name for name in FEATURE_NAMES if name.startswith(("amount", "card_amount"))) | {"score"}
#: days the challenger shadows production before it is promoted, and days decided after that
SHADOW_DAYS, AFTER_DAYS = 2, 2
#: WARN windows allowed before the drift (a Sunday and a Monday: see the module docstring)
MAX_WARN_BEFORE = 2
#: the demo's world (the module docstring says why)
WORLD: dict[str, Any] = {"label_delay_median_days": 1.0, "compromised_terminal_days": 42}
RELOAD_SECONDS = 1.0


@dataclass
class Story:
    """What the demo found, for the summary and the report."""

    ok: bool = True
    failures: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def check(self, passed: bool, what: str) -> bool:
        if not passed:
            self.ok = False
            self.failures.append(what)
            print(f"  CHECK FAILED: {what}", flush=True)
        return passed

    def say(self, line: str) -> None:
        print(f"  {line}", flush=True)
        self.lines.append(line)


@contextmanager
def step(number: int, title: str) -> Iterator[Callable[[str], None]]:
    """A step's heading, a progress bar fed by the step's messages, and how long it took."""
    print(f"\n== {number}/10 {title} ==", flush=True)
    started = time.monotonic()
    with tqdm(desc=f"{number}/10", bar_format="{desc} {elapsed} {postfix}", mininterval=0.5) as bar:

        def progress(message: str) -> None:
            bar.set_postfix_str(message.strip()[:70], refresh=False)
            bar.update()

        yield progress
    print(f"  ({time.monotonic() - started:.0f} s)", flush=True)


def run_demo(settings: FraudstreamSettings, demo: DemoConfig | None = None) -> int:
    demo = demo or DemoConfig()
    workdir = demo.workdir or settings.home / "demo"
    story = Story()
    run = uuid.uuid4().hex[:8]  # fresh topics and worker per run, so counts below are this run's
    topics = TopicNames(transactions=f"demo-{run}.transactions", labels=f"demo-{run}.labels",
                        decisions=f"demo-{run}.decisions", dlq=f"demo-{run}.dlq")  # fmt: skip
    app_id = f"demo-{run}"
    kafka = settings.bootstrap_servers

    with step(1, "local Kafka broker"):
        port = int(kafka.rsplit(":", 1)[-1])
        broker = LocalBroker(settings.home / "kafka", port=port, controller_port=port + 1)
        seconds = broker.start()
    story.say(f"broker {broker.bootstrap_servers} ready ({seconds:.1f} s to ready; 0 means it was running)")
    if any(name.startswith("FRAUDSTREAM_SECURITY__") for name in os.environ):
        print("  the demo's broker is a plaintext local one: FRAUDSTREAM_SECURITY__* settings are not used", flush=True)

    live_days = demo.live_days
    with step(2, f"a synthetic world: {demo.history_days} days of history, then {live_days + SHADOW_DAYS + AFTER_DAYS} "
                 "newer days") as progress:  # fmt: skip
        data_dir = workdir / "data"
        config = GeneratorConfig(n_customers=demo.customers, n_terminals=demo.customers * 2,
                                 n_days=demo.history_days + live_days + SHADOW_DAYS + AFTER_DAYS, seed=demo.seed,
                                 **WORLD)  # fmt: skip
        manifest = generate_to(config, data_dir, progress=progress)
        generated = load_dataset(data_dir)
        start = generated.transactions["event_time"].min().normalize()
        history_end = start + timedelta(days=demo.history_days)
        drift_start = history_end + timedelta(days=DRIFT_DAY)
        live_end = history_end + timedelta(days=live_days)
        shadow_end = live_end + timedelta(days=SHADOW_DAYS)
        last = generated.transactions["event_time"].max()
        spec = DriftSpec(start=drift_start.to_pydatetime(), amount_scale=AMOUNT_SCALE)
        drifted, _ = spec.apply(generated.transactions)
        replayed = Dataset(drifted, generated.labels)
        history_dir, replayed_dir, recent_dir = workdir / "history", workdir / "replayed", workdir / "recent"
        write_dataset(generated.between(None, history_end), history_dir)
        write_dataset(replayed, replayed_dir)  # everything as the stream sees it, for `fraudstream score`
        write_dataset(replayed.between(None, live_end), recent_dir)
    story.say(f"{manifest['transactions']:,} transactions, {manifest['frauds']:,} frauds "
              f"({manifest['fraud_rate']:.2%}) of {demo.customers:,} cards; history to {history_end:%Y-%m-%d}, "
              f"drift from {drift_start:%Y-%m-%d}")  # fmt: skip

    shutil.rmtree(workdir / "models", ignore_errors=True)  # each demo starts with an empty registry
    store = f"file://{(workdir / 'models').resolve()}"
    registry = ModelRegistry(store)
    train_config = TrainConfig(data=history_dir, store_uri=store, report_dir=workdir / "model-report",
                               trials=12, time_budget_seconds=90)  # fmt: skip
    with step(3, f"train on the history ({train_config.periods.describe()}) and promote") as progress:
        result = train(train_config, progress=progress)
        champion = result.version
        failed = result.card["gates"]["failed"]
        notes = registry.promote(champion, force=bool(failed))
    m = result.card["metrics"]["xgboost"]
    at = m["at_review_threshold"]
    story.say(f"model {champion}: AP {m['average_precision']:.3f}; at the review threshold precision "
              f"{at['precision']:.3f}, recall {at['recall']:.3f}, F1 {at['f1']:.3f}")  # fmt: skip
    story.check(not failed, f"gates: {'; '.join(failed)} (promoted with --force)")
    story.say(f"{notes[0]}; production -> {registry.aliases()['production']}")

    with step(4, f"bootstrap the worker's state to the end of the history ({history_end:%Y-%m-%d})"):
        until_ms = int(epoch_millis(pd.Series([history_end]))[0])
        ensure_topics(kafka, topics.model_dump().values(), settings.partitions)
        state, _ = bootstrap_state(settings.client_config(), app_id, settings.partitions, data=history_dir,
                                   until_ms=until_ms, progress=False)  # fmt: skip
    story.say(f"worker {app_id}: {state.summary()}")

    staged = "staging" in registry.aliases()
    worker = _start_worker(settings, topics, store, app_id, workdir, shadow=staged)
    try:
        phase1 = generated.between(history_end, live_end)
        with step(5, f"replay {live_days} newer days at speed (amounts x{AMOUNT_SCALE:g} from {drift_start:%Y-%m-%d}); "
                     "the worker decides every event"):  # fmt: skip
            sent = replay(phase1, kafka, topics, drift=spec, progress=True)
            story.check(sent.ok, f"replay: {sent.failed} of {sent.sent} events failed")
            expected = len(phase1.transactions)
            _wait_for_decisions(kafka, topics.decisions, expected, worker)
        decisions = _decisions(kafka, topics.decisions)
        mix = pd.Series([d["decision"] for d in decisions]).value_counts().to_dict()
        story.say(f"{sent.sent:,} events replayed; {len(decisions):,} decisions: {mix}")

        with step(6, "every streamed decision checked against `fraudstream score` of the same data"):
            score_dataset(replayed_dir, store, workdir / "scored.parquet", model_ref=champion, progress=lambda m: None)
            scored = pd.read_parquet(workdir / "scored.parquet")
            parity = _parity(decisions, scored, phase1, result.card["feature_names"])
        story.say(f"parity with `fraudstream score`: {parity.summary()}")
        story.check(parity.ok, "streamed decisions differ from batch scoring")

        with step(7, "the drift consumer: PSI and KS per feature over daily event-time windows"):
            story.reports = _drift_reports(settings, topics, store, app_id)
        _drift_timeline(story, champion, drift_start)

        with step(8, "retrain on the recent data; the challenger shadows production") as progress:
            retrain_config = RetrainConfig(train=train_config.model_copy(update={
                "data": recent_dir, "report_dir": workdir / "challenger-report"}), trigger="drift")  # fmt: skip
            outcome = retrain(retrain_config, reports=story.reports, progress=progress)
            challenger = outcome.version
            if outcome.staged:
                time.sleep(3 * RELOAD_SECONDS)  # the worker's shadow follows staging within its interval
                phase2 = generated.between(live_end, shadow_end)
                replay(phase2, kafka, topics, drift=spec, progress=False)
                _wait_for_decisions(kafka, topics.decisions, expected + len(phase2.transactions), worker)
                expected += len(phase2.transactions)
        story.say(f"drift trigger: {outcome.trigger.reason if outcome.trigger else 'none'}")
        comparison = outcome.comparison
        if "production" in comparison:
            story.say(f"on the challenger's test period: challenger F1 {comparison['candidate']['f1']:.3f}, "
                      f"production F1 {comparison['production']['f1']:.3f} ({comparison.get('rule', '')})")  # fmt: skip
        story.check(outcome.staged, f"challenger not staged: {'; '.join(outcome.reasons)}")
        if not outcome.staged or challenger is None:
            return _finish(story, workdir, replayed, {})
        decisions = _decisions(kafka, topics.decisions)
        shadowed = [d for d in decisions if (d.get("shadow") or {}).get("model") == f"staging:{challenger}"]
        story.say(f"{len(shadowed):,} decisions carry the challenger's verdict in shadow ({SHADOW_DAYS} days)")
        story.check(len(shadowed) >= len(phase2.transactions), "the worker did not shadow the challenger")
        story.say("in shadow, against the generator's truth: " + _shadow_comparison(shadowed, generated))

        with step(9, "promote the challenger; the worker switches without a gap"):
            notes = registry.promote(
                challenger, compare=lambda a, b: compare_on_test_period(registry, a, b, recent_dir)
            )
            time.sleep(3 * RELOAD_SECONDS)
            phase3 = generated.between(shadow_end, last)
            replay(phase3, kafka, topics, drift=spec, progress=False)
            expected += len(phase3.transactions)
            _wait_for_decisions(kafka, topics.decisions, expected, worker)
            decisions = _decisions(kafka, topics.decisions)
            score_dataset(replayed_dir, store, workdir / "scored-challenger.parquet", model_ref=challenger,
                          progress=lambda m: None)  # fmt: skip
        story.say(f"{notes[0]}; {notes[-1]}; production -> {registry.aliases()['production']}")
        after = set(phase3.transactions["transaction_id"])
        versions = pd.Series([d["model_version"] for d in decisions if d["transaction_id"] in after]).value_counts()
        earlier = {d["model_version"] for d in decisions if d["transaction_id"] not in after}
        story.say(f"decisions after the promotion by version: {versions.to_dict()}")
        story.check(set(versions.index) == {challenger}, "decisions after the promotion not all by the challenger")
        story.check(earlier == {champion}, f"decisions before the promotion by {sorted(earlier)}, not only {champion}")
        live = generated.between(history_end, last)
        undecided = set(live.transactions["transaction_id"]) - {d["transaction_id"] for d in decisions}
        story.check(not undecided, f"{len(undecided)} transactions without a decision")
        parity_new = _parity([d for d in decisions if d["transaction_id"] in after],
                             pd.read_parquet(workdir / "scored-challenger.parquet"), phase3,
                             result.card["feature_names"])  # fmt: skip
        story.say(f"{len(undecided)} transactions without a decision; challenger's decisions vs `fraudstream score`: "
                  f"{parity_new.summary()}")  # fmt: skip
        story.check(parity_new.ok, "the challenger's streamed decisions differ from batch scoring")
        story.decisions = decisions
        return _finish(story, workdir, replayed,
                       {"champion": champion, "challenger": challenger, "shadow_end": shadow_end,
                        "drift_start": drift_start,
                        "test_start": pd.Timestamp(registry.card(challenger)["periods"]["test_start"])})  # fmt: skip
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)


def worker_env(settings: FraudstreamSettings, topics: TopicNames) -> dict[str, str]:
    """The demo worker's environment: this one, on the demo's broker and topics. The demo's broker
    is its own plaintext local one, and its own clients use no TLS or SASL, so security settings
    meant for another cluster (``FRAUDSTREAM_SECURITY__*``) are left out, as the worker would
    otherwise speak TLS or SASL to a broker that does not."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FRAUDSTREAM_SECURITY__")}
    return {**env, "FRAUDSTREAM_BOOTSTRAP_SERVERS": settings.bootstrap_servers, **topics.as_env()}


def _start_worker(
    settings: FraudstreamSettings, topics: TopicNames, store: str, app_id: str, workdir: Path, shadow: bool
) -> subprocess.Popen[bytes]:
    env = worker_env(settings, topics)
    log_path = workdir / "worker.log"
    command = [sys.executable, "-m", "cli.main", "worker", "--store", store, "--app-id", app_id,
               "--reload-interval", str(RELOAD_SECONDS), *(["--shadow", "staging"] if shadow else [])]  # fmt: skip
    print(f"  fraudstream worker --app-id {app_id}{' --shadow staging' if shadow else ''} (log: {log_path})")
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_for_decisions(kafka: str, topic: str, expected: int, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 600
    with tqdm(total=expected, desc="decisions", unit="tx", mininterval=0.5) as bar:
        while True:
            done = sum(end_offsets(kafka, topic).values())
            bar.update(done - bar.n)
            if done >= expected:
                return
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}); see its log")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done:,} of {expected:,} decisions after 600 s")
            time.sleep(0.5)


def _decisions(kafka: str, topic: str) -> list[dict[str, Any]]:
    _, records = read_topic(kafka, topic, "Decision", keep_records=True)
    return [r.record for r in records if r.record is not None]


def _shadow_comparison(shadowed: list[dict[str, Any]], generated: Dataset) -> str:
    """Precision and recall of the champion's and the challenger's verdicts on the shadowed days."""
    frauds = set(generated.transactions.loc[generated.transactions["is_fraud"].astype(bool), "transaction_id"])
    by_tx = {d["transaction_id"]: d for d in shadowed}
    truth = {tx for tx in by_tx if tx in frauds}
    parts = []
    for name, flagged in (
        ("champion", {tx for tx, d in by_tx.items() if d["decision"] != "APPROVE"}),
        ("challenger", {tx for tx, d in by_tx.items() if d["shadow"]["decision"] != "APPROVE"}),
    ):
        hits = len(flagged & truth)
        parts.append(f"{name} flagged {len(flagged):,} (precision {hits / max(len(flagged), 1):.3f}, "
                     f"recall {hits / max(len(truth), 1):.3f})")  # fmt: skip
    return f"{len(truth)} frauds in {len(by_tx):,} transactions; " + "; ".join(parts)


def _parity(decisions: list[dict[str, Any]], scored: pd.DataFrame, phase: Dataset, names: list[str]) -> Parity:
    """The decisions of ``phase``'s transactions against batch scoring of the same rows."""
    ids = set(phase.transactions["transaction_id"])
    return compare_with_batch((d for d in decisions if d["transaction_id"] in ids),
                              scored[scored["transaction_id"].isin(ids)].reset_index(drop=True), names)  # fmt: skip


def _drift_reports(settings: FraudstreamSettings, topics: TopicNames, store: str, app_id: str) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    # the configured reports topic, where `fraudstream retrain --when drift` and dashboards look;
    # this run's reports are the ones handed to on_report
    ensure_topics(settings.bootstrap_servers, [settings.topics.drift_reports], settings.partitions)
    run_drift(
        DriftConfig(
            bootstrap_servers=settings.bootstrap_servers, decisions_topic=topics.decisions,
            reports_topic=settings.topics.drift_reports, model_store=store, group_id=f"{app_id}-drift",
            window=86_400.0, grace=3_600.0, close_idle_after=2.0, stop_idle_after=0.5,
        ),
        on_report=reports.append,
    )  # fmt: skip
    return sorted(reports, key=lambda r: r["window_start"])


def _drift_timeline(story: Story, champion: str, drift_start: pd.Timestamp) -> None:
    """The windows before the drift day and the first one from it, and what they say."""
    start_ms = int(epoch_millis(pd.Series([drift_start]))[0])
    windows = [r for r in story.reports if r["model_version"] == champion]
    before = [r for r in windows if r["window_start"] < start_ms]
    from_drift = [r for r in windows if r["window_start"] >= start_ms]
    counts = pd.Series([r["status"] for r in before]).value_counts().to_dict()
    marks = {"OK": ".", "WARN": "w", "ALERT": "A"}
    timeline = "".join(marks[r["status"]] for r in before) + "|" + "".join(marks[r["status"]] for r in from_drift)
    story.say(f"{len(windows)} daily windows ('.' OK, 'w' WARN, 'A' ALERT; '|' the drift day): {timeline}")
    story.say(f"before the drift: {counts.get('OK', 0)} OK, {counts.get('WARN', 0)} WARN, "
              f"{counts.get('ALERT', 0)} ALERT")  # fmt: skip
    for report in before:
        if report["status"] != "OK":
            named = [f"{f['feature']} (PSI {f['psi']:.2f}, KS {f['ks_statistic']:.2f})" for f in report["features"]
                     if f["status"] != "OK" and f["feature"] not in CALENDAR_FEATURES]  # fmt: skip
            story.say(f"  {report['status']} {report['window_id'].split('/')[-1][:10]}: {', '.join(named)}")
    story.check(bool(before) and not counts.get("ALERT") and counts.get("WARN", 0) <= MAX_WARN_BEFORE,
                f"windows before the drift: {counts} (allowed: no ALERT, at most {MAX_WARN_BEFORE} WARN)")  # fmt: skip
    if not story.check(bool(from_drift), "no window from the drift day"):
        return
    first = from_drift[0]
    alerting = sorted(f["feature"] for f in first["features"]
                      if f["status"] == "ALERT" and f["feature"] not in CALENDAR_FEATURES)  # fmt: skip
    story.say(f"first window from the drift day, {first['window_id']}: {first['status']}; "
              f"ALERT on {', '.join(alerting)}")  # fmt: skip
    story.check(first["status"] == "ALERT", f"the first window from the drift day is {first['status']}")
    outside = sorted(set(alerting) - AFFECTED)
    story.say(f"features alerting that the doubled amounts do not touch: {outside or 'none'}")
    story.check(not outside, f"ALERT on features the drift does not touch: {outside}")


def _finish(story: Story, workdir: Path, replayed: Dataset, models: dict[str, Any]) -> int:
    from cli.demo_report import write_report

    with step(10, "summary and report"):
        report = write_report(workdir / "report", story, replayed, models)
    decided = {d["transaction_id"] for d in story.decisions}
    queue = sum(1 for d in story.decisions if d["decision"] != "APPROVE")
    print(f"\nSummary: {len(decided):,} transactions decided, {queue:,} sent to the review queue "
          f"({queue / max(len(decided), 1):.2%}).")  # fmt: skip
    summarised = ("gates", "parity", "before the drift", "first window", "on the challenger", "in shadow")
    for line in story.lines:
        if line.startswith(summarised) or "daily windows" in line:
            print(f"  {line}")
    print(f"Report: {report}")
    print(
        "The broker keeps running for the next steps; `fraudstream status` shows it; stop it with: "
        "fraudstream kafka stop"
    )
    if story.failures:
        print("\nThe demo's checks FAILED: " + json.dumps(story.failures))
        return 1
    print("\nAll of the demo's checks passed.")
    return 0
