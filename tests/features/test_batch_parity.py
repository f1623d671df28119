"""The vectorised batch computation equals feeding the engine one event at a time."""

from __future__ import annotations

import numpy as np
import pytest

from features.batch import compute_features
from features.definitions import FEATURE_NAMES
from features.engine import FeatureEngine, LabelView, TransactionView
from producers.config import GeneratorConfig
from producers.generator import generate
from producers.replay import TRANSACTION, label_records, replay_order, transaction_records


@pytest.fixture(scope="module")
def dataset():
    return generate(GeneratorConfig(n_customers=250, n_terminals=400, n_days=50, seed=21))


def test_batch_features_equal_incremental_features_feature_by_feature(dataset) -> None:
    batch = compute_features(dataset.transactions, dataset.labels)
    assert list(batch.columns) == list(FEATURE_NAMES)
    engine = FeatureEngine()
    tx_records, lab_records = transaction_records(dataset.transactions), label_records(dataset.labels)
    incremental = np.zeros(batch.shape)
    kinds, rows, _ = replay_order(dataset)
    for kind, row in zip(kinds, rows, strict=True):
        if kind == TRANSACTION:
            incremental[row] = engine.process_transaction(TransactionView.from_record(tx_records[row]))
        else:
            engine.process_label(LabelView.from_record(lab_records[row]))
    expected = batch.to_numpy()
    mismatched = {
        name: int((~np.isclose(incremental[:, i], expected[:, i], rtol=1e-9, atol=1e-9)).sum())
        for i, name in enumerate(FEATURE_NAMES)
    }
    assert {k: v for k, v in mismatched.items() if v} == {}
    # the comparison is not vacuous: the history-dependent features vary
    for name in ("card_count_24h", "terminal_count_30d", "terminal_recent_risk_7d", "card_fraud_reported_30d"):
        assert batch[name].nunique() > 2, name


def test_labels_arriving_before_their_report_time_do_not_leak(dataset) -> None:
    """Feeding every label up front must give the same features: only reported_at < t counts."""
    batch = compute_features(dataset.transactions, dataset.labels)
    engine = FeatureEngine()
    for record in label_records(dataset.labels):
        engine.process_label(LabelView.from_record(record))
    vectors = np.array(
        [engine.process_transaction(TransactionView.from_record(r)) for r in transaction_records(dataset.transactions)]
    )
    assert np.allclose(vectors, batch.to_numpy(), rtol=1e-9, atol=1e-9)
