"""Every process over TLS and SASL: the whole pipeline on the local broker's secured listener.

A broker of its own (``LocalBroker(secure_port=...)``: its own CA, certificate and SCRAM users)
so the session broker stays plaintext. The commands run as a user runs them, configured only by
``FRAUDSTREAM_SECURITY__*`` variables, and every line they print is searched for the secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cli.broker import LocalBroker
from consumers.topic_audit import end_offsets
from fraudstream.settings import PROJECT_ROOT, TopicNames
from producers.config import GeneratorConfig
from tests.integration.worker_harness import WorkerProcess, decisions, free_port, promoted_model, wait_for


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory) -> LocalBroker:
    ports = [free_port() for _ in range(3)]
    broker = LocalBroker(tmp_path_factory.mktemp("secured") / "kafka", *ports)
    broker.start(wait_seconds=90)
    yield broker
    broker.stop()


def _cli(
    args: list[str], env: dict[str, str], log: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=PROJECT_ROOT, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
    if log is not None:
        log.write_text(result.stdout + result.stderr)
    return result


def _secrets(broker: LocalBroker) -> list[str]:
    files = broker.security_files
    return [files.password(user) for user in ("fraudstream", "operator")] + [
        files.key_password_file.read_text().strip()
    ]


def test_produce_worker_drift_and_lag_exporter_run_over_sasl_ssl_and_no_secret_reaches_a_log(
    secured_broker: LocalBroker, tmp_path: Path
) -> None:
    data, store, _ = promoted_model(tmp_path, GeneratorConfig(n_customers=200, n_terminals=400, n_days=28, seed=8))
    run = os.urandom(4).hex()
    topics = TopicNames(transactions=f"s-{run}.tx", labels=f"s-{run}.labels", decisions=f"s-{run}.decisions",
                        dlq=f"s-{run}.dlq", drift_reports=f"s-{run}.drift")  # fmt: skip
    secured = secured_broker.security_files.client_environment(secured_broker.secure_bootstrap_servers)
    env = {**secured, "FRAUDSTREAM_HOME": str(tmp_path), **topics.as_env()}
    client = secured_broker.security_files.client_security().client(secured_broker.secure_bootstrap_servers)
    logs: list[Path] = []

    topics_run = _cli(["topics"], env, tmp_path / "topics.log")
    logs.append(tmp_path / "topics.log")
    assert topics_run.returncode == 0, topics_run.stderr
    produced = _cli(["produce", "--data", str(data)], env, tmp_path / "produce.log", timeout=300)
    logs.append(tmp_path / "produce.log")
    assert produced.returncode == 0, produced.stdout[-2000:] + produced.stderr[-2000:]
    assert '"sasl_password":"**********"' in produced.stdout  # the printed settings, masked
    expected = json.loads((data / "manifest.json").read_text())["transactions"]

    worker = WorkerProcess(secured_broker.secure_bootstrap_servers, topics, store, f"s-{run}", tmp_path, env=env)
    logs.append(worker.log_path)
    lag_port = free_port()
    lag_log = tmp_path / "lag.log"
    logs.append(lag_log)
    with open(lag_log, "wb") as out:
        lag = subprocess.Popen([sys.executable, "-m", "cli.main", "lag-exporter", "--port", str(lag_port), "--interval",
                                "1", "--scoring-group", f"s-{run}"], cwd=PROJECT_ROOT, env={**os.environ, **env},
                               stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    worker.start()
    try:
        wait_for(lambda: sum(end_offsets(client, topics.decisions).values()) >= expected, 240,
                 "every transaction decided over SASL_SSL", worker)  # fmt: skip
        assert len({d["transaction_id"] for d in decisions(client, topics.decisions)}) == expected

        def lag_measured() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{lag_port}/metrics", timeout=2) as response:
                    text = response.read().decode()
            except OSError:
                return False
            return any(line.startswith("fraudstream_consumer_lag_messages{") and f's-{run}' in line
                       for line in text.splitlines())  # fmt: skip

        wait_for(lag_measured, 60, "the lag exporter to measure the worker's group over SASL_SSL")
    finally:
        worker.stop()
        lag.terminate()
        lag.wait(30)

    drift = _cli(["drift", "--store", store, "--window", "86400", "--close-idle-after", "3", "--stop-idle-after", "1"],
                 env, tmp_path / "drift.log", timeout=300)  # fmt: skip
    logs.append(tmp_path / "drift.log")
    assert drift.returncode == 0, drift.stderr[-2000:]
    assert sum(end_offsets(client, topics.drift_reports).values()) > 0

    for path in logs:
        text = path.read_text(errors="replace")
        for secret in _secrets(secured_broker):
            assert secret not in text, f"a secret in {path.name}"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"FRAUDSTREAM_SECURITY__SASL_PASSWORD_FILE": None, "FRAUDSTREAM_SECURITY__SASL_PASSWORD": "not-it"},
         "refused the login of 'fraudstream'"),
        ({"FRAUDSTREAM_SECURITY__CA_FILE": None}, "the TLS handshake with Kafka at"),
        ({"FRAUDSTREAM_SECURITY__PROTOCOL": "PLAINTEXT", "FRAUDSTREAM_SECURITY__SASL_PASSWORD_FILE": None,
          "FRAUDSTREAM_SECURITY__SASL_USERNAME": None, "FRAUDSTREAM_SECURITY__SASL_MECHANISM": None,
          "FRAUDSTREAM_SECURITY__CA_FILE": None}, "no Kafka broker answered at"),
    ],
    ids=["wrong-password", "no-ca", "plaintext-client"],
)  # fmt: skip
@pytest.mark.parametrize("command", [["topics"], ["worker", "--state-store", "memory://"]])
def test_a_client_with_a_wrong_password_or_no_ca_is_refused_with_one_clear_line(
    secured_broker: LocalBroker, tmp_path: Path, change: dict[str, str | None], expected: str, command: list[str]
) -> None:
    secured = secured_broker.security_files.client_environment(secured_broker.secure_bootstrap_servers)
    env = {key: value for key, value in {**secured, **change}.items() if value is not None}
    started = time.monotonic()
    result = _cli(command, {**env, "FRAUDSTREAM_HOME": str(tmp_path)}, timeout=60)
    seconds = time.monotonic() - started
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert seconds < 15, f"{seconds:.1f} s to fail"
    for secret in [*_secrets(secured_broker), "not-it"]:
        assert secret not in result.stdout + result.stderr
