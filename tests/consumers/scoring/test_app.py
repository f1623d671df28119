"""The worker's Faust app: bounded broker fetch wait, no Faust monitor, garbage-collector thresholds, model threads."""

from __future__ import annotations

import gc
import subprocess
import sys

from fraudstream.settings import PROJECT_ROOT

# In a child process: building a Faust app and its consumer leaves event-loop state behind.
PROBE = """
import asyncio
from consumers.scoring.config import WorkerConfig
from consumers.scoring.worker import build_app

async def main():
    app = build_app(WorkerConfig(bootstrap_servers="127.0.0.1:1", model_store="file:///nonexistent",
                                 fetch_max_wait=0.07, fetch_min_bytes=12345, data_dir=DATA_DIR, store="memory://"))
    consumer = app.consumer
    kafka_consumer = consumer._thread._create_worker_consumer(app.transport)
    print(kafka_consumer._fetch_max_wait_ms, kafka_consumer._fetch_min_bytes)
    app.on_init_dependencies()  # what starting the app does first
    print("monitor" if app.monitor in set(app.sensors) else "no monitor", len(set(app.sensors)))

asyncio.run(main())
"""


def test_the_worker_consumer_asks_the_broker_for_a_short_fetch_wait_and_a_batch_of_data(tmp_path) -> None:
    # Faust's driver hard-codes 1,500 ms; the worker stalled that long about every second. With
    # aiokafka's one-byte minimum it fetched every record or two at low rates.
    code = PROBE.replace("DATA_DIR", repr(str(tmp_path)))
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-2] == "70 12345"


def test_the_worker_app_starts_without_fausts_per_event_monitor(tmp_path) -> None:
    # four bookkeeping calls per event for web views the worker does not serve (BENCHMARKS.md)
    code = PROBE.replace("DATA_DIR", repr(str(tmp_path)))
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "no monitor 0"


def test_tune_gc_leaves_the_young_generation_uncollected_while_a_batch_allocates() -> None:
    """A batch's states are many small containers; with the default thresholds each few hundred of
    them started a collection that walked the worker's whole young state."""
    from consumers.scoring.app import tune_gc

    def collections_while_allocating() -> int:
        runs: list[int] = []

        def count(phase: str, info: dict) -> None:
            if phase == "start":
                runs.append(info["generation"])

        gc.collect()
        gc.callbacks.append(count)
        try:
            kept = [[i] for i in range(50_000)]  # a batch's worth of small containers
        finally:
            gc.callbacks.remove(count)
        assert len(kept) == 50_000
        return len(runs)

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # CPython's defaults
        assert collections_while_allocating() > 10
        tune_gc()
        assert collections_while_allocating() == 0
    finally:
        gc.set_threshold(*before)


def test_a_model_loaded_for_scoring_uses_the_configured_xgboost_threads() -> None:
    import json
    from dataclasses import replace

    import numpy as np
    import pytest
    import xgboost as xgb

    from consumers.scoring.model_watch import prepare_model
    from features.definitions import FEATURE_NAMES
    from registry import LoadedModel

    x = np.random.default_rng(1).random((50, len(FEATURE_NAMES)))
    booster = xgb.train({"nthread": 2}, xgb.DMatrix(x, label=x[:, 0] > 0.5, feature_names=list(FEATURE_NAMES)), 2)
    model = LoadedModel("m-1", booster, list(FEATURE_NAMES), 0.3, 0.8, {})

    prepare_model(model, threads=1)
    assert json.loads(booster.save_config())["learner"]["generic_param"]["nthread"] == "1"
    assert model.threads == 1  # the reason codes' DMatrix is built with one thread as well
    assert model.contributions(x[:3]).shape == (3, len(FEATURE_NAMES) + 1)
    with pytest.raises(ValueError, match="trained on features"):
        prepare_model(replace(model, feature_names=list(FEATURE_NAMES)[:-1]), threads=1)
