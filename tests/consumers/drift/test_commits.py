"""The drift consumer's commits and rebalances: a refused commit of an expired member is not fatal,
and a new assignment rebuilds the open windows instead of counting a decision twice."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from consumers.drift.consumer import commit_or_rejoin
from consumers.drift.windows import WindowBook


class _Consumer:
    def __init__(self, error: int | None) -> None:
        self.error = error
        self.committed: list[TopicPartition] = []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert asynchronous is False
        if self.error is not None:
            raise KafkaException(KafkaError(self.error))
        self.committed.extend(offsets)


@pytest.mark.parametrize(
    "code", [KafkaError.UNKNOWN_MEMBER_ID, KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION]
)
def test_a_commit_refused_to_an_expired_member_is_left_for_the_rejoin(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    consumer = _Consumer(code)
    assert commit_or_rejoin(consumer, [TopicPartition("d", 0, 5)]) is False  # type: ignore[arg-type]
    assert "read again after the rejoin" in caplog.text


def test_other_commit_errors_are_raised_and_a_good_commit_goes_through() -> None:
    with pytest.raises(KafkaException):
        commit_or_rejoin(_Consumer(KafkaError.TOPIC_AUTHORIZATION_FAILED), [TopicPartition("d", 0, 5)])  # type: ignore[arg-type]
    consumer = _Consumer(None)
    assert commit_or_rejoin(consumer, [TopicPartition("d", 0, 5)]) is True  # type: ignore[arg-type]
    assert [(tp.topic, tp.partition, tp.offset) for tp in consumer.committed] == [("d", 0, 5)]


def test_forgetting_the_open_windows_keeps_the_closed_ones_closed() -> None:
    book = WindowBook(size_ms=1_000, grace_ms=0)
    book.window_for(100, "v1")
    book.advance(100, ("d", 0))
    book.window_for(1_100, "v1")
    book.advance(1_100, ("d", 0))
    assert [w.start_ms for w in book.closable()] == [0]
    book.forget_open()
    assert book.open == {}
    assert book.partition_watermarks == {}
    assert book.window_for(500, "v1") is None  # the closed window's events are still late
    window = book.window_for(1_200, "v1")
    assert window is not None
    assert window.assigned == 1
