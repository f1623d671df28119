"""The worker's batch logic without Kafka: decisions, dead letters, state, batching equivalence."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from consumers.scoring.processor import ScoringProcessor
from consumers.scoring.records import CARD_TABLE, InputEvent
from consumers.scoring.state_store import TableState
from features.definitions import FEATURE_NAMES
from features.engine import FeatureEngine, TransactionView
from features.terminal_state import TerminalState
from fraudstream.settings import TopicNames
from schemas.codec import AvroCodec
from tests.consumers.scoring.fakes import StaticModels

TOPICS = TopicNames(transactions="tx", labels="lb")
T0 = datetime(2026, 4, 1, 12, tzinfo=UTC)
TX = AvroCodec.for_record("Transaction")
LB = AvroCodec.for_record("Label")
DEC = AvroCodec.for_record("Decision")


def tx_record(i: int, card: str = "card_a", amount: float = 10.0, minutes: int = 0, **kw) -> dict:
    ts = int(T0.timestamp() * 1000) + (minutes + i) * 60_000
    return {"transaction_id": f"t{i}", "card_id": card, "terminal_id": kw.pop("terminal", "term_1"),
            "event_time": ts, "amount": amount, "currency": "EUR", "merchant_category": "5411",
            "channel": "POS", "card_country": "NL", "terminal_country": "NL", **kw}  # fmt: skip


def event(value: bytes | None, key: bytes | None, offset: int, topic: str = "tx", partition: int = 0) -> InputEvent:
    return InputEvent(topic, partition, offset, key, value, int(T0.timestamp() * 1000))


@pytest.fixture
def processor(tiny_model) -> ScoringProcessor:
    return ScoringProcessor(TOPICS, StaticModels(tiny_model), partitions=3, clock=lambda: T0.timestamp() + 86_400)


def test_every_valid_transaction_gets_one_decision_with_its_features(processor, tiny_model) -> None:
    records = [tx_record(i, amount=5.0 * (i + 1)) for i in range(20)]
    result = processor.process(
        [event(TX.encode(r), b"card_a", i) for i, r in enumerate(records)], TableState.in_memory()
    )
    assert len(result.decisions) == 20
    assert not result.dead_letters
    engine = FeatureEngine()
    for record, message in zip(records, result.decisions, strict=True):
        decision = DEC.decode(message.value)
        expected = engine.process_transaction(TransactionView.from_record(record))
        assert message.key == b"card_a"
        assert decision["transaction_id"] == record["transaction_id"]
        assert [decision["features"][n] for n in FEATURE_NAMES] == expected
        assert decision["score"] == pytest.approx(float(tiny_model.predict(np.array([expected]))[0]))
        assert decision["model_version"] == "tiny-1"


def test_flagged_decisions_carry_up_to_three_positive_reasons(processor) -> None:
    result = processor.process(
        [event(TX.encode(tx_record(i, amount=990.0)), b"card_a", i) for i in range(5)], TableState.in_memory()
    )
    flagged = [DEC.decode(m.value) for m in result.decisions]
    assert all(d["decision"] in ("REVIEW", "DECLINE") for d in flagged)
    for d in flagged:
        assert 1 <= len(d["reasons"]) <= 3
        assert all(r["contribution"] > 0 for r in d["reasons"])
        assert d["reasons"][0]["feature"] in FEATURE_NAMES
        contributions = [r["contribution"] for r in d["reasons"]]
        assert contributions == sorted(contributions, reverse=True)


def test_one_batch_equals_many_single_event_batches(processor) -> None:
    records = [tx_record(i, card=f"card_{i % 3}", terminal=f"term_{i % 2}", amount=3.0 + i) for i in range(30)]
    fourth = records[4]["event_time"]
    label = {"transaction_id": "t4", "card_id": "card_1", "terminal_id": "term_0", "event_time": fourth,
             "reported_at": fourth + 60_000, "is_fraud": True, "fraud_scenario": None}  # fmt: skip
    events = [event(TX.encode(r), r["card_id"].encode(), i, partition=i % 3) for i, r in enumerate(records)]
    events.insert(10, event(LB.encode(label), b"card_1", 0, topic="lb", partition=1))
    whole = processor.process(events, TableState.in_memory())
    processor.cache.clear()  # a fresh state store: the processor's cache belongs to the old one
    state = TableState.in_memory()
    singles = []
    for e in events:
        result = processor.process([e], state)
        state.apply(result.state_writes)
        singles += result.decisions
    assert [DEC.decode(m.value) for m in whole.decisions] == [DEC.decode(m.value) for m in singles]
    assert whole.labels == 1


def test_state_writes_are_one_per_key_per_batch_in_the_owning_partition(processor) -> None:
    events = [event(TX.encode(tx_record(i)), b"card_a", i, partition=2) for i in range(10)]
    result = processor.process(events, TableState.in_memory())
    keys = [(table, key) for table, key, _, _ in result.state_writes]
    assert len(keys) == len(set(keys)) == 2  # the card and the (terminal, partition 2) partial
    assert {partition for *_, partition in result.state_writes} == {2}
    assert (CARD_TABLE, b"card_a") in keys


def test_replayed_events_after_a_crash_give_identical_decisions(processor) -> None:
    events = [event(TX.encode(tx_record(i, amount=7.0 * i + 1)), b"card_a", i) for i in range(12)]
    state = TableState.in_memory()
    first = processor.process(events, state)
    state.apply(first.state_writes)  # state reached the changelog, offsets were not committed: all 12 come again
    again = processor.process(events, state)
    assert [DEC.decode(m.value) for m in first.decisions] == [DEC.decode(m.value) for m in again.decisions]


BAD = {
    "garbage": (b"\x00not avro at all", "bad_marker"),
    "empty": (b"", "empty"),
    "truncated": (None, "malformed_body"),
    "unknown_fingerprint": (b"\xc3\x01" + b"\x01" * 8 + b"\x02a", "unknown_schema"),
    "negative": (tx_record(1, amount=-5.0), "invalid"),
    "nan": (tx_record(1, amount=math.nan), "invalid"),
    "inf": (tx_record(1, amount=math.inf), "invalid"),
    "missing_id": (tx_record(1, transaction_id=""), "invalid"),
    "long_string": (tx_record(1, terminal="x" * 10_000), "invalid"),
    "far_future": (tx_record(1, minutes=60 * 24 * 400), "future_event_time"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_goes_to_the_dead_letter_topic_with_the_reason(processor, case: str) -> None:
    payload, reason = BAD[case]
    if isinstance(payload, dict):
        payload = TX.encode(payload)
    elif payload is None:
        payload = TX.encode(tx_record(1))[:-4]
    good = [event(TX.encode(tx_record(i)), b"card_a", i) for i in (0, 2)]
    bad = event(payload, b"card_a", 1)
    result = processor.process([good[0], bad, good[1]], TableState.in_memory())
    assert len(result.decisions) == 2  # the valid events around it are scored
    assert result.dead_letter_reasons == [reason]
    (letter,) = result.dead_letters
    headers = dict(letter.headers)
    assert letter.value == payload
    assert letter.key == b"card_a"
    assert headers["error_type"] == reason.encode()
    assert headers["source_topic"] == b"tx"
    assert headers["source_offset"] == b"1"
    assert headers["error_message"]


def test_a_key_that_is_not_the_card_id_is_dead_lettered(processor) -> None:
    result = processor.process([event(TX.encode(tx_record(1)), b"someone_else", 0)], TableState.in_memory())
    assert result.dead_letter_reasons == ["key_mismatch"]


def test_a_replay_spanning_many_days_does_not_double_count_terminal_state(tiny_model) -> None:
    """The id-based terminal dedup covers two days; the offset guard covers any replay length."""
    processor = ScoringProcessor(TOPICS, StaticModels(tiny_model), 3, clock=lambda: T0.timestamp() + 30 * 86_400)
    events = [event(TX.encode(tx_record(i, card=f"card_{i}", minutes=i * 60 * 6)), f"card_{i}".encode(), i)
              for i in range(40)]  # ten days at one terminal, one partition  # fmt: skip
    state = TableState.in_memory()
    first = processor.process(events, state)
    assert len(first.decisions) == 40
    state.apply(first.state_writes)
    processor.cache.clear()  # as after a restart: state comes back from the changelog
    again = processor.process(events, state)
    state.apply(again.state_writes)
    counts = TerminalState.from_bytes(state.get("terminal", b"term_1\x1f0", 0)).day_counts
    assert sum(counts.values()) == 40
    assert [DEC.decode(m.value) for m in first.decisions] == [DEC.decode(m.value) for m in again.decisions]


class CountingState(TableState):
    def __init__(self) -> None:
        super().__init__(TableState.in_memory().stores)
        self.reads: list[tuple[str, bytes, int]] = []

    def get(self, table: str, key: bytes, partition: int) -> bytes | None:
        self.reads.append((table, key, partition))
        return super().get(table, key, partition)


def test_states_are_read_from_the_store_once_then_served_from_the_cache(tiny_model) -> None:
    """A terminal's partials of all partitions are looked up once, the absent ones included."""
    processor = ScoringProcessor(TOPICS, StaticModels(tiny_model), 3, clock=lambda: T0.timestamp() + 86_400)
    state = CountingState()
    batch = [event(TX.encode(tx_record(0, card="card_1")), b"card_1", 0)]
    state.apply(processor.process(batch, state).state_writes)
    assert sorted(state.reads) == [
        ("card", b"card_1", 0),
        ("terminal", b"term_1\x1f0", 0), ("terminal", b"term_1\x1f1", 1), ("terminal", b"term_1\x1f2", 2),
    ]  # fmt: skip
    state.reads.clear()
    second = processor.process([event(TX.encode(tx_record(1, card="card_1", minutes=5)), b"card_1", 1)], state)
    assert state.reads == []
    assert second.scored[0].vector[FEATURE_NAMES.index("card_count_1h")] == 2.0
    processor.cache.clear()  # as after a rebalance: read again, and the stored states are current
    third = processor.process([event(TX.encode(tx_record(2, card="card_1", minutes=10)), b"card_1", 2)], state)
    assert len(state.reads) == 4
    assert third.scored[0].vector[FEATURE_NAMES.index("card_count_1h")] == 2.0  # the second is not stored


