"""The drift consumer loop: decisions in, one DriftReport per closed window out, offsets after.

A confluent-kafka consumer in its own group reads ``decisions``, groups them into tumbling
event-time windows per model version (each version's drift reference comes from the registry the
first time the version is seen, so a newly promoted model brings its own reference), and for each
closed window produces a DriftReport to ``drift.reports`` (key: window id) and sets the Prometheus
gauges. Offsets are committed only after the reports of the closed windows are flushed, and never
past the first event of a window still open, so after a crash a window is rebuilt from its events
and its report, if it was already sent, is sent again identically.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from prometheus_client import Counter, Gauge

from consumers.drift.config import DriftConfig
from consumers.drift.windows import STATUS_ORDER, ReferenceBins, WindowBook, WindowState
from fraudstream.kafka import PRODUCER_DEFAULTS, client_config
from registry import ModelRegistry, RegistryError
from schemas.codec import DecodeError
from schemas.confluent import codec_for

log = logging.getLogger("fraudstream.drift")
#: commit errors of a member the group no longer knows: not fatal, the offsets are read again
_REJOIN_ERRORS = frozenset(
    {KafkaError.UNKNOWN_MEMBER_ID, KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION}
)

PSI = Gauge("fraudstream_drift_psi", "PSI of the last closed window, per feature (and 'score').", ["feature"])
KS = Gauge("fraudstream_drift_ks_statistic", "KS statistic of the last closed window, per feature.", ["feature"])
FEATURE_STATUS = Gauge("fraudstream_drift_status", "Drift status per feature: 0 OK, 1 WARN, 2 ALERT.", ["feature"])
WINDOW_STATUS = Gauge("fraudstream_drift_window_status", "Worst status of the last closed window: 0/1/2.")
WINDOW_EVENTS = Gauge("fraudstream_drift_window_events", "Decisions in the last closed window.")
WINDOWS = Counter("fraudstream_drift_windows_total", "Closed windows, by status.", ["status"])
LATE = Counter("fraudstream_drift_late_events_total", "Decisions that arrived after their window closed.")
SKIPPED = Counter("fraudstream_drift_skipped_total", "Decisions not evaluated, by reason.", ["reason"])


def commit_or_rejoin(consumer: Consumer, offsets: list[TopicPartition]) -> bool:
    """Commit ``offsets``; False if the group moved on while the broker was away (the member
    expired, a rebalance began): the offsets stay uncommitted and whoever is assigned the
    partitions next reads them again from the last commit. Any other error is raised."""
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException as exc:
        if exc.args[0].code() not in _REJOIN_ERRORS:
            raise
        log.warning(f"drift offsets not committed: {exc.args[0].str()}; they are read again after the rejoin")
        return False
    return True


def run_drift(config: DriftConfig, on_report: Any = None) -> int:
    """Consume until stopped; returns the number of reports produced."""
    registry = ModelRegistry(config.model_store)
    references: dict[str, ReferenceBins | None] = {}
    codec = codec_for("Decision", config.decisions_topic, config.schema_registry_url)
    report_codec = codec_for("DriftReport", config.reports_topic, config.schema_registry_url)
    consumer = Consumer({
        **client_config(config.security.client(config.bootstrap_servers)), "group.id": config.group_id,
        "enable.auto.commit": False, "auto.offset.reset": "earliest",
        "client.id": f"drift-{uuid.uuid4().hex[:6]}",
    })  # fmt: skip
    book_ref: list[WindowBook] = []
    consumed: dict[tuple[str, int], int] = {}  # per partition: the last offset counted into the book
    revoked: set[tuple[str, int]] = set()

    def on_revoke(_: Any, partitions: list[TopicPartition]) -> None:
        revoked.update((tp.topic, tp.partition) for tp in partitions)

    def on_assign(_: Any, partitions: list[TopicPartition]) -> None:
        # The assignor is eager (the default): a rebalance revokes every partition and the new
        # assignment reads from the committed offsets, which are never past an open window's first
        # event. The same partitions back (a rejoin after the broker was away): the book stays, and
        # what it already counted is skipped below. Others: the open windows are rebuilt from the
        # committed offsets, so no decision is counted twice and none of a moved partition is kept.
        assigned = {(tp.topic, tp.partition) for tp in partitions}
        if assigned != revoked:
            book_ref[0].forget_open()
            consumed.clear()
        revoked.clear()
        # every assigned partition holds the watermark back until it has delivered an event
        for tp in partitions:
            book_ref[0].partition_watermarks.setdefault((tp.topic, tp.partition), -(2**62))

    consumer.subscribe([config.decisions_topic], on_assign=on_assign, on_revoke=on_revoke)
    producer = Producer(client_config(config.security.client(config.bootstrap_servers), **PRODUCER_DEFAULTS))
    window_ms = None if config.window is None else round(config.window * 1000)
    book = WindowBook(window_ms, round(config.grace * 1000), config.window_events)
    book_ref.append(book)
    reports, closed_idle = 0, False
    started = time.monotonic()
    last_message: float | None = None  # idle time counts from the first message (joining a group takes time)

    def reference(version: str) -> ReferenceBins | None:
        if version not in references:
            try:
                references[version] = ReferenceBins(registry.drift_reference(version))
                log.info(f"drift reference of model {version} loaded")
            except RegistryError as exc:
                log.error(f"no drift reference for model {version}: {exc}")
                references[version] = None
        return references[version]

    def close(force: bool) -> None:
        nonlocal reports
        windows = book.closable(force)
        for window in windows:
            bins = reference(window.model_version)
            assert bins is not None
            # late decisions (of windows already closed) that arrived while this one was open
            report = window.report(bins, config.thresholds, late_events=book.late_events - window.late_at_open)
            producer.produce(config.reports_topic, report_codec.encode(report), report["window_id"].encode(),
                             timestamp=window.span[1])  # fmt: skip
            for feature in report["features"]:
                PSI.labels(feature["feature"]).set(feature["psi"])
                KS.labels(feature["feature"]).set(feature["ks_statistic"])
                FEATURE_STATUS.labels(feature["feature"]).set(STATUS_ORDER[feature["status"]])
            WINDOW_STATUS.set(STATUS_ORDER[report["status"]])
            WINDOW_EVENTS.set(report["event_count"])
            WINDOWS.labels(report["status"]).inc()
            reports += 1
            if on_report is not None:
                on_report(report)
        if windows:
            if producer.flush(60):
                raise RuntimeError("drift reports not acknowledged within 60 s; not committing offsets")
            limits = book.commit_limits()
            offsets = [TopicPartition(topic, partition, limits.get((topic, partition), last + 1))
                       for (topic, partition), last in consumed.items()]  # fmt: skip
            commit_or_rejoin(consumer, offsets)

    try:
        while True:
            messages = consumer.consume(2000, timeout=0.5)
            now = time.monotonic()
            rows: dict[tuple[int, str, int], list[dict[str, Any]]] = defaultdict(list)
            windows: dict[tuple[int, str, int], WindowState] = {}
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.error(f"consume error: {error.str()}")
                    continue
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                assert topic is not None
                assert partition is not None
                assert offset is not None
                if offset <= consumed.get((topic, partition), -1):
                    continue  # read again after a rejoin, and already in the book
                consumed[(topic, partition)] = offset
                try:
                    decision = codec.decode(message.value())
                except DecodeError as exc:
                    SKIPPED.labels(exc.reason).inc()
                    continue
                version = decision["model_version"]
                if reference(version) is None:
                    SKIPPED.labels("no_reference").inc()
                    continue
                ts = int(decision["event_time"].timestamp() * 1000)
                window = book.window_for(ts, version)
                book.advance(ts, (topic, partition))
                if window is None:
                    LATE.inc()
                    continue
                tp = (topic, partition)
                window.min_offsets[tp] = min(offset, window.min_offsets.get(tp, offset))
                rows[window.key].append(decision)
                windows[window.key] = window
            for key, batch in rows.items():
                windows[key].add(references[key[1]], batch)  # type: ignore[arg-type]
            if messages:
                last_message, closed_idle = now, False
                close(force=False)
                continue
            if last_message is None:
                if config.stop_idle_after is not None and now - started > 60 + config.stop_idle_after:
                    log.warning("no decision arrived in 60 s; stopping")
                    break
                continue
            idle = now - last_message
            if config.close_idle_after is not None and not closed_idle and idle > config.close_idle_after:
                close(force=True)
                closed_idle = True
            if config.stop_idle_after is not None and closed_idle and idle > config.stop_idle_after:
                break
    finally:
        consumer.close()
    return reports
