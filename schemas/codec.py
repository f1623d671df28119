"""Avro binary encoding of the topic values, through fastavro.

Default framing is the Avro spec's *single-object encoding*::

    C3 01 | CRC-64-AVRO fingerprint of the writer schema (8 bytes, little-endian) | Avro body

so a reader resolves the writer's schema from the fingerprint without a registry: every ``.avsc``
in ``schemas/avro`` (and older versions in ``schemas/avro/history``) is known to the
:class:`SchemaStore`. The optional Confluent Schema Registry wire format (``00 | schema id
(4 bytes, big-endian) | body``) lives in :mod:`schemas.confluent`.

Decoding anything that is not a valid message raises :class:`DecodeError` with a machine-readable
``reason`` (used as the dead-letter header) and a message a person can act on. Nothing else
escapes :meth:`AvroCodec.decode`.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

import fastavro
from fastavro.schema import to_parsing_canonical_form

from fraudstream.errors import FraudstreamError

SCHEMA_DIR = Path(__file__).resolve().parent / "avro"
SINGLE_OBJECT_MARKER = b"\xc3\x01"
HEADER_SIZE = len(SINGLE_OBJECT_MARKER) + 8

SchemaName = Literal["Transaction", "Label", "Decision", "DriftReport"]
SCHEMA_FILES: dict[str, str] = {
    "Transaction": "transaction.avsc",
    "Label": "label.avsc",
    "Decision": "decision.avsc",
    "DriftReport": "drift_report.avsc",
}

DecodeReason = Literal["empty", "truncated", "bad_marker", "unknown_schema", "malformed_body", "wrong_schema"]


class DecodeError(FraudstreamError, ValueError):
    """Bytes that could not be decoded into a record. ``reason`` is one of :data:`DecodeReason`."""

    def __init__(self, reason: DecodeReason, message: str) -> None:
        super().__init__(message)
        self.reason: DecodeReason = reason


_CRC64_EMPTY = 0xC15D213AA4D7A795


@cache
def _crc64_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    return tuple(table)


def crc64_avro(data: bytes) -> int:
    """The Avro spec's 64-bit Rabin fingerprint (CRC-64-AVRO) of ``data``."""
    table = _crc64_table()
    fp = _CRC64_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def schema_fingerprint(schema: Mapping[str, Any] | str) -> bytes:
    """The 8-byte little-endian fingerprint of a schema's Parsing Canonical Form."""
    parsed = fastavro.parse_schema(json.loads(schema) if isinstance(schema, str) else dict(schema))
    canonical = to_parsing_canonical_form(parsed)
    return struct.pack("<Q", crc64_avro(canonical.encode()))


def load_schema_json(name: str) -> dict[str, Any]:
    """The current schema for a record name, as JSON (one source of truth: ``schemas/avro``)."""
    if name not in SCHEMA_FILES:
        raise ValueError(f"Unknown schema {name!r}; known: {sorted(SCHEMA_FILES)}")
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / SCHEMA_FILES[name]).read_text())
    return loaded


def _parse(schema: Mapping[str, Any]) -> dict[str, Any]:
    """fastavro's parsed form of a record schema (a dict with the names resolved)."""
    return cast(dict[str, Any], fastavro.parse_schema(dict(schema)))


class SchemaStore:
    """Writer schemas a reader can resolve, by single-object fingerprint."""

    def __init__(self, schemas: Iterable[Mapping[str, Any]] = ()) -> None:
        self._by_fingerprint: dict[bytes, dict[str, Any]] = {}
        for schema in schemas:
            self.add(schema)

    @classmethod
    def default(cls) -> SchemaStore:
        """Every schema shipped in ``schemas/avro`` and its ``history`` folder."""
        files = sorted(SCHEMA_DIR.glob("*.avsc")) + sorted(SCHEMA_DIR.glob("history/*.avsc"))
        return cls(json.loads(path.read_text()) for path in files)

    def add(self, schema: Mapping[str, Any]) -> bytes:
        fingerprint = schema_fingerprint(schema)
        self._by_fingerprint[fingerprint] = _parse(schema)
        return fingerprint

    def get(self, fingerprint: bytes) -> dict[str, Any] | None:
        return self._by_fingerprint.get(fingerprint)

    def __len__(self) -> int:
        return len(self._by_fingerprint)


