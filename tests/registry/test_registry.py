"""The model store and registry, on a local folder and on a real HTTP S3 endpoint (moto server)."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator

import boto3
import pytest

from registry import ModelRegistry, RegistryError
from registry.store import FileStore, S3Store, StoreError, open_store


def _card(version: str, ap: float, failed: list[str] | None = None, data: str = "d1") -> dict:
    return {
        "model_id": version,
        "feature_names": ["a"],
        "thresholds": {"review": 0.5, "decline": 0.9},
        "metrics": {"xgboost": {"average_precision": ap, "auc_roc": 0.9}},
        "gates": {"failed": failed or []},
        "data": {"sha256": data},
        "periods": {"test_start": "2026-05-01"},
    }


def _artifacts(version: str, ap: float, **kw) -> dict[str, bytes]:
    return {
        "model.json": b"{}",
        "baseline.json": b"{}",
        "drift_reference.json": b'{"features": {}}',
        "model_card.json": json.dumps(_card(version, ap, **kw)).encode(),
    }


@pytest.fixture
def s3_endpoint(monkeypatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                       "FRAUDSTREAM_S3_ENDPOINT_URL": url}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    # moto keeps its state per process: start every test from an empty endpoint
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="models")
    yield url
    server.stop()


@pytest.fixture(params=["file", "s3"])
def registry(request, tmp_path) -> ModelRegistry:
    if request.param == "file":
        return ModelRegistry(f"file://{tmp_path}/store")
    request.getfixturevalue("s3_endpoint")
    return ModelRegistry("s3://models/fraudstream")


def test_open_store_understands_file_s3_and_refuses_others(tmp_path) -> None:
    assert isinstance(open_store(f"file://{tmp_path}"), FileStore)
    assert isinstance(open_store(str(tmp_path)), FileStore)
    with pytest.raises(StoreError, match="unsupported"):
        open_store("ftp://x/y")


def test_versions_are_immutable_and_listed(registry: ModelRegistry) -> None:
    registry.save_version("v1", _artifacts("v1", 0.7))
    assert registry.versions() == ["v1"]
    with pytest.raises(RegistryError, match="immutable"):
        registry.save_version("v1", _artifacts("v1", 0.9))
    assert registry.card("v1")["metrics"]["xgboost"]["average_precision"] == 0.7


def test_a_tampered_artifact_is_refused_on_load(registry: ModelRegistry) -> None:
    registry.save_version("v1", _artifacts("v1", 0.7))
    registry.store.put("versions/v1/model_card.json", json.dumps(_card("v1", 0.99)).encode())
    with pytest.raises(RegistryError, match="checksum"):
        registry.card("v1")


def test_promote_checks_gates_and_refuses_a_worse_model(registry: ModelRegistry) -> None:
    registry.save_version("good", _artifacts("good", 0.8))
    registry.save_version("failed", _artifacts("failed", 0.9, failed=["recall 0.5 < 0.70"]))
    registry.save_version("worse", _artifacts("worse", 0.7))
    registry.save_version("other-data", _artifacts("other-data", 0.95, data="d2"))
    registry.promote("good")
    assert registry.resolve("production") == "good"
    with pytest.raises(RegistryError, match="acceptance gates"):
        registry.promote("failed")
    with pytest.raises(RegistryError, match="worse"):
        registry.promote("worse")
    with pytest.raises(RegistryError, match="other data"):
        registry.promote("other-data")
    assert registry.resolve("production") == "good"
    notes = registry.promote("worse", force=True)
    assert any("0.7000" in note for note in notes)
    assert registry.resolve("production") == "worse"


def test_rollback_restores_the_previous_production_versions_in_turn(registry: ModelRegistry) -> None:
    for version, ap in (("v1", 0.7), ("v2", 0.8), ("v3", 0.9)):
        registry.save_version(version, _artifacts(version, ap))
        registry.promote(version)
    assert registry.rollback() == "v2"
    assert registry.resolve("production") == "v2"
    assert registry.rollback() == "v1"
    with pytest.raises(RegistryError, match="no earlier version"):
        registry.rollback()


def test_unknown_refs_explain_what_to_do(registry: ModelRegistry) -> None:
    with pytest.raises(RegistryError, match="train and promote"):
        registry.resolve("production")
    with pytest.raises(RegistryError, match="model list"):
        registry.resolve("nope")


def test_s3_put_new_refuses_to_overwrite(s3_endpoint) -> None:
    store = S3Store("models", "p")
    store.put_new("a/b", b"1")
    with pytest.raises(StoreError, match="immutable"):
        store.put_new("a/b", b"2")
    assert store.get("a/b") == b"1"
    assert store.list("a/") == ["a/b"]
