"""``Dataset.between``: what a replay sends in a time span, transactions by event time, labels by report time."""

from __future__ import annotations

import pandas as pd

from producers.config import GeneratorConfig
from producers.generator import generate


def test_between_splits_a_dataset_at_a_time_without_losing_or_repeating_an_event() -> None:
    dataset = generate(GeneratorConfig(n_customers=100, n_terminals=200, n_days=20, seed=3), lambda m: None)
    cut = dataset.transactions["event_time"].min().normalize() + pd.Timedelta(days=10)
    before, after = dataset.between(None, cut), dataset.between(cut, None)
    assert len(before.transactions) + len(after.transactions) == len(dataset.transactions)
    assert len(before.labels) + len(after.labels) == len(dataset.labels)
    assert (before.transactions["event_time"] <= cut).all()
    assert (after.labels["reported_at"] > cut).all()
    # a label reported after the cut for a transaction before it goes with the later events
    assert (after.labels["event_time"] <= cut).any()
    assert len(dataset.between(None, None).transactions) == len(dataset.transactions)
