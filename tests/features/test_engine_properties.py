"""Invariants of the incremental engine under reordering, duplicates and expiry (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from features.card_state import CardState
from features.definitions import DAY_MS, FeatureConfig
from features.engine import FeatureEngine, LabelView, TransactionView
from features.terminal_state import TerminalState

T0 = 1_775_000_000_000 - 1_775_000_000_000 % DAY_MS

events = st.lists(
    st.tuples(
        st.integers(0, 2),  # card
        st.integers(0, 2),  # terminal
        st.integers(0, 12).map(lambda k: k * 3 * 3_600_000),  # few distinct times: many ties
        st.floats(0.5, 500, allow_nan=False).map(lambda a: round(a, 2)),
    ),
    min_size=1,
    max_size=40,
)


def _transactions(raw: list[tuple[int, int, int, float]]) -> list[TransactionView]:
    return [
        TransactionView(f"tx{i:03d}", f"c{c}", f"t{t}", T0 + dt, amount) for i, (c, t, dt, amount) in enumerate(raw)
    ]


def _run(txs: list[TransactionView]) -> tuple[dict[str, list[float]], FeatureEngine]:
    engine = FeatureEngine()
    return {tx.transaction_id: engine.process_transaction(tx) for tx in txs}, engine


def _states(engine: FeatureEngine) -> dict[str, bytes]:
    out = {f"card:{k}": v.to_bytes() for k, v in engine.cards.items()}
    for key, state in engine.terminals.items():
        out[f"terminal:{key}"] = state.to_bytes()
    return out


@settings(max_examples=150, deadline=None)
@given(events, st.randoms(use_true_random=False))
def test_any_order_of_simultaneous_events_gives_the_same_features_and_state(raw, rnd) -> None:
    txs = sorted(_transactions(raw), key=lambda tx: tx.ts_ms)
    shuffled = sorted(txs, key=lambda tx: (tx.ts_ms, rnd.random()))  # permute within equal times
    features_a, engine_a = _run(txs)
    features_b, engine_b = _run(shuffled)
    assert features_a == features_b
    assert _states(engine_a) == _states(engine_b)


@settings(max_examples=150, deadline=None)
@given(events, st.lists(st.integers(0, 39), max_size=15), st.randoms(use_true_random=False))
def test_replayed_duplicates_change_neither_features_nor_state(raw, dup_positions, rnd) -> None:
    txs = sorted(_transactions(raw), key=lambda tx: tx.ts_ms)
    clean_features, clean_engine = _run(txs)
    stream = list(txs)
    for position in dup_positions:  # re-deliver an event later on, as a restarted worker would
        original = txs[position % len(txs)]
        insert_at = stream.index(original) + 1 + int(rnd.random() * (len(stream) - stream.index(original)))
        stream.insert(insert_at, original)
    engine = FeatureEngine()
    for tx in stream:
        vector = engine.process_transaction(tx)
        assert vector == clean_features[tx.transaction_id]
    assert _states(engine) == _states(clean_engine)


@settings(max_examples=100, deadline=None)
@given(events)
def test_labels_applied_twice_or_in_any_order_are_counted_once(raw) -> None:
    txs = sorted(_transactions(raw), key=lambda tx: tx.ts_ms)
    labels = [
        LabelView(tx.transaction_id, tx.card_id, tx.terminal_id, tx.ts_ms, tx.ts_ms + DAY_MS, True) for tx in txs[::2]
    ]
    once, twice = FeatureEngine(), FeatureEngine()
    for label in labels:
        once.process_label(label)
    for label in reversed(labels + labels):
        twice.process_label(label)
    assert _states(once) == _states(twice)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 90 * 24), min_size=1, max_size=120), st.integers(2, 20))
def test_card_state_is_bounded_by_event_time_expiry_and_the_cap(hours, cap) -> None:
    config = FeatureConfig(max_card_entries=cap)
    state = CardState()
    for i, h in enumerate(sorted(hours)):
        state.apply(f"tx{i}", T0 + h * 3_600_000, 1.0, "t", config)
        assert len(state) <= cap
        assert state.times == sorted(state.times)
        assert state.times[0] >= state.times[-1] - config.card_retention_ms
    restored = CardState.from_bytes(state.to_bytes())
    assert restored == state


@settings(max_examples=50, deadline=None)
@given(events)
def test_terminal_state_survives_serialisation(raw) -> None:
    _, engine = _run(sorted(_transactions(raw), key=lambda tx: tx.ts_ms))
    for state in engine.terminals.values():
        assert TerminalState.from_bytes(state.to_bytes()) == state
