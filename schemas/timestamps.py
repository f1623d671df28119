"""Event times as the topics carry them: epoch milliseconds, UTC (Avro ``timestamp-millis``)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def epoch_millis(series: pd.Series) -> np.ndarray:
    """A column of timezone-aware times as int64 epoch milliseconds (sub-millisecond parts dropped)."""
    return np.asarray(pd.DatetimeIndex(series.astype("datetime64[ms, UTC]")).asi8, dtype=np.int64)
