"""The terminal changelog view: newest value per key, tombstones, watermarks merged, hidden until caught up."""

from __future__ import annotations

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
