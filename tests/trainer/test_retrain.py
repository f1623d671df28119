"""``retrain``: the drift trigger, the comparison on the newest holdout, and staging by the F1 rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli.main import main
from registry import ModelRegistry
from trainer.config import Gates, RetrainConfig, TrainConfig
from trainer.retrain import retrain
from trainer.train import train


@pytest.fixture(scope="module")
def weak_store(long_data, tmp_path_factory) -> tuple[Path, str]:
    """A production model of depth-1 trees: any selected model beats it by far more than 0.02 F1."""
    root = tmp_path_factory.mktemp("weak")
    config = TrainConfig(data=long_data, store_uri=f"file://{root}/store", report_dir=root / "weak",
                         gates=Gates.off(), xgb_params={"max_depth": 1, "eta": 0.02})  # fmt: skip
    weak = train(config, progress=lambda m: None)
    ModelRegistry(f"file://{root}/store").set_alias("production", weak.version)
    return root / "store", weak.version


@pytest.fixture
def weak_production(weak_store, tmp_path) -> tuple[str, str]:
    """A copy of the weak model's store for one test."""
    shutil.copytree(weak_store[0], tmp_path / "store")
    return f"file://{tmp_path}/store", weak_store[1]


def _config(long_data, store: str, tmp_path, **options) -> RetrainConfig:
    training = TrainConfig(data=long_data, store_uri=store, report_dir=tmp_path / "candidate", gates=Gates.off(),
                           trials=3, time_budget_seconds=600)  # fmt: skip
    return RetrainConfig(train=training, **options)


def _report(version: str, end: int, psis: list[float]) -> dict:
    features = [{"feature": f"f{i}", "psi": p} for i, p in enumerate(psis)] + [{"feature": "score", "psi": 5.0}]
    return {"window_id": f"w{end}", "window_end": end, "model_version": version, "features": features}


def test_without_three_psi_alerts_in_the_newest_window_nothing_is_trained(weak_production, long_data, tmp_path) -> None:
    store, version = weak_production
    reports = [_report(version, 1, [0.9, 0.9, 0.9]), _report(version, 2, [0.9, 0.9, 0.1]),
               _report("another-model", 3, [0.9, 0.9, 0.9])]  # fmt: skip
    result = retrain(_config(long_data, store, tmp_path, trigger="drift"), reports, progress=lambda m: None)
    assert result.version is None
    assert result.trigger is not None
    assert not result.trigger.fired
    assert "on 2 features" in result.trigger.reason
    assert ModelRegistry(store).versions() == [version]


def test_a_drift_triggered_candidate_that_beats_production_by_the_margin_is_staged(
    weak_production, long_data, tmp_path
) -> None:
    store, version = weak_production
    reports = [_report(version, 2, [0.3, 0.4, 0.5, 0.0])]
    result = retrain(_config(long_data, store, tmp_path, trigger="drift"), reports, progress=lambda m: None)
    assert result.trigger is not None
    assert result.trigger.alert_features == ("f0", "f1", "f2")
    assert result.staged, result.reasons
    registry = ModelRegistry(store)
    assert registry.resolve("staging") == result.version != version
    assert registry.resolve("production") == version  # promotion stays a person's decision
    candidate, production = result.comparison["candidate"], result.comparison["production"]
    assert candidate["f1"] >= production["f1"] + 0.02
    # the production figure is production's own F1 at its own threshold on the candidate's test period
    assert production["version"] == version


def test_a_candidate_short_of_the_margin_is_stored_but_not_staged_and_the_cli_says_why(
    weak_production, long_data, tmp_path, capsys
) -> None:
    store, version = weak_production
    code = main(["retrain", "--data", str(long_data), "--store", store, "--report-dir", str(tmp_path / "r"),
                 "--min-f1-gain", "1.0", "--trials", "2", "--min-f1", "0", "--min-precision", "0",
                 "--min-recall", "0", "--min-average-precision", "0"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 3
    assert "NOT staged" in err
    assert "+ 1 on the same holdout" in err
    comparison = json.loads(out[out.index('{\n  "candidate"') : out.rindex("}") + 1])
    registry = ModelRegistry(store)
    assert comparison["candidate"]["version"] in registry.versions()
    assert registry.resolve("staging") == version  # where train put the weak one; the candidate did not move it
