"""Stand-ins for the worker's tests: a small real XGBoost model, and a model watch that never moves."""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from features.definitions import FEATURE_NAMES
from registry import LoadedModel


class StaticModels:
    """Stands in for ModelWatch: always the same model."""

    def __init__(self, model: LoadedModel) -> None:
        self.current = model

    def maybe_reload(self) -> bool:
        return False


def tiny_model() -> LoadedModel:
    """A real XGBoost model over the current feature set, for worker tests without a trainer run."""
    rng = np.random.default_rng(0)
    x = rng.random((2000, len(FEATURE_NAMES)))
    x[:, 0] *= 1000  # amount
    y = (x[:, 0] > 800) | (x[:, 6] > 0.95)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0},
        xgb.DMatrix(x, label=y, feature_names=list(FEATURE_NAMES)),
        num_boost_round=20,
    )
    return LoadedModel("tiny-1", booster, list(FEATURE_NAMES), 0.3, 0.8, {})
