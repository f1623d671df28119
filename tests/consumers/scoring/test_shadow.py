"""The River shadow: scores without acting, learns from matured labels, memory stays bounded."""

from __future__ import annotations

import numpy as np

from consumers.scoring.processor import ScoringProcessor
from consumers.scoring.records import InputEvent
from consumers.scoring.shadow import RiverShadow
from consumers.scoring.state_store import TableState
from features.definitions import DAY_MS, FEATURE_NAMES
from fraudstream.settings import TopicNames
from schemas.codec import AvroCodec
from tests.consumers.scoring.fakes import StaticModels


def _vector(fraud: bool, rng: np.random.Generator) -> list[float]:
    v = rng.random(len(FEATURE_NAMES)).tolist()
    v[0] = 900.0 if fraud else 20.0  # amount
    return v


def _score(shadow: RiverShadow, transaction_id: str, ts: int, vector: list[float], flagged: bool) -> float:
    (score,) = shadow.score_batch([transaction_id], [ts], np.array([vector]), [float(flagged)], [flagged])
    return score


def test_the_shadow_learns_fraud_labels_and_matured_genuine_outcomes() -> None:
    rng = np.random.default_rng(1)
    shadow = RiverShadow(maturity_ms=DAY_MS, max_pending=10_000)
    t = 1_775_000_000_000
    before = _score(shadow, "probe-0", t, _vector(True, rng), True)
    for i in range(3000):
        fraud = i % 10 == 0
        _score(shadow, f"tx{i}", t + i * 60_000, _vector(fraud, rng), fraud)
        if fraud:
            shadow.learn_label(f"tx{i}", True)
    assert shadow.learned > 1500  # 300 fraud labels plus the transactions that matured (a day old) without one
    after = _score(shadow, "probe-1", t + 3000 * 60_000, _vector(True, rng), True)
    genuine = _score(shadow, "probe-2", t + 3000 * 60_000, _vector(False, rng), False)
    assert after > before
    assert after > genuine
    assert 0.0 <= shadow.outcomes.agreement <= 1.0
    assert shadow.outcomes.figures()["champion"]["recall"] == 1.0  # it flagged every fraud


def test_pending_outcomes_are_bounded() -> None:
    shadow = RiverShadow(maturity_ms=10 * DAY_MS, max_pending=100)
    rng = np.random.default_rng(2)
    for i in range(1000):
        _score(shadow, f"tx{i}", 1_775_000_000_000 + i, _vector(False, rng), False)
    assert len(shadow.outcomes.pending) <= 101
    assert len(shadow.features) <= 101  # what it keeps to learn from goes with the outcome


def test_shadow_results_ride_along_in_decisions_and_never_change_them(tiny_model) -> None:
    codec, out = AvroCodec.for_record("Transaction"), AvroCodec.for_record("Decision")
    record = {"transaction_id": "t1", "card_id": "c", "terminal_id": "x", "event_time": 1_775_000_000_000,
              "amount": 950.0, "currency": "EUR", "merchant_category": "5411", "channel": "POS",
              "card_country": "NL", "terminal_country": "NL"}  # fmt: skip
    events = [InputEvent("tx", 0, 0, b"c", codec.encode(record), 0)]
    topics = TopicNames(transactions="tx", labels="lb")
    plain = ScoringProcessor(topics, StaticModels(tiny_model), 1, clock=lambda: 1_775_000_000.0)
    shadowed = ScoringProcessor(
        topics, StaticModels(tiny_model), 1, shadow=RiverShadow(), clock=lambda: 1_775_000_000.0
    )
    a = out.decode(plain.process(events, TableState.in_memory()).decisions[0].value)
    b = out.decode(shadowed.process(events, TableState.in_memory()).decisions[0].value)
    assert a["shadow"] is None
    assert b["shadow"]["model"] == "river-logistic-regression"
    assert 0.0 <= b["shadow"]["score"] <= 1.0
    assert {**b, "shadow": None} == a
