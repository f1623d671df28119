"""The producers' configuration: what the generator makes and what drift a replay injects.

Frozen, validated, the only home of their defaults; imports nothing heavy, so the CLI can build
its help without loading numpy, pandas or SciPy.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DriftSpec", "GeneratorConfig"]


class GeneratorConfig(BaseModel):
    """Parameters of one synthetic dataset; stored in the manifest so it can be regenerated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_customers: int = 5_000
    n_terminals: int = 10_000
    n_days: int = 183
    start_date: date = date(2026, 4, 1)
    seed: int = 42
    radius: float = 5.0
    ecom_terminal_share: float = 0.08
    risky_terminal_share: float = 0.01
    atm_terminal_share: float = 0.05
    large_amount_threshold: float = 220.0
    compromised_terminals_per_day: float = 2.0
    compromised_terminal_days: int = 28
    compromised_cards_per_day: float = 3.0
    compromised_card_days: int = 14
    #: Injected scenarios: expected victims a day, per 5,000 customers.
    card_testing_per_day: float = 1.0
    night_spending_per_day: float = 1.0
    velocity_spike_per_day: float = 1.0
    unusual_merchant_per_day: float = 1.0
    label_delay_median_days: float = 2.0
    late_report_fraction: float = 0.1
    #: every fraud reported exactly this many days after it (the handbook's protocol); replaces the
    #: log-normal delay and the late reports when set
    label_delay_fixed_days: float | None = Field(default=None, gt=0)
    currency: str = "EUR"

    @model_validator(mode="after")
    def _check(self) -> GeneratorConfig:
        for name in ("n_customers", "n_terminals", "n_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.late_report_fraction <= 1.0:
            raise ValueError(f"late_report_fraction must be in [0, 1], got {self.late_report_fraction}")
        if self.radius <= 0:
            raise ValueError(f"radius must be positive, got {self.radius}")
        return self

    @property
    def scale(self) -> float:
        return self.n_customers / 5_000

    @property
    def terminal_scale(self) -> float:
        return self.n_terminals / 10_000


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
        if not (self.amount_scale > 0 and math.isfinite(self.amount_scale)):
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
        """A changed copy of ``transactions`` and a summary of what changed (``drift_injection.py``)."""
        from producers.drift_injection import apply_drift

        return apply_drift(self, transactions)
