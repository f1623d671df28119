"""The worker's bulk histogram update equals one ``observe`` per value."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Histogram

from consumers.scoring.metrics import observe_many


def samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("le", "")): s.value for metric in histogram.collect() for s in metric.samples
            if not s.name.endswith("_created")}  # fmt: skip


def test_observe_many_counts_each_value_in_its_bucket_as_observe_does() -> None:
    buckets = (0.005, 0.01, 0.025, 0.05, 0.1, 1.0)
    one = Histogram("one_seconds", "", buckets=buckets, registry=CollectorRegistry())
    bulk = Histogram("one_seconds", "", buckets=buckets, registry=CollectorRegistry())
    # bucket edges (le is inclusive), between them, below the first and above the last
    values = np.array([0.0, 0.005, 0.0051, 0.01, 0.02, 0.025, 0.05, 0.07, 0.1, 0.5, 1.0, 1.5, 30.0, 0.003])
    for value in values:
        one.observe(float(value))
    observe_many(bulk, values[:5])
    observe_many(bulk, values[5:])
    observe_many(bulk, np.array([]))
    expected = samples(one)
    assert expected[("one_seconds_count", "")] == len(values)
    assert samples(bulk) == expected
