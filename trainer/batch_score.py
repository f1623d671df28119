"""``fraudstream score``: score a file of transactions with a stored model (daily batch inference).

Features come from the same engine (its batch form) over the file's whole history, with labels
applied at their report time, so a transaction gets the score the stream worker gives it for the
same history. One output row per transaction: ids, event time, score, decision, model version, and
every feature. Parquet or CSV by the output's extension.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from features.batch import compute_features
from producers.adapters import load_dataset
from registry import ModelRegistry
from schemas.dataset import LABEL_DELAY_DAYS

Progress = Callable[[str], None]


def score_dataset(
    data: Path,
    store_uri: str,
    out: Path,
    model_ref: str = "production",
    columns: dict[str, str] | None = None,
    label_delay_days: float = LABEL_DELAY_DAYS,
    progress: Progress = print,
) -> dict[str, Any]:
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"output {out} must end in .parquet or .csv")
    started = time.perf_counter()
    model = ModelRegistry(store_uri).load(model_ref)
    progress(
        f"model {model.version} (review >= {model.review_threshold:.4f}, decline >= {model.decline_threshold:.4f})"
    )
    dataset = load_dataset(data, columns, label_delay_days)
    tx = dataset.transactions
    progress(f"computing features for {len(tx):,} transactions")
    features = compute_features(tx, dataset.labels)
    missing = [name for name in model.feature_names if name not in features.columns]
    if missing:
        raise ValueError(f"model {model.version} needs features this engine does not compute: {missing}")
    progress("scoring")
    scores = model.predict(features[model.feature_names].to_numpy(dtype=float))
    result = pd.concat(
        [
            pd.DataFrame(
                {
                    "transaction_id": tx["transaction_id"].to_numpy(),
                    "card_id": tx["card_id"].to_numpy(),
                    "event_time": tx["event_time"].to_numpy(),
                    "score": scores,
                    "decision": model.decide(scores),
                    "model_version": model.version,
                },
                index=tx.index,
            ),
            features[model.feature_names],
        ],
        axis=1,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        result.to_parquet(out, index=False)
    else:
        result.to_csv(out, index=False)
    elapsed = time.perf_counter() - started
    mix = result["decision"].value_counts().to_dict()
    return {"rows": len(result), "model_version": model.version, "decisions": mix, "seconds": round(elapsed, 2)}
