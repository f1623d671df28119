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

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator


class DriftSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime
    amount_scale: float = 1.0
    merchant_mix: dict[str, float] = Field(default_factory=dict)
    #: the share of affected transactions whose merchant is re-drawn, when a ``merchant_mix`` is given
    merchant_share: float = 0.3
    cross_border_share: float = 0.0
    abroad_country: str = "US"
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> DriftSpec:
        if self.start.tzinfo is None:
            raise ValueError(f"drift start {self.start.isoformat()} must be timezone-aware")
        if not (self.amount_scale > 0 and np.isfinite(self.amount_scale)):
            raise ValueError(f"amount_scale must be a positive number, got {self.amount_scale}")
        for name in ("merchant_share", "cross_border_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if "merchant_share" in self.model_fields_set and self.merchant_share > 0 and not self.merchant_mix:
            raise ValueError("merchant_share > 0 needs a merchant_mix such as {'7995': 1.0}")
        if any(weight < 0 for weight in self.merchant_mix.values()) or (
            self.merchant_mix and sum(self.merchant_mix.values()) <= 0
        ):
            raise ValueError(f"merchant_mix weights must be non-negative and not all zero: {self.merchant_mix}")
        return self

    def apply(self, transactions: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
        """A changed copy of ``transactions`` and a summary of what changed."""
        rng = np.random.default_rng(self.seed)
        out = transactions.copy()
        affected = (out["event_time"] >= pd.Timestamp(self.start)).to_numpy()
        if self.amount_scale != 1.0:
            out.loc[affected, "amount"] = np.round(out.loc[affected, "amount"] * self.amount_scale, 2)
        n_merchant = 0
        if self.merchant_share > 0 and self.merchant_mix:
            move = affected & (rng.random(len(out)) < self.merchant_share)
            codes = np.array(list(self.merchant_mix), dtype=object)
            weights = np.array(list(self.merchant_mix.values()), dtype=float)
            out.loc[move, "merchant_category"] = codes[
                rng.choice(len(codes), size=int(move.sum()), p=weights / weights.sum())
            ]
            n_merchant = int(move.sum())
        n_abroad = 0
        if self.cross_border_share > 0:
            move = affected & (rng.random(len(out)) < self.cross_border_share)
            out.loc[move, "terminal_country"] = self.abroad_country
            n_abroad = int(move.sum())
        summary = {
            "start": self.start.isoformat(),
            "affected_transactions": int(affected.sum()),
            "amount_scale": self.amount_scale,
            "merchant_mix": self.merchant_mix,
            "merchant_changed": n_merchant,
            "cross_border_changed": n_abroad,
        }
        return out, summary
