"""The trainer's configuration: frozen, validated, the only home of its defaults.

Imports nothing heavy (no pandas, scikit-learn or XGBoost), so the CLI can build its help and
settings without loading the trainer.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fraudstream.settings import FraudstreamSettings
from schemas.dataset import LABEL_DELAY_DAYS

__all__ = ["Gates", "PeriodConfig", "RetrainConfig", "TrainConfig"]


class PeriodConfig(BaseModel):
    """How long each period is, in whole days, and where training starts (default: as late as fits)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train_days: int = Field(default=7, ge=1)
    delay_days: int = Field(default=7, ge=0)
    test_days: int = Field(default=7, ge=1)
    #: the last days of the training period, held out for early stopping and threshold choice
    validation_days: int = Field(default=2, ge=1)
    train_start: date | None = None

    @model_validator(mode="after")
    def _check(self) -> PeriodConfig:
        if not self.validation_days < self.train_days:
            raise ValueError(
                f"validation_days must be in [1, train_days), got {self.validation_days} (train {self.train_days})"
            )
        return self

    def describe(self) -> str:
        """The periods in the words the trainer and the demo print.

        >>> PeriodConfig(delay_days=14).describe()
        'train/delay/test = 7/14/7 days'
        """
        return f"train/delay/test = {self.train_days}/{self.delay_days}/{self.test_days} days"


class Gates(BaseModel):
    """Acceptance gates on the test period (defaults from the product brief)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_f1: float = Field(default=0.75, ge=0, le=1)
    min_precision: float = Field(default=0.80, ge=0, le=1)
    min_recall: float = Field(default=0.70, ge=0, le=1)
    min_average_precision: float = Field(default=0.70, ge=0, le=1)

    @classmethod
    def off(cls) -> Gates:
        """Gates every model passes: tests and benchmarks that need a promotable model of any quality."""
        return cls(min_f1=0, min_precision=0, min_recall=0, min_average_precision=0)

    def check(self, average_precision: float, at_review: dict[str, float]) -> list[str]:
        failed = []
        for name, value, bound in (
            ("F1", at_review["f1"], self.min_f1),
            ("precision", at_review["precision"], self.min_precision),
            ("recall", at_review["recall"], self.min_recall),
            ("PR-AUC", average_precision, self.min_average_precision),
        ):
            if value < bound:
                failed.append(f"{name} {value:.3f} < {bound:.2f}")
        return failed


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Path
    store_uri: str
    #: where the report goes (default: ``reports_root/VERSION``)
    report_dir: Path | None = None
    #: the folder of every version's report: ``$FRAUDSTREAM_HOME/reports`` (the CLI passes it)
    reports_root: Path = FraudstreamSettings.model_fields["home"].get_default() / "reports"
    columns: dict[str, str] | None = None
    label_delay_days: float = Field(default=LABEL_DELAY_DAYS, gt=0)
    periods: PeriodConfig = Field(default_factory=PeriodConfig)
    #: thresholds: the lowest score whose validation precision reaches these
    #: on out-of-fold scores of the training days (``training_days``), or, after a model selection,
    #: one standard deviation below the mean over the prequential folds' validation weeks
    threshold_source: Literal["training_days", "fold_weeks"] = "training_days"
    review_precision: float = Field(default=0.80, gt=0, le=1)
    decline_precision: float = Field(default=0.95, gt=0, le=1)
    gates: Gates = Field(default_factory=Gates)
    #: fixed XGBoost parameters: no search, early stopping on the validation days picks the rounds
    xgb_params: dict[str, Any] | None = None
    #: model-selection trials over families and hyperparameters on prequential folds
    #: (``trainer/selection.py``); 0: today's defaults with early stopping on the validation days
    trials: int = Field(default=60, ge=0)
    #: the search stops at this many seconds even if trials remain
    time_budget_seconds: float = Field(default=100.0, gt=0)
    #: prequential folds (a week each, newest first); fewer when the data does not reach back
    folds: int = Field(default=4, ge=1)
    #: what the search ranks candidates by: mean validation average precision, or that plus mean
    #: validation card precision@100 (``trainer/selection.py``)
    selection_objective: Literal["average_precision", "average_precision+card_precision"] = "average_precision"
    families: tuple[Literal["xgboost", "random_forest", "logistic_regression"], ...] = (
        "xgboost", "random_forest", "logistic_regression",
    )  # fmt: skip
    seed: int = 0
    #: a version that passes its gates becomes ``staging`` (``retrain`` stages only after comparing)
    stage: bool = True
    #: log the run and mirror versions and aliases there (``trainer/mlflow_tracking.py``)
    mlflow_tracking_uri: str | None = None


class RetrainConfig(BaseModel):
    """``fraudstream retrain`` (``trainer/retrain.py``): when to train, and when a candidate is staged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train: TrainConfig
    trigger: Literal["always", "drift"] = "always"
    #: the drift rule: at least this many features with PSI >= ``psi_alert`` in the newest window
    min_alert_features: int = Field(default=3, ge=1)
    psi_alert: float = Field(default=0.25, gt=0)
    #: the candidate's F1 must reach production's plus this on the same holdout
    min_f1_gain: float = 0.02
