"""The drift reference stored with each model version, and the binning shared with the drift consumer.

For every feature and for the score, the reference holds:

* ``inner``: cut points between regular bins: quantiles of the reference data (deciles by default),
  with a bin of its own for every value that holds at least a tenth of it (a point mass such as
  the zero of a fraud share), or, for a feature with at most ``bins`` distinct values, the
  midpoints between those values;
* ``low``/``high``: the reference minimum and maximum;
* ``proportions``: the reference share of each bin, where bin 0 is *below the reference minimum*,
  bins ``1 .. len(inner) + 1`` are the regular bins, and the last bin is *above the reference
  maximum* (both overflow bins are empty in the reference by construction);
* ``sample``: a seeded random sample of reference values for the KS test.

:func:`bin_counts` is the one implementation of that binning; window state in the drift consumer
is these counts, so windows merge exactly by adding them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

REFERENCE_FORMAT = "fraudstream-drift-reference-v1"


def bin_counts(reference: dict[str, Any], values: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the reference's bins (length ``len(inner) + 3``)."""
    inner = np.asarray(reference["inner"], dtype=float)
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    index = 1 + np.searchsorted(inner, values, side="right")
    index[values < reference["low"]] = 0
    index[values > reference["high"]] = len(inner) + 2
    return np.bincount(index, minlength=len(inner) + 3)


def _point_mass_edges(values: np.ndarray, distinct: np.ndarray, counts: np.ndarray, bins: int) -> np.ndarray:
    """Quantile cut points, with every value holding at least 1/bins of the data in a bin of its own.

    A zero-heavy feature (most terminals have no fraud) would otherwise have every decile at 0 and
    one bin for everything, so a fall in its non-zero share could never move its PSI.

    >>> values = np.r_[np.zeros(90), np.linspace(1, 10, 10)]
    >>> edges = _point_mass_edges(values, *np.unique(values, return_counts=True), bins=10)
    >>> [int(c) for c in bin_counts({"inner": edges, "low": 0.0, "high": 10.0}, values)[1:-1] if c]
    [90, 1, 1, 1, 1, 1, 1, 1, 1, 2]
    """
    masses = distinct[counts >= len(values) / bins]
    rest = values[~np.isin(values, masses)]
    edges = [masses, np.nextafter(masses, np.inf)]
    if len(rest):
        quantiles = np.linspace(0, 1, max(bins - len(masses), 2) + 1)[1:-1]
        edges.append(np.quantile(rest, quantiles))
    return np.unique(np.concatenate(edges))


def _feature_reference(values: np.ndarray, bins: int, sample_size: int, rng: np.random.Generator) -> dict[str, Any]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise ValueError("a drift reference needs at least one finite value per feature")
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) <= bins:
        inner = (distinct[1:] + distinct[:-1]) / 2.0
    else:
        inner = _point_mass_edges(values, distinct, counts, bins)
    reference: dict[str, Any] = {
        "inner": inner.tolist(),
        "low": float(values.min()),
        "high": float(values.max()),
    }
    counts = bin_counts(reference, values)
    reference["proportions"] = (counts / counts.sum()).tolist()
    size = min(sample_size, len(values))
    reference["sample"] = np.sort(rng.choice(values, size=size, replace=False)).tolist()
    return reference


def build_reference(
    features: pd.DataFrame, scores: np.ndarray, bins: int = 10, sample_size: int = 5_000, seed: int = 0
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    columns = {name: features[name].to_numpy(dtype=float) for name in features.columns}
    columns["score"] = np.asarray(scores, dtype=float)
    return {
        "format": REFERENCE_FORMAT,
        "rows": len(features),
        "bins": bins,
        "features": {name: _feature_reference(values, bins, sample_size, rng) for name, values in columns.items()},
    }
