"""Hand-computed examples for every feature, including the window edges."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from features.definitions import DAY_MS, DEFAULT_CONFIG, FEATURE_NAMES, HOUR_MS, markdown_table
from features.engine import FeatureEngine, LabelView, TransactionView
from fraudstream.settings import PROJECT_ROOT

# Wednesday 2026-04-01 00:00 UTC
T0 = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp() * 1000)


def tx(tid: str, ts: int, amount: float, card: str = "c1", terminal: str = "t1", **kw: str) -> TransactionView:
    return TransactionView(tid, card, terminal, ts, amount, **kw)


def named(vector: list[float]) -> dict[str, float]:
    assert len(vector) == len(FEATURE_NAMES)
    return dict(zip(FEATURE_NAMES, vector, strict=True))


def test_transaction_features_from_the_amount_and_utc_time() -> None:
    engine = FeatureEngine()
    # Saturday 2026-04-04 03:00 UTC
    f = named(engine.process_transaction(tx("a", T0 + 3 * DAY_MS + 3 * HOUR_MS, 99.0)))
    assert f["amount"] == 99.0
    assert f["amount_log1p"] == pytest.approx(math.log(100.0))
    assert f["hour_sin"] == pytest.approx(math.sin(2 * math.pi * 3 / 24))
    assert f["hour_cos"] == pytest.approx(math.cos(2 * math.pi * 3 / 24))
    assert f["is_night"] == 1.0
    assert f["is_weekend"] == 1.0
    g = named(engine.process_transaction(tx("b", T0 + 6 * HOUR_MS, 1.0)))  # Wednesday 06:00 sharp
    assert g["is_night"] == 0.0
    assert g["is_weekend"] == 0.0


def test_card_windows_include_earlier_transactions_from_t_minus_w_and_this_one() -> None:
    engine = FeatureEngine()
    t = T0 + 40 * DAY_MS
    engine.process_transaction(tx("old", t - 30 * DAY_MS - 1, 1000.0))  # just outside 30 d
    engine.process_transaction(tx("d30", t - 30 * DAY_MS, 100.0))  # exactly at the 30 d edge: inside
    engine.process_transaction(tx("d7", t - 7 * DAY_MS, 50.0))  # 7 d edge: inside 7 d
    engine.process_transaction(tx("h24", t - 24 * HOUR_MS + 1, 20.0))  # inside 24 h
    engine.process_transaction(tx("h1", t - HOUR_MS, 10.0))  # 1 h edge: inside 1 h
    f = named(engine.process_transaction(tx("now", t, 40.0)))
    assert (f["card_count_1h"], f["card_amount_sum_1h"], f["card_amount_mean_1h"]) == (2, 50.0, 25.0)
    assert (f["card_count_24h"], f["card_amount_sum_24h"]) == (3, 70.0)
    assert (f["card_count_7d"], f["card_amount_sum_7d"]) == (4, 120.0)
    assert (f["card_count_30d"], f["card_amount_sum_30d"], f["card_amount_mean_30d"]) == (5, 220.0, 44.0)
    assert f["card_amount_ratio_30d"] == pytest.approx(40.0 / (180.0 / 4))
    assert f["card_seconds_since_prev"] == 3600.0


def test_simultaneous_transactions_of_a_card_do_not_see_each_other() -> None:
    engine = FeatureEngine()
    first = named(engine.process_transaction(tx("x", T0, 10.0)))
    second = named(engine.process_transaction(tx("y", T0, 30.0)))
    assert first["card_count_1h"] == second["card_count_1h"] == 1.0
    assert second["card_seconds_since_prev"] == 30 * 86_400.0


def test_empty_card_history_values() -> None:
    f = named(FeatureEngine().process_transaction(tx("a", T0, 12.5)))
    assert f["card_count_30d"] == 1.0
    assert f["card_amount_mean_30d"] == 12.5
    assert f["card_amount_ratio_30d"] == 1.0
    assert f["card_seconds_since_prev"] == 30 * 86_400.0
    assert f["card_new_terminal_30d"] == 1.0
    assert f["card_small_count_24h"] == 0.0
    assert f["card_fraud_reported_30d"] == 0.0


def test_gap_is_capped_at_thirty_days() -> None:
    engine = FeatureEngine()
    engine.process_transaction(tx("a", T0, 1.0))
    f = named(engine.process_transaction(tx("b", T0 + 45 * DAY_MS, 1.0)))
    assert f["card_seconds_since_prev"] == 30 * 86_400.0


def test_terminal_novelty_small_amounts_and_card_fraud_history() -> None:
    engine = FeatureEngine()
    t = T0 + 40 * DAY_MS
    engine.process_transaction(tx("t-31d", t - 31 * DAY_MS, 50.0, terminal="shop"))  # too old for novelty
    engine.process_transaction(tx("s1", t - 2 * HOUR_MS, 1.0, terminal="web"))
    engine.process_transaction(tx("s2", t - 24 * HOUR_MS, 4.99, terminal="web"))  # 24 h edge: inside
    engine.process_transaction(tx("big", t - HOUR_MS, 5.0, terminal="web"))  # not small (>= 5)
    lag = DEFAULT_CONFIG.label_lag_ms
    engine.process_label(LabelView("s1", "c1", "web", t - 2 * HOUR_MS, t - lag - 1, True))  # 1 ms before t - lag
    engine.process_label(LabelView("s2", "c1", "web", t - 24 * HOUR_MS, t - lag, True))  # at t - lag: not known
    engine.process_label(LabelView("t-31d", "c1", "shop", t - 31 * DAY_MS, t - DAY_MS, True))  # outside 30 d
    f = named(engine.process_transaction(tx("now", t, 900.0, terminal="shop")))
    assert f["card_new_terminal_30d"] == 1.0
    assert f["card_small_count_24h"] == 2.0
    assert f["card_fraud_reported_30d"] == 1.0
    g = named(engine.process_transaction(tx("again", t + 1, 10.0, terminal="web")))
    assert g["card_new_terminal_30d"] == 0.0


def test_terminal_windows_end_a_delay_before_the_day_and_count_only_reported_labels() -> None:
    engine = FeatureEngine()
    day = 40
    t = T0 + day * DAY_MS + 12 * HOUR_MS  # noon on day 40
    # transactions at terminal "term" on days 32 (inside 1d: [32, 33)), 26 (7d: [26, 33)), 3 (30d: [3, 33))
    for tid, d in (("a", 32), ("b", 32), ("c", 26), ("d", 3), ("e", 2), ("f", 33), ("g", 39)):
        engine.process_transaction(tx(tid, T0 + d * DAY_MS + HOUR_MS, 10.0, card=f"k{tid}", terminal="term"))
    lag = DEFAULT_CONFIG.label_lag_ms
    engine.process_label(LabelView("a", "ka", "term", T0 + 32 * DAY_MS + HOUR_MS, t - lag - 1, True))  # known
    engine.process_label(LabelView("c", "kc", "term", T0 + 26 * DAY_MS + HOUR_MS, t - lag, True))  # not yet known
    engine.process_label(LabelView("d", "kd", "term", T0 + 3 * DAY_MS + HOUR_MS, T0, True))  # known
    engine.process_label(LabelView("g", "kg", "term", T0 + 39 * DAY_MS + HOUR_MS, t - lag - 1, True))  # recent
    f = named(engine.process_transaction(tx("now", t, 10.0, card="z", terminal="term")))
    assert (f["terminal_count_1d"], f["terminal_risk_1d"]) == (2.0, 0.5)
    assert (f["terminal_count_7d"], f["terminal_risk_7d"]) == (3.0, pytest.approx(1 / 3))
    assert (f["terminal_count_30d"], f["terminal_risk_30d"]) == (4.0, 0.5)
    assert (f["terminal_recent_count_1d"], f["terminal_recent_risk_1d"]) == (1.0, 1.0)  # day 39
    assert (f["terminal_recent_count_7d"], f["terminal_recent_risk_7d"]) == (2.0, 0.5)  # days 33..39


def test_empty_terminal_windows_are_zero() -> None:
    f = named(FeatureEngine().process_transaction(tx("a", T0, 1.0)))
    for name in FEATURE_NAMES:
        if name.startswith("terminal_"):
            assert f[name] == 0.0, name


def test_categorical_signals() -> None:
    engine = FeatureEngine()
    f = named(engine.process_transaction(
        tx("a", T0, 1.0, channel="ECOM", merchant_category="7995", card_country="NL", terminal_country="US")
    ))  # fmt: skip
    assert (f["channel_ecom"], f["channel_atm"], f["is_cross_border"], f["mcc_high_risk"]) == (1, 0, 1, 1)
    g = named(engine.process_transaction(
        tx("b", T0, 1.0, card="c2", channel="ATM", merchant_category="6011", card_country="NL", terminal_country="ZZ")
    ))  # fmt: skip
    assert (g["channel_ecom"], g["channel_atm"], g["is_cross_border"], g["mcc_high_risk"]) == (0, 1, 0, 0)


def test_applying_a_transaction_twice_does_not_double_count() -> None:
    engine = FeatureEngine()
    first = engine.process_transaction(tx("a", T0, 10.0))
    again = engine.process_transaction(tx("a", T0, 10.0))
    assert first == again
    after = named(engine.process_transaction(tx("b", T0 + 1000, 10.0)))
    assert after["card_count_1h"] == 2.0
    assert engine.terminals["t1"].day_counts == {T0 // DAY_MS: 2}


def test_docs_feature_reference_is_generated_from_the_definitions() -> None:
    assert (PROJECT_ROOT / "docs" / "features.md").read_text() == markdown_table()


def test_memoised_terminal_counts_see_a_late_transaction_of_an_earlier_day() -> None:
    from features.definitions import DEFAULT_CONFIG
    from features.terminal_state import TerminalState

    state = TerminalState()
    day = 100
    for i in range(5):
        state.apply_transaction(f"t{i}", (day - 2) * DAY_MS + i, DEFAULT_CONFIG)
    state.apply_transaction("today", day * DAY_MS, DEFAULT_CONFIG)
    before = state.window_counts(day * DAY_MS + HOUR_MS, DEFAULT_CONFIG)
    assert state.window_counts(day * DAY_MS + 2 * HOUR_MS, DEFAULT_CONFIG) == before  # served from the memo
    state.apply_transaction("late", (day - 2) * DAY_MS + 99, DEFAULT_CONFIG)  # an earlier day, arriving late
    after = state.window_counts(day * DAY_MS + 3 * HOUR_MS, DEFAULT_CONFIG)
    fresh = TerminalState.from_bytes(state.to_bytes()).window_counts(day * DAY_MS + 3 * HOUR_MS, DEFAULT_CONFIG)
    assert after == fresh
    assert sum(c for c, _ in after) > sum(c for c, _ in before)
