"""The worker's outputs: where each goes, and per-batch delivery reports."""

from __future__ import annotations

from types import SimpleNamespace

from consumers.scoring.delivery import BatchDelivery, OutputDelivery
from consumers.scoring.records import BatchResult, OutputMessage, StateWrite
from fraudstream.settings import TopicNames


class FakeProducer:
    """librdkafka's contract as the worker uses it: ``produce`` queues, ``poll`` serves reports."""

    def __init__(self) -> None:
        self.queued: list[tuple[object, object]] = []

    def produce(self, topic: str, partition: int, offset: int, on_delivery, error: str | None = None) -> None:
        message = SimpleNamespace(topic=lambda: topic, partition=lambda: partition, offset=lambda: offset)
        self.queued.append((on_delivery, (error, message)))

    def poll(self, timeout: float) -> int:
        served, self.queued = self.queued[:2], self.queued[2:]  # a few reports per poll
        for callback, args in served:
            callback(*args)
        return len(served)

    def __len__(self) -> int:
        return len(self.queued)


def test_a_batch_is_delivered_once_its_own_messages_are_reported_not_the_whole_queue() -> None:
    producer = FakeProducer()
    first = BatchDelivery()
    for offset in range(3):
        producer.produce("decisions", 0, offset, first.on_delivery)
    producer.produce("card-changelog", 1, 7, first.on_changelog_delivery("card"))
    first.expected = 4
    second = BatchDelivery()  # the next batch, produced before the first completes
    for offset in range(3, 103):
        producer.produce("decisions", 0, offset, second.on_delivery)
    second.expected = 100

    assert first.wait(producer, timeout=5.0)
    assert len(producer) == 100  # flush() would have waited for these too
    assert first.changelog_offsets == {("card", 1): 7}
    assert first.errors == []
    assert second.reported == 0


def test_a_failed_delivery_is_reported_and_an_unreported_batch_times_out() -> None:
    producer = FakeProducer()
    batch = BatchDelivery()
    producer.produce("decisions", 2, -1, batch.on_delivery, error="MSG_SIZE_TOO_LARGE")
    producer.produce("card-changelog", 0, -1, batch.on_changelog_delivery("card"), error="TIMED_OUT")
    batch.expected = 2
    assert batch.wait(producer, timeout=5.0)
    assert batch.errors == ["decisions[2]: MSG_SIZE_TOO_LARGE", "card-changelog[0]: TIMED_OUT"]
    assert batch.changelog_offsets == {}  # a failed write is no changelog position

    lost = BatchDelivery()
    lost.expected = 1  # its message is never reported
    assert not lost.wait(producer, timeout=0.05)


class RecordingProducer:
    """confluent-kafka's ``produce`` as the delivery calls it, recorded; reports come with ``poll``."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.reports: list[tuple[object, object]] = []

    def produce(self, topic, value=None, key=None, partition=None, timestamp=None, headers=None, on_delivery=None):
        offset = sum(1 for s in self.sent if (s["topic"], s["partition"]) == (topic, partition))
        self.sent.append({"topic": topic, "value": value, "key": key, "partition": partition, "headers": headers})
        message = SimpleNamespace(topic=lambda: topic, partition=lambda: partition or 0, offset=lambda: offset)
        self.reports.append((on_delivery, (None, message)))

    def poll(self, timeout: float) -> int:
        served, self.reports = self.reports, []
        for callback, args in served:
            callback(*args)
        return len(served)


def test_outputs_go_to_their_topics_and_state_writes_to_the_partition_that_owns_the_key() -> None:
    producer = RecordingProducer()
    topics = TopicNames(decisions="d", dlq="dlq")
    delivery = OutputDelivery(producer, topics, {"card": "card-changelog", "terminal": "terminal-changelog"})
    result = BatchResult(
        decisions=[OutputMessage(b"c1", b"decision-1", (), 5)],
        dead_letters=[OutputMessage(b"c9", None, (("error_type", b"invalid"),), 6)],
        dead_letter_reasons=["invalid"],
        state_writes=[StateWrite("card", b"c1", b"v1", 2), StateWrite("terminal", b"t\x1f1", b"v2", 1),
                      StateWrite("card", b"c1", b"v3", 2)],
    )  # fmt: skip
    pending = delivery.produce(result, started=0.0)
    assert [(s["topic"], s["partition"], s["key"], s["value"]) for s in producer.sent] == [
        ("d", None, b"c1", b"decision-1"),
        ("dlq", None, b"c9", None),  # a tombstone stays one
        ("card-changelog", 2, b"c1", b"v1"),
        ("terminal-changelog", 1, b"t\x1f1", b"v2"),
        ("card-changelog", 2, b"c1", b"v3"),
    ]
    assert producer.sent[1]["headers"] == [("error_type", b"invalid")]
    assert pending.delivery.expected == 5
    assert delivery.wait(pending, timeout=1.0)
    # each changelog partition's position is that of the batch's last write there
    assert pending.delivery.changelog_offsets == {("card", 2): 1, ("terminal", 1): 0}
