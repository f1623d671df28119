"""The Prometheus configuration and alert rules, checked and unit-tested with Debian's promtool."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from fraudstream.settings import PROJECT_ROOT

PROMETHEUS = PROJECT_ROOT / "monitoring" / "prometheus"
PROMTOOL = shutil.which("promtool") or "promtool"  # `make test` installs it; its absence must fail


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=PROMETHEUS, timeout=120, check=False)


def test_alert_rules_are_valid() -> None:
    result = _promtool("check", "rules", "rules/fraudstream.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_as_specified() -> None:
    result = _promtool("test", "rules", "tests/fraudstream_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_scrape_config_is_valid_and_loads_the_rules() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 rules found" in result.stdout


def test_every_alert_has_a_unit_test() -> None:
    rules = yaml.safe_load((PROMETHEUS / "rules" / "fraudstream.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((PROMETHEUS / "tests" / "fraudstream_test.yml").read_text())
    tested = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])}
    assert alerts == tested
