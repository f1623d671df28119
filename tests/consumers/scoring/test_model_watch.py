"""The model watch: the production model, reloaded between batches when the alias moves, never mid-batch."""

from __future__ import annotations

import json

import pytest

from consumers.scoring.model_watch import ModelWatch
from registry import ModelRegistry, xgboost_to_bytes
from tests.consumers.scoring.fakes import tiny_model


def _version(registry: ModelRegistry, version: str, review: float) -> None:
    model = tiny_model()
    card = {"feature_names": model.feature_names, "thresholds": {"review": review, "decline": 0.9}, "gates": {}}
    registry.save_version(version, {
        "model.json": xgboost_to_bytes(model.booster), "baseline.json": b"{}", "drift_reference.json": b"{}",
        "model_card.json": json.dumps(card).encode(),
    })  # fmt: skip


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    registry = ModelRegistry(f"file://{tmp_path}")
    _version(registry, "v1", 0.3)
    _version(registry, "v2", 0.4)
    registry.set_alias("production", "v1")
    return registry


def test_the_alias_is_checked_once_an_interval_and_a_move_loads_the_new_version(registry) -> None:
    now = [0.0]
    seen: list[str] = []
    watch = ModelWatch(registry, interval=2.0, clock=lambda: now[0], on_change=lambda m: seen.append(m.version))
    assert (watch.current.version, seen) == ("v1", ["v1"])
    registry.set_alias("production", "v2")
    now[0] = 1.0
    assert watch.maybe_reload() is False  # not yet: one batch scores with one version
    assert watch.current.version == "v1"
    now[0] = 2.5
    assert watch.maybe_reload() is True
    assert (watch.current.version, watch.current.review_threshold, seen) == ("v2", 0.4, ["v1", "v2"])
    now[0] = 5.0
    assert watch.maybe_reload() is False  # unchanged alias: no reload


def test_a_failed_reload_keeps_scoring_with_the_current_model(registry, tmp_path) -> None:
    now = [0.0]
    watch = ModelWatch(registry, interval=1.0, clock=lambda: now[0])
    registry.set_alias("production", "v2")
    (tmp_path / "versions" / "v2" / "model.json").write_bytes(b"tampered")  # fails its checksum
    now[0] = 2.0
    assert watch.maybe_reload() is False
    assert watch.current.version == "v1"
