"""The synthetic generator: deterministic, realistic fraud mix, consistent labels and manifest."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from producers.config import GeneratorConfig
from producers.generator import generate, write_dataset

SCENARIOS = {
    "large_amount", "compromised_terminal", "compromised_card", "card_testing",
    "night_spending", "velocity_spike", "unusual_merchant",
}  # fmt: skip
SMALL = GeneratorConfig(n_customers=1_000, n_terminals=2_000, n_days=42, seed=3)


@pytest.fixture(scope="module")
def small() -> object:
    return generate(SMALL)


def test_the_same_seed_gives_identical_data(small) -> None:
    again = generate(SMALL)
    pd.testing.assert_frame_equal(small.transactions, again.transactions)
    pd.testing.assert_frame_equal(small.labels, again.labels)


def test_another_seed_gives_other_data(small) -> None:
    other = generate(GeneratorConfig(n_customers=1_000, n_terminals=2_000, n_days=42, seed=4))
    assert not small.transactions["amount"].equals(other.transactions["amount"])


def test_fraud_rate_is_within_realistic_bounds(small) -> None:
    rate = small.transactions["is_fraud"].mean()
    assert 0.003 < rate < 0.03, rate


def test_every_scenario_is_present(small) -> None:
    present = set(small.transactions["fraud_scenario"].dropna().unique())
    assert present == SCENARIOS


def test_labels_are_never_before_their_transaction_and_cover_every_fraud(small) -> None:
    tx, labels = small.transactions, small.labels
    assert (labels["reported_at"] >= labels["event_time"]).all()
    assert set(labels["transaction_id"]) == set(tx.loc[tx["is_fraud"], "transaction_id"])
    joined = labels.merge(tx[["transaction_id", "event_time", "card_id", "terminal_id"]], on="transaction_id")
    assert (joined["event_time_x"] == joined["event_time_y"]).all()
    assert (joined["card_id_x"] == joined["card_id_y"]).all()
    delay_days = (labels["reported_at"] - labels["event_time"]).dt.total_seconds() / 86_400
    assert 0.5 < delay_days.median() < 5  # reported days later
    assert (delay_days > 14).mean() > 0.03  # and some much later


def test_transactions_are_in_event_time_order_within_the_period(small) -> None:
    times = small.transactions["event_time"]
    assert times.is_monotonic_increasing
    assert times.min() >= pd.Timestamp(date(2026, 4, 1), tz="UTC")
    assert times.max() < pd.Timestamp(date(2026, 4, 1), tz="UTC") + pd.Timedelta(days=42)
    assert small.transactions["transaction_id"].is_unique


def test_scenarios_have_their_signature(small) -> None:
    tx = small.transactions
    by = tx.groupby(tx["fraud_scenario"].fillna("legit"))
    assert (tx.loc[tx["fraud_scenario"] == "large_amount", "amount"] > 220).all()
    night = tx.loc[tx["fraud_scenario"] == "night_spending", "event_time"].dt.hour
    assert night.between(1, 4).all()
    assert by["amount"].median()["card_testing"] < 5  # mostly tiny test charges
    unusual = tx[tx["fraud_scenario"] == "unusual_merchant"]
    assert unusual["merchant_category"].isin(["7995", "4829", "6051", "5967"]).all()
    assert (unusual["card_country"] != unusual["terminal_country"]).all()
    # legitimate spending is mostly daytime
    legit_hours = tx.loc[~tx["is_fraud"], "event_time"].dt.hour
    assert legit_hours.between(1, 4).mean() < 0.05


def test_manifest_hashes_match_the_files(small, tmp_path: Path) -> None:
    manifest = write_dataset(small, tmp_path)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest
    for entry in manifest["files"].values():
        assert hashlib.sha256((tmp_path / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["transactions"] == len(small.transactions)
    assert manifest["frauds"] == int(small.transactions["is_fraud"].sum())
    assert manifest["parameters"]["seed"] == 3
    assert set(manifest["scenarios"]) == SCENARIOS


@pytest.mark.parametrize(("field", "value"), [("n_customers", 0), ("late_report_fraction", 1.5), ("radius", -1.0)])
def test_bad_parameters_are_refused_with_the_value(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=str(value)):
        GeneratorConfig(**{field: value})
