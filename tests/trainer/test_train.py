"""Training end to end on generated data: the stored version, its card, report, gates and scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli.main import main
from features.batch import compute_features
from features.definitions import FEATURE_NAMES, FEATURE_SPEC_VERSION
from producers.adapters import load_dataset
from producers.config import GeneratorConfig
from producers.generator import generate_to
from registry import ModelRegistry
from registry.drift_reference import bin_counts
from trainer.batch_score import score_dataset
from trainer.config import Gates, TrainConfig
from trainer.evaluation import threshold_for_precision
from trainer.models import out_of_fold_scores
from trainer.periods import Periods, in_period
from trainer.train import known_fraud_before, train

LENIENT = Gates.off()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data")
    generate_to(GeneratorConfig(n_customers=1_500, n_terminals=3_000, n_days=35, seed=8), path, progress=lambda m: None)
    return path


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    config = TrainConfig(data=data_dir, store_uri=f"file://{root}", report_dir=root / "report", gates=LENIENT)
    return config, train(config, progress=lambda m: None)


def test_a_trained_version_is_stored_with_a_complete_model_card(trained) -> None:
    config, result = trained
    registry = ModelRegistry(config.store_uri)
    assert registry.versions() == [result.version]
    assert registry.resolve("staging") == result.version  # passed its (lenient) gates
    card = registry.card(result.version)
    for key in ("model_id", "created_at", "algorithm", "data", "feature_spec_version", "code_commit", "packages",
                "parameters", "metrics", "thresholds", "timings", "periods", "gates"):  # fmt: skip
        assert key in card, key
    assert card["feature_spec_version"] == FEATURE_SPEC_VERSION
    assert card["feature_names"] == list(FEATURE_NAMES)
    assert len(card["data"]["sha256"]) == 64
    assert card["packages"]["xgboost"] != "not installed"
    for model in ("xgboost", "logistic_regression"):
        metrics = card["metrics"][model]
        assert 0.5 < metrics["auc_roc"] <= 1.0
        assert 0.0 < metrics["average_precision"] <= 1.0
        assert 0.0 <= metrics["card_precision_at_100"] <= 1.0
        assert len(metrics["card_precision_at_100_per_day"]) == 7
    assert card["thresholds"]["review"] <= card["thresholds"]["decline"]
    assert card["timings"]["total_seconds"] > 0


def test_the_report_has_metrics_summary_and_plots(trained) -> None:
    config, result = trained
    names = {path.name for path in result.report_files}
    assert {"pr_curve.png", "roc_curve.png", "score_histogram.png", "feature_importance.png", "metrics.json",
            "report.md"} <= names  # fmt: skip
    for path in result.report_files:
        assert path.stat().st_size > 100
    assert (config.report_dir / "pr_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((config.report_dir / "metrics.json").read_text()) == result.card["metrics"]


def test_thresholds_come_from_out_of_fold_training_scores_not_the_test_period(trained, data_dir) -> None:
    config, result = trained
    model = ModelRegistry(config.store_uri).load(result.version)
    dataset = load_dataset(data_dir)
    features = compute_features(dataset.transactions, dataset.labels)
    periods = Periods.from_dict(result.card["periods"])
    times = dataset.transactions["event_time"]
    train_mask = in_period(times, periods.train_start, periods.train_end).to_numpy()
    known = known_fraud_before(dataset.transactions, dataset.labels, periods.test_start)[train_mask]
    xgb = result.card["parameters"]["xgboost"]
    params = dict(xgb["params"])
    days = times[train_mask].dt.floor("D").to_numpy()
    oof = out_of_fold_scores(
        features.loc[train_mask, model.feature_names].to_numpy(), known, days, model.feature_names, params,
        xgb["best_iteration"] + 1,
    )  # fmt: skip
    expected, _ = threshold_for_precision(known, oof, config.review_precision)
    assert model.review_threshold == pytest.approx(expected)
    assert len(np.unique(days)) == 7


def test_training_targets_only_know_labels_reported_before_the_test_period(data_dir) -> None:
    dataset = load_dataset(data_dir)
    labels = dataset.labels
    cutoff = labels["reported_at"].quantile(0.5)
    known = known_fraud_before(dataset.transactions, labels, cutoff)
    ids_known = set(labels.loc[labels["reported_at"] < cutoff, "transaction_id"])
    assert set(dataset.transactions.loc[known, "transaction_id"]) == ids_known
    assert known.sum() < dataset.transactions["is_fraud"].sum()


def test_the_drift_reference_covers_every_feature_and_the_score(trained) -> None:
    config, result = trained
    reference = ModelRegistry(config.store_uri).drift_reference(result.version)
    assert set(reference["features"]) == {*FEATURE_NAMES, "score"}
    for name, ref in reference["features"].items():
        assert sum(ref["proportions"]) == pytest.approx(1.0), name
        assert ref["proportions"][0] == 0.0
        assert ref["proportions"][-1] == 0.0  # overflow bins are empty in the reference
        assert len(ref["sample"]) > 0
        counts = bin_counts(ref, np.array(ref["sample"]))
        assert counts.sum() == len(ref["sample"])


def test_binary_features_get_one_bin_per_value(trained) -> None:
    config, result = trained
    ref = ModelRegistry(config.store_uri).drift_reference(result.version)["features"]["channel_ecom"]
    assert ref["inner"] == [0.5]
    assert list(bin_counts(ref, np.array([0.0, 0.0, 1.0, 2.0, -1.0]))) == [1, 2, 1, 1]


def test_batch_scoring_writes_one_row_per_transaction_with_the_models_scores(trained, data_dir, tmp_path) -> None:
    config, result = trained
    registry = ModelRegistry(config.store_uri)
    for suffix in ("parquet", "csv"):
        out = tmp_path / f"scored.{suffix}"
        summary = score_dataset(data_dir, config.store_uri, out, result.version, progress=lambda m: None)
        scored = pd.read_parquet(out) if suffix == "parquet" else pd.read_csv(out)
        dataset = load_dataset(data_dir)
        assert summary["rows"] == len(scored) == len(dataset.transactions)
        assert list(scored["transaction_id"]) == list(dataset.transactions["transaction_id"])
        model = registry.load(result.version)
        expected = model.predict(scored[model.feature_names].to_numpy(dtype=float))
        assert np.allclose(scored["score"], expected, atol=1e-6)
        assert set(scored["decision"]) <= {"APPROVE", "REVIEW", "DECLINE"}
        assert (scored.loc[scored["score"] >= model.decline_threshold, "decision"] == "DECLINE").all()
        assert (scored["model_version"] == result.version).all()


def test_a_model_failing_its_gates_is_stored_refused_and_exits_non_zero(
    data_dir, tmp_path, capsys, monkeypatch
) -> None:
    store = f"file://{tmp_path}/store"
    monkeypatch.setenv("FRAUDSTREAM_HOME", str(tmp_path / "home"))
    code = main(["train", "--data", str(data_dir), "--store", store, "--min-average-precision", "0.999"])
    assert code == 3
    assert "REFUSED" in capsys.readouterr().err
    registry = ModelRegistry(store)
    (version,) = registry.versions()
    assert (tmp_path / "home" / "reports" / version / "report.md").exists()  # under FRAUDSTREAM_HOME, not ./
    assert "staging" not in registry.aliases()
    assert registry.card(version)["gates"]["failed"]
    assert main(["model", "promote", version, "--store", store]) == 1
    assert main(["model", "promote", version, "--store", store, "--force"]) == 0
    assert registry.resolve("production") == version


def test_promote_with_data_scores_both_models_on_the_candidates_test_period(trained, data_dir, capsys) -> None:
    config, result = trained
    store = config.store_uri
    registry = ModelRegistry(store)
    if registry.aliases().get("production") != result.version:
        registry.set_alias("production", result.version)
    second = train(TrainConfig(data=data_dir, store_uri=store, report_dir=config.report_dir.parent / "second",
                               gates=LENIENT, xgb_params={"max_depth": 2}), progress=lambda m: None)  # fmt: skip
    code = main(["model", "promote", second.version, "--store", store, "--data", str(data_dir)])
    output = capsys.readouterr()
    assert "average precision" in output.out + output.err
    candidate_ap = second.card["metrics"]["xgboost"]["average_precision"]
    current_ap = result.card["metrics"]["xgboost"]["average_precision"]
    assert code == (0 if candidate_ap >= current_ap else 1)
    registry.set_alias("production", result.version)


def test_data_too_short_for_a_prequential_fold_trains_with_early_stopping_and_says_why(trained) -> None:
    _, result = trained  # 35 days: a fold needs 21 days before the 21 of the final model
    assert result.card["parameters"]["selection"]["method"].startswith("holdout")
    assert "does not reach back far enough" in result.card["parameters"]["selection"]["note"]
    assert result.card["thresholds"]["chosen_on"].startswith("out-of-fold")
