"""The worker's batch Decision encoder writes exactly the bytes fastavro writes for the same records."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from features.definitions import FEATURE_NAMES
from schemas.codec import AvroCodec
from schemas.decision_encoding import DecisionBatchEncoder, DecisionReason, ShadowVerdict, avro_long

CODEC = AvroCodec.for_record("Decision")
NAMES = list(FEATURE_NAMES)
#: one- and multi-byte varints, negatives, the ends of the datetime range (years 1 and 9999)
TIMES = [0, 1, -1, 63, 64, -65, 253_402_300_799_999, -62_135_596_800_000, 1_763_791_262_345]


def _text(rng: random.Random) -> str:
    size = rng.choice([0, 1, 12, 63, 64, 65, 200, 5000])  # one- and multi-byte length prefixes
    return "".join(rng.choice("abcXYZ_-09é€😀") for _ in range(size))


def _batch(rng: random.Random, rows: int, shadow: bool) -> dict:
    specials = [0.0, -0.0, 1e308, -1e-308, math.inf, -math.inf, math.nan, 5e-324]
    features = np.array([[rng.choice(specials) if rng.random() < 0.1 else rng.uniform(-1e6, 1e6)
                          for _ in NAMES] for _ in range(rows)])  # fmt: skip
    return {
        "transaction_ids": [_text(rng) for _ in range(rows)],
        "card_ids": [f"card_{rng.randrange(10**9)}" for _ in range(rows)],
        "terminal_ids": [_text(rng) for _ in range(rows)],
        "event_times_ms": [rng.choice(TIMES) for _ in range(rows)],
        "decision_time_ms": 1_763_791_262_999,
        "scores": [rng.random() for _ in range(rows)],
        "decisions": [rng.choice(["APPROVE", "REVIEW", "DECLINE"]) for _ in range(rows)],
        "review_threshold": 0.42,
        "decline_threshold": 0.91,
        "model_version": "20261122T060000-abc123",
        "reasons": [
            [DecisionReason(rng.choice(NAMES), rng.uniform(-5, 5), rng.random()) for _ in range(rng.randrange(4))]
            for _ in range(rows)
        ],
        "features": features,
        "shadows": [ShadowVerdict("river", rng.random(), "REVIEW") for _ in range(rows)] if shadow else None,
    }


def _fastavro(batch: dict, row: int) -> bytes:
    shadow = batch["shadows"][row] if batch["shadows"] is not None else None
    return CODEC.encode({
        "transaction_id": batch["transaction_ids"][row],
        "card_id": batch["card_ids"][row],
        "terminal_id": batch["terminal_ids"][row],
        "event_time": batch["event_times_ms"][row],
        "decision_time": batch["decision_time_ms"],
        "score": batch["scores"][row],
        "decision": batch["decisions"][row],
        "review_threshold": batch["review_threshold"],
        "decline_threshold": batch["decline_threshold"],
        "model_version": batch["model_version"],
        "reasons": [{"feature": r.feature, "value": r.value, "contribution": r.contribution}
                    for r in batch["reasons"][row]],
        "features": dict(zip(NAMES, batch["features"][row].tolist(), strict=True)),
        "shadow": None if shadow is None else {"model": shadow.model, "score": shadow.score,
                                               "decision": shadow.decision},
    })  # fmt: skip


@pytest.mark.parametrize("shadow", [False, True])
def test_batch_encoding_equals_fastavro_byte_for_byte(shadow: bool) -> None:
    rng = random.Random(7 + shadow)
    batch = _batch(rng, 300, shadow)
    encoded = DecisionBatchEncoder(NAMES).encode_batch(**batch)
    assert len(encoded) == 300
    for row, data in enumerate(encoded):
        assert data == _fastavro(batch, row), f"row {row} differs"
        assert CODEC.decode(data)["transaction_id"] == batch["transaction_ids"][row]


def test_varints_match_the_avro_spec_examples() -> None:
    # Avro spec, "Binary encoding": 0 -> 00, -1 -> 01, 1 -> 02, -2 -> 03, 2 -> 04, -64 -> 7f, 64 -> 80 01
    for value, expected in [(0, "00"), (-1, "01"), (1, "02"), (-2, "03"), (2, "04"), (-64, "7f"), (64, "8001")]:
        assert avro_long(value).hex() == expected


def test_an_empty_batch_and_a_wrong_width_are_handled() -> None:
    encoder = DecisionBatchEncoder(NAMES)
    assert encoder.feature_maps(np.zeros((0, len(NAMES)))) == []
    with pytest.raises(ValueError, match="3 columns; this encoder writes 37"):
        encoder.feature_maps(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="at least one feature"):
        DecisionBatchEncoder([])
