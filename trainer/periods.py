"""Train / delay / test periods in event time (the Fraud Detection Handbook's protocol).

::

    |<-------- train -------->|<---- delay ---->|<---- test ---->|
    |<--- fit --->|<- valid ->|                 |                |
    train_start          train_end = delay_start     test_start     test_end

Periods are whole UTC days. By default the test period ends where the data ends (the end of the
last day with data) and every period is 7 days; the last ``validation_days`` of the training
period are held out for early stopping and threshold choice. The model is taken to be trained at
``test_start``: training targets are the fraud labels *reported before* ``test_start``, so a fraud
reported late counts as genuine in training, as it would have in production.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from trainer.config import PeriodConfig


@dataclass(frozen=True)
class Periods:
    train_start: datetime
    validation_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime

    def as_dict(self) -> dict[str, Any]:
        return {key: value.isoformat() for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: dict[str, str]) -> Periods:
        return cls(**{key: datetime.fromisoformat(value) for key, value in raw.items()})


def choose_periods(event_times: pd.Series, config: PeriodConfig | None = None) -> Periods:
    """Periods for data spanning ``event_times``; raises ValueError if the data is too short."""
    config = config or PeriodConfig()
    train_days, delay_days, test_days = config.train_days, config.delay_days, config.test_days
    validation_days, train_start = config.validation_days, config.train_start
    first = event_times.min().floor("D")
    last_end = event_times.max().floor("D") + pd.Timedelta(days=1)
    if train_start is None:
        test_end = last_end
        start = test_end - pd.Timedelta(days=train_days + delay_days + test_days)
    else:
        start = pd.Timestamp(train_start, tz="UTC")
        test_end = start + pd.Timedelta(days=train_days + delay_days + test_days)
    if start < first or test_end > last_end:
        raise ValueError(
            f"the data covers {first.date()} to {(last_end - pd.Timedelta(days=1)).date()}; "
            f"{train_days}+{delay_days}+{test_days} days from {start.date()} do not fit in it"
        )
    train_end = start + pd.Timedelta(days=train_days)
    return Periods(
        train_start=start.to_pydatetime(),
        validation_start=(train_end - pd.Timedelta(days=validation_days)).to_pydatetime(),
        train_end=train_end.to_pydatetime(),
        test_start=(train_end + pd.Timedelta(days=delay_days)).to_pydatetime(),
        test_end=test_end.to_pydatetime(),
    )


def in_period(event_times: pd.Series, start: datetime, end: datetime) -> pd.Series:
    return (event_times >= pd.Timestamp(start)) & (event_times < pd.Timestamp(end))
