"""A real Prometheus scrapes the running pipeline; every dashboard and alert expression returns data.

Broker (session fixture) + scoring worker (with a River shadow) + drift consumer + lag exporter +
replay producer run as the CLI runs them; Debian's ``prometheus`` server scrapes them with the
project's own ``monitoring/prometheus/prometheus.yml`` (targets pointed at 127.0.0.1) and loads the
project's alert rules. While the replay is running, every PromQL expression of the Grafana
dashboards and of the alert rules is evaluated through the HTTP API: it must evaluate without
error and return at least one series. An alert expression is a condition (``X > 10000``) that is
empty while nothing is wrong, so it is also evaluated as data: its comparisons with a number turn
into ``bool`` comparisons and the sides of ``unless``/``and``/``or`` are evaluated separately.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from fraudstream.settings import PROJECT_ROOT, TopicNames
from monitoring.dashboards import expressions as dashboard_expressions
from producers.config import GeneratorConfig
from tests.integration.worker_harness import WorkerProcess, free_port, promoted_model, wait_for

PROMETHEUS_DIR = PROJECT_ROOT / "monitoring" / "prometheus"


def rule_expressions() -> list[tuple[str, str]]:
    found = []
    for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(
                (rule.get("alert") or rule["record"], " ".join(rule["expr"].split())) for rule in group["rules"]
            )
    return found


_SET_OPERATOR = re.compile(r"\s+(unless|and|or)\s+")
_COMPARISON = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$")


def as_data(expr: str) -> list[str]:
    """The parts of a condition that must return data: comparisons with a number become ``bool``."""
    parts, depth, start = [], 0, 0
    for match in _SET_OPERATOR.finditer(expr):
        depth = expr[: match.start()].count("(") - expr[: match.start()].count(")")
        if depth == 0:
            parts.append(expr[start : match.start()])
            start = match.end()
    parts.append(expr[start:])
    return [_COMPARISON.sub(r" \1 bool \2", part.strip()) for part in parts]


def test_conditions_turn_into_data_queries() -> None:
    assert as_data("max by (g) (x) > 10000") == ["max by (g) (x) > bool 10000"]
    assert as_data("sum(rate(a[5m])) > 0 unless sum(rate(b[5m])) > 0") == [
        "sum(rate(a[5m])) > bool 0", "sum(rate(b[5m])) > bool 0"
    ]  # fmt: skip
    assert as_data('count(ALERTS{x="y"}) or vector(0)') == ['count(ALERTS{x="y"})', "vector(0)"]
    assert as_data("x / clamp_min(y + z, 1e-9) > 0.01") == ["x / clamp_min(y + z, 1e-9) > bool 0.01"]


class Prometheus:
    def __init__(self, binary: str, root: Path, targets: dict[str, int]) -> None:
        self.port = free_port()
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
        jobs = {job["job_name"] for job in config["scrape_configs"]}
        assert jobs == set(targets) | {"prometheus"}, f"the test must run every scraped job: {jobs}"
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}
        config["rule_files"] = [str(PROMETHEUS_DIR / pattern) for pattern in config["rule_files"]]
        for job in config["scrape_configs"]:
            port = self.port if job["job_name"] == "prometheus" else targets[job["job_name"]]
            job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
        config_path = root / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.log = root / "prometheus.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={config_path}", f"--storage.tsdb.path={root / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def api(self, path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body: dict = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code not in (400, 422):  # a starting server answers 503 "Service Unavailable" (not JSON)
                raise
            body = json.loads(exc.read())  # a bad query answers 400/422 with the error in the body
        return body

    def query(self, expr: str) -> dict:
        return self.api("query", query=expr)

    def ready(self) -> bool:
        try:
            return self.api("status/config")["status"] == "success"
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "cli.main", *command], cwd=PROJECT_ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def test_every_dashboard_and_alert_expression_returns_data_from_the_live_pipeline(
    bootstrap_servers, topic_factory, tmp_path
) -> None:
    binary = shutil.which("prometheus")
    assert binary, "needs Debian's prometheus package (make test installs it)"
    data, store, _ = promoted_model(tmp_path, GeneratorConfig(n_customers=300, n_terminals=600, n_days=28, seed=5))

    topics = TopicNames(
        transactions=topic_factory("transactions"), labels=topic_factory("labels"),
        decisions=topic_factory("decisions"), dlq=topic_factory("dlq"), drift_reports=topic_factory("reports"),
    )  # fmt: skip
    env = {**os.environ, "FRAUDSTREAM_BOOTSTRAP_SERVERS": bootstrap_servers, "FRAUDSTREAM_HOME": str(tmp_path),
           **topics.as_env()}  # fmt: skip
    app_id, drift_group = f"live-{topics.decisions[-8:]}", f"live-drift-{topics.decisions[-8:]}"
    ports = {"producer": free_port(), "drift": free_port(), "lag-exporter": free_port()}
    worker = WorkerProcess(bootstrap_servers, topics, store, app_id, tmp_path, "--shadow", "river").start()
    ports["worker"] = worker.metrics_port
    processes = [
        _spawn(["drift", "--store", store, "--group-id", drift_group, "--window", "3600", "--grace",
                "0", "--metrics-port", str(ports["drift"])], env, tmp_path / "drift.log"),
        _spawn(["lag-exporter", "--port", str(ports["lag-exporter"]), "--interval", "1", "--scoring-group", app_id,
                "--drift-group", drift_group], env, tmp_path / "lag.log"),
        # the whole dataset (15,968 events) at 200 events/s lasts about 80 s, more than the waits
        # below take on a loaded machine, so every rate window sees traffic while the queries run; the
        # shadow's outcomes mature after 14 days of event time, about 40 s in
        _spawn(["produce", "--data", str(data), "--rate", "200", "--metrics-port", str(ports["producer"])], env,
               tmp_path / "producer.log"),
    ]  # fmt: skip
    prometheus = Prometheus(binary, tmp_path, ports)
    try:
        wait_for(prometheus.ready, 30, "prometheus to start")

        def all_up() -> bool:
            up = prometheus.query("up")["data"]["result"]
            return len(up) == len(ports) + 1 and all(r["value"][1] == "1" for r in up)

        wait_for(all_up, 60, "every scrape target to be up", worker)
        # rates need two scrapes of moving counters, drift gauges a closed window, rules an evaluation
        wait_for(lambda: bool(prometheus.query("fraudstream_drift_psi")["data"]["result"]), 60,
                 "a closed drift window", worker)  # fmt: skip
        wait_for(lambda: bool(prometheus.query("rate(fraudstream_worker_decisions_total[1m]) > 0")["data"]["result"]),
                 60, "decisions to flow", worker)  # fmt: skip
        time.sleep(3)
        assert processes[2].poll() is None, "the replay ended before the queries: lower its --rate"

        failures = []
        checks = [(f"{board}: {title}", expr, [expr]) for board, title, expr in dashboard_expressions()]
        checks += [(f"rule {name}", expr, as_data(expr)) for name, expr in rule_expressions()]
        assert len(checks) > 40
        for what, expr, data_queries in checks:
            answer = prometheus.query(expr)
            if answer["status"] != "success":
                failures.append(f"{what}: {answer.get('error')} in {expr}")
                continue
            for data_query in data_queries:
                if not prometheus.query(data_query)["data"]["result"]:
                    failures.append(f"{what}: no data for {data_query}")
        assert not failures, "\n".join(failures)

        rules = prometheus.api("rules")["data"]["groups"]
        evaluated = [rule for group in rules for rule in group["rules"]]
        assert len(evaluated) == len(rule_expressions())
        assert all(rule["health"] == "ok" for rule in evaluated), [r for r in evaluated if r["health"] != "ok"]
    finally:
        prometheus.stop()
        worker.stop()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
