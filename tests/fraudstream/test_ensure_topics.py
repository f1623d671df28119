"""``ensure_topics`` rides out a broker that is away for a moment, and no longer than its timeout."""

from __future__ import annotations

import time
import types
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from fraudstream import kafka


class AwayAdmin:
    """An AdminClient whose broker refuses ``away`` metadata requests, as librdkafka reports it."""

    def __init__(self, away: int) -> None:
        self.away, self.asked = away, 0
        self.created: list[str] = []

    def __call__(self, config: dict[str, Any]) -> AwayAdmin:
        return self

    def list_topics(self, timeout: float) -> types.SimpleNamespace:
        self.asked += 1
        if self.asked <= self.away:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Failed to get metadata: Broker transport failure"))
        return types.SimpleNamespace(topics={"existing": None})

    def create_topics(self, new: list[Any], operation_timeout: float) -> dict[str, Any]:
        self.created += [topic.topic for topic in new]
        done = types.SimpleNamespace(result=lambda timeout: None)
        return {topic.topic: done for topic in new}


def test_a_broker_away_for_two_requests_is_asked_again_and_the_topics_are_created(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    admin = AwayAdmin(away=2)
    monkeypatch.setattr(kafka, "AdminClient", admin)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)

    assert kafka.ensure_topics("127.0.0.1:1", ["existing", "new"], timeout=30) == ["new"]
    assert admin.asked == 3
    assert admin.created == ["new"]
    assert len([r for r in caplog.records if "not answering" in r.getMessage()]) == 1  # one line, not one a second


def test_a_broker_away_past_the_timeout_raises_the_transport_error(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = AwayAdmin(away=10**9)
    monkeypatch.setattr(kafka, "AdminClient", admin)

    with pytest.raises(KafkaException, match="transport failure"):
        kafka.ensure_topics("127.0.0.1:1", ["new"], timeout=2.5)
    assert 2 <= admin.asked <= 4
    assert admin.created == []
