"""The Grafana dashboards: generated from monitoring/dashboards.py, complete, and naming real metrics."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import REGISTRY

from fraudstream.settings import PROJECT_ROOT
from monitoring import dashboards
from monitoring.lag_exporter import LagCollector


def _exported_metric_names() -> set[str]:
    import consumers.drift.consumer
    import consumers.scoring.metrics  # noqa: F401
    import producers.replay_metrics  # noqa: F401

    names = set()
    for collector in (REGISTRY, LagCollector()):
        for family in collector.collect():
            names.add(family.name)
            names.update(sample.name for sample in family.samples)
            if family.type == "counter":
                names.add(family.name + "_total")
            if family.type == "histogram":
                names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def test_the_committed_json_is_what_the_generator_writes() -> None:
    assert dashboards.main(["--check"]) == 0
    assert {p.name for p in dashboards.DASHBOARD_DIR.glob("*.json")} == set(dashboards.rendered_files())


def test_every_metric_a_dashboard_or_rule_reads_is_exported_by_our_code() -> None:
    exported = _exported_metric_names()
    exprs = [expr for _, _, expr in dashboards.expressions()]
    for path in (PROJECT_ROOT / "monitoring/prometheus/rules").glob("*.yml"):
        exprs += [rule["expr"] for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]
    used = {name for expr in exprs for name in re.findall(r"\bfraudstream_[a-z0-9_]+", expr)}
    assert len(used) > 10
    assert used <= exported, sorted(used - exported)


def test_the_ops_view_has_the_panels_the_team_asked_for() -> None:
    text = " ".join(expr for _, _, expr in dashboards.expressions())
    for metric in ("fraudstream_consumer_lag_messages", "fraudstream_consumer_lag_seconds",
                   "fraudstream_worker_events_total", "fraudstream_worker_decisions_total",
                   "fraudstream_worker_dead_letters_total", "fraudstream_worker_event_to_decision_seconds_bucket",
                   "fraudstream_drift_psi", "fraudstream_drift_ks_statistic", "ALERTS",
                   "fraudstream_worker_model_info", "fraudstream_worker_shadow_agreement_ratio"):  # fmt: skip
        assert metric in text, metric
    assert "histogram_quantile(0.5," in text
    assert "histogram_quantile(0.99," in text


def test_panels_fit_the_grid_and_ids_are_unique() -> None:
    uids = set()
    for path in dashboards.DASHBOARD_DIR.glob("*.json"):
        board = json.loads(path.read_text())
        uids.add(board["uid"])
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), path.name
        cells = set()
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] >= 0, (path.name, panel["title"])
            assert grid["x"] + grid["w"] <= 24, (path.name, panel["title"])
            cell = {
                (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & cell, f"{path.name}: {panel['title']} overlaps another panel"
            cells |= cell
            assert panel["datasource"]["uid"] == "prometheus"
    assert len(uids) == len(dashboards.DASHBOARDS)
