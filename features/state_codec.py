"""Building blocks of the binary state encoding (the changelog and local-store values).

The stream worker writes every changed card and terminal state once per batch; with compact JSON
the encoding alone cost more than the card's features (BENCHMARKS.md). The binary form packs the
numeric lists as little-endian int64/float64 arrays and the id lists as one newline-joined UTF-8 string (ids are
``\\S+``, so they hold no newline; a state whose ids do falls back to JSON), and keeps the
small, rarely non-empty parts (fraud labels, replay offsets) as JSON. A value starts with a
one-byte tag; the JSON values written by earlier versions start with ``[`` or ``{`` and are
still read.

>>> pack_strings(["a", "b"]), unpack_strings(b"a\\nb", 2), pack_strings(["a\\nb"])
(b'a\\nb', ['a', 'b'], None)
"""

from __future__ import annotations

import sys
from array import array

LITTLE_ENDIAN = sys.byteorder == "little"


def pack_ints(values: list[int]) -> bytes:
    """int64, little-endian (event times in ms and UTC days fit with room to spare)."""
    packed = array("q", values)
    if not LITTLE_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def pack_floats(values: list[float]) -> bytes:
    packed = array("d", values)
    if not LITTLE_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def unpack_ints(data: bytes | memoryview) -> list[int]:
    packed = array("q")
    packed.frombytes(data)
    if not LITTLE_ENDIAN:
        packed.byteswap()
    return packed.tolist()


def unpack_floats(data: bytes | memoryview) -> list[float]:
    packed = array("d")
    packed.frombytes(data)
    if not LITTLE_ENDIAN:
        packed.byteswap()
    return packed.tolist()


def pack_strings(values: list[str]) -> bytes | None:
    """Newline-joined UTF-8, or None if a value holds a newline (the caller then writes JSON)."""
    joined = "\n".join(values)
    if joined.count("\n") != max(len(values) - 1, 0):
        return None
    return joined.encode()


def unpack_strings(data: bytes | memoryview, count: int) -> list[str]:
    if count == 0:
        return []
    return bytes(data).decode().split("\n")
