"""Drift detection quality and cost: false alarms, detection delay, and one window's evaluation time.

    uv run python bench/drift.py

Data: 1,000 cards, 2,000 terminals, 100 days (seed 41); a model trained on days 35-42; decisions
computed offline (batch features + model, the worker's output for the same data) from day 42 on,
evaluated in daily tumbling windows by the drift consumer's window code (no Kafka: the Kafka path
is covered by tests/integration/test_drift.py). Alerts are ALERT statuses (PSI >= 0.25) on
non-calendar features; WARN windows are counted separately. Writes bench/results/drift.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

from bench.harness import add_smoke_flag, results_dir
from consumers.drift.config import DriftThresholds
from consumers.drift.windows import ReferenceBins, WindowBook, WindowState
from producers.adapters import load_dataset
from producers.config import DriftSpec, GeneratorConfig
from producers.generator import generate_to
from registry import ModelRegistry
from schemas.codec import AvroCodec
from schemas.dataset import Dataset
from trainer.config import Gates, PeriodConfig, TrainConfig
from trainer.drift_backfill import offline_decisions
from trainer.train import train

CALENDAR = {"hour_sin", "hour_cos", "is_night", "is_weekend"}
START = date(2026, 4, 1)
DAY_MS = 86_400_000


def windows(records: list[dict], bins: ReferenceBins) -> list[dict]:
    book = WindowBook(DAY_MS, 3_600_000)
    reports = []
    for record in records:
        ts = int(record["event_time"].timestamp() * 1000)
        window = book.window_for(ts, record["model_version"])
        book.advance(ts)
        if window is not None:
            window.add(bins, [record])
        for closed in book.closable():
            reports.append(closed.report(bins, DriftThresholds()))
    reports += [w.report(bins, DriftThresholds()) for w in book.closable(force=True)]
    return reports


def alerts(report: dict, level: str = "ALERT") -> set[str]:
    return {f["feature"] for f in report["features"] if f["status"] == level and f["feature"] not in CALENDAR}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_smoke_flag(parser)
    args = parser.parse_args()
    cards = 100 if args.smoke else 1_000
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generator = GeneratorConfig(n_customers=cards, n_terminals=2 * cards, n_days=70 if args.smoke else 100, seed=41)
        generate_to(generator, data, progress=lambda m: None)
        store = f"file://{tmp}/models"
        periods = PeriodConfig(train_start=START + timedelta(days=35))
        config = TrainConfig(data=data, store_uri=store, report_dir=Path(tmp) / "r", gates=Gates.off(), periods=periods,
                             trials=0)  # fmt: skip
        result = train(config, progress=lambda m: None)
        registry = ModelRegistry(store)
        model = registry.load(result.version)
        bins = ReferenceBins(registry.drift_reference(result.version))
        dataset = load_dataset(data)
    codec = AvroCodec.for_record("Decision")
    stream_start = pd.Timestamp(START + timedelta(days=42), tz="UTC")
    shift_at = stream_start + pd.Timedelta(days=20, hours=6)

    def run(ds: Dataset) -> list[dict]:
        events = offline_decisions(ds, model, "decisions")
        start_ms = int(stream_start.timestamp() * 1000)
        records = [codec.decode(e.value) for e in events if e.timestamp_ms >= start_ms]
        records.sort(key=lambda r: r["event_time"])
        return windows(records, bins)

    calm = [r for r in run(dataset) if r["event_count"] > cards]
    results["stationary"] = {
        "windows": len(calm),
        "windows_with_alert": sum(1 for r in calm if alerts(r)),
        "windows_with_warn_only": sum(1 for r in calm if alerts(r, "WARN") and not alerts(r)),
        "warn_features": sorted({f for r in calm for f in alerts(r, "WARN")}),
    }
    print("stationary", results["stationary"], flush=True)
    shift_ms = int(shift_at.timestamp() * 1000)
    shifts: dict[str, dict] = {
        "amount x1.5": {"amount_scale": 1.5},
        "merchant mix 30% -> 7995": {"merchant_mix": {"7995": 1.0}, "merchant_share": 0.3},
    }
    for name, spec in shifts.items():
        changed, _ = DriftSpec(start=shift_at.to_pydatetime(), seed=3, **spec).apply(dataset.transactions)
        reports = run(Dataset(changed, dataset.labels))
        after = [r for r in reports if r["window_end"] > shift_ms and alerts(r)]
        first = min(after, key=lambda r: r["window_start"]) if after else None
        results[name] = {
            "shift_at": shift_at.isoformat(),
            "first_alert_window_end": pd.Timestamp(first["window_end"], unit="ms", tz="UTC").isoformat()
            if first
            else None,
            "detection_delay_hours": round((first["window_end"] - shift_ms) / 3_600_000, 1) if first else None,
            "alerted_features": sorted(alerts(first)) if first else [],
            "false_alarm_windows_before_shift": sum(1 for r in reports if r["window_end"] <= shift_ms and alerts(r)),
        }
        print(name, results[name], flush=True)

    # cost: one window of 10,000 decisions, every feature and the score
    events = offline_decisions(Dataset(dataset.transactions.head(10_000), dataset.labels), model, "d")
    records = [codec.decode(e.value) for e in events]
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        window = WindowState(0, DAY_MS, model.version)
        window.add(bins, records)
        window.report(bins, DriftThresholds())
        timings.append(time.perf_counter() - started)
    results["window_of_10000_seconds"] = {
        "median": round(float(np.median(timings)), 4),
        "runs": [round(t, 4) for t in timings],
    }
    print("window of 10,000 events:", results["window_of_10000_seconds"], flush=True)
    (results_dir(args.smoke) / "drift.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
