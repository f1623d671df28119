"""Tumbling event-time windows of decisions, as mergeable bin counts per feature and for the score.

A window covers ``[start, start + size)`` of the decisions' *event* time, per model version (each
version has its own reference bins). Each input partition has its own watermark (the largest
event time seen on it) and the book's watermark is the smallest of them, so a partition that is
consumed ahead of the others cannot close windows the others still feed; a window closes once
that watermark passes its end plus ``grace``. A decision whose window has already closed is
counted as late and otherwise ignored. Window state is counts (PSI bins, KS grid cells, decision
mix), so two partial windows of the same id merge exactly by adding them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from consumers.drift.statistics import feature_drift, ks_from_counts, psi
from trainer.drift_reference import bin_counts

KS_GRID = 100
STATUS_ORDER = {"OK": 0, "WARN": 1, "ALERT": 2}


#: Features that are a function of the window's own time span (a day of hours, a weekday), so a
#: short window always differs from the all-week reference: reported, but not in the window status.
CALENDAR_FEATURES = frozenset({"hour_sin", "hour_cos", "is_night", "is_weekend"})


@dataclass(frozen=True)
class DriftThresholds:
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    ks_threshold: float = 0.1
    ks_alpha: float = 0.001
    not_in_status: frozenset[str] = CALENDAR_FEATURES

    def __post_init__(self) -> None:
        if not 0 < self.psi_warn <= self.psi_alert:
            raise ValueError(f"need 0 < psi_warn <= psi_alert, got {self.psi_warn}, {self.psi_alert}")


class ReferenceBins:
    """A model version's drift reference, ready for binning windows."""

    def __init__(self, reference: dict[str, Any], ks_grid: int = KS_GRID) -> None:
        self.features: dict[str, dict[str, Any]] = reference["features"]
        self.names = list(self.features)
        self.ks_edges: dict[str, np.ndarray] = {}
        self.ks_cdf: dict[str, np.ndarray] = {}
        self.sample_size: dict[str, int] = {}
        for name, ref in self.features.items():
            sample = np.sort(np.asarray(ref["sample"], dtype=float))
            edges = np.unique(np.quantile(sample, np.linspace(0, 1, ks_grid + 1)[1:-1]))
            self.ks_edges[name] = edges
            self.ks_cdf[name] = np.searchsorted(sample, edges, side="right") / len(sample)
            self.sample_size[name] = len(sample)

    def counts(self, name: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ref = self.features[name]
        psi_counts = bin_counts(ref, values)
        edges = self.ks_edges[name]
        # cell i holds edges[i-1] < v <= edges[i], so cumulative counts are P(X <= edge) like the CDF
        ks_counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
        return psi_counts, ks_counts


@dataclass
class WindowState:
    start_ms: int
    end_ms: int
    model_version: str
    count: int = 0
    psi_counts: dict[str, np.ndarray] = field(default_factory=dict)
    ks_counts: dict[str, np.ndarray] = field(default_factory=dict)
    decision_mix: Counter[str] = field(default_factory=Counter)
    #: smallest offset per (topic, partition) of an event in this window: the commit limit
    min_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def window_id(self) -> str:
        start = datetime.fromtimestamp(self.start_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.model_version}/{start}"

    def add(self, bins: ReferenceBins, rows: list[dict[str, Any]]) -> None:
        """Add decoded decisions (``features`` dict, ``score``, ``decision``)."""
        if not rows:
            return
        columns = {name: np.array([r["features"].get(name, np.nan) for r in rows], dtype=float)
                   for name in bins.names if name != "score"}  # fmt: skip
        columns["score"] = np.array([r["score"] for r in rows], dtype=float)
        for name, values in columns.items():
            p, k = bins.counts(name, values[np.isfinite(values)])
            self.psi_counts[name] = self.psi_counts.get(name, 0) + p
            self.ks_counts[name] = self.ks_counts.get(name, 0) + k
        self.decision_mix.update(r["decision"] for r in rows)
        self.count += len(rows)

    def merge(self, other: WindowState) -> None:
        if (other.start_ms, other.model_version) != (self.start_ms, self.model_version):
            raise ValueError(f"cannot merge window {other.window_id} into {self.window_id}")
        for name, counts in other.psi_counts.items():
            self.psi_counts[name] = self.psi_counts.get(name, 0) + counts
        for name, counts in other.ks_counts.items():
            self.ks_counts[name] = self.ks_counts.get(name, 0) + counts
        self.decision_mix.update(other.decision_mix)
        self.count += other.count
        for tp, offset in other.min_offsets.items():
            self.min_offsets[tp] = min(offset, self.min_offsets.get(tp, offset))

    def report(self, bins: ReferenceBins, thresholds: DriftThresholds, late_events: int = 0) -> dict[str, Any]:
        """The DriftReport record of this window."""
        features = []
        worst = "OK"
        for name in bins.names:
            if name not in self.psi_counts:
                continue
            value = psi(self.psi_counts[name], bins.features[name]["proportions"])
            statistic, p_value = ks_from_counts(self.ks_counts[name], bins.ks_cdf[name], bins.sample_size[name])
            status = feature_drift(value, statistic, p_value, thresholds.psi_warn, thresholds.psi_alert,
                                   thresholds.ks_threshold, thresholds.ks_alpha)  # fmt: skip
            if name not in thresholds.not_in_status:
                worst = max(worst, status, key=STATUS_ORDER.__getitem__)
            features.append(
                {"feature": name, "psi": value, "ks_statistic": statistic, "ks_pvalue": p_value, "status": status}
            )
        return {
            "window_id": self.window_id,
            "window_start": self.start_ms,
            "window_end": self.end_ms,
            "model_version": self.model_version,
            "event_count": self.count,
            "late_events": late_events,
            "features": features,
            "decision_mix": dict(self.decision_mix),
            "status": worst,
        }


class WindowBook:
    """Open windows, the event-time watermark, and late-event accounting."""

    def __init__(self, size_ms: int, grace_ms: int) -> None:
        if size_ms <= 0 or grace_ms < 0:
            raise ValueError(f"window size must be > 0 and grace >= 0, got {size_ms}, {grace_ms}")
        self.size_ms, self.grace_ms = size_ms, grace_ms
        self.open: dict[tuple[int, str], WindowState] = {}
        self.closed_until: dict[str, int] = {}  # per model version: windows ending before this are closed
        self.partition_watermarks: dict[tuple[str, int], int] = {}
        self.late_events = 0

    @property
    def watermark(self) -> int:
        return min(self.partition_watermarks.values()) if self.partition_watermarks else -(2**62)

    def window_for(self, ts_ms: int, version: str) -> WindowState | None:
        start = ts_ms - ts_ms % self.size_ms
        if start + self.size_ms <= self.closed_until.get(version, -(2**62)):
            self.late_events += 1
            return None
        key = (start, version)
        if key not in self.open:
            self.open[key] = WindowState(start, start + self.size_ms, version)
        return self.open[key]

    def advance(self, ts_ms: int, source: tuple[str, int] = ("", 0)) -> None:
        """Record that ``source`` (topic, partition) has reached event time ``ts_ms``."""
        self.partition_watermarks[source] = max(self.partition_watermarks.get(source, ts_ms), ts_ms)

    def closable(self, force: bool = False) -> list[WindowState]:
        """Windows whose end + grace the watermark has passed (all of them when ``force``)."""
        ready = [w for key, w in self.open.items() if force or w.end_ms + self.grace_ms <= self.watermark]
        for window in sorted(ready, key=lambda w: w.start_ms):
            del self.open[(window.start_ms, window.model_version)]
            self.closed_until[window.model_version] = max(self.closed_until.get(window.model_version, 0), window.end_ms)
        return sorted(ready, key=lambda w: w.start_ms)

    def commit_limits(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition): the smallest offset still needed by an open window."""
        limits: dict[tuple[str, int], int] = {}
        for window in self.open.values():
            for tp, offset in window.min_offsets.items():
                limits[tp] = min(offset, limits.get(tp, offset))
        return limits
