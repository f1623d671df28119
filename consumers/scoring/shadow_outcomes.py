"""How a shadow model compares with the champion once labels mature: agreement, precision, recall, AP.

Every transaction both models scored waits here until its outcome is known. Fraud labels arrive
days after the transaction (the label delay), so an outcome is *matured*: a fraud label for it
arrived (fraud), or ``maturity_ms`` of event time passed without one (genuine; the default is
twice the generator's and the handbook's 7-day label delay). Only matured outcomes count, so
neither model looks better for frauds not yet reported. Transactions wait in a bounded buffer
(the oldest matured early, as genuine, beyond ``max_pending``), and the last ``window`` matured
outcomes give the figures, so memory stays bounded.

Agreement counts every transaction at once (the two verdicts need no label). Average precision
(the area under the precision-recall curve by the step rule, as scikit-learn's
``average_precision_score``) sorts the window, so :meth:`MaturedOutcomes.export` computes it at
most every ``ap_every`` seconds.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from consumers.scoring import metrics
from features.definitions import DAY_MS

__all__ = ["MaturedOutcomes", "Pending", "average_precision"]

DEFAULT_MATURITY_MS = 14 * DAY_MS


class Pending(NamedTuple):
    ts_ms: int
    champion_score: float
    shadow_score: float
    champion_flagged: bool
    shadow_flagged: bool


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision of ``scores`` for binary ``labels`` (0.0 without a positive).

    >>> round(average_precision(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0])), 4)
    0.8333
    """
    positives = int(labels.sum())
    if positives == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked = scores[order], labels[order]
    # ties form one step: take the last index of each distinct score
    last = np.r_[np.flatnonzero(np.diff(ranked_scores)), len(ranked_scores) - 1]
    true_positives = np.cumsum(ranked)[last]
    precision = true_positives / (last + 1)
    recall_steps = np.diff(np.r_[0, true_positives]) / positives
    return float(np.sum(recall_steps * precision))


class MaturedOutcomes:
    """The champion's and a shadow's verdicts, compared on matured labels."""

    def __init__(
        self,
        shadow: str,
        maturity_ms: int = DEFAULT_MATURITY_MS,
        max_pending: int = 200_000,
        window: int = 100_000,
        ap_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        on_matured: Callable[[str, Pending, bool], None] | None = None,
    ) -> None:
        self.shadow, self.maturity_ms, self.max_pending = shadow, maturity_ms, max_pending
        self.ap_every, self.clock, self.on_matured = ap_every, clock, on_matured
        self.pending: OrderedDict[str, Pending] = OrderedDict()
        #: the last ``window`` matured outcomes: (champion score, shadow score, champion flagged, shadow flagged, fraud)
        self.matured: deque[tuple[float, float, bool, bool, bool]] = deque(maxlen=window)
        self.agree = self.compared = 0
        self.labelled = 0
        self._ap_at: float | None = None

    def add_many(
        self,
        transaction_ids: Sequence[str],
        ts_ms: Sequence[int],
        champion_scores: Sequence[float],
        shadow_scores: Sequence[float],
        champion_flagged: Sequence[bool],
        shadow_flagged: Sequence[bool],
    ) -> None:
        for row, transaction_id in enumerate(transaction_ids):
            entry = Pending(ts_ms[row], champion_scores[row], shadow_scores[row], champion_flagged[row],
                            shadow_flagged[row])  # fmt: skip
            self.compared += 1
            self.agree += entry.champion_flagged == entry.shadow_flagged
            self.pending[transaction_id] = entry
        if len(ts_ms):
            self.mature(max(ts_ms))

    def label(self, transaction_id: str, is_fraud: bool) -> None:
        """A label for a transaction: its outcome matures now (a label for one never scored is ignored)."""
        entry = self.pending.pop(transaction_id, None)
        if entry is not None:
            self._matured(transaction_id, entry, is_fraud)

    def mature(self, now_ms: int) -> None:
        """Every waiting transaction older than ``maturity_ms`` at event time ``now_ms`` is genuine."""
        while self.pending:
            transaction_id, entry = next(iter(self.pending.items()))
            if now_ms - entry.ts_ms < self.maturity_ms and len(self.pending) <= self.max_pending:
                break
            self.pending.popitem(last=False)
            self._matured(transaction_id, entry, False)

    def _matured(self, transaction_id: str, entry: Pending, fraud: bool) -> None:
        self.matured.append((entry.champion_score, entry.shadow_score, entry.champion_flagged,
                             entry.shadow_flagged, fraud))  # fmt: skip
        self.labelled += 1
        if self.on_matured is not None:
            self.on_matured(transaction_id, entry, fraud)

    @property
    def agreement(self) -> float:
        return self.agree / self.compared if self.compared else 1.0

    def figures(self) -> dict[str, dict[str, float]]:
        """Precision and recall at each model's own thresholds, and average precision, per model."""
        if not self.matured:
            return {}
        table = np.array(self.matured, dtype=float)
        fraud = table[:, 4].astype(bool)
        out = {}
        for model, score_col, flag_col in (("champion", 0, 2), ("shadow", 1, 3)):
            flagged = table[:, flag_col].astype(bool)
            tp = int(np.sum(flagged & fraud))
            out[model] = {
                "precision": tp / int(flagged.sum()) if flagged.any() else 0.0,
                "recall": tp / int(fraud.sum()) if fraud.any() else 0.0,
                "average_precision": average_precision(table[:, score_col], fraud.astype(int)),
            }
        return out

    def export(self) -> None:
        """The gauges; the figures over the window at most every ``ap_every`` seconds."""
        metrics.SHADOW_AGREEMENT.labels(self.shadow).set(self.agreement)
        metrics.SHADOW_MATURED.labels(self.shadow).set(len(self.matured))
        now = self.clock()
        if self._ap_at is not None and now - self._ap_at < self.ap_every:
            return
        self._ap_at = now
        nothing = {"precision": math.nan, "recall": math.nan, "average_precision": math.nan}
        figures = self.figures()
        for model in ("champion", "shadow"):  # NaN until an outcome matured: unknown, not zero
            values = figures.get(model, nothing)
            metrics.SHADOW_PRECISION.labels(model).set(values["precision"])
            metrics.SHADOW_RECALL.labels(model).set(values["recall"])
            metrics.SHADOW_AVERAGE_PRECISION.labels(model).set(values["average_precision"])
