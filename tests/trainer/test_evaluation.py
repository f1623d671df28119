"""Metrics and threshold choice, on examples small enough to check by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from trainer.config import PeriodConfig
from trainer.evaluation import at_threshold, card_precision_at_k, threshold_for_precision
from trainer.periods import choose_periods


def test_threshold_is_the_lowest_score_reaching_the_precision_target() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    # alert sets by threshold: 0.9 -> 1/1, 0.8 -> 2/2, 0.7 -> 2/3, 0.6 -> 3/4, 0.5 -> 3/5 ...
    assert threshold_for_precision(y, s, 0.75) == (0.6, True)
    assert threshold_for_precision(y, s, 0.95) == (0.8, True)
    assert threshold_for_precision(y, s, 0.55) == (0.3, True)  # 4/7; 0.2 would give 4/8
    assert threshold_for_precision(y, s, 0.5) == (0.2, True)


def test_tied_scores_are_one_alert_set() -> None:
    y = np.array([1, 0, 1])
    s = np.array([0.5, 0.5, 0.9])
    assert threshold_for_precision(y, s, 0.9) == (0.9, True)  # 0.5 would alert both tied rows


def test_an_unreachable_target_falls_back_to_the_best_precision() -> None:
    y = np.array([0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.1, 0.05])
    assert threshold_for_precision(y, s, 0.9) == (0.8, False)  # 1/2 is the best there is


def test_confusion_at_threshold() -> None:
    r = at_threshold(np.array([1, 1, 0, 0, 1]), np.array([0.9, 0.2, 0.8, 0.1, 0.7]), 0.5)
    assert (r.tp, r.fp, r.fn, r.tn) == (2, 1, 1, 1)
    assert r.precision == pytest.approx(2 / 3)
    assert r.recall == pytest.approx(2 / 3)
    assert r.f1 == pytest.approx(2 / 3)


def test_card_precision_counts_cards_per_day_and_skips_known_and_detected_cards() -> None:
    day1, day2 = datetime(2026, 5, 1, 10, tzinfo=UTC), datetime(2026, 5, 2, 10, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "card_id": ["a", "a", "b", "c", "known", "a", "b", "c"],
            "event_time": pd.to_datetime([day1] * 5 + [day2] * 3),
            "is_fraud": [False, True, False, False, True, True, False, True],
        }
    )
    scores = np.array([0.9, 0.1, 0.8, 0.2, 0.99, 0.9, 0.8, 0.1])
    mean, per_day = card_precision_at_k(frame, scores, {"known"}, k=2)
    # day 1: known is skipped; top 2 cards by max score: a (fraud), b -> 1/2; a becomes known
    # day 2: a is known now; top 2: b, c (fraud) -> 1/2
    assert per_day == [0.5, 0.5]
    assert mean == 0.5


def _card_precision_by_group_by(frame: pd.DataFrame, scores: np.ndarray, known: set[str], k: int) -> list[float]:
    """The definition, day by day with pandas' group-by (the trainer's first implementation)."""
    data = pd.DataFrame({"card": frame["card_id"].to_numpy(), "day": frame["event_time"].dt.floor("D").to_numpy(),
                         "fraud": frame["is_fraud"].to_numpy(dtype=bool), "score": scores})  # fmt: skip
    known, per_day = set(known), []
    for _, day in data.groupby("day", sort=True):
        cards = day.groupby("card").agg(score=("score", "max"), fraud=("fraud", "max"))
        cards = cards[~cards.index.isin(known)]
        top = cards.sort_values("score", ascending=False, kind="stable").head(k)
        per_day.append(float(top["fraud"].sum()) / k)
        known |= set(top.index[top["fraud"].to_numpy(dtype=bool)])
    return per_day


@pytest.mark.parametrize("seed", range(20))
def test_card_precision_equals_the_group_by_definition_with_ties_known_cards_and_empty_days(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    cards = np.array([f"card-{i:03d}" for i in rng.integers(0, 60, n)])
    times = pd.Timestamp("2026-05-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 9 * 24 * 60, n), unit="min")
    frame = pd.DataFrame({"card_id": cards, "event_time": times, "is_fraud": rng.random(n) < 0.2})
    scores = rng.integers(0, 5, n) / 4  # many ties
    known = {f"card-{i:03d}" for i in rng.integers(0, 60, 5)} | {"not-in-the-data"}
    k = int(rng.integers(1, 12))
    mean, per_day = card_precision_at_k(frame, scores, known, k=k)
    assert per_day == _card_precision_by_group_by(frame, scores, known, k)
    assert mean == pytest.approx(np.mean(per_day))


def test_periods_end_where_the_data_ends_and_hold_out_validation() -> None:
    times = pd.Series(pd.date_range("2026-04-01", "2026-05-31 23:00", freq="h", tz="UTC"))
    p = choose_periods(times, PeriodConfig(train_days=7, delay_days=7, test_days=7, validation_days=2))
    assert p.test_end.isoformat() == "2026-06-01T00:00:00+00:00"
    assert p.test_start.isoformat() == "2026-05-25T00:00:00+00:00"
    assert p.train_end.isoformat() == "2026-05-18T00:00:00+00:00"
    assert p.validation_start.isoformat() == "2026-05-16T00:00:00+00:00"
    assert p.train_start.isoformat() == "2026-05-11T00:00:00+00:00"
    q = choose_periods(times, PeriodConfig(train_start=datetime(2026, 4, 10).date()))
    assert q.test_end.isoformat() == "2026-05-01T00:00:00+00:00"
    with pytest.raises(ValueError, match="do not fit"):
        choose_periods(times, PeriodConfig(train_days=30, delay_days=30, test_days=30))
    with pytest.raises(ValueError, match="validation_days"):
        choose_periods(times, PeriodConfig(validation_days=7))


def test_weekly_thresholds_equal_pooled_ones_when_every_week_is_the_same_and_sit_higher_when_weeks_differ() -> None:
    from trainer.evaluation import threshold_for_weekly_precision

    rng = np.random.default_rng(4)
    truth = rng.random(2_000) < 0.05
    scores = np.clip(rng.normal(0.2 + 0.5 * truth, 0.15), 0, 1)
    same = [(truth, scores, np.ones(len(truth)))] * 3
    assert threshold_for_weekly_precision(same, 0.8) == threshold_for_precision(truth, scores, 0.8)
    ones = np.ones(len(truth))
    noisy = [(truth, np.clip(scores + rng.normal(0, 0.1 * k, len(scores)), 0, 1), ones) for k in range(3)]
    pooled = threshold_for_precision(np.concatenate([w[0] for w in noisy]), np.concatenate([w[1] for w in noisy]), 0.8)
    weekly = threshold_for_weekly_precision(noisy, 0.8)
    assert weekly[1]
    assert weekly[0] > pooled[0]
    # days standing in for weeks: a smaller spread, a threshold between the pooled and the weekly one
    days = threshold_for_weekly_precision(noisy, 0.8, spread_scale=1 / np.sqrt(7))
    assert pooled[0] <= days[0] < weekly[0]
