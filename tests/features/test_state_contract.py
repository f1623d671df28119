"""One checklist for every state type (as river's ``river/checks`` run one list over every estimator).

A state type holds one key's history (a card, or a terminal's partial) and must: survive its byte
encoding exactly; treat an event applied twice as applied once; and compute features without
changing itself. Adding a state type means adding its :class:`StateKind` below.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from features.card_state import CardState
from features.definitions import DAY_MS, DEFAULT_CONFIG
from features.terminal_state import TerminalState

T0 = 1_775_000_000_000 - 1_775_000_000_000 % DAY_MS
CONFIG = DEFAULT_CONFIG


@dataclass(frozen=True)
class StateKind:
    name: str
    new: Callable[[], Any]
    from_bytes: Callable[[bytes], Any]
    apply_transaction: Callable[[Any, dict], bool]
    apply_label: Callable[[Any, dict], bool]
    features: Callable[[Any, dict], list[float]]


KINDS = [
    StateKind(
        "card",
        CardState,
        CardState.from_bytes,
        lambda s, e: s.apply(e["id"], e["ts"], e["amount"], e["terminal"], CONFIG),
        lambda s, e: s.apply_label(e["id"], e["ts"], e["reported"], True, CONFIG),
        lambda s, e: s.features(e["ts"], e["amount"], e["terminal"], CONFIG),
    ),
    StateKind(
        "terminal",
        TerminalState,
        TerminalState.from_bytes,
        lambda s, e: s.apply_transaction(e["id"], e["ts"], CONFIG),
        lambda s, e: s.apply_label(e["id"], e["ts"], e["reported"], True, CONFIG),
        lambda s, e: s.features(e["ts"], CONFIG),
    ),
]


def _history(seed: int, n: int = 300) -> list[dict]:
    """Transactions over 60 days (a few of them labelled fraud, reported days later), in event order."""
    rng = random.Random(seed)
    times = sorted(T0 + rng.randrange(60 * DAY_MS) for _ in range(n))
    events = []
    for i, ts in enumerate(times):
        events.append({"kind": "tx", "id": f"tx{seed}-{i}", "ts": ts, "amount": round(rng.uniform(1, 900), 2),
                       "terminal": f"t{rng.randrange(4)}"})  # fmt: skip
        if rng.random() < 0.1:
            events.append({"kind": "label", "id": f"tx{seed}-{i}", "ts": ts,
                           "reported": ts + rng.randrange(1, 9 * DAY_MS)})  # fmt: skip
    return events


def _apply(kind: StateKind, state: Any, event: dict) -> bool:
    apply = kind.apply_transaction if event["kind"] == "tx" else kind.apply_label
    return apply(state, event)


def _built(kind: StateKind, events: list[dict]) -> Any:
    state = kind.new()
    for event in events:
        _apply(kind, state, event)
    return state


@pytest.fixture(params=KINDS, ids=lambda kind: kind.name)
def kind(request: pytest.FixtureRequest) -> StateKind:
    return request.param


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_byte_encoding_round_trips_the_state_and_its_features(kind: StateKind, seed: int) -> None:
    events = _history(seed)
    state = _built(kind, events)
    again = kind.from_bytes(state.to_bytes())
    assert again == state
    assert again.to_bytes() == state.to_bytes()
    probe = {**events[-1], "ts": events[-1]["ts"] + 3_600_000}
    assert kind.features(again, probe) == kind.features(state, probe)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_applying_an_event_twice_is_a_no_op(kind: StateKind, seed: int) -> None:
    events = _history(seed)
    state = _built(kind, events)
    encoded = state.to_bytes()
    recent = [e for e in events if e["ts"] >= events[-1]["ts"] - DAY_MS]  # within every dedup horizon
    assert recent
    for event in recent:
        assert _apply(kind, state, event) is False
    assert state.to_bytes() == encoded


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_features_have_no_side_effects(kind: StateKind, seed: int) -> None:
    events = _history(seed)
    state = _built(kind, events)
    encoded = state.to_bytes()
    probes = [{**e, "ts": e["ts"] + 1} for e in events[-20:] if e["kind"] == "tx"]
    first = [kind.features(state, probe) for probe in probes]
    assert state.to_bytes() == encoded
    assert [kind.features(state, probe) for probe in reversed(probes)] == first[::-1]
    assert state.to_bytes() == encoded
