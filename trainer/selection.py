"""Model selection by prequential validation (the Fraud Detection Handbook's chapter 5).

A model for the test period starting at ``T`` is trained on ``[T - delay - train, T - delay)`` with
the labels reported before ``T``. Its candidates are judged the same way, shifted into the past::

    fold k (k = 0 .. K-1), w = the test period's length:
        validation  [T - delay - (k+1)w, T - delay - kw)        V_k = its start
        training    [V_k - delay - train, V_k - delay)          targets: labels reported before V_k
        validation targets: the labels reported before T (all the trainer may know)

Each candidate (a model family and its hyperparameters, proposed by Optuna's seeded TPE sampler) is
fit on every fold's training set and scored on the fold's validation week; the candidate with the
best mean validation average precision wins and is refit at ``T`` by the caller. Nothing at or after
``T`` is read: neither a transaction nor a label. With ``cards`` given, a candidate's score is the
mean over folds of its validation AP plus its validation card precision@100 (each day's 100 cards
with the highest score that are not known compromised at the fold's validation start, as the test
period is judged): the two figures a review queue is judged on, equally weighted.

Label maturity. At ``T`` a validation transaction of age ``a`` has had ``a`` days to be reported.
Frauds not yet reported look genuine there, and a threshold chosen for a precision target on such
labels lands above it on mature labels (lower recall than intended). :class:`ReportingCurve`
estimates, from frauds old enough to have been reported, the share ``F(a)`` reported within ``a``
days; a reported fraud of age ``a`` then stands for ``1 / F(a)`` frauds when thresholds are chosen
(inverse-probability weighting, :func:`trainer.evaluation.threshold_for_precision`). With a fixed
delay no shorter than the delay period, ``F = 1`` and nothing changes. Average precision, used to
rank candidates, is computed on the labels as they are: every candidate is judged on the same labels.

Families: ``xgboost`` (gradient-boosted trees), ``random_forest`` (XGBoost's random-forest mode:
same runtime, same model format, same reason codes) and ``logistic_regression`` (the baseline).
The worker serves XGBoost's model format, so when the logistic baseline has the best validation AP
the best XGBoost-format candidate is served and the selection says so.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import average_precision_score

from trainer.evaluation import card_precision_at_k
from trainer.models import XGB_DEFAULTS, LogisticBaseline

__all__ = ["FAMILIES", "SERVED_FAMILIES", "Fold", "ReportingCurve", "Selection", "prequential_folds", "select_model"]

FAMILIES = ("xgboost", "random_forest", "logistic_regression")
#: the families the worker can serve (XGBoost's model format)
SERVED_FAMILIES = ("xgboost", "random_forest")
Progress = Callable[[str], None]
#: the range of boosting rounds searched (fixed per candidate: no early stopping on validation data)
ROUNDS = (20, 400)


@dataclass(frozen=True)
class Fold:
    train_start: datetime
    train_end: datetime
    valid_start: datetime
    valid_end: datetime

    def as_dict(self) -> dict[str, str]:
        return {key: value.isoformat() for key, value in self.__dict__.items()}


def prequential_folds(
    first_event: datetime, test_start: datetime, train_days: int, delay_days: int, week_days: int, n_folds: int
) -> list[Fold]:
    """Up to ``n_folds`` folds before ``test_start``, newest first; only those whose data exists.

    >>> from datetime import UTC
    >>> folds = prequential_folds(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC), 7, 7, 7, 4)
    >>> [f"{f.train_start:%m-%d} {f.valid_start:%m-%d}" for f in folds]
    ['02-01 02-15', '01-25 02-08', '01-18 02-01', '01-11 01-25']
    """
    day = timedelta(days=1)
    folds = []
    for k in range(n_folds):
        valid_end = test_start - (delay_days + k * week_days) * day
        valid_start = valid_end - week_days * day
        train_end = valid_start - delay_days * day
        train_start = train_end - train_days * day
        if train_start < first_event:
            break
        folds.append(Fold(train_start, train_end, valid_start, valid_end))
    return folds


@dataclass(frozen=True)
class ReportingCurve:
    """``F(a)``: the share of (eventually reported) frauds reported within ``a`` days of the transaction."""

    delays_days: np.ndarray  # sorted
    horizon_days: float
    note: str

    MIN_FRAUDS = 30

    @classmethod
    def none(cls, note: str) -> ReportingCurve:
        return cls(np.zeros(0), 0.0, note)

    @classmethod
    def from_labels(cls, labels: pd.DataFrame, cutoff: datetime, horizon_days: float = 60.0) -> ReportingCurve:
        """From the fraud labels reported before ``cutoff`` whose transaction is older than the horizon.

        Reports later than the horizon are not counted: a fraud reported after it is treated as never
        reported, which is what a label window of that length means.
        """
        frauds = labels[labels["is_fraud"].astype(bool) & (labels["reported_at"] < pd.Timestamp(cutoff))]
        delays = (frauds["reported_at"] - frauds["event_time"]).dt.total_seconds().to_numpy() / 86_400
        age = (pd.Timestamp(cutoff) - frauds["event_time"]).dt.total_seconds().to_numpy() / 86_400
        for horizon in (horizon_days, horizon_days / 2):
            old = delays[(age >= horizon) & (delays <= horizon)]
            if len(old) >= cls.MIN_FRAUDS:
                return cls(np.sort(old), horizon, f"from {len(old):,} frauds reported within {horizon:g} days")
        return cls.none(f"fewer than {cls.MIN_FRAUDS} frauds older than {horizon_days / 2:g} days: no correction")

    def share_reported(self, age_days: np.ndarray) -> np.ndarray:
        """``F(age)``, never below 0.05 (a weight of at most 20); 1 where the curve is unknown."""
        if not len(self.delays_days):
            return np.ones(len(age_days))
        share = np.searchsorted(self.delays_days, age_days, side="right") / len(self.delays_days)
        return np.clip(share, 0.05, 1.0)

    def summary(self) -> dict[str, Any]:
        ages = np.array([1.0, 3.0, 7.0, 14.0, 30.0])
        shares = self.share_reported(ages).round(4).tolist()
        return {"note": self.note, "horizon_days": self.horizon_days,
                "share_reported_by_age_days": dict(zip(ages.tolist(), shares, strict=True))}  # fmt: skip


@dataclass
class FoldData:
    """One fold's rows. Tree candidates are searched on all its frauds and a seeded share of its
    genuine transactions, weighted up by the inverse share (the loss stays an unbiased estimate of the
    full one, and a trial costs a fraction); the chosen candidate is refit on every row."""

    x_fit: np.ndarray
    y_fit: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    weight_valid: np.ndarray
    negative_share: float
    seed: int
    #: the validation week's card_id, event_time and is_fraud (as known at T), and the cards known
    #: compromised at its start (None: the objective is AP alone)
    cards_valid: pd.DataFrame | None = None
    compromised: frozenset[str] = frozenset()
    matrices: dict[bool, xgb.QuantileDMatrix] = field(default_factory=dict)

    def matrix(self, names: list[str], full: bool) -> xgb.QuantileDMatrix:
        if full not in self.matrices:  # built once, reused by every tree candidate (same max_bin)
            rows, weight = np.arange(len(self.y_fit)), np.ones(len(self.y_fit))
            if not full and self.negative_share < 1:
                keep = (self.y_fit > 0) | (
                    np.random.default_rng(self.seed).random(len(self.y_fit)) < self.negative_share
                )
                rows = np.flatnonzero(keep)
                weight = np.where(self.y_fit[rows] > 0, 1.0, 1.0 / self.negative_share)
            self.matrices[full] = xgb.QuantileDMatrix(self.x_fit[rows], label=self.y_fit[rows], weight=weight,
                                                      feature_names=names, max_bin=XGB_DEFAULTS["max_bin"])  # fmt: skip
        return self.matrices[full]


@dataclass
class Selection:
    family: str
    params: dict[str, Any]
    rounds: int
    #: of the chosen candidate refit on every row of each fold (the search saw a share of genuines)
    mean_validation_ap: float
    fold_aps: list[float]
    #: the chosen candidate's value in the search: its mean validation AP (plus card precision@100
    #: under that objective), of the share of genuines it was searched on
    search_validation_ap: float
    #: what the search ranked by: ``average_precision`` or ``average_precision+card_precision_at_100``
    objective: str
    folds: list[Fold]
    #: pooled validation scores of the chosen candidate's fold models, their labels as known at T,
    #: and each reported fraud's weight 1/F(age) (1 elsewhere): what thresholds are chosen on
    validation_scores: np.ndarray
    validation_truth: np.ndarray
    validation_weights: np.ndarray
    #: rows of each fold's validation week in the pooled arrays, in fold order
    validation_sizes: list[int]
    curve: ReportingCurve
    trials: int
    pruned: int
    seconds: float
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def weeks(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(truth, scores, weights) of each fold's validation week."""
        bounds = np.cumsum([0, *self.validation_sizes])
        return [(self.validation_truth[a:b], self.validation_scores[a:b], self.validation_weights[a:b])
                for a, b in itertools.pairwise(bounds)]  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {
            "method": "prequential validation, Optuna TPE over model families",
            "family": self.family, "params": self.params, "rounds": self.rounds,
            "mean_validation_average_precision": self.mean_validation_ap, "fold_average_precision": self.fold_aps,
            "search_validation_average_precision": self.search_validation_ap, "objective": self.objective,
            "folds": [fold.as_dict() for fold in self.folds], "trials": self.trials, "pruned": self.pruned,
            "seconds": round(self.seconds, 1), "leaderboard": self.leaderboard,
            "label_maturity": self.curve.summary(), "note": self.note,
        }  # fmt: skip


