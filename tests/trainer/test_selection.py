"""Model selection by prequential validation: folds in the past only, label-delay weights, the search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from features.batch import compute_features
from producers.adapters import load_dataset
from registry import ModelRegistry
from trainer.config import Gates, TrainConfig
from trainer.periods import choose_periods
from trainer.selection import ReportingCurve, prequential_folds, select_model
from trainer.train import known_fraud_before, train


def test_every_fold_ends_before_the_final_training_period_ends_and_only_folds_with_data_are_made() -> None:
    test_start = datetime(2026, 6, 1, tzinfo=UTC)
    folds = prequential_folds(test_start - timedelta(days=40), test_start, 7, 7, 7, n_folds=6)
    assert len(folds) == 2  # the third would start 42 days before the test period
    for k, fold in enumerate(folds):
        assert fold.valid_end == test_start - timedelta(days=7 + 7 * k)  # labels at least 7 days old
        assert fold.train_end == fold.valid_start - timedelta(days=7)  # the delay period of its own
        assert fold.train_end - fold.train_start == timedelta(days=7)


def _labels(delays_days: np.ndarray, event: pd.Timestamp) -> pd.DataFrame:
    events = pd.Series([event] * len(delays_days))
    return pd.DataFrame({"event_time": events, "reported_at": events + pd.to_timedelta(delays_days, unit="D"),
                         "is_fraud": True})  # fmt: skip


def test_the_reporting_curve_is_the_share_of_old_frauds_reported_by_each_age() -> None:
    cutoff = datetime(2026, 6, 1, tzinfo=UTC)
    delays = np.r_[np.full(80, 2.0), np.full(20, 20.0), np.full(10, 90.0)]  # the 90-day ones: after the horizon
    curve = ReportingCurve.from_labels(_labels(delays, pd.Timestamp(cutoff) - pd.Timedelta(days=100)), cutoff)
    assert curve.share_reported(np.array([1.0, 2.0, 10.0, 20.0, 59.0])) == pytest.approx([0.05, 0.8, 0.8, 1.0, 1.0])
    fixed = ReportingCurve.from_labels(_labels(np.full(50, 7.0), pd.Timestamp(cutoff) - pd.Timedelta(days=70)), cutoff)
    assert fixed.share_reported(np.array([7.0, 8.0, 30.0])) == pytest.approx([1.0, 1.0, 1.0])


def test_a_reporting_curve_from_too_few_frauds_corrects_nothing() -> None:
    cutoff = datetime(2026, 6, 1, tzinfo=UTC)
    recent = _labels(np.full(100, 2.0), pd.Timestamp(cutoff) - pd.Timedelta(days=10))  # none old enough
    curve = ReportingCurve.from_labels(recent, cutoff)
    assert "no correction" in curve.note
    assert (curve.share_reported(np.array([1.0, 8.0])) == 1.0).all()


@pytest.mark.parametrize("card_aware", [False, True], ids=["average-precision", "with-card-precision"])
def test_the_selection_reads_nothing_from_the_test_period_on(long_data, card_aware: bool) -> None:
    dataset = load_dataset(long_data)
    tx, labels = dataset.transactions, dataset.labels
    x = compute_features(tx, labels).to_numpy(dtype=float)
    names = [f"f{i}" for i in range(x.shape[1])]
    test_start = choose_periods(tx["event_time"]).test_start
    folds = prequential_folds(tx["event_time"].min().to_pydatetime(), test_start, 7, 7, 7, 2)
    assert len(folds) == 2

    def run(x: np.ndarray, labels: pd.DataFrame):
        curve = ReportingCurve.from_labels(labels, test_start)
        return select_model(x, names, tx["event_time"], lambda t: known_fraud_before(tx, labels, t), folds,
                            test_start, curve, trials=3, time_budget_seconds=600, progress=lambda m: None,
                            cards=tx["card_id"].to_numpy() if card_aware else None)  # fmt: skip

    first = run(x, labels)
    later = (tx["event_time"] >= pd.Timestamp(test_start)).to_numpy()
    scrambled = x.copy()
    scrambled[later] = np.random.default_rng(0).permutation(scrambled[later])[:, ::-1]
    every_later_fraud = tx.loc[later, ["transaction_id", "card_id", "terminal_id", "event_time"]].assign(
        reported_at=pd.Timestamp(test_start) + pd.Timedelta(hours=1), is_fraud=True, fraud_scenario=None
    )
    second = run(scrambled, pd.concat([labels, every_later_fraud], ignore_index=True))
    assert (second.family, second.params, second.rounds) == (first.family, first.params, first.rounds)
    assert second.fold_aps == first.fold_aps
    assert np.array_equal(second.validation_scores, first.validation_scores)
    assert first.trials == 3
    assert len(first.fold_aps) == 2
    assert first.mean_validation_ap == pytest.approx(np.mean(first.fold_aps))
    served = [row for row in first.leaderboard if row["family"] != "logistic_regression"]
    objective = "average_precision+card_precision_at_100" if card_aware else "average_precision"
    assert first.objective == objective
    best_served = max(row[f"mean_validation_{objective}"] for row in served)
    assert first.search_validation_ap == pytest.approx(best_served, abs=1e-5)


def test_train_selects_on_prequential_folds_and_stores_the_choice_in_the_card(long_data, tmp_path) -> None:
    config = TrainConfig(data=long_data, store_uri=f"file://{tmp_path}/s", report_dir=tmp_path / "r",
                         gates=Gates.off(), trials=4, time_budget_seconds=600)  # fmt: skip
    messages: list[str] = []
    result = train(config, progress=messages.append)
    selection = ModelRegistry(config.store_uri).card(result.version)["parameters"]["selection"]
    assert selection["method"].startswith("prequential")
    assert len(selection["folds"]) == 4
    assert selection["trials"] == 4
    trials = [m for m in messages if m.strip().startswith("trial ")]
    assert 1 <= len(trials) <= 4  # pruned trials print nothing
    assert [row["family"] for row in selection["leaderboard"]].count("logistic_regression") >= 1  # the baseline ran
    # thresholds on the chosen kind's out-of-fold scores of the training days, label-delay weighted
    assert result.card["thresholds"]["chosen_on"] == (
        "out-of-fold scores of the training period (one fold per day, label-delay weighted, a week of days one sd "
        "below their mean)"
    )
    assert result.card["algorithm"] == selection["family"] in ("xgboost", "random_forest")
    model = ModelRegistry(config.store_uri).load(result.version)
    assert model.review_threshold <= model.decline_threshold
    assert selection["label_maturity"]["share_reported_by_age_days"]["30.0"] > 0.5


def test_thresholds_can_come_from_the_folds_weeks_instead(long_data, tmp_path) -> None:
    config = TrainConfig(data=long_data, store_uri=f"file://{tmp_path}/s", report_dir=tmp_path / "r",
                         gates=Gates.off(), trials=1, threshold_source="fold_weeks")  # fmt: skip
    result = train(config, progress=lambda m: None)
    assert result.card["thresholds"]["chosen_on"].startswith("the prequential folds' validation weeks")
