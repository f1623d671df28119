"""The binary state encoding: round trips, the JSON fallback, and reading earlier versions' JSON."""

from __future__ import annotations

from features.card_state import CardState
from features.definitions import DAY_MS, DEFAULT_CONFIG
from features.terminal_state import TerminalState

T0 = 1_775_000_000_000 - 1_775_000_000_000 % DAY_MS


def _card() -> CardState:
    state = CardState()
    for i, amount in enumerate([12.5, 0.1 + 0.2, 1e-7, 4999.99]):
        state.apply(f"tx{i}", T0 + i * 3_600_000, amount, f"term_{i % 2}", DEFAULT_CONFIG)
    state.apply_label("tx1", T0 + 3_600_000, T0 + 2 * DAY_MS, True, DEFAULT_CONFIG)
    state.offsets["transactions"] = 41
    return state


def _terminal() -> TerminalState:
    state = TerminalState()
    for i in range(5):
        state.apply_transaction(f"tx{i}", T0 + i * DAY_MS // 2, DEFAULT_CONFIG)
    state.apply_label("tx3", T0 + DAY_MS, T0 + 3 * DAY_MS, True, DEFAULT_CONFIG)
    state.offsets["transactions"] = 7
    return state


def test_card_state_round_trips_exactly_in_binary() -> None:
    state = _card()
    data = state.to_bytes()
    assert data[:1] == b"\x01"  # binary, not JSON
    restored = CardState.from_bytes(data)
    assert restored == state
    assert restored.amounts[1] == 0.1 + 0.2  # floats bit for bit
    assert restored.to_bytes() == data
    assert CardState.from_bytes(CardState().to_bytes()) == CardState()


def test_terminal_state_round_trips_exactly_in_binary() -> None:
    state = _terminal()
    data = state.to_bytes()
    assert data[:1] == b"\x02"
    restored = TerminalState.from_bytes(data)
    assert restored == state
    assert restored.newest_day == state.newest_day
    assert restored.frauds == state.frauds
    assert TerminalState.from_bytes(TerminalState().to_bytes()) == TerminalState()
    assert TerminalState.from_bytes(TerminalState().to_bytes()).newest_day is None


def test_equal_states_encode_equally_whatever_the_insertion_order() -> None:
    a, b = TerminalState(), TerminalState()
    for i in (1, 0, 2):
        a.apply_transaction(f"tx{i}", T0 + i * 1000, DEFAULT_CONFIG)
    for i in (2, 1, 0):
        b.apply_transaction(f"tx{i}", T0 + i * 1000, DEFAULT_CONFIG)
    assert a.to_bytes() == b.to_bytes()


def test_states_written_as_json_by_earlier_versions_are_still_read() -> None:
    card, terminal = _card(), _terminal()
    assert CardState.from_bytes(card.to_json()) == card
    assert TerminalState.from_bytes(terminal.to_json()) == terminal


def test_ids_that_hold_a_newline_fall_back_to_json_and_still_round_trip() -> None:
    card = CardState()
    card.apply("tx\n1", T0, 1.0, "term\n1", DEFAULT_CONFIG)
    data = card.to_bytes()
    assert data[:1] == b"["
    assert CardState.from_bytes(data) == card
    terminal = TerminalState()
    terminal.apply_transaction("tx\n1", T0, DEFAULT_CONFIG)
    assert TerminalState.from_bytes(terminal.to_bytes()) == terminal
