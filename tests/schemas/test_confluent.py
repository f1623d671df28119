"""Confluent wire format against a registry speaking the two REST calls we use, over real HTTP.

The real registry (Apicurio) and confluent-kafka's own serializers are in
``tests/integration/test_schema_registry.py``; these pin the codec's rules quickly."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from schemas.codec import AvroCodec, DecodeError
from schemas.confluent import ConfluentCodec, SchemaRegistryClient, SchemaRegistryError, codec_for
from schemas.decision_encoding import DecisionBatchEncoder
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


def test_a_reader_with_a_registry_takes_single_object_records_too_and_checks_the_record_name(registry_url: str) -> None:
    reader = codec_for("Transaction", "transactions", registry_url)
    assert isinstance(reader, ConfluentCodec)
    single = AvroCodec.for_record("Transaction").encode(EXAMPLES["Transaction"].model_dump())
    assert reader.decode(single)["transaction_id"] == "tx1"
    label = codec_for("Label", "labels", registry_url).encode(EXAMPLES["Label"].model_dump())
    with pytest.raises(DecodeError) as caught:
        reader.decode(label)
    assert caught.value.reason == "wrong_schema"


def test_without_a_registry_the_codec_is_single_object_and_names_the_setting_for_confluent_bytes(
    registry_url: str,
) -> None:
    assert isinstance(codec_for("Transaction", "transactions", None), AvroCodec)
    framed = codec_for("Transaction", "transactions", registry_url).encode(EXAMPLES["Transaction"].model_dump())
    with pytest.raises(DecodeError, match="FRAUDSTREAM_SCHEMA_REGISTRY_URL") as caught:
        AvroCodec.for_record("Transaction").decode(framed)
    assert caught.value.reason == "bad_marker"


def test_the_worker_decision_encoder_writes_the_registry_header(registry_url: str) -> None:
    import numpy as np

    codec = codec_for("Decision", "decisions", registry_url)
    assert isinstance(codec, ConfluentCodec)
    encoder = DecisionBatchEncoder(["amount"], header=codec.header)
    (data,) = encoder.encode_batch(
        transaction_ids=["tx1"], card_ids=["card_1"], terminal_ids=["term_9"], event_times_ms=[1_763_791_262_000],
        decision_time_ms=1_763_791_262_050, scores=[0.02], decisions=["APPROVE"], review_threshold=0.5,
        decline_threshold=0.9, model_version="v1", reasons=[[]], features=np.array([[12.5]]), shadows=None,
    )  # fmt: skip
    assert data[:5] == codec.header
    assert codec.decode(data)["features"] == {"amount": 12.5}