class AvroCodec:
    """Encodes records with one writer schema and decodes any known writer into ``reader_schema``.

    >>> codec = AvroCodec.for_record("Label")
    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)
    >>> label = {"transaction_id": "tx1", "card_id": "c1", "terminal_id": "t1", "event_time": t,
    ...          "reported_at": t, "is_fraud": True, "fraud_scenario": None}
    >>> data = codec.encode(label)
    >>> data[:2] == SINGLE_OBJECT_MARKER, codec.decode(data)["is_fraud"]
    (True, True)
    """

    def __init__(self, reader_schema: Mapping[str, Any], store: SchemaStore | None = None) -> None:
        self.schema_json: dict[str, Any] = dict(reader_schema)
        self.schema = _parse(reader_schema)
        self.record_name: str = self.schema["name"]
        self.fingerprint = schema_fingerprint(reader_schema)
        self.store = store if store is not None else SchemaStore.default()
        self.store.add(reader_schema)
        self._header = SINGLE_OBJECT_MARKER + self.fingerprint

    @classmethod
    def for_record(cls, name: SchemaName, store: SchemaStore | None = None) -> AvroCodec:
        return cls(load_schema_json(name), store)

    def encode_body(self, record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self.schema, record)
        return buffer.getvalue()

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Single-object encoding of ``record`` (a dict shaped like the schema)."""
        return self._header + self.encode_body(record)

    def decode(self, data: bytes | None) -> dict[str, Any]:
        """Decode single-object bytes written with any known version of this record's schema."""
        if data is None:
            raise DecodeError("empty", "A tombstone (null value): expected Avro single-object bytes.")
        if not data:
            raise DecodeError("empty", "Empty message value: expected Avro single-object bytes.")
        if len(data) < HEADER_SIZE:
            raise DecodeError(
                "truncated",
                f"Message of {len(data)} bytes is shorter than the {HEADER_SIZE}-byte single-object header.",
            )
        if data[:2] != SINGLE_OBJECT_MARKER:
            hint = (
                " It looks Confluent-framed (magic byte 00): set FRAUDSTREAM_SCHEMA_REGISTRY_URL to read it."
                if data[0] == 0
                else ""
            )
            raise DecodeError(
                "bad_marker",
                f"Message starts with {data[:2].hex()}, not the single-object marker c301: "
                f"it was not written by an Avro single-object encoder.{hint}",
            )
        fingerprint = data[2:HEADER_SIZE]
        writer = self.store.get(fingerprint)
        if writer is None:
            raise DecodeError(
                "unknown_schema",
                f"No known writer schema has fingerprint {fingerprint.hex()}; add the producer's "
                f"schema to schemas/avro/history to read it.",
            )
        if writer.get("name") != self.schema.get("name"):
            raise DecodeError(
                "wrong_schema",
                f"Message was written as {writer.get('name')}, expected {self.record_name}.",
            )
        if fingerprint == self.fingerprint:  # the common case: no schema resolution needed
            return self.decode_body(data[HEADER_SIZE:], None)
        return self.decode_body(data[HEADER_SIZE:], writer)

    def decode_body(self, body: bytes, writer: Mapping[str, Any] | None) -> dict[str, Any]:
        """Decode an unframed Avro body written with the parsed schema ``writer`` (None: this codec's)."""
        buffer = io.BytesIO(body)
        try:
            if writer is None:
                record = fastavro.schemaless_reader(buffer, self.schema, None)
            else:
                record = fastavro.schemaless_reader(buffer, dict(writer), self.schema)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeError, ...
            raise DecodeError(
                "malformed_body",
                f"Avro body of {len(body)} bytes does not match schema {self.record_name}: {type(exc).__name__}: {exc}",
            ) from exc
        if buffer.tell() != len(body):
            raise DecodeError(
                "malformed_body",
                f"{len(body) - buffer.tell()} trailing bytes after a {self.record_name} record.",
            )
        if not isinstance(record, dict):
            raise DecodeError("malformed_body", f"Decoded a {type(record).__name__}, not a record.")
        return record
