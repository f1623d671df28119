"""The Grafana dashboards, written as data: ``python -m monitoring.dashboards`` regenerates the JSON.

Grafana provisions ``monitoring/grafana/dashboards/*.json`` (see docker-compose.yml). The JSON is
generated from this module so that every panel has the same data source, layout rules and units,
and a test checks the committed files equal the generated ones. Every PromQL expression here is
evaluated against a live Prometheus scraping the running pipeline by
``tests/integration/test_live_prometheus.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DASHBOARD_DIR = Path(__file__).resolve().parent / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 12
    height: int = 8
    description: str = ""
    stacked: bool = False
    thresholds: tuple[tuple[float, str], ...] = ()
    mappings: dict[str, str] = field(default_factory=dict)
    #: stat panels: show the series name (e.g. the model version label) instead of the value
    show_name: bool = False


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    description: str = ""


def q(expr: str, legend: str = "") -> Query:
    return Query(" ".join(expr.split()), legend)


RATE = "1m"
QUANTILE = "histogram_quantile({q}, sum by (le) (rate(fraudstream_worker_event_to_decision_seconds_bucket[{w}])))"
STATUS_COLOURS = ((0, "green"), (1, "orange"), (2, "red"))
STATUS_TEXT = {"0": "OK", "1": "WARN", "2": "ALERT"}

PIPELINE = Dashboard(
    uid="fraudstream-pipeline",
    title="fraudstream / scoring pipeline",
    description="Throughput, decisions, dead letters, latency, model version and shadow model of the worker.",
    panels=(
        Panel(
            "Throughput in: events per second",
            (
                q(
                    f"sum by (topic) (rate(fraudstream_producer_events_acknowledged_total[{RATE}]))",
                    "produced to {{topic}}",
                ),
                q(f"sum by (kind) (rate(fraudstream_worker_events_total[{RATE}]))", "worker consumed {{kind}}s"),
            ),
            unit="ops",
        ),
        Panel(
            "Throughput out: decisions per second, by outcome",
            (q(f"sum by (decision) (rate(fraudstream_worker_decisions_total[{RATE}]))", "{{decision}}"),),
            unit="ops",
            stacked=True,
        ),
        Panel(
            "Decision mix (share of decisions, 5 m)",
            (
                q(
                    """sum by (decision) (rate(fraudstream_worker_decisions_total[5m]))
                 / ignoring (decision) group_left sum(rate(fraudstream_worker_decisions_total[5m]))""",
                    "{{decision}}",
                ),
            ),
            unit="percentunit",
            stacked=True,
        ),
        Panel(
            "Dead letters per second, by reason",
            (
                q(f"sum by (reason) (rate(fraudstream_worker_dead_letters_total[{RATE}]))", "{{reason}}"),
                q(
                    f"""sum(rate(fraudstream_worker_dead_letters_total[{RATE}]))
                  / clamp_min(sum(rate(fraudstream_worker_events_total{{kind="transaction"}}[{RATE}]))
                              + sum(rate(fraudstream_worker_dead_letters_total[{RATE}])), 1e-9)""",
                    "share of input",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Event-to-decision latency",
            (
                q(QUANTILE.format(q="0.5", w=RATE), "p50"),
                q(QUANTILE.format(q="0.99", w=RATE), "p99"),
            ),
            unit="s",
            description="From the transaction's record timestamp to its decision being produced.",
        ),
        Panel(
            "Micro-batches",
            (
                q(
                    f"""sum(rate(fraudstream_worker_batch_size_sum[{RATE}]))
                  / clamp_min(sum(rate(fraudstream_worker_batch_size_count[{RATE}])), 1e-9)""",
                    "mean batch size",
                ),
                q(
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(fraudstream_worker_batch_processing_seconds_bucket[{RATE}]))) * 1000",
                    "p99 batch processing (ms)",
                ),
            ),
        ),
        Panel(
            "Production model version",
            (q("max by (version) (fraudstream_worker_model_info)", "{{version}}"),),
            kind="stat",
            width=6,
            show_name=True,
            description="The version scoring now; it changes on promotion, without restart.",
        ),
        Panel("Model reloads", (q("sum(fraudstream_worker_model_reloads_total)", "reloads"),), kind="stat", width=6),
        Panel(
            "Shadow model: agreement with the champion",
            (
                q("fraudstream_worker_shadow_agreement_ratio", "agreement ({{shadow}})"),
                q("fraudstream_worker_shadow_precision_ratio", "precision {{model}}"),
                q("fraudstream_worker_shadow_recall_ratio", "recall {{model}}"),
            ),
            unit="percentunit",
            description="Only with `fraudstream worker --shadow river|staging|VERSION`; never acted on. Precision "
            "and recall at each model's own thresholds, on matured outcomes.",
        ),
        Panel(
            "Champion and challenger: average precision on matured labels",
            (q("fraudstream_worker_shadow_average_precision_ratio", "average precision {{model}}"),),
            unit="percentunit",
            description="The ranking quality a review queue sees, for the champion and the shadow, over the last "
            "100,000 outcomes that matured (a fraud label, or none for 14 days of event time; how many: "
            "fraudstream_worker_shadow_matured_outcomes): the evidence for `fraudstream model promote`.",
        ),
        Panel(
            "Alerts firing",
            (q('count(ALERTS{alertstate="firing"}) or vector(0)', "firing"),),
            kind="stat",
            width=6,
            thresholds=((0, "green"), (1, "red")),
        ),
        Panel(
            "Scrape targets up",
            (q("up", "{{job}}"),),
            kind="stat",
            width=6,
            thresholds=((0, "red"), (1, "green")),
            mappings={"0": "DOWN", "1": "UP"},
        ),
    ),
)

LAG = Dashboard(
    uid="fraudstream-lag",
    title="fraudstream / consumer lag",
    description="Per consumer group, topic and partition, from `fraudstream lag-exporter`.",
    panels=(
        Panel(
            "Lag in messages, per partition",
            (q("fraudstream_consumer_lag_messages", "{{group}} {{topic}}/{{partition}}"),),
        ),
        Panel(
            "Lag in seconds (age of the oldest unconsumed event), per partition",
            (q("fraudstream_consumer_lag_seconds", "{{group}} {{topic}}/{{partition}}"),),
            unit="s",
        ),
        Panel(
            "Total lag per group and topic",
            (q("sum by (group, topic) (fraudstream_consumer_lag_messages)", "{{group}} {{topic}}"),),
        ),
        Panel(
            "Worst lag in seconds per group",
            (q("max by (group) (fraudstream_consumer_lag_seconds)", "{{group}}"),),
            unit="s",
        ),
        Panel(
            "Lag exporter up",
            (q("fraudstream_consumer_lag_exporter_up", "measuring"),),
            kind="stat",
            width=6,
            thresholds=((0, "red"), (1, "green")),
            mappings={"0": "FAILING", "1": "OK"},
        ),
        Panel(
            "Failed measurement rounds (1 h)",
            (q("increase(fraudstream_consumer_lag_exporter_failures_total[1h])", "failures"),),
            kind="stat",
            width=6,
        ),
    ),
)

DRIFT = Dashboard(
    uid="fraudstream-drift",
    title="fraudstream / feature drift",
    description="PSI and KS per feature for each closed tumbling window, from `fraudstream drift`.",
    panels=(
        Panel(
            "PSI per feature (last closed window)",
            (q("fraudstream_drift_psi", "{{feature}}"),),
            thresholds=((0, "green"), (0.1, "orange"), (0.25, "red")),
            description="0.1 warns, 0.25 alerts (the drift consumer's defaults).",
        ),
        Panel("KS statistic per feature (last closed window)", (q("fraudstream_drift_ks_statistic", "{{feature}}"),)),
        Panel(
            "Window status",
            (q("fraudstream_drift_window_status", "last window"),),
            kind="stat",
            width=6,
            thresholds=STATUS_COLOURS,
            mappings=STATUS_TEXT,
        ),
        Panel(
            "Features in ALERT",
            (q("count(fraudstream_drift_status >= 2) or vector(0)", "features"),),
            kind="stat",
            width=6,
            thresholds=((0, "green"), (1, "red")),
        ),
        Panel("Decisions per window", (q("fraudstream_drift_window_events", "events"),), kind="stat", width=6),
        Panel(
            "Late decisions (after their window closed) per second",
            (q(f"rate(fraudstream_drift_late_events_total[{RATE}])", "late"),),
            kind="stat",
            width=6,
            unit="ops",
        ),
        Panel(
            "Feature status over time (0 OK, 1 WARN, 2 ALERT)",
            (q("fraudstream_drift_status", "{{feature}}"),),
            width=24,
            thresholds=STATUS_COLOURS,
        ),
        Panel(
            "Closed windows per hour, by status",
            (q("sum by (status) (increase(fraudstream_drift_windows_total[1h]))", "{{status}}"),),
            stacked=True,
            width=24,
        ),
    ),
)

PRODUCER = Dashboard(
    uid="fraudstream-producer",
    title="fraudstream / replay producer",
    description="The replay producer (`fraudstream produce --metrics-port`).",
    panels=(
        Panel(
            "Events acknowledged per second, by topic",
            (q(f"sum by (topic) (rate(fraudstream_producer_events_acknowledged_total[{RATE}]))", "{{topic}}"),),
            unit="ops",
        ),
        Panel(
            "Failed deliveries",
            (q("sum(fraudstream_producer_events_failed_total) or vector(0)", "failed"),),
            kind="stat",
            width=6,
        ),
        Panel(
            "Replay position (event time)",
            (q("max(fraudstream_producer_event_time_seconds) * 1000", "position"),),
            kind="stat",
            width=6,
            unit="dateTimeAsIso",
        ),
    ),
)

DASHBOARDS = (PIPELINE, LAG, DRIFT, PRODUCER)


def render_panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.thresholds:
        defaults["thresholds"] = {"mode": "absolute",
                                  "steps": [{"color": c, "value": None if i == 0 else v}
                                            for i, (v, c) in enumerate(panel.thresholds)]}  # fmt: skip
    if panel.mappings:
        defaults["mappings"] = [{"type": "value", "options": {k: {"text": v} for k, v in panel.mappings.items()}}]
    if panel.kind == "timeseries":
        defaults["custom"] = {"stacking": {"mode": "normal" if panel.stacked else "none"}, "fillOpacity": 10}
    rendered: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "datasource": DATASOURCE,
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend or "__auto",
            }
            for i, query in enumerate(panel.queries)
        ],
        "fieldConfig": {"defaults": defaults, "overrides": []},
    }
    if panel.kind == "stat":
        rendered["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                               "textMode": "name" if panel.show_name else "auto", "colorMode": "value"}  # fmt: skip
    if panel.description:
        rendered["description"] = panel.description
    return rendered


def render(dashboard: Dashboard) -> dict[str, Any]:
    panels, x, y, row_height = [], 0, 0, 0
    for panel_id, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        panels.append(render_panel(panel, panel_id, x, y))
        x, row_height = x + panel.width, max(row_height, panel.height)
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["fraudstream"],
        "schemaVersion": 39,
        "editable": True,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "10s",
        "panels": panels,
    }


def rendered_files() -> dict[str, str]:
    return {f"{d.uid.removeprefix('fraudstream-')}.json": json.dumps(render(d), indent=2) + "\n" for d in DASHBOARDS}


def expressions(directory: Path = DASHBOARD_DIR) -> list[tuple[str, str, str]]:
    """``(dashboard file, panel title, expr)`` of every query in the provisioned JSON files."""
    found: list[tuple[str, str, str]] = []
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            found.extend((path.name, panel["title"], target["expr"]) for target in panel["targets"])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON differs")
    args = parser.parse_args(argv)
    stale = []
    for name, text in rendered_files().items():
        path = DASHBOARD_DIR / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text)
    if args.check and stale:
        print(f"stale dashboards: {', '.join(stale)}; run python -m monitoring.dashboards", file=sys.stderr)
        return 1
    print("dashboards " + ("up to date" if not stale else f"written: {', '.join(stale)}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
