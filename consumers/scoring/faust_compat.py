"""The one place that touches faust-streaming private API.

A table write takes its changelog partition from the stream's *current event*. Inside a
``take_events`` batch there is no current event (Faust raises "Cannot modify table key from
outside of stream iteration"), so the worker sets it to an event of the partition that owns the
key before writing. ``Stream._set_current_event`` is private; ``tests/consumers/test_faust_compat``
fails if a Faust upgrade changes it.
"""

from __future__ import annotations

from typing import Any


def write_with_partition_of(stream: Any, event: Any, table: Any, key: bytes, value: bytes) -> None:
    """``table[key] = value`` with its changelog record in ``event``'s partition."""
    stream._set_current_event(event)
    try:
        table[key] = value
    finally:
        stream._set_current_event(None)
