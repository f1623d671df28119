"""MLflow, when a tracking URI is configured: every training run logged, versions and aliases mirrored.

The project's own store (``registry/``) stays the source of truth: the worker reads it, promotion
and rollback happen there, and MLflow receives a copy. A run carries the parameters (model
family, hyperparameters, rounds, periods, thresholds), the test-period metrics of the model and of
the logistic baseline, the validation figures of the model selection, the data's sha256 (a tag and a
parameter), the model card, the report's plots and the model in MLflow's XGBoost format. The model
is registered under one registered model (default ``fraudstream``), its MLflow version tagged with
the project's version id; :func:`mirror_aliases` makes MLflow's ``staging`` and ``production`` aliases
point at the MLflow versions of the project's aliases (set, moved, or removed), so they follow
promote and rollback.

MLflow is an optional extra (``pip install 'fraudstream[mlflow]'``); it is imported only here and
only when a tracking URI is set.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fraudstream.errors import FraudstreamError

__all__ = ["DEFAULT_REGISTERED_MODEL", "MlflowError", "log_training_run", "mirror_aliases"]

DEFAULT_REGISTERED_MODEL = "fraudstream"
VERSION_TAG = "fraudstream_version"
ALIASES = ("staging", "production")


class MlflowError(FraudstreamError):
    """MLflow could not be reached or refused a call; the project's own store is unaffected."""


def _mlflow(tracking_uri: str) -> Any:
    try:
        import mlflow
    except ImportError as exc:
        raise MlflowError(
            "a tracking URI is configured but MLflow is not installed: pip install 'fraudstream[mlflow]'"
        ) from exc
    mlflow.set_tracking_uri(tracking_uri)
    return mlflow


def _flat(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{key}": value for key, value in values.items() if isinstance(value, int | float | str | bool)}


def log_training_run(
    tracking_uri: str,
    card: dict[str, Any],
    booster: Any,
    report_files: list[Path],
    experiment: str = "fraudstream",
    registered_model: str = DEFAULT_REGISTERED_MODEL,
) -> dict[str, str]:
    """Log one training run and register its model; returns the run id and the MLflow version."""
    mlflow = _mlflow(tracking_uri)
    version = card["model_id"]
    xgb_info, metrics = card["parameters"]["xgboost"], card["metrics"]
    selection = card["parameters"].get("selection", {})
    at_review = metrics["xgboost"]["at_review_threshold"]
    params = {
        "family": xgb_info["family"], "rounds": xgb_info["rounds"], "selection_method": selection.get("method", ""),
        "data_sha256": card["data"]["sha256"], "feature_spec_version": card["feature_spec_version"],
        **_flat("model.", xgb_info["params"]), **_flat("period.", card["periods"]),
        "threshold.review": card["thresholds"]["review"], "threshold.decline": card["thresholds"]["decline"],
    }  # fmt: skip
    model = metrics["xgboost"]
    values = {
        "test_auc_roc": model["auc_roc"], "test_average_precision": model["average_precision"],
        "test_card_precision_at_100": model["card_precision_at_100"],
        "test_precision_at_review": at_review["precision"], "test_recall_at_review": at_review["recall"],
        "test_f1_at_review": at_review["f1"],
        "baseline_test_average_precision": metrics["logistic_regression"]["average_precision"],
        "baseline_test_auc_roc": metrics["logistic_regression"]["auc_roc"],
        "gates_passed": float(not card["gates"]["failed"]), "train_seconds": card["timings"]["total_seconds"],
    }  # fmt: skip
    if "mean_validation_average_precision" in selection:
        values["validation_average_precision"] = selection["mean_validation_average_precision"]
    from importlib.metadata import version as package_version

    try:
        with warnings.catch_warnings():
            # MLflow warns about its own type inference for a model without a signature: nothing a
            # user of fraudstream can act on
            warnings.simplefilter("ignore")
            return _log(mlflow, experiment, registered_model, card, booster, report_files, params, values,
                        [f"xgboost=={package_version('xgboost')}"])  # fmt: skip
    except MlflowError:
        raise
    except Exception as exc:  # MLflow raises many kinds (REST, connection, file store); one clear line
        raise MlflowError(f"MLflow at {tracking_uri} failed logging version {version}: {exc}") from exc


def _log(
    mlflow: Any, experiment: str, registered_model: str, card: dict[str, Any], booster: Any,
    report_files: list[Path], params: dict[str, Any], values: dict[str, float], requirements: list[str],
) -> dict[str, str]:  # fmt: skip
    version, metrics = card["model_id"], card["metrics"]
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=version) as run:
        mlflow.set_tags({VERSION_TAG: version, "data_sha256": card["data"]["sha256"],
                         "code_commit": card["code_commit"],
                         "gates_failed": "; ".join(card["gates"]["failed"])})  # fmt: skip
        mlflow.log_params(params)
        mlflow.log_metrics(values)
        for day, value in enumerate(metrics["xgboost"]["card_precision_at_100_per_day"]):
            mlflow.log_metric("test_card_precision_at_100_daily", value, step=day)
        mlflow.log_dict(json.loads(json.dumps(card, default=str)), "model_card.json")
        for path in report_files:
            mlflow.log_artifact(str(path), artifact_path="report")
        info = mlflow.xgboost.log_model(booster, name="model", model_format="json", pip_requirements=requirements)
    registered = mlflow.register_model(info.model_uri, registered_model, tags={VERSION_TAG: version})
    return {"run_id": run.info.run_id, "mlflow_version": str(registered.version)}


def mirror_aliases(
    tracking_uri: str, aliases: Mapping[str, str], registered_model: str = DEFAULT_REGISTERED_MODEL
) -> list[str]:
    """Point MLflow's aliases at the MLflow versions of the project's ``aliases``; notes on what was done."""
    mlflow = _mlflow(tracking_uri)
    client = mlflow.MlflowClient()
    notes = []
    try:
        by_version = {mv.tags.get(VERSION_TAG): mv.version
                      for mv in client.search_model_versions(f"name='{registered_model}'")}  # fmt: skip
        if not by_version:
            return [f"MLflow: no version of {registered_model} logged yet; aliases left"]
        current = client.get_registered_model(registered_model).aliases or {}
        for alias in ALIASES:
            target = aliases.get(alias)
            if target is None:
                if alias in current:
                    client.delete_registered_model_alias(registered_model, alias)
                    notes.append(f"MLflow: {alias} removed")
            elif target not in by_version:
                notes.append(f"MLflow: {target} was not logged there (trained without a tracking URI); {alias} left")
            elif str(current.get(alias)) != str(by_version[target]):
                client.set_registered_model_alias(registered_model, alias, by_version[target])
                notes.append(f"MLflow: {registered_model} {alias} -> version {by_version[target]} ({target})")
    except Exception as exc:
        raise MlflowError(f"MLflow at {tracking_uri} failed mirroring aliases: {exc}") from exc
    return notes
