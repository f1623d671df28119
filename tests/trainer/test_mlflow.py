"""MLflow against a real tracking server (PyPI's mlflow, SQLite backend, ``tests/mlflow_server.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from producers.config import GeneratorConfig
from producers.generator import generate_to
from registry import ModelRegistry

NO_GATES = ["--min-f1", "0", "--min-precision", "0", "--min-recall", "0", "--min-average-precision", "0"]


def test_runs_versions_and_aliases_follow_train_promote_and_rollback(
    mlflow_tracking_uri, tmp_path, monkeypatch, capsys
) -> None:
    tracking_uri = mlflow_tracking_uri
    import mlflow

    data = tmp_path / "data"
    generate_to(GeneratorConfig(n_customers=300, n_terminals=600, n_days=30, seed=9), data, progress=lambda m: None)
    store = f"file://{tmp_path}/store"
    monkeypatch.setenv("FRAUDSTREAM_MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("FRAUDSTREAM_HOME", str(tmp_path))

    def train() -> str:
        assert main(["train", "--data", str(data), "--store", store, "--trials", "0", *NO_GATES]) == 0
        out = capsys.readouterr().out
        assert "MLflow run " in out
        return out.split("model version ")[1].split()[0]

    first = train()
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    card = ModelRegistry(store).card(first)
    (run,) = mlflow.search_runs(experiment_names=["fraudstream"], output_format="list")
    assert run.data.tags["fraudstream_version"] == first
    assert run.data.params["data_sha256"] == card["data"]["sha256"]
    assert run.data.params["family"] == "xgboost"
    xgb = card["metrics"]["xgboost"]
    assert run.data.metrics["test_average_precision"] == pytest.approx(xgb["average_precision"])
    assert run.data.metrics["test_f1_at_review"] == pytest.approx(xgb["at_review_threshold"]["f1"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"report/pr_curve.png", "report/roc_curve.png"} <= artifacts
    logged = client.download_artifacts(run.info.run_id, "model_card.json", str(tmp_path))
    logged_card = json.loads(Path(logged).read_text())
    assert logged_card["model_id"] == first
    (version,) = client.search_model_versions("name='fraudstream'")
    assert version.tags["fraudstream_version"] == first
    model = mlflow.xgboost.load_model(f"models:/fraudstream/{version.version}")
    assert model.num_boosted_rounds() == card["parameters"]["xgboost"]["rounds"]

    def aliases() -> dict[str, str]:
        return {alias: str(v) for alias, v in client.get_registered_model("fraudstream").aliases.items()}

    assert aliases() == {"staging": "1"}  # train staged it (gates off)
    assert main(["model", "promote", first, "--store", store]) == 0
    assert aliases() == {"staging": "1", "production": "1"}
    second = train()
    assert aliases() == {"staging": "2", "production": "1"}
    assert main(["model", "promote", second, "--store", store]) == 0
    assert aliases()["production"] == "2"
    assert main(["model", "rollback", "--store", store]) == 0
    assert aliases()["production"] == "1"
    assert ModelRegistry(store).resolve("production") == first  # the project's store is the source of truth
