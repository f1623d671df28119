"""The dead-letter copy of a record the worker cannot score: everything kept, nothing unsafe, always producible.

A copy keeps the original key, value (a tombstone stays a null value) and record headers, then
adds the worker's five headers (``error_type``, ``error_message``, ``source_topic``,
``source_partition``, ``source_offset``; added last, so a reader taking the last value of a name
gets the worker's even when the original carried one of these names). Two rules change it:

- **no card number**: every PAN-like run of digits (``fraudstream/pan.py``) in the key, the value's
  bytes, the original headers and the error message has its digits but the last four masked
  (lengths unchanged: a masked Avro value still decodes); ``masked: pan`` says so.
- **always producible**: a copy larger than :data:`MAX_COPY_BYTES` (the broker refuses a
  message above its ``max.message.bytes``, 1 MB by default, and a refused copy would be a lost
  record) keeps the first bytes of the value that fit, with ``truncated: value``, the
  ``original_size`` and the ``original_sha256`` of the whole value; a key above
  :data:`MAX_KEY_BYTES` is cut the same way (``original_key_size``, ``original_key_sha256``), and
  original headers taking more than half of it are left out (``original_headers_dropped``: how many).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from consumers.scoring.records import MAX_ERROR_MESSAGE, InputEvent, OutputMessage
from fraudstream.pan import mask_pan, mask_pan_bytes

__all__ = ["MAX_COPY_BYTES", "MAX_KEY_BYTES", "dead_letter_copy"]

#: the most a copy (key, value and headers) may hold: well under the broker's default message limit
MAX_COPY_BYTES = 512 * 1024
MAX_KEY_BYTES = 1024
#: what a Kafka record's framing and the headers' names add, counted generously
_HEADER_OVERHEAD = 32


def _size(headers: Sequence[tuple[str, bytes | None]]) -> int:
    return sum(len(name) + len(value or b"") + _HEADER_OVERHEAD for name, value in headers)


def dead_letter_copy(event: InputEvent, reason: str, message: str) -> OutputMessage:
    """The dead-letter message for ``event``, which failed with ``reason`` (the message says why)."""
    key, value = event.key, event.value
    masked = False
    original: list[tuple[str, bytes]] = []
    for name, header_value in event.headers or ():
        clean = mask_pan_bytes(header_value) if header_value else header_value
        masked |= clean != header_value
        original.append((mask_pan(name), clean or b""))
    extra: list[tuple[str, bytes]] = []
    if _size(original) > MAX_COPY_BYTES // 2:  # the source's limit is the broker's: a copy needs room
        extra.append(("original_headers_dropped", str(len(original)).encode()))
        original = []
    if key is not None and len(key) > MAX_KEY_BYTES:
        extra += [("original_key_size", str(len(key)).encode()),
                  ("original_key_sha256", hashlib.sha256(key).hexdigest().encode())]  # fmt: skip
        key = key[:MAX_KEY_BYTES]
    if key is not None:
        clean_key = mask_pan_bytes(key)
        masked |= clean_key != key
        key = clean_key
    ours = [
        ("error_type", reason.encode()),
        ("error_message", mask_pan(message)[:MAX_ERROR_MESSAGE].encode()),
        ("source_topic", event.topic.encode()),
        ("source_partition", str(event.partition).encode()),
        ("source_offset", str(event.offset).encode()),
    ]
    if value is not None:
        room = MAX_COPY_BYTES - len(key or b"") - _size(original + extra + ours) - 3 * _HEADER_OVERHEAD - 128
        if len(value) > room:
            extra += [("truncated", b"value"), ("original_size", str(len(value)).encode()),
                      ("original_sha256", hashlib.sha256(value).hexdigest().encode())]  # fmt: skip
            value = value[: max(0, room)]
        clean_value = mask_pan_bytes(value)
        masked |= clean_value != value
        value = clean_value
    if masked:
        extra.append(("masked", b"pan"))
    return OutputMessage(key, value, (*original, *ours, *extra), event.timestamp_ms)
