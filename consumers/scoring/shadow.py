"""The optional River challenger (``fraudstream worker --shadow river``): scores in shadow, never acts.

Every transaction is scored by an online logistic regression (River, on standardised features),
and the result rides along in the Decision. The model learns from outcomes once they mature
(``shadow_outcomes.py``): a fraud label teaches "fraud" for its transaction; a transaction with no
fraud label ``maturity_ms`` of event time later teaches "genuine". The shadow is process-local: a
restarted worker starts a fresh challenger. Its comparison with the champion (agreement, and
precision, recall and average precision on matured outcomes) is exported as gauges.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from river import compose, linear_model, optim, preprocessing

from consumers.scoring.shadow_outcomes import DEFAULT_MATURITY_MS, MaturedOutcomes, Pending
from features.definitions import feature_names


class RiverShadow:
    name = "river-logistic-regression"

    def __init__(
        self,
        maturity_ms: int = DEFAULT_MATURITY_MS,
        max_pending: int = 200_000,
        threshold: float = 0.5,
        decline_threshold: float = 0.95,
    ) -> None:
        self.decline_threshold = decline_threshold
        self.names = feature_names()
        self.model = compose.Pipeline(
            preprocessing.StandardScaler(), linear_model.LogisticRegression(optimizer=optim.SGD(0.01))
        )
        self.threshold = threshold
        #: the features of each transaction waiting for its outcome, to learn from it then
        self.features: dict[str, dict[str, float]] = {}
        self.outcomes = MaturedOutcomes("river", maturity_ms, max_pending, on_matured=self._learn)
        self.learned = 0

    def score_batch(
        self,
        transaction_ids: Sequence[str],
        ts_ms: Sequence[int],
        matrix: np.ndarray,
        champion_scores: Sequence[float],
        champion_flagged: Sequence[bool],
    ) -> list[float]:
        scores = []
        for transaction_id, row in zip(transaction_ids, matrix.tolist(), strict=True):
            x = dict(zip(self.names, row, strict=True))
            scores.append(float(self.model.predict_proba_one(x).get(True, 0.0)))
            self.features[transaction_id] = x
        flagged = [score >= self.threshold for score in scores]
        self.outcomes.add_many(transaction_ids, ts_ms, champion_scores, scores, champion_flagged, flagged)
        return scores

    def decide(self, score: float) -> str:
        if score >= self.decline_threshold:
            return "DECLINE"
        return "REVIEW" if score >= self.threshold else "APPROVE"

    def learn_label(self, transaction_id: str, is_fraud: bool) -> None:
        self.outcomes.label(transaction_id, is_fraud)

    def _learn(self, transaction_id: str, _: Pending, fraud: bool) -> None:
        x = self.features.pop(transaction_id, None)
        if x is not None:
            self.model.learn_one(x, fraud)
            self.learned += 1

    def export_metrics(self) -> None:
        self.outcomes.export()
