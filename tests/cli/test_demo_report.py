"""The demo's report page and plots, from a small story (the demo test checks them on the real run)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cli.demo import Story
from cli.demo_report import write_report
from schemas.dataset import Dataset

DAY_MS = 86_400_000


def test_the_report_has_a_page_and_a_plot_for_drift_decisions_and_the_challenger(tmp_path) -> None:
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2026-06-01", tz="UTC")
    n = 400
    tx = pd.DataFrame({"transaction_id": [f"t{i}" for i in range(n)],
                       "event_time": start + pd.to_timedelta(np.arange(n) * 3600 * 6, unit="s"),
                       "is_fraud": rng.random(n) < 0.1})  # fmt: skip
    replayed = Dataset(tx, pd.DataFrame())
    for name, noise in (("scored.parquet", 0.8), ("scored-challenger.parquet", 0.2)):
        score = np.where(tx["is_fraud"], 1.0, 0.0) * (1 - noise) + rng.random(n) * noise
        pd.DataFrame({"transaction_id": tx["transaction_id"], "score": score}).to_parquet(tmp_path / name)
    reports = [{"model_version": "v1", "window_start": int(start.value // 1_000_000) + d * DAY_MS,
                "features": [{"feature": "amount", "psi": 0.01 if d < 3 else 0.6},
                             {"feature": "is_weekend", "psi": 5.0}]} for d in range(6)]  # fmt: skip
    decisions = [{"transaction_id": f"t{i}", "event_time": int(tx["event_time"][i].value // 1_000_000),
                  "decision": "REVIEW" if tx["is_fraud"][i] else "APPROVE", "model_version": "v1" if i < 300 else "v2"}
                 for i in range(n)]  # fmt: skip
    story = Story(lines=["parity: 0 differences"], reports=reports, decisions=decisions + decisions[:5])
    page = write_report(tmp_path / "report", story, replayed,
                        {"champion": "v1", "challenger": "v2", "drift_start": start + pd.Timedelta(days=3),
                         "test_start": start + pd.Timedelta(days=50)})  # fmt: skip
    text = page.read_text()
    assert "- parity: 0 differences" in text
    for image in ("drift.png", "decisions.png", "challenger.png"):
        assert f"]({image})" in text
        assert (tmp_path / "report" / image).stat().st_size > 10_000
    assert "challenger AP 1.000" in text
