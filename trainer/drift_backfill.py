"""Decisions computed offline (batch features + a stored model), as the records the worker would send.

For backfilling drift over history, and for testing and benchmarking the drift consumer without a
worker in the loop. The features are the batch form of the same engine, so a stream of these is
what the worker emits for the same data (the worker parity test holds them equal).
"""

from __future__ import annotations

import time

from features.batch import compute_features
from producers.replay import ReplayEvent
from registry import LoadedModel
from schemas.codec import AvroCodec
from schemas.dataset import Dataset
from schemas.timestamps import epoch_millis


def offline_decisions(dataset: Dataset, model: LoadedModel, topic: str) -> list[ReplayEvent]:
    features = compute_features(dataset.transactions, dataset.labels)[model.feature_names]
    matrix = features.to_numpy(dtype=float)
    scores = model.predict(matrix)
    outcomes = model.decide(scores)
    codec = AvroCodec.for_record("Decision")
    tx = dataset.transactions
    times = epoch_millis(tx["event_time"])
    now = int(time.time() * 1000)
    events = []
    names = model.feature_names
    for row, (tx_id, card, terminal) in enumerate(
        zip(tx["transaction_id"], tx["card_id"], tx["terminal_id"], strict=True)
    ):
        record = {
            "transaction_id": tx_id, "card_id": card, "terminal_id": terminal, "event_time": int(times[row]),
            "decision_time": now, "score": float(scores[row]), "decision": str(outcomes[row]),
            "review_threshold": model.review_threshold, "decline_threshold": model.decline_threshold,
            "model_version": model.version, "reasons": [],
            "features": dict(zip(names, matrix[row].tolist(), strict=True)), "shadow": None,
        }  # fmt: skip
        events.append(ReplayEvent(topic, card.encode(), int(times[row]), codec.encode(record)))
    return events
