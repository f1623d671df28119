"""The single-object codec: round trips, fingerprints, schema evolution and bad bytes."""

from __future__ import annotations

import copy
import struct
from datetime import UTC, datetime

import fastavro
import pytest
from fastavro.schema import fingerprint as fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from schemas.codec import (
    SINGLE_OBJECT_MARKER,
    AvroCodec,
    DecodeError,
    SchemaStore,
    crc64_avro,
    load_schema_json,
    schema_fingerprint,
)
from schemas.models import Decision, DriftReport, Label, Transaction

T0 = datetime(2026, 4, 1, 12, 30, tzinfo=UTC)
T1 = datetime(2026, 4, 3, 9, 0, tzinfo=UTC)

EXAMPLES = {
    "Transaction": Transaction(
        transaction_id="tx1",
        card_id="card_ab12",
        terminal_id="term_9",
        event_time=T0,
        amount=12.5,
        currency="EUR",
        merchant_category="5411",
        channel="POS",
        card_country="NL",
        terminal_country="BE",
    ),
    "Label": Label(
        transaction_id="tx1",
        card_id="card_ab12",
        terminal_id="term_9",
        event_time=T0,
        reported_at=T1,
        is_fraud=True,
        fraud_scenario="card_testing",
    ),
    "Decision": Decision(
        transaction_id="tx1",
        card_id="card_ab12",
        terminal_id="term_9",
        event_time=T0,
        decision_time=T1,
        score=0.91,
        decision="DECLINE",
        review_threshold=0.3,
        decline_threshold=0.8,
        model_version="m-1",
        reasons=[{"feature": "amount", "value": 912.0, "contribution": 1.7}],
        features={"amount": 912.0, "card_count_1h": 4.0},
        shadow={"model": "river-arf", "score": 0.4, "decision": "REVIEW"},
    ),
    "DriftReport": DriftReport(
        window_id="w-2026-04-01T00",
        window_start=T0,
        window_end=T1,
        model_version="m-1",
        event_count=10_000,
        late_events=3,
        features=[{"feature": "amount", "psi": 0.3, "ks_statistic": 0.2, "ks_pvalue": 0.001, "status": "ALERT"}],
        decision_mix={"APPROVE": 9900, "REVIEW": 80, "DECLINE": 20},
        status="ALERT",
    ),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_schema_round_trips_through_single_object_encoding(name: str) -> None:
    codec = AvroCodec.for_record(name)  # type: ignore[arg-type]
    model = EXAMPLES[name]
    data = codec.encode(model.model_dump())
    assert data[:2] == SINGLE_OBJECT_MARKER
    assert data[2:10] == schema_fingerprint(load_schema_json(name))
    assert type(model).model_validate(codec.decode(data)) == model


def test_crc64_matches_the_avro_spec_and_fastavro() -> None:
    assert crc64_avro(b'"int"') == 0x7275D51A3F395C8F  # the spec's reference implementation
    for name in ("Transaction", "Label", "Decision", "DriftReport"):
        canonical = to_parsing_canonical_form(fastavro.parse_schema(load_schema_json(name)))
        assert schema_fingerprint(load_schema_json(name)).hex() == fastavro_fingerprint(canonical, "CRC-64-AVRO")


def _label_v2() -> dict:
    schema = copy.deepcopy(load_schema_json("Label"))
    schema["fields"].append({"name": "channel_of_report", "type": ["null", "string"], "default": None})
    return schema


def test_a_newer_reader_with_an_added_optional_field_reads_old_data() -> None:
    old_writer = AvroCodec.for_record("Label")
    new_reader = AvroCodec(_label_v2())
    decoded = new_reader.decode(old_writer.encode(EXAMPLES["Label"].model_dump()))
    assert decoded["channel_of_report"] is None
    assert decoded["transaction_id"] == "tx1"


def test_an_older_reader_reads_data_from_a_newer_writer() -> None:
    store = SchemaStore.default()
    new_writer = AvroCodec(_label_v2(), store)
    old_reader = AvroCodec.for_record("Label", store)  # knows the v2 fingerprint through the store
    data = new_writer.encode({**EXAMPLES["Label"].model_dump(), "channel_of_report": "phone"})
    decoded = old_reader.decode(data)
    assert "channel_of_report" not in decoded
    assert Label.model_validate(decoded) == EXAMPLES["Label"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (None, "empty"),
        (b"\xc3\x01\x00\x01", "truncated"),
        (b"garbage bytes that are not avro", "bad_marker"),
        (b"\xc3\x01" + b"\x00" * 8 + b"\x02ab", "unknown_schema"),
    ],
)
def test_bad_bytes_raise_one_typed_error_with_a_reason(data: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        AvroCodec.for_record("Transaction").decode(data)
    assert caught.value.reason == reason
    assert str(caught.value)


def test_a_truncated_body_is_a_malformed_body_not_a_crash() -> None:
    codec = AvroCodec.for_record("Transaction")
    data = codec.encode(EXAMPLES["Transaction"].model_dump())
    for cut in range(11, len(data) - 1, 3):
        with pytest.raises(DecodeError) as caught:
            codec.decode(data[:cut])
        assert caught.value.reason == "malformed_body"


def test_trailing_bytes_after_a_record_are_rejected() -> None:
    codec = AvroCodec.for_record("Transaction")
    with pytest.raises(DecodeError, match="trailing"):
        codec.decode(codec.encode(EXAMPLES["Transaction"].model_dump()) + b"\x00")


def test_a_record_of_another_schema_is_rejected_by_name() -> None:
    label_bytes = AvroCodec.for_record("Label").encode(EXAMPLES["Label"].model_dump())
    with pytest.raises(DecodeError) as caught:
        AvroCodec.for_record("Transaction").decode(label_bytes)
    assert caught.value.reason == "wrong_schema"


def test_fingerprint_is_little_endian_crc64_of_the_canonical_form() -> None:
    schema = load_schema_json("Transaction")
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema)).encode()
    assert struct.unpack("<Q", schema_fingerprint(schema))[0] == crc64_avro(canonical)
