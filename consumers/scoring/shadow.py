"""The optional River challenger (``fraudstream worker --shadow river``): scores in shadow, never acts.

Every transaction is scored by an online logistic regression (River, on standardised features),
and the result rides along in the Decision. The model learns from labels once they mature: a
fraud label teaches "fraud" for its transaction; a transaction with no fraud label
``maturity_ms`` of event time later is taken as genuine and teaches "genuine". Transactions wait
for that in a bounded buffer (oldest dropped beyond ``max_pending``), so memory stays bounded.
The shadow is process-local: a restarted worker starts a fresh challenger.

Gauges compare it with the champion: agreement rate of decisions, and precision/recall of both on
matured outcomes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from river import compose, linear_model, optim, preprocessing

from consumers.scoring import metrics
from features.definitions import DAY_MS, feature_names


@dataclass
class _Outcome:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, flagged: bool, fraud: bool) -> None:
        self.tp += flagged and fraud
        self.fp += flagged and not fraud
        self.fn += (not flagged) and fraud

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


class RiverShadow:
    name = "river-logistic-regression"

    def __init__(
        self,
        maturity_ms: int = 14 * DAY_MS,
        max_pending: int = 200_000,
        threshold: float = 0.5,
        decline_threshold: float = 0.95,
    ) -> None:
        self.decline_threshold = decline_threshold
        self.names = feature_names()
        self.model = compose.Pipeline(
            preprocessing.StandardScaler(), linear_model.LogisticRegression(optimizer=optim.SGD(0.01))
        )
        self.maturity_ms, self.max_pending, self.threshold = maturity_ms, max_pending, threshold
        #: transaction id -> (event time, features, champion flagged, shadow flagged)
        self.pending: OrderedDict[str, tuple[int, dict[str, float], bool, bool]] = OrderedDict()
        self.agree = self.compared = 0
        self.champion, self.challenger = _Outcome(), _Outcome()
        self.learned = 0

    def score(self, transaction_id: str, ts_ms: int, vector: list[float], champion_flagged: bool) -> float:
        x = dict(zip(self.names, vector, strict=True))
        score = float(self.model.predict_proba_one(x).get(True, 0.0))
        flagged = score >= self.threshold
        self.compared += 1
        self.agree += flagged == champion_flagged
        self.pending[transaction_id] = (ts_ms, x, champion_flagged, flagged)
        self._mature(ts_ms)
        return score

    def decide(self, score: float) -> str:
        if score >= self.decline_threshold:
            return "DECLINE"
        return "REVIEW" if score >= self.threshold else "APPROVE"

    def learn_label(self, transaction_id: str, is_fraud: bool) -> None:
        entry = self.pending.pop(transaction_id, None)
        if entry is not None:
            self._learn(entry, is_fraud)

    def _learn(self, entry: tuple[int, dict[str, float], bool, bool], fraud: bool) -> None:
        _, x, champion_flagged, shadow_flagged = entry
        self.model.learn_one(x, fraud)
        self.champion.add(champion_flagged, fraud)
        self.challenger.add(shadow_flagged, fraud)
        self.learned += 1

    def _mature(self, now_ms: int) -> None:
        while self.pending:
            _, (ts, *_rest) = next(iter(self.pending.items()))
            if now_ms - ts < self.maturity_ms and len(self.pending) <= self.max_pending:
                break
            _, entry = self.pending.popitem(last=False)
            if now_ms - entry[0] >= self.maturity_ms:
                self._learn(entry, False)

    @property
    def agreement(self) -> float:
        return self.agree / self.compared if self.compared else 1.0

    def export_metrics(self) -> None:
        metrics.SHADOW_AGREEMENT.labels("river").set(self.agreement)
        for label, outcome in (("champion", self.champion), ("shadow", self.challenger)):
            metrics.SHADOW_PRECISION.labels(label).set(outcome.precision)
            metrics.SHADOW_RECALL.labels(label).set(outcome.recall)
