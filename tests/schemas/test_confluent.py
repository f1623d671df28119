"""Confluent wire format against a registry speaking the two REST calls we use, over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from schemas.codec import AvroCodec, DecodeError
from schemas.confluent import ConfluentCodec, SchemaRegistryClient, SchemaRegistryError
from tests.schemas.test_codec import EXAMPLES


class _Registry(BaseHTTPRequestHandler):
    schemas: ClassVar[dict[int, str]] = {}

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        for schema_id, text in self.schemas.items():
            if text == body["schema"]:
                return self._reply(200, {"id": schema_id})
        schema_id = len(self.schemas) + 1
        self.schemas[schema_id] = body["schema"]
        return self._reply(200, {"id": schema_id})

    def do_GET(self) -> None:
        schema_id = int(self.path.rsplit("/", 1)[-1])
        if schema_id not in self.schemas:
            return self._reply(404, {"error_code": 40403, "message": "Schema not found"})
        return self._reply(200, {"schema": self.schemas[schema_id]})


@pytest.fixture
def registry_url() -> Iterator[str]:
    _Registry.schemas = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_confluent_framing_round_trips_through_a_registry(registry_url: str) -> None:
    writer = ConfluentCodec(AvroCodec.for_record("Transaction"), SchemaRegistryClient(registry_url), "transactions")
    data = writer.encode(EXAMPLES["Transaction"].model_dump())
    assert data[0] == 0
    assert int.from_bytes(data[1:5], "big") == 1
    reader = ConfluentCodec(AvroCodec.for_record("Transaction"), SchemaRegistryClient(registry_url), "transactions")
    assert reader.decode(data)["transaction_id"] == "tx1"


def test_unknown_schema_ids_and_bad_magic_are_decode_errors(registry_url: str) -> None:
    reader = ConfluentCodec(AvroCodec.for_record("Transaction"), SchemaRegistryClient(registry_url), "transactions")
    with pytest.raises(DecodeError) as caught:
        reader.decode(b"\x00\x00\x00\x00\x63abc")
    assert caught.value.reason == "unknown_schema"
    with pytest.raises(DecodeError) as caught:
        reader.decode(b"\x01\x00\x00\x00\x01abc")
    assert caught.value.reason == "bad_marker"


def test_an_unreachable_registry_is_a_clear_error() -> None:
    with pytest.raises(SchemaRegistryError, match=r"127\.0\.0\.1:9"):
        SchemaRegistryClient("http://127.0.0.1:9", timeout=1).schema(1)
