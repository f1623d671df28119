"""``fraudstream retrain``: a challenger from the most recent data, staged only if it beats production.

1. **Trigger.** ``always`` (the schedule's case: cron or a timer runs the command) or ``drift``: the
   newest closed drift window of the production model has a PSI at or above the alert level on at
   least ``min_alert_features`` features (the blueprint's rule: 3). The score's own PSI does not
   count: it moves with the features and is not one of them.
2. **Train** on the most recent data with the trainer's defaults (model selection, the test period
   is the last week of the data); ``train`` itself stages nothing here.
3. **Compare** on that test period, the most recent holdout: the candidate's F1 at its review
   threshold against production's F1 at production's review threshold, on the same transactions.
4. **Stage** the candidate when it passes its gates and its F1 is at least production's plus
   ``min_f1_gain`` (default 0.02, the blueprint's). Otherwise it is stored, not staged, and the
   result says why. Promotion stays a person's decision after a shadow period
   (``fraudstream worker --shadow staging``, then ``fraudstream model promote``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from features.definitions import CALENDAR_FEATURES
from registry import ModelRegistry, RegistryError
from trainer.config import RetrainConfig
from trainer.evaluation import at_threshold, ranking_metrics

__all__ = ["DriftTrigger", "RetrainConfig", "RetrainResult", "drift_trigger", "retrain"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DriftTrigger:
    fired: bool
    reason: str
    window_id: str | None = None
    alert_features: tuple[str, ...] = ()


def drift_trigger(
    reports: Iterable[dict[str, Any]], model_version: str, min_alert_features: int, psi_alert: float
) -> DriftTrigger:
    """Whether the newest drift window of ``model_version`` calls for a retrain.

    >>> window = lambda end, psis: {"window_id": f"w{end}", "window_end": end, "model_version": "v1",
    ...     "features": [{"feature": f"f{i}", "psi": p} for i, p in enumerate(psis)]
    ...     + [{"feature": "score", "psi": 9.0}]}
    >>> drift_trigger([window(2, [0.3, 0.4, 0.1]), window(1, [0.5, 0.5, 0.5])], "v1", 3, 0.25).fired
    False
    >>> drift_trigger([window(2, [0.3, 0.4, 0.26]), window(1, [0, 0, 0])], "v1", 3, 0.25).reason
    'window w2: PSI >= 0.25 on 3 features (f0, f1, f2); the rule needs 3'

    The score and the calendar features (``features/definitions.py``) never count: a Sunday's
    window always differs from an all-week reference in ``is_weekend``.

    >>> sunday = {"window_id": "w3", "window_end": 3, "model_version": "v1", "features": [
    ...     {"feature": name, "psi": 1.0} for name in ("is_weekend", "hour_sin", "is_night", "score")]}
    >>> drift_trigger([sunday], "v1", 3, 0.25).fired
    False
    """
    own = [report for report in reports if report.get("model_version") == model_version]
    if not own:
        return DriftTrigger(False, f"no drift report for the production model {model_version} yet")
    newest = max(own, key=lambda report: report["window_end"])
    counted = [f for f in newest["features"] if f["feature"] != "score" and f["feature"] not in CALENDAR_FEATURES]
    alerts = tuple(f["feature"] for f in counted if f["psi"] >= psi_alert)
    listed = f" ({', '.join(alerts)})" if alerts else ""
    reason = (f"window {newest['window_id']}: PSI >= {psi_alert:g} on {len(alerts)} features{listed}; "
              f"the rule needs {min_alert_features}")  # fmt: skip
    return DriftTrigger(len(alerts) >= min_alert_features, reason, newest["window_id"], alerts)


@dataclass
class RetrainResult:
    trigger: DriftTrigger | None
    version: str | None = None
    staged: bool = False
    reasons: list[str] = field(default_factory=list)
    comparison: dict[str, Any] = field(default_factory=dict)


def retrain(
    config: RetrainConfig,
    reports: Iterable[dict[str, Any]] = (),
    progress: Progress = print,
    prepare: Callable[[], Path] | None = None,
) -> RetrainResult:
    """Trigger, train, compare, stage (see the module docstring); ``reports``: drift reports to judge.

    ``prepare``: called once the trigger fired, returns the data to train on (for example the topics
    read into a folder), instead of ``config.train.data``.
    """
    from trainer.train import train

    registry = ModelRegistry(config.train.store_uri)
    try:
        production: str | None = registry.resolve("production")
    except RegistryError:
        production = None
    trigger = None
    if config.trigger == "drift":
        if production is None:
            return RetrainResult(DriftTrigger(False, "no production model: nothing has drifted"))
        trigger = drift_trigger(reports, production, config.min_alert_features, config.psi_alert)
        progress(f"drift trigger: {'fired' if trigger.fired else 'not fired'}: {trigger.reason}")
        if not trigger.fired:
            return RetrainResult(trigger)
    update: dict[str, Any] = {"stage": False}
    if prepare is not None:
        update["data"] = prepare()
    candidate = train(config.train.model_copy(update=update), progress=progress)
    result = RetrainResult(trigger, candidate.version)
    assert candidate.test_features is not None
    assert candidate.test_truth is not None
    truth, metrics = candidate.test_truth, candidate.card["metrics"]["xgboost"]
    at_review = metrics["at_review_threshold"]
    result.comparison["candidate"] = {"version": candidate.version, "f1": at_review["f1"],
                                      "average_precision": metrics["average_precision"]}  # fmt: skip
    if candidate.card["gates"]["failed"]:
        result.reasons.append("gates failed: " + "; ".join(candidate.card["gates"]["failed"]))
    if production is None:
        result.comparison["rule"] = "no production model to compare with: the gates decide"
    else:
        current = registry.load(production)
        scores = np.asarray(current.predict(candidate.test_features[current.feature_names].to_numpy(dtype=float)))
        f1 = at_threshold(truth, scores, current.review_threshold).f1
        ap = ranking_metrics(truth, scores)["average_precision"]
        result.comparison["production"] = {"version": production, "f1": f1, "average_precision": ap}
        needed = f1 + config.min_f1_gain
        result.comparison["rule"] = f"candidate F1 >= production F1 + {config.min_f1_gain:g} = {needed:.4f}"
        if at_review["f1"] < needed:
            result.reasons.append(
                f"F1 {at_review['f1']:.4f} < production's {f1:.4f} + {config.min_f1_gain:g} on the same holdout"
            )
    if not result.reasons:
        registry.set_alias("staging", candidate.version)
        result.staged = True
    return result
