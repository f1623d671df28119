"""Reference bins keep point masses apart, so a zero-heavy feature's PSI sees its non-zero share move."""

from __future__ import annotations

import numpy as np
import pandas as pd

from consumers.drift.statistics import psi
from registry.drift_reference import bin_counts, build_reference


def _zero_heavy(n: int, non_zero_share: float, rng: np.random.Generator) -> np.ndarray:
    values = np.zeros(n)
    hit = rng.random(n) < non_zero_share
    values[hit] = rng.uniform(0.05, 1.0, int(hit.sum()))
    return values


def test_a_fall_in_a_zero_heavy_features_non_zero_share_alerts_and_the_same_share_does_not() -> None:
    rng = np.random.default_rng(7)
    reference = build_reference(pd.DataFrame({"terminal_risk_1d": _zero_heavy(50_000, 0.064, rng)}),
                                scores=rng.random(50_000))["features"]["terminal_risk_1d"]  # fmt: skip
    assert reference["proportions"][1 + np.searchsorted(reference["inner"], 0.0, side="right")] > 0.9  # 0 alone
    fallen = bin_counts(reference, _zero_heavy(20_000, 0.0002, rng))
    same = bin_counts(reference, _zero_heavy(20_000, 0.064, rng))
    assert psi(fallen, reference["proportions"]) >= 0.25
    assert psi(same, reference["proportions"]) < 0.1


def test_continuous_features_keep_their_deciles() -> None:
    rng = np.random.default_rng(8)
    values = rng.normal(size=10_000)
    reference = build_reference(pd.DataFrame({"amount": values}), scores=rng.random(10_000))["features"]["amount"]
    assert len(reference["inner"]) == 9
    assert np.allclose(reference["proportions"][1:-1], 0.1, atol=0.001)
