"""The demo's worker runs on the demo's own plaintext broker, whatever security the shell has set."""

from __future__ import annotations

import pytest

from cli.demo import worker_env
from fraudstream.settings import FraudstreamSettings, TopicNames


def test_the_demo_worker_gets_the_demos_broker_and_topics_and_no_security_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_SECURITY__PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("FRAUDSTREAM_SECURITY__SASL_USERNAME", "prod")
    monkeypatch.setenv("FRAUDSTREAM_SECURITY__SASL_PASSWORD", "secret")
    monkeypatch.setenv("FRAUDSTREAM_BOOTSTRAP_SERVERS", "prod-broker:9093")
    monkeypatch.setenv("FRAUDSTREAM_LOG_FORMAT", "json")
    settings = FraudstreamSettings(bootstrap_servers="127.0.0.1:9092")
    topics = TopicNames(transactions="demo-x.transactions")
    env = worker_env(settings, topics)
    assert not [name for name in env if name.startswith("FRAUDSTREAM_SECURITY__")]
    assert env["FRAUDSTREAM_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    assert env["FRAUDSTREAM_LOG_FORMAT"] == "json"  # the rest of the shell's settings carry over
    assert {name: env[name] for name in topics.as_env()} == topics.as_env()