def _tree_candidate(trial: Any, family: str) -> tuple[dict[str, Any], int]:
    if family == "xgboost":
        params = {
            "max_depth": trial.suggest_int("max_depth", 2, 8),
            "eta": trial.suggest_float("eta", 0.01, 0.3, log=True),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.1, 30, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
            "lambda": trial.suggest_float("lambda", 0.01, 30, log=True),
            "alpha": trial.suggest_float("alpha", 1e-3, 10, log=True),
        }
        return params, trial.suggest_int("rounds", *ROUNDS, log=True)
    params = {
        "num_parallel_tree": trial.suggest_int("num_parallel_tree", 30, 150, log=True),
        "max_depth": trial.suggest_int("rf_max_depth", 4, 12),
        "subsample": trial.suggest_float("rf_subsample", 0.3, 0.9),
        "colsample_bynode": trial.suggest_float("colsample_bynode", 0.2, 0.9),
        "min_child_weight": trial.suggest_float("rf_min_child_weight", 0.1, 30, log=True),
        "eta": 1.0, "colsample_bytree": 1.0, "lambda": 1e-5, "alpha": 0.0,
    }  # fmt: skip
    return params, 1


def _fit_predict(
    fold: FoldData, names: list[str], family: str, params: dict[str, Any], rounds: int, full: bool = False
) -> np.ndarray:
    if family == "logistic_regression":  # cheap enough on every row
        model = LogisticBaseline.fit(fold.x_fit, fold.y_fit, names, c=params["C"])
        return model.predict(fold.x_valid)
    booster = xgb.train({**XGB_DEFAULTS, **params}, fold.matrix(names, full), num_boost_round=rounds)
    return np.asarray(booster.inplace_predict(fold.x_valid, validate_features=False), dtype=float)