def test_terminal_partials_of_partitions_owned_elsewhere_are_read_afresh_every_batch(processor) -> None:
    """Another process owns partition 1: its partial of the terminal comes from ``foreign`` (the
    changelog view), never from the local store, and a newer value is seen by the next batch."""
    from consumers.scoring.processor import terminal_key
    from features.definitions import DAY_MS, DEFAULT_CONFIG

    yesterday = int(T0.timestamp() * 1000) - DAY_MS
    foreign_state = TerminalState()
    foreign_state.apply_transaction("elsewhere_1", yesterday, DEFAULT_CONFIG)
    view = {terminal_key("term_1", 1): foreign_state.to_bytes()}
    processor.foreign = lambda key, partition: view.get(key) if partition == 1 else None
    processor.set_owned(frozenset({0, 2}))
    state = TableState.in_memory()
    stale = TerminalState()  # what a standby copy in the local store might hold: never read
    for i in range(5):
        stale.apply_transaction(f"stale_{i}", yesterday, DEFAULT_CONFIG)
    state.stores["terminal"].put_many([(terminal_key("term_1", 1), stale.to_bytes(), 1)])

    def count(i: int) -> float:
        result = processor.process([event(TX.encode(tx_record(i)), b"card_a", i)], state)
        return DEC.decode(result.decisions[0].value)["features"]["terminal_recent_count_1d"]

    assert count(0) == 1.0
    foreign_state.apply_transaction("elsewhere_2", yesterday, DEFAULT_CONFIG)
    view[terminal_key("term_1", 1)] = foreign_state.to_bytes()
    assert count(1) == 2.0
