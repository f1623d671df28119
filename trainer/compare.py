"""Score two stored models on the same test period of a dataset (for ``model promote --data``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from features.batch import compute_features
from producers.adapters import load_dataset
from registry import ModelRegistry
from trainer.evaluation import ranking_metrics
from trainer.periods import Periods, in_period


def compare_on_test_period(registry: ModelRegistry, candidate: str, current: str, data: Path) -> tuple[float, float]:
    """Average precision of ``candidate`` and ``current`` on ``candidate``'s test period of ``data``."""
    periods = Periods.from_dict(registry.card(candidate)["periods"])
    dataset = load_dataset(data)
    features = compute_features(dataset.transactions, dataset.labels)
    mask = in_period(dataset.transactions["event_time"], periods.test_start, periods.test_end).to_numpy()
    if not mask.any():
        raise ValueError(f"{data} has no transactions in {candidate}'s test period {periods.as_dict()}")
    truth = dataset.transactions["is_fraud"].to_numpy(dtype=bool)[mask]
    results = []
    for version in (candidate, current):
        model = registry.load(version)
        scores = model.predict(features.loc[mask, model.feature_names].to_numpy(dtype=float))
        results.append(ranking_metrics(truth, np.asarray(scores))["average_precision"])
    return results[0], results[1]
