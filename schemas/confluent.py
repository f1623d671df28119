"""The Confluent Schema Registry wire format: ``00 | schema id (4 bytes, big-endian) | Avro body``.

Turned on for every producer and consumer of the project by one setting,
``FRAUDSTREAM_SCHEMA_REGISTRY_URL`` (the base URL of a Confluent-compatible registry API):
:func:`codec_for` then gives a :class:`ConfluentCodec` instead of the single-object
:class:`~schemas.codec.AvroCodec`. A writer registers its schema under ``<topic>-value``
(TopicNameStrategy, what Confluent's serializers do by default) once and caches the id; a reader
fetches an id it has not seen once and caches it. A reader with a registry still decodes
single-object records, so a topic can switch framing without losing what it holds; a reader
without one names the setting when it meets registry framing.

Only the registry's REST calls we need are implemented, over the standard library's HTTP client.
A registry that cannot be reached is a :class:`SchemaRegistryError` (the process stops and, being
restarted, retries: no record is dead-lettered for an outage); an id the registry does not know is
a :class:`~schemas.codec.DecodeError` (``unknown_schema``), as a bad fingerprint is.
"""

from __future__ import annotations

import json
import struct
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol

from fraudstream.errors import FraudstreamError
from schemas.codec import SINGLE_OBJECT_MARKER, AvroCodec, DecodeError, SchemaName, SchemaStore, _parse

__all__ = [
    "ConfluentCodec",
    "RecordCodec",
    "SchemaNotFoundError",
    "SchemaRegistryClient",
    "SchemaRegistryError",
    "codec_for",
    "registry_client",
]

MAGIC = b"\x00"
HEADER = struct.Struct(">bI")
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryError(FraudstreamError, RuntimeError):
    """The registry refused or could not be reached; the message carries its answer."""


class SchemaNotFoundError(SchemaRegistryError):
    """The registry answered that it has no such schema id."""


class RecordCodec(Protocol):
    """What producers and consumers need of a codec, whichever the framing."""

    def encode(self, record: Mapping[str, Any]) -> bytes: ...

    def decode(self, data: bytes | None) -> dict[str, Any]: ...


class SchemaRegistryClient:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()  # the worker's delivery threads and its loop may share one

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers={"Content-Type": CONTENT_TYPE}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            kind = SchemaNotFoundError if exc.code == 404 else SchemaRegistryError
            raise kind(f"schema registry {self.url}: {method} {path}: HTTP {exc.code} {exc.read()[:500]!r}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SchemaRegistryError(
                f"schema registry {self.url} unreachable ({reason}); check FRAUDSTREAM_SCHEMA_REGISTRY_URL"
            ) from exc

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        """The id of ``schema`` under ``subject``, registering it if it is new there."""
        text = json.dumps(schema, sort_keys=True)
        with self._lock:
            if (subject, text) not in self._ids:
                answer = self._call("POST", f"/subjects/{subject}/versions", {"schema": text})
                self._ids[(subject, text)] = int(answer["id"])
                self._schemas[int(answer["id"])] = dict(schema)
            return self._ids[(subject, text)]

    def schema(self, schema_id: int) -> dict[str, Any]:
        with self._lock:
            if schema_id not in self._schemas:
                answer = self._call("GET", f"/schemas/ids/{schema_id}")
                self._schemas[schema_id] = json.loads(answer["schema"])
            return self._schemas[schema_id]


_CLIENTS: dict[str, SchemaRegistryClient] = {}


def registry_client(url: str) -> SchemaRegistryClient:
    """One client per registry URL in a process, so every codec shares its caches."""
    client = _CLIENTS.get(url)
    if client is None:
        client = _CLIENTS[url] = SchemaRegistryClient(url)
    return client


class ConfluentCodec:
    """Same contract as :class:`schemas.codec.AvroCodec`, with registry framing."""

    def __init__(self, codec: AvroCodec, registry: SchemaRegistryClient, topic: str) -> None:
        self.codec = codec
        self.registry = registry
        self.subject = f"{topic}-value"
        self._writer_id: int | None = None
        self._writers: dict[int, dict[str, Any]] = {}

    @property
    def header(self) -> bytes:
        """The 5 bytes every record this codec writes starts with (registers the schema once)."""
        if self._writer_id is None:
            self._writer_id = self.registry.register(self.subject, self.codec.schema_json)
        return HEADER.pack(0, self._writer_id)

    def encode(self, record: Mapping[str, Any]) -> bytes:
        return self.header + self.codec.encode_body(record)

    def decode(self, data: bytes | None) -> dict[str, Any]:
        if data is None:
            raise DecodeError("empty", "A tombstone (null value): expected Confluent-framed Avro.")
        if not data:
            raise DecodeError("empty", "Empty message value: expected Confluent-framed Avro.")
        if data[:2] == SINGLE_OBJECT_MARKER:
            return self.codec.decode(data)  # written before the topic switched framing
        if len(data) < HEADER.size:
            raise DecodeError("truncated", f"Message of {len(data)} bytes is shorter than the 5-byte header.")
        magic, schema_id = HEADER.unpack_from(data)
        if magic != 0:
            raise DecodeError(
                "bad_marker",
                f"Message starts with {data[:2].hex()}: neither Confluent framing (00) nor single-object (c301).",
            )
        writer = self._writers.get(schema_id)
        if writer is None:
            try:
                schema = self.registry.schema(schema_id)
            except SchemaNotFoundError as exc:
                raise DecodeError("unknown_schema", f"Schema id {schema_id}: {exc}") from exc
            try:
                parsed = _parse(schema)
            except Exception as exc:  # fastavro's schema errors have no common base
                raise DecodeError("unknown_schema", f"Schema id {schema_id} is no Avro schema: {exc}") from exc
            if not isinstance(parsed, dict) or parsed.get("name") != self.codec.record_name:
                name = parsed.get("name") if isinstance(parsed, dict) else parsed
                raise DecodeError(
                    "wrong_schema", f"Schema id {schema_id} is {name!r}, expected {self.codec.record_name}."
                )
            writer = self._writers[schema_id] = parsed
        return self.codec.decode_body(data[HEADER.size :], writer)


def codec_for(
    name: SchemaName, topic: str, registry_url: str | None, store: SchemaStore | None = None
) -> AvroCodec | ConfluentCodec:
    """The codec for ``name`` records on ``topic``: Confluent framing when a registry is set."""
    codec = AvroCodec.for_record(name, store)
    if not registry_url:
        return codec
    return ConfluentCodec(codec, registry_client(registry_url), topic)
