"""A registry model in shadow: the champion's scores and the challenger's compared on matured outcomes."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

from consumers.scoring.challenger import ChallengerShadow
from consumers.scoring.shadow_outcomes import MaturedOutcomes, average_precision
from features.definitions import DAY_MS, FEATURE_NAMES
from registry import LoadedModel
from tests.consumers.scoring.fakes import tiny_model

T = 1_775_000_000_000


class MovingModels:
    """Stands in for a ModelWatch on an alias that moves once."""

    def __init__(self, first: LoadedModel, then: LoadedModel) -> None:
        self.current, self.then = first, then

    def maybe_reload(self) -> bool:
        if self.then is None:
            return False
        self.current, self.then = self.then, None
        return True


def test_average_precision_equals_scikit_learns_with_ties() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        scores, labels = np.round(rng.random(300), 2), (rng.random(300) < 0.1).astype(int)
        assert abs(average_precision(scores, labels) - average_precision_score(labels, scores)) < 1e-12


def test_outcomes_count_only_once_matured_frauds_at_once_genuine_after_the_maturity_period() -> None:
    outcomes = MaturedOutcomes("staging", maturity_ms=7 * DAY_MS)
    ids = [f"t{i}" for i in range(10)]
    outcomes.add_many(ids, [T] * 10, [0.9] * 5 + [0.1] * 5, [0.8] * 10, [True] * 5 + [False] * 5, [True] * 10)
    assert outcomes.figures() == {}  # nothing matured: no label yet, and not a week old
    assert outcomes.agreement == 0.5
    outcomes.label("t0", True)
    outcomes.label("t7", True)
    assert len(outcomes.matured) == 2
    outcomes.mature(T + 7 * DAY_MS)  # the rest: no label in a week, genuine
    figures = outcomes.figures()
    assert len(outcomes.matured) == 10
    assert figures["champion"]["precision"] == 1 / 5  # flagged t0-t4, only t0 a fraud
    assert figures["champion"]["recall"] == 1 / 2  # missed t7
    assert figures["shadow"]["recall"] == 1.0  # flagged all


def test_the_challenger_scores_the_champions_matrix_at_its_own_thresholds_and_follows_its_alias() -> None:
    first = tiny_model()
    then = LoadedModel("tiny-2", first.booster, first.feature_names, 0.05, 0.5, {})
    shadow = ChallengerShadow(MovingModels(first, then), "staging")
    assert shadow.name == "staging:tiny-1"
    matrix = np.random.default_rng(4).random((50, len(FEATURE_NAMES)))
    matrix[:25, 0] = 950.0
    scores = shadow.score_batch([f"t{i}" for i in range(50)], [T + i for i in range(50)], matrix, [0.5] * 50,
                                [True] * 50)  # fmt: skip
    assert shadow.name == "staging:tiny-2"  # the alias moved before the batch
    assert np.allclose(scores, first.predict(matrix))
    assert [shadow.decide(s) for s in scores] == then.decide(np.array(scores)).tolist()


def test_the_figures_are_exported_as_unknown_until_an_outcome_matured() -> None:
    import math

    from consumers.scoring import metrics

    outcomes = MaturedOutcomes("probe-shadow")
    outcomes.export()
    assert math.isnan(metrics.SHADOW_AVERAGE_PRECISION.labels("shadow")._value.get())
    assert metrics.SHADOW_AGREEMENT.labels("probe-shadow")._value.get() == 1.0
