"""One checklist for every shadow model (``consumers.scoring.records.Shadow``).

A shadow scores every transaction beside the champion and never acts: its scores are
probabilities, its verdicts are decisions, labels for transactions it never saw are harmless, it
publishes its metrics, and the champion's decisions are the same with it or without it. Adding a
shadow means adding a factory to ``SHADOWS``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from consumers.scoring.challenger import ChallengerShadow
from consumers.scoring.processor import ScoringProcessor
from consumers.scoring.records import InputEvent, Shadow
from consumers.scoring.shadow import RiverShadow
from consumers.scoring.state_store import TableState
from features.definitions import DAY_MS, FEATURE_NAMES
from fraudstream.settings import TopicNames
from schemas.codec import AvroCodec
from tests.consumers.scoring.fakes import StaticModels, tiny_model

SHADOWS: dict[str, Callable[[], Shadow]] = {
    "river": RiverShadow,
    "registry-model": lambda: ChallengerShadow(StaticModels(tiny_model()), "staging"),
}
T = 1_775_000_000_000


@pytest.fixture(params=sorted(SHADOWS))
def shadow(request: pytest.FixtureRequest) -> Shadow:
    return SHADOWS[request.param]()


def test_scores_are_probabilities_and_verdicts_are_decisions(shadow: Shadow) -> None:
    rng = np.random.default_rng(0)
    assert isinstance(shadow.name, str)
    assert shadow.name
    matrix = rng.random((200, len(FEATURE_NAMES)))
    flagged = [i % 7 == 0 for i in range(200)]
    scores = shadow.score_batch([f"tx{i}" for i in range(200)], [T + i * 60_000 for i in range(200)], matrix,
                                [0.9 if f else 0.1 for f in flagged], flagged)  # fmt: skip
    assert len(scores) == 200
    for score in scores:
        assert 0.0 <= score <= 1.0
        assert shadow.decide(score) in ("APPROVE", "REVIEW", "DECLINE")


def test_labels_it_never_scored_are_harmless_and_metrics_can_always_be_exported(shadow: Shadow) -> None:
    shadow.export_metrics()  # before anything was scored
    shadow.learn_label("never-seen", True)
    shadow.learn_label("never-seen", False)
    shadow.score_batch(["tx"], [T + DAY_MS], np.zeros((1, len(FEATURE_NAMES))), [0.0], [False])
    shadow.learn_label("tx", True)
    shadow.export_metrics()


def test_the_champions_decisions_are_the_same_with_the_shadow(shadow: Shadow, tiny_model) -> None:
    codec, out = AvroCodec.for_record("Transaction"), AvroCodec.for_record("Decision")
    events = []
    for i in range(50):
        record = {"transaction_id": f"t{i}", "card_id": f"c{i % 5}", "terminal_id": f"x{i % 3}",
                  "event_time": T + i * 600_000, "amount": 10.0 + 37.0 * i, "currency": "EUR",
                  "merchant_category": "5411", "channel": "POS",
                  "card_country": "NL", "terminal_country": "NL"}  # fmt: skip
        events.append(InputEvent("tx", 0, i, f"c{i % 5}".encode(), codec.encode(record), 0))
    topics = TopicNames(transactions="tx", labels="lb")

    def decisions(with_shadow: Shadow | None) -> list[dict]:
        processor = ScoringProcessor(topics, StaticModels(tiny_model), 1, shadow=with_shadow, clock=lambda: T / 1000)
        return [out.decode(m.value) for m in processor.process(events, TableState.in_memory()).decisions]

    plain, shadowed = decisions(None), decisions(shadow)
    assert all(d["shadow"]["model"] == shadow.name for d in shadowed)
    assert all(0.0 <= d["shadow"]["score"] <= 1.0 for d in shadowed)
    assert [{**d, "shadow": None} for d in shadowed] == plain
