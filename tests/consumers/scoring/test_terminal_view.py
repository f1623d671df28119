"""The terminal changelog view: newest value per key, tombstones, watermarks merged, hidden until caught up."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import TopicPartition

from consumers.scoring import terminal_view
from consumers.scoring.alignment import NEVER, Watermark
from consumers.scoring.terminal_view import WATERMARK_KEY, ChangelogView, encode_watermark


def _view() -> ChangelogView:
    return ChangelogView({"bootstrap.servers": "127.0.0.1:1"}, "changelog", partitions=2)


def test_the_newest_value_of_each_key_wins_and_a_tombstone_removes_it() -> None:
    view = _view()
    view.apply(0, b"t1\x1f0", b"old")
    view.apply(0, b"t1\x1f0", b"newer")
    view.apply(1, b"t1\x1f1", b"other partition")
    assert view.get(b"t1\x1f0", 0) == b"newer"
    assert view.get(b"t1\x1f0", 1) is None
    assert view.bytes == len(b"t1\x1f0") + len(b"newer") + len(b"t1\x1f1") + len(b"other partition")
    view.apply(0, b"t1\x1f0", None)
    assert view.get(b"t1\x1f0", 0) is None
    assert view.bytes == len(b"t1\x1f1") + len(b"other partition")


def test_watermarks_are_hidden_until_caught_up_and_only_ever_grow() -> None:
    view = _view()
    view.apply(1, WATERMARK_KEY, encode_watermark(Watermark(100, NEVER, 90, 5)))
    assert view.watermark(1) is None  # still reading what was there when its reading began
    view.ready.add(1)
    assert view.watermark(1) == Watermark(100, NEVER, 90, 5)
    # a new owner restarts from the committed offsets and reports less: both are true
    view.apply(1, WATERMARK_KEY, encode_watermark(Watermark(50, 7, 95, 3)))
    assert view.watermark(1) == Watermark(100, 7, 95, 5)
    assert view.watermark(0) is None
    assert view.get(WATERMARK_KEY, 1) is None  # not a state key


def test_a_watermark_that_moves_once_shown_is_signalled_one_that_does_not_is_not() -> None:
    view = _view()
    view.apply(1, WATERMARK_KEY, encode_watermark(Watermark(100, NEVER, 90, 5)))
    assert not view._moved  # hidden still
    view.ready.add(1)
    view.apply(1, WATERMARK_KEY, encode_watermark(Watermark(100, NEVER, 90, 5)))
    assert not view._moved  # the same again
    view.apply(1, WATERMARK_KEY, encode_watermark(Watermark(50, NEVER, 95, 5)))
    assert view._moved  # labels moved on: the worker's aligner is woken after this read


class _FakeConsumer:
    """What the view asks of its consumer: a changelog with nothing in it."""

    def __init__(self, config: dict[str, object]) -> None:
        self.assigned: list[int] = []

    def get_watermark_offsets(self, tp: object, timeout: float) -> tuple[int, int]:
        return 0, 0

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned.extend(tp.partition for tp in partitions)

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        pass

    def consume(self, n: int, timeout: float) -> list[object]:
        time.sleep(timeout)
        return []

    def close(self) -> None:
        pass


def test_a_view_with_nothing_to_read_sleeps_until_it_is_given_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    consumers: list[_FakeConsumer] = []

    def consumer(config: dict[str, object]) -> _FakeConsumer:
        consumers.append(_FakeConsumer(config))
        return consumers[-1]

    monkeypatch.setattr(terminal_view, "Consumer", consumer)
    looks = []

    class Counted(ChangelogView):
        @property
        def wanted(self) -> frozenset[int]:
            looks.append(time.monotonic())
            return self._wanted

        @wanted.setter
        def wanted(self, value: frozenset[int]) -> None:
            self._wanted = value

    view = Counted({"bootstrap.servers": "127.0.0.1:1"}, "changelog", partitions=2)
    view.start()
    try:
        time.sleep(0.5)
        assert len(looks) <= 2  # one process owns everything: no poll every 10 ms
        view.set_partitions([1])
        deadline = time.monotonic() + 0.5
        while not (consumers and consumers[-1].assigned) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert consumers[-1].assigned == [1]  # woken at once, not after the idle recheck
    finally:
        started = time.monotonic()
        view.stop()
        assert time.monotonic() - started < 0.5
