"""The drift consumer (``fraudstream drift``): PSI and KS per feature over tumbling event-time windows.

``statistics.py`` holds PSI and binned KS; ``windows.py`` the mergeable window state and the
window clock (event time, grace, late events); ``consumer.py`` the confluent-kafka loop that
reads ``decisions``, produces ``drift.reports`` and commits offsets only after a window's report.
"""

from consumers.drift.statistics import feature_drift, ks_from_counts, psi
from consumers.drift.windows import DriftThresholds, WindowBook, WindowState

__all__ = ["DriftThresholds", "WindowBook", "WindowState", "feature_drift", "ks_from_counts", "psi"]
