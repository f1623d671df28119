"""Pydantic models mirroring the Avro schemas, with the validation Avro types cannot express.

Avro guarantees shapes; these models guarantee meaning: ids are non-empty and bounded, a card id is
a token and never a card number, amounts are finite and non-negative, currencies are ISO 4217,
countries ISO 3166-1 alpha-2, times are timezone-aware. ``model_dump()`` yields the dict the codec
writes, and ``Model.model_validate(codec.decode(data))`` is the reader's full check.
A ``tests/test_schema_models.py`` contract test keeps the field lists equal to the ``.avsc`` files.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from fraudstream.pan import contains_pan, fullmatch_pan
from schemas.iso import ISO_4217_CURRENCIES

MAX_ID_LENGTH = 64
#: Plausibility bounds on event time: older or later timestamps are rejected as corrupt.
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)
MAX_AMOUNT = 10_000_000.0

Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^\S+$")]
Channel = Literal["POS", "ECOM", "ATM", "UNKNOWN"]
DecisionOutcome = Literal["APPROVE", "REVIEW", "DECLINE"]
DriftStatus = Literal["OK", "WARN", "ALERT"]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
MerchantCategory = Annotated[str, Field(pattern=r"^[0-9]{4}$")]


def looks_like_pan(value: str) -> bool:
    """True when the whole of ``value`` is a card number (13-19 digits, spaces or dashes between,
    Luhn-valid); :func:`fraudstream.pan.contains_pan` also finds one inside a longer id."""
    return fullmatch_pan(value)


def _no_pan(value: str, info: ValidationInfo) -> str:
    if contains_pan(value):
        raise ValueError(f"{info.field_name} holds what looks like a card number (PAN); send a token instead")
    return value


def _check_event_time(value: datetime) -> datetime:
    if not EARLIEST_EVENT_TIME <= value < LATEST_EVENT_TIME:
        raise ValueError(
            f"event time {value.isoformat()} is outside the plausible range "
            f"[{EARLIEST_EVENT_TIME.date()}, {LATEST_EVENT_TIME.date()})"
        )
    return value.astimezone(UTC)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class Transaction(_Record):
    """A card transaction (``schemas/avro/transaction.avsc``)."""

    transaction_id: Identifier
    card_id: Identifier
    terminal_id: Identifier
    event_time: AwareDatetime
    amount: float
    currency: str = "EUR"
    merchant_category: MerchantCategory = "0000"
    channel: Channel = "UNKNOWN"
    card_country: CountryCode = "ZZ"
    terminal_country: CountryCode = "ZZ"

    _ids_are_tokens = field_validator("transaction_id", "card_id", "terminal_id")(_no_pan)

    @field_validator("event_time")
    @classmethod
    def _event_time_plausible(cls, value: datetime) -> datetime:
        return _check_event_time(value)

    @field_validator("amount")
    @classmethod
    def _amount_finite_non_negative(cls, value: float) -> float:
        if not math.isfinite(value) or value < 0 or value > MAX_AMOUNT:
            raise ValueError(f"amount must be finite and in [0, {MAX_AMOUNT:g}], got {value!r}")
        return value

    @field_validator("currency")
    @classmethod
    def _currency_iso_4217(cls, value: str) -> str:
        if value not in ISO_4217_CURRENCIES:
            raise ValueError(f"currency {value!r} is not an ISO 4217 alphabetic code")
        return value

    @property
    def is_cross_border(self) -> bool:
        return "ZZ" not in (self.card_country, self.terminal_country) and (self.card_country != self.terminal_country)


class Label(_Record):
    """A fraud confirmation (``schemas/avro/label.avsc``)."""

    transaction_id: Identifier
    card_id: Identifier
    terminal_id: Identifier
    event_time: AwareDatetime
    reported_at: AwareDatetime
    is_fraud: bool
    fraud_scenario: Annotated[str, Field(max_length=MAX_ID_LENGTH)] | None = None

    _ids_are_tokens = field_validator("transaction_id", "card_id", "terminal_id")(_no_pan)

    @field_validator("event_time", "reported_at")
    @classmethod
    def _time_plausible(cls, value: datetime) -> datetime:
        return _check_event_time(value)

    @model_validator(mode="after")
    def _reported_after_event(self) -> Label:
        if self.reported_at < self.event_time:
            raise ValueError(
                f"label reported_at {self.reported_at.isoformat()} is before the transaction's "
                f"event_time {self.event_time.isoformat()}"
            )
        return self


class Reason(_Record):
    feature: str
    value: float
    contribution: float


class ShadowResult(_Record):
    model: str
    score: Annotated[float, Field(ge=0.0, le=1.0)]
    decision: DecisionOutcome


class Decision(_Record):
    """One decision per transaction (``schemas/avro/decision.avsc``)."""

    transaction_id: Identifier
    card_id: Identifier
    terminal_id: Identifier
    event_time: AwareDatetime
    decision_time: AwareDatetime
    score: Annotated[float, Field(ge=0.0, le=1.0)]
    decision: DecisionOutcome
    review_threshold: float
    decline_threshold: float
    model_version: Annotated[str, Field(min_length=1, max_length=128)]
    reasons: list[Reason] = Field(default_factory=list)
    features: dict[str, float]
    shadow: ShadowResult | None = None

    _ids_are_tokens = field_validator("transaction_id", "card_id", "terminal_id")(_no_pan)


class FeatureDrift(_Record):
    feature: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    status: DriftStatus


class DriftReport(_Record):
    """Drift of one closed window (``schemas/avro/drift_report.avsc``)."""

    window_id: Annotated[str, Field(min_length=1, max_length=128)]
    window_start: AwareDatetime
    window_end: AwareDatetime
    model_version: str
    event_count: Annotated[int, Field(ge=0)]
    late_events: Annotated[int, Field(ge=0)] = 0
    features: list[FeatureDrift]
    decision_mix: dict[str, int] = Field(default_factory=dict)
    status: DriftStatus
