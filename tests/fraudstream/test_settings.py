"""Settings come from FRAUDSTREAM_* variables; child processes get topic names through them."""

from __future__ import annotations

from fraudstream.settings import FraudstreamSettings, TopicNames


def test_topic_names_round_trip_through_the_environment(monkeypatch) -> None:
    topics = TopicNames(transactions="a.tx", labels="a.lb", decisions="a.dec", dlq="a.dlq", drift_reports="a.dr")
    for key, value in topics.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FRAUDSTREAM_BOOTSTRAP_SERVERS", "127.0.0.1:1234")
    settings = FraudstreamSettings()
    assert settings.topics == topics
    assert settings.bootstrap_servers == "127.0.0.1:1234"
