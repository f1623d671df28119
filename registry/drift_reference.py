"""The drift reference stored with each model version, and the binning shared with the drift consumer.

For every feature and for the score, the reference holds:

* ``inner``: cut points between regular bins: quantiles of the reference data (deciles by default),
  or, for a feature with at most ``bins`` distinct values, the midpoints between those values;
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


def _feature_reference(values: np.ndarray, bins: int, sample_size: int, rng: np.random.Generator) -> dict[str, Any]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise ValueError("a drift reference needs at least one finite value per feature")
    distinct = np.unique(values)
    if len(distinct) <= bins:
        inner = (distinct[1:] + distinct[:-1]) / 2.0
    else:
        inner = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
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
