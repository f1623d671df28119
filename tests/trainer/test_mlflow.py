"""MLflow against a real tracking server (PyPI's mlflow, SQLite backend), started by the test."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bench.harness import free_port
from cli.main import main
from producers.config import GeneratorConfig
from producers.generator import generate_to
from registry import ModelRegistry

NO_GATES = ["--min-f1", "0", "--min-precision", "0", "--min-recall", "0", "--min-average-precision", "0"]


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    binary = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    with open(root / "server.log", "wb") as log:
        server = subprocess.Popen(
            [binary, "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination",
             str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        assert server.poll() is None, (root / "server.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "the MLflow server did not start in 120 s"
        time.sleep(0.5)
    yield uri
    server.terminate()
    server.wait(30)


def test_runs_versions_and_aliases_follow_train_promote_and_rollback(tracking_uri, tmp_path, monkeypatch, capsys):
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
