"""Optional Confluent Schema Registry wire format: ``00 | schema id (4 bytes, big-endian) | body``.

Used instead of single-object encoding when a registry URL is configured. The writer registers
its schema under ``<topic>-value`` (TopicNameStrategy) once and caches the id; the reader fetches
unknown ids once and caches them. Only the registry's two REST calls we need are implemented, over
the standard library's HTTP client.
"""

from __future__ import annotations

import json
import struct
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from schemas.codec import AvroCodec, DecodeError, _parse

MAGIC = b"\x00"
HEADER = struct.Struct(">bI")
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryError(RuntimeError):
    """The registry refused or could not be reached; the message carries its answer."""


class SchemaRegistryClient:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers={"Content-Type": CONTENT_TYPE}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise SchemaRegistryError(f"{method} {path}: HTTP {exc.code} {exc.read()[:500]!r}") from exc
        except urllib.error.URLError as exc:
            raise SchemaRegistryError(f"{method} {self.url}{path}: {exc.reason}") from exc

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        text = json.dumps(schema, sort_keys=True)
        if (subject, text) not in self._ids:
            answer = self._call("POST", f"/subjects/{subject}/versions", {"schema": text})
            self._ids[(subject, text)] = int(answer["id"])
            self._schemas[int(answer["id"])] = dict(schema)
        return self._ids[(subject, text)]

    def schema(self, schema_id: int) -> dict[str, Any]:
        if schema_id not in self._schemas:
            answer = self._call("GET", f"/schemas/ids/{schema_id}")
            self._schemas[schema_id] = json.loads(answer["schema"])
        return self._schemas[schema_id]


class ConfluentCodec:
    """Same contract as :class:`schemas.codec.AvroCodec`, with registry framing."""

    def __init__(self, codec: AvroCodec, registry: SchemaRegistryClient, topic: str) -> None:
        self.codec = codec
        self.registry = registry
        self.subject = f"{topic}-value"
        self._writer_id: int | None = None
        self._writers: dict[int, dict[str, Any]] = {}

    def encode(self, record: Mapping[str, Any]) -> bytes:
        if self._writer_id is None:
            self._writer_id = self.registry.register(self.subject, self.codec.schema_json)
        return HEADER.pack(0, self._writer_id) + self.codec.encode_body(record)

    def decode(self, data: bytes | None) -> dict[str, Any]:
        if not data:
            raise DecodeError("empty", "Empty message value: expected Confluent-framed Avro.")
        if len(data) < HEADER.size:
            raise DecodeError("truncated", f"Message of {len(data)} bytes is shorter than the 5-byte header.")
        magic, schema_id = HEADER.unpack_from(data)
        if magic != 0:
            raise DecodeError("bad_marker", f"Magic byte {magic} is not 0: not Confluent wire format.")
        if schema_id not in self._writers:
            try:
                writer = _parse(self.registry.schema(schema_id))
            except SchemaRegistryError as exc:
                raise DecodeError("unknown_schema", f"Schema id {schema_id}: {exc}") from exc
            self._writers[schema_id] = writer
        return self.codec.decode_body(data[HEADER.size :], self._writers[schema_id])