def select_model(
    x: np.ndarray,
    names: list[str],
    event_times: pd.Series,
    known_at: Callable[[datetime], np.ndarray],
    folds: list[Fold],
    test_start: datetime,
    curve: ReportingCurve,
    *,
    trials: int,
    time_budget_seconds: float,
    seed: int = 0,
    families: tuple[str, ...] = FAMILIES,
    default_rounds: int = 200,
    negative_share: float = 0.25,
    cards: np.ndarray | None = None,
    progress: Progress = print,
) -> Selection:
    """The best candidate by mean validation AP over ``folds`` (plus card precision@100 with
    ``cards``, each row's card id); ``known_at(t)``: frauds reported before t.

    The first trials are the XGBoost defaults with ``default_rounds`` (the trainer passes the rounds
    early stopping chose: the model the trainer would fit without a search) and the logistic baseline,
    so the search is judged against them on the same folds.
    """
    import optuna

    if not folds:
        raise ValueError("model selection needs at least one prequential fold")
    unknown = set(families) - set(FAMILIES)
    if unknown or not set(families) & set(SERVED_FAMILIES):
        raise ValueError(f"families must be among {FAMILIES} and include one of {SERVED_FAMILIES}, got {families}")
    started = time.perf_counter()
    known_now = known_at(test_start)
    age_now = (pd.Timestamp(test_start) - event_times).dt.total_seconds().to_numpy() / 86_400
    data: list[FoldData] = []

    def between(start: datetime, end: datetime) -> np.ndarray:
        return np.asarray(((event_times >= pd.Timestamp(start)) & (event_times < pd.Timestamp(end))).to_numpy())

    for fold in folds:
        fit, valid = between(fold.train_start, fold.train_end), between(fold.valid_start, fold.valid_end)
        y_fit, y_valid = known_at(fold.valid_start)[fit], known_now[valid]
        if not (0 < y_fit.sum() < len(y_fit) and 0 < y_valid.sum() < len(y_valid)):
            raise ValueError(f"fold {fold.as_dict()} needs known frauds and genuine transactions in both periods")
        weight = np.where(y_valid, 1.0 / curve.share_reported(age_now[valid]), 1.0)
        frame, compromised = None, frozenset[str]()
        if cards is not None:
            before = np.asarray((event_times < pd.Timestamp(fold.valid_start)).to_numpy())
            compromised = frozenset(cards[before & known_at(fold.valid_start)].tolist())
            frame = pd.DataFrame({"card_id": cards[valid], "event_time": event_times[valid].reset_index(drop=True),
                                  "is_fraud": y_valid})  # fmt: skip
        data.append(FoldData(x[fit], y_fit.astype(float), x[valid], y_valid, weight, negative_share, seed + len(data),
                             frame, compromised))  # fmt: skip
    objective_name = "average_precision" if cards is None else "average_precision+card_precision_at_100"

    def fold_value(fold: FoldData, scores: np.ndarray) -> float:
        value = float(average_precision_score(fold.y_valid, scores))
        if fold.cards_valid is not None:
            value += card_precision_at_k(fold.cards_valid, scores, fold.compromised, k=100)[0]
        return value

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", families)
        if family == "logistic_regression":
            params, rounds = {"C": trial.suggest_float("C", 1e-3, 10, log=True)}, 0
        else:
            params, rounds = _tree_candidate(trial, family)
        trial.set_user_attr("params", params)
        trial.set_user_attr("rounds", rounds)
        values = []
        for step, fold in enumerate(data):
            fold_scores = _fit_predict(fold, names, family, params, rounds)
            values.append(fold_value(fold, fold_scores))
            trial.report(float(np.mean(values)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("fold_values", values)
        value = float(np.mean(values))
        elapsed = time.perf_counter() - started
        progress(f"trial {trial.number + 1}/{trials} ({elapsed:.0f} s of {time_budget_seconds:.0f}): {family} "
                 f"mean validation {objective_name} {value:.4f} over {len(values)} folds")  # fmt: skip
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0),
    )
    # today's defaults and the baseline first: the search starts from what is known to work
    defaults = {key: XGB_DEFAULTS[key] for key in ("max_depth", "eta", "min_child_weight", "subsample",
                                                    "colsample_bytree", "lambda")}  # fmt: skip
    if "xgboost" in families:
        rounds = min(max(default_rounds, ROUNDS[0]), ROUNDS[1])
        study.enqueue_trial({"family": "xgboost", **defaults, "alpha": 1e-3, "rounds": rounds})
    if "logistic_regression" in families:
        study.enqueue_trial({"family": "logistic_regression", "C": 1.0})
    remaining = max(1.0, time_budget_seconds - (time.perf_counter() - started))
    study.optimize(objective, n_trials=trials, timeout=remaining, catch=())

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    served = [t for t in complete if t.params["family"] in SERVED_FAMILIES]
    if not served:
        raise RuntimeError(
            f"no XGBoost-format candidate finished within {time_budget_seconds:g} s; raise the time budget"
        )
    best = max(served, key=lambda t: t.value or -math.inf)
    overall = max(complete, key=lambda t: t.value or -math.inf)
    note = ""
    if overall.params["family"] not in SERVED_FAMILIES:
        note = (f"{overall.params['family']} had the best validation {objective_name} ({overall.value:.4f}); "
                f"the worker serves XGBoost-format models, so the best of those ({best.params['family']}, "
                f"{best.value:.4f}) is served")  # fmt: skip
    leaderboard = [
        {"trial": t.number, "family": t.params["family"], f"mean_validation_{objective_name}": round(t.value or 0, 5)}
        for t in sorted(complete, key=lambda t: -(t.value or 0))[:8]
    ]
    # the chosen candidate on every row of each fold: its validation scores are what thresholds are
    # chosen on, so they come from models fit like the one that will be served
    progress(f"refitting the chosen {best.params['family']} on every row of the {len(data)} folds")
    chosen = [_fit_predict(fold, names, best.params["family"], best.user_attrs["params"], best.user_attrs["rounds"],
                           full=True) for fold in data]  # fmt: skip
    full_aps = [float(average_precision_score(fold.y_valid, scores)) for fold, scores in zip(data, chosen, strict=True)]
    truth = np.concatenate([fold.y_valid for fold in data])
    weights = np.concatenate([fold.weight_valid for fold in data])
    return Selection(
        family=best.params["family"], params=best.user_attrs["params"], rounds=best.user_attrs["rounds"],
        mean_validation_ap=float(np.mean(full_aps)), fold_aps=full_aps, folds=folds,
        search_validation_ap=float(best.value or 0), objective=objective_name, validation_scores=np.concatenate(chosen),
        validation_truth=truth, validation_weights=weights,
        validation_sizes=[len(fold.y_valid) for fold in data], curve=curve,
        trials=len(study.trials), pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        seconds=time.perf_counter() - started, leaderboard=leaderboard, note=note,
    )  # fmt: skip
