"""docker-compose.yml stays correct for Docker users (no Docker engine needed to check it)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cli.main import build_parser
from fraudstream.settings import PROJECT_ROOT

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_the_stack_has_every_service_of_the_architecture() -> None:
    assert {"kafka", "producer", "worker", "drift", "lag-exporter", "prometheus", "grafana"} <= set(SERVICES)


def test_every_service_has_an_image_or_build_ports_and_environment() -> None:
    for name, service in SERVICES.items():
        assert "image" in service or "build" in service, name
        assert service.get("ports"), name
        assert service.get("environment"), name
        for port in service["ports"]:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_kafka_runs_kraft_from_the_official_image() -> None:
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "healthcheck" in kafka


def test_mounted_files_and_the_build_context_exist() -> None:
    assert (PROJECT_ROOT / "Dockerfile").is_file()
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), volume


def test_app_services_use_the_compose_broker_and_real_cli_commands() -> None:
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for name in ("producer", "worker", "drift", "lag-exporter"):
        service = SERVICES[name]
        assert service["environment"]["FRAUDSTREAM_BOOTSTRAP_SERVERS"] == "kafka:9092"
        used = [word for word in str(service["command"]).split() if word in subcommands]
        assert used, f"{name} runs no fraudstream subcommand"


def test_prometheus_scrapes_the_app_services() -> None:
    config = yaml.safe_load(Path(PROJECT_ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"producer", "worker", "drift", "lag-exporter"} <= jobs
    # each job's target is a compose service publishing that port
    for job in config["scrape_configs"]:
        if job["job_name"] == "prometheus":
            continue
        (target,) = job["static_configs"][0]["targets"]
        host, port = target.split(":")
        assert host in SERVICES, target
        assert any(str(p).endswith(f":{port}") for p in SERVICES[host]["ports"]), target
        assert f"--port {port}" in str(SERVICES[host]["command"]) or f"--metrics-port {port}" in str(
            SERVICES[host]["command"]
        ), target


def test_provisioned_dashboards_are_valid_json_with_queries() -> None:
    import json

    dashboards = sorted((PROJECT_ROOT / "monitoring/grafana/dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        board = json.loads(path.read_text())
        assert board["uid"]
        assert all(target["expr"] for panel in board["panels"] for target in panel["targets"])


def test_the_compose_replay_keeps_event_time_in_the_past() -> None:
    # --shift-to-now with a speedup runs event time ahead of the clock: the worker dead-letters
    # events more than a day in the future, so a fast replay of history must end at now instead
    command = str(SERVICES["producer"]["command"])
    assert "--speedup" in command
    assert "--end-at-now" in command
    assert "--shift-to-now" not in command


def test_app_services_log_json_lines_that_the_settings_accept() -> None:
    from fraudstream.settings import FraudstreamSettings

    for name in ("producer", "worker", "drift", "lag-exporter"):
        env = SERVICES[name]["environment"]
        assert env["FRAUDSTREAM_LOG_FORMAT"] == "json", name
        assert FraudstreamSettings(log_format=env["FRAUDSTREAM_LOG_FORMAT"]).log_format == "json"


def test_the_broker_writes_its_data_into_the_mounted_volume() -> None:
    kafka = SERVICES["kafka"]
    (mount,) = [v for v in kafka["volumes"] if str(v).startswith("kafka-data:")]
    # apache/kafka's own default (/tmp/kraft-combined-logs) is outside any volume
    assert kafka["environment"]["KAFKA_LOG_DIRS"] == mount.split(":", 1)[1]


def test_grafana_has_no_default_password() -> None:
    password = SERVICES["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert password.startswith("${GRAFANA_ADMIN_PASSWORD:?"), password  # compose refuses to run without it


def test_the_app_services_pass_the_security_settings_through_and_unset_means_plaintext(monkeypatch) -> None:
    from fraudstream.settings import FraudstreamSettings, setting_variables

    env = COMPOSE["x-app"]["environment"]
    security = {name for name in env if name.startswith("FRAUDSTREAM_SECURITY__")}
    assert {"FRAUDSTREAM_SECURITY__PROTOCOL", "FRAUDSTREAM_SECURITY__SASL_PASSWORD_FILE"} <= security
    assert set(env) <= set(setting_variables())
    for name in security:  # what `${VAR:-}` becomes when the user set nothing
        monkeypatch.setenv(name, "")
    assert FraudstreamSettings().security.protocol == "PLAINTEXT"
