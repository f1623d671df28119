"""Metrics of the evaluation protocol and the choice of decision thresholds.

* AUC-ROC and average precision (PR-AUC) over transactions;
* card precision@k per day (the handbook's definition): each test day, the k cards with the highest
  maximum score that day, among cards not already known to be compromised, and the share of them
  with a fraud that day; cards found compromised are known from the next day on;
* precision, recall, F1 and the confusion matrix at a threshold;
* thresholds: the lowest score whose alert set reaches a precision target on validation data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def threshold_for_precision(
    y_true: np.ndarray, scores: np.ndarray, target: float, positive_weight: np.ndarray | None = None
) -> tuple[float, bool]:
    """Lowest threshold ``s`` with precision(score >= s) >= target; (threshold, reached).

    If no threshold reaches the target, returns the threshold of the highest precision (ties: the
    lowest such threshold) and False. ``positive_weight``: how many frauds each known fraud stands
    for (``1 / F(age)`` for labels not yet mature, ``trainer/selection.py``); precision is then the
    expected share of frauds among the alerts, at most 1.

    >>> y, s = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.6])
    >>> threshold_for_precision(y, s, 0.8)
    (0.9, True)
    >>> threshold_for_precision(y, s, 0.8, positive_weight=np.array([1.5, 1, 1.5, 1]))
    (0.7, True)
    """
    if not 0 < target <= 1:
        raise ValueError(f"precision target must be in (0, 1], got {target}")
    order = np.argsort(-scores, kind="stable")
    weight = np.ones(len(y_true)) if positive_weight is None else np.asarray(positive_weight, dtype=float)
    sorted_scores, sorted_true = scores[order], (y_true.astype(float) * weight)[order]
    # alert sets are "score >= s": evaluate only at the last position of each distinct score
    last_of_value = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    true_positives = np.cumsum(sorted_true)[last_of_value]
    alerts = (np.arange(len(sorted_scores)) + 1)[last_of_value]
    precision = np.minimum(true_positives / alerts, 1.0)
    candidates = sorted_scores[last_of_value]
    reached = precision >= target
    if reached.any():
        return float(candidates[np.flatnonzero(reached)[-1]]), True
    best = np.flatnonzero(precision == precision.max())[-1]
    return float(candidates[best]), False


def threshold_for_weekly_precision(
    weeks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], target: float, spread_scale: float = 1.0
) -> tuple[float, bool]:
    """Lowest threshold whose precision, one standard deviation below its mean over ``weeks``, reaches target.

    ``spread_scale`` scales that standard deviation: groups shorter than the period a precision
    is judged on (days, for a test week) pass ``1 / sqrt(days per week)``, the spread of a week
    of such days if they vary independently.

    ``weeks``: (truth, scores, positive weight) of each validation week. A threshold chosen for the
    pooled precision alone lands below the target in about every other test week; requiring the
    target of a week one standard deviation worse than the average keeps it in most of them. Weeks
    with no alert at a threshold do not count there; with fewer than two weeks that alert, the
    pooled precision is used. Falls back like :func:`threshold_for_precision` when no threshold
    reaches the target.

    >>> a = (np.array([1, 1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.6, 0.5]), np.ones(5))
    >>> b = (np.array([1, 0, 1, 0, 0]), np.array([0.95, 0.85, 0.75, 0.65, 0.55]), np.ones(5))
    >>> threshold_for_weekly_precision([a, b], 0.6)
    (0.7, True)
    >>> threshold_for_precision(np.r_[a[0], b[0]], np.r_[a[1], b[1]], 0.6)
    (0.6, True)
    """
    if not 0 < target <= 1:
        raise ValueError(f"precision target must be in (0, 1], got {target}")
    candidates = np.unique(np.concatenate([scores for _, scores, _ in weeks]))[::-1]
    precisions = []
    for truth, scores, weight in weeks:
        order = np.argsort(scores, kind="stable")
        sorted_scores = scores[order]
        found = np.cumsum((truth.astype(float) * weight)[order][::-1])[::-1]  # weighted frauds with score >= s
        first = np.searchsorted(sorted_scores, candidates, side="left")
        alerts = len(scores) - first
        with np.errstate(invalid="ignore", divide="ignore"):
            tp = np.where(first < len(scores), found[np.minimum(first, len(scores) - 1)], 0.0)
            precisions.append(np.where(alerts > 0, np.minimum(tp / alerts, 1.0), np.nan))
    table = np.vstack(precisions)
    present = ~np.isnan(table)
    alerting = present.sum(axis=0)
    values = np.where(present, table, 0.0)
    count = np.maximum(alerting, 1)
    mean = values.sum(axis=0) / count
    variance = (np.where(present, (table - mean) ** 2, 0.0)).sum(axis=0) / np.maximum(alerting - 1, 1)
    spread = np.sqrt(variance) * spread_scale
    pooled_truth = np.concatenate([truth for truth, _, _ in weeks])
    pooled_scores = np.concatenate([scores for _, scores, _ in weeks])
    pooled_weight = np.concatenate([weight for _, _, weight in weeks])
    if not (alerting >= 2).any():
        return threshold_for_precision(pooled_truth, pooled_scores, target, pooled_weight)
    reached = (alerting >= 2) & (mean - spread >= target)
    if reached.any():
        return float(candidates[np.flatnonzero(reached)[-1]]), True
    return threshold_for_precision(pooled_truth, pooled_scores, target, pooled_weight)


@dataclass(frozen=True)
class AtThreshold:
    threshold: float
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def at_threshold(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> AtThreshold:
    predicted = scores >= threshold
    truth = y_true.astype(bool)
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    tn = int((~predicted & ~truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return AtThreshold(threshold, precision, recall, f1, tp, fp, fn, tn)


def card_precision_at_k(
    frame: pd.DataFrame, scores: np.ndarray, known_compromised: Iterable[str], k: int = 100
) -> tuple[float, list[float]]:
    """Mean over days of card precision@k; ``frame`` has card_id, event_time, is_fraud.

    Each UTC day ranks its cards by their highest score, leaving out cards already known to be
    compromised (given, or found in an earlier day's top ``k``); ties keep the cards' id order.
    The model search calls this once per fold and trial, so it works on integer codes, not on a
    per-day group-by.
    """
    card_codes, card_ids = pd.factorize(frame["card_id"].to_numpy(), sort=True)
    times = pd.DatetimeIndex(frame["event_time"])
    if times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    day_codes = pd.factorize(times.to_numpy().astype("datetime64[D]"), sort=True)[0]
    n_cards = max(len(card_ids), 1)
    groups, group_of = np.unique(day_codes.astype(np.int64) * n_cards + card_codes, return_inverse=True)
    best = np.full(len(groups), -np.inf)
    np.maximum.at(best, group_of, np.asarray(scores, dtype=float))
    fraud = np.zeros(len(groups), dtype=bool)
    fraud[group_of[frame["is_fraud"].to_numpy(dtype=bool)]] = True
    group_day, group_card = np.divmod(groups, n_cards)
    known = np.isin(card_ids, list(set(known_compromised)))
    per_day: list[float] = []
    bounds = np.flatnonzero(np.diff(group_day)) + 1
    for day in np.split(np.arange(len(groups)), bounds) if len(groups) else []:
        day = day[~known[group_card[day]]]  # in card id order
        top = day[np.argsort(-best[day], kind="stable")[:k]]
        found = top[fraud[top]]
        per_day.append(len(found) / k)
        known[group_card[found]] = True
    return (float(np.mean(per_day)) if per_day else 0.0), per_day


def ranking_metrics(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    if len(np.unique(y_true)) < 2:
        raise ValueError("the evaluation period needs both frauds and genuine transactions")
    return {
        "auc_roc": float(roc_auc_score(y_true, scores)),
        "average_precision": float(average_precision_score(y_true, scores)),
    }
