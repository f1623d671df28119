"""``fraudstream train``: dataset -> features -> periods -> models -> thresholds -> gates -> store.

1. Load the dataset through the adapters and hash it (the model card's data identity).
2. Compute features over the whole history with the shared engine's batch form, so windows are warm
   at the start of every period.
3. Split by event time (``trainer/periods.py``); training targets are the labels reported before
   the test period starts, test targets are the ground truth.
4. Choose the model: by prequential validation (``trainer/selection.py``: Optuna over XGBoost,
   XGBoost's random forest and the logistic baseline, judged on mean validation average precision
   over weekly folds before the training period's end), then a refit on the whole training
   period. Without a search (``trials`` 0, fixed ``xgb_params``, or data too short for a fold):
   today's defaults, early stopping on the validation days picking the rounds. The logistic
   baseline is always fit and stored beside the model.
5. Choose REVIEW and DECLINE thresholds (lowest score reaching the precision targets): on the
   chosen candidate's fold scores, known frauds weighted for label delay; without folds, on
   out-of-fold scores of the training period (each day scored by a model fit on the other days).
   The test period plays no part.
6. Evaluate on the test period; apply the acceptance gates.
7. Store an immutable version (model, baseline, drift reference, model card); a version that
   passes its gates becomes ``staging``. A failing one is stored, refused promotion, and the
   command exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
import platform
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.batch import compute_features
from features.definitions import DEFAULT_CONFIG, FEATURE_SPEC_VERSION, feature_names
from producers.adapters import load_dataset
from registry import ModelRegistry, xgboost_to_bytes
from registry.drift_reference import build_reference
from schemas.dataset import Dataset
from trainer.config import TrainConfig
from trainer.evaluation import (
    at_threshold,
    card_precision_at_k,
    ranking_metrics,
    threshold_for_precision,
    threshold_for_weekly_precision,
)
from trainer.models import XGB_DEFAULTS, LogisticBaseline, out_of_fold_scores, train_xgboost, train_xgboost_rounds
from trainer.periods import choose_periods, in_period
from trainer.report import write_report
from trainer.selection import ReportingCurve, Selection, prequential_folds, select_model

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    version: str
    card: dict[str, Any]
    report_files: list[Path]
    #: the test period's features and ground truth, for comparisons on the same holdout (not stored)
    test_features: pd.DataFrame | None = None
    test_truth: np.ndarray | None = None
    #: the MLflow run id and version, or the error, when a tracking URI is configured
    mlflow: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.card["gates"]["failed"]


def dataset_hash(path: Path) -> str:
    """sha256 over the dataset's files (a generated folder's Parquet files, or the one file)."""
    files = sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".csv")) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _code_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        )
        return result.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("fraudstream", "xgboost", "scikit-learn", "numpy", "pandas", "faust-streaming", "river"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def known_fraud_before(transactions: pd.DataFrame, labels: pd.DataFrame, cutoff: datetime) -> np.ndarray:
    """Per transaction: is it a fraud whose label was reported before ``cutoff``?"""
    reported = labels[labels["is_fraud"].astype(bool) & (labels["reported_at"] < pd.Timestamp(cutoff))]
    return np.asarray(transactions["transaction_id"].isin(reported["transaction_id"]).to_numpy(), dtype=bool)


def train(config: TrainConfig, progress: Progress = print) -> TrainResult:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    progress(f"loading {config.data}")
    dataset: Dataset = load_dataset(config.data, config.columns, config.label_delay_days)
    tx, labels = dataset.transactions, dataset.labels
    data_sha = dataset_hash(Path(config.data))
    timings["load_seconds"] = time.perf_counter() - started

    t0 = time.perf_counter()
    progress(f"computing {len(feature_names())} features for {len(tx):,} transactions")
    features = compute_features(tx, labels, DEFAULT_CONFIG, progress=lambda step: progress(f"  features: {step}"))
    timings["features_seconds"] = time.perf_counter() - t0
    names = list(features.columns)

    periods = choose_periods(tx["event_time"], config.periods)
    progress(f"periods: {periods.as_dict()}")
    known = known_fraud_before(tx, labels, periods.test_start)
    fit_mask = in_period(tx["event_time"], periods.train_start, periods.validation_start).to_numpy()
    valid_mask = in_period(tx["event_time"], periods.validation_start, periods.train_end).to_numpy()
    test_mask = in_period(tx["event_time"], periods.test_start, periods.test_end).to_numpy()
    x = features.to_numpy(dtype=float)
    truth = tx["is_fraud"].to_numpy(dtype=bool)
    y_fit, y_valid, y_test = known[fit_mask], known[valid_mask], truth[test_mask]
    for name, y in (("fit", y_fit), ("validation", y_valid), ("test", y_test)):
        if y.sum() == 0 or y.sum() == len(y):
            raise ValueError(f"the {name} period has {int(y.sum())} known frauds in {len(y):,} transactions; "
                             "it needs both classes: use longer periods or more data")  # fmt: skip
    progress(
        f"fit {fit_mask.sum():,} rows ({y_fit.sum():,} frauds), validation {valid_mask.sum():,} ({y_valid.sum():,}), "
        f"test {test_mask.sum():,} ({y_test.sum():,})"
    )

    t0 = time.perf_counter()
    train_mask = fit_mask | valid_mask
    y_train = known[train_mask]
    folds = []
    if config.trials and config.xgb_params is None:
        folds = prequential_folds(tx["event_time"].min().to_pydatetime(), periods.test_start, config.periods.train_days,
                                  config.periods.delay_days, config.periods.test_days, config.folds)  # fmt: skip
    selection: Selection | None = None
    if folds:
        # the rounds early stopping picks for the defaults: the search's first candidate is the model
        # the trainer fits without a search
        _, early = train_xgboost(x[fit_mask], y_fit, x[valid_mask], y_valid, names, {})
        curve = ReportingCurve.from_labels(labels, periods.test_start)
        progress(f"model selection: {len(folds)} prequential folds, up to {config.trials} trials or "
                 f"{config.time_budget_seconds:g} s over {', '.join(config.families)}; "
                 f"label maturity {curve.note}")  # fmt: skip
        selection = select_model(
            x, names, tx["event_time"], lambda cutoff: known_fraud_before(tx, labels, cutoff), folds,
            periods.test_start, curve, trials=config.trials, time_budget_seconds=config.time_budget_seconds,
            seed=config.seed, families=config.families, default_rounds=early["best_iteration"] + 1,
            cards=tx["card_id"].to_numpy() if config.selection_objective != "average_precision" else None,
            progress=lambda m: progress(f"  {m}"),
        )  # fmt: skip
        params, rounds = selection.params, selection.rounds
        progress(f"  chosen: {selection.family} ({rounds} rounds), mean validation AP "
                 f"{selection.mean_validation_ap:.4f} after {selection.trials} trials "
                 f"({selection.pruned} pruned)")  # fmt: skip
        if selection.note:
            progress(f"  {selection.note}")
        xgb_info: dict[str, Any] = {"family": selection.family, "params": {**XGB_DEFAULTS, **params}, "rounds": rounds}
        selection_card = selection.summary()
    else:
        params = dict(config.xgb_params or {})
        why = ("fixed parameters were given" if config.xgb_params is not None else
               "no search was asked for (trials 0)" if not config.trials else
               "the data does not reach back far enough for a prequential fold before "
               f"{periods.test_start.date()}")  # fmt: skip
        progress(f"training XGBoost with early stopping on the validation days ({why})")
        _, xgb_info = train_xgboost(x[fit_mask], y_fit, x[valid_mask], y_valid, names, params)
        rounds = xgb_info["best_iteration"] + 1
        xgb_info = {"family": "xgboost", **xgb_info, "rounds": rounds}
        best_ap = xgb_info["best_validation_aucpr"]
        progress(f"  best iteration {xgb_info['best_iteration']}, validation AP {best_ap:.4f}")
        selection_card = {"method": "holdout: early stopping on the last validation days", "note": why}
    progress(f"refitting on the whole training period with {rounds} rounds")
    booster = train_xgboost_rounds(x[train_mask], y_train, names, params, rounds)
    on_folds = selection is not None and config.threshold_source == "fold_weeks"
    oof_weight: np.ndarray | None = None
    if not on_folds:
        # Thresholds need many frauds to be stable; a 2-day validation period has too few. Every
        # training day is scored by a model of the chosen kind trained on the other days (same
        # rounds), and the thresholds are chosen on those out-of-fold scores: scores of the model
        # that is deployed, on the days next to the ones it decides, never on the test period.
        # Fold weeks lie further back (before a drift, or while features were still filling),
        # where a model trained on still older data scores differently.
        progress("out-of-fold scores of the training period, one fold a day, for the thresholds")
        days = tx.loc[train_mask, "event_time"].dt.floor("D").to_numpy()
        oof = out_of_fold_scores(x[train_mask], y_train, days, names, params, rounds)
        if selection is not None:  # a fraud reported late counts 1 / F(its age when the test starts)
            ages = (pd.Timestamp(periods.test_start) - tx.loc[train_mask, "event_time"]).dt.total_seconds() / 86_400
            oof_weight = 1.0 / selection.curve.share_reported(ages.to_numpy())

    def threshold(target: float) -> tuple[float, bool]:
        if not on_folds and oof_weight is not None:
            # the target reached by a week of such days one standard deviation worse than their
            # mean (the days' spread over the square root of a test week's days): a margin as the
            # folds' weeks give, from the deployed model's kind on the days next to its test
            groups = [(y_train[days == day], oof[days == day], oof_weight[days == day]) for day in np.unique(days)]
            return threshold_for_weekly_precision(groups, target, spread_scale=1 / np.sqrt(config.periods.test_days))
        if not on_folds:
            return threshold_for_precision(y_train, oof, target, oof_weight)
        assert selection is not None
        # on the chosen candidate's scores of the folds' validation weeks, each reported fraud
        # weighted by how likely it was to be reported by now, and the target reached in a week one
        # standard deviation worse than the folds' mean (trainer/evaluation.py)
        return threshold_for_weekly_precision(selection.weeks(), target)

    chosen_on = ("the prequential folds' validation weeks (label-delay weighted, mean minus one sd)" if on_folds else
                 "out-of-fold scores of the training period (one fold per day"
                 + (", label-delay weighted, a week of days one sd below their mean)" if oof_weight is not None
                    else ")"))  # fmt: skip
    progress("training the logistic-regression baseline")
    baseline = LogisticBaseline.fit(x[train_mask], y_train, names)
    timings["training_seconds"] = time.perf_counter() - t0

    def xgb_scores(mask: np.ndarray) -> np.ndarray:
        return np.asarray(booster.inplace_predict(x[mask], validate_features=False), dtype=float)

    review, review_reached = threshold(config.review_precision)
    decline, decline_reached = threshold(config.decline_precision)
    decline = max(decline, review)
    test_scores = {"xgboost": xgb_scores(test_mask), "logistic_regression": baseline.predict(x[test_mask])}
    # cards with a known fraud in the training period are known compromised (handbook protocol)
    compromised = set(tx.loc[known & (fit_mask | valid_mask), "card_id"])
    test_frame = tx.loc[test_mask, ["card_id", "event_time", "is_fraud"]]
    metrics: dict[str, Any] = {}
    for name, scores in test_scores.items():
        cp100, per_day = card_precision_at_k(test_frame, scores, compromised, k=100)
        metrics[name] = {
            **ranking_metrics(y_test, scores),
            "card_precision_at_100": cp100,
            "card_precision_at_100_per_day": per_day,
        }
    metrics["xgboost"]["at_review_threshold"] = at_threshold(y_test, test_scores["xgboost"], review).as_dict()
    metrics["xgboost"]["at_decline_threshold"] = at_threshold(y_test, test_scores["xgboost"], decline).as_dict()
    failed = config.gates.check(metrics["xgboost"]["average_precision"], metrics["xgboost"]["at_review_threshold"])

    reference = build_reference(features.loc[train_mask], xgb_scores(train_mask), seed=config.seed)
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    timings["total_seconds"] = time.perf_counter() - started
    importance = {name: float(value) for name, value in booster.get_score(importance_type="total_gain").items()}  # type: ignore[arg-type]
    card: dict[str, Any] = {
        "model_id": version,
        "created_at": datetime.now(UTC).isoformat(),
        "algorithm": xgb_info["family"],  # served by XGBoost in every case (model.json)
        "baseline_algorithm": "logistic_regression",
        "feature_spec_version": FEATURE_SPEC_VERSION,
        "feature_config": asdict(DEFAULT_CONFIG),
        "feature_names": names,
        "data": {
            "path": str(config.data),
            "sha256": data_sha,
            "transactions": len(tx),
            "labels": len(labels),
            "fraud_rate": float(truth.mean()),
        },
        "periods": periods.as_dict(),
        "label_knowledge_cutoff": periods.test_start.isoformat(),
        "rows": {"fit": int(fit_mask.sum()), "validation": int(valid_mask.sum()), "test": int(test_mask.sum())},
        "code_commit": _code_commit(),
        "packages": _package_versions(),
        "parameters": {"xgboost": xgb_info, "selection": selection_card},
        "thresholds": {
            "review": review,
            "decline": decline,
            "review_precision_target": config.review_precision,
            "decline_precision_target": config.decline_precision,
            "chosen_on": chosen_on,
            "review_target_reached": review_reached,
            "decline_target_reached": decline_reached,
        },
        "metrics": metrics,
        "gates": {"config": config.gates.model_dump(), "failed": failed},
        "feature_importance_gain": importance,
        "timings": {key: round(value, 3) for key, value in timings.items()},
    }
    registry = ModelRegistry(config.store_uri)

    registry.save_version(
        version,
        {
            "model.json": xgboost_to_bytes(booster),
            "baseline.json": baseline.to_bytes(),
            "drift_reference.json": json.dumps(reference).encode(),
            "model_card.json": json.dumps(card, indent=2, default=str).encode(),
        },
    )
    if not failed and config.stage:
        registry.set_alias("staging", version)
    files = write_report(
        config.report_dir or config.reports_root / version, card, y_test.astype(int), test_scores, importance
    )
    result = TrainResult(version, card, files, features.loc[test_mask], y_test)
    if config.mlflow_tracking_uri:
        from trainer.mlflow_tracking import MlflowError, log_training_run, mirror_aliases

        progress(f"logging the run to MLflow at {config.mlflow_tracking_uri}")
        try:
            result.mlflow = log_training_run(config.mlflow_tracking_uri, card, booster, files)
            for note in mirror_aliases(config.mlflow_tracking_uri, registry.aliases()):
                progress(f"  {note}")
        except MlflowError as exc:
            result.mlflow = {"error": str(exc)}
            progress(f"warning: {exc}; version {version} is stored in {config.store_uri} all the same")
    return result
