"""PSI, binned KS and the window book: values by hand, exact merges, grace and late events."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from consumers.drift.config import DriftThresholds
from consumers.drift.statistics import feature_drift, ks_from_counts, psi
from consumers.drift.windows import ReferenceBins, WindowBook, WindowState


def _reference(rng: np.random.Generator) -> dict:
    import pandas as pd

    from registry.drift_reference import build_reference

    frame = pd.DataFrame({"amount": rng.lognormal(3, 1, 20_000), "channel_ecom": (rng.random(20_000) < 0.1) * 1.0})
    return build_reference(frame, rng.random(20_000), sample_size=5_000, seed=1)


def _rows(rng: np.random.Generator, n: int, scale: float = 1.0, ecom: float = 0.1) -> list[dict]:
    amounts = rng.lognormal(3, 1, n) * scale
    channel = (rng.random(n) < ecom) * 1.0
    scores = rng.random(n)
    return [{"features": {"amount": a, "channel_ecom": c}, "score": s, "decision": "APPROVE"}
            for a, c, s in zip(amounts, channel, scores, strict=True)]  # fmt: skip


def test_psi_by_hand_and_with_empty_bins() -> None:
    assert psi([25, 25, 50], [0.25, 0.25, 0.5]) == pytest.approx(0.0)
    expected = (0.9 - 0.5) * np.log(0.9 / 0.5) + (0.1 - 0.5) * np.log(0.1 / 0.5)
    assert psi([90, 10], [0.5, 0.5]) == pytest.approx(expected)
    assert np.isfinite(psi([100, 0], [0.5, 0.5]))  # epsilon keeps an empty bin finite
    with pytest.raises(ValueError, match="bins"):
        psi([1, 2, 3], [0.5, 0.5])


def test_binned_ks_is_close_to_scipy_on_raw_data() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 5_000)
    window = rng.normal(0.3, 1, 4_000)
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, 101)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, window, side="left"), minlength=len(edges) + 1)
    cdf = np.searchsorted(np.sort(reference), edges, side="right") / len(reference)
    statistic, p_value = ks_from_counts(counts, cdf, len(reference))
    exact = ks_2samp(window, reference)
    assert statistic <= exact.statistic + 1e-12
    assert statistic == pytest.approx(exact.statistic, abs=0.02)
    assert p_value < 1e-6


def test_status_rules() -> None:
    t = DriftThresholds()
    assert feature_drift(0.3, 0.0, 1.0, t.psi_warn, t.psi_alert, t.ks_threshold, t.ks_alpha) == "ALERT"
    assert feature_drift(0.12, 0.0, 1.0, t.psi_warn, t.psi_alert, t.ks_threshold, t.ks_alpha) == "WARN"
    assert feature_drift(0.01, 0.2, 1e-9, t.psi_warn, t.psi_alert, t.ks_threshold, t.ks_alpha) == "WARN"
    assert feature_drift(0.01, 0.2, 0.5, t.psi_warn, t.psi_alert, t.ks_threshold, t.ks_alpha) == "OK"
    with pytest.raises(ValueError, match="psi_warn"):
        DriftThresholds(psi_warn=0.3, psi_alert=0.2)


def test_a_stationary_window_is_ok_and_a_shifted_one_alerts_on_the_shifted_feature_only() -> None:
    rng = np.random.default_rng(1)
    bins = ReferenceBins(_reference(rng))
    stationary, shifted = WindowState(0, 10, "m"), WindowState(10, 20, "m")
    stationary.add(bins, _rows(rng, 10_000))
    shifted.add(bins, _rows(rng, 10_000, scale=2.0))
    calm = {f["feature"]: f for f in stationary.report(bins, DriftThresholds())["features"]}
    alarm = {f["feature"]: f for f in shifted.report(bins, DriftThresholds())["features"]}
    assert all(f["status"] == "OK" for f in calm.values())
    assert alarm["amount"]["status"] == "ALERT"
    assert alarm["channel_ecom"]["status"] == "OK"
    assert alarm["score"]["status"] == "OK"


def test_partial_windows_merge_exactly() -> None:
    rng = np.random.default_rng(2)
    bins = ReferenceBins(_reference(rng))
    rows = _rows(rng, 3_000, scale=1.2)
    whole, a, b = WindowState(0, 10, "m"), WindowState(0, 10, "m"), WindowState(0, 10, "m")
    whole.add(bins, rows)
    a.add(bins, rows[:1000])
    b.add(bins, rows[1000:])
    a.merge(b)
    assert a.report(bins, DriftThresholds()) == whole.report(bins, DriftThresholds())


def test_windows_close_after_grace_and_later_events_are_counted_late() -> None:
    book = WindowBook(size_ms=100, grace_ms=20)
    first = book.window_for(50, "m")
    assert first is not None
    book.advance(50)
    assert book.closable() == []
    book.advance(119)
    assert book.closable() == []  # end 100 + grace 20 not reached
    book.window_for(119, "m")
    book.advance(120)
    closed = book.closable()
    assert [w.start_ms for w in closed] == [0]
    assert book.window_for(99, "m") is None  # its window has closed
    assert book.late_events == 1
    assert [w.start_ms for w in book.closable(force=True)] == [100]


def test_commit_limits_keep_the_first_offset_of_open_windows() -> None:
    book = WindowBook(size_ms=100, grace_ms=0)
    w1, w2 = book.window_for(10, "m"), book.window_for(150, "m")
    assert w1 is not None
    assert w2 is not None
    w1.min_offsets[("d", 0)] = 5
    w2.min_offsets[("d", 0)] = 40
    w2.min_offsets[("d", 1)] = 7
    assert book.commit_limits() == {("d", 0): 5, ("d", 1): 7}


def test_an_event_bound_closes_a_full_window_early_and_the_span_continues_in_the_next() -> None:
    book = WindowBook(size_ms=100, grace_ms=0, max_events=3)
    got = [book.window_for(ts, "m") for ts in (1, 2, 3, 4, 5, 150)]
    assert all(w is not None for w in got)
    assert [w.window_id[-2:] for w in got if w] == ["#0", "#0", "#0", "#1", "#1", "#0"]
    closed = book.closable()  # the watermark has not moved: only the full window closes
    assert [(w.start_ms, w.seq, w.assigned) for w in closed] == [(0, 0, 3)]
    book.advance(150)
    assert [(w.start_ms, w.seq, w.assigned) for w in book.closable()] == [(0, 1, 2)]
    assert book.window_for(99, "m") is None  # the span closed by time: late, not a new window
    assert book.late_events == 1


def test_count_only_windows_hold_exactly_n_decisions_and_report_their_event_span() -> None:
    rng = np.random.default_rng(3)
    bins = ReferenceBins(_reference(rng))
    book = WindowBook(size_ms=None, grace_ms=0, max_events=400)
    rows = _rows(rng, 1_000)
    closed = []
    for i, row in enumerate(rows):
        window = book.window_for(10_000 + i, "m")
        assert window is not None
        window.add(bins, [row])
        closed += book.closable()
    closed += book.closable(force=True)
    assert [w.count for w in closed] == [400, 400, 200]
    reports = [w.report(bins, DriftThresholds()) for w in closed]
    assert [(r["window_start"], r["window_end"]) for r in reports] == [(10_000, 10_400), (10_400, 10_800),
                                                                        (10_800, 11_000)]  # fmt: skip
    assert len({r["window_id"] for r in reports}) == 3
    assert reports[0]["window_id"].startswith("m/count/")
    assert book.window_for(5, "m") is not None  # count-only windows have no late events


def test_a_window_needs_a_size() -> None:
    with pytest.raises(ValueError, match="size in time, in events"):
        WindowBook(size_ms=None, grace_ms=0)
    with pytest.raises(ValueError, match="need window size, events > 0"):
        WindowBook(size_ms=100, grace_ms=0, max_events=0)


def test_a_windows_late_count_is_the_late_decisions_that_arrived_while_it_was_open() -> None:
    book = WindowBook(size_ms=100, grace_ms=0)
    book.window_for(10, "m")
    book.advance(120)
    book.closable()
    second = book.window_for(150, "m")
    assert second is not None
    assert book.window_for(50, "m") is None  # late, while the second window is open
    book.advance(300)
    assert book.closable() == [second]
    assert book.late_events - second.late_at_open == 1  # what its report says
    third = book.window_for(250, "m")
    assert third is not None
    assert book.window_for(120, "m") is None
    assert book.window_for(60, "m") is None
    assert book.late_events - third.late_at_open == 2  # not the running total of 3
