"""Prometheus metrics of the scoring worker (prefix ``fraudstream_worker_``, base units, no ids)."""

from __future__ import annotations

import time
from collections import Counter as Tally

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from consumers.scoring.records import DEAD_LETTER_REASONS, BatchResult

EVENTS = Counter("fraudstream_worker_events_total", "Records consumed, by source topic kind.", ["kind"])
DECISIONS = Counter("fraudstream_worker_decisions_total", "Decisions emitted, by outcome.", ["decision"])
DEAD_LETTERS = Counter("fraudstream_worker_dead_letters_total", "Records sent to the dead-letter topic.", ["reason"])
BATCH_SIZE = Histogram(
    "fraudstream_worker_batch_size", "Records per micro-batch.", buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000)
)
BATCH_SECONDS = Histogram(
    "fraudstream_worker_batch_processing_seconds",
    "Time to process one micro-batch (features, scoring, encoding, state writes).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
EVENT_TO_DECISION = Histogram(
    "fraudstream_worker_event_to_decision_seconds",
    "Wall time from the transaction's Kafka record timestamp to its decision.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
MODEL_INFO = Gauge("fraudstream_worker_model_info", "The model version scoring now (value 1).", ["version"])
OWNED_PARTITIONS = Gauge(
    "fraudstream_worker_owned_partitions", "Source partition numbers this worker process owns now."
)
HELD = Gauge(
    "fraudstream_worker_held_transactions",
    "Transactions fetched and held until everything their features read is applied (alignment).",
)
READ_AGAIN = Counter(
    "fraudstream_worker_fetches_read_again_total",
    "Source partitions sought back to read a dropped fetch's records again (the partition was paused, or"
    " the flow stopped for a rebalance, while its fetch was under way); their records are processed again.",
)
ALIGNMENT_WAITS = Counter(
    "fraudstream_worker_alignment_waits_total",
    "Batches after which the oldest held transaction still waited, by what it waited for: labels or"
    " transactions partitions of this process (own_*) or of another (other_*; other_unknown: no watermark"
    " from it yet). A batch may count under several.",
    ["waiting_for"],
)
LABEL_VISIBILITY_LAG = Gauge(
    "fraudstream_worker_label_visibility_lag_seconds",
    "Wall-clock time minus the event time up to which every labels partition is known applied, for the"
    " partitions this process owns and for those of the other processes. Live, a label counts in scoring"
    " this long after it is reported; above the features' label lag, transactions wait for labels.",
    ["partitions"],
)
STATE_STORE_MEMORY = Gauge(
    "fraudstream_worker_state_store_memory_bytes",
    "Memory RocksDB holds over this process's table databases: memtables, block cache, table readers.",
    ["kind"],
)
STATE_CACHE_ENTRIES = Gauge(
    "fraudstream_worker_state_cache_entries", "Decoded card and terminal states kept between batches."
)
MODEL_RELOADS = Counter("fraudstream_worker_model_reloads_total", "Production model reloads without restart.")
#: labelled by the shadow model kind, so the series exists only when a shadow runs (no false 0)
SHADOW_AGREEMENT = Gauge(
    "fraudstream_worker_shadow_agreement_ratio",
    "Share of decisions where the shadow model agrees with the champion.",
    ["shadow"],
)
SHADOW_PRECISION = Gauge(
    "fraudstream_worker_shadow_precision_ratio", "Precision of shadow and champion on matured labels.", ["model"]
)
SHADOW_RECALL = Gauge(
    "fraudstream_worker_shadow_recall_ratio", "Recall of shadow and champion on matured labels.", ["model"]
)
SHADOW_AVERAGE_PRECISION = Gauge(
    "fraudstream_worker_shadow_average_precision_ratio",
    "Average precision of shadow and champion scores on matured labels (the last 100,000 outcomes).",
    ["model"],
)
SHADOW_MATURED = Gauge(
    "fraudstream_worker_shadow_matured_outcomes",
    "Transactions whose outcome has matured (a fraud label, or none for the maturity period) in the comparison.",
    ["shadow"],
)


#: every outcome and dead-letter reason is exported from the start (at 0), so rates and shares
#: over them return data before the first DECLINE or the first bad record (Prometheus practice)
OUTCOMES = ("APPROVE", "REVIEW", "DECLINE")
for _outcome in OUTCOMES:
    DECISIONS.labels(_outcome)
for _reason in DEAD_LETTER_REASONS:
    DEAD_LETTERS.labels(_reason)
for _kind in ("transaction", "label"):
    EVENTS.labels(_kind)


def observe_many(histogram: Histogram, values: np.ndarray) -> None:
    """``histogram.observe(v)`` for every ``v`` in ``values``, in one pass per bucket.

    A batch's event-to-decision times would be a thousand ``observe`` calls, each a lock and a walk
    of the buckets. This counts them per bucket with numpy and adds each bucket's count once. It
    uses the histogram's own bucket values (``_upper_bounds``, ``_buckets``, ``_sum``:
    prometheus_client's internals); ``tests/consumers/scoring/test_metrics.py`` checks the result
    equals one ``observe`` per value, and fails if they change.
    """
    if len(values) == 0:
        return
    bounds = histogram._upper_bounds  # ends with +Inf
    per_bucket = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, count in zip(histogram._buckets, per_bucket.tolist(), strict=False):
        if count:
            bucket.inc(count)
    histogram._sum.inc(float(values.sum()))


def set_model(version: str) -> None:
    MODEL_INFO.clear()
    MODEL_INFO.labels(version).set(1)


def record_batch(result: BatchResult, records: int, started: float) -> None:
    """A completed batch's metrics, once per batch: event-to-decision times, outcomes, counts.

    ``records`` is the batch's size; ``started`` the ``time.perf_counter()`` when its processing began.
    """
    now_ms = time.time() * 1000
    scored = result.scored
    event_ms = np.fromiter((s.event.timestamp_ms for s in scored), float, len(scored))
    observe_many(EVENT_TO_DECISION, np.maximum(0.0, now_ms - event_ms) / 1000)
    for outcome, count in Tally(s.decision for s in scored).items():
        DECISIONS.labels(outcome).inc(count)
    EVENTS.labels("transaction").inc(len(scored))
    EVENTS.labels("label").inc(result.labels)
    BATCH_SIZE.observe(records)
    BATCH_SECONDS.observe(time.perf_counter() - started)
