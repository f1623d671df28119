"""Tumbling event-time windows of decisions, as mergeable bin counts per feature and for the score.

A window covers ``[start, start + size)`` of the decisions' *event* time, per model version (each
version has its own reference bins). Each input partition has its own watermark (the largest
event time seen on it) and the book's watermark is the smallest of them, so a partition that is
consumed ahead of the others cannot close windows the others still feed; a window closes once
that watermark passes its end plus ``grace``. A decision whose window has already closed is
counted as late and otherwise ignored. Window state is counts (PSI bins, KS grid cells, decision
mix), so two partial windows of the same id merge exactly by adding them.

Windows can also be bounded in events (``max_events``): a window closes as soon as it holds that
many decisions, and later decisions of the same time span fill the next window of that span
(ids ``VERSION/START#0``, ``#1``, ...). With no time size the windows are counts only (ids
``VERSION/count/FIRST_EVENT_TIME#N``). Event-bounded windows follow this consumer's consumption
order, so unlike time windows they are not the same in another consumer or after a restart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from consumers.drift.config import DriftThresholds
from consumers.drift.statistics import feature_drift, ks_from_counts, psi
from registry.drift_reference import bin_counts

KS_GRID = 100
STATUS_ORDER = {"OK": 0, "WARN": 1, "ALERT": 2}


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


#: end of a count-only window's time span (it never closes by time)
NO_END = 2**62


@dataclass
class WindowState:
    start_ms: int
    end_ms: int
    model_version: str
    #: position among the event-bounded windows of one time span; None for time-only windows
    seq: int | None = None
    count: int = 0
    #: decisions assigned by the book (they are added in batches afterwards)
    assigned: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    psi_counts: dict[str, np.ndarray] = field(default_factory=dict)
    ks_counts: dict[str, np.ndarray] = field(default_factory=dict)
    decision_mix: Counter[str] = field(default_factory=Counter)
    #: smallest offset per (topic, partition) of an event in this window: the commit limit
    min_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    #: the book's late count when this window opened: its report counts the late decisions (of
    #: windows already closed) that arrived while it was open, not the process's running total
    late_at_open: int = 0

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.start_ms, self.model_version, self.seq or 0)

    @property
    def window_id(self) -> str:
        if self.seq is None:
            return f"{self.model_version}/{_iso(self.start_ms)}"
        if self.end_ms == NO_END:
            return f"{self.model_version}/count/{_iso(self.first_ts or 0)}#{self.seq}"
        return f"{self.model_version}/{_iso(self.start_ms)}#{self.seq}"

    @property
    def span(self) -> tuple[int, int]:
        """The window's time bounds: its time span, or its events' first and last time (count-only)."""
        if self.end_ms == NO_END:
            return (self.first_ts or 0, (self.last_ts or 0) + 1)
        return (self.start_ms, self.end_ms)

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
        if other.key != self.key:
            raise ValueError(f"cannot merge window {other.window_id} into {self.window_id}")
        for name, counts in other.psi_counts.items():
            self.psi_counts[name] = self.psi_counts.get(name, 0) + counts
        for name, counts in other.ks_counts.items():
            self.ks_counts[name] = self.ks_counts.get(name, 0) + counts
        self.decision_mix.update(other.decision_mix)
        self.count += other.count
        for tp, offset in other.min_offsets.items():
            self.min_offsets[tp] = min(offset, self.min_offsets.get(tp, offset))
        self.late_at_open = min(self.late_at_open, other.late_at_open)

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
            "window_start": self.span[0],
            "window_end": self.span[1],
            "model_version": self.model_version,
            "event_count": self.count,
            "late_events": late_events,
            "features": features,
            "decision_mix": dict(self.decision_mix),
            "status": worst,
        }


class WindowBook:
    """Open windows, the event-time watermark, and late-event accounting."""

    def __init__(self, size_ms: int | None, grace_ms: int, max_events: int | None = None) -> None:
        if size_ms is None and max_events is None:
            raise ValueError("a window needs a size in time, in events, or both")
        if (size_ms is not None and size_ms <= 0) or grace_ms < 0 or (max_events is not None and max_events <= 0):
            raise ValueError(f"need window size, events > 0 and grace >= 0, got {size_ms}, {max_events}, {grace_ms}")
        self.size_ms, self.grace_ms, self.max_events = size_ms, grace_ms, max_events
        self.open: dict[tuple[int, str, int], WindowState] = {}
        self.filling: dict[tuple[int, str], int] = {}  # per time span: seq of the event-bounded window filling now
        self.closed_until: dict[str, int] = {}  # per model version: windows ending before this are closed
        self.partition_watermarks: dict[tuple[str, int], int] = {}
        self.late_events = 0

    @property
    def watermark(self) -> int:
        return min(self.partition_watermarks.values()) if self.partition_watermarks else -(2**62)

    def window_for(self, ts_ms: int, version: str) -> WindowState | None:
        """The window a decision at ``ts_ms`` belongs to (counted into it), or None if it is late."""
        if self.size_ms is None:
            start, end = 0, NO_END
        else:
            start = ts_ms - ts_ms % self.size_ms
            end = start + self.size_ms
            if end <= self.closed_until.get(version, -(2**62)):
                self.late_events += 1
                return None
        seq = None if self.max_events is None else self.filling.get((start, version), 0)
        key = (start, version, seq or 0)
        window = self.open.get(key)
        if window is None:
            window = self.open[key] = WindowState(start, end, version, seq=seq)
            window.late_at_open = self.late_events
        window.assigned += 1
        window.first_ts = ts_ms if window.first_ts is None else min(window.first_ts, ts_ms)
        window.last_ts = ts_ms if window.last_ts is None else max(window.last_ts, ts_ms)
        if self.max_events is not None and window.assigned >= self.max_events:
            self.filling[(start, version)] = (seq or 0) + 1  # full: the next decision opens the next one
        return window

    def advance(self, ts_ms: int, source: tuple[str, int] = ("", 0)) -> None:
        """Record that ``source`` (topic, partition) has reached event time ``ts_ms``."""
        self.partition_watermarks[source] = max(self.partition_watermarks.get(source, ts_ms), ts_ms)

    def closable(self, force: bool = False) -> list[WindowState]:
        """Full windows, and those whose end + grace the watermark has passed (all when ``force``)."""
        ready = []
        for window in self.open.values():
            by_time = window.end_ms != NO_END and window.end_ms + self.grace_ms <= self.watermark
            full = self.max_events is not None and window.assigned >= self.max_events
            if force or by_time or full:
                ready.append(window)
            if (force or by_time) and window.end_ms != NO_END:  # the time span is over: later events are late
                version = window.model_version
                self.closed_until[version] = max(self.closed_until.get(version, 0), window.end_ms)
                self.filling.pop((window.start_ms, version), None)
        for window in ready:
            del self.open[window.key]
        return sorted(ready, key=lambda w: (w.start_ms, w.seq or 0))

    def forget_open(self) -> None:
        """Drop the open windows and the partitions' watermarks, to be rebuilt from the committed
        offsets (a new assignment); windows already closed stay closed, their events stay late."""
        self.open.clear()
        self.filling.clear()
        self.partition_watermarks.clear()

    def commit_limits(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition): the smallest offset still needed by an open window."""
        limits: dict[tuple[str, int], int] = {}
        for window in self.open.values():
            for tp, offset in window.min_offsets.items():
                limits[tp] = min(offset, limits.get(tp, offset))
        return limits


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
