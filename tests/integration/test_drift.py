"""The drift consumer on the real broker: quiet on a stationary stream, alerting on injected shifts."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pandas as pd
import pytest
from confluent_kafka import Consumer, TopicPartition

from cli.main import main
from consumers.drift.config import DriftConfig, DriftThresholds
from consumers.drift.consumer import run_drift
from producers.adapters import load_dataset
from producers.config import DriftSpec, GeneratorConfig
from registry import ModelRegistry
from schemas.dataset import Dataset
from tests.integration.worker_harness import produce, promoted_model, wait_for
from trainer.config import Gates, PeriodConfig, TrainConfig
from trainer.drift_backfill import offline_decisions
from trainer.train import train

START = date(2026, 4, 1)
#: Calendar features are a function of the window's own time span, so a window of one day always
#: differs from the all-week reference; drift on them is expected and not alerted on.
CALENDAR = {"hour_sin", "hour_cos", "is_night", "is_weekend"}


@pytest.fixture(scope="module")
def drift_scenario(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    data, store, version = promoted_model(
        root,
        GeneratorConfig(n_customers=1_000, n_terminals=2_000, n_days=100, seed=41),
        periods=PeriodConfig(train_start=START + timedelta(days=35)),
    )
    dataset = load_dataset(data)
    stream_start = pd.Timestamp(START + timedelta(days=42), tz="UTC")
    model = ModelRegistry(store).load(version)
    return {"store": store, "model": model, "dataset": dataset, "stream_start": stream_start, "data": data,
            "root": root}  # fmt: skip


def _stream(dataset: Dataset, start: pd.Timestamp) -> Dataset:
    keep = dataset.transactions["event_time"] >= start
    return Dataset(dataset.transactions[keep].reset_index(drop=True), dataset.labels)


def _run(drift_scenario, bootstrap_servers, topic_factory, dataset: Dataset, **window: int | None) -> list[dict]:
    decisions, reports = topic_factory("decisions"), topic_factory("reports")
    full = offline_decisions(dataset, drift_scenario["model"], decisions)
    start_ms = int(drift_scenario["stream_start"].timestamp() * 1000)
    produce(bootstrap_servers, [e for e in full if e.timestamp_ms >= start_ms])
    got: list[dict] = []
    config = DriftConfig(
        bootstrap_servers=bootstrap_servers, decisions_topic=decisions, reports_topic=reports,
        model_store=drift_scenario["store"], group_id=f"drift-{decisions[-8:]}", grace=3_600.0,
        thresholds=DriftThresholds(), close_idle_after=3.0, stop_idle_after=1.0,
        **({"window": 86_400.0} | window),
    )  # fmt: skip
    assert run_drift(config, on_report=got.append) == len(got)
    return got


def _alerting(report: dict) -> set[str]:
    """Features in ALERT (PSI >= 0.25). WARN is a warning: daily windows see the weekly rhythm
    (quieter Sundays move gaps and daily counts) at WARN level without anything having drifted."""
    return {f["feature"] for f in report["features"] if f["status"] == "ALERT" and f["feature"] not in CALENDAR}


def test_a_stationary_stream_of_fifty_windows_raises_no_alert(drift_scenario, bootstrap_servers, topic_factory) -> None:
    reports = _run(drift_scenario, bootstrap_servers, topic_factory, drift_scenario["dataset"])
    full_windows = [r for r in reports if r["event_count"] > 1_000]
    assert len(full_windows) >= 50
    noisy = {r["window_id"]: _alerting(r) for r in full_windows if _alerting(r)}
    assert noisy == {}


# an amount shift is the demo's drift (tests/integration/test_demo.py: ALERT from its first window,
# on the amount features only, through the worker)
@pytest.mark.parametrize(
    ("spec", "affected"),
    [
        ({"merchant_mix": {"7995": 1.0}, "merchant_share": 0.3}, {"mcc_high_risk"}),
    ],
    ids=["merchant mix"],
)
def test_an_injected_shift_alerts_on_the_affected_features_in_the_first_full_window(
    drift_scenario, bootstrap_servers, topic_factory, spec, affected
) -> None:
    shift_at = drift_scenario["stream_start"] + pd.Timedelta(days=20, hours=6)
    dataset = drift_scenario["dataset"]
    changed, _ = DriftSpec(start=shift_at.to_pydatetime(), seed=3, **spec).apply(dataset.transactions)
    reports = _run(drift_scenario, bootstrap_servers, topic_factory, Dataset(changed, dataset.labels))
    shift_ms = int(shift_at.timestamp() * 1000)
    first_full = min((r for r in reports if r["window_start"] >= shift_ms), key=lambda r: r["window_start"])
    before = [r for r in reports if r["window_end"] <= shift_ms and r["event_count"] > 1_000]
    assert all(not _alerting(r) for r in before)
    alerting = _alerting(first_full)
    assert alerting & affected, first_full
    unaffected = {f["feature"] for f in first_full["features"]} - affected - CALENDAR - {"score"}
    assert not (alerting & unaffected - _derived(spec)), sorted(alerting)


def test_count_windows_cut_the_stream_into_windows_of_n_decisions(
    drift_scenario, bootstrap_servers, topic_factory
) -> None:
    dataset = _stream(drift_scenario["dataset"], drift_scenario["stream_start"])
    reports = _run(drift_scenario, bootstrap_servers, topic_factory, dataset, window=None, window_events=5_000)
    counts = [r["event_count"] for r in reports]
    assert sum(counts) == len(dataset.transactions)
    assert counts.count(5_000) == len(dataset.transactions) // 5_000  # all full but the one closed at the end
    assert len({r["window_id"] for r in reports}) == len(reports)
    assert all(r["window_start"] < r["window_end"] for r in reports)


def test_a_rebalance_in_the_middle_of_a_window_counts_each_decision_once(
    drift_scenario, bootstrap_servers, topic_factory
) -> None:
    # a second member joins the group (on another topic) and leaves while a day is half read: the
    # eager rebalances revoke and give back the drift consumer's partitions, which read again from
    # the last commit (the first offset of the open day); the open window must not count them twice
    start = drift_scenario["stream_start"]
    days = _stream(drift_scenario["dataset"], start)
    days = Dataset(days.transactions[days.transactions["event_time"] < start + pd.Timedelta(days=2)], days.labels)
    decisions, reports, other = topic_factory("decisions"), topic_factory("reports"), topic_factory("other")
    events = sorted(offline_decisions(days, drift_scenario["model"], decisions), key=lambda e: e.timestamp_ms)
    second_day = int((start + pd.Timedelta(days=1)).timestamp() * 1000)
    first = [e for e in events if e.timestamp_ms < second_day]
    second = [e for e in events if e.timestamp_ms >= second_day]
    half = len(second) // 2
    produce(bootstrap_servers, first + second[:half])
    group = f"drift-{decisions[-8:]}"
    got: list[dict] = []
    config = DriftConfig(
        bootstrap_servers=bootstrap_servers, decisions_topic=decisions, reports_topic=reports,
        model_store=drift_scenario["store"], group_id=group, window=86_400.0, grace=0.0,
        thresholds=DriftThresholds(), close_idle_after=15.0, stop_idle_after=1.0,
    )  # fmt: skip
    worker = threading.Thread(target=run_drift, args=(config, got.append), daemon=True)
    worker.start()
    wait_for(lambda: len(got) == 1, 60, "the first day's report")
    time.sleep(2)  # the rest of what was produced is read (one consume call takes up to 2,000)
    member = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": group, "auto.offset.reset": "earliest"})
    assigned: list[TopicPartition] = []
    member.subscribe([other], on_assign=lambda _, partitions: assigned.extend(partitions))
    deadline = time.monotonic() + 60
    while not assigned and time.monotonic() < deadline:
        member.poll(0.2)
    member.close()
    assert assigned, "the second member never joined the group"
    produce(bootstrap_servers, second[half:])
    worker.join(120)
    assert not worker.is_alive()
    assert [r["event_count"] for r in got] == [len(first), len(second)]


def _derived(spec: dict) -> set[str]:
    """Features that legitimately move with the injected change besides the direct ones."""
    if "amount_scale" in spec:
        return {"card_amount_ratio_30d", "card_small_count_24h"}
    return set()


def test_a_psi_alert_on_the_reports_topic_triggers_a_retrain_that_stages_a_better_model(
    drift_scenario, bootstrap_servers, topic_factory, tmp_path, monkeypatch, capsys
) -> None:
    # production: depth-1 trees, so the retrained candidate clears the +0.02 F1 rule by a wide margin
    store = f"file://{tmp_path / 'models'}"
    weak_config = TrainConfig(data=drift_scenario["data"], store_uri=store, report_dir=tmp_path / "weak",
                              gates=Gates.off(), xgb_params={"max_depth": 1, "eta": 0.02},
                              periods=PeriodConfig(train_start=START + timedelta(days=35)))  # fmt: skip
    weak = train(weak_config, progress=lambda m: None)
    ModelRegistry(store).promote(weak.version)
    dataset = drift_scenario["dataset"]
    shift_at = pd.Timestamp(START + timedelta(days=85), tz="UTC")
    changed, _ = DriftSpec(start=shift_at.to_pydatetime(), seed=3, amount_scale=1.5).apply(dataset.transactions)
    decisions, reports = topic_factory("decisions"), topic_factory("reports")
    events = offline_decisions(Dataset(changed, dataset.labels), ModelRegistry(store).load(weak.version), decisions)
    start_ms = int((shift_at - pd.Timedelta(days=4)).timestamp() * 1000)
    produce(bootstrap_servers, [e for e in events if e.timestamp_ms >= start_ms])
    config = DriftConfig(bootstrap_servers=bootstrap_servers, decisions_topic=decisions, reports_topic=reports,
                         model_store=store, group_id=f"drift-{decisions[-8:]}", grace=3_600.0, window=86_400.0,
                         thresholds=DriftThresholds(), close_idle_after=3.0, stop_idle_after=1.0)  # fmt: skip
    assert run_drift(config) > 0

    monkeypatch.setenv("FRAUDSTREAM_BOOTSTRAP_SERVERS", bootstrap_servers)
    monkeypatch.setenv("FRAUDSTREAM_TOPICS__DRIFT_REPORTS", reports)
    monkeypatch.setenv("FRAUDSTREAM_HOME", str(tmp_path))
    code = main(["retrain", "--when", "drift", "--data", str(drift_scenario["data"]), "--store", store,
                 "--trials", "3", "--min-f1", "0", "--min-precision", "0", "--min-recall", "0",
                 "--min-average-precision", "0"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    assert "drift trigger: fired" in out
    assert "amount" in out.split("drift trigger: fired")[1].splitlines()[0]
    registry = ModelRegistry(store)
    staged = registry.resolve("staging")
    assert staged != weak.version
    assert registry.resolve("production") == weak.version
    assert registry.card(staged)["parameters"]["selection"]["method"].startswith("prequential")
