"""A registry model scored in shadow (``fraudstream worker --shadow staging``): champion against challenger.

The challenger is any model version, or the version an alias names (``staging``, where training
puts a candidate that passed its gates): followed like the champion (a retrained candidate staged
later is picked up within ``--reload-interval``), checked for the worker's feature set, and
scored on the same feature matrix in the same batch call as the champion, so the comparison
costs one more XGBoost call a batch. Its verdict, at its own thresholds, rides along in every
Decision (``shadow.model`` = ``<alias>:<version>``); it never acts. The comparison on matured
outcomes (``shadow_outcomes.py``) tells whether ``fraudstream model promote`` should follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from consumers.scoring.model_watch import prepare_model
from consumers.scoring.shadow_outcomes import DEFAULT_MATURITY_MS, MaturedOutcomes

__all__ = ["ChallengerShadow"]


class ChallengerShadow:
    """``models`` follows the challenger (a :class:`~consumers.scoring.model_watch.ModelWatch` on ``ref``)."""

    def __init__(self, models: Any, ref: str, threads: int = 1, maturity_ms: int = DEFAULT_MATURITY_MS) -> None:
        self.models, self.ref, self.threads = models, ref, threads
        prepare_model(models.current, threads)
        self.outcomes = MaturedOutcomes(ref, maturity_ms)

    @property
    def name(self) -> str:
        return f"{self.ref}:{self.models.current.version}"

    def score_batch(
        self,
        transaction_ids: Sequence[str],
        ts_ms: Sequence[int],
        matrix: np.ndarray,
        champion_scores: Sequence[float],
        champion_flagged: Sequence[bool],
    ) -> list[float]:
        if self.models.maybe_reload():
            prepare_model(self.models.current, self.threads)
        model = self.models.current
        scores = np.asarray(model.predict(matrix), dtype=float)
        flagged = (model.decide(scores) != "APPROVE").tolist()
        listed: list[float] = scores.tolist()
        self.outcomes.add_many(transaction_ids, ts_ms, champion_scores, listed, champion_flagged, flagged)
        return listed

    def decide(self, score: float) -> str:
        model = self.models.current
        if score >= model.decline_threshold:
            return "DECLINE"
        return "REVIEW" if score >= model.review_threshold else "APPROVE"

    def learn_label(self, transaction_id: str, is_fraud: bool) -> None:
        self.outcomes.label(transaction_id, is_fraud)

    def export_metrics(self) -> None:
        self.outcomes.export()
