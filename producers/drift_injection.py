"""Deliberate changes to a replayed stream from a point in event time on, to test drift detection.

A :class:`DriftSpec` changes transactions whose ``event_time >= start`` (labels are left alone):

* ``amount_scale``: multiply amounts (e.g. 1.5 for inflation or a new spending pattern);
* ``merchant_mix``: with probability ``merchant_share``, re-draw the merchant category from the
  given distribution (``{"7995": 0.5, "4829": 0.5}``);
* ``cross_border_share``: with this probability, move the terminal abroad (``terminal_country``
  set to ``abroad_country``).

The change is seeded and recorded in the replay summary, so a detection test knows what it should
find and where.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from producers.config import DriftSpec


def apply_drift(spec: DriftSpec, transactions: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A changed copy of ``transactions`` and a summary of what changed."""
    rng = np.random.default_rng(spec.seed)
    out = transactions.copy()
    affected = (out["event_time"] >= pd.Timestamp(spec.start)).to_numpy()
    if spec.amount_scale != 1.0:
        out.loc[affected, "amount"] = np.round(out.loc[affected, "amount"] * spec.amount_scale, 2)
    n_merchant = 0
    if spec.merchant_share > 0 and spec.merchant_mix:
        move = affected & (rng.random(len(out)) < spec.merchant_share)
        codes = np.array(list(spec.merchant_mix), dtype=object)
        weights = np.array(list(spec.merchant_mix.values()), dtype=float)
        out.loc[move, "merchant_category"] = codes[
            rng.choice(len(codes), size=int(move.sum()), p=weights / weights.sum())
        ]
        n_merchant = int(move.sum())
    n_abroad = 0
    if spec.cross_border_share > 0:
        move = affected & (rng.random(len(out)) < spec.cross_border_share)
        out.loc[move, "terminal_country"] = spec.abroad_country
        n_abroad = int(move.sum())
    summary = {
        "start": spec.start.isoformat(),
        "affected_transactions": int(affected.sum()),
        "amount_scale": spec.amount_scale,
        "merchant_mix": spec.merchant_mix,
        "merchant_changed": n_merchant,
        "cross_border_changed": n_abroad,
    }
    return out, summary
