"""Read datasets into the canonical transaction and label frames (generated or external files).

Canonical transaction columns (one per ``Transaction`` field, plus ground truth)::

    transaction_id card_id terminal_id event_time amount currency merchant_category channel
    card_country terminal_country is_fraud fraud_scenario

Canonical label columns: ``transaction_id card_id terminal_id event_time reported_at is_fraud
fraud_scenario``.

Sources:

* a folder written by ``fraudstream generate`` (``transactions.parquet``, ``labels.parquet``);
* a CSV or Parquet file with a column mapping, e.g. the Fraud Detection Handbook's
  ``TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD`` (:data:`HANDBOOK_MAPPING`, picked
  automatically when those columns are present). Without report times, every fraud gets a label
  ``label_delay_days`` after its transaction.

Invalid rows are not silently dropped: :class:`DatasetError` names the column, the count and the
first offending rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from fraudstream.errors import FraudstreamError
from schemas.dataset import LABEL_COLUMNS, LABEL_DELAY_DAYS, TRANSACTION_COLUMNS, Dataset
from schemas.models import MAX_AMOUNT, MAX_ID_LENGTH

REQUIRED = ("card_id", "terminal_id", "event_time", "amount")
DEFAULTS: dict[str, object] = {
    "currency": "EUR",
    "merchant_category": "0000",
    "channel": "UNKNOWN",
    "card_country": "ZZ",
    "terminal_country": "ZZ",
    "is_fraud": False,
    "fraud_scenario": None,
}

#: source column -> canonical column, for the Fraud Detection Handbook's simulated data.
HANDBOOK_MAPPING: dict[str, str] = {
    "TRANSACTION_ID": "transaction_id",
    "TX_DATETIME": "event_time",
    "CUSTOMER_ID": "card_id",
    "TERMINAL_ID": "terminal_id",
    "TX_AMOUNT": "amount",
    "TX_FRAUD": "is_fraud",
    "TX_FRAUD_SCENARIO": "fraud_scenario",
}


class DatasetError(FraudstreamError, ValueError):
    """A dataset that cannot be read as transactions; the message says which rows and why."""


def parse_mapping(text: str) -> dict[str, str]:
    """``"TX_DATETIME=event_time,CUSTOMER_ID=card_id"`` -> ``{source: canonical}``."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise DatasetError(f"Column mapping item {item!r} is not SOURCE=target")
        if target.strip() not in (*TRANSACTION_COLUMNS, "reported_at"):
            raise DatasetError(
                f"Column mapping target {target.strip()!r} is not a canonical column; "
                f"use one of {', '.join((*TRANSACTION_COLUMNS, 'reported_at'))}"
            )
        mapping[source.strip()] = target.strip()
    return mapping


def read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".csv", ".gz") or path.name.endswith(".csv.gz"):
        return pd.read_csv(path)
    raise DatasetError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


def load_dataset(
    path: Path | str,
    mapping: Mapping[str, str] | None = None,
    label_delay_days: float = LABEL_DELAY_DAYS,
) -> Dataset:
    """Load a generated folder, or a CSV/Parquet file through ``mapping``."""
    path = Path(path)
    if path.is_dir():
        tx_path, label_path = path / "transactions.parquet", path / "labels.parquet"
        if not tx_path.exists():
            raise DatasetError(f"{path} has no transactions.parquet; is it a generated dataset?")
        transactions = normalise_transactions(pd.read_parquet(tx_path), {})
        labels = (
            normalise_labels(pd.read_parquet(label_path))
            if label_path.exists()
            else labels_from_truth(transactions, timedelta(days=label_delay_days))
        )
        return Dataset(transactions, labels)
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    raw = read_table(path)
    if mapping is None:
        mapping = HANDBOOK_MAPPING if "TX_DATETIME" in raw.columns else {}
    transactions = normalise_transactions(raw, mapping)
    labels = labels_from_truth(transactions, timedelta(days=label_delay_days))
    return Dataset(transactions[list(TRANSACTION_COLUMNS)], labels)


