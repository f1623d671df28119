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

from features.definitions import DAY_MS, DEFAULT_CONFIG, HIGH_RISK_MCC, SMALL_AMOUNT, FeatureConfig, feature_names
from schemas.timestamps import epoch_millis

Progress = Callable[[str], None]


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


def _pair_counts(rows: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rows[mask], minlength=n).astype(float)


def card_block(
    card: np.ndarray,
    ts: np.ndarray,
    amount: np.ndarray,
    terminal: np.ndarray,
    frauds: pd.DataFrame,
    config: FeatureConfig,
) -> list[np.ndarray]:
    """Card velocity, gap, terminal novelty, small-amount and fraud-history features."""
    codes, card_uniques = pd.factorize(card)
    codes = codes.astype(np.int64)
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
    small_prefix = np.concatenate([[0], np.cumsum(sorted_amounts < SMALL_AMOUNT)])
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
    starts = []
    prior_count = prior_sum = np.zeros(0)
    for window in config.card_windows_ms:
        start = np.searchsorted(sorted_keys, keys - window, side="left")
        starts.append(start)
        prior_count = end - start
        prior_sum = end_sum - prefix(start)
        count = prior_count + 1.0
        total = prior_sum + amount
        columns += [count, total, total / count]
    n = len(ts)
    prior_mean = np.divide(prior_sum, prior_count, out=np.zeros(n), where=prior_count > 0)
    columns.append(np.divide(amount, prior_mean, out=np.ones(n), where=prior_mean > 0))
    has_prev = end > group_start
    gap = np.full(n, config.max_gap_seconds)
    previous_ts = np.asarray(rel[order])[end[has_prev] - 1] + offset
    gap[has_prev] = np.minimum((ts[has_prev] - previous_ts) / 1000.0, config.max_gap_seconds)
    columns.append(gap)

    # terminal novelty: the card's latest earlier transaction at the same terminal
    longest = max(config.card_windows_ms)
    terminal_codes = pd.factorize(terminal)[0].astype(np.int64)
    pair = pd.factorize(codes * (int(terminal_codes.max()) + 1) + terminal_codes)[0].astype(np.int64)
    pair_keys = pair * span + rel
    pair_sorted = np.sort(pair_keys)
    pair_end = np.searchsorted(pair_sorted, pair_keys, side="left")
    pair_start = np.searchsorted(pair_sorted, pair * span, side="left")
    seen = np.zeros(n, dtype=bool)
    has = pair_end > pair_start
    seen[has] = pair_sorted[pair_end[has] - 1] >= pair_keys[has] - longest
    columns.append((~seen).astype(float))
    columns.append((small_prefix[end] - small_prefix[starts[1]]).astype(float))

    # fraud labels of the card's earlier transactions, known at t (reported before t - lag)
    label_codes = pd.Index(card_uniques).get_indexer(frauds["card_id"].to_numpy())
    known = label_codes >= 0
    labels = pd.DataFrame(
        {"code": label_codes[known], "lts": frauds["ts"].to_numpy()[known], "rep": frauds["rep"].to_numpy()[known]}
    )
    txs = pd.DataFrame({"row": np.arange(n), "code": codes, "ts": ts})
    pairs = txs[txs["code"].isin(labels["code"].unique())].merge(labels, on="code")
    known = pairs["rep"] < pairs["ts"] - config.label_lag_ms
    mask = (pairs["lts"] >= pairs["ts"] - longest) & (pairs["lts"] < pairs["ts"]) & known
    columns.append(_pair_counts(pairs["row"].to_numpy(), mask.to_numpy(), n))
    return columns


def terminal_block(
    terminal: np.ndarray, ts: np.ndarray, frauds: pd.DataFrame, config: FeatureConfig
) -> list[np.ndarray]:
    codes, uniques = pd.factorize(terminal)
    codes = codes.astype(np.int64)
    day = ts // DAY_MS
    first_day = int(day.min()) - config.terminal_retention_days - 1
    rel_day = day - first_day
    span = int(rel_day.max()) + 2
    keys = np.sort(codes * span + rel_day)

    label_codes = pd.Index(uniques).get_indexer(frauds["terminal_id"].to_numpy())
    known = label_codes >= 0  # labels of terminals without transactions here cannot be in a window
    labels = pd.DataFrame(
        {
            "code": label_codes[known].astype(np.int64),
            "lday": frauds["ts"].to_numpy()[known] // DAY_MS - first_day,
            "rep": frauds["rep"].to_numpy()[known],
        }
    )
    txs = pd.DataFrame({"row": np.arange(len(ts)), "code": codes, "day": rel_day, "ts": ts})
    reach = config.terminal_delay_days + max(config.terminal_window_days)
    pairs = txs[txs["code"].isin(labels["code"].unique())].merge(labels, on="code")
    pairs = pairs[
        (pairs["lday"] < pairs["day"])
        & (pairs["lday"] >= pairs["day"] - reach)
        & (pairs["rep"] < pairs["ts"] - config.label_lag_ms)
    ]
    pair_rows, pair_lday, pair_day = (pairs[c].to_numpy() for c in ("row", "lday", "day"))

    columns: list[np.ndarray] = []
    for delay, windows in ((config.terminal_delay_days, config.terminal_window_days),
                           (0, config.terminal_recent_window_days)):  # fmt: skip
        end_day = rel_day - delay
        for days in windows:
            count = np.searchsorted(keys, codes * span + end_day, "left") - np.searchsorted(
                keys, codes * span + end_day - days, "left"
            )
            in_window = (pair_lday >= pair_day - delay - days) & (pair_lday < pair_day - delay)
            fraud_count = _pair_counts(pair_rows, in_window, len(ts))
            columns += [count.astype(float), np.divide(fraud_count, count, out=np.zeros(len(ts)), where=count > 0)]
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
    ts = epoch_millis(transactions["event_time"])
    amount = transactions["amount"].to_numpy(dtype=float)
    columns = transaction_block(ts, amount)
    progress("card windows")
    frauds = labels[labels["is_fraud"].astype(bool)]
    frauds = frauds.sort_values("reported_at", kind="stable").drop_duplicates("transaction_id", keep="first")
    frauds = pd.DataFrame(
        {
            "card_id": frauds["card_id"].to_numpy(),
            "terminal_id": frauds["terminal_id"].to_numpy(),
            "ts": epoch_millis(frauds["event_time"]),
            "rep": epoch_millis(frauds["reported_at"]),
        }
    )
    terminal = transactions["terminal_id"].to_numpy()
    columns += card_block(transactions["card_id"].to_numpy(), ts, amount, terminal, frauds, config)
    progress("terminal windows")
    columns += terminal_block(terminal, ts, frauds, config)
    columns += categorical_block(transactions)
    names = feature_names(config)
    return pd.DataFrame(dict(zip(names, columns, strict=True)), index=transactions.index)
