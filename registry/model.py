"""The model format serving reads: an XGBoost booster in its native JSON, with its thresholds.

Loading runs no code (no pickle): XGBoost parses its own JSON model. This module needs XGBoost
and numpy only, so the worker loads a model without importing scikit-learn or the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from registry.xgboost_runtime import xgb


def xgboost_to_bytes(booster: xgb.Booster) -> bytes:
    return bytes(booster.save_raw(raw_format="json"))


def xgboost_from_bytes(data: bytes) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(data))
    booster.set_param({"nthread": 2})
    return booster


@dataclass
class LoadedModel:
    """A production-ready model: the booster, its thresholds and its feature order."""

    version: str
    booster: xgb.Booster
    feature_names: list[str]
    review_threshold: float
    decline_threshold: float
    card: dict[str, Any]
    #: threads for the reason-code matrix as well (0: XGBoost's default, every core); the worker
    #: sets it with the booster's in ``prepare_model``
    threads: int = 0

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Fraud probability per row of ``matrix`` (columns in ``feature_names`` order)."""
        return np.asarray(self.booster.inplace_predict(matrix, validate_features=False), dtype=float)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per-feature contributions to the margin (last column: bias), for reason codes."""
        data = xgb.DMatrix(matrix, feature_names=self.feature_names, nthread=self.threads or -1)
        return np.asarray(self.booster.predict(data, pred_contribs=True))

    def decide(self, scores: np.ndarray) -> np.ndarray:
        decision = np.full(len(scores), "APPROVE", dtype=object)
        decision[scores >= self.review_threshold] = "REVIEW"
        decision[scores >= self.decline_threshold] = "DECLINE"
        return decision
