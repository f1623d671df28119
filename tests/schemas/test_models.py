"""The pydantic models validate what Avro cannot, and mirror the .avsc files field for field."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

import schemas
from schemas.codec import load_schema_json
from schemas.models import Decision, DriftReport, Label, Transaction, looks_like_pan

T0 = datetime(2026, 4, 1, 12, 30, tzinfo=UTC)
VALID = {"transaction_id": "tx1", "card_id": "card_1", "terminal_id": "term_1", "event_time": T0, "amount": 10.0}


@pytest.mark.parametrize(
    ("model", "schema"),
    [(Transaction, "Transaction"), (Label, "Label"), (Decision, "Decision"), (DriftReport, "DriftReport")],
)
def test_model_fields_equal_the_avro_schema_fields(model: type, schema: str) -> None:
    avro_fields = [field["name"] for field in load_schema_json(schema)["fields"]]
    assert list(model.model_fields) == avro_fields


def test_public_surface_is_complete() -> None:
    exported = {name for name in dir(schemas) if not name.startswith("_")}
    public_classes = {name for name in exported if name[0].isupper()}
    assert public_classes <= set(schemas.__all__)


def test_a_valid_transaction_is_accepted_and_normalised_to_utc() -> None:
    tx = Transaction(**{**VALID, "event_time": datetime(2026, 4, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))})
    assert tx.event_time == T0
    assert tx.event_time.tzinfo == UTC


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", -1.0, "finite"),
        ("amount", math.nan, "finite"),
        ("amount", math.inf, "finite"),
        ("currency", "EURO", "ISO 4217"),
        ("currency", "ABC", "ISO 4217"),
        ("event_time", datetime(2026, 4, 1, 12, 30), "timezone"),
        ("event_time", datetime(2199, 1, 1, tzinfo=UTC), "plausible"),
        ("transaction_id", "", "at least 1"),
        ("terminal_id", "x" * 65, "at most 64"),
        ("card_id", "4111 1111 1111 1111", "pattern"),
        ("card_id", "4111111111111111", "card number"),
        ("card_country", "Netherlands", "pattern"),
        ("merchant_category", "54", "pattern"),
        ("channel", "CARRIER_PIGEON", "POS"),
    ],
)
def test_invalid_transactions_are_rejected_with_the_reason(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Transaction(**{**VALID, field: value})


def test_a_label_cannot_be_reported_before_its_transaction() -> None:
    with pytest.raises(ValidationError, match="before the transaction"):
        Label(
            transaction_id="t",
            card_id="c",
            terminal_id="x",
            event_time=T0,
            reported_at=T0 - timedelta(seconds=1),
            is_fraud=True,
        )


def test_decision_scores_are_probabilities() -> None:
    with pytest.raises(ValidationError):
        Decision(
            transaction_id="t",
            card_id="c",
            terminal_id="x",
            event_time=T0,
            decision_time=T0,
            score=1.5,
            decision="APPROVE",
            review_threshold=0.5,
            decline_threshold=0.9,
            model_version="m",
            features={},
        )


def test_pan_detection_uses_luhn() -> None:
    assert looks_like_pan("4111111111111111")
    assert not looks_like_pan("4111111111111112")
    assert not looks_like_pan("card_4111111111111111")
    assert not looks_like_pan("12345")


def test_cross_border_needs_both_countries_known() -> None:
    assert Transaction(**VALID, card_country="NL", terminal_country="US").is_cross_border
    assert not Transaction(**VALID, card_country="NL", terminal_country="ZZ").is_cross_border
