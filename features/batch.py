"""The feature engine's definitions computed for a whole dataset at once, vectorised.

Used by the trainer and batch scoring. It implements exactly the semantics of
``features/definitions.py`` with sorted-key binary searches and prefix sums instead of per-event
state, and is checked against :class:`features.engine.FeatureEngine` feature by feature.
State caps (``max_card_entries``, ``max_terminal_frauds``) are not applied here: they only bind
for cards or terminals far beyond realistic volumes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.definitions import DAY_MS, DEFAULT_CONFIG, HIGH_RISK_MCC, FeatureConfig, feature_names

Progress = Callable[[str], None]


def _millis(series: pd.Series) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(series.astype("datetime64[ms, UTC]")).asi8, dtype=np.int64)


def transaction_block(ts: np.ndarray, amount: np.ndarray) -> list[np.ndarray]:
    ms_of_day = ts % DAY_MS
    angle = ms_of_day * (2.0 * np.pi / DAY_MS)
    weekday = (ts // DAY_MS + 3) % 7
    return [
        amount,
        np.log1p(amount),
        np.sin(angle),
        np.cos(angle),
        (ms_of_day < 6 * 3_600_000).astype(float),
        (weekday >= 5).astype(float),
    ]


def card_block(card: np.ndarray, ts: np.ndarray, amount: np.ndarray, config: FeatureConfig) -> list[np.ndarray]:
    codes = pd.factorize(card)[0].astype(np.int64)
    offset = int(ts.min()) - max(config.card_windows_ms) - 1
    rel = ts - offset
    span = int(rel.max()) + 1
    keys = codes * span + rel
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    sorted_amounts = amount[order]
    sorted_codes = codes[order]
    # prefix sums restarted per card, so rounding error stays at the scale of one card's history
    within = pd.Series(sorted_amounts).groupby(sorted_codes).cumsum().to_numpy()
    group_start = np.searchsorted(sorted_keys, codes * span, side="left")

    def prefix(position: np.ndarray) -> np.ndarray:
        """Sum of the card's amounts before sorted position ``position``."""
        has = position > group_start
        out = np.zeros(len(position))
        out[has] = within[position[has] - 1]
        return out

    end = np.searchsorted(sorted_keys, keys, side="left")  # strictly earlier entries end here
    end_sum = prefix(end)
    columns: list[np.ndarray] = []
    prior_count = prior_sum = np.zeros(0)
    for window in config.card_windows_ms:
        start = np.searchsorted(sorted_keys, keys - window, side="left")
        prior_count = end - start
        prior_sum = end_sum - prefix(start)
        count = prior_count + 1.0
        total = prior_sum + amount
        columns += [count, total, total / count]
    prior_mean = np.divide(prior_sum, prior_count, out=np.zeros(len(amount)), where=prior_count > 0)
    columns.append(np.divide(amount, prior_mean, out=np.ones(len(amount)), where=prior_mean > 0))
    has_prev = end > group_start
    gap = np.full(len(ts), config.max_gap_seconds)
    previous_ts = np.asarray(rel[order])[end[has_prev] - 1] + offset
    gap[has_prev] = np.minimum((ts[has_prev] - previous_ts) / 1000.0, config.max_gap_seconds)
    columns.append(gap)
    return columns


def terminal_block(
    terminal: np.ndarray,
    ts: np.ndarray,
    label_terminal: np.ndarray,
    label_ts: np.ndarray,
    label_reported: np.ndarray,
    config: FeatureConfig,
) -> list[np.ndarray]:
    codes, uniques = pd.factorize(terminal)
    codes = codes.astype(np.int64)
    day = ts // DAY_MS
    first_day = int(day.min()) - config.terminal_retention_days - 1
    rel_day = day - first_day
    span = int(rel_day.max()) + 2
    keys = np.sort(codes * span + rel_day)
    end_day = rel_day - config.terminal_delay_days

    lookup = pd.Index(uniques)
    label_codes = lookup.get_indexer(label_terminal)
    known = label_codes >= 0  # labels of terminals without transactions here cannot be in a window
    labels = pd.DataFrame(
        {
            "code": label_codes[known].astype(np.int64),
            "day": label_ts[known] // DAY_MS - first_day,
            "reported": label_reported[known],
        }
    )
    txs = pd.DataFrame({"row": np.arange(len(ts)), "code": codes, "end": end_day, "ts": ts})
    longest = max(config.terminal_window_days)
    pairs = txs[txs["code"].isin(labels["code"].unique())].merge(labels, on="code")
    pairs = pairs[(pairs["day"] < pairs["end"]) & (pairs["day"] >= pairs["end"] - longest) & (pairs["reported"] < pairs["ts"])]

    columns: list[np.ndarray] = []
    for days in config.terminal_window_days:
        start_day = end_day - days
        count = np.searchsorted(keys, codes * span + end_day, "left") - np.searchsorted(
            keys, codes * span + start_day, "left"
        )
        in_window = pairs[pairs["day"] >= pairs["end"] - days]
        frauds = np.bincount(in_window["row"].to_numpy(), minlength=len(ts)).astype(float)
        risk = np.divide(frauds, count, out=np.zeros(len(ts)), where=count > 0)
        columns += [count.astype(float), risk]
    return columns


def categorical_block(frame: pd.DataFrame) -> list[np.ndarray]:
    channel = frame["channel"].astype(str).to_numpy()
    card_country = frame["card_country"].astype(str).to_numpy()
    terminal_country = frame["terminal_country"].astype(str).to_numpy()
    cross = (card_country != "ZZ") & (terminal_country != "ZZ") & (card_country != terminal_country)
    return [
        (channel == "ECOM").astype(float),
        (channel == "ATM").astype(float),
        cross.astype(float),
        frame["merchant_category"].astype(str).isin(HIGH_RISK_MCC).to_numpy().astype(float),
    ]


def compute_features(
    transactions: pd.DataFrame,
    labels: pd.DataFrame,
    config: FeatureConfig = DEFAULT_CONFIG,
    progress: Progress = lambda message: None,
) -> pd.DataFrame:
    """One row of features per transaction (same index), columns in ``feature_names(config)`` order."""
    if len(transactions) == 0:
        return pd.DataFrame(columns=list(feature_names(config)), dtype=float)
    ts = _millis(transactions["event_time"])
    amount = transactions["amount"].to_numpy(dtype=float)
    columns = transaction_block(ts, amount)
    progress("card windows")
    columns += card_block(transactions["card_id"].to_numpy(), ts, amount, config)
    progress("terminal windows")
    frauds = labels[labels["is_fraud"].astype(bool)]
    frauds = frauds.sort_values("reported_at", kind="stable").drop_duplicates("transaction_id", keep="first")
    columns += terminal_block(
        transactions["terminal_id"].to_numpy(),
        ts,
        frauds["terminal_id"].to_numpy(),
        _millis(frauds["event_time"]),
        _millis(frauds["reported_at"]),
        config,
    )
    columns += categorical_block(transactions)
    names = feature_names(config)
    return pd.DataFrame(dict(zip(names, columns, strict=True)), index=transactions.index)