def normalise_transactions(raw: pd.DataFrame, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Rename, fill defaults, check every row, and order by event time."""
    frame = raw.rename(columns=dict(mapping))
    missing = [column for column in REQUIRED if column not in frame.columns]
    if missing:
        raise DatasetError(
            f"Missing required column(s) {missing}; available: {list(raw.columns)}. "
            "Pass a column mapping such as --columns TX_DATETIME=event_time,CUSTOMER_ID=card_id"
        )
    out = pd.DataFrame(index=frame.index)
    for column in ("card_id", "terminal_id"):
        out[column] = _identifiers(frame[column], column)
    out["event_time"] = _utc(frame["event_time"], "event_time")
    amount = pd.to_numeric(frame["amount"], errors="coerce").astype(float)
    bad = ~np.isfinite(amount.to_numpy()) | (amount.to_numpy() < 0) | (amount.to_numpy() > MAX_AMOUNT)
    _reject(frame, bad, "amount", f"not a finite number in [0, {MAX_AMOUNT:g}]")
    out["amount"] = amount
    for column, default in DEFAULTS.items():
        out[column] = frame[column] if column in frame.columns else default
    out["is_fraud"] = out["is_fraud"].fillna(False).astype(bool)
    for column in ("currency", "merchant_category", "channel", "card_country", "terminal_country"):
        out[column] = out[column].astype(str)
    out["merchant_category"] = out["merchant_category"].str.zfill(4)
    if "transaction_id" in frame.columns:
        out["transaction_id"] = _identifiers(frame["transaction_id"], "transaction_id")
    else:
        out["transaction_id"] = [f"tx_{i:010d}" for i in range(len(frame))]
    duplicated = out["transaction_id"].duplicated().to_numpy()
    _reject(out, duplicated, "transaction_id", "duplicate transaction id")
    out["reported_at"] = (
        _utc(frame["reported_at"], "reported_at", allow_missing=True) if "reported_at" in frame.columns else pd.NaT
    )
    out = out.sort_values("event_time", kind="stable").reset_index(drop=True)
    columns = list(TRANSACTION_COLUMNS) + (["reported_at"] if "reported_at" in frame.columns else [])
    return out[columns]


def _identifiers(series: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_float_dtype(series) and series.notna().all() and (series % 1 == 0).all():
        series = series.astype(np.int64)
    values = series.astype("string")
    lengths = values.str.len()
    bad = (values.isna() | (lengths == 0) | (lengths > MAX_ID_LENGTH)).to_numpy(dtype=bool)
    _reject(series.to_frame(column), bad, column, f"empty or longer than {MAX_ID_LENGTH} characters")
    return values.astype(object)


def _utc(series: pd.Series, column: str, allow_missing: bool = False) -> pd.Series:
    parsed = pd.to_datetime(series, errors="coerce", utc=False)
    unparseable = parsed.isna().to_numpy() & (series.notna().to_numpy() | (not allow_missing))
    # naive times are taken as UTC
    parsed = parsed.dt.tz_localize("UTC") if parsed.dt.tz is None else parsed.dt.tz_convert("UTC")
    _reject(series.to_frame(column), unparseable, column, "not a parseable date-time")
    return parsed.astype("datetime64[ms, UTC]")


def _reject(frame: pd.DataFrame, bad: np.ndarray, column: str, why: str) -> None:
    if not bad.any():
        return
    rows = np.flatnonzero(bad)
    examples = ", ".join(f"row {i}: {frame[column].iloc[i]!r}" for i in rows[:5])
    raise DatasetError(f"{len(rows)} row(s) have an invalid {column} ({why}); first: {examples}")


def normalise_labels(raw: pd.DataFrame) -> pd.DataFrame:
    labels = raw.copy()
    for column in ("event_time", "reported_at"):
        labels[column] = _utc(labels[column], column)
    early = (labels["reported_at"] < labels["event_time"]).to_numpy()
    _reject(labels, early, "reported_at", "reported before its transaction happened")
    if "fraud_scenario" not in labels.columns:
        labels["fraud_scenario"] = None
    labels["is_fraud"] = labels["is_fraud"].astype(bool)
    labels = labels[list(LABEL_COLUMNS)]
    return labels.sort_values(["reported_at", "transaction_id"], kind="stable").reset_index(drop=True)


def labels_from_truth(transactions: pd.DataFrame, delay: timedelta) -> pd.DataFrame:
    """A label for every fraud, at its ``reported_at`` when the data has one, else ``delay`` later."""
    frauds = transactions[transactions["is_fraud"]]
    fixed = frauds["event_time"] + pd.Timedelta(delay)
    reported = frauds["reported_at"].fillna(fixed) if "reported_at" in frauds.columns else fixed
    labels = frauds.assign(reported_at=reported)
    return normalise_labels(labels[list(LABEL_COLUMNS)])
