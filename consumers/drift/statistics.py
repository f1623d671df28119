"""Population stability index and the two-sample Kolmogorov-Smirnov test, on bin counts.

Both work on counts in the reference's fixed bins (``registry/drift_reference.py``), so window
state is a vector of counts per feature and windows from several partitions or consumers merge by
adding them.

* PSI = sum over bins of (w - r) * ln(w / r), with w and r the window and reference shares; empty
  bins get ``epsilon`` so the logarithm stays finite.
* KS compares the window's CDF with the reference sample's CDF at the edges of a fine grid (the
  reference sample's percentiles), so it is the KS statistic of the binned data: a lower bound of
  the exact statistic, tight when the grid is fine. The p-value is the asymptotic two-sample one
  (Kolmogorov distribution with effective size n*m/(n+m)).

>>> round(psi([50, 50], [0.5, 0.5]), 6)
0.0
>>> round(psi([90, 10], [0.5, 0.5]), 3)
0.879
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import kstwobign

EPSILON = 1e-4


def psi(window_counts: Sequence[float] | np.ndarray, reference_shares: Sequence[float] | np.ndarray) -> float:
    counts = np.asarray(window_counts, dtype=float)
    reference = np.asarray(reference_shares, dtype=float)
    if counts.shape != reference.shape:
        raise ValueError(f"window has {counts.shape} bins, reference {reference.shape}")
    total = counts.sum()
    if total <= 0:
        return 0.0
    w = np.maximum(counts / total, EPSILON)
    r = np.maximum(reference, EPSILON)
    return float(np.sum((w - r) * np.log(w / r)))


def ks_from_counts(
    window_counts: Sequence[float] | np.ndarray, reference_cdf: Sequence[float] | np.ndarray, reference_size: int
) -> tuple[float, float]:
    """(statistic, p-value) of the binned window against the reference CDF at the same edges.

    ``window_counts`` has one count per grid cell (len(edges) + 1 cells); ``reference_cdf`` is the
    reference sample's CDF at each edge.
    """
    counts = np.asarray(window_counts, dtype=float)
    n = counts.sum()
    if n <= 0 or reference_size <= 0:
        return 0.0, 1.0
    window_cdf = np.cumsum(counts)[:-1] / n
    statistic = float(np.max(np.abs(window_cdf - np.asarray(reference_cdf)))) if len(window_cdf) else 0.0
    effective = n * reference_size / (n + reference_size)
    p_value = float(kstwobign.sf(statistic * np.sqrt(effective)))
    return statistic, min(1.0, max(0.0, p_value))


def feature_drift(
    psi_value: float, ks_statistic: float, ks_pvalue: float, psi_warn: float, psi_alert: float,
    ks_threshold: float, ks_alpha: float,
) -> str:  # fmt: skip
    """OK, WARN or ALERT: PSI over its thresholds, or a KS shift that is both large and significant."""
    if psi_value >= psi_alert:
        return "ALERT"
    if psi_value >= psi_warn or (ks_statistic >= ks_threshold and ks_pvalue < ks_alpha):
        return "WARN"
    return "OK"
